"""`hearth kb` with embedders other than the static one: a remote OpenAI-compatible service (played
by Hearth's own /v1/embeddings) and a catalog GGUF embedding model run in-process.

The test models have random weights, so vectors carry no meaning; but identical text still gets
identical vectors, so a semantic-only search (alpha 1) for exactly what a chunk's vector was made
from must find that chunk's document first."""
import json
import os
import subprocess
import tempfile
import unittest

from tests.integration.harness import BIN, EMBED, MODELS, QWEN, SLOW, Server, model_block

DOCS = {
    "printers.txt": "Open the tray and remove the jammed paper before printing again.",
    "network.txt": "The router assigns addresses with DHCP and restarts at midnight.",
    "holidays.txt": "Every employee has fifteen days of paid leave each year.",
}


def hearth(*args, cwd=None, env=None, timeout=180):
    full_env = dict(os.environ)
    full_env.pop("HEARTH_CONFIG", None)
    full_env["HEARTH_OUTBOUND_ALLOW"] = "127.0.0.1"  # the fake remote service is on loopback
    full_env.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout * SLOW, cwd=cwd, env=full_env)


class EmbedderCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-kb-emb-")
        self.db = os.path.join(self.tmp.name, "kb.sqlite")
        self.docs = os.path.join(self.tmp.name, "docs")
        os.makedirs(self.docs)
        for name, text in DOCS.items():
            with open(os.path.join(self.docs, name), "w") as f:
                f.write(text + "\n")

    def tearDown(self):
        self.tmp.cleanup()

    def kb(self, *args, **kw):
        # From the temporary directory, so the repository's config/hearth.toml is not picked up.
        return hearth("kb", "--db", self.db, *args, cwd=self.tmp.name, **kw)

    def ingest_and_search(self, collection, spec, *extra):
        r = self.kb(*extra, "create", collection, "--embedder", spec)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dimensions", r.stdout)
        r = self.kb(*extra, "add", collection, self.docs)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("documents: 3 added, 0 changed, 0 removed, 0 unchanged, 0 failed", r.stdout)
        for name, text in DOCS.items():
            # What a chunk's vector is made from: its document's title (a text file's name), its
            # heading path (none here) and its text, one per line.
            query = f"{os.path.splitext(name)[0]}\n\n{text}"
            r = self.kb(*extra, "search", collection, query, "--json", "--alpha", "1", "-k", "3")
            self.assertEqual(r.returncode, 0, r.stderr)
            hits = json.loads(r.stdout)
            self.assertTrue(hits, r.stdout)
            self.assertTrue(hits[0]["document"].endswith(name), (name, hits))
            self.assertAlmostEqual(hits[0]["semantic"], 1.0, places=3)
        # A second sync finds nothing to embed; the stored spec rebuilds the same embedder.
        r = self.kb(*extra, "sync", collection)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 added, 0 changed, 0 removed, 3 unchanged", r.stdout)


class RemoteEmbedderTest(EmbedderCase):
    """Hearth's own /v1/embeddings plays the remote OpenAI service."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(models=[model_block(EMBED, "hearth-tiny-bert-embed.gguf", context_size=512, parallel=4)],
                            models_section={"default": EMBED})
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.tmp.cleanup()

    def url(self):
        return f"http://127.0.0.1:{self.server.port}/v1"

    def test_openai_embedder_against_hearth(self):
        spec = f"openai:{self.url()}#{EMBED}?batch=2"
        before = self.server.metrics()
        self.ingest_and_search("remote", spec)
        listing = self.kb("ls").stdout
        self.assertIn(spec, listing)
        after = self.server.metrics()
        embedded = {k: v for k, v in after.items() if EMBED in k and v != before.get(k, 0.0)}
        self.assertTrue(embedded, "the server saw no embedding requests")

    def test_unknown_remote_model_names_the_servers_message(self):
        r = self.kb("create", "bad", "--embedder", f"openai:{self.url()}#no-such-model")
        self.assertEqual(r.returncode, 1)
        self.assertIn("404", r.stderr)
        self.assertIn("no-such-model", r.stderr)
        self.assertNotIn("bad", self.kb("ls").stdout)

    def test_unreachable_service_fails_clearly(self):
        with socket_port() as port:
            pass  # closed again: connections are refused
        r = self.kb("create", "gone", "--embedder", f"openai:http://127.0.0.1:{port}/v1#m?retries=1")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"127.0.0.1:{port}", r.stderr)
        self.assertIn("after 2 attempts", r.stderr)

    def test_key_env_must_be_set(self):
        r = self.kb("create", "keyed", "--embedder", f"openai:{self.url()}#{EMBED}?key_env=HEARTH_IT_NO_SUCH_KEY")
        self.assertEqual(r.returncode, 1)
        self.assertIn("HEARTH_IT_NO_SUCH_KEY", r.stderr)
        r = self.kb("create", "keyed", "--embedder", f"openai:{self.url()}#{EMBED}?key_env=HEARTH_IT_KEY",
                    env={"HEARTH_IT_KEY": "sk-local"})
        self.assertEqual(r.returncode, 0, r.stderr)  # Hearth ignores the key it is sent

    def test_malformed_spec_is_named(self):
        r = self.kb("create", "x", "--embedder", "openai:not-a-url")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'openai:not-a-url'", r.stderr)


class GgufEmbedderTest(EmbedderCase):
    """A catalog embedding model run by the engine inside `hearth kb`."""

    def setUp(self):
        super().setUp()
        self.config = os.path.join(self.tmp.name, "hearth.toml")
        with open(self.config, "w") as f:
            f.write(f'[models]\ndir = "{MODELS}"\n')
            f.write(model_block(EMBED, "hearth-tiny-bert-embed.gguf", aliases=["bert"], context_size=512, parallel=2))
            f.write(model_block(QWEN, "hearth-tiny-qwen2.gguf", context_size=256, parallel=1))

    def test_gguf_embedder_with_a_config(self):
        self.ingest_and_search("local", f"gguf:{EMBED}", "--config", self.config)
        self.assertIn(f"gguf:{EMBED}", self.kb("ls").stdout)

    def test_alias_is_stored_as_the_catalog_id(self):
        r = self.kb("--config", self.config, "create", "aliased", "--embedder", "gguf:bert")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"gguf:{EMBED}", r.stdout)

    def test_gguf_embedder_with_a_model_file(self):
        self.ingest_and_search("file", f"gguf:{EMBED}", "--model", os.path.join(MODELS, "hearth-tiny-bert-embed.gguf"))

    def test_generative_model_is_refused(self):
        r = self.kb("--config", self.config, "create", "wrong", "--embedder", f"gguf:{QWEN}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not an embedding model", r.stderr)

    def test_unknown_model_and_missing_catalog(self):
        r = self.kb("--config", self.config, "create", "x", "--embedder", "gguf:no-such-model")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-model", r.stderr)
        self.assertIn(EMBED, r.stderr)  # the known ids are listed
        r = self.kb("create", "y", "--embedder", f"gguf:{EMBED}")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--config", r.stderr)


class socket_port:
    """A free loopback port, bound while inside the `with`."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()
        return False


if __name__ == "__main__":
    unittest.main()
