"""A maze run's training episodes by window of steps: how many reached the goal, and what they earned.

    python benchmarks/maze_episodes.py RUN [RUN ...] --window 150000

Reads RUN/episodes.csv (one row per training episode; ``step`` and ``length`` in the run's own
steps, a high level's being decisions) and prints per window: the episodes that ended in it, how
many reached the goal (final distance <= 2), the mean length of those that did, and the shaping
reward per step, (return - 1000 x reached) / length: for a ``+motion`` baseline its motion reward,
since the goal pays 1000 once and the rest of its return is shaping.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from latent_space_policies.envs.ant import GOAL_RADIUS, GOAL_REWARD


def windows(run: Path, window: int) -> list[dict]:
    with open(run / "episodes.csv") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for start in range(0, int(rows[-1]["step"]) + 1 if rows else 0, window):
        inside = [r for r in rows if start <= int(r["step"]) < start + window]
        if not inside:
            continue
        reached = np.array([float(r["final_distance"]) <= GOAL_RADIUS for r in inside])
        returns = np.array([float(r["return"]) for r in inside])
        lengths = np.array([int(r["length"]) for r in inside])
        out.append({
            "from": start, "episodes": len(inside), "reached": int(reached.sum()),
            "reached_length_mean": float(lengths[reached].mean()) if reached.any() else None,
            "shaping_per_step": float(np.mean((returns - GOAL_REWARD * reached) / lengths)),
        })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--window", type=int, default=150_000, help="in the run's own steps")
    args = parser.parse_args()
    for run in args.runs:
        print(f"{run.name}: from, episodes, reached the goal, mean length of those, shaping reward per step")
        for w in windows(run, args.window):
            length = "-" if w["reached_length_mean"] is None else f"{w['reached_length_mean']:.0f}"
            print(f"  {w['from']:>9,}  {w['episodes']:4d}  {w['reached']:4d}  {length:>5s}  {w['shaping_per_step']:.2f}")


if __name__ == "__main__":
    main()
