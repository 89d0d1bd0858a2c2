#!/usr/bin/env python3
"""Prompt length vs attention mode, side by side with llama-server (not a test).

Starts four servers on the same model file, threads and slots: Hearth with its defaults (flash
attention auto = on, llama.cpp's fast kernels), Hearth without flash attention (--flash-attn off),
Hearth with batch-invariant kernels (--batch-invariant: ggml's reference kernels, weights not
repacked), and llama-server with its defaults (flash attention auto = on, fast kernels).
For each round and prompt length, one streamed completion per server, interleaved: time to first
token (prefill of a prompt no cache holds) and decode tokens/s over 64 tokens. Prints a Markdown
table of medians and writes every sample to <out>/prefill_modes.jsonl.

--extra-hearth BIN adds a fifth server: another Hearth binary (an older build, say) with
--batch-invariant, for before/after comparisons of that mode.

Usage: python3 bench/prefill_modes.py [--model FILE] [--rounds N] [--out DIR] [--extra-hearth BIN]
(after scripts/setup.sh)
"""
import argparse, collections, json, os, socket, statistics, subprocess, sys, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = [30, 100, 200, 330]  # about 240, 900, 1,800 and 3,000 tokens


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def stream(port, model, prompt, n):
    body = {"model": model, "prompt": prompt, "max_tokens": n, "temperature": 0, "stream": True,
            "ignore_eos": True, "n_predict": n, "stream_options": {"include_usage": True}}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.time(); first = None; count = 0; prompt_tokens = None
    with urllib.request.urlopen(req, timeout=600) as r:
        for line in r:
            if not line.startswith(b"data: {"):
                continue
            d = json.loads(line[6:])
            if d.get("usage"):
                prompt_tokens = d["usage"]["prompt_tokens"]
            if d.get("choices") and d["choices"][0].get("text"):
                count += 1
                if first is None:
                    first = time.time()
    end = time.time()
    return first - t0, (count - 1) / (end - first) if count > 1 else 0.0, prompt_tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/bench/hearth-qwen2-0.5b-shape-q4_k_m.gguf"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--extra-hearth", help="another hearth binary, run with --batch-invariant")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results", time.strftime("%Y%m%d-%H%M%S")))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    hearth = os.path.join(ROOT, "build/hearth")
    llama_build = os.environ.get("LLAMA_BUILD") or subprocess.run(
        ["bash", "-c", f"source '{ROOT}/scripts/env.sh' && echo \"$LLAMA_BUILD\""],
        capture_output=True, text=True, check=True).stdout.strip()
    llama_server = os.path.join(llama_build, "bin/llama-server")
    common = ["--host", "127.0.0.1", "--ctx-size", "4096", "--parallel", "16", "--threads", str(a.threads)]
    servers = {
        "hearth (defaults)": [hearth, "serve", "--model", a.model] + common,
        "hearth (fa off)": [hearth, "serve", "--model", a.model, "--flash-attn", "off"] + common,
        "hearth (--batch-invariant)": [hearth, "serve", "--model", a.model, "--batch-invariant"] + common,
        "llama-server": [llama_server, "-m", a.model, "--host", "127.0.0.1", "-c", str(4096 * 16), "-np", "16",
                         "-t", str(a.threads), "-tb", str(a.threads), "--no-webui"],
    }
    if a.extra_hearth:
        servers[f"{a.extra_hearth} (--batch-invariant)"] = [a.extra_hearth, "serve", "--model", a.model,
                                                            "--batch-invariant"] + common
    procs = {}
    try:
        for name, cmd in servers.items():
            port = free_port()
            cmd = cmd + ["--port", str(port)]
            procs[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port)
        for name, (proc, port) in procs.items():
            for _ in range(1200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health"); break
                except OSError:
                    time.sleep(0.2)
        model_id = os.path.basename(a.model)[:-5]
        for name, (proc, port) in procs.items():  # warm-up: first-request page faults and graph setup
            stream(port, model_id, "warm up", 4)
        samples = collections.defaultdict(list)
        with open(os.path.join(a.out, "prefill_modes.jsonl"), "a") as log:
            for r in range(a.rounds):
                for words in WORDS:
                    prompt = " ".join(f"w{i + 1000 * r + 100000 * words}" for i in range(words))
                    for name, (proc, port) in procs.items():
                        ttft, tg, ptoks = stream(port, model_id, prompt, 64)
                        samples[(words, name)].append((ttft, tg, ptoks))
                        rec = {"round": r, "words": words, "server": name, "prompt_tokens": ptoks,
                               "ttft_s": ttft, "decode_tok_s": tg}
                        log.write(json.dumps(rec) + "\n"); log.flush()
                        print(json.dumps(rec), file=sys.stderr)
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            proc.wait()
    names = list(servers)
    extra = len(names) > 4
    print("| prompt tokens | " + " | ".join(f"{n} TTFT s" for n in names) + " | --batch-invariant / defaults | "
          "llama-server / Hearth defaults |" + (" extra / --batch-invariant |" if extra else ""))
    print("|---:|" + "---:|" * (len(names) + 2 + extra))
    for words in WORDS:
        med = {n: statistics.median(s[0] for s in samples[(words, n)]) for n in names}
        ptoks = next((s[2] for n in names for s in samples[(words, n)] if s[2]), "?")
        print(f"| {ptoks} | " + " | ".join(f"{med[n]:.2f}" for n in names) +
              f" | {med[names[2]] / med[names[0]]:.2f} | {med[names[3]] / med[names[0]]:.2f} |" +
              (f" {med[names[4]] / med[names[2]]:.2f} |" if extra else ""))
    print()
    print("| prompt tokens | " + " | ".join(f"{n} decode tok/s" for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for words in WORDS:
        med = {n: statistics.median(s[1] for s in samples[(words, n)]) for n in names}
        ptoks = next((s[2] for n in names for s in samples[(words, n)] if s[2]), "?")
        print(f"| {ptoks} | " + " | ".join(f"{med[n]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
