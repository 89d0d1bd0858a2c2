"""Connection limits and deadlines (issue 24): idle or slow connections cannot starve real users.

- 2,000 idle connections (half silent, half stopped in the middle of a header) while real requests
  (/health, a chat completion, /metrics) are each served in under 2 s.
- Slowloris: a header sent one byte a second is cut off after header_timeout_seconds, a body
  likewise after body_timeout_seconds; an idle keep-alive connection waits request_timeout_seconds
  (not header_timeout_seconds) for its next request.
- Caps: with max_connections_per_ip = 5 the 6th concurrent connection from 127.0.0.1 is refused
  while the first 5 keep working; max_connections likewise; /metrics counts both reasons.
"""
import resource
import socket
import sys
import time
import unittest

from tests.integration.harness import QWEN, SLOW, Server, model_block

QWEN_BLOCK = model_block(QWEN, "hearth-tiny-qwen2.gguf", context_size=1024, parallel=2)
IDLE = 2000
PROMPT = [{"role": "user", "content": "Hello"}]


def read_until_closed(sock, timeout):
    """Everything the server sends until it closes (a reset counts as closed); None if still open
    after `timeout` seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return data
        if not chunk:
            return data
        data += chunk


def drip(sock, payload, start):
    """Sends payload one byte a second, waiting on the socket in between; returns the seconds from
    `start` until the server closed the connection, or None if it never did."""
    for byte in payload:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return time.monotonic() - start
        got = read_until_closed(sock, 1.0)
        if got is not None:
            if got:
                raise AssertionError(f"the server answered instead of closing: {got[:200]!r}")
            return time.monotonic() - start
    return None


def metrics_when_served(server, timeout=10):
    """/metrics, retried while the server still counts connections that the client has closed."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        try:
            return server.metrics()
        except (AssertionError, OSError, ConnectionError) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"/metrics was not served: {e!r}")
            time.sleep(0.1)


def refused(metrics, reason):
    return metrics.get(f'hearth_connections_refused_total{{reason="{reason}"}}', 0.0)


class IdleConnectionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = IDLE + 512  # the server inherits the limit: it needs one per connection too
        if soft < need:
            if hard != resource.RLIM_INFINITY and hard < need:
                raise unittest.SkipTest(f"the open-files hard limit ({hard}) is below {need}")
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        cls.server = Server(models=[QWEN_BLOCK], server={
            "max_connections": 4096, "max_connections_per_ip": 4096, "header_timeout_seconds": 60}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def timed(self, fn):
        t = time.monotonic()
        out = fn()
        return out, time.monotonic() - t

    def test_idle_connections_do_not_starve_a_real_request(self):
        s = self.server
        s.chat(PROMPT, max_tokens=2)  # the model is loaded before the clock matters
        idle = []
        try:
            t = time.monotonic()
            for i in range(IDLE):
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=30 * SLOW)
                if i % 2:
                    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
                idle.append(sock)
            opened = time.monotonic() - t
            (status, _, _), health_s = self.timed(lambda: s.request("GET", "/health"))
            self.assertEqual(status, 200)
            out, chat_s = self.timed(lambda: s.chat(PROMPT, max_tokens=2))
            self.assertEqual(out["object"], "chat.completion")
            metrics, metrics_s = self.timed(s.metrics)
            print(f"\n  {IDLE} idle connections opened in {opened:.2f} s; with them open: /health {health_s * 1000:.1f} ms, "
                  f"chat (max_tokens 2) {chat_s * 1000:.1f} ms, /metrics {metrics_s * 1000:.1f} ms", file=sys.stderr)
            for name, seconds in (("/health", health_s), ("chat", chat_s), ("/metrics", metrics_s)):
                self.assertLess(seconds, 2.0 * SLOW, name)
            self.assertGreaterEqual(metrics["hearth_connections_open"], IDLE)
            self.assertEqual(refused(metrics, "total") + refused(metrics, "per_ip"), 0)
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 10 * SLOW
        while metrics_when_served(s)["hearth_connections_open"] > 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertLessEqual(metrics_when_served(s)["hearth_connections_open"], 5)


class DeadlinesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(models=[QWEN_BLOCK], server={"header_timeout_seconds": 2, "body_timeout_seconds": 3}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_slowloris_header_is_cut_off(self):
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            closed = drip(sock, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 30, start)
        self.assertIsNotNone(closed, "the slow header was never cut off")
        print(f"\n  slowloris header closed after {closed:.2f} s (header_timeout_seconds = 2)", file=sys.stderr)
        self.assertGreaterEqual(closed, 1.7)
        self.assertLessEqual(closed, 6.0 * SLOW)

    def test_silent_connection_is_closed_after_the_header_timeout(self):
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            self.assertEqual(read_until_closed(sock, 10 * SLOW), b"")
        closed = time.monotonic() - start
        self.assertGreaterEqual(closed, 1.7)
        self.assertLessEqual(closed, 6.0 * SLOW)

    def test_slow_body_is_cut_off(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            start = time.monotonic()
            closed = drip(sock, b'{"messages": [' + b" " * 40, start)
        self.assertIsNotNone(closed, "the slow body was never cut off")
        self.assertGreaterEqual(closed, 2.5)
        self.assertLessEqual(closed, 7.0 * SLOW)

    def test_idle_keep_alive_outlives_the_header_timeout(self):
        c = self.server.conn()
        try:
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            first = c.sock.getsockname()
            time.sleep(3.5)  # longer than header_timeout_seconds; request_timeout_seconds is 600
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertEqual(c.sock.getsockname(), first, "the connection was not kept")
        finally:
            c.close()


class CapsTest(unittest.TestCase):
    def keep_alive_health(self, conns):
        for c in conns:
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)

    def assert_refused(self, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            try:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            except OSError:
                return
            data = read_until_closed(sock, 5 * SLOW)
        self.assertIsNotNone(data, "the connection over the cap was kept open")
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 503"), data[:200])
            self.assertIn(b"too many connections", data)

    def check_cap(self, settings, reason):
        with Server(models=[QWEN_BLOCK], server=settings) as s:
            before = refused(metrics_when_served(s), reason)
            conns = [s.conn() for _ in range(5)]
            try:
                self.keep_alive_health(conns)
                socks = [c.sock.getsockname() for c in conns]
                self.assert_refused(s.port)
                self.keep_alive_health(conns)  # the first 5 still work, on the same connections
                self.assertEqual([c.sock.getsockname() for c in conns], socks)
            finally:
                for c in conns:
                    c.close()
            after = metrics_when_served(s)
            self.assertEqual(refused(after, reason), before + 1)
            self.assertIn("hearth_connections_open", after)
            self.assertIn("refusing connections from 127.0.0.1", s.read_log())

    def test_sixth_connection_from_one_address_is_refused(self):
        self.check_cap({"max_connections_per_ip": 5}, "per_ip")

    def test_connection_over_max_connections_is_refused(self):
        self.check_cap({"max_connections": 5}, "total")


if __name__ == "__main__":
    unittest.main()
