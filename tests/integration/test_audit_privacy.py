"""Audit and data-subject rights (issue #24, part 7), on the real binary over loopback.

- Requests, refusals (401, 403) and admin actions land in the hash-chained audit log with who,
  from where, what, the decision, the outcome and the tokens; the chain verifies over the admin
  API and with `hearth audit verify`; an edit to a record in the database is detected.
- `privacy export` returns what Hearth holds about a subject; after `privacy delete` (admin API or
  CLI, while the server runs) the subject's export is empty, their key no longer works, the chain
  still verifies and everyone else's records are intact.
"""
import json
import sqlite3
import subprocess
import unittest

from tests.integration.harness import BIN, QWEN, SLOW
from tests.integration.test_security import KeyedServer, small_models


def chat(server, key, text="hi"):
    return server.as_key(key, "POST", "/v1/chat/completions",
                         {"model": QWEN, "messages": [{"role": "user", "content": text}], "max_tokens": 2})


def cli(server, *args, check=True):
    return subprocess.run([BIN, *args, "--config", server.config_path], capture_output=True, text=True,
                          timeout=60 * SLOW, check=check)


class AuditPrivacyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=small_models()).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def records(self, principal=""):
        s = self.server
        path = "/v1/admin/audit" + (f"?principal={principal}" if principal else "")
        status, hdrs, body = s.as_key(s.admin_key, "GET", path)
        self.assertEqual(status, 200, body)
        self.assertTrue(hdrs["content-type"].startswith("application/x-ndjson"))
        text = body.decode() if isinstance(body, bytes) else body
        return [json.loads(line) for line in text.splitlines() if line]

    def verify(self):
        s = self.server
        status, _, out = s.as_key(s.admin_key, "GET", "/v1/admin/audit/verify")
        self.assertEqual(status, 200, out)
        self.assertTrue(out["ok"])
        self.assertEqual(cli(s, "audit", "verify").returncode, 0)
        return out["records"]

    def test_requests_and_refusals_are_recorded(self):
        s = self.server
        key, key_id = s.make_key("alice-laptop", "user")
        viewer, viewer_id = s.make_key("bob-viewer", "viewer")
        status, _, _ = chat(s, key)
        self.assertEqual(status, 200)
        self.assertEqual(chat(s, viewer)[0], 403)
        bad = key_id + "." + "x" * 40  # the right id, a wrong secret
        self.assertEqual(chat(s, bad)[0], 401)
        mine = self.records(key_id)
        ok = [r for r in mine if r["action"] == "chat.completions.create" and r["decision"] == "allow"]
        self.assertEqual(len(ok), 1, mine)
        r = ok[0]
        self.assertEqual((r["role"], r["model"], r["status"], r["outcome"], r["client_ip"]),
                         ("user", QWEN, 200, "ok", "127.0.0.1"))
        self.assertGreater(r["prompt_tokens"], 0)
        self.assertEqual(r["completion_tokens"], 2)
        self.assertEqual(r["content"], "")  # no message content unless [audit] record_content
        self.assertTrue(r["request_id"])
        failures = [r for r in mine if r["action"] == "auth.failure"]
        self.assertEqual([(f["decision"], f["status"]) for f in failures], [("deny", 401)])
        denied = [r for r in self.records(viewer_id) if r["decision"] == "deny"]
        self.assertEqual([(d["status"], d["outcome"]) for d in denied], [(403, "forbidden")])
        admin = [r for r in self.records() if r["action"] == "admin.keys.create"]
        self.assertGreaterEqual(len(admin), 2)
        self.assertGreater(self.verify(), 5)

    def test_cli_admin_actions_are_recorded(self):
        s = self.server
        out = subprocess.run([BIN, "keys", "create", "--config", s.config_path, "--name", "cli-made", "--role", "viewer"],
                             capture_output=True, text=True, check=True, timeout=60 * SLOW)
        key_id = out.stdout.splitlines()[0].split()[-1]
        mine = [r for r in self.records() if r["action"] == "admin.keys.create" and r["route"] == key_id]
        self.assertEqual(len(mine), 1)
        self.assertTrue(mine[0]["principal"].startswith("cli:"))

    def test_privacy_export_and_delete(self):
        s = self.server
        key, key_id = s.make_key("carol", "user")
        other, other_id = s.make_key("dave", "user")
        for k in (key, other):
            self.assertEqual(chat(s, k, "我的手机号是多少？")[0], 200)
        others_before = self.records(other_id)
        status, _, out = s.as_key(s.admin_key, "GET", f"/v1/admin/privacy/{key_id}")
        self.assertEqual(status, 200, out)
        self.assertEqual(out["stores"]["api_keys"][0]["name"], "carol")
        self.assertTrue(any(r["action"] == "chat.completions.create" for r in out["stores"]["audit_log"]))
        status, _, out = s.as_key(s.admin_key, "DELETE", f"/v1/admin/privacy/{key_id}")
        self.assertEqual(status, 200, out)
        self.assertEqual(out["stores"]["audit_log"]["pseudonymised"], 1)  # her one chat
        self.assertEqual(out["stores"]["api_keys"]["removed"], 1)
        status, _, out = s.as_key(s.admin_key, "GET", f"/v1/admin/privacy/{key_id}")
        self.assertEqual(out["stores"], {}, out)
        self.assertEqual(chat(s, key)[0], 401)  # the key is gone
        self.assertEqual(self.records(key_id), [r for r in self.records(key_id) if r["action"] == "auth.failure"])
        self.assertTrue(any(r["action"] == "privacy.pseudonymise" for r in self.records()))
        self.assertEqual(self.records(other_id)[:len(others_before)], others_before)
        self.verify()
        # The CLI, beside the running server, on the other subject.
        done = cli(s, "privacy", "delete", "--user", other_id)
        self.assertEqual(json.loads(done.stdout)["stores"]["api_keys"]["removed"], 1, done.stdout + done.stderr)
        exported = json.loads(cli(s, "privacy", "export", "--user", other_id).stdout)
        self.assertEqual(exported["stores"], {})
        self.verify()

    def test_tampering_is_detected(self):
        s = self.server
        self.assertEqual(chat(s, s.admin_key)[0], 200)
        self.verify()
        db = sqlite3.connect(s.audit_db)
        seq, model = db.execute("SELECT seq, model FROM audit_log ORDER BY seq LIMIT 1 OFFSET 1").fetchone()
        with db:
            db.execute("UPDATE audit_log SET model = 'forged' WHERE seq = ?", (seq,))
        db.close()
        out = cli(s, "audit", "verify", check=False)
        self.assertEqual(out.returncode, 1, out)
        self.assertIn("hash mismatch", out.stderr)
        status, _, body = s.as_key(s.admin_key, "GET", "/v1/admin/audit/verify")
        self.assertEqual(status, 500, body)
        db = sqlite3.connect(s.audit_db)
        with db:  # put it back for the other tests
            db.execute("UPDATE audit_log SET model = ? WHERE seq = ?", (model, seq))
        db.close()
        self.verify()


if __name__ == "__main__":
    unittest.main()
