"""Command line: ``lsp train`` and ``lsp eval``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import tyro

from latent_space_policies.errors import LSPError, TrainingInterrupted
from latent_space_policies.training import TrainConfig


@dataclasses.dataclass
class TrainArgs:
    """Train a latent space policy (or a Gaussian SAC policy) on a Gymnasium task."""

    config: Annotated[TrainConfig, tyro.conf.arg(name="")]
    resume: str | None = None
    """Continue the run in this folder from its latest checkpoint (other settings come from it)."""


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
    env_id: str | None = None
    """Evaluate on this env id instead of the one the policy was trained on (shapes must match)."""
    seed: int = 0
    """Seed of the episodes and of the latent samples."""
    max_episode_steps: int | None = 1000
    """Episode time limit."""
    video: str | None = None
    """Write an MP4 of the episodes here (needs the 'video' extra and MUJOCO_GL=egl or osmesa)."""


def run_train(args: TrainArgs) -> None:
    from latent_space_policies.training import resume, train

    if args.resume is None:
        result = train(args.config)
    else:
        defaults = TrainConfig()
        asked = {
            f.name: getattr(args.config, f.name)
            for f in dataclasses.fields(TrainConfig)
            if getattr(args.config, f.name) != getattr(defaults, f.name) and f.name != "total_steps"
        }
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


def run_hierarchy(args: HierarchyArgs) -> None:
    from latent_space_policies.hierarchy import run_algorithm_1

    path = run_algorithm_1(args.config_file, progress=args.progress)
    print(f"done: hierarchy saved to {path}")


def run_eval(args: EvalArgs) -> None:
    import numpy as np

    from latent_space_policies.envs import make_env
    from latent_space_policies.errors import CheckpointError, ShapeError
    from latent_space_policies.hierarchy import wrap_levels
    from latent_space_policies.loading import load_policy
    from latent_space_policies.rewards import apply_reward
    from latent_space_policies.training import evaluate

    loaded = load_policy(args.checkpoint)
    env_id = args.env_id or loaded.env_id
    env = make_env(env_id, max_episode_steps=args.max_episode_steps, render_mode="rgb_array" if args.video else None)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    if (obs_dim, act_dim) != (loaded.observation_dim, loaded.action_dim):
        raise ShapeError(
            f"{args.checkpoint} was trained on {loaded.env_id} (obs {loaded.observation_dim}, action "
            f"{loaded.action_dim}); {env_id} has obs {obs_dim}, action {act_dim}. Pass a checkpoint trained on {env_id}"
        )
    if args.env_id and args.env_id != loaded.env_id:
        print(f"note: policy trained on {loaded.env_id}, evaluated on {env_id}", file=sys.stderr)
    top = loaded.levels[-1]
    # The top level acts in the env with every level below it embedded (their latent holds included).
    env = wrap_levels(apply_reward(env, top.reward), loaded.levels[:-1])
    config = loaded.metadata.get("config", {})
    frames = [] if args.video else None
    results = evaluate(
        top.policy,
        top.params,
        env,
        latent_per_episode=bool(config.get("latent_per_episode", False)),
        episodes=args.episodes,
        deterministic=args.deterministic,
        seed=args.seed,
        frames=frames,
    )
    returns = np.array([r for r, _ in results])
    mode = "deterministic" if args.deterministic else "stochastic"
    print(f"{env_id}: return {returns.mean():.1f} +- {returns.std():.1f} over {len(returns)} episodes ({mode})")
    if args.video:
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise CheckpointError("video needs the 'video' extra: pip install 'latent-space-policies[video]'") from None
        fps = env.metadata.get("render_fps", 30)
        Path(args.video).parent.mkdir(parents=True, exist_ok=True)
        imageio.mimsave(args.video, frames, fps=fps, macro_block_size=1)
        print(f"video: {args.video} ({len(frames)} frames)")


def main(argv: list[str] | None = None) -> int:
    commands = {"train": TrainArgs, "stack": StackArgs, "hierarchy": HierarchyArgs, "eval": EvalArgs}
    args = tyro.extras.subcommand_cli_from_dict(
        commands, args=argv, prog="lsp", description="Latent space policies (SAC-LSP)"
    )
    try:
        runners = {TrainArgs: run_train, StackArgs: run_stack, HierarchyArgs: run_hierarchy, EvalArgs: run_eval}
        runners[type(args)](args)
    except TrainingInterrupted as stop:
        print(str(stop), file=sys.stderr)
        return 130
    except LSPError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
