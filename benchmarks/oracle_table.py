"""Print the markdown table of oracle reports (results/ant_maze_oracle_*.json), one row per report.

    python benchmarks/oracle_table.py results/ant_maze_oracle_rs10_*.json
"""

import json
import sys
from pathlib import Path


def row(path: Path) -> str:
    report = json.loads(path.read_text())
    cells = []
    for goal in ("0", "1", "2"):
        g = report["goals"].get(goal)
        if g is None:
            cells.append("-")
            continue
        n = len(g["episodes"])
        cells.append(
            f"{round(g['success_rate'] * n)}/{n} reached, {g['final_distance_mean']:.1f} +- {g['final_distance_std']:.1f}"
            f" (fell {round(g['fall_rate'] * n)}, on its back {round(g.get('flip_rate', 0) * n)})"
        )
    name = path.stem.removeprefix("ant_maze_oracle_")
    return f"| {name} | " + " | ".join(cells) + f" | {report['wall_time_s']:.0f} s |"


def main() -> None:
    paths = sorted((Path(p) for p in sys.argv[1:]), key=lambda p: (p.stem.split("_")[-2], int(p.stem.split("_")[-1].rstrip("k"))))
    print("| layer, steps | goal 0 (6, -6) | goal 1 (6, 6) | goal 2 (12, 0) | time |")
    print("|---|---|---|---|---|")
    for path in paths:
        print(row(path))


if __name__ == "__main__":
    main()
