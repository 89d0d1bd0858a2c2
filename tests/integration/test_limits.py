"""Limits per caller (issue #24): requests and tokens per minute and concurrent requests, per API
key, per signed-in user and per client address, in-process and in a real Redis shared by two Hearth processes.

A key sending five times its limit gets accepted requests within 5 % of the limit and 429 with
Retry-After and x-ratelimit-* headers for the rest, while another key is unaffected.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from tests.integration.harness import QWEN, SLOW, Server, model_block
from tests.integration.test_security import KeyedServer, auth_toml, cli_key

LIMIT = 20


def models():
    return [model_block(QWEN, "hearth-tiny-qwen2.gguf", context_size=512, parallel=2)]


def burst(server, key, n, path="/v1/models"):
    """n requests back to back on one connection at a time (this server also limits each key to one
    request in flight); the statuses and the 429s' headers and bodies."""
    statuses, refusals = [], []
    for _ in range(n):
        status, hdrs, out = server.as_key(key, "GET", path)
        statuses.append(status)
        if status == 429:
            refusals.append((hdrs, out))
    return statuses, refusals


class InProcessLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = KeyedServer(models=models(), extra_toml="[limits]\nkey_concurrent = 1\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_requests_per_minute(self):
        s = self.server
        limited, _ = s.make_key("limited", "user", rpm=LIMIT)
        other, _ = s.make_key("other", "user", rpm=LIMIT)
        statuses, refusals = burst(s, limited, 5 * LIMIT)
        accepted = statuses.count(200)
        self.assertGreaterEqual(accepted, LIMIT * 0.95, statuses)
        self.assertLessEqual(accepted, LIMIT * 1.05, statuses)
        self.assertEqual(statuses.count(429), 5 * LIMIT - accepted)
        hdrs, out = refusals[0]
        self.assertGreaterEqual(int(hdrs["retry-after"]), 1)
        self.assertEqual(hdrs["x-ratelimit-limit-requests"], str(LIMIT))
        self.assertEqual(hdrs["x-ratelimit-remaining-requests"], "0")
        self.assertTrue(hdrs["x-ratelimit-reset-requests"].endswith("s"))
        self.assertEqual(out["error"]["type"], "rate_limit_error")
        self.assertIn("requests per minute", out["error"]["message"])
        # Another key is unaffected.
        self.assertEqual(s.as_key(other, "GET", "/v1/models")[0], 200)

    def test_signed_in_users_have_their_own_limits(self):
        s = self.server
        for name in ("uma", "ulf"):
            status, _, out = s.as_key(s.admin_key, "POST", "/v1/admin/users",
                                      {"name": name, "role": "user", "password": "correct horse battery",
                                       "rpm": LIMIT})
            self.assertEqual(status, 201, out)
        tokens = {}
        for name in ("uma", "ulf"):
            status, _, out = s.as_key(None, "POST", "/v1/auth/login", {"username": name, "password": "correct horse battery"})
            tokens[name] = out["token"]
        statuses, refusals = burst(s, tokens["uma"], 5 * LIMIT)
        accepted = statuses.count(200)
        self.assertGreaterEqual(accepted, LIMIT * 0.95, statuses)
        self.assertLessEqual(accepted, LIMIT * 1.05, statuses)
        self.assertIn("user:uma", refusals[0][1]["error"]["message"])
        self.assertEqual(s.as_key(tokens["ulf"], "GET", "/v1/models")[0], 200)

    def test_tokens_per_minute(self):
        s = self.server
        key, _ = s.make_key("tokens", "user", tpm=300)
        ask = lambda n: s.as_key(key, "POST", "/v1/chat/completions",
                                 {"messages": [{"role": "user", "content": "hi"}], "max_tokens": n})
        status, hdrs, out = ask(400)  # more than the whole limit
        self.assertEqual(status, 429, out)
        self.assertIn("lower max_tokens", out["error"]["message"])
        self.assertEqual(out["error"]["code"], "rate_limit_tokens")
        # Reserved up front (prompt + max_tokens), settled to what was used: tokens not used come
        # back, so more small requests fit than max_tokens alone would allow.
        ok = 0
        for _ in range(12):
            status, _, out = ask(100)
            if status != 200:
                self.assertEqual(status, 429, out)
                self.assertIn("tokens per minute", out["error"]["message"])
                break
            ok += 1
        self.assertGreaterEqual(ok, 2, out)
        self.assertLess(ok, 12)

    def test_concurrent(self):
        s = self.server
        key, _ = s.make_key("conc", "user")
        c = s.conn()
        c.request("POST", "/v1/chat/completions",
                  body='{"messages":[{"role":"user","content":"go on"}],"max_tokens":200,"ignore_eos":true,"stream":true}',
                  headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        r.read1(10)  # the stream has started: the slot is held
        status, hdrs, out = s.as_key(key, "GET", "/v1/models")
        self.assertEqual(status, 429, out)
        self.assertIn("in flight", out["error"]["message"])
        r.read()  # to the end
        c.close()
        deadline = time.time() + 10 * SLOW
        while s.as_key(key, "GET", "/v1/models")[0] != 200:  # the slot is released once the response is done
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)


def start_redis(directory):
    sock = os.path.join(directory, "redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                s.close()
                return proc, sock
        except OSError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)


@unittest.skipUnless(shutil.which("redis-server"), "redis-server is not installed (scripts/deps.sh installs it)")
class SharedRedisLimitsTest(unittest.TestCase):
    """Two Hearth processes, one Redis, one key database: a key's limit holds across both."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hearth-redis-")
        cls.redis, sock = start_redis(cls.tmp.name)
        shared = auth_toml(cls.tmp.name) + f'[limits]\nredis_url = "unix://{sock}"\n'
        cls.a = _server_with(shared)
        # Made before either server starts, so both know it from their first request.
        cls.shared_key = cli_key(cls.a.config_path, "shared", "user", "--rpm", str(LIMIT))
        cls.a.start()
        cls.b = _server_with(shared).start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        cls.redis.kill()
        cls.redis.wait()
        cls.tmp.cleanup()

    def test_one_limit_across_two_processes(self):
        key = self.shared_key
        statuses = []
        for i in range(5 * LIMIT):
            server = self.a if i % 2 == 0 else self.b
            statuses.append(server.as_key(key, "GET", "/v1/models")[0])
        accepted = statuses.count(200)
        self.assertGreaterEqual(accepted, LIMIT * 0.95, statuses)
        self.assertLessEqual(accepted, LIMIT * 1.05, statuses)
        self.assertTrue(any(s == 200 for s in statuses[1::2]), "server b served none")

    def test_redis_down_fails_open_and_says_so(self):
        key, _ = self.a.make_key("while-down", "user", rpm=LIMIT)
        self.redis.kill()
        self.redis.wait()
        try:
            self.assertEqual(self.a.as_key(key, "GET", "/v1/models")[0], 200)
            self.assertIn("limits: rate limiter", self.a.read_log())
        finally:
            type(self).redis, _ = start_redis(self.tmp.name)


class SharedServer(Server):
    """A server whose [auth] files and [limits] come from `extra` (shared by several servers)."""
    as_key = KeyedServer.as_key
    make_key = KeyedServer.make_key

    def __init__(self, extra):
        super().__init__(models=models(), extra_toml=extra)
        self.admin_key = cli_key(self.config_path, "bootstrap", "admin")


def _server_with(extra):
    return SharedServer(extra)


if __name__ == "__main__":
    unittest.main()
