"""The paper's Fig. 5: the ant maze with a pretrained locomotion layer, as one resumable command.

    lsp experiment ant-maze --output-dir runs/ant_maze --steps 3000000

1. The locomotion layer: by default the one shipped with the package (``pretrained:ant_locomotion``,
   see ``pretrained/MODELS.md``); ``--locomotion PATH`` uses another, and ``--locomotion None``
   pretrains one, ``OUT/locomotion__{seed}``: a squashed LSP on ``LSP/AntArenaUpright-v0`` (speed in
   any direction; the episode also ends when the ant turns upside down, see envs/ant.py) with the
   paper's settings for low levels (the ``paper`` variant: fixed temperature, the Ant preset's reward
   scale 3; 4M steps).
2. For each goal of ``LSP/AntCrossMaze-Goal{0,1,2}-v1`` (falls do not end the episode: see envs/ant.py)
   and each seed, train:
   - ``hierarchy``: a high level on the frozen locomotion layer (no squash, Gaussian prior, each latent
     held for ``--action-repeat`` env steps, its own latent sampled once per episode, embedding
     2x128 -> 16 linear, s/t width 8; SPEC §6), seeing the full observation; the low level sees
     ``obs[2:]``. The paper held each latent 3 rllab steps (0.06 s); the default here is 15 Gymnasium
     steps (0.75 s), with which the dense-reward check learns (docs/results/ant_maze.md);
   - ``hierarchy-paper``: the same with the original high level's SAC (``--variant paper``: one Q,
     a V and a target V); both high levels keep a fixed temperature with reward scale 3 (the
     default of a level with a Gaussian prior, see sac.py);
   - ``scratch``: a single LSP from scratch on the sparse task reward;
   - ``finetune``: the pretrained locomotion policy fine-tuned on the task reward (it sees ``obs[2:]``,
     as when it was trained);
   - ``finetune-xy``: the same, also shown the torso's xy (``obs[:2]``) with zero initial weights
     (``--init-policy-observation 2:``), so that it starts as the layer and can learn where it is. The
     paper's layer was trained on rllab's ant observation, which includes the torso's position, so its
     fine-tuned baselines could see it; ours was trained without it (Gymnasium's Ant), and ``finetune``
     cannot tell where in the maze it is (nor can its critic: benchmarks/maze_values.py);
   - ``scratch+motion`` / ``finetune+motion`` / ``finetune-xy+motion``: the same with the motion reward
     added as shaping;
   - ``hierarchy-sql``: the paper's "our method applied to soft Q-learning" (Fig. 5, yellow): the
     same high level trained with SQL (``--algorithm sql``: alpha 1, reward scale 3 as the SAC high
     levels) on the same frozen layer. SQL's sampler acts in [-1, 1]^8 under a uniform prior (its
     importance-sampled soft value needs a bounded action), so the layer is handed twice its action
     as its latent (``--base-latent-scale 2``: +-2 per coordinate, 95% of a N(0, 1) coordinate's range);
   - ``hierarchy+visits``, ``scratch+visits``, ``finetune+visits``, ``finetune-xy+visits``,
     ``hierarchy-sql+visits`` (not in the paper): the sparse reward
     plus a goal-agnostic count-based exploration bonus on the torso's xy (``--reward task+visits_xy``:
     1/sqrt(visits) of the current 1 m cell per env step, see rewards.py), the same for every goal.
   With ``--goal-free``, the baselines (every ``scratch*`` and ``finetune*`` method, whose reward
   depends on the goal only through the sparse goal term) train once per seed, as
   ``OUT/nogoal__METHOD__SEED``, on ``LSP/AntCrossMaze-NoGoal-v1`` (the maze without a goal reward or
   ending), instead of once per goal and seed: such a run is, step for step, the run it would have
   made on each goal's maze that its training episodes never came within 2 of (tested; the
   collection prints, per run and goal, how many of its episodes did, from ``goals_reached`` in
   ``episodes.csv``). Its evaluations measure the distance to the nearest goal, so it is left out of
   the CSV and the figure (no per-goal learning curve); ``benchmarks/maze_failures.py RUN --goal K``
   plays its final policy on goal K. Every maze run keeps a policy snapshot at each evaluation
   (``RUN/checkpoints/step_*.lsp``), which the same script plays in place of RUN.
3. Collect every evaluation into ``OUT/ant_maze.csv`` (final distance to the goal, success rate and
   return against env steps) and plot ``OUT/ant_maze.png`` in the style of Fig. 5.

Every run is an ``lsp`` process pinned to one core, ``--jobs`` at a time; re-running the command
skips finished runs and resumes interrupted ones from their checkpoints. Steps are env steps for
every method: a high level's run is given ``steps / repeat`` decisions, and its evaluations are
plotted at ``repeat`` times its own step count (exact up to the episodes that end inside a held action).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import sys
from pathlib import Path
from typing import Sequence

from latent_space_policies.envs.ant import CROSS_MAZE_GOALS, NO_GOAL_MAZE, cross_maze_id
from latent_space_policies.errors import LSPError
from latent_space_policies.pretrained import resolve as resolve_pretrained
from latent_space_policies.experiments.sweep import run_pinned

ARENA = "LSP/AntArenaUpright-v0"
METHODS = ("hierarchy", "hierarchy-paper", "scratch", "finetune", "scratch+motion", "finetune+motion",
           "hierarchy+visits", "scratch+visits", "finetune+visits",
           "finetune-xy", "finetune-xy+motion", "finetune-xy+visits",
           "hierarchy-sql", "hierarchy-sql+visits")  # fmt: skip
SHAPING = {"motion": "task+speed_xy", "visits": "task+visits_xy"}  # method suffix -> the run's --reward
ACTION_REPEAT = 15
SQL_LATENT_SCALE = 2.0  # an SQL high level acts in [-1, 1]^8; the layer sees twice that as its latent


def maze_id(goal: int) -> str:
    return cross_maze_id(goal)


@dataclasses.dataclass
class AntMazeArgs:
    """Pretrain a locomotion layer, then train hierarchies and the paper's baselines on the maze goals."""

    output_dir: str = "runs/ant_maze"
    """Folder of every run, the collected CSV and the figure."""
    pretrain_steps: int = 4_000_000
    """Env steps of locomotion pretraining (the paper: about 4M)."""
    pretrain_variant: str = "paper"
    """SAC variant of the locomotion pretraining: 'paper' (fixed temperature, the Ant preset's reward
    scale 3), as the paper trains low levels with the benchmark's settings."""
    locomotion: str | None = "pretrained:ant_locomotion"
    """The trained locomotion layer (a policy.lsp, or the shipped pretrained:ant_locomotion);
    None pretrains one in OUT/locomotion__SEED for `--pretrain-steps`."""
    steps: int = 3_000_000
    """Env steps of each maze run (3M: the budget at which `hierarchy+visits` reaches every goal in
    about 90% of episodes, docs/results/ant_maze.md)."""
    action_repeat: int = ACTION_REPEAT
    """Env steps each high-level latent is held (the paper: 3 of rllab's 0.02 s steps; with Gymnasium's
    0.05 s steps, 15 learns the dense-reward check where 3 does not, see docs/results/ant_maze.md)."""
    goals: tuple[int, ...] = (0, 1, 2)
    """Goals to train on: 0 = (6, -6), 1 = (6, 6), 2 = (12, 0)."""
    methods: tuple[str, ...] = METHODS
    """Methods to run (see the module docstring)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the maze runs."""
    pretrain_seed: int = 0
    """Seed of the single locomotion layer every hierarchy and fine-tuned run shares."""
    jobs: int | None = None
    """Runs at a time, each pinned to its own core; default: one per core this process may use
    (`taskset -c 1 lsp experiment ant-maze ...` keeps every run on core 1)."""
    eval_every: int = 150_000
    """Evaluate every this many env steps."""
    eval_episodes: int = 10
    """Episodes per evaluation, in each mode (stochastic and deterministic)."""
    max_episode_steps: int = 1000
    """Episode time limit in env steps (SPEC §6: 1000)."""
    variant: str = "modern"
    """SAC variant of every maze run (a high level, with its Gaussian prior, keeps a fixed
    temperature and reward scale 3 in either variant; 'hierarchy-paper' always uses 'paper')."""
    goal_free: bool = False
    """Train each baseline (scratch*, finetune*) once per seed on the maze without a goal
    (LSP/AntCrossMaze-NoGoal-v1, OUT/nogoal__METHOD__SEED) instead of once per goal: for every goal
    its training never came within 2 of, that run is the goal's own run, step for step."""
    collect_only: bool = False
    """Only collect the CSV and draw the figure from the runs already there."""


@dataclasses.dataclass
class AntMazePicturesArgs:
    """Pictures of a finished (or partly finished) ant-maze experiment: what the locomotion latent
    controls, and a video of the best hierarchy run solving its goal."""

    output_dir: str = "runs/ant_maze"
    """The experiment's folder (as given to `lsp experiment ant-maze`)."""
    pretrain_seed: int = 0
    """Which locomotion layer to draw (OUT/locomotion__SEED)."""
    locomotion: str | None = None
    """Draw this locomotion layer (a policy.lsp) instead of the experiment's own."""
    steps: int = 500
    """Env steps each fixed latent is held for in the steering picture."""
    video_goal: int | None = None
    """Goal of the video; default: the goal whose hierarchy runs end closest to it."""
    video_episodes: int = 50
    """Episodes tried (without rendering); the video replays the best: a success if any, else the
    one that ends closest to the goal."""
    video: bool = True
    """Render the video (needs the 'video' extra and MUJOCO_GL=egl or osmesa)."""


# --------------------------------------------------------------------------- the run list
def _finished(run: Path, steps: int) -> bool:
    """True when the run saved its final policy at ``steps`` or later."""
    from latent_space_policies.checkpoint import load_checkpoint

    if not (run / "policy.lsp").exists():
        return False
    _, metadata = load_checkpoint(run / "policy.lsp", sections=())
    return int(metadata.get("step", 0)) >= steps


def _command(run: Path, steps: int, args: list[str], eval_every: int, extra: Sequence[str] = ()) -> list[str]:
    base = [sys.executable, "-m", "latent_space_policies.cli"]
    if (run / "checkpoints" / "latest.lsp").exists():
        return base + ["train", "--resume", str(run), "--total-steps", str(steps), "--no-progress"]
    common = [
        "--output-dir", str(run.parent), "--run-name", run.name, "--total-steps", str(steps), "--no-progress",
        "--eval-every", str(eval_every), "--checkpoint-every", str(max(eval_every, 10_000)), *extra,
    ]  # fmt: skip
    return base + args + common


def pretrain_run(args: AntMazeArgs) -> tuple[Path, list[str]]:
    run = Path(args.output_dir) / f"locomotion__{args.pretrain_seed}"
    command = ["train", "--env-id", ARENA, "--seed", str(args.pretrain_seed), "--variant", args.pretrain_variant]
    command += ["--snapshot-every", "250000"]
    return run, _command(run, args.pretrain_steps, command, 25_000, _episode_settings(args))


def _episode_settings(args: AntMazeArgs) -> list[str]:
    return ["--eval-episodes", str(args.eval_episodes), "--max-episode-steps", str(args.max_episode_steps)]


def maze_runs(args: AntMazeArgs, locomotion: Path) -> list[tuple[Path, list[str], int]]:
    """(run folder, command, the run's own step budget) for every goal x method x seed, the first
    seed of every goal and method first (a run cut short still leaves whole seeds)."""
    runs, seen = [], set()
    for seed in args.seeds:
        for goal in args.goals:
            for method in args.methods:
                if args.goal_free and method.startswith(("scratch", "finetune")):
                    run, env_id = Path(args.output_dir) / f"nogoal__{method}__{seed}", NO_GOAL_MAZE
                else:
                    run, env_id = Path(args.output_dir) / f"goal{goal}__{method}__{seed}", maze_id(goal)
                if run in seen:  # a goal-free run stands for every goal
                    continue
                seen.add(run)
                env = ["--env-id", env_id, "--seed", str(seed), "--variant", args.variant]
                suffix = method.partition("+")[2]
                shaping = ["--reward", SHAPING[suffix]] if suffix in SHAPING else []
                if method.startswith("hierarchy"):
                    command = ["stack", str(locomotion), *env, *shaping, "--base-observation", "2:"]
                    if method == "hierarchy-paper":  # the original high level's SAC: Q + V + target V
                        command = [c for c in command if c not in ("--variant", args.variant)]
                        command += ["--variant", "paper"]
                    command += ["--action-repeat", str(args.action_repeat), "--latent-per-episode"]
                    if method.startswith("hierarchy-sql"):  # soft Q-learning's sampler in [-1, 1]^8, scaled
                        command += ["--algorithm", "sql", "--squash", "True", "--reward-scale", "3"]
                        command += ["--base-latent-scale", str(SQL_LATENT_SCALE)]
                    else:
                        command += ["--embedding-dim", "16", "--no-embedding-output-relu", "--coupling-hidden", "8"]
                    steps, every = args.steps // args.action_repeat, args.eval_every // args.action_repeat
                elif method.startswith("scratch"):
                    command, steps, every = ["train", *env, *shaping], args.steps, args.eval_every
                elif method.startswith("finetune"):
                    inputs = ["--init-policy-observation", "2:"] if method.startswith("finetune-xy") else ["--observation", "2:"]
                    command = ["train", *env, *shaping, *inputs, "--init-policy", str(locomotion)]
                    steps, every = args.steps, args.eval_every
                else:
                    raise LSPError(f"unknown ant-maze method {method!r}: use some of {', '.join(METHODS)}")
                # A policy snapshot at every evaluation, to play any budget's policy on fresh episodes
                # (benchmarks/maze_failures.py RUN/checkpoints/step_*.lsp), or a goal-free run's on each goal.
                command += ["--snapshot-every", str(every)]
                runs.append((run, _command(run, steps, command, every, _episode_settings(args)), steps))
    return runs


# --------------------------------------------------------------------------- results
CSV_FIELDS = [
    "goal",
    "method",
    "seed",
    "env_step",
    "final_distance_stochastic_mean",
    "final_distance_deterministic_mean",
    "success_stochastic_rate",
    "success_deterministic_rate",
    "return_stochastic_mean",
]


def run_action_repeat(run: Path) -> int | None:
    """Env steps per step of the run (its saved config's action repeat; 1 for a flat policy); None
    while its settings are not saved yet (a run just starting, or killed before it saved them)."""
    import json

    try:
        return int(json.loads((run / "config.json").read_text()).get("action_repeat") or 1)
    except (OSError, ValueError):
        return None


def collect(args: AntMazeArgs) -> Path:
    """One row per (run, evaluation), env steps on the x axis for every method (a run that has not
    yet saved its settings is left out)."""
    out = Path(args.output_dir)
    rows = []
    for run in sorted(out.glob("goal*__*__*")):
        if not run.is_dir() or not (run / "eval.csv").exists():
            continue
        goal, method, seed = run.name.split("__")
        scale = run_action_repeat(run)
        if scale is None:  # no steps to put its evaluations at yet
            continue
        with open(run / "eval.csv") as handle:
            for row in csv.DictReader(handle):
                record = {"goal": int(goal.removeprefix("goal")), "method": method, "seed": int(seed)}
                record["env_step"] = int(row["step"]) * scale
                record.update({k: row.get(k, "") for k in CSV_FIELDS[4:]})
                rows.append(record)
    for run in sorted(out.glob("nogoal__*__*")):
        reached = goal_free_reached(run)
        if reached is None:
            continue
        counts, episodes = reached
        stands_for = [goal for goal, count in counts.items() if count == 0]
        print(
            f"{run.name}: of its {episodes} training episodes, "
            + ", ".join(f"{count} reached goal {goal}" for goal, count in counts.items())
            + f": it is the run of goals {stands_for} on their own mazes"
            + ("" if (run / "policy.lsp").exists() else " so far (still training)")
        )
    return write_csv(out / "ant_maze.csv", CSV_FIELDS, rows)


def goal_free_reached(run: Path) -> tuple[dict[int, int], int] | None:
    """({goal: training episodes that came within the goal radius of it}, training episodes) of a
    run on the goal-free maze, from the ``goals_reached`` of its ``episodes.csv``; None where it has
    logged no episode yet."""
    try:
        with open(run / "episodes.csv") as handle:
            episodes = list(csv.DictReader(handle))
    except OSError:
        return None
    if not episodes:
        return None
    reached = [set(row.get("goals_reached", "").split()) for row in episodes]
    return {goal: sum(str(goal) in goals for goals in reached) for goal in range(len(CROSS_MAZE_GOALS))}, len(episodes)


def write_csv(path: Path, fields: Sequence[str], rows: list[dict]) -> Path:
    """Write ``rows`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def seed_curve(by_step: dict[int, list[float]]):
    """(steps, mean, std, seeds) over the steps every seed reached, from the values at each step."""
    import numpy as np

    seeds = max(len(v) for v in by_step.values())
    steps = [s for s in sorted(by_step) if len(by_step[s]) == seeds]
    mean = np.array([np.mean(by_step[s]) for s in steps])
    std = np.array([np.std(by_step[s]) for s in steps])
    return steps, mean, std, seeds


PLOT_ROWS = (("final_distance_stochastic_mean", "final distance to goal"), ("success_stochastic_rate", "success rate (stochastic)"))


# The paper's Fig. 5 colours for its baselines (scratch red, finetune brown, scratch+motion purple,
# finetune+motion pink); its blue for the hierarchy that solves the maze here (with the visit bonus).
METHOD_COLORS = {
    "hierarchy+visits": "C0", "hierarchy": "C1", "hierarchy-paper": "C7", "scratch": "C3", "finetune": "C5",
    "scratch+motion": "C4", "finetune+motion": "C6", "scratch+visits": "C2", "finetune+visits": "C8",
    "finetune-xy": "C9", "finetune-xy+motion": "darkmagenta", "finetune-xy+visits": "k",
    "hierarchy-sql": "gold", "hierarchy-sql+visits": "goldenrod",  # the paper draws SQL in yellow; C8 is olive, C1 orange
}  # fmt: skip


def plot(csv_path: Path, png_path: Path, rows_to_draw=PLOT_ROWS) -> Path:
    """Final distance to the goal (Fig. 5) and success rate vs env steps, mean +- std over seeds,
    one column per goal and one row per ``(metric, label)`` of ``rows_to_draw``."""
    first = rows_to_draw[0][0]
    with open(csv_path) as handle:
        rows = [r for r in csv.DictReader(handle) if r.get(first) not in ("", None)]
    if not rows:
        raise LSPError(f"{csv_path} has no {first} values yet: run the experiment first")
    maze_figure(rows, rows_to_draw).savefig(png_path, dpi=120)
    return png_path


def maze_figure(rows: list[dict], rows_to_draw=PLOT_ROWS):
    """The figure of ``plot`` from the CSV's rows: each method in one colour in every panel
    (METHOD_COLORS), each top panel with a legend of its own methods and their seed counts."""
    try:
        import matplotlib.ticker
        from matplotlib.figure import Figure
    except ImportError:
        raise LSPError("plots need the 'plot' extra: pip install 'latent-space-policies[plot]'") from None
    import numpy as np

    goals = sorted({int(r["goal"]) for r in rows})
    fig = Figure(figsize=(4.2 * len(goals), 3.2 * len(rows_to_draw)), layout="tight")
    axes = fig.subplots(len(rows_to_draw), len(goals), squeeze=False)
    for (metric, label), ax_row in zip(rows_to_draw, axes):
        for ax, goal in zip(ax_row, goals):
            for method in METHODS:
                by_step: dict[int, list[float]] = {}
                for r in rows:
                    if int(r["goal"]) == goal and r["method"] == method and r.get(metric) not in ("", None):
                        by_step.setdefault(int(r["env_step"]), []).append(float(r[metric]))
                if not by_step:
                    continue
                steps, mean, std, seeds = seed_curve(by_step)  # only steps every seed reached
                ax.plot(steps, mean, marker=".", color=METHOD_COLORS[method], label=f"{method} ({seeds})")
                ax.fill_between(steps, mean - std, mean + std, color=METHOD_COLORS[method], alpha=0.2)
            gx, gy = CROSS_MAZE_GOALS[goal]
            if metric.startswith("final_distance"):
                ax.axhline(float(np.hypot(gx, gy)), color="0.5", ls="--", lw=1, label="start (not moving)")
                ax.axhline(2.0, color="0.5", ls=":", lw=1, label="goal reached")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1e3:g}k"))
            ax.set_title(f"goal {goal}: ({gx:g}, {gy:g})")
            ax.set_xlabel("env steps")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    for ax in axes[0]:
        ax.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------- the command
def run_experiment(args: AntMazeArgs) -> Path:
    """Pretrain (once), train every maze run, collect and plot. Returns the CSV's path."""
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        raise LSPError(f"unknown ant-maze methods {sorted(unknown)}: use some of {', '.join(METHODS)}")
    bad_goals = [g for g in args.goals if not 0 <= g < len(CROSS_MAZE_GOALS)]
    if bad_goals:
        raise LSPError(f"unknown goals {bad_goals}: the cross maze has goals 0, 1 and 2")
    if not 1 <= args.action_repeat <= args.max_episode_steps:
        raise LSPError(f"--action-repeat {args.action_repeat}: give 1 to --max-episode-steps ({args.max_episode_steps})")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not args.collect_only:
        if args.locomotion is not None:
            locomotion = Path(resolve_pretrained(args.locomotion))
            if not locomotion.is_file():
                raise LSPError(f"--locomotion {locomotion}: no such file; give a trained layer's policy.lsp")
        else:
            run, command = pretrain_run(args)
            if not _finished(run, args.pretrain_steps):
                [(_, code)] = run_pinned([(run, command)], 1)
                if code != 0:
                    raise LSPError(f"locomotion pretraining failed (exit {code}); see {run}.log")
            locomotion = run / "policy.lsp"
        todo = [(run, command) for run, command, steps in maze_runs(args, locomotion) if not _finished(run, steps)]
        failed = [run.name for run, code in run_pinned(todo, args.jobs) if code != 0]
        if failed:
            print(f"warning: runs failed (see their .log files): {', '.join(failed)}", file=sys.stderr)
    path = collect(args)
    try:
        plot(path, out / "ant_maze.png")
    except LSPError as error:
        print(f"note: no figure ({error})", file=sys.stderr)
    return path


# --------------------------------------------------------------------------- what the latent controls
def latent_rollouts(policy_path: str | Path, latents, steps: int = 500, seed: int = 0):
    """Torso xy paths of the frozen locomotion layer in the open arena, one per fixed latent.

    Each latent is held for the whole episode (at most ``steps`` env steps); every rollout starts
    from the same reset seed, so the paths differ only through the latent. Returns a list of
    (T_k, 2) arrays.
    """
    import numpy as np

    from latent_space_policies.envs import make_env
    from latent_space_policies.experiments.maze_oracle import load_locomotion_layer

    level, act = load_locomotion_layer(policy_path)
    policy = level.policy
    env = make_env(ARENA, max_episode_steps=steps)
    if env.observation_space.shape[0] != policy.observation_dim:
        raise LSPError(f"{policy_path} takes observations of size {policy.observation_dim}, not the arena's")
    paths = []
    for latent in np.asarray(latents, np.float32):
        observation, _ = env.reset(seed=seed)
        path = [env.unwrapped.data.qpos[:2].copy()]
        for _ in range(steps):
            observation, _, terminated, truncated, _ = env.step(np.asarray(act(level.params, observation, latent)))
            path.append(env.unwrapped.data.qpos[:2].copy())
            if terminated or truncated:
                break
        paths.append(np.array(path))
    env.close()
    return paths


def _mean_resultant_length(angles) -> float:
    import numpy as np

    return float(np.hypot(np.mean(np.cos(angles)), np.mean(np.sin(angles))))


def steering_figure(
    policy_path: str | Path, png_path: str | Path, steps: int = 500, radius: float = 2.0, angles: int = 12, seed: int = 0
) -> dict:
    """Draw the frozen layer's torso paths for latents on circles in pairs of latent dimensions
    (colour = angle on the circle) and for random latents; return numbers that say how much the
    latent steers the direction of travel.

    ``heading_spread``: 1 - mean resultant length of the final headings of the random latents
    (0: all go the same way; near 1: directions spread around the circle). ``circle_tracking[pair]``:
    the mean resultant length of (heading - circle angle) around that pair's circle, which is 1 when the
    heading turns exactly with the latent's angle (up to a constant offset) and near 0 when unrelated.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LSPError("plots need the 'plot' extra: pip install 'latent-space-policies[plot]'") from None
    import numpy as np

    from latent_space_policies.hierarchy import load_levels

    dim = load_levels(policy_path)[0][0].policy.action_dim
    pairs = [(i, i + 1) for i in range(0, dim - 1, 2)]
    theta = np.linspace(0, 2 * np.pi, angles, endpoint=False)
    rng = np.random.default_rng(seed)
    random_latents = rng.standard_normal((angles * 2, dim))
    fig, axes = plt.subplots(1, len(pairs) + 1, figsize=(3.3 * (len(pairs) + 1), 3.4), squeeze=False)
    stats: dict = {"circle_tracking": {}, "mean_final_distance": {}}
    colours = plt.get_cmap("hsv")(theta / (2 * np.pi))
    for ax, (i, j) in zip(axes[0], pairs):
        latents = np.zeros((angles, dim))
        latents[:, i], latents[:, j] = radius * np.cos(theta), radius * np.sin(theta)
        paths = latent_rollouts(policy_path, latents, steps=steps, seed=seed)
        headings = []
        for path, colour in zip(paths, colours):
            ax.plot(path[:, 0], path[:, 1], color=colour, lw=1)
            ax.plot(*path[-1], "o", color=colour, ms=3)
            delta = path[-1] - path[0]
            headings.append(np.arctan2(delta[1], delta[0]))
        stats["circle_tracking"][f"h{i},h{j}"] = _mean_resultant_length(np.array(headings) - theta)
        stats["mean_final_distance"][f"h{i},h{j}"] = float(np.mean([np.linalg.norm(p[-1] - p[0]) for p in paths]))
        ax.set_title(f"latent circle in (h{i}, h{j}), r={radius:g}", fontsize=9)
    ax = axes[0][-1]
    paths = latent_rollouts(policy_path, random_latents, steps=steps, seed=seed)
    headings = []
    for path in paths:
        ax.plot(path[:, 0], path[:, 1], color="0.35", lw=0.8)
        delta = path[-1] - path[0]
        headings.append(np.arctan2(delta[1], delta[0]))
    zero = latent_rollouts(policy_path, np.zeros((1, dim)), steps=steps, seed=seed)[0]
    ax.plot(zero[:, 0], zero[:, 1], color="k", lw=2, label="h = 0")
    ax.legend(fontsize=7)
    ax.set_title(f"{len(paths)} random latents h ~ N(0, I)", fontsize=9)
    stats["heading_spread"] = 1.0 - _mean_resultant_length(np.array(headings))
    stats["random_mean_final_distance"] = float(np.mean([np.linalg.norm(p[-1] - p[0]) for p in paths]))
    for ax in axes[0]:
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("y")
    fig.suptitle(f"torso paths of the frozen locomotion layer, {steps} steps, each latent held", fontsize=10)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return stats


def maze_video(policy_path: str | Path, goal: int, video_path: str | Path, episodes: int = 50, seed: int = 0) -> dict:
    """Film the best of ``episodes`` stochastic episodes of a maze policy (hierarchy or single
    level) from a camera above the maze. The episodes are first run without rendering; the best one
    (a success if any, the shortest such; else the one ending closest to the goal) is then replayed,
    with the same seeds, and rendered. Returns that episode's final distance, success, length and
    return, plus the success rate and mean final distance over all ``episodes``."""
    import gymnasium as gym

    try:
        import imageio.v2 as imageio
    except ImportError:
        raise LSPError("video needs the 'video' extra: pip install 'latent-space-policies[video]'") from None
    from latent_space_policies.loading import load_policy

    loaded = load_policy(policy_path)

    def episode(index: int, frames: list | None) -> dict:
        render = {"render_mode": "rgb_array", "camera_name": "maze_top", "width": 480, "height": 360}
        env = gym.make(maze_id(goal), **(render if frames is not None else {}))
        infos: list = []
        [(total, length)] = loaded.evaluate(
            env, episodes=1, deterministic=False, seed=seed, round_index=index, frames=frames, final_infos=infos
        )
        env.close()
        return {"distance": float(infos[0]["distance_to_goal"]), "success": bool(infos[0]["is_success"]),
                "length": length, "return": total, "episode": index}  # fmt: skip

    results = [episode(index, None) for index in range(episodes)]
    best = min(results, key=lambda r: (not r["success"], r["length"] if r["success"] else r["distance"]))
    frames: list = []
    replay = episode(best["episode"], frames)
    if abs(replay["distance"] - best["distance"]) > 1e-3:
        raise LSPError(f"the rendered replay of episode {best['episode']} ended elsewhere than its scan")
    Path(video_path).parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(str(video_path), frames[::2], fps=30, macro_block_size=1)
    summary = {"episodes": episodes, "success_rate": sum(r["success"] for r in results) / episodes,
               "mean_distance": sum(r["distance"] for r in results) / episodes}  # fmt: skip
    return {**replay, **summary}


def _video_rank(run: Path) -> tuple[int, float]:
    """Sort key of a hierarchy run for the video: most goals reached in its last 100 training
    episodes first, then the smallest final distance at its last evaluation."""
    from latent_space_policies.envs.ant import GOAL_RADIUS

    with open(run / "episodes.csv") as handle:
        episodes = list(csv.DictReader(handle))[-100:]
    reached = sum(float(row.get("final_distance") or "inf") <= GOAL_RADIUS for row in episodes)
    with open(run / "eval.csv") as handle:
        rows = list(csv.DictReader(handle))
    distance = float(rows[-1]["final_distance_stochastic_mean"] or "inf") if rows else float("inf")
    return -reached, distance


def pictures(args: AntMazePicturesArgs) -> dict:
    """The steering picture (``steering.png`` + ``steering.json``) and the video (``maze.mp4``)."""
    import json

    out = Path(args.output_dir)
    if args.locomotion is not None:
        locomotion = Path(resolve_pretrained(args.locomotion))
    else:  # the experiment's own layer if it pretrained one, else the shipped one
        locomotion = out / f"locomotion__{args.pretrain_seed}" / "policy.lsp"
        if not locomotion.exists():
            locomotion = Path(resolve_pretrained("pretrained:ant_locomotion"))
    if not locomotion.exists():
        raise LSPError(f"{locomotion} not found: run `lsp experiment ant-maze --output-dir {out}` first")
    out.mkdir(parents=True, exist_ok=True)
    made: dict = {}
    stats = steering_figure(locomotion, out / "steering.png", steps=args.steps)
    (out / "steering.json").write_text(json.dumps(stats, indent=2) + "\n")
    made["steering"] = f"{out / 'steering.png'} {json.dumps(stats)}"
    candidates = []
    for run in sorted(out.glob("goal*__hierarchy*__*")) if args.video else []:
        goal = int(run.name.split("__")[0].removeprefix("goal"))
        if run.is_dir() and (run / "policy.lsp").exists() and (args.video_goal is None or goal == args.video_goal):
            candidates.append((*_video_rank(run), goal, run))
    if not candidates:
        made["video"] = "none: no finished hierarchy run" if args.video else "not asked for"
        return made
    *_, goal, run = min(candidates)
    result = maze_video(run / "policy.lsp", goal, out / "maze.mp4", episodes=args.video_episodes)
    made["video"] = f"{out / 'maze.mp4'} from {run.name}: {json.dumps(result)}"
    return made
