#!/usr/bin/env bash
# Installs the Debian packages Hearth builds and tests with, only those that are missing.
# Usage: scripts/deps.sh [more packages...]  (the browser tests add chromium)
set -euo pipefail
source "$(dirname "$0")/env.sh"

PKGS=(
  build-essential cmake ninja-build git pkg-config ca-certificates curl
  libboost1.81-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libtomlplusplus-dev libcli11-dev
  libcurl4-openssl-dev libssl-dev libgtest-dev libgmock-dev
  libicu-dev libhnswlib-dev linux-doc-6.1 dict-gcide libsqlite3-dev libmd4c-dev libgumbo-dev libpoppler-cpp-dev libzip-dev libxml2-dev zlib1g-dev
  clang-14 libclang-rt-14-dev
  libhiredis-dev redis-server openssl libre2-dev libsodium-dev
  nodejs npm python3
  "$@"
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside Debian; what matters is that the commands work.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: all present"
fi
