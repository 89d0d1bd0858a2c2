#!/usr/bin/env bash
# Fetches upstream llama.cpp (pinned, checksum-verified, from the npm package that carries it),
# applies Hearth's patches (scripts/llama-patches: fixes of our own, each explained in its file)
# and builds ggml, libllama, llama-common, llama-server and llama-bench into $HEARTH_CACHE.
# The build directory is keyed by version + flags + CPU + patches, so it is built once and reused.
set -euo pipefail
source "$(dirname "$0")/env.sh"

stamp="$LLAMA_BUILD/.hearth-built"
# The source stays needed after the build: Hearth compiles against its headers, the test models
# take its tokenizers, scripts/kernel-variants.sh builds ggml from it.
if [[ -f $stamp && -f $LLAMA_SRC/.hearth-patched ]]; then
  log "llama.cpp $LLAMA_NPM_VERSION: cached build $LLAMA_BUILD"
  exit 0
fi

tgz="$(npm_fetch "$LLAMA_NPM_PKG" "$LLAMA_NPM_VERSION" "$LLAMA_NPM_SHA256")"

if [[ ! -f $LLAMA_SRC/.hearth-patched ]]; then
  tmp="$(mktemp -d)"
  tar xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  rm -rf "$LLAMA_SRC"
  git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$LLAMA_SRC"
  cp "$tmp/package/llama/llama.cpp.info.json" "$LLAMA_SRC/hearth-release.json"
  rm -rf "$tmp"
  for patch in "${LLAMA_PATCHES[@]}"; do
    git -C "$LLAMA_SRC" apply "$patch" || die "llama.cpp patch does not apply: $patch"
    log "applied $(basename "$patch")"
  done
  touch "$LLAMA_SRC/.hearth-patched"
fi

if [[ -f $stamp ]]; then
  log "llama.cpp $LLAMA_NPM_VERSION: cached build $LLAMA_BUILD (source restored)"
  exit 0
fi
log "building llama.cpp into $LLAMA_BUILD (about 15 minutes on 2 cores, once)"
cmake -S "$LLAMA_SRC" -B "$LLAMA_BUILD" -G Ninja "${LLAMA_CMAKE_FLAGS[@]}" >/dev/null
cmake --build "$LLAMA_BUILD" --target llama llama-common llama-server llama-bench ggml
touch "$stamp"
log "llama.cpp built"
