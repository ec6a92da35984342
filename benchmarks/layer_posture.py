"""Posture of a locomotion layer under sampled latents: how much of the time the ant is upside down.

    python benchmarks/layer_posture.py LAYER [--episodes 10] [--env-id LSP/AntArena-v0] [--output F.json]
    python benchmarks/layer_posture.py LAYER --hold 15 --latent-scale 0.5 1 1.5 2 --max-steps 700 --no-terminate

Plays the layer's own stochastic policy (a fresh latent every step, as it was trained) in the open
arena, or, with ``--hold H``, the layer under latents as a high level gives them: each drawn from
``scale * N(0, I)`` and held for H env steps, once per scale (a trained U-maze high level's latents
have a mean norm of about 4, 1.5 times that of N(0, I) in 8 dimensions). It reports per episode its length, how it ended (time limit, torso too high or too low,
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


def posture(
    layer: str, episodes: int, env_id: str, seed: int, hold: int | None = None, scale: float = 1.0,
    max_steps: int | None = None, terminate: bool = True,
) -> dict:
    kwargs = {"max_episode_steps": max_steps} if max_steps else {}
    env = gym.make(env_id, **kwargs, **({} if terminate else {"terminate_when_unhealthy": False}))
    if hold is None:
        policy = load_policy(layer)
        policy.seed(seed)
        act = lambda observation, step: policy.act(observation)  # noqa: E731
    else:
        from latent_space_policies.experiments.maze_oracle import load_locomotion_layer

        level, forward = load_locomotion_layer(layer)
        rng = np.random.default_rng(seed)
        latent = None

        def act(observation, step):
            nonlocal latent
            if step % hold == 0:
                latent = (scale * rng.standard_normal(level.policy.action_dim)).astype(np.float32)
            return np.asarray(forward(level.params, np.asarray(observation, np.float32), latent))

    rows = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        ups, speeds = [], []
        terminated = truncated = False
        while not (terminated or truncated):
            observation, _, terminated, truncated, info = env.step(act(observation, len(ups)))
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
    summary["mean_speed_upright"] = float(np.mean([r["speed_upright"] for r in rows if r["speed_upright"] is not None]))
    report = {"layer": layer, "env_id": env_id, "episodes": episodes, "seed": seed, "max_steps": max_steps, "terminate": terminate}
    if hold is not None:
        report.update(hold=hold, latent_scale=scale)
    return {**report, "summary": summary, "per_episode": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layer")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--env-id", default="LSP/AntArena-v0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hold", type=int, help="hold each latent for this many env steps (default: the layer's own policy)")
    parser.add_argument("--latent-scale", type=float, nargs="+", help="with --hold: latents drawn from scale * N(0, I), one report per scale (default 1)")
    parser.add_argument("--max-steps", type=int, help="episode limit in env steps (default: the env's; the U-maze's is 700)")
    parser.add_argument("--no-terminate", action="store_true", help="run every episode to its limit (the U-maze does not end on the arena's height rule)")
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.latent_scale is not None and args.hold is None:
        parser.error("--latent-scale needs --hold (without it the layer samples its own latent every step)")
    args.latent_scale = args.latent_scale or [1.0]
    if args.hold is not None and args.hold < 1 or min(args.latent_scale) <= 0 or args.episodes < 1:
        parser.error("--hold, --latent-scale and --episodes must be positive")
    reports = []
    for scale in args.latent_scale if args.hold is not None else [None]:
        start = time.time()
        report = posture(args.layer, args.episodes, args.env_id, args.seed, args.hold, scale or 1.0, args.max_steps,
                         terminate=not args.no_terminate)
        report["seconds"] = round(time.time() - start, 1)
        print(f"scale {scale}:" if scale else "", json.dumps(report["summary"]), f"({report['seconds']} s)", flush=True)
        reports.append(report)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(reports[0] if len(reports) == 1 else reports, handle, indent=1)


if __name__ == "__main__":
    main()
