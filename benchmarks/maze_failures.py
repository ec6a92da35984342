"""Where and how a trained maze policy fails: each evaluation episode's outcome and where it ended.

    python benchmarks/maze_failures.py RUN [RUN ...] --episodes 50 --output results/F.json
    python benchmarks/maze_failures.py OUT/nogoal__scratch__0 --goal 1 --episodes 50 --output results/F.json

Each RUN is a finished cross-maze run folder (its policy.lsp: a hierarchy or a single level), or a
policy snapshot of a run, ``RUN/checkpoints/step_000150000.lsp`` (``--snapshot-every``), which plays
that step's policy while the run goes on. The
script plays ``--episodes`` episodes per mode (stochastic, as the run's evaluations draw them, and
deterministic) with the evaluation seeds of round 1000 (``--round``), i.e. episodes the run never
evaluated (``--round STEP/EVAL_EVERY --episodes EVAL_EPISODES`` replays the run's own evaluation),
and records after every env step the torso's position and tilt. Each episode is classed as:

- ``success``: the torso came within 2 of the goal;
- ``upside_down``: not reached, and the torso ends on its back (its up axis below the horizon);
- ``wrong_arm``: not reached, ends upright in the arm of another goal;
- ``short``: not reached, ends upright in the start corridor, the junction or the goal's own arm.

``stalled`` counts the failures whose torso moved less than 1 m over their last 300 env steps.
Also per mode: the success rate, the mean final distance and the share of env steps spent
upside down. The question it answers: is a failure the layer's (it falls over or stalls), the high
level's (it takes the wrong arm), or the budget's (it heads the right way and runs out of time)?
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

from latent_space_policies.envs.ant import CROSS_MAZE_GOALS, CROSS_MAZE_JUNCTION, cross_maze_goal, cross_maze_id, torso_up
from latent_space_policies.loading import load_policy

FIRST_ROUND = 1000  # an evaluation round the run itself never used (it numbers them step // eval_every)


def region(xy) -> str:
    """'junction' within 2 of (6, 0), else the nearest of the start corridor and the three arms."""
    xy = np.asarray(xy, np.float64)
    junction = np.asarray(CROSS_MAZE_JUNCTION)
    if np.linalg.norm(xy - junction) <= 2.0:
        return "junction"
    segments = {"start": (np.zeros(2), junction)} | {
        f"arm{k}": (junction, np.asarray(goal)) for k, goal in enumerate(CROSS_MAZE_GOALS)
    }

    def distance(a, b):
        t = float(np.clip(np.dot(xy - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0))
        return float(np.linalg.norm(xy - (a + t * (b - a))))

    return min(segments, key=lambda name: distance(*segments[name]))


class _Tracker(gym.Wrapper):
    """Records the torso's xy and up-cosine after every env step of the maze (under the frozen levels)."""

    def __init__(self, env):
        super().__init__(env)
        self.paths: list[list[tuple[float, float, float]]] = []  # one per episode, the last one growing

    def _record(self):
        inner = self.env.unwrapped
        x, y = inner.data.body(inner._main_body).xpos[:2]
        self.paths[-1].append((float(x), float(y), torso_up(inner)))

    def reset(self, **kwargs):
        self.paths.append([])
        result = self.env.reset(**kwargs)
        self._record()
        return result

    def step(self, action):
        result = self.env.step(action)
        self._record()
        return result


def classify(path, final_info, goal: int) -> dict:
    xy, up = np.asarray(path[-1][:2]), path[-1][2]
    back = max(0, len(path) - 1 - 300)
    moved = float(np.linalg.norm(xy - np.asarray(path[back][:2])))
    where = region(xy)
    if final_info["is_success"]:
        outcome = "success"
    elif up < 0:
        outcome = "upside_down"
    elif where.startswith("arm") and where != f"arm{goal}":
        outcome = "wrong_arm"
    else:
        outcome = "short"
    return {
        "outcome": outcome,
        "region": where,
        "final_distance": float(final_info["distance_to_goal"]),
        "final_xy": [round(float(v), 2) for v in xy],
        "final_up": round(float(up), 3),
        "stalled": bool(outcome != "success" and moved < 1.0),
        "upside_down_share": float(np.mean([p[2] < 0 for p in path])),
        "env_steps": len(path) - 1,
    }


def policy_file(run: Path) -> Path:
    """The policy a RUN argument names: the file itself, or a run folder's final policy.lsp."""
    return run if run.is_file() else run / "policy.lsp"


def diagnose(run: Path, episodes: int, round_index: int = FIRST_ROUND, seed: int = 0, goal: int | None = None) -> dict:
    """The report of one run (a folder or a policy snapshot file) on its own goal's maze, or on goal
    ``goal``'s (a goal-free run needs one)."""
    loaded = load_policy(policy_file(run))
    config = loaded.metadata.get("config", {})
    own = cross_maze_goal(loaded.env_id)
    if goal is None and own is None:
        raise SystemExit(f"{run}: trained on {loaded.env_id}, which has no goal: give --goal 0, 1 or 2")
    if goal is None or goal == own:
        goal, env_id = own, loaded.env_id
    else:  # another goal's maze, of the same version (the goal-free maze is a v1 maze)
        env_id = loaded.env_id.replace(f"Goal{own}", f"Goal{goal}") if own is not None else cross_maze_id(goal)
    step = int(loaded.metadata.get("step", 0))  # the level's own steps: a high level's are decisions
    report: dict = {
        "run": str(run), "env_id": env_id, "trained_on": loaded.env_id, "step": step,
        "env_step": step * int(config.get("action_repeat") or 1), "modes": {},
    }  # fmt: skip
    for mode, deterministic in (("stochastic", False), ("deterministic", True)):
        tracker = _Tracker(gym.make(env_id, max_episode_steps=config.get("max_episode_steps") or 1000))
        infos: list = []
        loaded.evaluate(
            tracker, episodes=episodes, deterministic=deterministic, seed=seed, round_index=round_index,
            final_infos=infos,
        )  # fmt: skip
        rows = [classify(path, info, goal) for path, info in zip(tracker.paths, infos)]
        tracker.close()
        outcomes = [r["outcome"] for r in rows]
        report["modes"][mode] = {
            "episodes": episodes,
            "success_rate": outcomes.count("success") / episodes,
            "counts": {k: outcomes.count(k) for k in ("success", "upside_down", "wrong_arm", "short")},
            "stalled_failures": sum(r["stalled"] for r in rows),
            "final_distance_mean": float(np.mean([r["final_distance"] for r in rows])),
            "failure_regions": {
                k: sum(r["region"] == k for r in rows if r["outcome"] != "success")
                for k in ("start", "junction", "arm0", "arm1", "arm2")
            },
            "upside_down_share": float(np.mean([r["upside_down_share"] for r in rows])),
            "episodes_detail": rows,
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--round", type=int, default=FIRST_ROUND, help="evaluation round of the seeds")
    parser.add_argument(
        "--goal", type=int, choices=range(len(CROSS_MAZE_GOALS)), default=None,
        help="play on this goal's maze (default: the run's own; needed for a goal-free run, nogoal__*)",
    )
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    reports = []
    for run in args.runs:
        if not policy_file(run).exists():
            raise SystemExit(f"{run}: no policy.lsp (is the run finished? or name a snapshot, RUN/checkpoints/step_*.lsp)")
    for run in args.runs:
        report = diagnose(run, args.episodes, args.round, goal=args.goal)
        reports.append(report)
        for mode, m in report["modes"].items():
            print(
                f"{run.name} @ {report['step']} {mode:13s} success {m['success_rate']:.2f}  {m['counts']}  "
                f"stalled {m['stalled_failures']}  failures in {m['failure_regions']}  "
                f"final distance {m['final_distance_mean']:.2f}  upside down {m['upside_down_share']:.0%}"
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(reports, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
