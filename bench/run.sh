#!/usr/bin/env bash
# Hearth vs the peers a user would otherwise pick, side by side in one run, on the same model
# files, threads and slots: llama-bench (decode/prefill kernels) and llama-server (serving), both
# built from the same llama.cpp as Hearth. Results: bench/results/<stamp>/*.jsonl and a markdown
# summary (bench/report.py) to paste into docs/BENCHMARKS.md. Never part of the test suite.
#
# Usage: bench/run.sh [--quick]      (needs scripts/setup.sh done)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HEARTH_ROOT"
QUICK=0; [[ ${1:-} == --quick ]] && QUICK=1
THREADS="${BENCH_THREADS:-2}"
SLOTS=16
CTX=4096      # per sequence
HEARTH=build/hearth
LB="$LLAMA_BUILD/bin/llama-bench"
LS="$LLAMA_BUILD/bin/llama-server"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT="bench/results/$STAMP"
mkdir -p "$OUT" models/bench

types=(q4_k_m q8_0); ((QUICK)) && types=(q4_k_m)
for t in "${types[@]}"; do
  HEARTH_LLAMA_MODELS="$LLAMA_SRC/models" $HEARTH make-test-model -p qwen2-0.5b --type "$t" -o models/bench >/dev/null
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url
  for _ in $(seq 1 600); do curl -sf "$1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "server at $1 did not come up" >&2; return 1
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

bench_server() {  # name url pid model_file jsonl
  local name=$1 url=$2 pid=$3 file=$4 out=$5
  local b="python3 bench/serving_bench.py --url $url --name $name"
  $b single --max-tokens 128 --trials $((QUICK ? 1 : 5)) >> "$out"
  if ((QUICK)); then
    $b concurrency --levels 1 4 --rounds 1 >> "$out"
    $b prefix --trials 1 >> "$out"
  else
    $b concurrency --levels 1 4 8 16 --rounds 3 >> "$out"
    $b prefix --trials 3 >> "$out"
  fi
  python3 - "$name" "$(rss_mb "$pid")" "$file" $((CTX * SLOTS)) >> "$out" <<'PY'
import json, os, sys
name, rss, file, cells = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
# KV cache of the Qwen2-0.5B shape: 24 layers x (K + V) x 128 (2 KV heads x 64) x cells x f16.
kv_mb = 24 * 2 * 128 * cells * 2 / 2**20
print(json.dumps({"server": name, "test": "memory", "rss_mb": rss, "weights_mb": os.path.getsize(file) / 2**20,
                  "kv_mb": kv_mb}))
PY
}

for t in "${types[@]}"; do
  model="models/bench/hearth-qwen2-0.5b-shape-$t.gguf"
  jsonl="$OUT/$t.jsonl"
  echo "== $t: llama-bench ==" >&2
  "$LB" -m "$model" -t "$THREADS" -p 256 -n 128 -r $((QUICK ? 1 : 3)) -o jsonl 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); print(json.dumps({"server":"llama-bench","test":"pp" if r["n_gen"]==0 else "tg","n":r["n_prompt"] or r["n_gen"],"avg_ts":r["avg_ts"],"stddev_ts":r["stddev_ts"]}))' >> "$jsonl"

  # Hearth with its defaults (flash attention off: batch-invariant greedy output), and with
  # flash attention on as llama-server's "auto" picks on CPU.
  for fa in off auto; do
    name=hearth; [[ $fa == auto ]] && name=hearth-fa
    ((QUICK)) && [[ $fa == auto ]] && continue
    echo "== $t: $name ==" >&2
    port=$(free_port)
    $HEARTH serve --model "$model" --host 127.0.0.1 --port "$port" --ctx-size $CTX --parallel $SLOTS \
      --threads "$THREADS" --flash-attn $fa --log-level warn > "$OUT/$name-$t.log" 2>&1 &
    pid=$!
    wait_http "http://127.0.0.1:$port"
    bench_server $name "http://127.0.0.1:$port" $pid "$model" "$jsonl"
    kill -TERM $pid; wait $pid || true
  done

  echo "== $t: llama-server ==" >&2
  port=$(free_port)
  "$LS" -m "$model" --host 127.0.0.1 --port "$port" -c $((CTX * SLOTS)) -np $SLOTS -t "$THREADS" \
    -tb "$THREADS" --no-webui > "$OUT/llama-server-$t.log" 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$port"
  bench_server llama-server "http://127.0.0.1:$port" $pid "$model" "$jsonl"
  kill -TERM $pid; wait $pid || true
done

{
  echo "Machine: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; threads=$THREADS slots=$SLOTS ctx/seq=$CTX"
  echo "Command: bench/run.sh $*"
  python3 bench/report.py "$OUT"
} | tee "$OUT/summary.md"
