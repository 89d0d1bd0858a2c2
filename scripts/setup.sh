#!/usr/bin/env bash
# Sets up everything Hearth needs on a fresh Debian 12 machine, idempotently:
# Debian packages, llama.cpp (pinned, verified, built once into ~/.cache/hearth), the web app
# (npm, pinned), Hearth itself,
# and the generated test models. With everything in place it takes seconds.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$HEARTH_ROOT/scripts/deps.sh"
bash "$HEARTH_ROOT/scripts/llama.sh"
bash "$HEARTH_ROOT/scripts/embeddings.sh"
bash "$HEARTH_ROOT/scripts/ui.sh"
bash "$HEARTH_ROOT/scripts/build.sh" "$HEARTH_ROOT/build"
HEARTH_LLAMA_MODELS="$LLAMA_SRC/models" "$HEARTH_ROOT/build/hearth" make-test-model -o "$HEARTH_ROOT/models" >/dev/null
log "setup complete: $HEARTH_ROOT/build/hearth"
