#!/usr/bin/env bash
# The knowledge base on real data (issue #3), in one run:
#   1. ingest throughput: documents/s and chunks/s of KnowledgeBase::add_source with the static
#      GloVe embedder, into fresh SQLite files (all of linux-doc-6.1's .rst files as text, the
#      same as Markdown with headings, and the 1913 Webster as one file per headword);
#   2. query latency over linux-doc + Webster together (>100k chunks): hybrid search against
#      FTS5 alone and an exact vector scan, ANN recall@10 against exact, where the time goes;
#   3. retrieval quality: recall@1/5/10 and MRR@10 of BM25, static embeddings and hybrid search
#      on "a section's title retrieves its section" (linux-doc, with and without the title in
#      the index) and "a definition retrieves its headword's entry" (Webster, sense held out);
#      the same title task in Chinese on linux-doc's zh_CN translations (BM25 with ICU words).
# Raw results: bench/results/<stamp>-knowledge/*.jsonl, the table in summary.md (printed).
# Timings never decide anything: this is not a test.
#
# Usage: bench/knowledge.sh [--quick]        (after scripts/setup.sh)
#   --quick: 300 test and 100 dev queries per set (the full run: 1,000 and 200)
# Environment: KB_BENCH_BUILD (build folder, default build/), KB_BENCH_WORK (corpora and
# databases, default $HEARTH_CACHE/bench-knowledge), HEARTH_JOBS (build jobs), KB_BENCH_TEST,
# KB_BENCH_DEV, KB_BENCH_LATENCY, KB_BENCH_WARMUP (query counts, for a smoke run),
# KB_BENCH_REUSE_DBS=1 (skip ingest and reuse the databases of an earlier run: for changes to
# search only; the summary then has no ingest table).
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$HEARTH_ROOT"
QUICK=0; [[ ${1:-} == --quick ]] && QUICK=1
N_TEST=1000; N_DEV=200; N_LATENCY=400; WARMUP=50
((QUICK)) && { N_TEST=300; N_DEV=100; N_LATENCY=300; }
N_TEST=${KB_BENCH_TEST:-$N_TEST}; N_DEV=${KB_BENCH_DEV:-$N_DEV}; N_LATENCY=${KB_BENCH_LATENCY:-$N_LATENCY}
WARMUP=${KB_BENCH_WARMUP:-$WARMUP}
SEED=20261123
BUILD="${KB_BENCH_BUILD:-$HEARTH_ROOT/build}"
WORK="${KB_BENCH_WORK:-$HEARTH_CACHE/bench-knowledge}"
OUT="bench/results/$(date +%Y%m%d-%H%M%S)-knowledge"

[[ -f $GLOVE_BIN ]] || die "no static embeddings at $GLOVE_BIN: run scripts/setup.sh (or scripts/embeddings.sh)"
[[ -d /usr/share/doc/linux-doc-6.1/Documentation ]] || die "linux-doc-6.1 is not installed (apt-get install linux-doc-6.1)"
[[ -f /usr/share/dictd/gcide.dict.dz ]] || die "dict-gcide is not installed (apt-get install dict-gcide)"

log "building kb_bench in $BUILD"
HEARTH_TARGETS=kb_bench bash scripts/build.sh "$BUILD" >/dev/null
BENCH="$BUILD/bench/kb_bench"
mkdir -p "$OUT" "$WORK/db"

note_load() {  # phase name: the machine's load next to the timings it may have disturbed
  printf '%s %-22s %s\n' "$(date -u +%H:%M:%S)" "$1" "$(uptime | sed 's/.*load average/load average/')" >> "$OUT/load.txt"
}
{
  echo "git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src/knowledge bench || echo ' + uncommitted changes')"
  echo "cpus $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "queries: $N_TEST test and $N_DEV dev per set, seed $SEED; latency: $N_LATENCY timed after $WARMUP warm-up"
} > "$OUT/machine.txt"

# Corpora and queries, rebuilt when the script, the seed or the sizes change.
key="$(cat bench/kb_corpora.py | sha256sum | cut -c1-12)-$SEED-$N_TEST-$N_DEV"
for corpus in linuxdoc gcide linuxdoc-zh; do
  if [[ $(cat "$WORK/$corpus/.key" 2>/dev/null) != "$key" ]]; then
    log "building the $corpus corpus and queries in $WORK/$corpus"
    rm -rf "${WORK:?}/$corpus"
    python3 bench/kb_corpora.py "$corpus" "$WORK/$corpus" --seed $SEED --test $N_TEST --dev $N_DEV \
      > "$WORK/$corpus.stats"
    echo "$key" > "$WORK/$corpus/.key"
  fi
  cp "$WORK/$corpus.stats" "$OUT/$corpus-corpus.txt"
  cp "$WORK/$corpus/queries.tsv" "$OUT/$corpus-queries.tsv"
done
LD="$WORK/linuxdoc"; GC="$WORK/gcide"; ZH="$WORK/linuxdoc-zh"

# 1. Ingest, each into a fresh database.
ingest() {  # name source...
  local name=$1; shift
  local args=()
  for s in "$@"; do args+=(--source "$s"); done
  log "ingest: $name"
  note_load "ingest $name"
  "$BENCH" ingest --db "$WORK/db/$name.sqlite" --collection "$name" "${args[@]}" | tee -a "$OUT/ingest.jsonl" >/dev/null
}
ingest_unless_reused() {  # name source...: with KB_BENCH_REUSE_DBS=1 an existing database is kept
  if [[ ${KB_BENCH_REUSE_DBS:-0} == 1 && -f $WORK/db/$1.sqlite ]]; then
    log "reusing $WORK/db/$1.sqlite (no ingest)"
    note_load "ingest $1 skipped (KB_BENCH_REUSE_DBS=1)"
  else
    ingest "$@"
  fi
}
[[ ${KB_BENCH_REUSE_DBS:-0} == 1 ]] || ingest linuxdoc-rst "$LD/rst"  # throughput only: never searched
ingest_unless_reused linuxdoc-md "$LD/titled"
ingest_unless_reused linuxdoc-masked "$LD/masked"
ingest_unless_reused gcide "$GC/entries"
ingest_unless_reused combined "$LD/titled" "$GC/entries"
ingest_unless_reused linuxdoc-zh-titled "$ZH/titled"
ingest_unless_reused linuxdoc-zh-masked "$ZH/masked"

# 2. Latency over the combined collection, with short (title) and long (definition) queries.
log "latency: $N_LATENCY queries per mode over the combined collection"
note_load "latency"
"$BENCH" latency --db "$WORK/db/combined.sqlite" --collection combined --queries "$LD/queries.tsv" \
  --queries "$GC/queries.tsv" -n $N_LATENCY --warmup $WARMUP > "$OUT/latency.jsonl"
note_load "latency done"

# 3. Quality. Alpha for the tuned hybrid is chosen on each set's dev queries (best MRR@10 among
# 0.1..0.9), then the test queries are run once with the four methods and that alpha.
evaluate() {  # label db-name root extra-args...
  local label=$1 db=$2 root=$3; shift 3
  log "quality: $label (dev sweep)"
  note_load "eval $label"
  "$BENCH" eval --db "$WORK/db/$db.sqlite" --collection "$db" --root "$root" --label "$label" --split dev --sweep "$@" \
    >> "$OUT/dev.jsonl"
  local alpha
  alpha=$(python3 bench/kb_report.py best-alpha "$OUT/dev.jsonl" "$label")
  log "quality: $label (test, dev-tuned alpha $alpha)"
  "$BENCH" eval --db "$WORK/db/$db.sqlite" --collection "$db" --root "$root" --label "$label" --split test \
    --alpha "$alpha" --ranks "$OUT/ranks.jsonl" "$@" >> "$OUT/eval.jsonl"
}
evaluate linuxdoc-title-indexed linuxdoc-md "$LD/titled" --queries "$LD/queries.tsv"
evaluate linuxdoc-title-masked linuxdoc-masked "$LD/masked" --queries "$LD/queries.tsv" --masked
evaluate gcide-definition gcide "$GC" --queries "$GC/queries.tsv"
# Chinese: the GloVe vectors know no Chinese, so this measures BM25 with ICU word breaks (hybrid
# can only match it).
evaluate linuxdoc-zh-title-indexed linuxdoc-zh-titled "$ZH/titled" --queries "$ZH/queries.tsv"
evaluate linuxdoc-zh-title-masked linuxdoc-zh-masked "$ZH/masked" --queries "$ZH/queries-masked.tsv" --masked
note_load "done"

python3 bench/kb_report.py summary "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
log "results in $OUT"
