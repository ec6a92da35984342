"""Estimate the core-minutes the Fig. 3 grid still needs, from the wall times in results/fig3.csv.

An estimate, not a measurement: a run not yet at 200k is given the median time of the finished
runs of its own cell; failing that, for SAC-GMM on Ant/Humanoid, SAC's time on that task; failing
that, its method's median on Walker2d-v5 and HalfCheetah-v5. Time already spent on a stopped run is
not subtracted.

    python benchmarks/fig3_estimate.py [results/fig3.csv]
"""

import csv
import statistics
import sys

TASKS = ["Swimmer-v5", "Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5", "Humanoid-v5"]
METHODS = ["sac-lsp", "sac", "sac-gmm", "sql", "ppo", "ddpg", "td3"]
STEPS, SEEDS = 200_000, 3


def main(path: str = "results/fig3.csv") -> None:
    last: dict[tuple[str, str, int], dict] = {}
    for row in csv.DictReader(open(path)):
        key = (row["task"], row["method"], int(row["seed"]))
        if key not in last or int(row["step"]) > int(last[key]["step"]):
            last[key] = row
    minutes = {k: float(r["wall_time_s"]) / 60 for k, r in last.items() if int(r["step"]) >= STEPS}

    def median(tasks, method):
        times = [m for (t, me, _), m in minutes.items() if t in tasks and me == method]
        return statistics.median(times) if times else None

    total, left = 0.0, 0
    for task in TASKS:
        for method in METHODS:
            for seed in range(SEEDS):
                if (task, method, seed) in minutes:
                    continue
                est = median([task], method)
                if est is None and method == "sac-gmm":
                    est = median([task], "sac")
                if est is None:
                    est = median(["Walker2d-v5", "HalfCheetah-v5"], method)
                print(f"{task} {method} {seed}: {est:.1f} min")
                total += est
                left += 1
    print(f"{left} runs left, about {total / 60:.1f} core-hours")


if __name__ == "__main__":
    main(*sys.argv[1:])
