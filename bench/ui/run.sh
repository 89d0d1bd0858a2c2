#!/usr/bin/env bash
# Browser benchmark of the web app (Debian's chromium driven by playwright-core, pinned in
# package-lock.json) against the real binary with the app embedded: load to interactive, the UI's
# overhead between Enter and the first painted token against the API's own time to first token,
# and main-thread long tasks while a 2,000-token answer streams (in a new chat and in a chat of
# 1,000 messages). Not a test: nothing here passes or fails on a timing. See docs/BENCHMARKS.md.
#
# Usage: bench/ui/run.sh [/path/to/hearth]          (default: build/hearth)
# Environment:
#   HEARTH_MODELS        the generated test models (default: models/)
#   UI_BENCH_RUNS        runs per measurement (default 10)
#   UI_BENCH_MAX_LOAD    wait (up to UI_BENCH_IDLE_WAIT seconds, default 600, polled every 10 s)
#                        until the 1-minute load average is below this before measuring (default
#                        1.0; the machine is shared); the load averages go into the results
#   UI_BENCH_ONLY        comma-separated subset of: load,ttft,stream,longconv
# Results: bench/results/ui-<date>.json (git-ignored) and a markdown table on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="$(realpath "${1:-$ROOT/build/hearth}")"
MODELS="$(realpath "${HEARTH_MODELS:-$ROOT/models}")"
MODEL_ID=hearth-tiny-qwen2
[[ -x $BIN ]] || { echo "no hearth binary at $BIN" >&2; exit 1; }
[[ -f $MODELS/$MODEL_ID.gguf ]] || { echo "no $MODEL_ID.gguf in $MODELS" >&2; exit 1; }
[[ -x /usr/bin/chromium ]] || { echo "needs /usr/bin/chromium (bash scripts/deps.sh chromium)" >&2; exit 1; }

cd "$HERE"
# npm's node_modules/.package-lock.json never equals package-lock.json, so the installed
# lockfile is kept beside it (as tests/browser/run.sh does).
if [[ ! -d node_modules/playwright-core ]] || ! cmp -s package-lock.json node_modules/.hearth-package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.hearth-package-lock.json
fi

tmp="$(mktemp -d /tmp/hearth-ui-bench-XXXXXX)"
pid=""
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# One model (qwen2 tiny, 4,096 tokens of context), no [auth] (mode none on loopback: no sign-in),
# and every database in the temporary directory.
cat > "$tmp/hearth.toml" <<EOF
[server]
host = "127.0.0.1"
port = 0
threads = 2
log_level = "warn"
shutdown_grace_seconds = 5
[models]
dir = "$MODELS"
memory_budget_mb = 4096
load_wait_seconds = 120
default = "$MODEL_ID"
[audit]
db = "$tmp/audit.sqlite"
[knowledge]
db = "$tmp/knowledge.sqlite"
[ui]
conversations_db = "$tmp/conversations.sqlite"

[[model]]
id = "$MODEL_ID"
file = "$MODEL_ID.gguf"
context_size = 4096
parallel = 2
EOF

"$BIN" serve --config "$tmp/hearth.toml" --port-file "$tmp/port" > "$tmp/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 600); do
  kill -0 "$pid" 2>/dev/null || { echo "hearth exited:" >&2; cat "$tmp/server.log" >&2; exit 1; }
  if [[ -s $tmp/port ]]; then
    port="$(cat "$tmp/port")"
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  fi
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { echo "hearth did not come up:" >&2; cat "$tmp/server.log" >&2; exit 1; }

mkdir -p "$ROOT/bench/results"
out="${UI_BENCH_OUT:-$ROOT/bench/results/ui-$(date +%Y%m%d-%H%M%S).json}"
rc=0
HEARTH_URL="http://127.0.0.1:$port" UI_BENCH_MODEL="$MODEL_ID" UI_BENCH_OUT="$out" \
  UI_BENCH_BIN="$BIN" UI_BENCH_SERVER_PID="$pid" \
  node "$HERE/ui_bench.mjs" || rc=$?
if ((rc)); then
  echo "ui_bench.mjs failed ($rc); server log:" >&2
  tail -n 40 "$tmp/server.log" >&2
fi
exit $rc
