#!/usr/bin/env python3
"""Load generator for any OpenAI-compatible server (Hearth, llama-server): concurrent streaming
/v1/completions requests, measuring time to first token, per-stream and aggregate decode
throughput. Standard library only. Prints one JSON object per measurement.

  serving_bench.py --url http://127.0.0.1:8080 --name hearth concurrency --levels 1 4 8 16
  serving_bench.py --url ... --name ... prefix --prefix-tokens 2000
"""
import argparse
import os
import http.client
import json
import statistics
import threading
import time
import urllib.parse

WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly hex jolly "
         "zebras near forty big quaint vexed jumps of many small birds").split()


def text_of(n_words, seed):
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n_words))


def stream_completion(url, body, timeout=600):
    """Returns dict(t_start, t_first, t_end, tokens, events)."""
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    t_start = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:300]}")
    t_first = None
    events = 0
    usage = None
    buf = b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            for line in ev.split(b"\n"):
                if not line.startswith(b"data: "):
                    continue
                data = line[6:]
                if data == b"[DONE]":
                    continue
                obj = json.loads(data)
                if obj.get("usage"):
                    usage = obj["usage"]
                for ch in obj.get("choices", []):
                    if ch.get("text"):
                        events += 1
                        if t_first is None:
                            t_first = time.perf_counter()
    t_end = time.perf_counter()
    c.close()
    tokens = usage["completion_tokens"] if usage and "completion_tokens" in usage else events
    return {"t_start": t_start, "t_first": t_first or t_end, "t_end": t_end, "tokens": tokens, "events": events}


def request_body(args, prompt, max_tokens):
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    if args.model:
        body["model"] = args.model
    return body


SALT = f"{os.getpid()}-{int(time.time())}"


def run_level(args, n, rounds):
    results = []
    wall = []
    for r in range(rounds):
        out = [None] * n
        barrier = threading.Barrier(n)

        def worker(i):
            # Unique per process, level, round and stream: no prompt is served from a cache.
            prompt = f"{SALT} level {n} round {r} stream {i}: " + text_of(args.prompt_words, n * 1000 + r * 100 + i)
            barrier.wait()
            out[i] = stream_completion(args.url, request_body(args, prompt, args.max_tokens))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t0 = min(o["t_start"] for o in out)
        t1 = max(o["t_end"] for o in out)
        wall.append((t1 - t0, sum(o["tokens"] for o in out)))
        results += out
    ttft = sorted((o["t_first"] - o["t_start"]) * 1000 for o in results)
    p = lambda q: ttft[min(len(ttft) - 1, int(round(q * (len(ttft) - 1))))]
    per_stream = [(o["tokens"] - 1) / (o["t_end"] - o["t_first"]) for o in results if o["tokens"] > 1]
    return {
        "server": args.name, "test": "concurrency", "streams": n, "rounds": rounds,
        "aggregate_tok_s": sum(tok for _, tok in wall) / sum(w for w, _ in wall),
        "ttft_p50_ms": p(0.50), "ttft_p99_ms": p(0.99),
        "per_stream_tok_s_median": statistics.median(per_stream) if per_stream else 0,
        "tokens": sum(o["tokens"] for o in results),
    }


def cmd_concurrency(args):
    # Warm-up: load the model, fault in the weights.
    stream_completion(args.url, request_body(args, "warm up " + text_of(8, 999), 8))
    for n in args.levels:
        print(json.dumps(run_level(args, n, args.rounds)), flush=True)


def cmd_prefix(args):
    shared = "Background document. " + text_of(args.prefix_tokens, 4242)  # ~1 token per word
    stream_completion(args.url, request_body(args, "warm up", 4))
    out = []
    for trial in range(args.trials):
        base = f"[{SALT} {trial}] " + shared
        cold = stream_completion(args.url, request_body(args, base + f" Question A{trial}: what is it?", 8))
        warm = stream_completion(args.url, request_body(args, base + f" Question B{trial}: why is it so?", 8))
        out.append(((cold["t_first"] - cold["t_start"]) * 1000, (warm["t_first"] - warm["t_start"]) * 1000))
    cold_ms = statistics.median(c for c, _ in out)
    warm_ms = statistics.median(w for _, w in out)
    print(json.dumps({"server": args.name, "test": "prefix", "prefix_words": args.prefix_tokens,
                      "cold_ttft_ms": cold_ms, "warm_ttft_ms": warm_ms, "speedup": cold_ms / warm_ms,
                      "trials": args.trials}), flush=True)


def cmd_single(args):
    stream_completion(args.url, request_body(args, "warm up", 8))
    rates = []
    for t in range(args.trials):
        o = stream_completion(args.url, request_body(args, "Tell me " + text_of(6, t), args.max_tokens))
        rates.append((o["tokens"] - 1) / (o["t_end"] - o["t_first"]))
    print(json.dumps({"server": args.name, "test": "single", "tokens": args.max_tokens,
                      "decode_tok_s_median": statistics.median(rates), "trials": args.trials}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--model", default="")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("concurrency")
    c.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 16])
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--max-tokens", type=int, default=64)
    c.add_argument("--prompt-words", type=int, default=32)
    p = sub.add_parser("prefix")
    p.add_argument("--prefix-tokens", type=int, default=2000)
    p.add_argument("--trials", type=int, default=3)
    s = sub.add_parser("single")
    s.add_argument("--max-tokens", type=int, default=128)
    s.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    args.max_tokens = getattr(args, "max_tokens", 64)
    args.prompt_words = getattr(args, "prompt_words", 32)
    {"concurrency": cmd_concurrency, "prefix": cmd_prefix, "single": cmd_single}[args.cmd](args)


if __name__ == "__main__":
    main()
