#!/usr/bin/env bash
# Builds the web app (web/: Svelte 5 + Vite) from its pinned lockfile into web/dist, which the
# hearth build embeds (scripts/embed_ui.py). npm packages come from the registry, pinned and
# integrity-checked by package-lock.json; nothing is fetched at run time. Skips the build when
# the sources have not changed since the last one.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$HEARTH_ROOT/web"
npm_ci_pinned vite
inputs=(src index.html vite.config.js svelte.config.js package-lock.json scripts)
[[ -d public ]] && inputs+=(public)
key="$(find "${inputs[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
stamp=node_modules/.hearth-ui-built
if [[ -f dist/index.html && -f $stamp && "$(cat "$stamp")" == "$key" ]]; then exit 0; fi
log "building the web app"
npm run build --silent
npm run size --silent  # fails when the app is over its size budget
echo "$key" >"$stamp"
