"""Learning benchmark: Hopper-v5, both SAC variants of SAC-LSP (and SBX SAC, see sbx_sac_learning.py).

Runs every (method, seed) as its own `lsp train` process, `--jobs` at a time, each pinned to one
core with a single-threaded XLA. Runs are resumable: re-running this script continues unfinished
runs from their checkpoints and skips finished ones. Collects every run's evaluations into
results/hopper_learning.csv and prints mean +- std over seeds at the report steps.

    python benchmarks/hopper_learning.py --steps 300000 --seeds 0 1 2 --jobs 2
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobs import finished, lsp_command, run_driver, run_pinned  # noqa: E402
METHODS = {
    "lsp-modern": ["--variant", "modern"],
    "lsp-paper": ["--variant", "paper"],
    "gaussian-modern": ["--variant", "modern", "--policy", "gaussian"],
    # Probes tried while looking for more robust learning (see README "Results").
    "lsp-modern-wide": ["--variant", "modern", "--coupling-hidden", "64", "--embedding-dim", "64"],
    "lsp-modern-start10k": ["--variant", "modern", "--learning-starts", "10000"],
    # Peers: trained by their own scripts into the same run-folder layout, only collected here.
    "sbx-sac": None,  # bench_env/bin/python benchmarks/sbx_sac_learning.py --seeds 0 1 2 --steps 300000
}


def run_dir(runs: Path, method: str, seed: int) -> Path:
    return runs / f"Hopper-v5__{method}__{seed}"


COMMON = ["--no-progress", "--eval-every", "10000", "--eval-episodes", "5", "--checkpoint-every", "20000"]


def command(runs: Path, method: str, seed: int, steps: int) -> list[str]:
    args = ["train", "--env-id", "Hopper-v5", "--seed", str(seed), *METHODS[method]]
    return lsp_command(run_dir(runs, method, seed), steps, args, COMMON)


def collect(runs: Path, methods: list[str], seeds: list[int], out: Path, report_steps: list[int]) -> None:
    rows = []
    for method in methods:
        for seed in seeds:
            log = run_dir(runs, method, seed) / "eval.csv"
            if log.exists():
                with open(log) as handle:
                    for row in csv.DictReader(handle):
                        rows.append({"method": method, "seed": seed, **row})
    out.parent.mkdir(parents=True, exist_ok=True)
    if rows:  # runs of newer code log more columns (e.g. the maze's final distance): keep them all
        fields = list(dict.fromkeys(key for row in rows for key in row))
        tmp = out.with_suffix(".tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(out)
    print(f"\n{'method':<18}" + "".join(f"{s // 1000:>6}k stoch (n)    " for s in report_steps))
    for method in methods:
        line = f"{method:<18}"
        for step in report_steps:
            values = [float(r["return_stochastic_mean"]) for r in rows if r["method"] == method and int(r["step"]) == step]
            line += f"{np.mean(values):>9.0f} +- {np.std(values):<5.0f}({len(values)})" if values else f"{'-':>22}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["lsp-modern", "lsp-paper"], choices=list(METHODS))
    parser.add_argument("--jobs", type=int, default=None, help="runs at a time (default: one per core this process may use)")
    parser.add_argument("--runs", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "hopper_learning.csv")
    parser.add_argument("--collect-only", action="store_true")
    args = parser.parse_args()
    report = [s for s in (100_000, 200_000, 300_000) if s <= args.steps] or [args.steps]

    todo = [
        (m, s)
        for s in args.seeds
        for m in args.methods
        if METHODS[m] is not None and not finished(run_dir(args.runs, m, s), args.steps)
    ]
    if not args.collect_only:
        run_pinned([(run_dir(args.runs, m, s), command(args.runs, m, s, args.steps)) for m, s in todo], args.jobs)
    collect(args.runs, args.methods, args.seeds, args.out, report)


if __name__ == "__main__":
    run_driver(main)
