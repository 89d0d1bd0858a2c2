"""Per-round time to first token of bursts: N streams released together, round by round, on every
target interleaved, printing each round's sorted TTFTs (so the last user of every burst shows) and
p50 / p99 / per-round maxima per level. Warms every target with a 4- and a 16-stream burst first
(the first large batch after start pays one-off allocation costs).

  python3 bench/burst_rounds.py 4,8,16 4 hearth=http://127.0.0.1:8080 llama-server=http://127.0.0.1:8081
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serving_bench as sb  # noqa: E402

if len(sys.argv) < 4 or any('=' not in a for a in sys.argv[3:]):
    sys.exit(__doc__)
targets = [a.split('=', 1) for a in sys.argv[3:]]
levels = [int(x) for x in sys.argv[1].split(',')]; rounds = int(sys.argv[2])
args = argparse.Namespace(prompt_words=32, max_tokens=64)
for name, url in targets:
    sb.stream_completion(url, sb.body_for(f"{sb.SALT} warm up " + sb.text_of(8, 999), 8))
    sb.one_round(url, 4, f"warm {time.time()}", args)
    sb.one_round(url, 16, f"warm {time.time()}", args)
RUN = time.time()
for n in levels:
    res = {name: [] for name,_ in targets}
    for r in range(rounds):
        for name, url in targets:
            out = sb.one_round(url, n, f"burst {n} round {r} {RUN}", args)
            t0 = min(o['t_start'] for o in out)
            starts = sorted(round((o['t_start']-t0)*1000,1) for o in out)
            ttft = sorted(round((o['t_first']-o['t_start'])*1000) for o in out)
            print(name, r, 'arrive-spread', starts[-1], 'ttft', ttft, flush=True)
            res[name].append(ttft)
    for name in res:
        allt = sorted(x for t in res[name] for x in t)
        print(name, 'p50', sb.percentile(allt, .5), 'p99', round(sb.percentile(allt, .99)), 'max-per-round', [max(t) for t in res[name]])
    