"""Where every performance target stands, from one bench/all.sh run: the BENCHMARKS.md table.

    python3 bench/python/standing.py DIR
DIR holds the run's JSONL files (ttm, predict, cold_start, train_e2e, train_e2e_r2, chronos,
timesfm, chronos2; each written by that family's bench script) and machine.txt. One row per target of
the performance issue: the official side's median and tsfm's over the rounds, their ratio, the
target and whether the medians meet it. Rows whose measurements failed or are missing say so.
Standard library only.
"""
import json
import os
import statistics
import sys


def load(d, name):
    path = os.path.join(d, f"{name}.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def med(rows, key, **match):
    vals = [r[key] for r in rows
            if "error" not in r and all(r.get(k) == v for k, v in match.items())
            and isinstance(r.get(key), (int, float))]
    return (statistics.median(vals), len(vals)) if vals else (None, 0)


def num(v, unit=""):
    if v is None:
        return "-"
    text = f"{v:,.0f}" if v >= 100 else f"{v:,.2f}" if v >= 1 else f"{v:.3f}"
    return text + unit


class Table:
    def __init__(self):
        self.lines = ["| workload | official (median) | tsfm (median) | ratio | target | met | "
                      "peak RSS MB (official / tsfm) | rounds |", "|---|---|---|---|---|---|---|---|"]

    def ratio(self, what, official, tsfm, target, rss=(None, None), unit=" samples/s",
              invert=False, info=False):
        """`tsfm / official` (`official / tsfm` when `invert`: times, where less is better)."""
        (o, on), (t, tn) = official, tsfm
        if o and t:
            r = o / t if invert else t / o
            ratio = f"**{r:.2f}x**"
            met = "-" if info else ("yes" if r >= target else f"no ({r / target - 1:+.0%})")
        else:
            ratio, met = "-", "missing"
        goal = "-" if info else f">= {target:g}x"
        self.add(what, num(o, unit), num(t, unit), ratio, goal, met, rss, f"{on} / {tn}")

    def add(self, what, official, tsfm, ratio, target, met, rss, rounds):
        mb = lambda v: "-" if v is None else f"{v:,.0f}"
        rss_text = f"{mb(rss[0])} / {mb(rss[1])}"
        self.lines.append(f"| {what} | {official} | {tsfm} | {ratio} | {target} | {met} | {rss_text} | {rounds} |")


def e2e(rows):
    """Whole-process samples/s of `tsfm train` / HF Trainer rows (steps x batch / wall)."""
    for r in rows:
        if "error" not in r and r.get("steps") and r.get("process_wall_s"):
            r["e2e_samples_per_s"] = r["steps"] * r["batch"] / r["process_wall_s"]
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    t = Table()
    ttm = load(d, "ttm")
    rss = lambda rows, **m: med(rows, "peak_rss_mb_external", **m)[0]
    sps = lambda rows, **m: med(rows, "samples_per_s", **m)
    py_rss, ts_rss = rss(ttm, model="train", side="pytorch"), rss(ttm, model="train", side="tsfm-2-shards")
    t.ratio("TTM-r2 512-96 training, batch 64: plain loop (tsfm 2 shards)", sps(ttm, model="train", side="pytorch"),
            sps(ttm, model="train", side="tsfm-2-shards"), 2, (py_rss, ts_rss))
    t.ratio("same, against HF `Trainer`'s step", sps(ttm, model="train", side="pytorch-hf-trainer"),
            sps(ttm, model="train", side="tsfm-2-shards"), 2)
    t.ratio("same, tsfm on 1 shard (one core)", sps(ttm, model="train", side="pytorch"),
            sps(ttm, model="train", side="tsfm"), 2, info=True)
    if py_rss and ts_rss:
        share = ts_rss / py_rss
        t.add("Peak RSS of TTM-r2 training (tsfm 2 shards)", num(py_rss, " MB"), num(ts_rss, " MB"),
              f"**{share:.2f}**", "<= 0.25", "yes" if share <= 0.25 else "no", (py_rss, ts_rss), "-")
    t.ratio("TTM-r2 inference, batch 64 (tsfm rows on 2 threads)", sps(ttm, model="infer", side="pytorch"),
            sps(ttm, model="infer", side="tsfm-2-threads"), 2,
            (rss(ttm, model="infer", side="pytorch"), rss(ttm, model="infer", side="tsfm-2-threads")))

    pred = load(d, "predict")
    wall = lambda rows, **m: med(rows, "process_wall_s", **m)
    t.ratio("`tsfm predict`, 2,048 series of 512 end to end (wall s)", wall(pred, side="python"),
            wall(pred, side="tsfm"), 10, (rss(pred, side="python"), rss(pred, side="tsfm")),
            unit=" s", invert=True)
    cold = load(d, "cold_start")
    (py_cold, pn), (ts_cold, tn) = wall(cold, side="python"), wall(cold, side="tsfm")
    t.add("Cold start: one series through `predict` (process wall)", num(py_cold, " s"), num(ts_cold, " s"),
          f"**{py_cold / ts_cold:.0f}x**" if py_cold and ts_cold else "-", "tsfm < 0.1 s",
          "missing" if ts_cold is None else ("yes" if ts_cold < 0.1 else "no"),
          (rss(cold, side="python"), rss(cold, side="tsfm")), f"{pn} / {tn}")

    demo = e2e(load(d, "train_e2e"))
    demo_rss = (rss(demo, side="hf-trainer"), rss(demo, side="tsfm"))
    t.ratio("`tsfm train` of the demo, end to end vs HF `Trainer`", med(demo, "e2e_samples_per_s", side="hf-trainer"),
            med(demo, "e2e_samples_per_s", side="tsfm"), 2, demo_rss)
    t.ratio("same, the training loops", sps(demo, side="hf-trainer"), sps(demo, side="tsfm"), 2)
    r2 = e2e(load(d, "train_e2e_r2"))
    t.ratio("`tsfm train` of TTM-r2 512-96 on the demo's glucose, end to end vs HF `Trainer`",
            med(r2, "e2e_samples_per_s", side="hf-trainer"), med(r2, "e2e_samples_per_s", side="tsfm"), 2,
            (rss(r2, side="hf-trainer"), rss(r2, side="tsfm")))
    t.ratio("same, the training loops", sps(r2, side="hf-trainer"), sps(r2, side="tsfm"), 2)

    families = [
        ("chronos", "t5-tiny", "Chronos-T5-tiny, 20 sample paths", 10),
        ("chronos", "bolt-small", "Chronos-Bolt-small", 2),
        ("chronos", "bolt-tiny", "Chronos-Bolt-tiny", 2),
        ("timesfm", "timesfm", "TimesFM 2.5 200M (`forecast`, flip pass)", 2),
        ("timesfm", "timesfm-raw", "TimesFM 2.5 200M, one decode", 2),
        ("chronos2", "chronos2", "Chronos-2 120M, univariate", 2),
        ("chronos2", "chronos2-cov", "Chronos-2 120M, 2 covariates", 2),
    ]
    for family, model, what, target in families:
        rows = load(d, family)
        t.ratio(f"{what}, batch 64", sps(rows, model=model, side="python"), sps(rows, model=model, side="rust"),
                target, (rss(rows, model=model, side="python"), rss(rows, model=model, side="rust")))
        if model == "t5-tiny":
            t5_rss = rss(rows, model=model, side="rust")
            t.add("Chronos-T5-tiny sampling, tsfm's peak RSS", "-", num(t5_rss, " MB"), "-", "< 1,000 MB",
                  "missing" if t5_rss is None else ("yes" if t5_rss < 1000 else "no"), (None, t5_rss), "-")

    machine = os.path.join(d, "machine.txt")
    if os.path.exists(machine):
        print(open(machine).read().rstrip() + "\n")
    print("\n".join(t.lines))


if __name__ == "__main__":
    main()
