"""How far an untrained high level explores the cross maze on a frozen locomotion layer.

    python benchmarks/maze_exploration.py LAYER [--episodes 30] [--repeats 3 15] [--output F.json]

A high level that has seen no reward acts from its prior: with the maze hierarchy's zero-initialised
flow its latent action is its own latent h ~ N(0, I), held for `repeat` env steps and, with
`--latent-per-episode` (the paper's setting), sampled once per episode so that every decision of an
episode repeats it. On the sparse maze nothing is learned until such exploration reaches a goal, so
the share of prior episodes that come within 2 of each goal is the first thing to know before
spending hours of training. For each repeat and each way of holding the latent (`episode`: one
latent per episode; `decision`: a fresh latent every decision; `random-init`: the maze's high level
with its flow's output layers drawn at random instead of zero, as the original code initialised
them (Glorot), and its own latent held per episode, so that its latent action changes with the
state), N episodes of 1000 env steps in
``LSP/AntCrossMaze-Goal2-v1`` (falls do not end them; reaching goal 2 does) report the closest
approach to every goal and the furthest distance travelled along the corridor path to each.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np

import latent_space_policies.envs  # noqa: F401  (registers the ant tasks)
from latent_space_policies.envs.ant import CROSS_MAZE_GOALS, cross_maze_id
from latent_space_policies.loading import load_policy

GOAL_RADIUS = 2.0


def random_high_level(observation_dim: int, latent_dim: int, seed: int):
    """act(observation, h) of the maze's high level with randomly drawn (not zero) output layers."""
    import jax

    from latent_space_policies.policies import make_policy

    policy = make_policy(
        "lsp", observation_dim, latent_dim, squash=False, embedding_dim=16, embedding_output_relu=False,
        coupling_hidden=8,
    )  # fmt: skip
    key = jax.random.PRNGKey(seed)
    params = policy.init(key)
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    leaves = []
    for i, (path, leaf) in enumerate(flat):
        name = str(path[-1])
        if "out_kernel" in name:  # (2, hidden, outputs): Glorot-normal per s and t net
            std = np.sqrt(2.0 / (leaf.shape[-2] + leaf.shape[-1]))
            leaf = std * jax.random.normal(jax.random.fold_in(key, i), leaf.shape, leaf.dtype)
        leaves.append(leaf)
    params = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), leaves)
    forward = jax.jit(lambda o, h: policy.action_from_latent(params, o[None], h[None])[0][0])
    return lambda observation, h: np.asarray(forward(observation.astype(np.float32), h.astype(np.float32)))


def explore(layer: str, repeat: int, hold: str, episodes: int, seed: int, max_steps: int = 1000) -> dict:
    policy = load_policy(layer)
    env = gym.make(cross_maze_id(2, version=1), max_episode_steps=max_steps)
    rng = np.random.default_rng(seed)
    high = random_high_level(env.observation_space.shape[0], policy.latent_dim, seed) if hold == "random-init" else None
    rows = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        closest = [np.inf] * len(CROSS_MAZE_GOALS)
        latent = rng.standard_normal(policy.latent_dim)
        steps, done = 0, False
        while not done:
            if hold == "decision":
                latent = rng.standard_normal(policy.latent_dim)
            elif hold == "random-init":
                if steps == 0:
                    h = rng.standard_normal(policy.latent_dim)
                latent = high(observation, h)
            for _ in range(repeat):
                action, _ = policy.action_from_latent(observation[2:], latent)
                observation, _, terminated, truncated, _ = env.step(action)
                steps += 1
                xy = np.asarray(env.unwrapped.data.qpos[:2])
                for g, goal in enumerate(CROSS_MAZE_GOALS):
                    closest[g] = min(closest[g], float(np.linalg.norm(xy - np.asarray(goal))))
                done = terminated or truncated
                if done:
                    break
        rows.append({"steps": steps, "closest": closest})
    closest = np.array([r["closest"] for r in rows])
    return {
        "repeat": repeat,
        "hold": hold,
        "episodes": episodes,
        "reached": [int((closest[:, g] <= GOAL_RADIUS).sum()) for g in range(len(CROSS_MAZE_GOALS))],
        "closest_mean": closest.mean(axis=0).round(2).tolist(),
        "closest_min": closest.min(axis=0).round(2).tolist(),
        "per_episode": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--repeats", type=int, nargs="+", default=[3, 15])
    parser.add_argument("--holds", nargs="+", default=["episode", "decision"], choices=["episode", "decision", "random-init"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    results = []
    for repeat in args.repeats:
        for hold in args.holds:
            start = time.perf_counter()
            result = explore(args.layer, repeat, hold, args.episodes, args.seed)
            result["seconds"] = round(time.perf_counter() - start, 1)
            results.append(result)
            print(
                f"repeat {repeat:3d}, latent per {hold:8s}: reached goals {result['reached']} of {args.episodes}; "
                f"closest approach mean {result['closest_mean']}, best {result['closest_min']} "
                f"({result['seconds']} s)",
                flush=True,
            )
    document = {"layer": args.layer, "goals": [list(g) for g in CROSS_MAZE_GOALS], "results": results}
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(document, handle, indent=1)


if __name__ == "__main__":
    main()
