#!/usr/bin/env python3
"""Summarizes a bench/run.sh results directory as markdown tables with Hearth/peer ratios."""
import json
import os
import random
import sys

from serving_bench import percentile


def mean_ratio(h, l):
    """llama-server's mean time to first token over Hearth's ('-' for runs that did not record it)."""
    if "ttft_mean_ms" not in h or "ttft_mean_ms" not in l:
        return "-"
    return f"{l['ttft_mean_ms'] / h['ttft_mean_ms']:.2f}"


def p99_interval(h, l, resamples=2000, level=0.90):
    """A bootstrap interval for the p99 ratio (llama-server / Hearth): each server's requests are
    resampled with replacement. With 60-150 requests a p99 rests on the slowest one or two, so a
    ratio's interval says whether a miss is the servers or the luck of the draw."""
    if not h.get("ttft_ms") or not l.get("ttft_ms"):
        return "-"
    rng = random.Random(7)
    hs, ls = h["ttft_ms"], l["ttft_ms"]
    ratios = sorted(percentile(sorted(rng.choices(ls, k=len(ls))), 0.99) /
                    percentile(sorted(rng.choices(hs, k=len(hs))), 0.99) for _ in range(resamples))
    lo = ratios[int((1 - level) / 2 * resamples)]
    hi = ratios[int((1 + level) / 2 * resamples) - 1]
    return f"{lo:.2f}-{hi:.2f}"


def ttft_pairs_table(rows):
    """The paired time-to-first-token rows (serving_bench.py ttft-pairs; 'ttft1' in older results)
    as markdown, one line per burst size: each server's p50 / p99 / mean over all requests,
    llama-server / Hearth ratios with bootstrap intervals that resample whole pairs (so a slow
    moment of the machine stays with both of its bursts), the median of the pairs' own ratios (of
    the bursts' slowest requests) and the share of pairs whose slowest request was Hearth's sooner."""
    paired_rows = [r for r in rows if r.get("test") in ("ttft1", "ttft_pairs")]
    if not paired_rows:
        return
    print("\n| paired | streams | pairs | Hearth TTFT p50 / p99 / mean ms | llama-server p50 / p99 / mean ms | "
          "p50 ratio (90% interval) | p99 ratio (90% interval) | mean ratio (90% interval) | median pair ratio | Hearth first |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    as_bursts = lambda v: [p if isinstance(p, list) else [p] for p in v]
    flat = lambda bursts: [t for b in bursts for t in b]
    for h in paired_rows:
        streams = h.get("streams", 1)
        if h["server"] == "llama-server":
            continue
        l = next((r for r in paired_rows if r["server"] == "llama-server" and r.get("streams", 1) == streams), None)
        if not l:
            continue
        hs, ls = as_bursts(h["ttft_ms_in_order"]), as_bursts(l["ttft_ms_in_order"])
        n = min(len(hs), len(ls))
        rng = random.Random(7)
        stats = {"p50": lambda v: percentile(sorted(v), 0.50), "p99": lambda v: percentile(sorted(v), 0.99),
                 "mean": lambda v: sum(v) / len(v)}
        cells = []
        for f in stats.values():
            point = f(flat(ls[:n])) / f(flat(hs[:n]))
            boot = []
            for _ in range(2000):
                idx = [rng.randrange(n) for _ in range(n)]
                boot.append(f(flat(ls[i] for i in idx)) / f(flat(hs[i] for i in idx)))
            boot.sort()
            cells.append(f"{point:.3f} ({boot[100]:.3f}-{boot[1899]:.3f})")
        pair_ratios = sorted(max(ls[i]) / max(hs[i]) for i in range(n))
        first = sum(max(hs[i]) < max(ls[i]) for i in range(n)) / n
        fmt3 = lambda v: " / ".join(f"{f(flat(v[:n])):.0f}" for f in stats.values())
        print(f"| {h['server']} | {streams} | {n} | {fmt3(hs)} | {fmt3(ls)} | {' | '.join(cells)} | "
              f"{percentile(pair_ratios, 0.5):.3f} | {first:.0%} |")
    print("\n(Ratios are llama-server / Hearth: above 1 means Hearth answers sooner. Each pair sends one burst of "
          "new prompts to both servers, back to back, alternating which goes first; intervals resample whole pairs.)")


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def find(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def one(rows, **kw):
    """The row matching kw; when a measurement was repeated, its numbers are the medians."""
    m = find(rows, **kw)
    if not m:
        return None
    if len(m) == 1:
        return m[0]
    out = dict(m[0])
    for k, v in m[0].items():
        if isinstance(v, float):
            vals = sorted(r[k] for r in m)
            out[k] = vals[len(vals) // 2]
    out["repeats"] = len(m)
    return out


def paired(rows, server):
    """Median, lowest and highest of server's decode rate over llama-bench's tg (flash attention
    auto) measured next to it (rows with the same 'pair'), and the number of pairs; None without."""
    bench = {r["pair"]: r["avg_ts"] for r in find(rows, server="llama-bench-fa", test="tg") if "pair" in r}
    ratios = sorted(r["decode_tok_s_median"] / bench[r["pair"]]
                    for r in find(rows, server=server, test="single") if r.get("pair") in bench)
    if not ratios:
        return None
    n = len(ratios)
    median = ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] + ratios[n // 2]) / 2
    return median, ratios[0], ratios[-1], n


def main():
    d = sys.argv[1]
    for name in sorted(os.listdir(d)):
        if not name.endswith(".jsonl"):
            continue
        rows = load(os.path.join(d, name))
        qt = name[:-6].upper()
        print(f"\n### Qwen2-0.5B shape, {qt}\n")
        tg = one(rows, server="llama-bench", test="tg")
        tgf = one(rows, server="llama-bench-fa", test="tg")
        pp = one(rows, server="llama-bench", test="pp")
        ppf = one(rows, server="llama-bench-fa", test="pp")
        hs = one(rows, server="hearth", test="single")
        hf = one(rows, server="hearth-invariant", test="single")
        ls = one(rows, server="llama-server", test="single")
        rate = lambda r: r["decode_tok_s_median"] if r else None
        fmt_ = lambda v: f"{v:.1f}" if v else "-"
        ratio = lambda a, b: f"{a / b:.3f}" if a and b else "-"
        if hs or tgf:  # not in a --ttft-only or --concurrency-only run
            print("| single-stream decode tok/s | llama-bench tg128 | Hearth | Hearth / llama-bench | llama-server | Hearth / llama-server |")
            print("|---|---:|---:|---:|---:|---:|")
            a, l = tgf and tgf["avg_ts"], rate(ls)
            h = rate(hs)
            print(f"| Hearth defaults (flash attention auto, llama.cpp's fast kernels) | {fmt_(a)} | {fmt_(h)} | {ratio(h, a)} | {fmt_(l)} | {ratio(h, l)} |")
            h = rate(hf)
            if h:
                print(f"| Hearth --batch-invariant (reference kernels, weights not repacked) | {fmt_(a)} | {fmt_(h)} | {ratio(h, a)} | {fmt_(l)} | {ratio(h, l)} |")
            for name, label in (("hearth", "Hearth defaults"), ("hearth-invariant", "Hearth --batch-invariant"),
                                ("llama-server", "llama-server")):
                p = paired(rows, name)
                if p:
                    print(f"\n{label} / llama-bench tg128, median of {p[3]} pairs measured side by side (ABBA order): "
                          f"**{p[0]:.3f}** (lowest {p[1]:.3f}, highest {p[2]:.3f}).")
            if tg:
                print(f"\nllama-bench tg128 with flash attention off, for reference: {fmt_(tg['avg_ts'])} tok/s.")
            if pp or ppf:
                print(f"\nllama-bench prefill pp256, for reference: {fmt_(pp and pp['avg_ts'])} tok/s (fa off), "
                      f"{fmt_(ppf and ppf['avg_ts'])} tok/s (fa auto). Medians of {(pp or ppf).get('repeats', 1)} trials.")

        ttft_pairs_table(rows)
        if not find(rows, test="concurrency"):
            continue  # a --decode-only or --ttft-only run
        print("\n| streams | Hearth agg tok/s | llama-server agg tok/s | ratio | Hearth TTFT p50 / p99 ms | llama-server TTFT p50 / p99 ms | requests | p50 ratio | p99 ratio | p99 ratio, 90% interval | mean TTFT ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for h in find(rows, server="hearth", test="concurrency") + find(rows, server="hearth-invariant", test="concurrency"):
            l = one(rows, server="llama-server", test="concurrency", streams=h["streams"])
            if not l:
                continue
            label = f"{h['streams']}" + (" (Hearth --batch-invariant)" if h["server"] == "hearth-invariant" else "")
            print(f"| {label} | {h['aggregate_tok_s']:.1f} | {l['aggregate_tok_s']:.1f} | "
                  f"{h['aggregate_tok_s'] / l['aggregate_tok_s']:.2f} | {h['ttft_p50_ms']:.0f} / {h['ttft_p99_ms']:.0f} | "
                  f"{l['ttft_p50_ms']:.0f} / {l['ttft_p99_ms']:.0f} | {len(h.get('ttft_ms', []))} | "
                  f"{l['ttft_p50_ms'] / h['ttft_p50_ms']:.2f} | "
                  f"{l['ttft_p99_ms'] / h['ttft_p99_ms']:.2f} | {p99_interval(h, l)} | {mean_ratio(h, l)} |")
        print("\n(Aggregate ratio is Hearth / llama-server; TTFT ratios are llama-server / Hearth: above 1 means "
              "Hearth answers sooner. Percentiles interpolate between the closest ranks, over all the level's "
              "requests (streams x rounds). The p99 interval is a bootstrap over each server's requests: where it "
              "spans 1, the run cannot tell the two tails apart. llama-server runs with its default flash "
              "attention, auto = on.)")

        if not find(rows, test="prefix"):
            continue  # a --concurrency-only run
        print("\n| shared 2,000-token prefix | cold TTFT ms | warm TTFT ms | speed-up |")
        print("|---|---:|---:|---:|")
        for s in ("hearth", "hearth-invariant", "llama-server"):
            p = one(rows, server=s, test="prefix")
            if p:
                print(f"| {s} | {p['cold_ttft_ms']:.0f} | {p['warm_ttft_ms']:.0f} | {p['speedup']:.1f}x |")

        if find(rows, test="shared_burst"):
            print("\n| burst sharing a new system prompt: streams | Hearth TTFT p50 / p99 ms | llama-server TTFT p50 / p99 ms | p50 ratio | p99 ratio |")
            print("|---:|---:|---:|---:|---:|")
            for h in find(rows, server="hearth", test="shared_burst"):
                l = one(rows, server="llama-server", test="shared_burst", streams=h["streams"])
                if l:
                    print(f"| {h['streams']} | {h['ttft_p50_ms']:.0f} / {h['ttft_p99_ms']:.0f} | "
                          f"{l['ttft_p50_ms']:.0f} / {l['ttft_p99_ms']:.0f} | {l['ttft_p50_ms'] / h['ttft_p50_ms']:.2f} | "
                          f"{l['ttft_p99_ms'] / h['ttft_p99_ms']:.2f} |")
            b = find(rows, server="hearth", test="shared_burst")[0]
            print(f"\n(Each stream's prompt: a {b['shared_words']}-word block that is new in every round and the "
                  f"same for the round's streams, then its own question; {b['rounds']} rounds per level.)")

        print("\n| memory | RSS MiB | file-backed (weights mmap) MiB | anonymous MiB | weights MiB | KV cache MiB | beyond weights + KV MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for s in ("hearth", "hearth-invariant", "llama-server"):
            m = one(rows, server=s, test="memory")
            if m:
                print(f"| {s} | {m['rss_mb']:.0f} | {fmt_(m.get('file_mb'))} | {fmt_(m.get('anon_mb'))} | "
                      f"{m.get('weights_mb', 0):.0f} | {m.get('kv_mb', 0):.0f} | "
                      f"{m['rss_mb'] - m.get('weights_mb', 0) - m.get('kv_mb', 0):.0f} |")

if __name__ == "__main__":
    main()
