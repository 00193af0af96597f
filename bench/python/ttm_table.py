"""The BENCHMARKS.md table of a bench/ttm.sh run: medians over rounds and ratios to PyTorch.

    python3 bench/python/ttm_table.py FILE.jsonl
One row per workload (train, infer) and side: rounds that succeeded, median samples/s, its
range, median peak RSS (as the parent saw the process: the same measure for both sides) and the
ratio of the median to PyTorch's median for that workload (training: also to the median step of
the same model through HF `Trainer`, side `pytorch-hf-trainer`). Standard library only.
"""
import json
import statistics
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["side"]), []).append(r)
    print("| workload | side | threads | rounds ok | samples/s (median) | range | peak RSS MB | vs PyTorch "
          "| vs HF Trainer |")
    print("|---|---|---|---|---|---|---|---|---|")
    for workload in ("train", "infer"):
        base = groups.get((workload, "pytorch"), [])
        base_ok = [r["samples_per_s"] for r in base if "error" not in r]
        base_med = statistics.median(base_ok) if base_ok else None
        hf = [r["samples_per_s"] for r in groups.get((workload, "pytorch-hf-trainer"), []) if "error" not in r]
        hf_med = statistics.median(hf) if hf else None
        for (w, side), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "train", kv[0][1] != "pytorch", kv[0][1])):
            if w != workload:
                continue
            ok = [r for r in rs if "error" not in r]
            sps = [r["samples_per_s"] for r in ok]
            if not sps:
                print(f"| {w} | {side} | - | 0/{len(rs)} | - | - | - | - | - |")
                continue
            med = statistics.median(sps)
            rss = statistics.median(r.get("peak_rss_mb_external", 0) for r in ok)
            threads = ok[0].get("threads", "-")
            ratio = "-" if side == "pytorch" or not base_med else f"**{med / base_med:.2f}x**"
            hf_ratio = "-" if not side.startswith("tsfm") or not hf_med else f"**{med / hf_med:.2f}x**"
            print(f"| {w} | {side} | {threads} | {len(ok)}/{len(rs)} | {med:,.0f} | {min(sps):,.0f}-{max(sps):,.0f} "
                  f"| {rss:,.0f} | {ratio} | {hf_ratio} |")


if __name__ == "__main__":
    main()
