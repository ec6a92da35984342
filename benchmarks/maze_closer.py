"""How much closer to the goal the hierarchy ends than each baseline (the paper's "more than 4x").

    python benchmarks/maze_closer.py results/ant_maze_failures_*.json --reference hierarchy+visits

Reads reports of ``benchmarks/maze_failures.py`` (fresh episodes per run and mode) and prints, per
goal and env-step budget, each method's success rate and mean final distance over all its seeds'
episodes, stochastic / deterministic, and the ratio of its mean final distance to the reference
method's at the same goal and budget (> 1: the reference ends closer). The method and seed come
from the run's name (``goal0__finetune+motion__0``, ``nogoal__scratch__0``, or a snapshot under
such a folder), the goal from the maze the report played, the budget from its ``env_step``.

An episode that reaches the goal ends within 2 of it, so a method's mean cannot go much below 2;
a baseline that stays near the start ends about 8.5 from goals 0 and 1 and 12 from goal 2, so
against it the ratio cannot exceed about 4.3 (goals 0, 1) and 6 (goal 2) whatever the reference does.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from latent_space_policies.envs.ant import cross_maze_goal

RUN_NAME = re.compile(r"^(?:goal\d+|nogoal)__(?P<method>.+)__(?P<seed>\d+)$")
MODES = ("stochastic", "deterministic")


def method_and_seed(run: str) -> tuple[str, int]:
    """From the run folder's name, which may be a parent of the path (a snapshot file)."""
    for part in reversed(Path(run).parts):
        match = RUN_NAME.match(part)
        if match:
            return match["method"], int(match["seed"])
    raise SystemExit(f"{run}: no run name of the form goalK__METHOD__SEED or nogoal__METHOD__SEED in the path")


def collect(files: list[Path]) -> dict:
    """{(goal, env_step, method): {"seeds": [...], mode: {"final": [...], "success": [...]}}}."""
    table: dict = defaultdict(lambda: {"seeds": []} | {mode: {"final": [], "success": []} for mode in MODES})
    for file in files:
        for report in json.loads(file.read_text()):
            if "env_step" not in report:
                raise SystemExit(f"{file}: a report without env_step (re-run benchmarks/maze_failures.py)")
            method, seed = method_and_seed(report["run"])
            entry = table[(cross_maze_goal(report["env_id"]), report["env_step"], method)]
            if seed in entry["seeds"]:
                raise SystemExit(f"{file}: {method} seed {seed} on {report['env_id']} at {report['env_step']} twice")
            entry["seeds"].append(seed)
            for mode in MODES:
                episodes = report["modes"][mode]["episodes_detail"]
                entry[mode]["final"] += [e["final_distance"] for e in episodes]
                entry[mode]["success"] += [e["outcome"] == "success" for e in episodes]
    return table


def summarise(table: dict, reference: str) -> list[dict]:
    rows = []
    for goal, env_step, method in sorted(table, key=lambda k: (k[0], k[1], k[2] != reference, k[2])):
        entry = table[(goal, env_step, method)]
        ref = table.get((goal, env_step, reference))
        row = {"goal": goal, "env_step": env_step, "method": method, "seeds": sorted(entry["seeds"])}
        for mode in MODES:
            final = float(np.mean(entry[mode]["final"]))
            row[mode] = {
                "episodes": len(entry[mode]["final"]),
                "success_rate": float(np.mean(entry[mode]["success"])),
                "final_distance_mean": final,
                "times_reference": final / float(np.mean(ref[mode]["final"])) if ref is not None else None,
            }
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="JSON files of benchmarks/maze_failures.py")
    parser.add_argument("--reference", default="hierarchy+visits", help="the method the others are compared with")
    parser.add_argument("--output", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = summarise(collect(args.reports), args.reference)
    print(
        f"| goal | env steps | method | seeds | success, sto / det | final distance, sto / det "
        f"| x {args.reference}, sto / det |\n|---|---|---|---|---|---|---|"
    )
    for row in rows:
        sto, det = row["stochastic"], row["deterministic"]
        times = "-" if sto["times_reference"] is None else f"{sto['times_reference']:.2f} / {det['times_reference']:.2f}"
        print(
            f"| {row['goal']} | {row['env_step']:,} | {row['method']} | {', '.join(map(str, row['seeds']))} "
            f"| {sto['success_rate']:.2f} / {det['success_rate']:.2f} "
            f"| {sto['final_distance_mean']:.2f} / {det['final_distance_mean']:.2f} | {times} |"
        )
    if args.output is not None:
        args.output.write_text(json.dumps(rows, indent=1))
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
