"""Check that the Fig. 3 grid in results/fig3.csv is complete, and print the numbers the README quotes
about it that the `lsp plot` tables do not show.

    python benchmarks/fig3_check.py [results/fig3.csv]

Prints: rows and runs; runs at the 200k budget; duplicate (task, method, seed, step) rows; runs
with an evaluation missing between 10k and their last step; the runs' logged wall time at 200k
summed over the grid (and the runs that logged under a minute); and the mean stochastic return over
seeds at 100k, 150k and 200k of our three SAC methods on each task.
"""

import collections
import csv
import statistics
import sys

from fig3_estimate import STEPS, TASKS

EVERY = 10_000


def main(path: str = "results/fig3.csv") -> None:
    rows = list(csv.DictReader(open(path)))
    counts = collections.Counter((r["task"], r["method"], int(r["seed"]), int(r["step"])) for r in rows)
    runs: dict[tuple[str, str, int], dict[int, dict]] = collections.defaultdict(dict)
    for r in rows:
        runs[(r["task"], r["method"], int(r["seed"]))][int(r["step"])] = r
    at_budget = {k: v for k, v in runs.items() if max(v) >= STEPS}
    gaps = [k for k, v in runs.items() if sorted(v) != list(range(EVERY, max(v) + 1, EVERY))]
    print(f"{len(rows)} rows, {len(runs)} runs, {len(at_budget)} at {STEPS} steps")
    print(f"duplicate rows: {sum(n > 1 for n in counts.values())}; runs with a missing evaluation: {len(gaps)}")
    for k in gaps:
        print("  missing:", *k)
    minutes = {k: float(v[STEPS]["wall_time_s"]) / 60 for k, v in at_budget.items()}
    print(f"logged wall time at {STEPS}: {sum(minutes.values()) / 60:.1f} core-hours in all")
    for k, m in sorted(minutes.items()):
        if m < 1:
            print(f"  under a minute: {' '.join(map(str, k))} {m:.1f} min")
    print("mean stochastic return over seeds at 100k / 150k / 200k:")
    for task in TASKS:
        cells = []
        for method in ("sac-lsp", "sac", "sac-gmm"):
            seeds = [v for (t, m, _), v in runs.items() if t == task and m == method]
            means = [
                statistics.mean(float(v[step]["return_stochastic_mean"]) for v in seeds)
                for step in (100_000, 150_000, STEPS)
            ]
            cells.append(f"{method} " + " / ".join(f"{x:.0f}" for x in means))
        print(f"  {task}: " + "; ".join(cells))


if __name__ == "__main__":
    main(*sys.argv[1:])
