"""Gymnasium-Robotics' U-maze on a pretrained locomotion layer, as one resumable command.

    lsp experiment ant-umaze --output-dir runs/ant_umaze

For each seed, a high level on the frozen layer (``pretrained:ant_locomotion`` by default) trained
with the recipe of docs/results/ant_maze.md ("The U-maze"): ``LSP/AntMazeUMazeEgoWaypoint-v0`` (the
goal and the next door round the walls in the torso's heading frame), the goal paid 100 and
hindsight relabelling (4 copies per episode, paid 100), fixed temperature 0.1, a fresh latent every
decision held ``--action-repeat`` env steps, 4 gradient steps per decision, 256 x 256 embedding and
critic on ``obs[0:33]`` (no contact forces), and the layer given half the high level's latent
(``--base-latent-scale 0.5``). Then:

- ``OUT/ant_umaze.csv``: every periodic evaluation (success rate and final distance against env
  steps), and ``OUT/ant_umaze.png``: success rate, mean +- std over seeds;
- ``OUT/ant_umaze_fresh.json``: each finished run's final policy on ``--fresh-episodes`` fresh
  episodes per mode (the episodes ``lsp eval RUN --episodes N`` plays, and the first draw of
  ``benchmarks/umaze_failures.py --round 0``), and the mean over seeds.

Every run is an ``lsp`` process pinned to one core, ``--jobs`` at a time; re-running the command
skips finished runs and resumes interrupted ones from their checkpoints.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
from pathlib import Path

from latent_space_policies.errors import LSPError
from latent_space_policies.experiments.ant_maze import _command, _finished, run_action_repeat, seed_curve, write_csv
from latent_space_policies.experiments.sweep import run_pinned
from latent_space_policies.pretrained import resolve as resolve_pretrained

ENV_ID = "LSP/AntMazeUMazeEgoWaypoint-v0"
METHOD = "hierarchy+her"
# The high level of the recipe (everything but the layer, seed, budget and evaluation settings).
RECIPE = (
    "--env-id", ENV_ID, "--reward", "100*task", "--relabel-goals", "4", "--relabel-reward", "100",
    "--ent-coef", "0.1", "--base-observation", "6:", "--observation", "0:33",
    "--embedding-hidden", "256", "256", "--critic-hidden", "256", "256", "--gradient-steps", "4",
    "--embedding-dim", "16", "--no-embedding-output-relu", "--coupling-hidden", "8",
    "--base-latent-scale", "0.5",
)  # fmt: skip
CSV_FIELDS = [
    "seed",
    "env_step",
    "success_stochastic_rate",
    "success_deterministic_rate",
    "final_distance_stochastic_mean",
    "final_distance_deterministic_mean",
]


@dataclasses.dataclass
class AntUMazeArgs:
    """Train the U-maze recipe's high level on a pretrained locomotion layer, one run per seed."""

    output_dir: str = "runs/ant_umaze"
    """Folder of every run, the collected CSV, the figure and the fresh evaluation."""
    locomotion: str = "pretrained:ant_locomotion"
    """The frozen locomotion layer (a policy.lsp, or the shipped pretrained:ant_locomotion)."""
    steps: int = 3_000_000
    """Env steps of each run (3M = 200k decisions of 15 steps: the budget of docs/results/ant_maze.md)."""
    action_repeat: int = 15
    """Env steps each high-level latent is held."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds, one run each."""
    jobs: int | None = None
    """Runs at a time, each pinned to its own core; default: one per core this process may use."""
    eval_every: int = 150_000
    """Evaluate every this many env steps."""
    eval_episodes: int = 10
    """Episodes per periodic evaluation, in each mode."""
    fresh_episodes: int = 50
    """Episodes per mode of the final policy's evaluation in ant_umaze_fresh.json (0: skip it)."""
    collect_only: bool = False
    """Only collect, plot and evaluate the runs already there."""


def umaze_runs(args: AntUMazeArgs, locomotion: str) -> list[tuple[Path, list[str], int]]:
    """(run folder, command, the run's own step budget in decisions) for every seed."""
    decisions, every = args.steps // args.action_repeat, args.eval_every // args.action_repeat  # 0: never
    runs = []
    for seed in args.seeds:
        run = Path(args.output_dir) / f"umaze__{METHOD}__{seed}"
        command = ["stack", locomotion, *RECIPE, "--seed", str(seed), "--action-repeat", str(args.action_repeat)]
        command += ["--eval-episodes", str(args.eval_episodes)]
        runs.append((run, _command(run, decisions, command, every), decisions))
    return runs


def _runs(out: Path) -> list[tuple[int, Path]]:
    found = []
    for run in sorted(out.glob(f"umaze__{METHOD}__*")):
        seed = run.name.rsplit("__", 1)[1]
        if run.is_dir() and seed.isdigit():
            found.append((int(seed), run))
    return found


def collect(out: Path) -> Path:
    """One row per (run, evaluation), env steps on the x axis (a run that has not yet saved its
    settings is left out)."""
    rows = []
    for seed, run in _runs(out):
        repeat = run_action_repeat(run)
        if repeat is None or not (run / "eval.csv").exists():
            continue
        with open(run / "eval.csv") as handle:
            for row in csv.DictReader(handle):
                record = {"seed": seed, "env_step": int(row["step"]) * repeat}
                record.update({k: row.get(k, "") for k in CSV_FIELDS[2:]})
                rows.append(record)
    return write_csv(out / "ant_umaze.csv", CSV_FIELDS, rows)


def plot(csv_path: Path, png_path: Path) -> Path:
    """Success rate (stochastic and deterministic) against env steps, mean +- std over the seeds."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LSPError("plots need the 'plot' extra: pip install 'latent-space-policies[plot]'") from None

    with open(csv_path) as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("success_stochastic_rate") not in ("", None)]
    if not rows:
        raise LSPError(f"{csv_path} has no success rates yet: run the experiment first")
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for metric, label in (("success_stochastic_rate", "stochastic"), ("success_deterministic_rate", "deterministic")):
        by_step: dict[int, list[float]] = {}
        for r in rows:
            by_step.setdefault(int(r["env_step"]), []).append(float(r[metric]))
        steps, mean, std, seeds = seed_curve(by_step)  # only steps every seed reached
        line = ax.plot(steps, mean, marker=".", label=f"{label} ({seeds} seed{'s' * (seeds > 1)})")[0]
        ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("goal reached (periodic evaluations)")
    ax.set_title("U-maze, hierarchy on a frozen locomotion layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path


def fresh_evaluation(out: Path, episodes: int, steps: int) -> Path:
    """Each finished run's final policy on ``episodes`` fresh episodes per mode (the episodes of
    ``lsp eval RUN --episodes N``), and the mean over those runs; written as ``ant_umaze_fresh.json``."""
    import numpy as np

    from latent_space_policies.checkpoint import load_checkpoint
    from latent_space_policies.envs import make_env
    from latent_space_policies.evaluation import goal_stats
    from latent_space_policies.loading import load_policy

    path = out / "ant_umaze_fresh.json"
    try:
        previous = json.loads(path.read_text()).get("runs", {}) if path.exists() else {}
    except ValueError:
        raise LSPError(f"{path} is not JSON: delete it and run again to evaluate every finished run") from None
    runs = {}  # only the runs finished now; an entry is reused only for the same policy file
    for seed, run in _runs(out):
        if not _finished(run, steps):
            continue
        _, metadata = load_checkpoint(run / "policy.lsp", sections=())
        entry = {
            "run": run.name, "step": int(metadata.get("step", 0)), "episodes": episodes,
            "policy_mtime_ns": (run / "policy.lsp").stat().st_mtime_ns,
        }  # fmt: skip
        if {k: previous.get(str(seed), {}).get(k) for k in entry} == entry:
            runs[str(seed)] = previous[str(seed)]  # this policy was evaluated on as many episodes already
            continue
        loaded = load_policy(run)
        for mode in ("stochastic", "deterministic"):
            env = make_env(loaded.env_id, max_episode_steps=1000)  # as `lsp eval` (the maze's own 700 end them)
            infos: list[dict] = []
            loaded.evaluate(
                env, episodes=episodes, deterministic=mode == "deterministic", seed=0, final_infos=infos,
                latent_per_episode=loaded.trained_latent_per_episode,
            )  # fmt: skip
            env.close()
            success, distance = goal_stats(infos)
            entry[f"success_{mode}"] = round(success * episodes)
            entry[f"final_distance_{mode}"] = round(distance, 3)
        runs[str(seed)] = entry
    report = {"runs": runs}
    done = [runs[k] for k in sorted(runs, key=int)]
    if done:
        report["mean_over_seeds"] = {
            "seeds": len(done),
            **{f"success_{m}_rate": float(np.mean([r[f"success_{m}"] / r["episodes"] for r in done])) for m in ("stochastic", "deterministic")},
        }  # fmt: skip
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def run_umaze(args: AntUMazeArgs) -> Path:
    """Train every seed's run, collect, plot and evaluate the finished ones. Returns the CSV's path."""
    if args.steps < args.action_repeat:
        raise LSPError(f"--steps {args.steps}: give at least --action-repeat ({args.action_repeat}) env steps")
    if args.action_repeat < 1:
        raise LSPError(f"--action-repeat {args.action_repeat}: give 1 or more env steps per decision")
    if args.fresh_episodes < 0:
        raise LSPError(f"--fresh-episodes {args.fresh_episodes}: give 0 (skip) or more episodes")
    if 0 < args.eval_every < args.action_repeat or args.eval_every < 0:
        raise LSPError(f"--eval-every {args.eval_every}: give 0 (never) or at least --action-repeat ({args.action_repeat}) env steps")
    if not args.seeds or min(args.seeds) < 0 or len(set(args.seeds)) != len(args.seeds):
        raise LSPError(f"--seeds {' '.join(map(str, args.seeds))}: give distinct seeds, 0 or more")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    decisions = args.steps // args.action_repeat
    if not args.collect_only:
        if not Path(resolve_pretrained(args.locomotion)).is_file():
            raise LSPError(f"--locomotion {args.locomotion}: no such file; give a trained layer's policy.lsp")
        todo = [(run, command) for run, command, steps in umaze_runs(args, args.locomotion) if not _finished(run, steps)]
        failed = [run.name for run, code in run_pinned(todo, args.jobs) if code != 0]
        if failed:
            print(f"warning: runs failed (see their .log files): {', '.join(failed)}", file=sys.stderr)
    path = collect(out)
    try:
        plot(path, out / "ant_umaze.png")
    except LSPError as error:
        print(f"note: no figure ({error})", file=sys.stderr)
    if args.fresh_episodes:
        fresh = fresh_evaluation(out, args.fresh_episodes, decisions)
        mean = json.loads(fresh.read_text()).get("mean_over_seeds")
        if mean:
            print(
                f"U-maze, {mean['seeds']} finished run(s) in {out}, {args.fresh_episodes} fresh episodes per mode: goal reached in "
                f"{100 * mean['success_stochastic_rate']:.0f}% (stochastic), {100 * mean['success_deterministic_rate']:.0f}% "
                f"(deterministic); {fresh}"
            )
    return path
