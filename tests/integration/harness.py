"""Test harness: runs the real `hearth` binary on an ephemeral loopback port with the generated
test models, and talks to it with Python's standard library only (http.client, sockets).

Environment:
  HEARTH_BIN        the binary (default: build/hearth)
  HEARTH_MODELS     the generated test models (default: models/)
  HEARTH_SANITIZED  set when the binary is an ASan/UBSan build: timeouts grow, loads shrink
"""
import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("HEARTH_BIN", os.path.join(ROOT, "build", "hearth")))
MODELS = os.path.abspath(os.environ.get("HEARTH_MODELS", os.path.join(ROOT, "models")))
SANITIZED = bool(os.environ.get("HEARTH_SANITIZED"))
SLOW = 4 if SANITIZED else 1  # timeout multiplier

QWEN = "hearth-tiny-qwen2"
LLAMA3 = "hearth-tiny-llama3"
R1 = "hearth-tiny-deepseek-r1"
EMBED = "hearth-tiny-bert-embed"


def model_block(model_id, file, **opts):
    lines = ["[[model]]", f'id = "{model_id}"', f'file = "{file}"']
    for k, v in opts.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            lines.append(f"{k} = {v}")
        elif isinstance(v, list):
            lines.append(f"{k} = {json.dumps(v)}")
        elif isinstance(v, dict):  # inline table
            inner = ", ".join(f"{ik} = {json.dumps(iv)}" for ik, iv in v.items())
            lines.append(f"{k} = {{ {inner} }}")
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def default_models(parallel=4, context_size=2048, max_queue=64):
    return [
        model_block(QWEN, "hearth-tiny-qwen2.gguf", aliases=["qwen2"], context_size=context_size,
                    parallel=parallel, max_queue=max_queue),
        model_block(LLAMA3, "hearth-tiny-llama3.gguf", context_size=context_size, parallel=parallel),
        model_block(R1, "hearth-tiny-deepseek-r1.gguf", context_size=context_size, parallel=parallel),
        model_block(EMBED, "hearth-tiny-bert-embed.gguf", context_size=512, parallel=4),
    ]


class Server:
    """A running `hearth serve`. Use as a context manager or call start()/stop()."""

    def __init__(self, models=None, server=None, models_section=None, extra_args=None, knowledge=None,
                 knowledge_aliases=None, extra_toml="", api_key=None):
        """extra_toml: more tables ([auth], [outbound], ...). api_key: sent as a Bearer token with
        every request this object makes (tests of auth set it per call instead)."""
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-it-")
        self.port_file = os.path.join(self.tmp.name, "port")
        self.log_path = os.path.join(self.tmp.name, "server.log")
        srv = {"host": "127.0.0.1", "port": 0, "threads": 2, "log_level": "info",
               "shutdown_grace_seconds": 30}
        srv.update(server or {})
        msec = {"dir": MODELS, "memory_budget_mb": 4096, "load_wait_seconds": 120 * SLOW, "default": QWEN}
        msec.update(models_section or {})
        text = "[server]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in srv.items())
        text += "[models]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in msec.items())
        # Every server gets its own knowledge database in its temporary directory.
        ksec = {"db": os.path.join(self.tmp.name, "knowledge.sqlite")}
        ksec.update(knowledge or {})
        text += "[knowledge]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ksec.items())
        for alias in knowledge_aliases or []:
            text += "[[knowledge.alias]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in alias.items())
        text += extra_toml + "\n"
        # And its own audit log, unless the test configures one.
        self.audit_db = os.path.join(self.tmp.name, "audit.sqlite")
        if "[audit]" not in extra_toml:
            text += f"[audit]\ndb = {json.dumps(self.audit_db)}\n"
        # And its own conversations (the web app's chat history).
        if "[ui]" not in extra_toml:
            text += f"[ui]\nconversations_db = {json.dumps(os.path.join(self.tmp.name, 'conversations.sqlite'))}\n"
        text += "\n".join(models if models is not None else default_models())
        self.config_path = os.path.join(self.tmp.name, "hearth.toml")
        with open(self.config_path, "w") as f:
            f.write(text)
        self.extra_args = extra_args or []
        self.api_key = api_key
        self.proc = None
        self.port = None

    def start(self, timeout=30):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", self.config_path, "--port-file", self.port_file] + self.extra_args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hearth exited with {self.proc.returncode}:\n{self.read_log()}")
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    try:
                        if self.request("GET", "/health")[0] == 200:
                            return self
                    except OSError:
                        pass
            time.sleep(0.05)
        raise RuntimeError("hearth did not start:\n" + self.read_log())

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        self.tmp.cleanup()
        return False

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- HTTP ----

    def conn(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * SLOW)

    def request(self, method, path, body=None, headers=None, timeout=120):
        """Returns (status, headers dict (lower-case), body bytes)."""
        c = self.conn(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h = {"Content-Type": "application/json"}
            if self.api_key:
                h["Authorization"] = f"Bearer {self.api_key}"
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def post(self, path, body, **kw):
        """Returns (status, parsed JSON body)."""
        status, _, data = self.request("POST", path, body, **kw)
        return status, json.loads(data) if data else None

    def get_json(self, path):
        status, _, data = self.request("GET", path)
        return status, json.loads(data)

    def chat(self, messages, **params):
        body = {"messages": messages, **params}
        status, out = self.post("/v1/chat/completions", body)
        if status != 200:
            raise AssertionError(f"chat failed {status}: {out}")
        return out

    def stream(self, path, body, timeout=120):
        """POSTs with stream=true and returns the list of parsed SSE data payloads (the final
        "[DONE]" is kept as the string "[DONE]")."""
        body = dict(body, stream=True)
        c = self.conn(timeout)
        try:
            h = {"Content-Type": "application/json"}
            if self.api_key:
                h["Authorization"] = f"Bearer {self.api_key}"
            c.request("POST", path, body=json.dumps(body), headers=h)
            r = c.getresponse()
            if r.status != 200:
                raise AssertionError(f"stream failed {r.status}: {r.read()}")
            assert r.getheader("Content-Type", "").startswith("text/event-stream")
            return list(sse_events(r))
        finally:
            c.close()

    def metrics(self):
        """Parses /metrics into {name{labels}: value}."""
        status, _, data = self.request("GET", "/metrics")
        assert status == 200
        out = {}
        for line in data.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
        return out

    def metric(self, name, model=None):
        key = f'{name}{{model="{model}"}}' if model else name
        return self.metrics().get(key, 0.0)


def sse_events(response):
    """Yields parsed SSE data payloads from an http.client response."""
    buf = b""
    while True:
        chunk = response.read1(65536) if hasattr(response, "read1") else response.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            data = b"\n".join(l[6:] for l in event.split(b"\n") if l.startswith(b"data: "))
            if not data:
                continue
            if data == b"[DONE]":
                yield "[DONE]"
            else:
                yield json.loads(data)


# ---- WebSocket (RFC 6455) client, minimal: text frames, masking, close ----

class WebSocket:
    def __init__(self, port, path, timeout=60, headers=None, ssl_context=None):
        """ssl_context: speak wss (the socket is wrapped with it)."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
        self.sock.sendall(req.encode())
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            resp += chunk
        head, self.buf = resp.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])
        if self.status != 101:
            self.sock.close()
            raise ConnectionError(f"handshake failed: {head!r}")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert accept in head, head

    def send_text(self, text):
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """Returns the next text message as str, or None when the server closes."""
        message = b""
        while True:
            b0, b1 = self._read_exact(2)
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8))[0]
            payload = self._read_exact(n)
            if opcode == 0x8:
                return None
            if opcode == 0x9:  # ping: answer with pong
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                continue
            if opcode in (0x1, 0x0):
                message += payload
                if b0 & 0x80:
                    return message.decode()

    def recv_json(self):
        m = self.recv()
        return None if m is None else json.loads(m)

    def close(self):
        try:
            self.sock.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


def malformed_table():
    with open(os.path.join(ROOT, "tests", "data", "malformed_requests.json")) as f:
        return json.load(f)


# ---- TLS (issue 24): a Server that speaks https, certificates for it ----

def self_signed(out_dir, hosts=()):
    """Runs `hearth tls self-signed --out out_dir`; returns (cert.pem, key.pem) paths."""
    args = [BIN, "tls", "self-signed", "--out", out_dir]
    for h in hosts:
        args += ["--host", h]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return os.path.join(out_dir, "cert.pem"), os.path.join(out_dir, "key.pem")


def tls_client_context(cafile, certfile=None, keyfile=None):
    """A client context that trusts `cafile` only (and presents a client certificate if given)."""
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


class TlsServer(Server):
    """A Server with [tls]: its port speaks only https/wss. Requests made through this object verify
    the server against `cafile` (default: the certificate itself) and present client_cert if given
    (for client_ca, mTLS). Other arguments as Server's."""

    def __init__(self, cert, key, client_ca=None, cafile=None, client_cert=None, client_key=None, tls_toml="",
                 **kw):
        tls = f"[tls]\ncert_file = {json.dumps(cert)}\nkey_file = {json.dumps(key)}\n"
        if client_ca:
            tls += f"client_ca_file = {json.dumps(client_ca)}\n"
        kw["extra_toml"] = kw.get("extra_toml", "") + "\n" + tls + tls_toml
        super().__init__(**kw)
        self.ssl_context = tls_client_context(cafile or cert, client_cert, client_key)

    def conn(self, timeout=120):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout * SLOW, context=self.ssl_context)

    def wait_log(self, text, timeout=10, after=0):
        """Waits until the log holds `text` past character `after`; returns the log. Fails on timeout."""
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            log = self.read_log()
            if text in log[after:]:
                return log
            time.sleep(0.05)
        raise AssertionError(f"the log never said {text!r}:\n{self.read_log()[after:]}")
