#!/usr/bin/env python3
"""Summarizes a bench/run.sh results directory as markdown tables with Hearth/peer ratios."""
import json
import os
import sys


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


def main():
    d = sys.argv[1]
    for name in sorted(os.listdir(d)):
        if not name.endswith(".jsonl"):
            continue
        rows = load(os.path.join(d, name))
        qt = name[:-6].upper()
        print(f"\n### Qwen2-0.5B shape, {qt}\n")
        tg = one(rows, server="llama-bench", test="tg")
        pp = one(rows, server="llama-bench", test="pp")
        hs = one(rows, server="hearth", test="single")
        ls = one(rows, server="llama-server", test="single")
        print("| single stream | tokens/s | Hearth ratio |")
        print("|---|---:|---:|")
        if tg and hs:
            print(f"| llama-bench tg{tg['n']} (median of {tg.get('repeats', 1)}) | {tg['avg_ts']:.1f} | {hs['decode_tok_s_median'] / tg['avg_ts']:.3f} |")
        if ls and hs:
            print(f"| llama-server decode | {ls['decode_tok_s_median']:.1f} | {hs['decode_tok_s_median'] / ls['decode_tok_s_median']:.3f} |")
        if hs:
            print(f"| **Hearth** decode | {hs['decode_tok_s_median']:.1f} | 1 |")
        hf = one(rows, server="hearth-fa", test="single")
        if hf and tg:
            print(f"| Hearth, flash attention on | {hf['decode_tok_s_median']:.1f} | {hf['decode_tok_s_median'] / tg['avg_ts']:.3f} vs llama-bench |")
        if pp:
            print(f"| llama-bench pp{pp['n']} (prefill, for reference) | {pp['avg_ts']:.1f} | |")

        print("\n| streams | Hearth agg tok/s | llama-server agg tok/s | ratio | Hearth TTFT p50 / p99 ms | llama-server TTFT p50 / p99 ms | p50 ratio | p99 ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for h in find(rows, server="hearth", test="concurrency") + find(rows, server="hearth-fa", test="concurrency"):
            l = one(rows, server="llama-server", test="concurrency", streams=h["streams"])
            if not l:
                continue
            label = f"{h['streams']}" + (" (fa)" if h["server"] == "hearth-fa" else "")
            print(f"| {label} | {h['aggregate_tok_s']:.1f} | {l['aggregate_tok_s']:.1f} | "
                  f"{h['aggregate_tok_s'] / l['aggregate_tok_s']:.2f} | {h['ttft_p50_ms']:.0f} / {h['ttft_p99_ms']:.0f} | "
                  f"{l['ttft_p50_ms']:.0f} / {l['ttft_p99_ms']:.0f} | {l['ttft_p50_ms'] / h['ttft_p50_ms']:.2f} | "
                  f"{l['ttft_p99_ms'] / h['ttft_p99_ms']:.2f} |")
        print("\n(TTFT ratios are llama-server / Hearth: above 1 means Hearth answers sooner.)")

        print("\n| shared 2,000-token prefix | cold TTFT ms | warm TTFT ms | speed-up |")
        print("|---|---:|---:|---:|")
        for s in ("hearth", "hearth-fa", "llama-server"):
            p = one(rows, server=s, test="prefix")
            if p:
                print(f"| {s} | {p['cold_ttft_ms']:.0f} | {p['warm_ttft_ms']:.0f} | {p['speedup']:.1f}x |")

        print("\n| memory | RSS MiB | weights MiB | KV cache MiB | beyond weights + KV MiB |")
        print("|---|---:|---:|---:|---:|")
        for s in ("hearth", "hearth-fa", "llama-server"):
            m = one(rows, server=s, test="memory")
            if m:
                print(f"| {s} | {m['rss_mb']:.0f} | {m.get('weights_mb', 0):.0f} | {m.get('kv_mb', 0):.0f} | "
                      f"{m['rss_mb'] - m.get('weights_mb', 0) - m.get('kv_mb', 0):.0f} |")


if __name__ == "__main__":
    main()
