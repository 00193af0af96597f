"""Table of medians over the rounds in a bench/chronos.sh JSONL file.

    python3 bench/python/summarize.py FILE.jsonl
One row per model and side: rounds that succeeded, median samples/s (64 / median seconds per
predict call), best samples/s (64 / the fastest single call of any round: the least disturbed
figure on a shared machine; needs min_call_s), median CPU seconds per call (when the side reports it), median peak RSS as the
side reports it and as the parent saw it, and the median 1-minute load average before the timed
calls (the machine is shared: a high load inflates wall times).  Standard library only.
"""
import json
import statistics
import sys


def med(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["side"]), []).append(r)
    header = ["model", "side", "ok/rounds", "samples/s", "best samples/s", "cpu s/call", "peak RSS MB", "peak RSS MB (ext)", "load 1m"]
    table = [header]
    for (model, side), rs in sorted(groups.items()):
        ok = [r for r in rs if "error" not in r]
        fastest = [r["min_call_s"] for r in ok if isinstance(r.get("min_call_s"), (int, float))]
        best = 64.0 / min(fastest) if fastest else None
        table.append([model, side, f"{len(ok)}/{len(rs)}", fmt(med(ok, "samples_per_s"), 2), fmt(best, 2),
                      fmt(med(ok, "median_cpu_s_per_call"), 3), fmt(med(ok, "peak_rss_mb")),
                      fmt(med(ok, "peak_rss_mb_external")), fmt(med(ok, "loadavg_1m_before"), 2)])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for (model, side), rs in sorted(groups.items()):
        for r in rs:
            if "error" in r:
                print(f"note: {model} {side} round {r.get('round')}: {r['error']}")


if __name__ == "__main__":
    main()
