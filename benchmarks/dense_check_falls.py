"""The dense-reward check of the maze's high level, with falls ending the episode or not.

    python benchmarks/dense_check_falls.py LAYER NAME [--falls-continue] [--decisions 100000]

The maze hierarchy of `lsp experiment ant-maze` (Gaussian prior, fixed temperature 1, reward scale 3,
action repeat 3, a latent per episode) on goal 2 of the dense maze (100 per metre of progress along
the corridor path, +1000 at the goal). With a Gaussian prior the soft reward of a decision is
r - alpha KL <= r, so a level whose episodes can end early is paid to end them unless its reward
outweighs the KL. `--falls-continue` registers the same maze with Ant-v5's
``terminate_when_unhealthy=False`` (episodes end only at the goal or the time limit): if the high
level learns there and not with falls ending the episode, termination is what stops it.
Runs in benchmarks/runs/ant_maze_dense/NAME (re-running resumes it); one core.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym

import latent_space_policies.envs  # noqa: F401  (registers the ant tasks)
from latent_space_policies.envs.ant import AntCrossMazeEnv
from latent_space_policies.training import TrainConfig, resume, train

FALLS_CONTINUE = "LSPDiagnostic/AntCrossMazeDenseFallsContinue-Goal2-v0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer")
    parser.add_argument("name")
    parser.add_argument("--falls-continue", action="store_true")
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gym.register(FALLS_CONTINUE, entry_point=AntCrossMazeEnv, max_episode_steps=1000,
                 kwargs={"goal": 2, "dense": True, "terminate_when_unhealthy": False})  # fmt: skip
    run_dir = Path("benchmarks/runs/ant_maze_dense") / args.name
    if (run_dir / "checkpoints" / "latest.lsp").exists():
        resume(run_dir, total_steps=args.decisions)
        return
    config = TrainConfig(
        env_id=FALLS_CONTINUE if args.falls_continue else "LSP/AntCrossMazeDense-Goal2-v0",
        base=args.layer,
        base_observation="2:",
        seed=args.seed,
        action_repeat=3,
        latent_per_episode=True,
        embedding_dim=16,
        embedding_output_relu=False,
        coupling_hidden=8,
        reward_scale=3.0,  # the maze preset's (the diagnostic id has no preset)
        total_steps=args.decisions,
        eval_every=10_000,
        eval_episodes=10,
        checkpoint_every=10_000,
        output_dir=str(run_dir.parent),
        run_name=args.name,
        progress=False,
    )
    train(config)


if __name__ == "__main__":
    main()
