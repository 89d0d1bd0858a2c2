#!/usr/bin/env python3
"""Tables for bench/knowledge.sh (stdlib only).

  kb_report.py best-alpha DEV.jsonl LABEL   the dev split's best alpha (MRR@10) among 0.1..0.9
  kb_report.py summary OUT                  OUT/summary.md from OUT/*.jsonl, on stdout
"""
import json
import math
import os
import sys

SINGLE = ("bm25", "vector")
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10")


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        out = [json.loads(line) for line in f if line.strip()]
    for r in out:  # each set's tuned alpha differs; one name for all of them
        if r.get("method", "").startswith("hybrid-a"):
            r["method"] = "hybrid-tuned"
    return out


def best_alpha(dev_path, label):
    cands = [r for r in rows(dev_path) if r["kind"] == "eval" and r["set"] == label and not r["rrf"]
             and 0.05 < r["alpha"] < 0.95]
    if not cands:
        sys.exit(f"no dev results for {label} in {dev_path}")
    # Ties go to the alpha nearest the default 0.5.
    best = max(cands, key=lambda r: (round(r["mrr@10"], 6), -abs(r["alpha"] - 0.5)))
    print(f"{best['alpha']:.1f}")


def pts(x):
    return f"{100 * x:.1f}"


def method_name(r):
    if r["method"] == "bm25":
        return "BM25 only (alpha 0)"
    if r["method"] == "vector":
        return "static embeddings only (alpha 1)"
    if r["method"] == "hybrid":
        return f"hybrid, relative scores, alpha {r['alpha']:.1f} (the collection's default)"
    if r["method"] == "hybrid-0.5":
        return "hybrid, relative scores, alpha 0.5"
    if r["method"] == "rrf":
        return "hybrid, RRF"
    if r["method"] == "hybrid-tuned":
        return f"hybrid, relative scores, alpha {r['alpha']:.1f} (tuned on dev)"
    return r["method"]


def paired_delta(ranks, label, a, b, metric):
    """Mean of (a - b) per query in points, and its 95% normal-approximation interval."""
    ra = ranks.get((label, a))
    rb = ranks.get((label, b))
    if not ra or not rb or len(ra) != len(rb):
        return None

    def value(rank):
        if metric == "mrr@10":
            return 1.0 / rank if rank else 0.0
        k = int(metric.split("@")[1])
        return 1.0 if 1 <= rank <= k else 0.0

    d = [value(x) - value(y) for x, y in zip(ra, rb)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n)
    return 100 * mean, 100 * half


def quality_section(out):
    ev = [r for r in rows(os.path.join(out, "eval.jsonl")) if r["kind"] == "eval"]
    ranks = {}
    for r in rows(os.path.join(out, "ranks.jsonl")):
        ranks.setdefault((r["set"], r["method"]), []).append(r["rank"])
    lines = []
    sets = list(dict.fromkeys(r["set"] for r in ev))
    verdict = []
    for label in sets:
        mine = [r for r in ev if r["set"] == label]
        if not mine:
            continue
        r0 = mine[0]
        lines.append(f"**{label}** ({r0['queries']} test queries; {r0['unreachable']} whose target has no chunk; "
                     f"MMR lambda {r0['mmr_lambda']}, vector_mode {r0['vector_mode']})\n")
        lines.append("| method | recall@1 | recall@5 | recall@10 | MRR@10 | ms/query |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for r in mine:
            lines.append(f"| {method_name(r)} | {pts(r['recall@1'])} | {pts(r['recall@5'])} | {pts(r['recall@10'])} "
                         f"| {pts(r['mrr@10'])} | {r['ms_per_query']:.0f} |")
        lines.append("")
        by = {r["method"]: r for r in mine}
        hybrids = [m for m in by if m not in SINGLE]
        lines.append("Hybrid minus the best single method for each metric, in points (95% interval, paired):\n")
        lines.append("| hybrid | " + " | ".join(METRICS) + " |")
        lines.append("|---|" + "---:|" * len(METRICS))
        for h in hybrids:
            cells = []
            for m in METRICS:
                best = max(SINGLE, key=lambda s: by[s][m])
                d = paired_delta(ranks, label, h, best, m)
                if d is None:
                    diff = 100 * (by[h][m] - by[best][m])
                    cells.append(f"{diff:+.1f} vs {best}")
                else:
                    cells.append(f"{d[0]:+.1f} ±{d[1]:.1f} vs {best}")
                verdict.append((label, h, m, 100 * (by[h][m] - by[best][m])))
            lines.append(f"| {method_name(by[h])} | " + " | ".join(cells) + " |")
        lines.append("")
    # The bar: beats the best single method on at least one set, never more than 1 point below.
    if verdict:
        lines.append("Against the bar (hybrid beats the best single method on at least one set and is never more "
                     "than 1 point below it), per hybrid and metric:\n")
        lines.append("| hybrid | " + " | ".join(METRICS) + " |")
        lines.append("|---|" + "---|" * len(METRICS))
        names = {}
        for r in ev:
            if r["method"] not in SINGLE:
                names.setdefault(r["method"], method_name(r) if r["method"] != "hybrid-tuned"
                                 else "hybrid, alpha tuned on each set's dev split")
        for h in names:
            cells = []
            for m in METRICS:
                ds = [d for (label, hh, mm, d) in verdict if hh == h and mm == m]
                if not ds:
                    cells.append("-")
                    continue
                # Points from counts over 1,000 queries: compare without float noise (-1.0000000001).
                ok = max(ds) > 1e-9 and min(ds) >= -1.0 - 1e-9
                cells.append(f"{'met' if ok else 'missed'} (best {max(ds):+.1f}, worst {min(ds):+.1f})")
            lines.append(f"| {names[h]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def dev_section(out):
    dev = [r for r in rows(os.path.join(out, "dev.jsonl")) if r["kind"] == "eval"]
    if not dev:
        return []
    sets = list(dict.fromkeys(r["set"] for r in dev))
    methods = list(dict.fromkeys(r["method"] for r in dev))
    lines = ["MRR@10 on the dev queries (used only to choose the tuned alpha):\n",
             "| set | " + " | ".join(m.replace("alpha-", "a ") for m in methods) + " |",
             "|---|" + "---:|" * len(methods)]
    for s in sets:
        by = {r["method"]: r for r in dev if r["set"] == s}
        lines.append(f"| {s} | " + " | ".join(pts(by[m]["mrr@10"]) if m in by else "-" for m in methods) + " |")
    lines.append("")
    return lines


def ingest_section(out):
    ing = [r for r in rows(os.path.join(out, "ingest.jsonl")) if r["kind"] == "ingest"]
    if not ing:
        return []
    lines = ["| collection | documents | chunks | seconds | documents/s | chunks/s | embedding share | "
             "database MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in ing:
        lines.append(f"| {r['collection']} | {r['documents']:,} | {r['chunks']:,} | {r['seconds']:.1f} | "
                     f"{r['documents_per_s']:.0f} | {r['chunks_per_s']:.0f} | "
                     f"{100 * r['embed_seconds'] / r['seconds']:.0f} % | {r['db_bytes'] / 2**20:.0f} |")
    lines.append("")
    return lines


def latency_section(out):
    lat = rows(os.path.join(out, "latency.jsonl"))
    modes = [r for r in lat if r["kind"] == "latency"]
    if not modes:
        return []
    r0 = modes[0]
    lines = [f"{r0['chunks']:,} chunks in {r0['documents']:,} documents; {r0['queries']} timed queries per mode "
             f"after {r0['warmup']} warm-up, the modes interleaved query by query.\n",
             "| mode | p50 ms | p95 ms | p99 ms | mean ms | first search ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in modes:
        lines.append(f"| {r['mode']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['mean_ms']:.1f} | {r['first_ms']:.0f} |")
    lines.append("")
    hybrid = next((r for r in modes if r["mode"].startswith("hybrid (")), None)
    if hybrid:
        lines.append("| ratio | p50 | p95 |")
        lines.append("|---|---:|---:|")
        for other in modes:
            if other is hybrid:
                continue
            lines.append(f"| hybrid / {other['mode']} | {hybrid['p50_ms'] / other['p50_ms']:.2f} | "
                         f"{hybrid['p95_ms'] / other['p95_ms']:.2f} |")
        lines.append("")
    labels = list(dict.fromkeys(k for r in modes for k in r.get("by_queries", {})))
    if labels:
        lines.append("By query set (p50 / p95 ms):\n")
        lines.append("| mode | " + " | ".join(labels) + " |")
        lines.append("|---|" + "---:|" * len(labels))
        for r in modes:
            cells = []
            for lab in labels:
                b = r["by_queries"].get(lab, {})
                cells.append(f"{b['p50_ms']:.1f} / {b['p95_ms']:.1f} ({b['queries']})" if b.get("queries") else "-")
            lines.append(f"| {r['mode']} | " + " | ".join(cells) + " |")
        lines.append("")
    comps = [r for r in lat if r["kind"] == "component"]
    if comps:
        lines.append("Where the time goes (each call timed alone, 50 candidates, same queries):\n")
        lines.append("| call | p50 ms | p95 ms |")
        lines.append("|---|---:|---:|")
        for r in comps:
            lines.append(f"| {r['component']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} |")
        lines.append("")
    ann = [r for r in lat if r["kind"] == "ann_recall"]
    if ann:
        lines.append(f"ANN recall@10 against exact search (vector-only search, no MMR, {ann[0]['queries']} queries), "
                     "by search breadth ef:\n")
        lines.append("| ef | recall@10 | search p50 ms | search p95 ms |")
        lines.append("|---:|---:|---:|---:|")
        for r in ann:
            ef = f"{r.get('ef', '?')}" + (" (default)" if r.get("default") else "")
            p50 = f"{r['p50_ms']:.1f}" if "p50_ms" in r else "-"
            p95 = f"{r['p95_ms']:.1f}" if "p95_ms" in r else "-"
            lines.append(f"| {ef} | {r['recall@10']:.3f} | {p50} | {p95} |")
        lines.append("")
    return lines


def summary(out):
    def text(name):
        p = os.path.join(out, name)
        return open(p, encoding="utf-8").read().strip() if os.path.exists(p) else ""

    lines = [f"# Knowledge benchmark: {os.path.basename(out.rstrip('/'))}", "", "```", text("machine.txt"), "```", ""]
    lines += ["## Corpora", "", "```", text("linuxdoc-corpus.txt"), text("gcide-corpus.txt"), "```", ""]
    lines += ["## Ingest (static GloVe embedder, fresh SQLite file each)", ""] + ingest_section(out)
    lines += ["## Query latency (top 10, 50 candidates, MMR 0.7)", ""] + latency_section(out)
    lines += ["## Retrieval quality (test queries)", ""] + quality_section(out) + dev_section(out)
    lines += ["## Load during the run (uptime)", "", "```", text("load.txt"), "```", ""]
    print("\n".join(lines))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "best-alpha":
        best_alpha(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "summary":
        summary(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
