"""Command line: ``lsp train`` and ``lsp eval``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Literal

import tyro

from latent_space_policies.errors import STOPPED_AT_ONCE, LSPError, TrainingInterrupted, read_toml
from latent_space_policies.training import TrainConfig


@dataclasses.dataclass
class TrainArgs:
    """Train a latent space policy (or a Gaussian SAC policy) on a Gymnasium task."""

    config: Annotated[TrainConfig, tyro.conf.arg(name="")]
    resume: str | None = None
    """Continue the run in this folder from its latest checkpoint (other settings come from it)."""

    typed: tyro.conf.Suppress[frozenset[str]] = frozenset()
    """The settings named on the command line (filled in by `main`): resume compares only these."""


@dataclasses.dataclass
class StackArgs:
    """Freeze a trained layer and train a new layer on its latent space (one step of Algorithm 1)."""

    base: tyro.conf.Positional[str]
    """The frozen layer(s): a run folder, a policy.lsp, or a hierarchy file."""
    config: Annotated[TrainConfig, tyro.conf.arg(name="")]


@dataclasses.dataclass
class HierarchyArgs:
    """Run Algorithm 1 end to end from a TOML file: one [[level]] table per layer, bottom first.

    Top-level keys are settings shared by every level (any `lsp train` setting, e.g. env_id, seed,
    output_dir); each [[level]] may override any of them (reward, total_steps, action_repeat, ...).
    Level k trains in OUTPUT_DIR/level{k} on top of the levels below it; re-running the command
    skips finished levels and resumes an unfinished one. The result is OUTPUT_DIR/hierarchy.lsp.
    """

    config_file: tyro.conf.Positional[str]
    """The TOML file."""
    progress: bool = True
    """Show progress bars."""


@dataclasses.dataclass
class EvalArgs:
    """Evaluate a saved policy: mean and std of the episode return."""

    checkpoint: tyro.conf.Positional[str]
    """A run folder, RUN_DIR/checkpoints/latest.lsp, or RUN_DIR/policy.lsp."""
    episodes: int = 10
    """Number of episodes."""
    deterministic: bool = False
    """Use the latent h = 0 instead of sampling h ~ N(0, I) (the paper samples)."""
    latent: Literal["as-trained", "per-episode", "per-step"] = "as-trained"
    """Stochastic mode: hold one sampled latent per episode, or draw one per step; as-trained: as the
    policy's run did (its --latent-per-episode)."""
    env_id: str | None = None
    """Evaluate on this env id instead of the one the policy was trained on (shapes must match)."""
    seed: int = 0
    """Seed of the episodes and of the latent samples."""
    max_episode_steps: int | None = None
    """Episode time limit in env steps (default: the one the policy's run trained with)."""
    video: str | None = None
    """Write an MP4 of the episodes here (needs the 'video' extra and MUJOCO_GL=egl or osmesa)."""


def run_train(args: TrainArgs) -> None:
    from latent_space_policies.training import resume, train

    if args.resume is None:
        result = train(args.config)
    else:
        # Every setting typed on the command line, even one equal to its default (`--seed 0` on a
        # run of seed 1 is refused, not ignored).
        names = {f.name for f in dataclasses.fields(TrainConfig)} - {"total_steps"}
        asked = {name: getattr(args.config, name) for name in args.typed & names}
        result = resume(args.resume, total_steps=args.config.total_steps, **asked)
    last = result.evaluations[-1] if result.evaluations else None
    summary = f"done: {result.steps} steps in {result.run_dir}"
    if last is not None:
        summary += (
            f"; last eval return {last['return_stochastic_mean']:.1f} (stochastic), "
            f"{last['return_deterministic_mean']:.1f} (deterministic)"
        )
    print(summary)


def run_stack(args: StackArgs) -> None:
    from latent_space_policies.hierarchy import load_levels
    from latent_space_policies.training import train

    _, metadata = load_levels(args.base)
    config = dataclasses.replace(args.config, base=args.base)
    if args.config.env_id == TrainConfig().env_id and metadata.get("env_id") not in (None, "?"):
        config = dataclasses.replace(config, env_id=metadata["env_id"])
    result = train(config)
    print(f"done: {result.steps} steps in {result.run_dir}; the whole hierarchy is {result.run_dir / 'policy.lsp'}")


def hierarchy_levels_from_toml(config_file: str | Path, progress: bool = True) -> tuple[list[TrainConfig], Path]:
    """The levels' settings of a hierarchy file (see ``lsp hierarchy --help``), every one checked
    before any level trains, and the output folder. Level k trains in ``OUTPUT_DIR/level{k}``."""
    document = read_toml(config_file, "hierarchy config")
    level_tables = document.pop("level", None)
    if not isinstance(level_tables, list) or not level_tables:
        raise LSPError(f"{config_file} needs at least one [[level]] table (one per layer, bottom first)")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for where, table in [("top level", document)] + [(f"level {k}", t) for k, t in enumerate(level_tables)]:
        unknown = sorted(set(table) - known)
        if unknown:
            raise LSPError(f"{config_file}: unknown settings {unknown} in the {where}; see `lsp train --help`")
    output_dir = Path(document.pop("output_dir", "runs/hierarchy"))
    levels = []
    for k, table in enumerate(level_tables):
        settings = {**document, **table, "output_dir": str(output_dir), "run_name": f"level{k}", "progress": progress}
        for name in ("embedding_hidden", "critic_hidden"):
            if isinstance(settings.get(name), list):
                settings[name] = tuple(settings[name])
        try:
            levels.append(TrainConfig(**settings).check())
        except LSPError as error:
            raise LSPError(f"{config_file}, level {k}: {error}") from None
    return levels, output_dir


def train_or_resume_level(config: TrainConfig) -> Path:
    """One level of ``lsp hierarchy``: skipped when its run finished, resumed when it started."""
    from latent_space_policies.checkpoint import load_checkpoint
    from latent_space_policies.presets import get_preset
    from latent_space_policies.training import resume, train

    steps = config.total_steps if config.total_steps is not None else get_preset(config.env_id).total_steps
    run_dir = Path(config.output_dir) / config.run_name
    policy_file = run_dir / "policy.lsp"
    if policy_file.exists() and load_checkpoint(policy_file, sections=())[1]["step"] >= steps:
        print(f"{config.run_name}: finished earlier ({policy_file})")
    elif (run_dir / "checkpoints" / "latest.lsp").exists():
        print(f"{config.run_name}: resuming {run_dir}")
        resume(run_dir, total_steps=steps, progress=config.progress)
    else:
        print(f"{config.run_name}: training in {run_dir}")
        train(config)
    return run_dir


def run_hierarchy(args: HierarchyArgs) -> None:
    from latent_space_policies.hierarchy import algorithm_1, save_hierarchy

    levels, output_dir = hierarchy_levels_from_toml(args.config_file, progress=args.progress)
    frozen = algorithm_1(levels, train_level=train_or_resume_level)
    path = save_hierarchy(output_dir / "hierarchy.lsp", frozen, levels[-1].env_id)
    print(f"done: hierarchy saved to {path}")


def run_eval(args: EvalArgs) -> None:
    import numpy as np

    from latent_space_policies.envs import make_env
    from latent_space_policies.errors import CheckpointError, SettingsError, ShapeError
    from latent_space_policies.evaluation import goal_stats
    from latent_space_policies.hierarchy import ObservationMap
    from latent_space_policies.loading import load_policy

    if args.deterministic and args.latent != "as-trained":
        raise SettingsError(f"--latent {args.latent} applies to sampled latents; drop it or --deterministic")
    for name, value in (("episodes", args.episodes), ("max-episode-steps", args.max_episode_steps)):
        if value is not None and value < 1:
            raise SettingsError(f"--{name} must be greater than 0, got {value}")
    loaded = load_policy(args.checkpoint)
    env_id = args.env_id or loaded.env_id
    config = loaded.metadata.get("config", {})
    limit = args.max_episode_steps  # default: the run's own (None there: the env's registered limit)
    if limit is None:
        limit = config.get("max_episode_steps", TrainConfig.max_episode_steps)
    env = make_env(env_id, max_episode_steps=limit, render_mode="rgb_array" if args.video else None)
    seen = ObservationMap.parse(config.get("observation", "all"))
    obs_dim, act_dim = seen.output_dim(env.observation_space.shape[0]), env.action_space.shape[0]
    if (obs_dim, act_dim) != (loaded.observation_dim, loaded.action_dim):
        raise ShapeError(
            f"{args.checkpoint} was trained on {loaded.env_id} (obs {loaded.observation_dim}, action "
            f"{loaded.action_dim}); {env_id} has obs {obs_dim}, action {act_dim}. Pass a checkpoint trained on {env_id}"
        )
    if args.env_id and args.env_id != loaded.env_id:
        print(f"note: policy trained on {loaded.env_id}, evaluated on {env_id}", file=sys.stderr)
    frames = [] if args.video else None
    final_infos: list[dict] = []
    held = {"as-trained": loaded.trained_latent_per_episode, "per-episode": True, "per-step": False}[args.latent]
    # The top level acts in the env with every level below it embedded (their latent holds included).
    results = loaded.evaluate(
        env, episodes=args.episodes, deterministic=args.deterministic, seed=args.seed, frames=frames,
        final_infos=final_infos, latent_per_episode=held,
    )  # fmt: skip
    returns = np.array([r for r, _ in results])
    lengths = np.array([n for _, n in results])
    mode = "deterministic" if args.deterministic else f"stochastic, {'one latent per episode' if held else 'a latent per step'}"
    print(
        f"{env_id}: return {returns.mean():.1f} +- {returns.std():.1f} over {len(returns)} episodes ({mode}); "
        f"mean length {lengths.mean():.0f}"
    )
    goal = goal_stats(final_infos)
    if goal is not None:  # a maze: how many got there
        reached, episodes = round(goal[0] * len(final_infos)), len(final_infos)
        print(f"{env_id}: goal reached in {reached} of {episodes} episodes; final distance {goal[1]:.2f} (mean)")
    if args.video:
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise CheckpointError("video needs the 'video' extra: pip install 'latent-space-policies[video]'") from None
        fps = env.metadata.get("render_fps", 30)
        Path(args.video).parent.mkdir(parents=True, exist_ok=True)
        imageio.mimsave(args.video, frames, fps=fps, macro_block_size=1)
        print(f"video: {args.video} ({len(frames)} frames)")


def run_ant_maze(args) -> None:
    from latent_space_policies.experiments.ant_maze import run_experiment

    path = run_experiment(args)
    print(f"done: evaluations in {path}, figure in {path.with_suffix('.png')}")


def run_ant_umaze(args) -> None:
    from latent_space_policies.experiments.ant_umaze import run_umaze

    path = run_umaze(args)
    print(f"done: evaluations in {path}, figure in {path.with_suffix('.png')}")


def run_ant_maze_oracle(args) -> None:
    from latent_space_policies.experiments.maze_oracle import run_oracle, summary

    report = run_oracle(args)
    print(summary(report))
    if args.output:
        print(f"report: {args.output}")


def run_ant_maze_pictures(args) -> None:
    from latent_space_policies.experiments.ant_maze import pictures

    for name, value in pictures(args).items():
        print(f"{name}: {value}")


@dataclasses.dataclass
class ExperimentArgs:
    """Reproduce one of the paper's experiments: `lsp experiment ant-maze --help`,
    `lsp experiment ant-umaze --help`, `lsp experiment ant-maze-pictures --help`,
    `lsp experiment ant-maze-oracle --help`."""


@dataclasses.dataclass
class SweepArgs:
    """Run a grid of training runs (tasks x methods x seeds), one process per core, resumably.

    The grid comes from a TOML file and/or the flags below (flags win). Each run trains in
    OUTPUT/{task}__{method}__{seed}; re-running the same command skips finished runs and resumes
    interrupted ones. At the end every run's eval.csv is collected into OUTPUT/results.csv (one row
    per run and evaluation), which `lsp plot` turns into curves and a table.

    Methods: sac-lsp (ours, --policy lsp), sac (--policy gaussian), sac-gmm (--policy gmm),
    sql (--algorithm sql); Stable-Baselines3 peers (the 'peers' extra): ppo, ddpg, td3, sb3-sac.

    A grid file (all keys optional; flags override them):

        tasks = ["Hopper-v5", "Walker2d-v5"]
        methods = ["sac-lsp", "sac", "td3"]
        seeds = 5               # or [0, 1, 2, 3, 4]
        output_dir = "sweeps/fig3"
        eval_every = 10000
        eval_episodes = 5
        checkpoint_every = 50000
        max_episode_steps = 1000  # 0: the env's own
        [steps]                 # or steps = 1000000
        "Hopper-v5" = 1000000   # default: preset's
        "Walker2d-v5" = 3000000
        [train]                 # more `lsp train`
        batch_size = 256        # settings, ours only
        [peer]                  # more settings of
        learning_starts = 10000 # the SB3 peers
        [method.sac-lsp-paper]  # a new method: a
        base = "sac-lsp"        # known one with
        variant = "paper"       # settings changed
    """

    grid: tyro.conf.Positional[str | None] = None
    """The TOML grid file (optional when --tasks and --methods are given)."""
    tasks: tuple[str, ...] | None = None
    """Gymnasium task ids."""
    methods: tuple[str, ...] | None = None
    """Method names (see above)."""
    seeds: tuple[int, ...] | None = None
    """Seeds (default 0)."""
    steps: int | None = None
    """Env steps of every run (overrides the file's budgets; default: each task's preset budget)."""
    output_dir: str | None = None
    """Folder of the run folders and results.csv (default sweeps/sweep)."""
    eval_every: int | None = None
    """Evaluate every this many env steps (default 10000)."""
    eval_episodes: int | None = None
    """Episodes per evaluation and mode (default 5)."""
    checkpoint_every: int | None = None
    """Checkpoint every this many env steps (default 50000)."""
    order: Literal["task", "seed"] | None = None
    """Order in which runs start (default 'task': task, method, seed); 'seed': every task and method
    at one seed before the next seed, so a grid cut short has the most cells filled."""
    jobs: int | None = None
    """Runs at a time (default: one per core this process may use)."""
    cores: tuple[int, ...] | None = None
    """Cores to pin runs to, one run per core (default: all cores this process may use)."""
    pin: bool = True
    """Pin each run to its core with taskset."""
    jax_cache: bool = True
    """Share a JAX compilation cache among the runs (OUTPUT/.jax_cache or $JAX_COMPILATION_CACHE_DIR)."""
    backend: Literal["local", "ray"] = "local"
    """'local': subprocesses on this machine; 'ray': one Ray task (1 CPU) per run (the 'ray' extra)."""
    address: str | None = None
    """Ray cluster address (e.g. 'auto' or 'ray://head:10001'); default: start a local Ray instance."""
    collect_only: bool = False
    """Only collect the eval.csv files already in OUTPUT_DIR into the results CSV."""
    results: str | None = None
    """Path of the results CSV (default OUTPUT_DIR/results.csv)."""
    merge: bool = False
    """Keep the runs already in the results CSV that OUTPUT_DIR does not hold (a grid run over several
    sessions or machines, e.g. --collect-only --results results/fig3.csv --merge); a run in both is
    replaced by OUTPUT_DIR's. Without --collect-only, runs that OUTPUT_DIR does not hold and that the
    results CSV has at their budget are skipped: `lsp sweep GRID --results all.csv --merge` runs only
    what the grid still lacks."""
    dry_run: bool = False
    """Print each run's state and the commands that would run, and stop."""


@dataclasses.dataclass
class PlotArgs:
    """Learning curves in the style of the paper's Fig. 3 and a Markdown table of final returns.

    Reads only the tidy CSV of `lsp sweep` (columns task, method, seed, step,
    return_stochastic_mean, return_deterministic_mean, ...). The figure has one panel per task and
    one line per method: mean +- std over seeds against env steps. The table gives, per task, each
    method's mean +- std at the task's last step (its budget once a run has finished) over the seeds
    that reached it, then each seed's return at that step.
    """

    results: tyro.conf.Positional[str]
    """The tidy CSV (OUTPUT_DIR/results.csv of a sweep)."""
    metric: Literal["stochastic", "deterministic"] = "stochastic"
    """Which evaluation return to show (the paper reports the stochastic policy)."""
    figure: str | None = None
    """Where to write the figure (.png, .pdf, .svg; default: learning_curves.png beside the CSV)."""
    table: str | None = None
    """Where to write the Markdown table (default: final_returns.md beside the CSV)."""
    make_figure: bool = True
    """Draw the figure (needs the 'plot' extra); --no-make-figure writes only the table."""
    tasks: tuple[str, ...] | None = None
    """Tasks to show, in this order (default: all in the CSV, in its order)."""
    methods: tuple[str, ...] | None = None
    """Methods to show, in this order (default: all in the CSV, in its order)."""
    average_last: int = 1
    """Score each seed in the table by the mean of its last K evaluations up to the task's last step
    (default 1: its return at that step); a larger K smooths the noise of a single evaluation."""


def run_sweep_command(args: SweepArgs) -> None:
    from latent_space_policies.experiments.sweep import SweepConfig, load_sweep_file, run_sweep

    config = load_sweep_file(args.grid) if args.grid else SweepConfig()
    overrides = {
        name: getattr(args, name)
        for name in ("tasks", "methods", "seeds", "steps", "output_dir", "eval_every", "eval_episodes",
                     "checkpoint_every", "order", "jobs", "cores")
        if getattr(args, name) is not None
    }  # fmt: skip
    if not args.pin:
        overrides["pin"] = False
    if not args.jax_cache:
        overrides["jax_cache"] = False
    config = dataclasses.replace(config, **overrides)
    run_sweep(
        config,
        backend=args.backend,
        address=args.address,
        collect_only=args.collect_only,
        dry_run=args.dry_run,
        results=args.results,
        merge=args.merge,
    )


def run_plot(args: PlotArgs) -> None:
    from latent_space_policies.experiments.report import report

    figure, table, markdown = report(
        args.results,
        figure=args.figure,
        table=args.table,
        metric=args.metric,
        make_figure=args.make_figure,
        tasks=args.tasks,
        methods=args.methods,
        average_last=args.average_last,
    )
    print(markdown)
    print(f"table: {table}" + (f"; figure: {figure}" if figure else ""))


def _parse(argv: list[str] | None):
    from latent_space_policies.experiments.ant_maze import AntMazeArgs, AntMazePicturesArgs
    from latent_space_policies.experiments.ant_umaze import AntUMazeArgs
    from latent_space_policies.experiments.maze_oracle import OracleArgs

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["experiment"]:
        experiments = {
            "ant-maze": AntMazeArgs,
            "ant-umaze": AntUMazeArgs,
            "ant-maze-pictures": AntMazePicturesArgs,
            "ant-maze-oracle": OracleArgs,
        }
        return tyro.extras.subcommand_cli_from_dict(
            experiments, args=argv[1:], prog="lsp experiment", description="The paper's experiments"
        )
    commands = {
        "train": TrainArgs,
        "stack": StackArgs,
        "hierarchy": HierarchyArgs,
        "eval": EvalArgs,
        "sweep": SweepArgs,
        "plot": PlotArgs,
        "experiment": ExperimentArgs,
    }
    return tyro.extras.subcommand_cli_from_dict(
        commands, args=argv, prog="lsp", description="Latent space policies (SAC-LSP)"
    )


def _typed_settings(argv: list[str]) -> frozenset[str]:
    """Setting names given as flags in ``argv`` (`--env-id X`, `--seed=1`, `--no-tensorboard`)."""
    names = set()
    for token in argv:
        if token.startswith("--") and len(token) > 2:
            name = token[2:].split("=", 1)[0].replace("-", "_")
            names.add(name)
            names.add(name.removeprefix("no_"))
    return frozenset(names)


def main(argv: list[str] | None = None) -> int:
    from latent_space_policies.experiments.ant_maze import AntMazeArgs, AntMazePicturesArgs
    from latent_space_policies.experiments.ant_umaze import AntUMazeArgs
    from latent_space_policies.experiments.maze_oracle import OracleArgs

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(argv)
    if isinstance(args, ExperimentArgs):
        return _parse(["experiment", "--help"])
    if isinstance(args, TrainArgs):
        args = dataclasses.replace(args, typed=_typed_settings(argv))
    try:
        runners = {
            TrainArgs: run_train,
            StackArgs: run_stack,
            HierarchyArgs: run_hierarchy,
            EvalArgs: run_eval,
            SweepArgs: run_sweep_command,
            PlotArgs: run_plot,
            AntMazeArgs: run_ant_maze,
            AntUMazeArgs: run_ant_umaze,
            AntMazePicturesArgs: run_ant_maze_pictures,
            OracleArgs: run_ant_maze_oracle,
        }
        if isinstance(args, (TrainArgs, StackArgs, HierarchyArgs)):
            from latent_space_policies.training import StopFlag

            with StopFlag(hard_exit=True):  # a Ctrl-C during start-up stops the run at its first step
                runners[type(args)](args)
        else:
            runners[type(args)](args)
    except TrainingInterrupted as stop:
        print(str(stop), file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C / SIGTERM: stop at once, without a traceback
        print(STOPPED_AT_ONCE, file=sys.stderr)
        return 130
    except LSPError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
