"""SIGKILL during a large ingest: after a restart and a sync the store is consistent, with nothing
duplicated or lost, and equal to an uninterrupted ingest of the same files. The corpus is real:
Debian's linux-doc reStructuredText files."""
import glob
import gzip
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from tests.integration.harness import BIN, SLOW

LINUX_DOC = "/usr/share/doc/linux-doc-6.1/Documentation"
FILES = 600


def hearth(*args, timeout=600):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout * SLOW)


def committed_documents(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM documents").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def store_facts(db):
    """What a consistent store looks like from plain SQL (no custom tokenizer needed)."""
    con = sqlite3.connect(db)
    try:
        q = lambda sql: con.execute(sql).fetchall()
        return {
            "integrity": q("PRAGMA integrity_check")[0][0],
            "documents": q("SELECT count(*) FROM documents")[0][0],
            "distinct_uris": q("SELECT count(DISTINCT uri) FROM documents")[0][0],
            "chunks": q("SELECT count(*) FROM chunks")[0][0],
            "orphan_chunks": q("SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")[0][0],
            "documents_without_chunks": q("SELECT count(*) FROM documents d WHERE NOT EXISTS "
                                          "(SELECT 1 FROM chunks c WHERE c.document_id = d.id)")[0][0],
            "bad_vectors": q("SELECT count(*) FROM chunks WHERE vector IS NOT NULL AND length(vector) != 400")[0][0],
            # FTS5's per-row bookkeeping: one row per indexed chunk.
            "fts_rows": q("SELECT count(*) FROM chunks_fts_docsize")[0][0],
            "uris_hashes": sorted(q("SELECT uri, content_hash FROM documents")),
        }
    finally:
        con.close()


@unittest.skipUnless(os.path.isdir(LINUX_DOC), "linux-doc-6.1 is not installed (scripts/deps.sh installs it)")
class KnowledgeCrashTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hearth-kb-crash-")
        self.docs = os.path.join(self.tmp, "docs")
        paths = sorted(glob.glob(os.path.join(LINUX_DOC, "**", "*.rst.gz"), recursive=True))[:FILES]
        self.assertGreaterEqual(len(paths), 200)
        for p in paths:
            rel = os.path.relpath(p, LINUX_DOC)[:-3]  # drop .gz
            out = os.path.join(self.docs, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with gzip.open(p, "rb") as f, open(out, "wb") as g:
                g.write(f.read())
        self.files = len(paths)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_sigkill_mid_ingest_then_sync(self):
        db = os.path.join(self.tmp, "crash.sqlite")
        self.assertEqual(hearth("kb", "--db", db, "create", "docs").returncode, 0)
        proc = subprocess.Popen([BIN, "kb", "--db", db, "add", "docs", self.docs],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300 * SLOW
        while committed_documents(db) < 40 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        self.assertIsNone(proc.poll(), "the ingest finished before it could be killed; use more files")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = store_facts(db)
        self.assertEqual(partial["integrity"], "ok")
        self.assertGreater(partial["documents"], 0)
        self.assertLess(partial["documents"], self.files, "the kill came mid-ingest")
        for key in ("orphan_chunks", "bad_vectors"):
            self.assertEqual(partial[key], 0, key)
        self.assertEqual(partial["fts_rows"], partial["chunks"])

        r = hearth("kb", "--db", db, "sync", "docs")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"documents: {self.files - partial['documents']} added, 0 changed, 0 removed, "
                      f"{partial['documents']} unchanged", r.stdout)
        after = store_facts(db)

        # The same files ingested without interruption.
        clean_db = os.path.join(self.tmp, "clean.sqlite")
        self.assertEqual(hearth("kb", "--db", clean_db, "create", "docs").returncode, 0)
        r = hearth("kb", "--db", clean_db, "add", "docs", self.docs)
        self.assertEqual(r.returncode, 0, r.stderr)
        clean = store_facts(clean_db)

        self.assertEqual(after["integrity"], "ok")
        self.assertEqual(after["documents"], self.files)
        self.assertEqual(after["distinct_uris"], self.files)
        for key in ("orphan_chunks", "bad_vectors"):
            self.assertEqual(after[key], 0, key)
        self.assertEqual(after["documents_without_chunks"], clean["documents_without_chunks"])
        self.assertEqual(after["chunks"], clean["chunks"])
        self.assertEqual(after["fts_rows"], after["chunks"])
        self.assertEqual(after["uris_hashes"], clean["uris_hashes"])
        # And it answers.
        r = hearth("kb", "--db", db, "search", "docs", "memory barriers", "--json", "-k", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("barrier", r.stdout.lower())


if __name__ == "__main__":
    unittest.main()
