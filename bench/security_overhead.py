#!/usr/bin/env python3
"""What auth, limits, filters and the audit log add per request (issue 24). Not a test: it reports,
never fails.

Six fresh `hearth serve` processes on 127.0.0.1 (port 0, --port-file), each with the tiny model
models/hearth-tiny-qwen2.gguf, run side by side (idle while another is measured):

  (a) none            auth.mode = none, no [limits], no [safety]: the baseline
  (b) keys            auth.mode = keys, requests carry a Bearer key (role user)
  (c) keys+limits     (b) + [limits] key_rpm = 10000000, key_tpm = 1000000000, key_concurrent = 1000,
                      ip_rpm = 10000000, in-process buckets (never refuses at these rates)
  (d) keys+redis      (c) with the buckets in a real redis-server on a unix socket (started here)
  (e) keys+limits+pii (c) + [safety] input and output cn_mobile = "mask", email = "mask"
  (f) everything      (e) + [[safety.rules]] (prompt-injection and SQL-injection heuristics, 50
                      blocked phrases, a size limit) + the audit log ([audit] on; (a)-(e) have it off)

1. Open-loop latency. Requests are sent at fixed times (t0 + i / rate) whatever the responses do,
   on keep-alive connections (a new one is opened only when every open one is busy), and latency
   is measured from the scheduled send time, so a slow response delays nothing and hides nothing
   (no coordinated omission). Two rows: GET /v1/models at --rate (default 1,000/s; no model
   work), and POST /v1/chat/completions with max_tokens 1 at --chat-rate (default 50/s). Each
   configuration gets --duration seconds per row, cut into slices of at most 2 s that are
   interleaved across the configurations in rotating order, so that the shared machine's drift
   hits them alike. The client is one Python process (--procs N for more) with raw non-blocking
   sockets and select() (microsecond timeouts); its send lag (actual minus scheduled send time)
   and CPU are reported, so one can see whether the client kept up. Also reported: the measured
   server's CPU time per request (from /proc, 10 ms ticks).
2. Streamed tokens/s with output redaction on (e) vs off (c), which differ only in [safety]: a
   streamed chat, max_tokens 512, ignore_eos, temperature 0 (the same text on both), 5 runs each,
   alternating (ABBA), tokens per second from the send to the last byte (a redactor holding text
   back cannot flatter it); the median per configuration and their ratio (target >= 0.98).
3. The Redis limiter's added latency: (d) - (c), p50 and p99, both rows.

Usage: python3 bench/security_overhead.py [--duration S] [--rate R] [--chat-rate R] [--quick]
       [--procs N] [--stream-runs N]    (after the build: build/hearth, models/hearth-tiny-qwen2.gguf)
Standard library only. Prints Markdown to stdout, progress to stderr.
"""
import argparse
import gc
import http.client
import json
import multiprocessing
import os
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("HEARTH_BIN", os.path.join(ROOT, "build", "hearth")))
MODELS = os.path.abspath(os.environ.get("HEARTH_MODELS", os.path.join(ROOT, "models")))
MODEL_ID = "hearth-tiny-qwen2"
MODEL_FILE = "hearth-tiny-qwen2.gguf"
SLICE_S = 2.0     # longest uninterrupted measurement of one configuration
WARMUP_S = 0.25   # open-loop warm-up before each slice, discarded
MAX_CONNS = 200   # client connections in all (the server allows 256 per address by default)

LIMITS = "[limits]\nkey_rpm = 10000000\nkey_tpm = 1000000000\nkey_concurrent = 1000\nip_rpm = 10000000\n"
SAFETY = ('[safety.input]\ncn_mobile = "mask"\nemail = "mask"\n'
          '[safety.output]\ncn_mobile = "mask"\nemail = "mask"\n')
RULES = ('[[safety.rules]]\nname = "size"\nkind = "size"\naction = "block"\nmax_chars = 100000\n'
         '[[safety.rules]]\nname = "injection"\nkind = "prompt_injection"\naction = "block"\n'
         '[[safety.rules]]\nname = "sqli"\nkind = "sql_injection"\naction = "flag"\n'
         '[[safety.rules]]\nname = "phrases"\nkind = "phrases"\naction = "redact"\nphrases = ['
         + ", ".join(f'"codename-{i}"' for i in range(50)) + ']\n')
CONFIGS = [  # name, auth, limits, redis, safety, rules+audit
    ("(a) none", False, False, False, False, False),
    ("(b) keys", True, False, False, False, False),
    ("(c) keys+limits", True, True, False, False, False),
    ("(d) keys+limits in redis", True, True, True, False, False),
    ("(e) keys+limits+pii", True, True, False, True, False),
    ("(f) everything", True, True, False, True, True),
]
CHAT_BODY = {"model": MODEL_ID, "messages": [{"role": "user", "content": "Hello there, how are you today?"}],
             "max_tokens": 1, "temperature": 0}
STREAM_BODY = {"model": MODEL_ID, "messages": [{"role": "user", "content": "Tell me a long story."}],
               "max_tokens": 512, "ignore_eos": True, "temperature": 0, "seed": 1, "stream": True,
               "stream_options": {"include_usage": True}}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- servers ----

def start_redis(directory):
    """A redis-server on a unix socket in directory (as tests/integration/test_limits.py)."""
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


class Hearth:
    """One fresh `hearth serve` in its own temporary directory."""

    def __init__(self, name, auth, limits, redis_sock, safety, everything):
        self.name = name
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-secbench-")
        d = self.tmp.name
        text = ('[server]\nhost = "127.0.0.1"\nport = 0\nthreads = 2\nlog_level = "warn"\n'
                f'[models]\ndir = {json.dumps(MODELS)}\nmemory_budget_mb = 4096\ndefault = "{MODEL_ID}"\n'
                f'[knowledge]\ndb = {json.dumps(d + "/knowledge.sqlite")}\n')
        if auth:
            text += f'[auth]\nmode = "keys"\ndb = {json.dumps(d + "/auth.sqlite")}\nsecret_file = {json.dumps(d + "/auth.secret")}\n'
        if limits:
            text += LIMITS
            if redis_sock:
                text += f'redis_url = "unix://{redis_sock}"\n'
        if safety:
            text += SAFETY
        if everything:
            text += RULES + f'[audit]\ndb = {json.dumps(d + "/audit.sqlite")}\n'
        else:
            text += '[audit]\nenabled = false\n'
        text += f'[[model]]\nid = "{MODEL_ID}"\nfile = "{MODEL_FILE}"\ncontext_size = 1024\nparallel = 4\n'
        self.config = os.path.join(d, "hearth.toml")
        with open(self.config, "w") as f:
            f.write(text)
        self.key = None
        if auth:  # made before the server starts; `hearth keys create` prints the key as its last line
            out = subprocess.run([BIN, "keys", "create", "--config", self.config, "--name", "bench", "--role", "user"],
                                 check=True, capture_output=True, text=True, timeout=60)
            self.key = out.stdout.strip().splitlines()[-1]
        self.port_file = os.path.join(d, "port")
        self.log = open(os.path.join(d, "server.log"), "w")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config, "--port-file", self.port_file],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None

    def headers(self):
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: hearth exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                with open(self.port_file) as f:
                    self.port = int(f.read().strip())
                if self.request("GET", "/health")[0] == 200:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: hearth did not start:\n{self.read_log()}")

    def request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            h = {"Content-Type": "application/json", **self.headers()}
            c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def read_log(self):
        try:
            with open(os.path.join(self.tmp.name, "server.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


def raw_request(server, method, path, body=None):
    """The bytes of one HTTP/1.1 keep-alive request."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    for k, v in server.headers().items():
        head += f"{k}: {v}\r\n"
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return (head + "\r\n").encode() + data


# ---- the open-loop client ----

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)")


def parse_response(buf):
    """(status, bytes used, close) once buf holds a whole response, else None."""
    h = buf.find(b"\r\n\r\n")
    if h < 0:
        return None
    head = bytes(buf[:h]).lower()
    status = int(head[9:12])
    close = b"\r\nconnection: close" in head
    start = h + 4
    m = CONTENT_LENGTH.search(head)
    if m:
        end = start + int(m.group(1))
        return (status, end, close) if len(buf) >= end else None
    if b"\r\ntransfer-encoding: chunked" in head:
        pos = start
        while True:
            e = buf.find(b"\r\n", pos)
            if e < 0:
                return None
            size = int(bytes(buf[pos:e]).split(b";")[0], 16)
            if size == 0:
                t = buf.find(b"\r\n\r\n", e)
                return (status, t + 4, close) if t >= 0 else None
            pos = e + 2 + size + 2
            if len(buf) < pos:
                return None
    return status, start, close


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def open_loop(port, request, rate, duration, t0, phase=0, stride=1, preopen=4, max_conns=MAX_CONNS):
    """Sends request at t0 + (phase + k * stride) / rate for k = 0.. while that is before
    t0 + duration. Returns per request: scheduled, sent and done times and the status."""
    sched = []
    k = 0
    while True:
        t = t0 + (phase + k * stride) / rate
        if t >= t0 + duration:
            break
        sched.append(t)
        k += 1
    n = len(sched)
    sent, done, status = [0.0] * n, [0.0] * n, [0] * n
    sock_of, buf_of, req_of = {}, {}, {}  # fd -> socket, response bytes so far, request index
    idle = []
    for _ in range(preopen):
        s = connect(port)
        sock_of[s.fileno()] = s
        buf_of[s.fileno()] = bytearray()
        idle.append(s.fileno())
    busy = set()
    waiting = deque()  # requests due while every connection was busy and no more could be opened
    errors = []

    def send(fd, i):
        req_of[fd] = i
        busy.add(fd)
        sent[i] = time.perf_counter()
        sock_of[fd].sendall(request)

    def new_conn():
        s = connect(port)
        sock_of[s.fileno()] = s
        buf_of[s.fileno()] = bytearray()
        return s.fileno()

    def drop(fd):
        busy.discard(fd)
        sock_of.pop(fd).close()
        buf_of.pop(fd)

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    gc.collect()
    gc.disable()
    give_up = t0 + duration + 60
    k = finished = 0
    try:
        while finished < n:
            now = time.perf_counter()
            while k < n and sched[k] <= now:
                if idle:
                    send(idle.pop(), k)
                elif len(sock_of) < max_conns:
                    send(new_conn(), k)
                else:
                    waiting.append(k)
                k += 1
                now = time.perf_counter()
            if now > give_up:
                errors.append(f"{n - finished} requests unanswered 60 s after the last was due")
                break
            timeout = max(0.0, sched[k] - now) if k < n else 1.0
            ready = select.select(list(busy), [], [], timeout)[0] if busy else (time.sleep(timeout) or [])
            t = time.perf_counter()
            for fd in ready:
                data = sock_of[fd].recv(65536)
                i = req_of[fd]
                if not data:  # the server closed the connection under a request
                    done[i], status[i] = t, -1
                    errors.append("connection closed before the response")
                    finished += 1
                    drop(fd)
                    if waiting:
                        send(new_conn(), waiting.popleft())
                    continue
                buf = buf_of[fd]
                buf += data
                r = parse_response(buf)
                if r is None:
                    continue
                done[i], status[i] = t, r[0]
                finished += 1
                if r[0] != 200 and len(errors) < 3:
                    body = bytes(buf[buf.find(b"\r\n\r\n") + 4:r[1]])[:200].decode(errors="replace")
                    errors.append(f"HTTP {r[0]} {body}")
                del buf[:r[1]]
                busy.discard(fd)
                if r[2]:
                    drop(fd)
                    fd = None
                if waiting:
                    send(fd if fd is not None else new_conn(), waiting.popleft())
                elif fd is not None:
                    idle.append(fd)
    finally:
        gc.enable()
        for s in sock_of.values():
            s.close()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"sched": sched, "sent": sent, "done": done, "status": status, "cpu": cpu, "errors": errors,
            "conns": max(len(sock_of), preopen)}


def _worker(args):
    return open_loop(*args)


class Client:
    """Runs open_loop in this process, or split across --procs processes (request i goes to
    process i mod procs; all share one clock, CLOCK_MONOTONIC)."""

    def __init__(self, procs):
        self.procs = procs
        self.pool = multiprocessing.get_context("fork").Pool(procs) if procs > 1 else None

    def run(self, port, request, rate, duration):
        if self.pool is None:
            return open_loop(port, request, rate, duration, time.perf_counter() + 0.02)
        t0 = time.perf_counter() + 0.1
        parts = self.pool.map(_worker, [(port, request, rate, duration, t0, p, self.procs,
                                         max(1, 4 // self.procs), MAX_CONNS // self.procs)
                                        for p in range(self.procs)])
        out = {key: [] for key in ("sched", "sent", "done", "status", "errors")}
        for p in parts:
            for key in out:
                out[key] += p[key]
        out["cpu"] = sum(p["cpu"] for p in parts)
        out["conns"] = sum(p["conns"] for p in parts)
        return out

    def close(self):
        if self.pool:
            self.pool.close()
            self.pool.join()


# ---- statistics ----

def percentile(values, q):
    """The q-quantile of sorted values, linear between the closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


class Row:
    """Everything measured for one configuration and one kind of request, over all its slices."""

    def __init__(self):
        self.latency, self.service, self.lag = [], [], []
        self.ok = self.errors = self.in_window = 0
        self.seconds = self.client_cpu = self.server_cpu = 0.0
        self.conns = 0
        self.samples = []

    def add(self, res, duration, server_cpu):
        t0 = min(res["sched"])
        for s, a, d, st in zip(res["sched"], res["sent"], res["done"], res["status"]):
            if st == 200:
                self.ok += 1
                self.latency.append(d - s)
                self.service.append(d - a)
                if d <= t0 + duration:
                    self.in_window += 1
            else:
                self.errors += 1
            if a:
                self.lag.append(a - s)
        self.seconds += duration
        self.client_cpu += res["cpu"]
        self.server_cpu += server_cpu
        self.conns = max(self.conns, res["conns"])
        self.samples += res["errors"][:3 - len(self.samples)]

    def stats(self):
        lat, lag = sorted(self.latency), sorted(self.lag)
        ms = lambda v: v * 1000
        return {"rate": self.in_window / self.seconds if self.seconds else 0.0,
                "p50": ms(percentile(lat, 0.5)), "p99": ms(percentile(lat, 0.99)),
                "p999": ms(percentile(lat, 0.999)),
                "svc50": ms(percentile(sorted(self.service), 0.5)),
                "lag50": ms(percentile(lag, 0.5)), "lag99": ms(percentile(lag, 0.99)),
                "lagmax": ms(lag[-1]) if lag else float("nan"),
                "client_cpu": 100 * self.client_cpu / self.seconds if self.seconds else 0.0,
                "server_us": 1e6 * self.server_cpu / (self.ok + self.errors) if self.ok + self.errors else 0.0}


# ---- streaming ----

def stream_once(server):
    cpu0 = server.cpu_seconds()
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    t_send = time.perf_counter()
    c.request("POST", "/v1/chat/completions", body=json.dumps(STREAM_BODY),
              headers={"Content-Type": "application/json", **server.headers()})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"{server.name}: stream HTTP {r.status}: {r.read()[:300]!r}")
    t_first = t_last = None
    chunks = 0
    usage = None
    buf = b""
    while True:
        data = r.read1(65536)
        if not data:
            break
        buf += data
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            for line in ev.split(b"\n"):
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                obj = json.loads(line[6:])
                if obj.get("usage"):
                    usage = obj["usage"]
                for ch in obj.get("choices", []):
                    if ch.get("delta", {}).get("content"):
                        chunks += 1
                        t_last = time.perf_counter()
                        if t_first is None:
                            t_first = t_last
    t_end = time.perf_counter()
    c.close()
    tokens = usage["completion_tokens"] if usage else chunks
    decode = (tokens - 1) / (t_last - t_first) if t_first and t_last > t_first else float("nan")
    return {"tokens": tokens, "chunks": chunks, "tps": tokens / (t_end - t_send), "decode_tps": decode,
            "cpu": server.cpu_seconds() - cpu0}


# ---- main ----

def fmt(v, digits=3, sign=False):
    if v != v:  # nan
        return "n/a"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per configuration and row (default 10)")
    ap.add_argument("--rate", type=float, default=1000.0, help="GET /v1/models per second (default 1000)")
    ap.add_argument("--chat-rate", type=float, default=50.0, help="chat completions per second (default 50)")
    ap.add_argument("--quick", action="store_true", help="2 s per configuration and row")
    ap.add_argument("--procs", type=int, default=1, help="client processes (default 1)")
    ap.add_argument("--stream-runs", type=int, default=5, help="streamed runs per configuration (default 5)")
    args = ap.parse_args()
    if args.quick:
        args.duration = 2.0
    started = time.time()
    command = "python3 " + shlex.join(sys.argv)
    for path in (BIN, os.path.join(MODELS, MODEL_FILE)):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing (build Hearth and generate the test models first)")

    have_redis = shutil.which("redis-server") is not None
    redis_proc = redis_tmp = None
    servers = []
    client = None
    try:
        if have_redis:
            redis_tmp = tempfile.TemporaryDirectory(prefix="hearth-secbench-redis-")
            redis_proc, redis_sock = start_redis(redis_tmp.name)
        else:
            log("redis-server is not installed: configuration (d) is skipped")
        for name, auth, limits, redis, safety, everything in CONFIGS:
            if redis and not have_redis:
                continue
            servers.append(Hearth(name, auth, limits, redis_sock if redis else None, safety, everything))
        for s in servers:
            s.wait_ready()
            status, body = s.request("POST", "/v1/chat/completions", CHAT_BODY)  # loads the model
            if status != 200:
                raise RuntimeError(f"{s.name}: warm-up chat got HTTP {status}: {body[:300]!r}")
        phases = {"startup": time.time() - started}
        log(f"{len(servers)} servers up in {phases['startup']:.1f} s")
        t_phase = time.time()

        client = Client(args.procs)
        rows = [("GET /v1/models", args.rate, None), ("POST /v1/chat/completions, max_tokens 1", args.chat_rate, CHAT_BODY)]
        results = {(r[0], s.name): Row() for r in rows for s in servers}
        slices = max(1, round(args.duration / SLICE_S))
        slice_s = args.duration / slices
        for label, rate, body in rows:
            method, path = label.split(",")[0].split(" ")
            for rnd in range(slices):
                order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
                for s in order:
                    req = raw_request(s, method, path, body)
                    client.run(s.port, req, rate, min(WARMUP_S, slice_s))  # warm-up, discarded
                    cpu0 = s.cpu_seconds()
                    res = client.run(s.port, req, rate, slice_s)
                    results[(label, s.name)].add(res, slice_s, s.cpu_seconds() - cpu0)
                log(f"{label}: round {rnd + 1}/{slices} done ({time.time() - started:.0f} s)")
        phases["latency rows"] = time.time() - t_phase
        t_phase = time.time()

        # Streaming, redaction off (c) vs on (e), ABBA.
        by_name = {s.name: s for s in servers}
        off, on = by_name["(c) keys+limits"], by_name["(e) keys+limits+pii"]
        for s in (off, on):
            stream_once(s)  # warm-up
        runs = {off.name: [], on.name: []}
        for i in range(args.stream_runs):
            for s in ((off, on) if i % 2 == 0 else (on, off)):
                runs[s.name].append(stream_once(s))
        phases["streaming"] = time.time() - t_phase
        log(f"streaming done ({time.time() - started:.0f} s)")
    finally:
        if client:
            client.close()
        for s in servers:
            s.stop()
        if redis_proc:
            redis_proc.kill()
            redis_proc.wait()
        if redis_tmp:
            redis_tmp.cleanup()

    # ---- report ----
    cpu = "unknown"
    try:
        m = re.search(r"^Model name:\s*(.+)$", subprocess.run(["lscpu"], capture_output=True, text=True).stdout, re.M)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    print("## Security overhead (issue 24)\n")
    print(f"- Command: `{command}`")
    print(f"- Host: `lscpu` Model name **{cpu}**, {os.cpu_count()} CPUs; load average at the end "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- Hearth at {commit or '?'}, model {MODEL_FILE}; {slices} slice(s) of {slice_s:.1f} s per "
          f"configuration and row, interleaved; client: {args.procs} process(es), open loop")
    if have_redis:
        print(f"- Redis: {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.strip()}")
    print(f"- Total time: {time.time() - started:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
          + ")\n")
    print("### 1. Latency per request, open loop, from the scheduled send time\n")
    print("Added = this configuration minus (a). Lag: actual minus scheduled send time (the client's own delay, "
          "included in the latency). Server CPU: the measured server's CPU time per request.\n")
    notes = []
    for label, rate, _ in rows:
        print(f"#### {label} at {rate:g}/s\n")
        print("| configuration | ok | errors | achieved req/s | p50 ms | p99 ms | p99.9 ms | added p50 ms | "
              "added p99 ms | lag p50 / p99 / max ms | client CPU % | server CPU us/req |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        base = results[(label, servers[0].name)].stats()
        for s in servers:
            row = results[(label, s.name)]
            st = row.stats()
            print(f"| {s.name} | {row.ok} | {row.errors} | {st['rate']:.1f} | {fmt(st['p50'])} | {fmt(st['p99'])} | "
                  f"{fmt(st['p999'])} | {fmt(st['p50'] - base['p50'], sign=True)} | "
                  f"{fmt(st['p99'] - base['p99'], sign=True)} | {fmt(st['lag50'])} / {fmt(st['lag99'])} / "
                  f"{fmt(st['lagmax'])} | {st['client_cpu']:.0f} | {st['server_us']:.0f} |")
            if row.samples:
                notes.append(f"{label}, {s.name}: " + "; ".join(row.samples))
            if st["rate"] < 0.95 * rate:
                notes.append(f"{label}, {s.name}: achieved {st['rate']:.1f}/s, under 95 % of the offered {rate:g}/s")
            if st["lag99"] > 1.0:
                why = ("the client used only {:.0f} % of a CPU, so the lag is the machine not giving it one in time "
                       "rather than Python's speed".format(st["client_cpu"]) if st["client_cpu"] < 50 else
                       "the client used {:.0f} % of a CPU: Python is near its limit (try --procs 2)".format(st["client_cpu"]))
                notes.append(f"{label}, {s.name}: the client sent late, send lag p99 {st['lag99']:.2f} ms ({why}); "
                             f"the latencies include that lag")
        print()
    if notes:
        print("Notes:\n")
        for n in notes:
            print(f"- {n}")
        print()

    print("### 2. Streamed tokens/s, output redaction on (e) vs off (c)\n")
    print(f"Streamed chat, max_tokens 512, ignore_eos, temperature 0; {args.stream_runs} runs each, alternating "
          f"(ABBA). tok/s = completion tokens / (last byte - send).\n")
    print("| configuration | tok/s per run | median tok/s | median decode tok/s (first to last chunk) | "
          "median server CPU s per run | content chunks |")
    print("|---|---|---|---|---|---|")
    med = {}
    for s in (off, on):
        rs = runs[s.name]
        med[s.name] = statistics.median(r["tps"] for r in rs)
        print(f"| {s.name} | {', '.join(format(r['tps'], '.0f') for r in rs)} | {med[s.name]:.1f} | "
              f"{statistics.median(r['decode_tps'] for r in rs):.1f} | {statistics.median(r['cpu'] for r in rs):.2f} | "
              f"{', '.join(str(r['chunks']) for r in rs)} |")
    ratio = med[on.name] / med[off.name]
    pairs = sorted(a["tps"] / b["tps"] for a, b in zip(runs[on.name], runs[off.name]))
    print(f"\nRatio on / off (medians): **{ratio:.3f}** (target >= 0.98: {'met' if ratio >= 0.98 else 'NOT met'}); "
          f"per pair: median {statistics.median(pairs):.3f}, range {pairs[0]:.3f}-{pairs[-1]:.3f}. "
          f"Tokens per run: {sorted({r['tokens'] for r in runs[off.name] + runs[on.name]})}.\n")

    print("### 3. The Redis limiter's added latency, (d) - (c)\n")
    if not have_redis:
        print("redis-server is not installed: not measured.")
    else:
        print("| request | added p50 ms | added p99 ms |")
        print("|---|---|---|")
        for label, rate, _ in rows:
            c = results[(label, "(c) keys+limits")].stats()
            d = results[(label, "(d) keys+limits in redis")].stats()
            print(f"| {label} at {rate:g}/s | {fmt(d['p50'] - c['p50'], sign=True)} | {fmt(d['p99'] - c['p99'], sign=True)} |")
    print()


if __name__ == "__main__":
    main()
