"""Shared by the benchmark drivers: run `lsp` processes pinned one per core, resumably."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from latent_space_policies.errors import TrainingInterrupted
from latent_space_policies.experiments.sweep import run_pinned  # noqa: F401  (the drivers import it from here)


def run_driver(main) -> None:
    """Run a driver's ``main``; a Ctrl-C or SIGTERM that stopped its runs (each saved a checkpoint)
    ends it with the runner's one-line message and exit status 130, not a traceback."""
    try:
        main()
    except TrainingInterrupted as stop:
        print(str(stop), file=sys.stderr)
        sys.exit(130)


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
