#!/usr/bin/env bash
# Where Hearth's memory goes beyond the weights and the KV cache, for one configuration: Hearth
# alone on the benchmark model (16 slots x 4,096 tokens), after a ~2,000-token prompt, the same
# prompt again, and 16 concurrent short requests. Prints RSS split into anonymous and
# file-backed memory, the "beyond weights + KV" figure bench/run.sh reports, llama.cpp's
# compute-buffer reservation and the heap in use after loading.
#
# Usage: bench/memory.sh [q4_k_m|q8_0] [hearth serve options...]
#   e.g. bench/memory.sh q4_k_m --ubatch-size 512 --mmap
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HEARTH_ROOT"
type=${1:-q4_k_m}; shift || true
model="models/bench/hearth-qwen2-0.5b-shape-$type.gguf"
[[ -f $model ]] || HEARTH_LLAMA_MODELS="$LLAMA_SRC/models" build/hearth make-test-model -p qwen2-0.5b --type "$type" -o models/bench >/dev/null
log=$(mktemp); trap 'rm -f "$log"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/hearth serve --model "$model" --host 127.0.0.1 --port "$port" --ctx-size 4096 --parallel 16 --threads 2 \
  --log-level trace "$@" > "$log" 2>&1 &
pid=$!
python3 - "$port" "$pid" "$model" "$log" "$*" <<'PY'
import concurrent.futures, json, os, re, sys, time, urllib.request
port, pid, model, log, opts = sys.argv[1:]
base = f"http://127.0.0.1:{port}"
for _ in range(600):
    try:
        urllib.request.urlopen(base + "/health"); break
    except OSError:
        time.sleep(0.2)
mid = os.path.basename(model)[:-5]
def go(prompt, n):
    req = urllib.request.Request(base + "/v1/completions", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"model": mid, "prompt": prompt, "max_tokens": n, "temperature": 0}).encode())
    return json.load(urllib.request.urlopen(req))["usage"]
doc = " ".join(f"word{i}" for i in range(530))  # ~2,000 tokens
go(doc, 8); go(doc + " more", 8)
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    list(ex.map(lambda i: go(f"request {i} says hello", 32), range(16)))
st = {l.split(":")[0]: int(l.split()[1]) / 1024 for l in open(f"/proc/{pid}/status") if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
weights = os.path.getsize(model) / 2**20
kv = 24 * 2 * 128 * 4096 * 16 * 2 / 2**20
text = open(log, errors="replace").read()
compute = re.search(r"CPU compute buffer size = *([0-9.]+) MiB", text)
heap = re.search(r"heap in use after loading: ([0-9.]+) MiB", text)
print(f"{os.path.basename(model)} [{opts or 'defaults'}]: RSS {st['VmRSS']:.1f} MiB = anonymous {st['RssAnon']:.1f} + "
      f"file-backed {st['RssFile']:.1f}; beyond weights ({weights:.0f}) + KV ({kv:.0f}): {st['VmRSS'] - weights - kv:.1f} MiB; "
      f"compute buffer {compute.group(1) if compute else '?'} MiB; heap in use after loading {heap.group(1) if heap else '?'} MiB")
PY
kill -TERM $pid; wait $pid 2>/dev/null || true
