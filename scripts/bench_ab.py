#!/usr/bin/env python3
"""Compare two `shmkit` binaries' `shmkit bench` figures, interleaved (A B A B ...).

Usage: scripts/bench_ab.py OLD_BINARY NEW_BINARY [--pairs N] [-- BENCH_ARGS...]
  e.g. scripts/bench_ab.py /tmp/shmkit-old target/release/shmkit --pairs 5 -- --only spsc_poll --sizes 64,4K

Each run of `shmkit bench --json` measures every row against spin_limit in that same run
(`ratio_to_limit`, or for throughput rows `ratio_to_memcpy`), so the machine's drift between runs
cancels out of those ratios. The two binaries run alternately, OLD first in even pairs and NEW
first in odd pairs; for each row this prints the median over the runs of each binary's ratio and
the median over the pairs of new/old. A new/old below 1 means the new binary is faster (for
latency rows) and, for throughput rows, slower; the column says which.
"""

import json
import statistics
import subprocess
import sys


def run(binary, args):
    out = subprocess.run([binary, "bench", "--json", *args], check=True, capture_output=True, text=True).stdout
    rows = {}
    for r in json.loads(out)["results"]:
        key = f'{r["name"]} {r.get("payload", "")} {r.get("size", "")}'.strip()
        if "ratio_to_limit" in r:
            rows[key] = ("latency/limit", r["ratio_to_limit"])
        for k, v in r.items():
            if k.startswith("ratio_to_") and k != "ratio_to_limit":
                rows[key] = (k.replace("ratio_to_", "throughput/"), v)
    return rows


def main(argv):
    if "--" in argv:
        i = argv.index("--")
        argv, bench_args = argv[:i], argv[i + 1:]
    else:
        bench_args = []
    pairs = 5
    if "--pairs" in argv:
        i = argv.index("--pairs")
        pairs = int(argv[i + 1])
        del argv[i:i + 2]
    old, new = argv
    olds, news = [], []
    for p in range(pairs):
        order = [(old, olds), (new, news)] if p % 2 == 0 else [(new, news), (old, olds)]
        for binary, acc in order:
            acc.append(run(binary, bench_args))
        print(f"pair {p + 1}/{pairs} done", file=sys.stderr)
    keys = [k for k in olds[0] if all(k in r for r in olds + news)]
    print(f"{'row':42} {'kind':18} {'old':>8} {'new':>8} {'new/old':>8}")
    for k in keys:
        kind = olds[0][k][0]
        o = statistics.median(r[k][1] for r in olds)
        n = statistics.median(r[k][1] for r in news)
        rr = statistics.median(nr[k][1] / orr[k][1] for orr, nr in zip(olds, news) if orr[k][1])
        print(f"{k:42} {kind:18} {o:8.3f} {n:8.3f} {rr:8.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
