#!/usr/bin/env bash
# One command for a fresh machine: set everything up, then run every test suite:
#   unit (GoogleTest), integration (the real binary on loopback, Python stdlib clients),
#   end-to-end (the official `openai` npm client), the web app's unit tests (vitest) and its
#   end-to-end tests in Debian's chromium (playwright-core), the batch-invariance kernel check on other x86
#   ISA levels (scripts/kernel-variants.sh), ASan+UBSan build of unit + integration, TSan build of
#   the scheduler tests, and a short libFuzzer run of the request parsers.
# Every skipped test is listed at the end with its reason; a skip that tests/allowed-skips.txt does
# not allow fails the run (tests/skips.py).
# HEARTH_TEST_STAGES limits the stages (space-separated names below). Benchmarks are separate
# (bench/run.sh): timings never decide whether a test passes.
set -euo pipefail
source "$(dirname "$0")/env.sh"
STAGES="${HEARTH_TEST_STAGES:-unit integration e2e web browser kernels asan tsan fuzz}"
has() { [[ " $STAGES " == *" $1 "* ]]; }
cd "$HEARTH_ROOT"

bash scripts/setup.sh
export HEARTH_MODELS="$HEARTH_ROOT/models" HEARTH_LLAMA_MODELS="$LLAMA_SRC/models" HEARTH_STATIC_EMBEDDINGS="$GLOVE_BIN"
export HEARTH_LLAMA_SERVER="$LLAMA_BUILD/bin/llama-server"  # the reference reranker in test_knowledge_rerank
export HEARTH_SKIPS="$HEARTH_ROOT/build/test-skips.tsv"
: >"$HEARTH_SKIPS"
failed=()
run_stage() {  # name, command...
  local name=$1; shift
  log "== $name =="
  if "$@"; then log "== $name: passed =="; else log "== $name: FAILED =="; failed+=("$name"); fi
}
gtest() {  # stage, binary, args...: a GoogleTest binary, its skips recorded
  local stage=$1 bin=$2; shift 2
  local json="$HEARTH_ROOT/build/$stage-results.json" rc=0
  rm -f "$json"
  "$bin" --gtest_brief=1 --gtest_output="json:$json" "$@" || rc=$?
  python3 tests/skips.py gtest "$stage" "$bin" "$json" || rc=1
  return $rc
}

if has unit; then
  run_stage unit gtest unit build/tests/hearth_unit_tests
fi
if has integration; then
  run_stage integration env HEARTH_BIN="$HEARTH_ROOT/build/hearth" \
    python3 tests/skips.py unittest integration discover -s tests/integration -t . -v
fi
if has e2e; then
  run_stage e2e bash tests/e2e/run.sh "$HEARTH_ROOT/build/hearth"
fi
web_unit() {  # the web app's logic (vitest), its skips recorded
  local tap="$HEARTH_ROOT/build/web-unit.tap" rc=0
  (cd web && npx vitest run --reporter=tap-flat) | tee "$tap" || rc=$?
  python3 tests/skips.py tap web "$tap" || rc=1
  return $rc
}
if has web; then
  run_stage web web_unit
fi
if has browser; then
  run_stage browser bash tests/browser/run.sh "$HEARTH_ROOT/build/hearth"
fi
if has kernels; then
  run_stage kernels bash scripts/kernel-variants.sh
fi
if has asan; then
  log "building with AddressSanitizer + UndefinedBehaviorSanitizer"
  HEARTH_BUILD_TYPE=RelWithDebInfo bash scripts/build.sh "$HEARTH_ROOT/build-asan" -DHEARTH_SANITIZE=address,undefined
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$HEARTH_ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  run_stage asan-unit gtest asan-unit build-asan/tests/hearth_unit_tests
  run_stage asan-integration env HEARTH_BIN="$HEARTH_ROOT/build-asan/hearth" HEARTH_SANITIZED=1 \
    python3 tests/skips.py unittest asan-integration discover -s tests/integration -t . -v
fi
if has tsan; then
  log "building the scheduler tests with ThreadSanitizer"
  HEARTH_TARGETS=hearth_logic_tests HEARTH_BUILD_TYPE=RelWithDebInfo \
    bash scripts/build.sh "$HEARTH_ROOT/build-tsan" -DHEARTH_SANITIZE=thread
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  run_stage tsan gtest tsan build-tsan/tests/hearth_logic_tests
fi
if has fuzz; then
  run_stage fuzz bash tests/fuzz/run.sh 20
fi

log "== skipped tests =="
python3 tests/skips.py report tests/allowed-skips.txt || failed+=("unexpected-skips")
if ((${#failed[@]})); then
  die "failed stages: ${failed[*]}"
fi
log "all test stages passed: $STAGES"
