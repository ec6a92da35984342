"""Learning benchmark: Hopper-v5, both SAC variants of SAC-LSP (and SBX SAC, see sbx_sac.py).

Runs every (method, seed) as its own `lsp train` process, `--jobs` at a time, each pinned to one
core with a single-threaded XLA. Runs are resumable: re-running this script continues unfinished
runs from their checkpoints and skips finished ones. Collects every run's evaluations into
results/hopper_learning.csv and prints mean +- std over seeds at the report steps.

    python benchmarks/hopper_learning.py --steps 300000 --seeds 0 1 2 --jobs 2
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
METHODS = {
    "lsp-modern": ["--variant", "modern"],
    "lsp-paper": ["--variant", "paper"],
    "gaussian-modern": ["--variant", "modern", "--policy", "gaussian"],
    # Probes tried while looking for more robust learning (see README "Results").
    "lsp-modern-wide": ["--variant", "modern", "--coupling-hidden", "64", "--embedding-dim", "64"],
    "lsp-modern-start10k": ["--variant", "modern", "--learning-starts", "10000"],
}
SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def run_dir(runs: Path, method: str, seed: int) -> Path:
    return runs / f"Hopper-v5__{method}__{seed}"


def finished(path: Path, steps: int) -> bool:
    log = path / "eval.csv"
    if not (path / "policy.lsp").exists() or not log.exists():
        return False
    with open(log) as handle:
        rows = list(csv.DictReader(handle))
    return bool(rows) and int(rows[-1]["step"]) >= steps


def command(runs: Path, method: str, seed: int, steps: int) -> list[str]:
    path = run_dir(runs, method, seed)
    base = [sys.executable, "-m", "latent_space_policies.cli", "train"]
    if (path / "checkpoints" / "latest.lsp").exists():
        return base + ["--resume", str(path), "--total-steps", str(steps), "--no-progress"]
    return base + [
        "--env-id", "Hopper-v5", "--total-steps", str(steps), "--seed", str(seed),
        "--output-dir", str(runs), "--run-name", path.name, "--no-progress",
        "--eval-every", "10000", "--eval-episodes", "5", "--checkpoint-every", "20000",
        *METHODS[method],
    ]  # fmt: skip


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
    if rows:
        with open(out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
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
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "hopper_learning.csv")
    parser.add_argument("--collect-only", action="store_true")
    args = parser.parse_args()
    report = [s for s in (100_000, 200_000, 300_000) if s <= args.steps] or [args.steps]

    todo = [(m, s) for s in args.seeds for m in args.methods if not finished(run_dir(args.runs, m, s), args.steps)]
    if not args.collect_only:
        running: dict[int, tuple[subprocess.Popen, str]] = {}
        free_cores = list(range(args.jobs))
        while todo or running:
            while todo and free_cores:
                method, seed = todo.pop(0)
                core = free_cores.pop(0)
                env = dict(os.environ, XLA_FLAGS=SINGLE_THREAD, PYTHONWARNINGS="ignore")
                args.runs.mkdir(parents=True, exist_ok=True)
                log = open(args.runs / f"{method}-{seed}.log", "a")
                cmd = ["taskset", "-c", str(core % (os.cpu_count() or 1))] + command(args.runs, method, seed, args.steps)
                print(f"[{time.strftime('%H:%M:%S')}] start {method} seed {seed} on core {core}", flush=True)
                running[core] = (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), f"{method}/{seed}")
            time.sleep(2)
            for core, (proc, name) in list(running.items()):
                if proc.poll() is not None:
                    print(f"[{time.strftime('%H:%M:%S')}] {name} exited with {proc.returncode}", flush=True)
                    del running[core]
                    free_cores.append(core)
    collect(args.runs, args.methods, args.seeds, args.out, report)


if __name__ == "__main__":
    main()
