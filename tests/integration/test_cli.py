"""The `hearth` command line: help on every command, `run` (one-shot and interactive), and
`make-test-model`."""
import http.server
import json
import os
import subprocess
import tempfile
import threading
import unittest

from tests.integration.harness import BIN, MODELS, SLOW

QWEN_FILE = os.path.join(MODELS, "hearth-tiny-qwen2.gguf")
R1_FILE = os.path.join(MODELS, "hearth-tiny-deepseek-r1.gguf")


def hearth(*args, stdin=None, timeout=120, env=None):
    # The test page servers are on loopback, which outbound requests may reach only when listed.
    full_env = dict(os.environ, HEARTH_OUTBOUND_ALLOW="127.0.0.1", **(env or {}))
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=timeout * SLOW,
                          env=full_env)


class HelpTest(unittest.TestCase):
    def test_every_command_has_help(self):
        for cmd in ([], ["serve"], ["run"], ["models"], ["models", "list"], ["models", "pull"], ["models", "verify"],
                    ["models", "rm"], ["make-test-model"], ["kb"], ["kb", "create"], ["kb", "add"], ["kb", "sync"],
                    ["kb", "search"], ["kb", "ls"], ["kb", "rm"], ["keys"], ["keys", "create"], ["keys", "list"],
                    ["keys", "revoke"]):
            with self.subTest(cmd=cmd):
                r = hearth(*cmd, "--help")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("Usage", r.stdout)
                self.assertIn("--help", r.stdout)

    def test_no_subcommand_is_an_error(self):
        r = hearth()
        self.assertNotEqual(r.returncode, 0)


class RunTest(unittest.TestCase):
    def test_one_shot_is_deterministic_when_greedy(self):
        a = hearth("run", QWEN_FILE, "Write a haiku about rain.", "-n", "12", "--temperature", "0", "--threads", "1")
        b = hearth("run", QWEN_FILE, "Write a haiku about rain.", "-n", "12", "--temperature", "0", "--threads", "1")
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertTrue(a.stdout.strip())
        self.assertEqual(a.stdout, b.stdout)

    def test_raw_completion_differs_from_chat(self):
        chat = hearth("run", QWEN_FILE, "Hello", "-n", "8", "--temperature", "0", "--threads", "1")
        raw = hearth("run", QWEN_FILE, "Hello", "-n", "8", "--temperature", "0", "--threads", "1", "--raw")
        self.assertEqual(raw.returncode, 0, raw.stderr)
        self.assertNotEqual(chat.stdout, raw.stdout)

    def test_interactive_chat_keeps_history_and_exits(self):
        r = hearth("run", QWEN_FILE, "-n", "6", "--temperature", "0", "--threads", "1",
                   stdin="hello there\nand again\n/reset\nonce more\n/exit\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Chatting with", r.stderr)
        self.assertEqual(r.stderr.count("\n> "), 5)  # a prompt before each of the 5 input lines
        self.assertGreaterEqual(len([l for l in r.stdout.splitlines() if l.strip()]), 3)

    def test_reasoning_model_output_is_shown(self):
        r = hearth("run", R1_FILE, "Why?", "-n", "6", "--temperature", "0", "--threads", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\x1b[2m", r.stdout)  # reasoning is shown dimmed

    def test_unknown_model_fails_clearly(self):
        r = hearth("run", "/nonexistent/model.gguf", "hi", "--config", "/nonexistent.toml")
        self.assertEqual(r.returncode, 1)
        self.assertIn("config file not found", r.stderr)


class MakeTestModelTest(unittest.TestCase):
    def test_writes_a_loadable_model_and_skips_existing(self):
        with tempfile.TemporaryDirectory() as d:
            r = hearth("make-test-model", "-p", "bert", "-o", d)
            self.assertEqual(r.returncode, 0, r.stderr)
            path = os.path.join(d, "hearth-tiny-bert-embed.gguf")
            self.assertTrue(os.path.getsize(path) > 1_000_000)
            with open(path, "rb") as f:
                self.assertEqual(f.read(4), b"GGUF")
            again = hearth("make-test-model", "-p", "bert", "-o", d)
            self.assertIn("(exists)", again.stdout)
            q = hearth("make-test-model", "-p", "qwen2", "--type", "q8_0", "-o", d)
            self.assertEqual(q.returncode, 0, q.stderr)
            out = hearth("run", os.path.join(d, "hearth-tiny-qwen2-q8_0.gguf"), "hi", "-n", "3", "--threads", "1")
            self.assertEqual(out.returncode, 0, out.stderr)

    def test_unknown_preset(self):
        r = hearth("make-test-model", "-p", "gpt-5", "-o", tempfile.gettempdir())
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown preset", r.stderr)


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/handbook.html":
            self.send_error(404)
            return
        body = ("<html><head><title>Forklift handbook</title></head><body><h1>Forklift handbook</h1>"
                "<p>Drivers sound the horn at blind corners.</p></body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class KnowledgeCliTest(unittest.TestCase):
    """`hearth kb`: ingest a directory, search it, edit/delete and sync, remove (real GloVe vectors)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "kb.sqlite")
        self.docs = os.path.join(self.tmp.name, "docs")
        os.makedirs(os.path.join(self.docs, "sub"))
        self.write("printers.md", "# Printers\n\nInstall the printer driver before printing.\n\n"
                                  "## Paper jams\n\nOpen the tray and remove the jammed paper.")
        self.write("sub/network.txt", "The router assigns addresses with DHCP.\n\nRestart the router if it hangs.")
        self.write("sub/假期.md", "# 休假制度\n\n员工每年享有十五天带薪休假。")
        self.write("broken.pdf", "%PDF-1.4 this is not a pdf")
        self.write("notes.log", "ignored by the exclude glob")
        # Broken markup keeps the text a browser would show; a page with no text is an error.
        self.write("boiler.html", "<html><body><h1>Boiler<p>Open the relief valve<div><b>above three bar</i>"
                                  "</table><p>Call maintenance</span>")
        self.write("scripts.html", "<html><head><script>var x = 1;</script></head><body><div></div></body></html>")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, rel, text):
        with open(os.path.join(self.docs, rel), "w", encoding="utf-8") as f:
            f.write(text)

    def kb(self, *args):
        return hearth("kb", "--db", self.db, *args)

    def test_web_page_source(self):
        web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{web.server_address[1]}"
            self.assertEqual(self.kb("create", "web").returncode, 0)
            r = self.kb("add", "web", base + "/handbook.html")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("documents: 1 added", r.stdout)
            hits = json.loads(self.kb("search", "web", "horn blind corners", "--json").stdout)
            self.assertEqual(hits[0]["document"], base + "/handbook.html")
            self.assertEqual(hits[0]["title"], "Forklift handbook")
            r = self.kb("add", "web", base + "/missing.html")
            self.assertIn("404", r.stdout + r.stderr)
        finally:
            web.shutdown()
            web.server_close()

    def test_ingest_search_sync_remove(self):
        r = self.kb("create", "office")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("static:glove-6b-100d-v2", r.stdout)
        self.assertNotEqual(self.kb("create", "office").returncode, 0)
        r = self.kb("add", "office", self.docs, "--exclude", "*.log")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("documents: 4 added, 0 changed, 0 removed, 0 unchanged, 2 failed", r.stdout)
        self.assertIn("broken.pdf", r.stderr)
        self.assertIn("not a readable PDF", r.stderr)
        self.assertIn("scripts.html", r.stderr)
        self.assertIn("no text to index", r.stderr)
        boiler = json.loads(self.kb("search", "office", "relief valve maintenance", "--json", "--alpha", "0").stdout)
        self.assertTrue(boiler[0]["document"].endswith("boiler.html"), boiler)
        self.assertIn("Call maintenance", " ".join(h["text"] for h in boiler))

        r = self.kb("search", "office", "paper stuck in the tray", "--json", "-k", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        hits = json.loads(r.stdout)
        self.assertTrue(hits[0]["document"].endswith("printers.md"), hits)
        self.assertEqual(hits[0]["heading_path"], "Printers > Paper jams")
        self.assertIn("jammed paper", hits[0]["text"])
        semantic = json.loads(self.kb("search", "office", "internet connection problems", "--json", "--alpha", "1").stdout)
        self.assertTrue(semantic[0]["document"].endswith("network.txt"), semantic)
        zh = json.loads(self.kb("search", "office", "带薪休假", "--json", "--alpha", "0").stdout)
        self.assertTrue(zh[0]["document"].endswith("假期.md"), zh)

        # Edit one file, delete another, sync: one changed, one removed.
        self.write("sub/network.txt", "The router assigns addresses with DHCP.\n\nReplace the router if it hangs.")
        os.remove(os.path.join(self.docs, "printers.md"))
        r = self.kb("sync", "office")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("documents: 0 added, 1 changed, 1 removed, 2 unchanged, 2 failed", r.stdout)
        listing = self.kb("ls", "office").stdout
        self.assertNotIn("printers.md", listing)
        self.assertIn("network.txt", listing)
        after = json.loads(self.kb("search", "office", "paper jam tray", "--json", "--alpha", "0").stdout)
        self.assertFalse(any(h["document"].endswith("printers.md") for h in after))

        r = self.kb("rm", "office", os.path.join(self.docs, "sub", "network.txt"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("network.txt", self.kb("ls", "office").stdout)
        self.assertIn("office", self.kb("ls").stdout)
        self.assertEqual(self.kb("rm", "office").returncode, 0)
        self.assertNotIn("office", self.kb("ls").stdout)
        r = self.kb("search", "office", "anything")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no collection named 'office'", r.stderr)
