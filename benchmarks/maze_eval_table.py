"""Evaluations of ant-maze runs side by side, as the tables of docs/results/ant_maze.md show them.

    python benchmarks/maze_eval_table.py results/ant_maze_v1.csv \
        0:finetune-xy+motion:0 0:finetune+motion:0 2:finetune-xy+motion:0 2:finetune+motion:0

Reads a CSV of ``lsp experiment ant-maze --collect-only`` (columns goal, method, seed, env_step,
success_stochastic_rate, final_distance_stochastic_mean, ...) and prints a markdown table with one
row per evaluated env step and one column per GOAL:METHOD:SEED: "k / d", the goal reached in k of
--episodes evaluation episodes and d the mean final distance to the goal (--mode picks stochastic or
deterministic episodes); "-" where that run has no evaluation at that step.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def parse_column(text: str) -> tuple[str, str, str]:
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise SystemExit(f"{text!r}: give a column as GOAL:METHOD:SEED, e.g. 0:finetune-xy+motion:0")
    goal, method, seed = parts
    return goal, method, seed


def table(rows: list[dict], columns: list[tuple[str, str, str]], mode: str, episodes: int) -> str:
    cells: dict[tuple[str, str, str], dict[int, str]] = {column: {} for column in columns}
    for row in rows:
        key = (row["goal"], row["method"], row["seed"])
        if key in cells:
            success = float(row[f"success_{mode}_rate"]) * episodes
            distance = float(row[f"final_distance_{mode}_mean"])
            cells[key][int(row["env_step"])] = f"{round(success)} / {distance:.2f}"
    for column, found in cells.items():
        if not found:
            raise SystemExit(f"no evaluations of goal {column[0]}, method {column[1]}, seed {column[2]} in the CSV")
    steps = sorted({step for found in cells.values() for step in found})
    header = ["env steps"] + [f"goal {g}: {m} ({s})" for g, m, s in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in steps:
        label = f"{step // 1000}k" if step % 1000 == 0 else str(step)
        lines.append("| " + " | ".join([label] + [cells[c].get(step, "-") for c in columns]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", type=Path)
    parser.add_argument("columns", nargs="+", metavar="GOAL:METHOD:SEED")
    parser.add_argument("--mode", choices=("stochastic", "deterministic"), default="stochastic")
    parser.add_argument("--episodes", type=int, default=10, help="evaluation episodes per evaluation (default 10)")
    args = parser.parse_args()
    if not args.csv.is_file():
        raise SystemExit(f"{args.csv}: no such file (write it with `lsp experiment ant-maze --collect-only`)")
    columns = [parse_column(text) for text in args.columns]
    with args.csv.open() as f:
        rows = list(csv.DictReader(f))
    print(table(rows, columns, args.mode, args.episodes))


if __name__ == "__main__":
    main()
