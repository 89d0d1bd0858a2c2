"""The knowledge API against the real binary: collections, multipart uploads, directory and URL
sources as jobs with status, scheduled re-sync, search with filters, and chat with knowledge that
cites the right documents (streaming too, and through a knowledge alias). Real GloVe vectors."""
import http.server
import json
import os
import shutil
import tempfile
import threading
import time
import unittest
import uuid

from tests.integration.harness import QWEN, SLOW, Server, WebSocket

ALIAS = "manuals-bot"


def multipart(fields):
    """fields: list of (name, filename or None, bytes). Returns (content_type, body)."""
    boundary = "----hearth" + uuid.uuid4().hex
    out = b""
    for name, filename, data in fields:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if filename:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", out


class PageHandler(http.server.BaseHTTPRequestHandler):
    pages = {}

    def do_GET(self):
        page = self.pages.get(self.path)
        if page is None:
            self.send_error(404)
            return
        ctype, body = page
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (the size limit test)

    def log_message(self, *args):
        pass


class KnowledgeApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = tempfile.mkdtemp(prefix="hearth-kb-docs-")
        cls.write("boilers.md", "# Boilers\n\n## Pressure relief\n\nIf the boiler pressure exceeds three bar, open the "
                                "relief valve and call the maintenance team.")
        cls.write("network/routers.txt", "The router assigns addresses with DHCP.\n\nRestart the router if it hangs.")
        cls.write("policies/休假.md", "# 休假制度\n\n员工每年享有十五天带薪休假，需提前一周申请。")
        cls.write("broken.pdf", "%PDF-1.4 not really a pdf")
        with open(os.path.join(cls.docs, "blob.txt"), "wb") as f:
            f.write(bytes(range(256)) * 64)
        PageHandler.pages = {
            "/kb/forklift.html": ("text/html; charset=utf-8",
                                  b"<html><head><title>Forklift safety</title></head><body><h1>Forklift safety</h1>"
                                  b"<p>Forklift drivers must wear a seatbelt and sound the horn at blind corners.</p>"
                                  b"</body></html>"),
            "/kb/huge.txt": ("text/plain", b"x" * (2 * 1024 * 1024)),
        }
        cls.web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
        threading.Thread(target=cls.web.serve_forever, daemon=True).start()
        cls.web_base = f"http://127.0.0.1:{cls.web.server_address[1]}"
        # The page server is on loopback, which the outbound rules refuse unless listed; the
        # documents directory is a knowledge root (test_security.py checks both refusals).
        cls.server = Server(knowledge={"scheduler_tick_seconds": 1, "max_upload_mb": 1,
                                       "allowed_roots": [os.path.realpath(cls.docs)]},
                            extra_toml='[outbound]\nallow = ["127.0.0.1"]\n',
                            knowledge_aliases=[{"id": ALIAS, "model": QWEN, "collections": ["manuals"], "top_k": 3}])
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.tmp.cleanup()
        cls.web.shutdown()
        shutil.rmtree(cls.docs, ignore_errors=True)

    @classmethod
    def write(cls, rel, text):
        path = os.path.join(cls.docs, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    # ---- helpers ----

    def upload(self, collection, filename, data, metadata=None):
        fields = [("file", filename, data)]
        if metadata is not None:
            fields.append(("metadata", None, json.dumps(metadata).encode()))
        ctype, body = multipart(fields)
        status, _, out = self.server.request("POST", f"/v1/knowledge/collections/{collection}/documents", body,
                                             headers={"Content-Type": ctype})
        return status, json.loads(out)

    def wait_job(self, job_id, timeout=60):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            status, job = self.server.get_json(f"/v1/knowledge/jobs/{job_id}")
            self.assertEqual(status, 200, job)
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.1)
        self.fail(f"job {job_id} did not finish")

    def search(self, query, **kw):
        body = {"collections": kw.pop("collections", ["manuals"]), "query": query, **kw}
        status, out = self.server.post("/v1/knowledge/search", body)
        self.assertEqual(status, 200, out)
        return out["data"]

    def ensure_collection(self, name):
        status, out = self.server.post("/v1/knowledge/collections", {"name": name})
        self.assertIn(status, (201, 400), out)
        return out

    # ---- tests (names order them: the collection is built up step by step) ----

    def test_1_collections_and_uploads(self):
        status, c = self.server.post("/v1/knowledge/collections", {"name": "manuals"})
        self.assertEqual(status, 201, c)
        self.assertEqual(c["embedder"], "static:glove-6b-100d-v2")
        self.assertEqual(c["dimensions"], 100)
        status, dup = self.server.post("/v1/knowledge/collections", {"name": "manuals"})
        self.assertEqual(status, 400, dup)
        self.assertIn("already exists", dup["error"]["message"])
        for bad, msg in (({"name": "bad name!"}, "letters, digits"), ({}, "'name' is required"),
                         ({"name": "x", "embedder": "nope:1"}, "nope:1"), ({"name": 5}, "'name' must be a string"),
                         ({"name": "x", "color": "red"}, "unknown field 'color'")):
            status, out = self.server.post("/v1/knowledge/collections", bad)
            self.assertEqual(status, 400, (bad, out))
            self.assertIn(msg, out["error"]["message"])

        status, up = self.upload("manuals", "pumps.md", "# Pumps\n\n## Seals\n\nReplace the pump seals every "
                                 "spring, before the cooling season starts.".encode(), {"team": "ops", "year": 2024})
        self.assertEqual(status, 201, up)
        self.assertEqual(up["uri"], "upload://pumps.md")
        self.assertEqual(up["counters"]["documents_added"], 1)
        # Re-uploading the same bytes changes nothing; a corrupt PDF is named in a 400.
        status, again = self.upload("manuals", "pumps.md", "# Pumps\n\n## Seals\n\nReplace the pump seals every "
                                    "spring, before the cooling season starts.".encode(), {"team": "ops", "year": 2024})
        self.assertEqual(status, 201, again)
        self.assertEqual(again["counters"]["chunks_embedded"], 0)
        status, bad = self.upload("manuals", "scan.pdf", b"%PDF-1.7 garbage")
        self.assertEqual(status, 400, bad)
        self.assertIn("scan.pdf", bad["error"]["message"])
        status, big = self.upload("manuals", "big.txt", b"y" * (1024 * 1024 + 10))
        self.assertEqual(status, 413, big)
        for ctype, body, msg in (("application/json", b"{}", "multipart/form-data"),
                                 ("multipart/form-data; boundary=zz", b"--zz\r\n\r\nx\r\n--zz--", "Content-Disposition"),
                                 ("multipart/form-data; boundary=zz",
                                  b'--zz\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--zz--', "'file'")):
            status, _, out = self.server.request("POST", "/v1/knowledge/collections/manuals/documents", body,
                                                 headers={"Content-Type": ctype})
            self.assertEqual(status, 400, out)
            self.assertIn(msg, json.loads(out)["error"]["message"])
        status, out = self.upload("nosuch", "a.txt", b"text")
        self.assertEqual(status, 404, out)

    def test_2_directory_source_job(self):
        self.ensure_collection("manuals")
        status, job = self.server.post("/v1/knowledge/collections/manuals/sources",
                                       {"uri": self.docs, "exclude": "*.log", "interval_seconds": 1})
        self.assertEqual(status, 202, job)
        self.assertIn(job["status"], ("queued", "running", "succeeded"))
        job = self.wait_job(job["id"])
        self.assertEqual(job["status"], "succeeded", job)
        self.assertEqual(job["counters"]["documents_added"], 3, job)
        self.assertEqual(job["counters"]["documents_failed"], 2, job)
        failed = sorted(os.path.basename(e["document"]) for e in job["errors"])
        self.assertEqual(failed, ["blob.txt", "broken.pdf"], job)
        self.assertEqual(job["progress"]["documents_done"], job["progress"]["documents_total"])
        status, sources = self.server.get_json("/v1/knowledge/collections/manuals/sources")
        self.assertEqual(sources["data"][0]["interval_seconds"], 1)
        status, docs = self.server.get_json("/v1/knowledge/collections/manuals/documents")
        uris = [d["uri"] for d in docs["data"]]
        self.assertTrue(any(u.endswith("boilers.md") for u in uris), uris)
        status, out = self.server.post("/v1/knowledge/collections/manuals/sources", {"uri": "/no/such/dir"})
        self.assertEqual(status, 400, out)
        self.assertIn("does not exist", out["error"]["message"])

    def test_3_search_and_filters(self):
        hits = self.search("boiler pressure too high", top_k=3)
        self.assertTrue(hits[0]["document"].endswith("boilers.md"), hits)
        self.assertEqual(hits[0]["heading_path"], "Boilers > Pressure relief")
        semantic = self.search("wifi network is down", alpha=1)
        self.assertTrue(semantic[0]["document"].endswith("routers.txt"), semantic)
        zh = self.search("带薪休假", alpha=0)
        self.assertTrue(zh[0]["document"].endswith("休假.md"), zh)
        only_ops = self.search("replace seals pressure router", filter={"metadata": {"team": "ops"}})
        self.assertEqual({h["document"] for h in only_ops}, {"upload://pumps.md"})
        by_year = self.search("seals", filter={"metadata": {"year": 2024}})
        self.assertEqual({h["document"] for h in by_year}, {"upload://pumps.md"})
        only_net = self.search("restart", filter={"documents": ["*/network/*"]})
        self.assertTrue(only_net and all("/network/" in h["document"] for h in only_net), only_net)
        status, out = self.server.post("/v1/knowledge/search", {"collections": ["nosuch"], "query": "x"})
        self.assertEqual(status, 404, out)

    def test_4_chat_with_knowledge_cites_the_right_document(self):
        self.ensure_collection("manuals")
        ask = [{"role": "user", "content": "What should I do when boiler pressure is above three bar?"}]
        plain = self.server.chat(ask, max_tokens=4, temperature=0)
        self.assertNotIn("citations", plain)
        out = self.server.chat(ask, max_tokens=4, temperature=0, knowledge={"collections": ["manuals"], "top_k": 2})
        cites = out["citations"]
        self.assertEqual([c["index"] for c in cites], list(range(1, len(cites) + 1)))
        self.assertTrue(cites[0]["document"].endswith("boilers.md"), cites)
        self.assertEqual(cites[0]["location"]["heading_path"], "Boilers > Pressure relief")
        self.assertIn("relief valve", cites[0]["text"])
        # The sources really went into the prompt.
        self.assertGreater(out["usage"]["prompt_tokens"], plain["usage"]["prompt_tokens"] + 20)

        events = self.server.stream("/v1/chat/completions", {"messages": ask, "max_tokens": 4, "temperature": 0,
                                                             "knowledge": {"collections": ["manuals"], "top_k": 2}})
        self.assertEqual(events[-1], "[DONE]")
        streamed = [e["citations"] for e in events[:-1] if "citations" in e]
        self.assertEqual(len(streamed), 1, "citations come once, in the first chunk")
        self.assertEqual(streamed[0], cites)
        self.assertIn("citations", events[0])

        via_alias = self.server.chat([{"role": "user", "content": "router keeps hanging, what now?"}],
                                     model=ALIAS, max_tokens=4, temperature=0)
        self.assertEqual(via_alias["model"], QWEN)
        self.assertTrue(via_alias["citations"][0]["document"].endswith("routers.txt"), via_alias["citations"])
        status, models = self.server.get_json("/v1/models")
        self.assertIn(ALIAS, [m["id"] for m in models["data"]])

        ws = WebSocket(self.server.port, "/v1/chat/ws")
        try:
            ws.send_json({"type": "chat", "content": "boiler pressure above three bar?", "max_tokens": 2,
                          "temperature": 0, "knowledge": {"collections": ["manuals"], "top_k": 2}})
            start = ws.recv_json()
            self.assertEqual(start["type"], "start", start)
            self.assertTrue(start["citations"][0]["document"].endswith("boilers.md"), start)
            while ws.recv_json()["type"] != "done":
                pass
        finally:
            ws.close()

        status, err = self.server.post("/v1/chat/completions", {"messages": ask, "knowledge": {"collections": ["nosuch"]}})
        self.assertEqual(status, 404, err)
        self.assertIn("nosuch", err["error"]["message"])

    def test_5_scheduled_sync_picks_up_edits(self):
        self.ensure_collection("manuals")
        status, job = self.server.post("/v1/knowledge/collections/manuals/sources", {"uri": self.docs, "interval_seconds": 1})
        self.wait_job(job["id"])
        self.write("network/routers.txt", "The router assigns addresses with DHCP.\n\nReplace the firmware if it hangs.")
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline:
            hits = self.search("replace the firmware", alpha=0, top_k=1)
            if hits and "firmware" in hits[0]["text"]:
                break
            time.sleep(0.3)
        else:
            self.fail("the scheduled sync did not pick up the edit")
        status, jobs = self.server.get_json("/v1/knowledge/jobs?collection=manuals")
        scheduled = [j for j in jobs["data"] if j["trigger"] == "schedule" and j["status"] == "succeeded"]
        self.assertTrue(any(j["counters"]["documents_changed"] == 1 for j in scheduled), jobs)
        self.assertGreater(self.server.metrics().get("hearth_knowledge_scheduled_syncs_total", 0), 0)

    def test_6_url_source(self):
        def libcurl_mapped():
            with open(f"/proc/{self.server.proc.pid}/maps") as f:
                return "libcurl" in f.read()

        # libcurl (and the ~30 libraries it needs) is loaded at the first URL fetch, not at start.
        self.assertFalse(libcurl_mapped(), "libcurl is mapped before any URL was fetched")
        self.ensure_collection("web")
        status, job = self.server.post("/v1/knowledge/collections/web/sources", {"uri": self.web_base + "/kb/forklift.html"})
        self.assertEqual(status, 202, job)
        job = self.wait_job(job["id"])
        self.assertEqual(job["status"], "succeeded", job)
        self.assertTrue(libcurl_mapped())
        self.assertEqual(job["counters"]["documents_added"], 1, job)
        hits = self.search("forklift seatbelt horn", collections=["web"])
        self.assertEqual(hits[0]["document"], self.web_base + "/kb/forklift.html")
        self.assertEqual(hits[0]["title"], "Forklift safety")
        for path, msg in (("/kb/missing.html", "404"), ("/kb/huge.txt", "larger than")):
            status, job = self.server.post("/v1/knowledge/collections/web/sources", {"uri": self.web_base + path})
            job = self.wait_job(job["id"])
            self.assertEqual(job["counters"]["documents_failed"], 1, job)
            self.assertIn(msg, job["errors"][0]["message"])
        status, out = self.server.post("/v1/knowledge/collections/web/sources", {"uri": "ftp://example.com/x"})
        self.assertEqual(status, 400, out)

    def test_7_delete_document_and_collection(self):
        self.ensure_collection("scratch")
        status, up = self.upload("scratch", "note.txt", b"Temporary note about the canteen menu.")
        self.assertEqual(status, 201, up)
        status, docs = self.server.get_json("/v1/knowledge/collections/scratch/documents")
        doc_id = docs["data"][0]["id"]
        status, _, out = self.server.request("DELETE", f"/v1/knowledge/collections/scratch/documents/{doc_id}")
        self.assertEqual(status, 200, out)
        status, _, out = self.server.request("DELETE", f"/v1/knowledge/collections/scratch/documents/{doc_id}")
        self.assertEqual(status, 404, out)
        status, _, out = self.server.request("DELETE", "/v1/knowledge/collections/scratch/documents/abc")
        self.assertEqual(status, 400, out)
        status, _, out = self.server.request("DELETE", "/v1/knowledge/collections/scratch")
        self.assertEqual(status, 200, out)
        status, out = self.server.get_json("/v1/knowledge/collections/scratch")
        self.assertEqual(status, 404, out)
        status, out = self.server.get_json("/v1/knowledge/jobs/job-999999")
        self.assertEqual(status, 404, out)
        self.assertTrue(self.server.alive())


if __name__ == "__main__":
    unittest.main()
