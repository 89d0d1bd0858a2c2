#!/usr/bin/env bash
# Hearth vs the peers a user would otherwise pick, side by side in one run, on the same model
# files, threads and slots: llama-bench (decode kernels) and llama-server (serving), both built
# from the same llama.cpp as Hearth. The servers run at the same time (idle while not measured)
# and every measurement interleaves them, so the shared machine's drifting speed hits all alike.
# Results: bench/results/<stamp>/*.jsonl and summary.md (bench/report.py). Never part of the tests.
#
# Usage: bench/run.sh [--quick | --concurrency-only | --decode-only | --ttft-only]  (after scripts/setup.sh)
#   --concurrency-only: Hearth's defaults and llama-server, the concurrency levels only.
#   --decode-only: Hearth's defaults, llama-server and llama-bench, single-stream decode only.
#   --ttft-only (or its old name --ttft1-only): Hearth's defaults and llama-server, time to first
#   token in pairs, at 1 stream and in bursts of 4 (also part of the full and --concurrency-only runs).
#   BENCH_DECODE_PAIRS (default 10): decode pairs per model. BENCH_TTFT1_PAIRS (default 300): 1-stream
#   pairs. BENCH_BURST_PAIRS (default 150): 4-stream burst pairs.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HEARTH_ROOT"
QUICK=0; [[ ${1:-} == --quick ]] && QUICK=1
CONC=0; [[ ${1:-} == --concurrency-only ]] && CONC=1
DECODE=0; [[ ${1:-} == --decode-only ]] && DECODE=1
TTFT1=0; [[ ${1:-} == --ttft-only || ${1:-} == --ttft1-only ]] && TTFT1=1
DECODE_PAIRS="${BENCH_DECODE_PAIRS:-10}"
THREADS="${BENCH_THREADS:-2}"
SLOTS=16
CTX=4096      # per sequence
HEARTH=build/hearth
LB="$LLAMA_BUILD/bin/llama-bench"
LS="$LLAMA_BUILD/bin/llama-server"
OUT="bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT" models/bench

types=(q4_k_m q8_0); ((QUICK)) && types=(q4_k_m)
for t in "${types[@]}"; do
  HEARTH_LLAMA_MODELS="$LLAMA_SRC/models" $HEARTH make-test-model -p qwen2-0.5b --type "$t" -o models/bench >/dev/null
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 600); do curl -sf "$1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "server at $1 did not come up" >&2; return 1
}
rss_mb() { awk -v k="$2:" '$1 == k {printf "%.1f", $2/1024}' "/proc/$1/status"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

for t in "${types[@]}"; do
  model="models/bench/hearth-qwen2-0.5b-shape-$t.gguf"
  jsonl="$OUT/$t.jsonl"
  echo "== $t ==" >&2
  declare -A url pid
  # Hearth with its defaults (flash attention auto = on, llama.cpp's fast kernels, as llama-server
  # runs them), Hearth with --batch-invariant (reference kernels, weights not repacked: output
  # independent of batching), and llama-server's defaults.
  for name in hearth hearth-invariant; do
    ((QUICK || CONC || DECODE || TTFT1)) && [[ $name == hearth-invariant ]] && continue
    fa=(); [[ $name == hearth-invariant ]] && fa=(--batch-invariant)
    port=$(free_port)
    $HEARTH serve --model "$model" --host 127.0.0.1 --port "$port" --ctx-size $CTX --parallel $SLOTS \
      --threads "$THREADS" ${fa[@]+"${fa[@]}"} --log-level warn > "$OUT/$name-$t.log" 2>&1 &
    pid[$name]=$!; pids+=($!); url[$name]="http://127.0.0.1:$port"
  done
  port=$(free_port)
  "$LS" -m "$model" --host 127.0.0.1 --port "$port" -c $((CTX * SLOTS)) -np $SLOTS -t "$THREADS" -tb "$THREADS" \
    --no-webui > "$OUT/llama-server-$t.log" 2>&1 &
  pid[llama-server]=$!; pids+=($!); url[llama-server]="http://127.0.0.1:$port"
  targets=()
  for name in "${!url[@]}"; do wait_http "${url[$name]}"; targets+=(--target "$name=${url[$name]}"); done
  B="python3 bench/serving_bench.py ${targets[*]}"
  # Paired time to first token: 1 stream, and bursts of 4 (where a burst's prompts fit one step).
  ttft_pairs() {
    $B ttft-pairs --streams 1 --pairs "${1:-${BENCH_TTFT1_PAIRS:-300}}" >> "$jsonl"
    $B ttft-pairs --streams 4 --pairs "${2:-${BENCH_BURST_PAIRS:-150}}" >> "$jsonl"
  }

  if ((TTFT1)); then
    ttft_pairs
    cleanup; pids=(); unset url pid
    continue
  fi
  if ((CONC)); then
    $B concurrency --levels 1 4 8 16 --rounds 5 --min-samples 60 >> "$jsonl"
    ttft_pairs
    cleanup; pids=(); unset url pid
    continue
  fi
  # Single stream. Decode is measured in pairs, llama-bench's tg128 (flash attention auto, its
  # default) next to one 128-token stream on every server, in ABBA order (odd pairs llama-bench
  # first, even pairs the servers first), so that the machine's drift cancels within a pair; the
  # report takes the median of the pairs' ratios. Prefill (pp256) and tg128 with flash attention
  # off are for reference, measured between the pairs.
  lb_jsonl() { python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); o={"server":"llama-bench" if int(r["flash_attn"])==0 else "llama-bench-fa",
      "test":"pp" if r["n_gen"]==0 else "tg","n":r["n_prompt"] or r["n_gen"],"avg_ts":r["avg_ts"]}
    if len(sys.argv) > 1: o["pair"]=int(sys.argv[1])
    print(json.dumps(o))' "$@"; }
  lb_tg() { "$LB" -m "$model" -t "$THREADS" -p 0 -n 128 -r 1 -fa auto -o jsonl 2>/dev/null | lb_jsonl "$1" >> "$jsonl"; }
  servers_tg() { $B single --max-tokens 128 --trials 1 --pair "$1" >> "$jsonl"; }
  for pair in $(seq 1 $((QUICK ? 2 : DECODE_PAIRS))); do
    if ((pair % 2)); then lb_tg "$pair"; servers_tg "$pair"; else servers_tg "$pair"; lb_tg "$pair"; fi
    if ((pair <= (QUICK ? 1 : 3))); then
      "$LB" -m "$model" -t "$THREADS" -p 256 -n 0 -r 1 -fa off,auto -o jsonl 2>/dev/null | lb_jsonl >> "$jsonl"
      "$LB" -m "$model" -t "$THREADS" -p 0 -n 128 -r 1 -fa off -o jsonl 2>/dev/null | lb_jsonl >> "$jsonl"
    fi
  done
  ((DECODE)) && { cleanup; pids=(); unset url pid; continue; }
  if ((QUICK)); then
    $B concurrency --levels 1 4 --rounds 1 >> "$jsonl"
    ttft_pairs 10 5
    $B prefix --trials 1 >> "$jsonl"
    $B shared-burst --levels 4 --rounds 1 >> "$jsonl"
  else
    $B concurrency --levels 1 4 8 16 --rounds 5 --min-samples 60 >> "$jsonl"
    ttft_pairs
    $B prefix --trials 3 >> "$jsonl"
    $B shared-burst --levels 4 8 --rounds 3 >> "$jsonl"
  fi
  # Memory: RSS after all of the above, against the model file and the KV cache of this shape
  # (24 layers x K+V x 128 (2 KV heads x 64) x cells x f16).
  for name in "${!pid[@]}"; do
    # RssFile is mostly the memory-mapped weights; RssAnon holds the KV cache, compute buffers,
    # repacked weight copies and the heap.
    python3 -c 'import json,os,sys; print(json.dumps({"server":sys.argv[1],"test":"memory","rss_mb":float(sys.argv[2]),
      "anon_mb":float(sys.argv[5]),"file_mb":float(sys.argv[6]),
      "weights_mb":os.path.getsize(sys.argv[3])/2**20,"kv_mb":24*2*128*int(sys.argv[4])*2/2**20}))' \
      "$name" "$(rss_mb "${pid[$name]}" VmRSS)" "$model" $((CTX * SLOTS)) \
      "$(rss_mb "${pid[$name]}" RssAnon)" "$(rss_mb "${pid[$name]}" RssFile)" >> "$jsonl"
  done
  cleanup; pids=(); unset url pid
done

{
  cpu() { lscpu | awk -F: -v k="$1" '$1 == k {gsub(/^ +/, "", $2); print $2}'; }
  echo "Machine: $(cpu 'Model name') (CPU family $(cpu 'CPU family'), model $(cpu Model)), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; threads=$THREADS slots=$SLOTS ctx/seq=$CTX"
  echo "Command: bench/run.sh $*"
  python3 bench/report.py "$OUT"
} | tee "$OUT/summary.md"
