"""TLS (issue 24): https and wss on the real binary, with certificates from `hearth tls self-signed`.

- https with a client that trusts only the generated certificate: /health, a chat completion and
  a stream; Strict-Transport-Security on the answers; TLS 1.2 with ECDHE and an AEAD cipher only.
- TLS 1.0 and 1.1 are refused; a plain-HTTP request to the port gets no HTTP answer.
- wss: a WebSocket chat turn over TLS.
- SIGHUP reloads the certificate during a running SSE stream: the stream ends normally, new
  connections get the new certificate and the old one no longer verifies; a bad file keeps the
  previous certificate and logs the error naming the file.
- mTLS (client_ca_file): no client certificate, or one from another CA, is refused; one signed by
  the CA is served (certificates made with the `openssl` command-line tool).
- `hearth tls self-signed`: the key is mode 0600, the names are in the certificate.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import warnings

from tests.integration.harness import (BIN, QWEN, SLOW, TlsServer, WebSocket, model_block, self_signed,
                                       sse_events, tls_client_context)

QWEN_BLOCK = model_block(QWEN, "hearth-tiny-qwen2.gguf", context_size=4096, parallel=2)
CHAT = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2}
TLS_SAYS_NO = (ssl.SSLError, ConnectionError, http.client.HTTPException, socket.timeout)


def der_sha256(pem_path):
    with open(pem_path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def peer_sha256(port, ctx):
    with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def health_over(port, ctx):
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10 * SLOW, context=ctx)
    try:
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def old_protocol_context(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def cannot_offer(err):
    """True when the client's own OpenSSL refused to offer the protocol (nothing reached the server)."""
    text = f"{getattr(err, 'reason', '')} {err}".upper()
    return "NO_PROTOCOLS_AVAILABLE" in text or "NO PROTOCOLS AVAILABLE" in text or "NO_CIPHERS_AVAILABLE" in text


def chat_stream(port, ctx, body, on_event):
    """POSTs a streaming chat over https; calls on_event(payload, arrival time) per SSE event."""
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=120 * SLOW, context=ctx)
    try:
        c.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            raise AssertionError(f"stream failed {r.status}: {r.read()}")
        for ev in sse_events(r):
            on_event(ev, time.monotonic())
    finally:
        c.close()


class TlsBasicsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hearth-tls-")
        cls.cert, cls.key = self_signed(os.path.join(cls.tmp.name, "a"), hosts=["hearth.test"])
        cls.server = TlsServer(cls.cert, cls.key, models=[QWEN_BLOCK]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.tmp.cleanup()

    def test_health_over_https_with_hsts(self):
        status, headers, body = self.server.request("GET", "/health")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"], "ok")
        self.assertEqual(headers.get("strict-transport-security"), "max-age=31536000")
        self.assertIn("Hearth is listening on https://", self.server.read_log())

    def test_chat_and_stream_over_https(self):
        out = self.server.chat(CHAT["messages"], max_tokens=2)
        self.assertEqual(out["object"], "chat.completion")
        events = self.server.stream("/v1/chat/completions", dict(CHAT, max_tokens=2))
        self.assertEqual(events[-1], "[DONE]")
        self.assertGreater(len(events), 1)

    def test_key_file_mode_and_names(self):
        self.assertEqual(os.stat(self.key).st_mode & 0o777, 0o600)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10 * SLOW) as raw:
            with self.server.ssl_context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                sans = s.getpeercert()["subjectAltName"]
        self.assertIn(("DNS", "localhost"), sans)
        self.assertIn(("IP Address", "127.0.0.1"), sans)
        self.assertIn(("DNS", "hearth.test"), sans)
        # The name is checked too: a client asking for another host name is refused.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10 * SLOW) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                self.server.ssl_context.wrap_socket(raw, server_hostname="other.test")

    def test_tls12_uses_ecdhe_with_aead_only(self):
        ctx = tls_client_context(self.cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10 * SLOW) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                name, version, _ = s.cipher()
        self.assertEqual(version, "TLSv1.2")
        self.assertTrue(name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name)
        cbc = tls_client_context(self.cert)
        cbc.maximum_version = ssl.TLSVersion.TLSv1_2
        cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256")
        with self.assertRaises(TLS_SAYS_NO):
            health_over(self.server.port, cbc)

    def test_tls10_and_tls11_are_refused(self):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with self.subTest(version=version.name):
                err = self.handshake_error(old_protocol_context(version))
                if err is not None and cannot_offer(err):
                    ctx = old_protocol_context(version)
                    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                    err = self.handshake_error(ctx)
                if err is not None and cannot_offer(err):
                    self.skipTest("TLS 1.0/1.1 cannot be offered by this client's OpenSSL")
                self.assertIsNotNone(err, f"{version.name} was accepted")

    def handshake_error(self, ctx):
        try:
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=10 * SLOW) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    s.recv(1)
        except (ssl.SSLError, OSError) as e:
            return e
        return None

    def test_plain_http_gets_no_http_response(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10 * SLOW) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
        self.assertFalse(data.startswith(b"HTTP/"), data[:200])
        self.assertNotIn(b"200 OK", data)

    def test_wss_chat_turn(self):
        ws = WebSocket(self.server.port, "/v1/chat/ws", ssl_context=self.server.ssl_context)
        self.addCleanup(ws.close)
        self.assertIsInstance(ws.sock, ssl.SSLSocket)
        ws.send_json({"type": "chat", "content": "Hello over wss", "max_tokens": 4, "temperature": 0})
        msgs = []
        while not msgs or msgs[-1]["type"] not in ("done", "error"):
            m = ws.recv_json()
            self.assertIsNotNone(m, f"closed mid-turn after {msgs}")
            msgs.append(m)
        self.assertEqual(msgs[0]["type"], "start", msgs)
        self.assertEqual(msgs[-1]["type"], "done", msgs)
        # A second turn on the same connection works too.
        ws.send_json({"type": "chat", "content": "Again", "max_tokens": 2})
        while (m := ws.recv_json())["type"] not in ("done", "error"):
            pass
        self.assertEqual(m["type"], "done", m)


class TlsReloadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-tls-reload-")
        self.addCleanup(self.tmp.cleanup)
        self.live = os.path.join(self.tmp.name, "live")
        self.cert, self.key = self_signed(self.live)
        self.server = TlsServer(self.cert, self.key, models=[QWEN_BLOCK]).start()
        self.addCleanup(self.server.__exit__, None, None, None)

    def reload(self, expect):
        mark = len(self.server.read_log())
        self.server.proc.send_signal(signal.SIGHUP)
        return self.server.wait_log(expect, after=mark)

    def install(self, name):
        """Makes a new certificate pair elsewhere, then moves it over the live files."""
        cert, key = self_signed(os.path.join(self.tmp.name, name))
        os.replace(key, self.key)
        os.replace(cert, self.cert)
        return self.cert

    def test_reload_during_stream(self):
        old_cert = os.path.join(self.tmp.name, "old.pem")
        shutil.copy(self.cert, old_cert)
        fresh = os.path.join(self.tmp.name, "new")
        new_cert, new_key = self_signed(fresh)
        s = self.server
        s.chat(CHAT["messages"], max_tokens=2)  # the model is loaded before the clock matters
        events, started, proceed, failure = [], threading.Event(), threading.Event(), []

        def on_event(ev, t):
            events.append((ev, t))
            started.set()
            # The reader stops after the first event until the reload is done: the server's writes
            # then wait on a full socket, so the stream is surely still running at the reload,
            # however fast or slow this machine generates.
            proceed.wait(120 * SLOW)

        def run():
            try:
                chat_stream(s.port, s.ssl_context, {"messages": CHAT["messages"], "max_tokens": 1500,
                                                    "ignore_eos": True}, on_event)
            except Exception as e:  # reported below
                failure.append(e)
                started.set()

        reader = threading.Thread(target=run)
        reader.start()
        self.assertTrue(started.wait(60 * SLOW), "the stream did not start")
        os.replace(new_key, self.key)
        os.replace(new_cert, self.cert)
        self.reload(f"tls: certificate reloaded from {self.cert}")
        reloaded_at = time.monotonic()
        new_ctx = tls_client_context(self.cert)
        self.assertEqual(peer_sha256(s.port, new_ctx), der_sha256(self.cert))
        self.assertEqual(health_over(s.port, new_ctx), 200)
        with self.assertRaises(ssl.SSLCertVerificationError):
            peer_sha256(s.port, tls_client_context(old_cert))
        proceed.set()
        reader.join(300 * SLOW)
        self.assertFalse(reader.is_alive(), "the stream did not finish")
        self.assertFalse(failure, failure)
        self.assertEqual(events[-1][0], "[DONE]")
        chunks = [e for e, _ in events if e != "[DONE]"]
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "length")
        # The stream was still running when the certificate changed: events arrived after it.
        after = [t for _, t in events if t > reloaded_at]
        self.assertGreater(len(after), 10, f"only {len(after)} of {len(events)} events came after the reload")

    def test_failed_reload_keeps_the_previous_certificate(self):
        s = self.server
        second = self.install("second")
        self.reload("tls: certificate reloaded from")
        fingerprint = der_sha256(second)
        kept = os.path.join(self.tmp.name, "kept.pem")
        shutil.copy(second, kept)
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        log = self.reload(f"cannot load the certificate {self.cert}")
        self.assertIn("the previous certificate stays in use", log)
        ctx = tls_client_context(kept)
        self.assertEqual(peer_sha256(s.port, ctx), fingerprint)
        self.assertEqual(health_over(s.port, ctx), 200)
        # A key that does not match the certificate is refused too, naming the key.
        shutil.copy(kept, self.cert)
        self_signed(os.path.join(self.tmp.name, "other"))
        shutil.copy(os.path.join(self.tmp.name, "other", "key.pem"), self.key)
        self.reload(f"cannot load the private key {self.key}: ")
        self.assertEqual(peer_sha256(s.port, ctx), fingerprint)
        self.assertTrue(s.alive())


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_and_client(d, name):
    """A CA (ca.pem) and a client certificate signed by it (client.pem, client.key) in d/name."""
    os.makedirs(os.path.join(d, name))
    w = os.path.join(d, name)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={name} CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=w)
    openssl("req", *ec, "-keyout", "client.key", "-out", "client.csr", "-subj", f"/CN={name} client", cwd=w)
    with open(os.path.join(w, "ext.cnf"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.pem", "-days", "2", "-extfile", "ext.cnf", cwd=w)
    return os.path.join(w, "ca.pem"), os.path.join(w, "client.pem"), os.path.join(w, "client.key")


class MutualTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl command-line tool is not installed")
        cls.tmp = tempfile.TemporaryDirectory(prefix="hearth-mtls-")
        d = cls.tmp.name
        cls.cert, cls.key = self_signed(os.path.join(d, "server"))
        cls.ca, cls.client_cert, cls.client_key = make_ca_and_client(d, "good")
        _, cls.stranger_cert, cls.stranger_key = make_ca_and_client(d, "stranger")
        cls.server = TlsServer(cls.cert, cls.key, client_ca=cls.ca, client_cert=cls.client_cert,
                               client_key=cls.client_key, models=[QWEN_BLOCK]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.tmp.cleanup()

    def test_client_with_a_certificate_of_the_ca_is_served(self):
        status, headers, _ = self.server.request("GET", "/health")
        self.assertEqual(status, 200)
        self.assertIn("strict-transport-security", headers)
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version.name):
                ctx = tls_client_context(self.cert, self.client_cert, self.client_key)
                ctx.minimum_version = ctx.maximum_version = version
                self.assertEqual(health_over(self.server.port, ctx), 200)

    def test_client_without_a_certificate_is_refused(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version.name):
                ctx = tls_client_context(self.cert)
                ctx.minimum_version = ctx.maximum_version = version
                with self.assertRaises(TLS_SAYS_NO):
                    health_over(self.server.port, ctx)

    def test_client_with_a_certificate_of_another_ca_is_refused(self):
        ctx = tls_client_context(self.cert, self.stranger_cert, self.stranger_key)
        with self.assertRaises(TLS_SAYS_NO):
            health_over(self.server.port, ctx)


class TlsConfigTest(unittest.TestCase):
    def test_missing_certificate_file_stops_the_server_naming_it(self):
        with tempfile.TemporaryDirectory() as d:
            real_cert, key = self_signed(d)
            cert = os.path.join(d, "nope.pem")
            s = TlsServer(cert, key, cafile=real_cert, models=[QWEN_BLOCK])
            with self.assertRaises(RuntimeError) as cm:
                s.start(timeout=20)
            s.stop()
            s.tmp.cleanup()
            self.assertIn(f"cannot load the certificate {cert}", str(cm.exception))

    def test_command_line_options_serve_https(self):
        with tempfile.TemporaryDirectory() as d:
            cert, key = self_signed(d)
            s = TlsServer(cert, key, models=[QWEN_BLOCK])
            # The config's [tls] points nowhere; the command line's files win.
            s.extra_args = ["--tls-cert", cert, "--tls-key", key]
            with open(s.config_path) as f:
                text = f.read()
            with open(s.config_path, "w") as f:
                f.write(text.replace(json.dumps(cert), json.dumps(os.path.join(d, "missing.pem"))))
            with s:
                self.assertEqual(s.request("GET", "/health")[0], 200)
        r = subprocess.run([BIN, "serve", "--model", "x.gguf", "--tls-cert", "c.pem"], capture_output=True,
                           text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--tls-cert and --tls-key go together", r.stderr)

    def test_handshake_has_a_deadline(self):
        with tempfile.TemporaryDirectory() as d:
            cert, key = self_signed(d)
            with TlsServer(cert, key, models=[QWEN_BLOCK], server={"header_timeout_seconds": 2}) as s:
                start = time.monotonic()
                with socket.create_connection(("127.0.0.1", s.port), timeout=10 * SLOW) as sock:
                    sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
                    try:
                        data = sock.recv(1024)
                    except ConnectionResetError:
                        data = b""
                closed = time.monotonic() - start
                self.assertEqual(data, b"")
                self.assertGreaterEqual(closed, 1.7)
                self.assertLessEqual(closed, 6.0 * SLOW)
                self.assertEqual(s.request("GET", "/health")[0], 200)

    def test_self_signed_refuses_a_bad_host(self):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([BIN, "tls", "self-signed", "--out", d, "--host", "bad name"], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 2, r)
            self.assertIn("--host 'bad name'", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "key.pem")))


if __name__ == "__main__":
    unittest.main()
