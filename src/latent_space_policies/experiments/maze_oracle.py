"""The oracle steering check: how well can *any* high level steer a frozen locomotion layer
through the cross maze?

    lsp experiment ant-maze-oracle runs/ant_maze/locomotion__0/policy.lsp --output results/oracle.json

A planner takes the high level's place. At every decision it copies the MuJoCo state into K
scratch copies, gives each a fresh latent h_k ~ N(0, I) (the first keeps the latent chosen last
time), simulates the frozen layer holding h_k for ``horizon`` env steps (the layer still acts every
step on its own observation, as in the hierarchy), and scores each by the path distance left to the
goal along the corridors (start -> junction (6, 0) -> goal; a fall, or the torso turned upside
down, which the maze does not count as a fall but leaves the ant stuck, scores worst). The real ant then
holds the best latent for ``hold`` env steps (3, the maze high level's action repeat), and the
planner decides again. Nothing is learned: what the planner reaches bounds what a trained high
level can reach on this layer with these latents. If the oracle does not reach the goals, no
amount of high-level training will, and the layer (not the high level) must change.

The report gives, per goal, the success rate, the fall rate, the rate of episodes that end with the
ant on its back, and the final distance to the goal
(straight-line, as the maze's metric) over ``episodes`` episodes, with the settings and the time
it took.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import tyro

from latent_space_policies.envs.ant import CROSS_MAZE_GOALS, cross_maze_id, path_distance
from latent_space_policies.errors import LSPError


@dataclasses.dataclass
class OracleArgs:
    """Oracle steering check of a frozen locomotion layer in the cross maze (see the module doc)."""

    policy: tyro.conf.Positional[str]
    """The locomotion layer: a policy.lsp, a snapshot checkpoints/step_N.lsp, or a run folder."""
    output: str | None = None
    """Write the report here as JSON (default: print it only)."""
    goals: tuple[int, ...] = (0, 1, 2)
    """Goals: 0 = (6, -6), 1 = (6, 6), 2 = (12, 0)."""
    episodes: int = 10
    """Episodes per goal."""
    candidates: int = 16
    """Latents tried at every decision (K)."""
    horizon: int = 15
    """Env steps each candidate latent is simulated for, held fixed, before it is scored."""
    hold: int = 3
    """Env steps the chosen latent is held for in the real episode (the high level's action repeat)."""
    min_upright: float = 0.5
    """A candidate whose torso tilts further than this (cosine of the tilt; 0.5 = 60 degrees) within
    the horizon is rejected as a fall: tilting that far usually ends on the ant's back."""
    max_episode_steps: int = 1000
    """Episode time limit in env steps (SPEC §6)."""
    seed: int = 0
    """Seed of the resets and the candidate latents."""


def _check(args: OracleArgs) -> None:
    for name in ("episodes", "candidates", "horizon", "hold", "max_episode_steps"):
        if getattr(args, name) < 1:
            raise LSPError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    bad = [g for g in args.goals if not 0 <= g < len(CROSS_MAZE_GOALS)]
    if bad:
        raise LSPError(f"unknown goals {bad}: the cross maze has goals 0, 1 and 2")


def load_locomotion_layer(path: str | Path):
    """The single frozen level in ``path``, with a jitted batched h -> a map."""
    from latent_space_policies.hierarchy import load_levels
    from latent_space_policies.policies import jit_action_from_latent

    levels, _ = load_levels(path)
    if len(levels) != 1:
        raise LSPError(f"{path} holds {len(levels)} levels; give a locomotion layer (one level)")
    level = levels[0]
    policy = level.policy
    forward = jit_action_from_latent(policy)
    return level, forward


def _upright(inner, threshold: float = 0.0) -> bool:
    """The torso's z axis points up: its world-z component (the cosine of the tilt) is above
    ``threshold``. An ant on its back stays "healthy" by height but cannot walk."""
    return bool(inner.data.body(inner._main_body).xmat[8] > threshold)


def oracle_episode(
    env, level, forward, *, candidates: int, horizon: int, hold: int, rng, reset_seed: int, min_upright: float = 0.5
) -> dict:
    """One episode of the planner in ``env`` (an ``LSP/AntCrossMaze-Goal*`` env from make_env)."""
    import mujoco

    inner = env.unwrapped
    model, real_data = inner.model, inner.data
    scratch = [mujoco.MjData(model) for _ in range(candidates)]
    observation, _ = env.reset(seed=reset_seed)
    latent_dim = level.policy.action_dim
    chosen = rng.standard_normal(latent_dim).astype(np.float32)
    steps, info, held = 0, {}, []
    terminated = truncated = False
    try:
        while not (terminated or truncated):
            latents = rng.standard_normal((candidates, latent_dim)).astype(np.float32)
            latents[0] = chosen
            observations = np.repeat(np.asarray(observation, np.float32)[None, 2:], candidates, axis=0)
            alive = np.ones(candidates, bool)
            for data in scratch:
                mujoco.mj_copyData(data, model, real_data)
            for _ in range(horizon):
                actions = np.asarray(forward(level.params, observations, latents))
                for k in np.flatnonzero(alive):
                    inner.data = scratch[k]
                    inner.do_simulation(actions[k], inner.frame_skip)
                    observations[k] = inner._get_obs()[2:]
                    alive[k] = inner.is_healthy and _upright(inner, min_upright)
                inner.data = real_data
            scores = np.array(
                [path_distance(data.body(inner._main_body).xpos[:2], inner.waypoints) for data in scratch]
            )
            scores[~alive] = np.inf
            chosen = latents[int(np.argmin(scores))] if alive.any() else latents[0]
            held.append(chosen)
            for _ in range(hold):
                low_observation = np.asarray(observation, np.float32)[2:]
                action = np.asarray(forward(level.params, low_observation, chosen))
                observation, _, terminated, truncated, info = env.step(action)
                steps += 1
                if terminated or truncated:
                    break
    finally:
        inner.data = real_data
    fell = bool(terminated and not info.get("is_success", False))
    return {
        "success": bool(info.get("is_success", False)),
        "fell": fell,
        "flipped": not fell and not info.get("is_success", False) and not _upright(inner),
        "final_distance": float(info["distance_to_goal"]),
        "final_path_distance": float(info["path_distance_to_goal"]),
        "steps": steps,
        "latents": np.array(held),  # the chosen latent of every decision (not in the JSON report)
    }


def run_oracle(args: OracleArgs) -> dict:
    """Run the oracle on every goal; return (and optionally write) the report."""
    from latent_space_policies.envs import make_env

    _check(args)
    level, forward = load_locomotion_layer(args.policy)
    start = time.time()
    report: dict = {
        "policy": str(args.policy),
        "settings": {k: v for k, v in dataclasses.asdict(args).items() if k not in ("policy", "output")},
        "goals": {},
    }
    for goal in args.goals:
        env = make_env(cross_maze_id(goal), max_episode_steps=args.max_episode_steps)
        if env.observation_space.shape[0] - 2 != level.policy.observation_dim:
            raise LSPError(
                f"{args.policy} takes observations of size {level.policy.observation_dim}; the maze gives "
                f"{env.observation_space.shape[0] - 2} after the torso's xy (train it on LSP/AntArena-v0)"
            )
        rng = np.random.default_rng(np.random.SeedSequence([args.seed, goal]))
        episodes = [
            oracle_episode(
                env, level, forward, candidates=args.candidates, horizon=args.horizon, hold=args.hold,
                rng=rng, reset_seed=args.seed * 1000 + k, min_upright=args.min_upright,
            )  # fmt: skip
            for k in range(args.episodes)
        ]
        env.close()
        for episode in episodes:
            episode.pop("latents")
        distances = np.array([e["final_distance"] for e in episodes])
        report["goals"][str(goal)] = {
            "goal": list(CROSS_MAZE_GOALS[goal]),
            "success_rate": float(np.mean([e["success"] for e in episodes])),
            "fall_rate": float(np.mean([e["fell"] for e in episodes])),
            "flip_rate": float(np.mean([e["flipped"] for e in episodes])),
            "final_distance_mean": float(distances.mean()),
            "final_distance_std": float(distances.std()),
            "steps_mean": float(np.mean([e["steps"] for e in episodes])),
            "episodes": episodes,
        }
    report["success_rate"] = float(np.mean([g["success_rate"] for g in report["goals"].values()]))
    report["wall_time_s"] = round(time.time() - start, 1)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return report


def summary(report: dict) -> str:
    lines = [f"oracle on {report['policy']} ({report['wall_time_s']} s)"]
    for goal, row in report["goals"].items():
        lines.append(
            f"  goal {goal} {tuple(row['goal'])}: success {row['success_rate']:.0%}, fell {row['fall_rate']:.0%}, "
            f"ended on its back {row['flip_rate']:.0%}, "
            f"final distance {row['final_distance_mean']:.2f} +- {row['final_distance_std']:.2f}"
        )
    return "\n".join(lines)
