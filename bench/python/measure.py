"""Run one benchmark command, keep the JSON line it prints, add what the parent can see of it.

    python3 bench/python/measure.py --side SIDE --model MODEL --out FILE.jsonl -- CMD [ARGS...]
Appends one JSON object to FILE.jsonl: the command's last stdout line that parses as JSON (its own
figures: samples_per_s, peak_rss_mb, ...), plus side, model, round, the child's peak RSS as the
kernel reports it on exit (peak_rss_mb_external: the largest process of the command's tree that
was waited for, the same measure for Python and Rust) and the command's exit status.  A command
that fails or prints no JSON is recorded with "error" so the table shows it instead of hiding it.
Standard library only.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--round", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command after --")
    t = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec = {}
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            rec = parsed
            break
    if "samples_per_s" not in rec and "samples_per_s_median" in rec:
        # bench.py train_hf: the median step of transformers.Trainer after its warm-up steps.
        rec["samples_per_s"] = rec["samples_per_s_median"]
    rec.update(side=args.side, model=args.model, round=args.round, exit_code=proc.returncode,
               process_wall_s=round(wall, 2), peak_rss_mb_external=round(children.ru_maxrss / 1024.0, 1),
               command=" ".join(cmd))
    if proc.returncode != 0 or "samples_per_s" not in rec:
        rec["error"] = f"exit {proc.returncode}" + ("" if "samples_per_s" in rec else ", no JSON line with samples_per_s")
    with open(args.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    shown = {k: rec.get(k) for k in ("side", "model", "round", "samples_per_s", "median_cpu_s_per_call",
                                      "peak_rss_mb", "peak_rss_mb_external", "loadavg_1m_before", "error")}
    print(json.dumps(shown), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
