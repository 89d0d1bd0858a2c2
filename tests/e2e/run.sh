#!/usr/bin/env bash
# End-to-end tests with the official `openai` npm client (pinned in package-lock.json).
# Usage: tests/e2e/run.sh /path/to/hearth
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
BIN="$(realpath "${1:-$HEARTH_ROOT/build/hearth}")"
cd "$(dirname "$0")"
npm_ci_pinned openai
HEARTH_BIN="$BIN" node_test e2e openai.test.mjs
