r"""The paper's Fig. 4 at a budget one machine affords: two-level policies vs one level.

For each seed:
- ``single``: one level (2 coupling layers) trained for --steps, with policy snapshots at each
  --freeze point;
- ``two-level@F``: the single level frozen at step F, a second level (no squash, Gaussian prior,
  same hyper-parameters) trained on its latent with the same task reward for steps - F env steps;
  its curve is plotted from F on, so the x axis counts all env steps since the first layer started;
- ``e2e-4``: one policy with 4 coupling layers trained end to end for --steps;
- ``two-level-learned@F`` (only when --methods names it): as ``two-level@F`` with the temperature
  learned (`lsp stack --ent-coef auto`, reward scale 1), as the `modern` single level learns its own.

Every run is an `lsp train` / `lsp stack` process pinned to one core with a single-threaded XLA,
`--jobs` at a time, in the order single, e2e-4, two-level per seed (a second level whose snapshot
already exists starts with the first batch); `--methods` picks rows. Re-running resumes unfinished
runs and skips finished ones. Writes
results/NAME.csv (one row per evaluation) and results/NAME.png (mean +- std over seeds; NAME: --name, default fig4_<env>).

    python benchmarks/fig4_two_level.py --env Ant-v5 --steps 300000 --freeze 100000 200000 --seeds 0 1 2
    python benchmarks/fig4_two_level.py --env Ant-v5 --steps 2000000 --freeze 500000 1000000 \
        --snapshot-every 250000 --eval-every 50000 --eval-episodes 10 --checkpoint-every 100000 \
        --runs benchmarks/runs/fig4_2M --seeds 0 1 2 --name fig4_Ant-v5_2M

`--variant paper` trains the single level and the end-to-end policy with the paper's benchmark
settings (fixed temperature 1, the preset's reward scale, 3 on Ant; `--reward-scale` sets another)
instead of `modern` (learned temperature); give it its own --runs folder and --name.

Second levels are `lsp stack` with its defaults for a level on a frozen layer: no squash, a Gaussian
prior, the fixed temperature 1 and the task preset's reward scale (3 on Ant and Humanoid), as the
paper trains them (SPEC §5).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobs import finished, lsp_command, run_driver, run_pinned  # noqa: E402

def job(run: Path, steps: int, args: list[str], settings: argparse.Namespace) -> list[str]:
    common = ["--no-progress", "--eval-every", str(settings.eval_every), "--eval-episodes", str(settings.eval_episodes)]
    return lsp_command(run, steps, args, common + ["--checkpoint-every", str(settings.checkpoint_every)])


def method_names(freeze: list[int]) -> list[str]:
    """The rows run by default."""
    return ["single", "e2e-4"] + [f"two-level@{point // 1000}k" for point in freeze]


# second levels: (row and run-folder prefix, extra `lsp stack` arguments)
SECOND_LEVELS = (("two-level", []), ("two-level-learned", ["--ent-coef", "auto"]))


def second_levels(env_id: str, seed: int, freeze: list[int], runs: Path):
    """(row, run folder, freeze point, extra stack arguments) of every second-level row."""
    return [
        (f"{prefix}@{point // 1000}k", runs / f"{env_id}__{prefix}-{point}__{seed}", point, extra)
        for prefix, extra in SECOND_LEVELS
        for point in freeze
    ]


def stack_job(run: Path, frozen: Path, seed: int, point: int, extra: list[str], env_id: str, settings: argparse.Namespace):
    """(run, command) of a second level on the snapshot ``frozen`` taken at step ``point``."""
    stack = ["stack", str(frozen), "--env-id", env_id, "--seed", str(seed), *extra]
    return run, job(run, settings.steps - point, stack, settings)


def collect(runs: Path, env_id: str, seeds: list[int], freeze: list[int], budget: int, out_csv: Path, out_png: Path) -> None:
    rows = []
    for seed in seeds:
        named = {"single": (runs / f"{env_id}__single__{seed}", 0), "e2e-4": (runs / f"{env_id}__e2e4__{seed}", 0)}
        for method, run, point, _ in second_levels(env_id, seed, freeze, runs):
            named[method] = (run, point)
        for method, (run, offset) in named.items():
            log = run / "eval.csv"
            if not log.exists():
                continue
            for row in csv.DictReader(open(log)):
                rows.append(
                    {
                        "method": method,
                        "seed": seed,
                        "step": int(row["step"]) + offset,
                        "level_step": int(row["step"]),
                        "return_stochastic_mean": row["return_stochastic_mean"],
                        "return_deterministic_mean": row["return_deterministic_mean"],
                    }
                )
    if not rows:
        print("no results yet")
        return
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    print(f"\n{'method':<24}{'final step':>12}{'stochastic return':>22}  seeds")
    partial_drawn = False
    for method in dict.fromkeys(r["method"] for r in rows):
        steps = sorted({r["step"] for r in rows if r["method"] == method})
        values = {step: [float(r["return_stochastic_mean"]) for r in rows if r["method"] == method and r["step"] == step] for step in steps}
        kept = [step for step in steps if len(values[step]) == len(seeds)]
        # runs still under way: where only some seeds have got to, a dashed mean over those that have
        partial = [step for step in steps if len(values[step]) < len(seeds) and (not kept or step > kept[-1])]
        if kept:
            mean = np.array([np.mean(values[step]) for step in kept])
            std = np.array([np.std(values[step]) for step in kept])
            (line,) = ax.plot(kept, mean, label=method)
            ax.fill_between(kept, mean - std, mean + std, alpha=0.2, color=line.get_color())
            print(f"{method:<24}{kept[-1]:>12}{mean[-1]:>14.0f} +- {std[-1]:<6.0f}  {len(seeds)}")
        if partial:
            start = kept[-1:]  # join the dashed part to the solid one
            xs = start + partial
            ys = [np.mean(values[step]) for step in xs]
            ax.plot(xs, ys, linestyle="--", color=line.get_color() if kept else None, label=None if kept else method)
            partial_drawn = True
    ax.set_xlabel("environment steps (all levels)")
    ax.set_ylabel("return (stochastic policy)")
    note = "\n(dashed: mean of the seeds that have got there so far)" if partial_drawn else ""
    ax.set_title(f"{env_id}: two-level vs single-level SAC-LSP ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}){note}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    print_milestones(rows, budget)
    print_last_quarter(rows, budget)
    print(f"wrote {out_csv} and {out_png}")


def print_milestones(rows: list[dict], budget: int) -> None:
    """A markdown table of each row's stochastic return at each quarter of the budget: mean +- std
    over the seeds that have an evaluation there (their count in brackets when not all have)."""
    points = [budget * k // 4 for k in (1, 2, 3, 4)]
    seeds = sorted({r["seed"] for r in rows})
    print("\n| method | " + " | ".join(f"{p // 1000}k" for p in points) + " |")
    print("|---|" + "---|" * len(points))
    for method in dict.fromkeys(r["method"] for r in rows):
        cells = []
        for point in points:
            values = [float(r["return_stochastic_mean"]) for r in rows if r["method"] == method and r["step"] == point]
            count = "" if len(values) == len(seeds) else f" ({len(values)})"
            cells.append(f"{np.mean(values):.0f} +- {np.std(values):.0f}{count}" if values else "-")
        print(f"| {method} | " + " | ".join(cells) + " |")


def print_last_quarter(rows: list[dict], budget: int) -> None:
    """Each finished run's mean stochastic return over the evaluations in the last quarter of the
    budget (1.5M-2M of 2M: 11 evaluations at --eval-every 50000; 10 for a level frozen at 1.5M, whose
    first evaluation is at 1.55M), its ratio to the same seed's single
    level, the mean +- std of those per-seed means over the seeds that have them, and that mean's
    ratio to the single level's mean over the same seeds."""
    start = budget - budget // 4
    means: dict[str, dict[int, float]] = {}
    counts: dict[str, set[int]] = {}  # evaluations in the window (a level frozen at `start` has none at it)
    for method in dict.fromkeys(r["method"] for r in rows):
        for seed in sorted({r["seed"] for r in rows if r["method"] == method}):
            mine = {r["step"]: float(r["return_stochastic_mean"]) for r in rows if r["method"] == method and r["seed"] == seed}
            if max(mine) >= budget:  # finished
                window = [v for step, v in mine.items() if step >= start]
                means.setdefault(method, {})[seed] = float(np.mean(window))
                counts.setdefault(method, set()).add(len(window))
    if not means:
        return
    single = means.get("single", {})
    print(f"\nmean stochastic return over env steps {start}-{budget} (finished runs)")
    for method, by_seed in means.items():
        per_seed = "  ".join(
            f"seed {seed}: {mean:.0f}" + (f" ({mean / single[seed]:.2f}x)" if seed in single and method != "single" else "")
            for seed, mean in by_seed.items()
        )
        values = list(by_seed.values())
        # the target's ratio: this row's mean over seeds against the single level's over the same seeds
        paired = [seed for seed in by_seed if seed in single]
        ratio = (
            f" ({np.mean([by_seed[s] for s in paired]) / np.mean([single[s] for s in paired]):.2f}x over seeds {paired})"
            if paired and method != "single" else ""
        )
        evaluations = "/".join(str(n) for n in sorted(counts[method]))
        print(f"{method:<24}{np.mean(values):>8.0f} +- {np.std(values):<5.0f}{ratio}  {per_seed}  [{evaluations} evaluations per run]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Ant-v5")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--freeze", type=int, nargs="+", default=[100_000, 200_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=None, help="runs at a time (default: one per core this process may use)")
    parser.add_argument("--runs", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument("--snapshot-every", type=int, default=None, help="policy snapshots (default: the freeze points' gcd)")
    parser.add_argument("--eval-every", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--checkpoint-every", type=int, default=20_000, help="full checkpoints (replay included)")
    parser.add_argument("--methods", nargs="+", default=None, help="rows to run (default: single, e2e-4, two-level@F per freeze point; two-level-learned@F only when named)")
    parser.add_argument("--variant", choices=["modern", "paper"], default="modern", help="SAC variant of the single and e2e-4 rows")
    parser.add_argument(
        "--reward-scale", type=float, default=None,
        help="reward scale of the single and e2e-4 rows (default: the variant's; the original code ran Ant at 10)",
    )
    parser.add_argument("--collect-only", action="store_true")
    parser.add_argument("--name", default=None, help="results/NAME.csv and .png (default fig4_ENV)")
    args = parser.parse_args()
    env_id, runs = args.env, args.runs
    snapshot = args.snapshot_every or int(np.gcd.reduce(args.freeze))
    if any(point % snapshot for point in args.freeze):
        parser.error(f"--snapshot-every {snapshot} must divide every freeze point {args.freeze}")
    if not args.collect_only:
        rows = method_names(args.freeze)
        every = rows + [name for name, *_ in second_levels(env_id, 0, args.freeze, runs) if name not in rows]
        unknown = sorted(set(args.methods or []) - set(every))
        if unknown:
            parser.error(f"--methods: unknown {unknown}; the rows are {every}")
        wanted = set(args.methods or rows)
        first, later = [], []  # later: second levels whose frozen snapshot the first batch will write
        for seed in args.seeds:
            single = runs / f"{env_id}__single__{seed}"
            train = ["train", "--env-id", env_id, "--seed", str(seed), "--variant", args.variant]
            if args.reward_scale is not None:
                train += ["--reward-scale", str(args.reward_scale)]
            if "single" in wanted and not finished(single, args.steps):
                first.append((single, job(single, args.steps, train + ["--snapshot-every", str(snapshot)], args)))
            e2e = runs / f"{env_id}__e2e4__{seed}"
            if "e2e-4" in wanted and not finished(e2e, args.steps):
                first.append((e2e, job(e2e, args.steps, train + ["--num-coupling", "4"], args)))
            for method, run, point, extra in second_levels(env_id, seed, args.freeze, runs):
                if method in wanted and not finished(run, args.steps - point):
                    frozen = single / "checkpoints" / f"step_{point:09d}.lsp"
                    if frozen.exists():
                        first.append(stack_job(run, frozen, seed, point, extra, env_id, args))
                    elif single in {r for r, _ in first}:
                        later.append((run, frozen, seed, point, extra))
                    else:
                        parser.error(f"no snapshot to freeze: {frozen}; add --methods single to train the single level past it")
        run_pinned(first, args.jobs)
        run_pinned([stack_job(*entry, env_id, args) for entry in later], args.jobs)
    name = args.name or f"fig4_{env_id}"
    collect(runs, env_id, args.seeds, args.freeze, args.steps, ROOT / "results" / f"{name}.csv", ROOT / "results" / f"{name}.png")


if __name__ == "__main__":
    run_driver(main)
