"""Carry a long run across sessions: copy its resumable state, without the replay buffer, into a
folder that is committed; or put it back where the run lives.

    python benchmarks/carry_run.py save benchmarks/runs/locomotion/arena__paper-rs10__0 benchmarks/carried/arena__paper-rs10__0
    python benchmarks/carry_run.py restore benchmarks/carried/arena__paper-rs10__0 benchmarks/runs/locomotion/arena__paper-rs10__0
    lsp train --resume benchmarks/runs/locomotion/arena__paper-rs10__0

A machine's run folders do not survive the session, and a full checkpoint of a 1M-transition
replay is about 0.9 GB, too large to commit. The carried copy holds the training state (parameters,
optimiser states, temperature, RNGs, counters), the policy snapshots and the CSV logs (about 2 MB).
The resumed run starts with an empty replay buffer, which refills from the current policy (the
learning-starts wait applies again), so it is not the bit-exact resume of a same-machine checkpoint:
say so where its results are reported.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from latent_space_policies.checkpoint import load_checkpoint, save_checkpoint

LOGS = ("config.json", "eval.csv", "episodes.csv", "metrics.csv", "policy.lsp")  # policy.lsp: a finished run


def save(run: Path, dest: Path) -> None:
    latest = run / "checkpoints" / "latest.lsp"
    if not latest.is_file():
        sys.exit(f"error: {latest} not found: give a run folder with a checkpoint")
    trees, metadata = load_checkpoint(latest)
    trees.pop("replay", None)
    (dest / "checkpoints").mkdir(parents=True, exist_ok=True)
    save_checkpoint(dest / "checkpoints" / "latest.lsp", trees, metadata | {"has_replay": False})
    for snapshot in sorted((run / "checkpoints").glob("step_*.lsp")):
        shutil.copy2(snapshot, dest / "checkpoints" / snapshot.name)
    for name in LOGS:
        if (run / name).is_file():
            shutil.copy2(run / name, dest / name)
    print(f"carried {run} at step {metadata['step']} to {dest} (no replay)")


def restore(carried: Path, run: Path) -> None:
    if (run / "checkpoints" / "latest.lsp").exists():
        sys.exit(f"error: {run} already holds a run; resume it, or move it away first")
    shutil.copytree(carried, run, dirs_exist_ok=True)
    print(f"restored {run}; continue with: lsp train --resume {run}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    (save if args.action == "save" else restore)(args.source, args.dest)


if __name__ == "__main__":
    main()
