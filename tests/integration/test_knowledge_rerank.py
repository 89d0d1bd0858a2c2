"""Reranking knowledge search with a GGUF reranker (issue #3), against the real binary.

The reranker is the generated hearth-tiny-bert-reranker (a BERT cross-encoder with rank pooling and
a classification head, random weights, real BGE vocab). Its scores are meaningless as relevance,
but they are a deterministic function of (query, text), and llama-server, built from the same
llama.cpp, computes the same function: so every `rerank_score` Hearth returns must equal what
llama-server's /rerank gives for that query and chunk text, and the hits must come in that order.
That checks the pair formatting (for this BERT vocab: [CLS] query [SEP] document), the rank
pooling and the un-normalized head output end to end."""
import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

from tests.integration.harness import MODELS, SLOW, Server, default_models, model_block

RERANKER = "hearth-tiny-bert-reranker"
LLAMA_SERVER = os.environ.get("HEARTH_LLAMA_SERVER", "")


def multipart_file(filename, data):
    boundary = "----hearth" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """llama-server --rerank on the same GGUF, the reference implementation."""

    def __init__(self, model_path):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [LLAMA_SERVER, "-m", model_path, "--rerank", "--host", "127.0.0.1", "--port", str(self.port),
             "-c", "512", "-np", "1", "-ub", "512", "-b", "512", "-t", "2", "--no-webui"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60 * SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("llama-server exited:\n" + open(self.log.name).read())
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("llama-server did not start:\n" + open(self.log.name).read())

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60 * SLOW)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def scores(self, query, texts):
        status, data = self.request("POST", "/rerank", {"query": query, "documents": texts})
        if status != 200:
            raise RuntimeError(f"llama-server /rerank: {status} {data[:300]!r}")
        out = [None] * len(texts)
        for r in json.loads(data)["results"]:
            out[r["index"]] = r["relevance_score"]
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.log.name)


DOCS = {
    "boilers.md": "# Boilers\n\n## Pressure\n\nIf the boiler pressure exceeds three bar, open the relief valve.\n\n"
                  "## Water\n\nTop up the boiler water weekly and bleed the radiators before winter.",
    "printers.md": "# Printers\n\nA paper jam in tray two: open the side door and pull the sheet out slowly.\n\n"
                   "Replace the toner when the printer shows a yellow light.",
    "network.md": "# Network\n\nIf the wifi is down, restart the router in the server room and wait two minutes.",
    "leave.md": "# 休假\n\n员工每年享有十五天带薪休假，请提前两周向主管申请。",
    "safety.md": "# Safety\n\nWear gloves near the boiler. Report every accident to the safety officer the same day.",
}


@unittest.skipUnless(LLAMA_SERVER and os.path.exists(LLAMA_SERVER),
                     "HEARTH_LLAMA_SERVER is not set (scripts/test.sh sets it)")
class KnowledgeRerankTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        models = default_models() + [model_block(RERANKER, f"{RERANKER}.gguf", context_size=512, parallel=4)]
        cls.server = Server(models=models, knowledge={"reranker": RERANKER}).start()
        cls.ref = LlamaServer(os.path.join(MODELS, f"{RERANKER}.gguf"))
        status, out = cls.server.post("/v1/knowledge/collections", {"name": "ops"})
        assert status == 201, out
        for name, text in DOCS.items():
            ctype, body = multipart_file(name, text.encode())
            status, _, out = cls.server.request("POST", "/v1/knowledge/collections/ops/documents", body,
                                                headers={"Content-Type": ctype})
            assert status in (200, 201), out

    @classmethod
    def tearDownClass(cls):
        cls.ref.stop()
        cls.server.stop()
        cls.server.tmp.cleanup()

    def search(self, **body):
        status, out = self.server.post("/v1/knowledge/search", {"collections": ["ops"], **body})
        self.assertEqual(status, 200, out)
        return out["data"]

    def test_rerank_scores_equal_llama_server_and_decide_the_order(self):
        # English queries: alpha 0.5 brings in vector candidates without the query's words too, so
        # there are several to order. The Chinese one (GloVe knows no Chinese) finds one chunk.
        for query, at_least in (("boiler pressure relief", 3), ("printer paper jam", 3), ("带薪休假怎么申请", 1)):
            with self.subTest(query=query):
                hits = self.search(query=query, top_k=5, rerank=True, mmr_lambda=1.0, alpha=0.5)
                self.assertGreaterEqual(len(hits), at_least, hits)
                ours = [h["rerank_score"] for h in hits]
                self.assertEqual(ours, sorted(ours, reverse=True), "hits must come best rerank score first")
                if at_least > 1:
                    self.assertGreater(max(ours) - min(ours), 1e-3, "the fixture must give distinguishable scores")
                ref = self.ref.scores(query, [h["text"] for h in hits])
                for h, theirs in zip(hits, ref):
                    self.assertAlmostEqual(h["rerank_score"], theirs, delta=1e-3 * max(1.0, abs(theirs)),
                                           msg=f"{h['document']}: {h['rerank_score']} vs llama-server {theirs}")
                # The same chunk scores the same whatever else is in the batch (here: nothing else),
                # within float rounding: llama.cpp's default CPU kernels round differently for
                # different batch shapes (3e-4 here; batch_invariant = true would make it exact).
                last = hits[-1]
                alone = self.search(query=query, top_k=5, rerank=True, mmr_lambda=1.0, alpha=0.5,
                                    filter={"documents": [os.path.basename(last["document"])]})
                mine = [h for h in alone if h["chunk_id"] == last["chunk_id"]]
                self.assertEqual(len(mine), 1, alone)
                self.assertAlmostEqual(mine[0]["rerank_score"], last["rerank_score"], delta=2e-3)

    def test_without_rerank_there_is_no_rerank_score(self):
        hits = self.search(query="boiler pressure", top_k=3)
        self.assertTrue(hits)
        for h in hits:
            self.assertNotIn("rerank_score", h)

    def test_the_reranker_is_not_an_embedding_model(self):
        status, out = self.server.post("/v1/embeddings", {"model": RERANKER, "input": "hello"})
        self.assertEqual(status, 400, out)
        self.assertIn("reranker", out["error"]["message"])

    def test_chat_with_reranked_knowledge_cites_reranked_chunks(self):
        status, out = self.server.post("/v1/chat/completions", {
            "messages": [{"role": "user", "content": "How do I clear a paper jam?"}], "max_tokens": 4,
            "knowledge": {"collections": ["ops"], "top_k": 2, "rerank": True}})
        self.assertEqual(status, 200, out)
        self.assertTrue(out["citations"], out)


class RerankWithoutRerankerTest(unittest.TestCase):
    def test_rerank_without_a_configured_reranker_names_the_field(self):
        with Server() as s:
            status, out = s.post("/v1/knowledge/collections", {"name": "c"})
            self.assertEqual(status, 201, out)
            status, out = s.post("/v1/knowledge/search", {"collections": ["c"], "query": "x", "rerank": True})
            self.assertEqual(status, 400, out)
            self.assertEqual(out["error"]["param"], "rerank")
            self.assertIn("reranker", out["error"]["message"])

    def test_a_reranker_that_is_not_in_the_catalog_stops_the_start(self):
        s = Server(knowledge={"reranker": "no-such-model"})
        with self.assertRaises(RuntimeError) as cm:
            s.start(timeout=20)
        self.assertIn("no-such-model", str(cm.exception))
        s.stop()
        s.tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
