#!/usr/bin/env bash
# End-to-end tests with the official `openai` npm client (pinned in package-lock.json).
# Usage: tests/e2e/run.sh /path/to/hearth
set -euo pipefail
BIN="$(realpath "${1:-$(dirname "$0")/../../build/hearth}")"
cd "$(dirname "$0")"
if [[ ! -d node_modules/openai ]] || ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# A TAP copy of the report for scripts/test.sh's list of skipped tests (tests/skips.py).
tap="$(mktemp)"
trap 'rm -f "$tap"' EXIT
rc=0
HEARTH_BIN="$BIN" node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" openai.test.mjs || rc=$?
python3 ../skips.py tap e2e "$tap" || rc=1
exit $rc
