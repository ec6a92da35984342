"""Shared by the benchmark drivers: run `lsp` processes pinned one per core, resumably."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def finished(run: Path, steps: int) -> bool:
    """True when the run folder holds a final policy and an evaluation at ``steps`` or later."""
    log = run / "eval.csv"
    if not (run / "policy.lsp").exists() or not log.exists():
        return False
    with open(log) as handle:
        rows = list(csv.DictReader(handle))
    return bool(rows) and int(rows[-1]["step"]) >= steps


def lsp_command(run: Path, steps: int, args: list[str], common: list[str]) -> list[str]:
    """`lsp <args>` for a new run in ``run``, or `lsp train --resume` when it has a checkpoint."""
    base = [sys.executable, "-m", "latent_space_policies.cli"]
    if (run / "checkpoints" / "latest.lsp").exists():
        return base + ["train", "--resume", str(run), "--total-steps", str(steps), "--no-progress"]
    return base + args + ["--output-dir", str(run.parent), "--run-name", run.name, "--total-steps", str(steps), *common]


def run_pinned(jobs: list[tuple[Path, list[str]]], parallel: int) -> None:
    """Run (run folder, command) jobs, ``parallel`` at a time, each pinned to its own core with a
    single-threaded XLA; each job's output goes to ``<run>.log`` beside its run folder."""
    running: dict[int, tuple[subprocess.Popen, Path]] = {}
    free = list(range(parallel))
    jobs = list(jobs)
    while jobs or running:
        while jobs and free:
            run, cmd = jobs.pop(0)
            core = free.pop(0)
            run.parent.mkdir(parents=True, exist_ok=True)
            log = open(run.parent / f"{run.name}.log", "a")
            env = dict(os.environ, XLA_FLAGS=SINGLE_THREAD, PYTHONWARNINGS="ignore")
            print(f"[{time.strftime('%H:%M:%S')}] start {run.name} on core {core}", flush=True)
            pinned = ["taskset", "-c", str(core % (os.cpu_count() or 1)), *cmd]
            running[core] = (subprocess.Popen(pinned, env=env, stdout=log, stderr=subprocess.STDOUT), run)
        time.sleep(2)
        for core, (proc, run) in list(running.items()):
            if proc.poll() is not None:
                print(f"[{time.strftime('%H:%M:%S')}] {run.name} exited with {proc.returncode}", flush=True)
                del running[core]
                free.append(core)
