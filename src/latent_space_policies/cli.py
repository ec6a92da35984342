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


def run_eval(args: EvalArgs) -> None:
    import numpy as np

    from latent_space_policies.envs import make_env
    from latent_space_policies.errors import CheckpointError, ShapeError
    from latent_space_policies.loading import load_policy
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
    frames = [] if args.video else None
    results = evaluate(
        loaded.policy,
        loaded.params,
        env,
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
    commands = {"train": TrainArgs, "eval": EvalArgs}
    args = tyro.extras.subcommand_cli_from_dict(
        commands, args=argv, prog="lsp", description="Latent space policies (SAC-LSP)"
    )
    try:
        if isinstance(args, TrainArgs):
            run_train(args)
        else:
            run_eval(args)
    except TrainingInterrupted as stop:
        print(str(stop), file=sys.stderr)
        return 130
    except LSPError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
