"""Posture of a locomotion layer under sampled latents: how much of the time the ant is upside down.

    python benchmarks/layer_posture.py LAYER [--episodes 10] [--env-id LSP/AntArena-v0] [--output F.json]

Plays the layer's own stochastic policy (a fresh latent every step, as it was trained) in the open
arena, and reports per episode its length, how it ended (time limit, torso too high or too low,
upside down), the fraction of steps with the torso upside down (its up axis below the horizon) and
the mean speed upright and upside down, and the step it first turned upside down. The maze cannot use a layer that crawls on its back.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np

import latent_space_policies.envs  # noqa: F401  (registers the ant tasks)
from latent_space_policies.envs.ant import torso_up
from latent_space_policies.loading import load_policy


def posture(layer: str, episodes: int, env_id: str, seed: int) -> dict:
    policy = load_policy(layer)
    policy.seed(seed)
    env = gym.make(env_id)
    rows = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        ups, speeds = [], []
        terminated = truncated = False
        while not (terminated or truncated):
            observation, _, terminated, truncated, info = env.step(policy.act(observation))
            ups.append(torso_up(env.unwrapped))
            speeds.append(info["reward_speed"])
        ups, speeds = np.array(ups), np.array(speeds)
        z = float(env.unwrapped.data.qpos[2])
        if truncated:
            ended = "time limit"
        else:  # the height rule first: the paper's arena ends only on it
            ended = "too high" if z > 1.0 else ("too low" if z < 0.2 else "upside down")
        down = ups < 0
        rows.append({
            "length": len(ups),
            "ended": ended,
            "first_upside_down_step": int(np.argmax(down)) + 1 if down.any() else None,
            "upside_down_fraction": float(down.mean()),
            "speed_upright": float(speeds[~down].mean()) if (~down).any() else None,
            "speed_upside_down": float(speeds[down].mean()) if down.any() else None,
        })
    steps = sum(r["length"] for r in rows)
    summary = {
        "mean_length": steps / episodes,
        "episodes_upside_down": sum(r["first_upside_down_step"] is not None for r in rows),
        "upside_down_fraction_of_steps": sum(r["upside_down_fraction"] * r["length"] for r in rows) / steps,
        "ended": {k: sum(r["ended"] == k for r in rows) for k in ("time limit", "upside down", "too high", "too low")},
    }
    return {"layer": layer, "env_id": env_id, "episodes": episodes, "seed": seed, "summary": summary, "per_episode": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--env-id", default="LSP/AntArena-v0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output")
    args = parser.parse_args()
    start = time.time()
    report = posture(args.layer, args.episodes, args.env_id, args.seed)
    report["seconds"] = round(time.time() - start, 1)
    print(json.dumps(report["summary"]), f"({report['seconds']} s)")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
