#!/usr/bin/env python3
"""Load generator for OpenAI-compatible servers (Hearth, llama-server): concurrent streaming
/v1/completions requests, measuring time to first token, per-stream and aggregate decode
throughput. Several servers can be measured in one run: their rounds are interleaved, so that
drift in the machine's speed (shared cloud cores) affects all of them alike. Standard library
only; prints one JSON object per server and measurement.

  serving_bench.py --target hearth=http://127.0.0.1:8080 --target llama-server=http://... concurrency
"""
import argparse
import http.client
import json
import os
import statistics
import threading
import time
import urllib.parse
import zlib

WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly hex jolly "
         "zebras near forty big quaint vexed jumps of many small birds").split()
SALT = f"{os.getpid()}-{int(time.time())}"


def text_of(n_words, seed):
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n_words))


def stream_completion(url, body, timeout=600):
    """Returns dict(t_start, t_first, t_end, tokens)."""
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
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                obj = json.loads(line[6:])
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
    return {"t_start": t_start, "t_first": t_first or t_end, "t_end": t_end, "tokens": tokens}


def percentile(values, q):
    """The q-quantile of sorted values, interpolating linearly between the closest ranks (numpy's
    default; the median of an even count is the mean of the middle two)."""
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def body_for(prompt, max_tokens):
    return {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True, "ignore_eos": True,
            "stream_options": {"include_usage": True}}


def one_round(url, n, tag, args, prompt_of=None):
    """n concurrent streams released together; returns their results. prompt_of(i): stream i's
    prompt (by default one unique per run, level, round and stream)."""
    out = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        if prompt_of:
            prompt = prompt_of(i)
        else:
            # Unique per run, level, round and stream, so no prompt is served from a cache; the same
            # for every server (each has its own cache), so all compute prompts of the same lengths.
            prompt = f"{SALT} {tag} stream {i}: " + text_of(args.prompt_words, zlib.crc32(f"{tag} {i}".encode()) % 1000)
        barrier.wait()
        out[i] = stream_completion(url, body_for(prompt, args.max_tokens))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def cmd_concurrency(args):
    for name, url in args.target:
        stream_completion(url, body_for(f"{SALT} warm up " + text_of(8, 999), 8))
    for n in args.levels:
        results = {name: [] for name, _ in args.target}
        walls = {name: [] for name, _ in args.target}
        # Enough first tokens at low levels: a p99 needs many, and at 1 stream, where both servers
        # run the same kernels, it is decided by the machine's slowest moments.
        rounds = max(args.rounds, -(-args.min_samples // n), args.samples_1 if n == 1 else 0)
        for r in range(rounds):
            for name, url in args.target:  # interleaved
                out = one_round(url, n, f"level {n} round {r}", args)
                walls[name].append((max(o["t_end"] for o in out) - min(o["t_start"] for o in out),
                                    sum(o["tokens"] for o in out)))
                results[name] += out
        for name, _ in args.target:
            res = results[name]
            ttft = sorted((o["t_first"] - o["t_start"]) * 1000 for o in res)
            per_stream = [(o["tokens"] - 1) / (o["t_end"] - o["t_first"]) for o in res if o["tokens"] > 1]
            print(json.dumps({
                "server": name, "test": "concurrency", "streams": n, "rounds": rounds,
                "aggregate_tok_s": sum(t for _, t in walls[name]) / sum(w for w, _ in walls[name]),
                "ttft_p50_ms": percentile(ttft, 0.50), "ttft_p99_ms": percentile(ttft, 0.99),
                "ttft_mean_ms": statistics.fmean(ttft), "ttft_ms": [round(t, 1) for t in ttft],
                "per_stream_tok_s_median": statistics.median(per_stream) if per_stream else 0,
                "tokens": sum(o["tokens"] for o in res)}), flush=True)


def cmd_ttft_pairs(args):
    """Time to first token in pairs: pair i sends one burst of `streams` concurrent requests (prompts
    new to both servers) to each server, one after the other, alternating which goes first
    (ABBA...), so that the machine's slow moments, which last seconds, fall on both bursts of a
    pair alike. Prints each server's times in pair order (a list per pair when streams > 1), for
    report.py's paired intervals, which resample whole pairs."""
    for name, url in args.target:
        stream_completion(url, body_for(f"{SALT} warm up " + text_of(8, 999), 8))
    times = {name: [] for name, _ in args.target}
    steal = {name: [] for name, _ in args.target}
    n = args.streams
    for i in range(args.pairs):
        # Stream 0's prompt is the one the 1-stream pairs have always used.
        prompts = [f"{SALT} pair {i} stream {k}: " + text_of(args.prompt_words, zlib.crc32(
            (f"pair {i}" if n == 1 else f"pair {i} burst {k}").encode()) % 1000) for k in range(n)]
        order = args.target if i % 2 == 0 else list(reversed(args.target))
        for name, url in order:
            s0 = steal_ms()
            out = one_round(url, n, None, args, lambda k: prompts[k])
            t = [round((o["t_first"] - o["t_start"]) * 1000, 2) for o in out]
            times[name].append(t[0] if n == 1 else t)
            steal[name].append(steal_ms() - s0)
    for name, _ in args.target:
        t = sorted(v for p in times[name] for v in (p if isinstance(p, list) else [p]))
        print(json.dumps({"server": name, "test": "ttft_pairs", "streams": n, "pairs": args.pairs,
                          "ttft_p50_ms": percentile(t, 0.50), "ttft_p99_ms": percentile(t, 0.99),
                          "ttft_mean_ms": statistics.fmean(t), "ttft_ms_in_order": times[name],
                          "steal_ms_in_order": steal[name]}), flush=True)


def steal_ms():
    """CPU time the hypervisor took from this VM so far, all vCPUs together (/proc/stat; 0 where
    there is none), to tell the machine's slow moments from the servers'."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) * 1000 // os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0


def cmd_shared_burst(args):
    """Bursts whose prompts share a long beginning that no cache holds yet (one application's system
    prompt, new for every round), each with its own question."""
    for name, url in args.target:
        stream_completion(url, body_for(f"{SALT} warm up " + text_of(8, 999), 8))
    for n in args.levels:
        ttfts = {name: [] for name, _ in args.target}
        for r in range(args.rounds):
            system = f"[{SALT} shared {n} {r}] Instructions. " + text_of(args.shared_words, 77 + r)
            for name, url in args.target:
                out = one_round(url, n, None, args, lambda i: f"{system}\nQuestion {i}: " +
                                text_of(args.question_words, 500 + i) + "?\nAnswer:")
                ttfts[name] += [(o["t_first"] - o["t_start"]) * 1000 for o in out]
        for name, _ in args.target:
            ttft = sorted(ttfts[name])
            print(json.dumps({"server": name, "test": "shared_burst", "streams": n, "rounds": args.rounds,
                              "shared_words": args.shared_words, "ttft_p50_ms": percentile(ttft, 0.50),
                              "ttft_p99_ms": percentile(ttft, 0.99), "ttft_ms": [round(t, 1) for t in ttft]}),
                  flush=True)


def cmd_prefix(args):
    shared = "Background document. " + text_of(args.prefix_words, 4242)  # about one token per word
    out = {name: [] for name, _ in args.target}
    for trial in range(args.trials):
        for name, url in args.target:
            base = f"[{SALT} {trial}] " + shared
            cold = stream_completion(url, body_for(base + " Question A: what is it?", 8))
            warm = stream_completion(url, body_for(base + " Question B: why is it so?", 8))
            out[name].append(((cold["t_first"] - cold["t_start"]) * 1000, (warm["t_first"] - warm["t_start"]) * 1000))
    for name, _ in args.target:
        cold = statistics.median(c for c, _ in out[name])
        warm = statistics.median(w for _, w in out[name])
        print(json.dumps({"server": name, "test": "prefix", "prefix_words": args.prefix_words,
                          "cold_ttft_ms": cold, "warm_ttft_ms": warm, "speedup": cold / warm,
                          "trials": args.trials}), flush=True)


def cmd_single(args):
    rates = {name: [] for name, _ in args.target}
    for name, url in args.target:
        stream_completion(url, body_for(f"{SALT} warm up", 8))
    for t in range(args.trials):
        for name, url in args.target:
            o = stream_completion(url, body_for(f"{SALT} {t} Tell me " + text_of(6, t), args.max_tokens))
            rates[name].append((o["tokens"] - 1) / (o["t_end"] - o["t_first"]))
    for name, _ in args.target:
        row = {"server": name, "test": "single", "tokens": args.max_tokens,
               "decode_tok_s_median": statistics.median(rates[name]), "trials": args.trials}
        if args.pair is not None:
            row["pair"] = args.pair
        print(json.dumps(row), flush=True)


def target(s):
    name, _, url = s.partition("=")
    if not url:
        raise argparse.ArgumentTypeError("--target NAME=URL")
    return name, url


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=target, action="append", required=True, help="NAME=URL (repeatable)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("concurrency")
    c.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 16])
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--min-samples", type=int, default=20, help="more rounds where streams x rounds is below this")
    c.add_argument("--samples-1", type=int, default=0, help="at least this many requests at 1 stream")
    c.add_argument("--max-tokens", type=int, default=64)
    c.add_argument("--prompt-words", type=int, default=32)
    b = sub.add_parser("shared-burst")
    b.add_argument("--levels", type=int, nargs="+", default=[4, 8])
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--shared-words", type=int, default=200)
    b.add_argument("--question-words", type=int, default=12)
    b.add_argument("--max-tokens", type=int, default=16)
    p = sub.add_parser("prefix")
    p.add_argument("--prefix-words", type=int, default=2000)
    p.add_argument("--trials", type=int, default=3)
    t = sub.add_parser("ttft-pairs")
    t.add_argument("--streams", type=int, default=1, help="concurrent requests in each server's burst")
    t.add_argument("--pairs", type=int, default=200)
    t.add_argument("--max-tokens", type=int, default=4)
    t.add_argument("--prompt-words", type=int, default=32)
    s = sub.add_parser("single")
    s.add_argument("--max-tokens", type=int, default=128)
    s.add_argument("--trials", type=int, default=5)
    s.add_argument("--pair", type=int, help="recorded as 'pair', to pair this with a llama-bench run")
    args = ap.parse_args()
    {"concurrency": cmd_concurrency, "prefix": cmd_prefix, "single": cmd_single, "ttft-pairs": cmd_ttft_pairs,
     "shared-burst": cmd_shared_burst}[args.cmd](args)


if __name__ == "__main__":
    main()
