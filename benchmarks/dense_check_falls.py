"""The dense-reward check of the maze's high level, with falls ending the episode or not.

    python benchmarks/dense_check_falls.py LAYER NAME [--falls-continue] [--decisions 100000] [--variant paper]
        [--ent-coef 3]

The maze hierarchy of `lsp experiment ant-maze` (Gaussian prior, fixed temperature 1, reward scale 3,
action repeat 3, a latent per episode) on goal 2 of the dense maze (100 per metre of progress along
the corridor path, +1000 at the goal). With a Gaussian prior the soft reward of a decision is
r - alpha KL <= r, so a level whose episodes can end early is paid to end them unless its reward
outweighs the KL. `--falls-continue` uses the same maze where falls do not end the episode
(``LSP/AntCrossMazeDense-Goal2-v1``; the first two runs of docs/results/ant_maze.md registered the
same env under a diagnostic id): if the high level learns there and not with falls ending the
episode, termination is what stops it.
Runs in benchmarks/runs/ant_maze_dense/NAME (re-running resumes it); one core.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import latent_space_policies.envs  # noqa: F401  (registers the ant tasks)
from latent_space_policies.envs.ant import cross_maze_id
from latent_space_policies.training import TrainConfig, resume, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer")
    parser.add_argument("name")
    parser.add_argument("--falls-continue", action="store_true")
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", default="modern", choices=["modern", "paper"])
    parser.add_argument("--ent-coef", type=float, default=None, help="the high level's fixed temperature (default 1)")
    args = parser.parse_args()
    run_dir = Path("benchmarks/runs/ant_maze_dense") / args.name
    if (run_dir / "checkpoints" / "latest.lsp").exists():
        resume(run_dir, total_steps=args.decisions)
        return
    config = TrainConfig(
        env_id=cross_maze_id(2, dense=True, version=1 if args.falls_continue else 0),
        variant=args.variant,
        ent_coef=args.ent_coef,
        base=args.layer,
        base_observation="2:",
        seed=args.seed,
        action_repeat=3,
        latent_per_episode=True,
        embedding_dim=16,
        embedding_output_relu=False,
        coupling_hidden=8,
        reward_scale=3.0,  # the maze preset's
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
