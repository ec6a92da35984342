"""How a trained U-maze policy fails: each evaluation episode's outcome, by how far its goal was.

    python benchmarks/umaze_failures.py RUN --episodes 50 [--latent per-step] [--env-id ID] [--time-limit N] --output results/F.json

RUN is a U-maze run folder (``LSP/AntMazeUMaze-v0`` or a variant of it): its policy.lsp, or the
latest checkpoint of a run not yet finished.
``--env-id`` plays the episodes on another variant than the one it was trained on, e.g. a run trained
on ``LSP/AntMazeUMazeUpright-v0`` (ends at a fall) on the plain maze. The script plays ``--episodes``
episodes per mode (stochastic, with the latent drawn as ``--latent`` says, and deterministic) with
the evaluation seeds of round 1000 (``--round``: episodes the run never evaluated), and records after
every env step the torso's position, its tilt and the distance left to walk round the walls. Each
episode is classed as:

- ``success``: the torso came within 0.45 of the goal (the env's own rule);
- ``upside_down``: not reached, the torso ends on its back (its up axis below the horizon);
- ``near_miss``: not reached, upright, but at some step within 1 m of the goal;
- ``stalled``: none of these, and it moved less than 1 m over its last 300 env steps;
- ``out_of_time``: none of these: still walking when the 700 steps (``--time-limit``) ran out.

Per mode: the counts, the success rate by the walk from the start to the goal (the U's arms are
4 m cells, so short: < 6 m, the same side; middle: 6-12 m; across the U: >= 12 m), the mean final
and path distance, and each episode's detail. The question: is a failure the layer's (falls, stalls),
the high level's aim (near misses, wrong turns), or the time limit's (out of time on the long walks)?
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

import latent_space_policies.envs  # noqa: F401  (registers LSP/AntMazeUMaze-v0)
from latent_space_policies.envs.ant import torso_up
from latent_space_policies.envs.robotics import UMAZE_WALKS, umaze_walk
from latent_space_policies.loading import load_policy

FIRST_ROUND = 1000  # an evaluation round the run itself never used


class _Tracker(gym.Wrapper):
    """Records (x, y, up cosine, distance, path distance) after every env step, one list per episode;
    the up cosine (1 upright, -1 on its back) is read from MuJoCo's torso, whatever the observation."""

    def __init__(self, env):
        super().__init__(env)
        self.paths: list[list[tuple[float, float, float, float, float]]] = []

    def _record(self, observation, info):
        xy = observation[:2]
        self.paths[-1].append(
            (float(xy[0]), float(xy[1]), torso_up(self.env.unwrapped.ant_env), info["distance_to_goal"], info["path_distance_to_goal"])
        )

    def reset(self, **kwargs):
        self.paths.append([])
        observation, info = self.env.reset(**kwargs)
        self._record(observation, info)
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._record(observation, info)
        return observation, reward, terminated, truncated, info


def classify(path, final_info) -> dict:
    steps = np.asarray(path)
    back = max(0, len(steps) - 1 - 300)
    moved = float(np.linalg.norm(steps[-1, :2] - steps[back, :2]))
    if final_info["is_success"]:
        outcome = "success"
    elif steps[-1, 2] < 0:
        outcome = "upside_down"
    elif steps[:, 3].min() < 1.0:
        outcome = "near_miss"
    elif moved < 1.0:
        outcome = "stalled"
    else:
        outcome = "out_of_time"
    start_walk = float(steps[0, 4])
    return {
        "outcome": outcome,
        "walk_at_start": round(start_walk, 2),
        "walk": umaze_walk(start_walk),
        "final_distance": round(float(steps[-1, 3]), 3),
        "final_path_distance": round(float(steps[-1, 4]), 3),
        "closest": round(float(steps[:, 3].min()), 3),
        "final_up": round(float(steps[-1, 2]), 3),
        "env_steps": len(steps) - 1,
    }


def diagnose(run: Path, episodes: int, latent: str, round_index: int = FIRST_ROUND, seed: int = 0,
             env_id: str | None = None, time_limit: int | None = None) -> dict:  # fmt: skip
    finished = (run / "policy.lsp").exists()
    loaded = load_policy(run / "policy.lsp" if finished else run)  # else its latest checkpoint
    hold = {"as-trained": None, "per-episode": True, "per-step": False}[latent]
    env_id = env_id or loaded.env_id
    report: dict = {"run": str(run), "env_id": env_id, "trained_on": loaded.env_id, "finished": finished,
                    "step": int(loaded.metadata.get("step", 0)), "latent": latent, "time_limit": time_limit or 700,
                    "modes": {}}  # fmt: skip
    for mode, deterministic in (("stochastic", False), ("deterministic", True)):
        tracker = _Tracker(gym.make(env_id, **({"time_limit": time_limit} if time_limit else {})))
        infos: list = []
        loaded.evaluate(
            tracker, episodes=episodes, deterministic=deterministic, seed=seed, round_index=round_index,
            final_infos=infos, latent_per_episode=None if deterministic else hold,
        )  # fmt: skip
        rows = [classify(path, info) for path, info in zip(tracker.paths, infos)]
        tracker.close()
        outcomes = [r["outcome"] for r in rows]
        by_walk = {}
        for name, _, _ in UMAZE_WALKS:
            these = [r for r in rows if r["walk"] == name]
            by_walk[name] = {"episodes": len(these), "successes": sum(r["outcome"] == "success" for r in these)}
        report["modes"][mode] = {
            "episodes": episodes,
            "success_rate": outcomes.count("success") / episodes,
            "counts": {k: outcomes.count(k) for k in ("success", "upside_down", "near_miss", "stalled", "out_of_time")},
            "by_walk": by_walk,
            "final_distance_mean": float(np.mean([r["final_distance"] for r in rows])),
            "final_path_distance_mean": float(np.mean([r["final_path_distance"] for r in rows])),
            "episodes_detail": rows,
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--latent", choices=("as-trained", "per-episode", "per-step"), default="as-trained",
                        help="how the stochastic mode draws its latent (default: as the run was trained)")
    parser.add_argument("--round", type=int, default=FIRST_ROUND, help="evaluation round of the seeds")
    parser.add_argument("--env-id", help="play on this U-maze variant (default: the one the run was trained on)")
    parser.add_argument("--time-limit", type=int, help="env steps per episode instead of the maze's 700 (a diagnostic)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    if not (args.run / "policy.lsp").exists() and not (args.run / "checkpoints" / "latest.lsp").exists():
        raise SystemExit(f"{args.run}: neither policy.lsp nor checkpoints/latest.lsp: give a run folder")
    if args.time_limit is not None and args.time_limit < 1:
        raise SystemExit(f"--time-limit {args.time_limit}: give 1 or more env steps")
    report = diagnose(args.run, args.episodes, args.latent, args.round, env_id=args.env_id, time_limit=args.time_limit)
    for mode, m in report["modes"].items():
        walks = ", ".join(f"{k} {v['successes']}/{v['episodes']}" for k, v in m["by_walk"].items())
        print(
            f"{args.run.name} @ {report['step']} {mode:13s} success {m['success_rate']:.2f}  {m['counts']}  "
            f"by walk: {walks}  final distance {m['final_distance_mean']:.2f} (path {m['final_path_distance_mean']:.2f})"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
