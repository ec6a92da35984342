"""The oracle steering check: how well can *any* high level steer a frozen locomotion layer
through the cross maze, or through Gymnasium-Robotics' U-maze?

    lsp experiment ant-maze-oracle runs/ant_maze/locomotion__0/policy.lsp --output results/oracle.json
    lsp experiment ant-maze-oracle pretrained:ant_locomotion --maze umaze --hold 15 --episodes 20

A planner takes the high level's place. At every decision it copies the MuJoCo state into K
scratch copies, gives each a fresh latent h_k ~ N(0, I) (the first keeps the latent chosen last
time), simulates the frozen layer holding h_k for ``horizon`` env steps (the layer still acts every
step on its own observation, as in the hierarchy), and scores each by the path distance left to the
goal along the corridors (cross maze: start -> junction (6, 0) -> goal; U-maze: around the walls,
``maze_path_distance``; a fall, or the torso turned upside down, which the maze does not count as a
fall but leaves the ant stuck, scores worst). The real ant then holds the best latent for ``hold``
env steps (the high level's action repeat), and the planner decides again. Nothing is learned: what the planner reaches bounds what a trained high
level can reach on this layer with these latents. If the oracle does not reach the goals, no
amount of high-level training will, and the layer (not the high level) must change.

The report gives, per goal (the U-maze draws its start and goal anew every episode: one row,
``random``), the success rate, the fall rate, the rate of episodes that end with the
ant on its back, and the final distance to the goal
(straight-line, as the maze's metric) over ``episodes`` episodes, with the settings and the time
it took; on the U-maze also the successes by walk (``envs.robotics.UMAZE_WALKS``: short, middle,
across the U, by the path distance at the start) and the env steps each success took, against the
maze's limit of 700.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import tyro

from typing import Literal

from latent_space_policies.envs.ant import CROSS_MAZE_GOALS, cross_maze_id, path_distance
from latent_space_policies.envs.robotics import UMAZE_GOAL_RADIUS, UMAZE_WALKS, umaze_walk
from latent_space_policies.errors import LSPError


@dataclasses.dataclass
class OracleArgs:
    """Oracle steering check of a frozen locomotion layer in a maze (see the module doc)."""

    policy: tyro.conf.Positional[str]
    """The locomotion layer: a policy.lsp, a snapshot checkpoints/step_N.lsp, a run folder, or a
    shipped layer (pretrained:ant_locomotion)."""
    output: str | None = None
    """Write the report here as JSON (default: print it only)."""
    maze: Literal["cross", "umaze"] = "cross"
    """The paper's cross maze (LSP/AntCrossMaze-Goal*), or Gymnasium-Robotics' U-maze
    (LSP/AntMazeUMaze-v0: random start and goal every episode, goal radius 0.45)."""
    goals: tuple[int, ...] = (0, 1, 2)
    """Cross-maze goals: 0 = (6, -6), 1 = (6, 6), 2 = (12, 0) (the U-maze draws its own)."""
    episodes: int = 10
    """Episodes per goal."""
    candidates: int = 16
    """Latents tried at every decision (K)."""
    horizon: int = 15
    """Env steps each candidate latent is simulated for, held fixed, before it is scored."""
    hold: int = 3
    """Env steps the chosen latent is held for in the real episode (the high level's action repeat;
    the maze runs use 15)."""
    min_upright: float = 0.5
    """A candidate whose torso tilts further than this (cosine of the tilt; 0.5 = 60 degrees) within
    the horizon is rejected as a fall: tilting that far usually ends on the ant's back."""
    max_episode_steps: int | None = None
    """Episode time limit in env steps (default: 1000 in the cross maze, SPEC §6; the U-maze's own 700)."""
    seed: int = 0
    """Seed of the resets and the candidate latents."""
    latent_scale: float = 1.0
    """Candidate latents are drawn from latent_scale * N(0, I): the oracle of a high level trained
    with ``lsp stack --base-latent-scale`` (its layer sees that times a N(0, I)-like latent)."""


def _check(args: OracleArgs) -> None:
    if not args.latent_scale > 0:
        raise LSPError(f"--latent-scale must be greater than 0, got {args.latent_scale}")
    for name in ("episodes", "candidates", "horizon", "hold", "max_episode_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise LSPError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    bad = [g for g in args.goals if not 0 <= g < len(CROSS_MAZE_GOALS)] if args.maze == "cross" else []
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


def _path_left(env):
    """The function xy -> distance left to walk to the goal of ``env``'s current episode."""
    if hasattr(env.unwrapped, "waypoints"):  # the cross maze
        return lambda xy: path_distance(xy, env.unwrapped.waypoints)
    return env.get_wrapper_attr("path_distance_to_goal")  # the U-maze (envs.robotics)


def oracle_episode(
    env, level, forward, *, candidates: int, horizon: int, hold: int, rng, reset_seed: int, min_upright: float = 0.5,
    goal_radius: float | None = None, latent_scale: float = 1.0,
) -> dict:
    """One episode of the planner in ``env`` (an ``LSP/AntCrossMaze-Goal*`` or ``LSP/AntMazeUMaze-v0``
    env from make_env). The layer sees the observation's last ``observation_dim`` entries (the maze's
    ``obs[2:]`` or the U-maze's ``obs[4:]``), which is the simulated ant's own observation without xy.
    With ``goal_radius``, a candidate that comes within it of the goal (by path distance) at any step
    of its horizon scores best, the earlier the better: the real episode ends there."""
    import mujoco

    inner = getattr(env.unwrapped, "ant_env", env.unwrapped)  # the MuJoCo ant (inside the U-maze's env)
    model, real_data = inner.model, inner.data
    scratch = [mujoco.MjData(model) for _ in range(candidates)]
    observation, info = env.reset(seed=reset_seed)
    start_distance, start_path_distance = float(info["distance_to_goal"]), float(info["path_distance_to_goal"])
    path_left = _path_left(env)
    skip = np.asarray(observation).shape[0] - level.policy.observation_dim
    latent_dim = level.policy.action_dim
    chosen = (latent_scale * rng.standard_normal(latent_dim)).astype(np.float32)
    steps, info, held = 0, {}, []
    terminated = truncated = False
    try:
        while not (terminated or truncated):
            latents = (latent_scale * rng.standard_normal((candidates, latent_dim))).astype(np.float32)
            latents[0] = chosen
            observations = np.repeat(np.asarray(observation, np.float32)[None, skip:], candidates, axis=0)
            alive = np.ones(candidates, bool)
            reached_at = np.full(candidates, np.inf)
            for data in scratch:
                mujoco.mj_copyData(data, model, real_data)
            for step in range(horizon):
                actions = np.asarray(forward(level.params, observations, latents))
                for k in np.flatnonzero(alive):
                    inner.data = scratch[k]
                    inner.do_simulation(actions[k], inner.frame_skip)
                    observations[k] = inner._get_obs()[2:]
                    alive[k] = inner.is_healthy and _upright(inner, min_upright)
                    if goal_radius is not None and reached_at[k] == np.inf:
                        if path_left(inner.data.body(inner._main_body).xpos[:2]) <= goal_radius:
                            reached_at[k], alive[k] = step, False  # stops simulating it; scored below
                inner.data = real_data
            scores = np.array([path_left(data.body(inner._main_body).xpos[:2]) for data in scratch])
            scores[~alive] = np.inf
            scores[reached_at < np.inf] = reached_at[reached_at < np.inf] - horizon  # below any distance
            chosen = latents[int(np.argmin(scores))] if np.isfinite(scores).any() else latents[0]
            held.append(chosen)
            for _ in range(hold):
                low_observation = np.asarray(observation, np.float32)[skip:]
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
        "start_distance": start_distance,
        "start_path_distance": start_path_distance,
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
    goals = args.goals if args.maze == "cross" else ("random",)
    for goal in goals:
        if args.maze == "cross":
            env = make_env(cross_maze_id(goal), max_episode_steps=args.max_episode_steps or 1000)
            skip, seed_key, goal_radius = 2, goal, None  # the 2 m circle is wider than a decision's stride
        else:
            env = make_env("LSP/AntMazeUMaze-v0", max_episode_steps=args.max_episode_steps or 700)
            skip, seed_key, goal_radius = 4, len(CROSS_MAZE_GOALS), UMAZE_GOAL_RADIUS
        if env.observation_space.shape[0] - skip != level.policy.observation_dim:
            raise LSPError(
                f"{args.policy} takes observations of size {level.policy.observation_dim}; the maze gives "
                f"{env.observation_space.shape[0] - skip} after the torso's xy (train it on LSP/AntArena-v0)"
            )
        rng = np.random.default_rng(np.random.SeedSequence([args.seed, seed_key]))
        episodes = [
            oracle_episode(
                env, level, forward, candidates=args.candidates, horizon=args.horizon, hold=args.hold,
                rng=rng, reset_seed=args.seed * 1000 + k, min_upright=args.min_upright, goal_radius=goal_radius,
                latent_scale=args.latent_scale,
            )  # fmt: skip
            for k in range(args.episodes)
        ]
        env.close()
        for episode in episodes:
            episode.pop("latents")
        distances = np.array([e["final_distance"] for e in episodes])
        report["goals"][str(goal)] = {
            "goal": list(CROSS_MAZE_GOALS[goal]) if args.maze == "cross" else None,
            "start_distance_mean": float(np.mean([e["start_distance"] for e in episodes])),
            "success_rate": float(np.mean([e["success"] for e in episodes])),
            "fall_rate": float(np.mean([e["fell"] for e in episodes])),
            "flip_rate": float(np.mean([e["flipped"] for e in episodes])),
            "final_distance_mean": float(distances.mean()),
            "final_distance_std": float(distances.std()),
            "steps_mean": float(np.mean([e["steps"] for e in episodes])),
            "episodes": episodes,
        }
        if args.maze == "umaze":  # success by the walk from start to goal, and how long the successes took
            by_walk = {}
            for name, *_ in UMAZE_WALKS:
                these = [e for e in episodes if umaze_walk(e["start_path_distance"]) == name]
                won = [e["steps"] for e in these if e["success"]]
                by_walk[name] = {"episodes": len(these), "successes": len(won), "steps_of_successes": won}
            report["goals"][str(goal)]["by_walk"] = by_walk
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
            f"  goal {goal} {tuple(row['goal'] or ())}: success {row['success_rate']:.0%}, fell {row['fall_rate']:.0%}, "
            f"ended on its back {row['flip_rate']:.0%}, "
            f"final distance {row['final_distance_mean']:.2f} +- {row['final_distance_std']:.2f}"
        )
        if "by_walk" in row:
            walks = ", ".join(f"{name} {w['successes']}/{w['episodes']}" for name, w in row["by_walk"].items())
            lines.append(f"  by walk (path distance at the start: short < 6 m, middle < 12 m, across the U): {walks}")
    return "\n".join(lines)
