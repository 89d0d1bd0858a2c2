"""`hearth keys`: create (the key alone on the last line), list (never the key), revoke, and the
errors for bad input (exit code 2, naming the option)."""
import json
import os
import re
import stat
import subprocess
import tempfile
import unittest

from tests.integration.harness import BIN, SLOW

KEY_RE = re.compile(r"^hk-[0-9A-Za-z]{10}\.[0-9A-Za-z]{40}$")


class KeysCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-keys-")
        self.dir = self.tmp.name
        self.db = os.path.join(self.dir, "auth.sqlite")
        self.secret = os.path.join(self.dir, "auth.secret")
        self.config = os.path.join(self.dir, "hearth.toml")
        with open(self.config, "w") as f:
            f.write(f'[auth]\ndb = "{self.db}"\nsecret_file = "{self.secret}"\n')

    def tearDown(self):
        self.tmp.cleanup()

    def keys(self, *args, config=True, cwd=None):
        env = {k: v for k, v in os.environ.items() if k != "HEARTH_CONFIG"}
        cmd = [BIN, "keys", *args] + (["--config", self.config] if config else [])
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLOW, env=env,
                              cwd=cwd or self.dir)

    def create(self, *args):
        r = self.keys("create", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, r.stdout.splitlines()[-1]

    def list_json(self):
        r = self.keys("list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def test_help(self):
        for cmd in (["keys"], ["keys", "create"], ["keys", "list"], ["keys", "revoke"]):
            with self.subTest(cmd=cmd):
                r = subprocess.run([BIN, *cmd, "--help"], capture_output=True, text=True, timeout=60 * SLOW)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("Usage", r.stdout)

    def test_create_prints_the_key_last(self):
        r, key = self.create("--name", "ci bot", "--role", "user", "--models", "qwen,llama", "--collections", "docs",
                             "--rpm", "60", "--tpm", "10000", "--expires", "30d")
        self.assertRegex(key, KEY_RE)
        summary = "\n".join(r.stdout.splitlines()[:-1])
        self.assertIn(key[:13], summary)
        self.assertNotIn(key[14:], summary)
        for text in ("ci bot", "user", "qwen, llama", "docs", "60", "10000"):
            self.assertIn(text, summary)
        self.assertRegex(summary, r"expires:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        self.assertNotIn("note:", r.stderr)  # a built-in role
        self.assertEqual(stat.S_IMODE(os.stat(self.secret).st_mode), 0o600)
        with open(self.db, "rb") as f:
            self.assertNotIn(key[14:].encode(), f.read())

    def test_dates_and_custom_roles(self):
        r, _ = self.create("--name", "auditor key", "--role", "auditor", "--expires", "2099-01-31")
        self.assertIn("2099-01-31T00:00:00Z", r.stdout)
        self.assertIn("not a built-in role", r.stderr)
        r, _ = self.create("--name", "noon", "--role", "viewer", "--expires", "2099-01-31T12:30:00Z")
        self.assertIn("2099-01-31T12:30:00Z", r.stdout)
        r, _ = self.create("--name", "forever", "--role", "admin")
        self.assertRegex(r.stdout, r"expires:\s+never")

    def test_list_never_shows_keys_or_hashes(self):
        _, a = self.create("--name", "first", "--role", "user")
        _, b = self.create("--name", "second", "--role", "admin", "--models", "m1")
        r = self.keys("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        for key in (a, b):
            self.assertIn(key[:13], r.stdout)
            self.assertNotIn(key[14:], r.stdout)
        self.assertIn("first", r.stdout)
        self.assertIn("LAST USED", r.stdout)
        self.assertNotRegex(r.stdout, r"[0-9a-f]{64}")
        r, rows = self.list_json()
        self.assertEqual([row["id"] for row in rows], [a[:13], b[:13]])
        self.assertEqual(rows[1]["models"], ["m1"])
        self.assertEqual(rows[0]["models"], [])
        self.assertIsNone(rows[0]["revoked_at"])
        self.assertNotIn("hash", rows[0])
        self.assertNotIn("key", rows[0])
        for key in (a, b):
            self.assertNotIn(key[14:], r.stdout)

    def test_revoke(self):
        _, key = self.create("--name", "temp", "--role", "user")
        r = self.keys("revoke", key[:13])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("revoked", r.stdout)
        _, rows = self.list_json()
        self.assertRegex(rows[0]["revoked_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        r = self.keys("revoke", key[:13])  # again: fine, nothing changes
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.keys("revoke", "hk-0000000000")
        self.assertEqual(r.returncode, 1)
        self.assertIn("hk-0000000000", r.stderr)

    def test_bad_input_names_the_option(self):
        cases = [
            (["--name", "x", "--role", "user", "--expires", "soon"], "--expires"),
            (["--name", "x", "--role", "user", "--expires", "2020-01-01"], "--expires"),
            (["--name", "x", "--role", "user", "--expires", "2027-02-30"], "--expires"),
            (["--name", "x", "--role", "user", "--expires", "0d"], "--expires"),
            (["--name", "", "--role", "user"], "--name"),
            (["--role", "user"], "--name"),
            (["--name", "x"], "--role"),
            (["--name", "x", "--role", "user", "--rpm=-1"], "--rpm"),
            (["--name", "x", "--role", "user", "--tpm=-5"], "--tpm"),
            (["--name", "x" * 65, "--role", "user"], "--name"),
        ]
        for args, option in cases:
            with self.subTest(args=args):
                r = self.keys("create", *args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(option, r.stderr)
                self.assertNotRegex(r.stdout, r"hk-[0-9A-Za-z]{10}\.")
        _, rows = self.list_json()
        self.assertEqual(rows, [])

    def test_without_a_config_keys_live_in_data(self):
        r = self.keys("create", "--name", "local", "--role", "user", config=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.splitlines()[-1], KEY_RE)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "data", "auth.sqlite")))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dir, "data", "auth.secret")).st_mode), 0o600)

    def test_a_readable_secret_is_refused(self):
        self.create("--name", "a", "--role", "user")
        os.chmod(self.secret, 0o644)
        r = self.keys("list")
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.secret, r.stderr)
        self.assertIn("chmod 600", r.stderr)


if __name__ == "__main__":
    unittest.main()
