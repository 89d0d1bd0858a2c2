#!/usr/bin/env bash
# End-to-end tests of the web app in a real browser: Debian's chromium driven by playwright-core
# (pinned in package-lock.json), against the real binary with the generated test models.
# Usage: tests/browser/run.sh /path/to/hearth
# Environment: HEARTH_MODELS (default: models/), HEARTH_STATIC_EMBEDDINGS (default: the GloVe file
# scripts/setup.sh builds). Screenshots of the main screens go to build/browser-artifacts/.
set -euo pipefail
source "$(dirname "$0")/../../scripts/env.sh"
ROOT="$HEARTH_ROOT"
BIN="$(realpath "${1:-$ROOT/build/hearth}")"
export HEARTH_MODELS="${HEARTH_MODELS:-$ROOT/models}"
export HEARTH_STATIC_EMBEDDINGS="${HEARTH_STATIC_EMBEDDINGS:-$GLOVE_BIN}"
export HEARTH_BROWSER_ARTIFACTS="$ROOT/build/browser-artifacts"
if [[ ! -x /usr/bin/chromium ]]; then
  bash "$ROOT/scripts/deps.sh" chromium
fi
cd "$(dirname "$0")"
npm_ci_pinned playwright-core
mkdir -p "$HEARTH_BROWSER_ARTIFACTS"
rm -f "$HEARTH_BROWSER_ARTIFACTS"/*.png "$HEARTH_BROWSER_ARTIFACTS"/server.log  # this run's only
log "browser test artefacts (screenshots): $HEARTH_BROWSER_ARTIFACTS"
rc=0
HEARTH_BIN="$BIN" node_test browser webapp.test.mjs || rc=$?
log "screenshots: $HEARTH_BROWSER_ARTIFACTS"
exit $rc
