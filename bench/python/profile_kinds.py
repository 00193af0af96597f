"""Where a process's time goes, by kind of work: a flat `perf report` grouped by symbol.

    perf report -i perf.data --no-children --sort dso,symbol --stdio -g none | \
        python3 bench/python/profile_kinds.py [TITLE]
Prints one markdown line per kind (share of the samples, largest first) and the five hottest
symbols. The kinds are read off the symbol names (first rule that matches wins), so they are
the leaf functions' kinds: GEMM is the micro-kernels and gemm's packing, "owned kernels" is
tsfm's own SIMD kernels where their symbols survive (most are inlined into pulp's dispatch
function and count under pulp), and so on. Standard library only.
"""
import re
import sys

KINDS = [
    ("GEMM packing", lambda s, d: "gemm" in s and "pack" in s),
    ("GEMM micro-kernels", lambda s, d: s.startswith("gemm") or "gemm_f32" in s or "gemm_common" in s),
    ("owned kernels (norms, softmax, GELU, RoPE)", lambda s, d: "tsfm_models::kernels" in s),
    ("Chronos sampling", lambda s, d: "chronos::sampling" in s),
    ("autodiff graph", lambda s, d: "burn_autodiff" in s),
    ("layout copies", lambda s, d: "copy_2d" in s or "memmove" in s or "memcpy" in s or "contiguous" in s),
    # tsfm's kernels run inside pulp's dispatch (their loops inlined into `vectorize::imp`);
    # gemm's small products do too.
    ("SIMD loops dispatched by pulp (tsfm kernels, gemm's small products)", lambda s, d: s.startswith("pulp::")),
    ("element-wise ops (Burn)", lambda s, d: "burn_flex" in s or "burn_backend" in s),
    ("math library (exp, ...)", lambda s, d: "libm" in d or s.startswith(("exp", "__exp", "log", "__log", "tanh"))),
    ("allocation and zeroing", lambda s, d: s.startswith(("mi_", "_mi_", "__memset")) or "malloc" in s or "free" in s),
    ("kernel (page faults, syscalls)", lambda s, d: d == "[kernel.kallsyms]"),
    ("data, CSV, config (tsfm)", lambda s, d: any(k in s for k in ("tsfm_data", "tsfm_io", "csv", "tsfm_config", "serde"))),
    ("loading checkpoints", lambda s, d: "safetensors" in s or "checkpoint" in s),
    ("other", lambda s, d: True),
]


def main():
    title = sys.argv[1] if len(sys.argv) > 1 else "profile"
    shares, top = {}, []
    for line in sys.stdin:
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*?)\s*$", line)
        if not m:
            continue
        pct, dso = float(m.group(1)), m.group(2)
        sym = re.sub(r"\s+-\s+-$", "", m.group(3)).strip()  # the empty IPC columns
        kind = next(name for name, rule in KINDS if rule(sym, dso))
        shares[kind] = shares.get(kind, 0.0) + pct
        top.append((pct, sym[:70]))
    kinds = ", ".join(f"{k} {v:.1f} %" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.5)
    hottest = "; ".join(f"`{s}` {p:.1f} %" for p, s in sorted(top, reverse=True)[:5])
    print(f"- **{title}**: {kinds}. Hottest symbols: {hottest}.")


if __name__ == "__main__":
    main()
