#!/usr/bin/env bash
# Configures and builds Hearth against the cached llama.cpp build.
# Usage: scripts/build.sh [build-dir] [extra cmake args...]
set -euo pipefail
source "$(dirname "$0")/env.sh"
BUILD_DIR="${1:-$HEARTH_ROOT/build}"; shift || true
[[ -f $LLAMA_BUILD/.hearth-built ]] || die "llama.cpp is not built; run scripts/llama.sh"
if true; then
  cmake -S "$HEARTH_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${HEARTH_BUILD_TYPE:-Release}" \
    -DHEARTH_LLAMA_SRC="$LLAMA_SRC" -DHEARTH_LLAMA_BUILD="$LLAMA_BUILD" "$@" >/dev/null
fi
# HEARTH_TARGETS: build only these targets (e.g. the TSan build needs only the scheduler tests).
cmake --build "$BUILD_DIR" -j "${HEARTH_JOBS:-$(nproc)}" ${HEARTH_TARGETS:+--target $HEARTH_TARGETS}
