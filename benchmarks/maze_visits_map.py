"""Where a maze run's ant has been: the visit counts of its `visits_xy` bonus, drawn over the maze.

    python benchmarks/maze_visits_map.py RUN [RUN ...] --output results/ant_maze_visits_map.png

Each RUN is a run folder trained with a `visits_xy` term in its reward (e.g. `lsp experiment
ant-maze --methods hierarchy+visits`); its latest checkpoint holds the count of env steps spent in
every 1 m cell. One panel per run: log10 of the counts, the walls, the start and the run's goal.
Also prints, per run, the share of its env steps spent within 2 of each goal.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from latent_space_policies.checkpoint import load_checkpoint
from latent_space_policies.envs.ant import CROSS_MAZE_GOALS, CROSS_MAZE_WALLS, GOAL_RADIUS, cross_maze_goal


def visit_counts(run: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(cells (k, 2), counts (k,), cell size) of the run's visits_xy term."""
    trees, metadata = load_checkpoint(run, sections=("reward",))
    state = trees.get("reward", {}).get("train")
    if not state:
        raise SystemExit(f"{run}: its checkpoint holds no visit counts (was it trained with visits_xy?)")
    if "cells" not in state:  # a weighted sum: the first term with counts
        state = next(term for term in state.values() if isinstance(term, dict) and "cells" in term)
    return np.asarray(state["cells"]).reshape(-1, 2), np.asarray(state["counts"]), 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    fig, axes = plt.subplots(1, len(args.runs), figsize=(4 * len(args.runs), 4), squeeze=False)
    for ax, run in zip(axes[0], args.runs):
        cells, counts, size = visit_counts(run)
        config = json.loads((run / "config.json").read_text())
        goal = cross_maze_goal(config["env_id"])  # None on the goal-free maze
        x0, y0 = cells.min(axis=0)
        grid = np.full(tuple(cells.max(axis=0) - cells.min(axis=0) + 1), np.nan)
        grid[cells[:, 0] - x0, cells[:, 1] - y0] = np.log10(counts)
        extent = (x0 * size, (cells[:, 0].max() + 1) * size, y0 * size, (cells[:, 1].max() + 1) * size)
        image = ax.imshow(grid.T, origin="lower", extent=extent, cmap="viridis")
        for (cx, cy), (hx, hy) in CROSS_MAZE_WALLS:
            ax.add_patch(Rectangle((cx - hx, cy - hy), 2 * hx, 2 * hy, color="0.4"))
        for g, (gx, gy) in enumerate(CROSS_MAZE_GOALS):
            ax.add_patch(Circle((gx, gy), GOAL_RADIUS, fill=False, color="red" if g == goal else "white", lw=1.5))
        ax.plot(0, 0, "w^")
        ax.set_xlim(-3, 15)
        ax.set_ylim(-9, 9)
        ax.set_aspect("equal")
        steps = int(counts.sum())
        ax.set_title(f"{run.name}\n{steps:,} env steps", fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.046, label="log10 env steps in the 1 m cell")
        centres = (cells + 0.5) * size
        near = [
            counts[np.linalg.norm(centres - np.asarray(g), axis=1) <= GOAL_RADIUS].sum() / steps for g in CROSS_MAZE_GOALS
        ]
        print(f"{run.name}: {steps:,} env steps; share within {GOAL_RADIUS:g} of goals 0/1/2: "
              + " / ".join(f"{share:.3f}" for share in near))  # fmt: skip
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
