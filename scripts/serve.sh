#!/usr/bin/env bash
# One command for a fresh machine: set everything up, then serve the default models on
# http://127.0.0.1:8080 (override with --port, --config, --model ...; see `hearth serve --help`).
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$HEARTH_ROOT/scripts/setup.sh"
cd "$HEARTH_ROOT"
exec "$HEARTH_ROOT/build/hearth" serve --config "$HEARTH_ROOT/config/hearth.toml" "$@"
