"""Explanation-speed and training-throughput tables from one pytest-benchmark run.

Usage::

    python benchmarks/report.py                      # run the benchmarks, print the tables
    python benchmarks/report.py --markdown           # ... as markdown (for the README)
    python benchmarks/report.py --json run.json      # tables from a saved --benchmark-json
    python benchmarks/report.py --save-json run.json # run, keep the JSON, print the tables
    python benchmarks/report.py -- -k shallow        # arguments after -- go to pytest

Every explainer's median time is divided by the median time of the ``baseline``
(forward+backward) benchmark of the same architecture *in the same run* (the same JSON);
with no baseline in the run its ratio is left blank. "Paired ratio" is the median (and
quartiles) over rounds of explanation time / the baseline pass run just before it, which
load changes on a shared machine disturb less. Training throughput is sequences per second:
the epoch's sequence count over the median epoch time. Stacked training's speed-up is the
median time of training K models one by one over that of one stacked call (same run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: The default goal: an explanation costs at most this many forward+backward passes (a
#: benchmark may set its own, ``goal`` in ``extra_info``).
GOAL = 2.0
BASELINE = "baseline"


def run_benchmarks(json_path: Path, pytest_args: list[str], device: str = "cpu") -> int:
    """Run ``pytest benchmarks --benchmark-only`` writing ``json_path`` (with ``device``
    ``cuda``: the GPU benchmarks only); pytest's output goes to stderr so that stdout holds
    only the tables."""
    target = BENCH_DIR / "test_cuda_speed.py" if device == "cuda" else BENCH_DIR
    cmd = [sys.executable, "-m", "pytest", str(target), "--benchmark-only",
           f"--benchmark-json={json_path}", "-q", *pytest_args]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr, check=False).returncode


def _info(bench: dict[str, Any]) -> dict[str, Any]:
    return bench.get("extra_info") or {}


def explain_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per explanation benchmark: architecture, method, median/IQR (ms), the ratio
    of its median to the same run's baseline median (``ratio``) and the paired per-round
    ratio's quartiles ``(q1, median, q3)`` recorded by the benchmark (``paired``)."""
    benches = [b for b in data.get("benchmarks", []) if _info(b).get("kind") == "explain"]
    baseline = {_info(b)["architecture"]: b["stats"] for b in benches
                if _info(b).get("explainer") == BASELINE}
    archs = list(dict.fromkeys(_info(b)["architecture"] for b in benches))
    methods = list(dict.fromkeys(_info(b)["explainer"] for b in benches))
    if BASELINE in methods:
        methods.remove(BASELINE)
        methods.insert(0, BASELINE)
    rows = []
    for arch in archs:
        for method in methods:
            for b in benches:
                info = _info(b)
                if info["architecture"] != arch or info["explainer"] != method:
                    continue
                stats = b["stats"]
                base = baseline.get(arch)
                rows.append({
                    "architecture": arch,
                    "method": method,
                    "median_ms": stats["median"] * 1e3,
                    "iqr_ms": stats["iqr"] * 1e3,
                    "rounds": stats["rounds"],
                    "ratio": stats["median"] / base["median"] if base else None,
                    "goal": info.get("goal", GOAL),
                    "paired": (1.0, 1.0, 1.0) if method == BASELINE else (
                        (info["paired_ratio_q1"], info["paired_ratio"], info["paired_ratio_q3"])
                        if "paired_ratio" in info else None),
                })
    return rows


def train_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per training benchmark: median epoch time and sequences per second."""
    rows = []
    for b in data.get("benchmarks", []):
        info = _info(b)
        if info.get("kind") != "train":
            continue
        stats = b["stats"]
        n = info["n_sequences"]
        rows.append({
            "architecture": info["architecture"],
            "n_sequences": n,
            "batch_size": info["batch_size"],
            "median_s": stats["median"],
            "seq_per_s": n / stats["median"],
            "best_seq_per_s": n / stats["min"],
            "rounds": stats["rounds"],
        })
    return rows


def cached_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per cached-run benchmark: the first run, the cached rerun and their ratio."""
    rows = []
    for b in data.get("benchmarks", []):
        info = _info(b)
        if info.get("kind") == "cached_run":
            rows.append({"run": f"{info['suite']} suite, {info['profile']} profile, "
                                f"{info['workers']} workers",
                         "first_s": info["first_seconds"], "cached_s": b["stats"]["median"],
                         "ratio": b["stats"]["median"] / info["first_seconds"],
                         "writing_s": (info.get("cached_timings") or {}).get("write_results")})
    return rows


def stacked_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per stacked-training benchmark: one-by-one and stacked medians, speed-up."""
    rows = []
    for b in data.get("benchmarks", []):
        info = _info(b)
        if info.get("kind") == "stacked_train":
            rows.append({key: info[key] for key in (
                "architecture", "K", "sequences", "one_by_one_seconds", "stacked_seconds",
                "ratio", "paired_ratio", "max_param_diff")})
    return rows


def _paired_reference(row: dict[str, Any]) -> str:
    """The paired ratio with its range (runs before pairing have none: blank)."""
    if "ratio_min" not in row:
        return ""
    return f"{row['ratio']:.0f}x [{row['ratio_min']:.0f}-{row['ratio_max']:.0f}x]"


def reference_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """explain against the NumPy LRP (test_reference_speed.py): per-sentence times."""
    return [_info(b) for b in data.get("benchmarks", []) if _info(b).get("kind") == "reference"]


def cuda_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """GPU training benchmarks (test_cuda_speed.py): one model alone and K stacked."""
    return [_info(b) for b in data.get("benchmarks", []) if _info(b).get("kind") == "cuda_train"]


def table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    """A markdown table (numbers right-aligned) or a plain fixed-width one."""
    if markdown:
        align = ["---" if i < 2 else "---:" for i in range(len(header))]
        lines = [header, align, *rows]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths),
                      *(fmt(r) for r in rows)])


def _setting(data: dict[str, Any]) -> str:
    """One line on what was measured and where (from the first benchmark and machine info)."""
    benches = data.get("benchmarks", [])
    explain = next((_info(b) for b in benches if _info(b).get("kind") == "explain"), None)
    any_info = _info(benches[0]) if benches else {}
    parts = []
    if explain:
        parts.append(f"batch {explain['batch']}, T={explain['n_steps']}, "
                     f"D={explain['step_dim']}, float32")
    if any_info:
        threads = any_info.get("threads")
        parts.append(f"torch {any_info.get('torch')}, {any_info.get('device', 'cpu')}, "
                     f"{threads} thread{'' if threads == 1 else 's'}")
    cpu = (data.get("machine_info") or {}).get("cpu") or {}
    if cpu.get("brand_raw"):
        parts.append(cpu["brand_raw"])
    if data.get("datetime"):
        parts.append(data["datetime"][:10])
    return "; ".join(parts)


def _fmt_ratio(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}"


def _fmt_paired(paired: tuple[float, float, float] | None) -> str:
    if paired is None:
        return ""
    q1, med, q3 = paired
    return f"{med:.2f} [{q1:.2f}-{q3:.2f}]"


def render(data: dict[str, Any], markdown: bool = False) -> str:
    """The explanation-ratio table, the training-throughput table and the setting line."""
    out = []
    rows = explain_rows(data)
    if rows:
        goals = {r["goal"] for r in rows}
        goal = goals.pop() if len(goals) == 1 else None
        header = ["Architecture", "Method", "Median (ms)", "IQR (ms)", "Ratio to fwd+bwd",
                  f"<= {goal:g}" if goal else "Within goal", "Paired ratio [IQR]"]
        cells = []
        for r in rows:
            ratio = r["ratio"]
            ok = "" if ratio is None or r["method"] == BASELINE else (
                "yes" if ratio <= r["goal"] else "**no**" if markdown else "NO")
            if ok and goal is None:
                ok += f" (<= {r['goal']:g})"
            name = "forward+backward" if r["method"] == BASELINE else r["method"]
            cells.append([r["architecture"], name, f"{r['median_ms']:.1f}",
                          f"{r['iqr_ms']:.1f}", _fmt_ratio(ratio), ok,
                          _fmt_paired(r["paired"])])
        out.append(table(header, cells, markdown))
    train = train_rows(data)
    if train:
        header = ["Architecture", "Training", "Epoch median (s)", "Sequences/s",
                  "Sequences/s (best)"]
        cells = [[r["architecture"],
                  f"{r['n_sequences']} seqs, batch {r['batch_size']}, Adam",
                  f"{r['median_s']:.3f}", f"{r['seq_per_s']:.0f}", f"{r['best_seq_per_s']:.0f}"]
                 for r in train]
        out.append(table(header, cells, markdown))
    cached = cached_rows(data)
    if cached:
        header = ["Run", "Served from", "First run (s)", "Cached run (s)", "Ratio",
                  "Writing (s)"]
        cells = [[r["run"], "the cache", f"{r['first_s']:.1f}", f"{r['cached_s']:.2f}",
                  f"{r['ratio']:.3f}", "" if r["writing_s"] is None else f"{r['writing_s']:.2f}"]
                 for r in cached]
        out.append(table(header, cells, markdown))
    stacked = stacked_rows(data)
    if stacked:
        header = ["Architecture", "Models", "One by one (s)", "Stacked (s)", "Speed-up",
                  "Paired speed-up", "Max param diff"]
        cells = [[r["architecture"], f"{r['K']} folds of <= {r['sequences']} seqs, 1 epoch",
                  f"{r['one_by_one_seconds']:.2f}", f"{r['stacked_seconds']:.2f}",
                  f"{r['ratio']:.2f}", f"{r['paired_ratio']:.2f}", f"{r['max_param_diff']:.1e}"]
                 for r in stacked]
        out.append(table(header, cells, markdown))
    reference = reference_rows(data)
    if reference:
        header = ["Model", "explain (ms/sentence)", "Reference (ms/sentence)",
                  "Paired ratio [range]", "Ratio of medians", "Max abs diff (float64)"]
        cells = [[f"{r.get('model', 'bi-LSTM (Arras)')}, batch {r['batch']}, float32",
                  f"{r['explain_ms_per_sentence']:.3f}", f"{r['reference_ms_per_sentence']:.2f}",
                  _paired_reference(r),
                  f"{r.get('ratio_of_medians', r['ratio']):.0f}x",
                  f"{r['max_abs_diff_float64']:.1e}"] for r in reference]
        out.append(table(header, cells, markdown))
    cuda = cuda_rows(data)
    if cuda:
        header = ["Architecture", "GPU", "Alone (seq/s)", f"{cuda[0]['k']} stacked (seq/s)",
                  "Speed-up per model"]
        cells = [[r["architecture"], r["gpu"], f"{r['alone_seq_per_s']:.0f}",
                  f"{r['stacked_seq_per_s']:.0f}", f"{r['speedup_per_model']:.2f}"]
                 for r in cuda]
        out.append(table(header, cells, markdown))
    if not out:
        return "no rnnxbench benchmarks in this run"
    setting = _setting(data)
    if setting:
        out.append(f"_{setting}_" if markdown else setting)
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="read a saved pytest --benchmark-json FILE instead of running")
    parser.add_argument("--save-json", type=Path, metavar="FILE",
                        help="when running, keep pytest-benchmark's JSON in FILE")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: run the GPU benchmarks (test_cuda_speed.py) for README's "
                        "GPU table")
    parser.add_argument("pytest_args", nargs="*",
                        help="extra pytest arguments when running (put them after --)")
    args = parser.parse_args(argv)
    if args.json is not None:
        if args.pytest_args or args.save_json:
            parser.error("--json reads a saved run; it takes no pytest arguments or --save-json")
        data = json.loads(args.json.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = args.save_json or Path(tmp) / "benchmarks.json"
            code = run_benchmarks(path.resolve(), args.pytest_args, args.device)
            if not path.exists():
                print(f"pytest exited with {code} and wrote no {path}", file=sys.stderr)
                return code or 1
            data = json.loads(path.read_text())
        if code:
            print(f"warning: pytest exited with {code}", file=sys.stderr)
        print(render(data, markdown=args.markdown))
        return code
    print(render(data, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
