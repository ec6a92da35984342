"""How far from the goal a maze run's critic sees it: the critic's Q along fresh episodes, counted
back from the step (a flat policy's env step, a high level's decision) at which the goal was reached.

    python benchmarks/maze_values.py RUN [RUN ...] --episodes 30 --output results/F.json

Each RUN is a cross-maze run folder with a full checkpoint (``RUN/checkpoints/latest.lsp``, with or
without its replay; a carried copy will do): the critic is the run's own at that step. The script
plays ``--episodes`` stochastic episodes of the run's policy in the run's own training environment
(its frozen levels, reward and observation) with the evaluation seeds of round 1000 (``--round``),
episodes the run never evaluated, and records min_i Q_i(s_t, a_t) / reward_scale (reward units) at
every step of the level that the critic judges.

The question it answers: in a successful episode, from how many steps before the goal does the
critic's value rise above what it gives the episodes that fail? The goal pays 1000 once, on the
step that reaches it (k = 1: Q = 1000 plus that step's other rewards); discounted by gamma per step,
at the step k before the goal it is worth 1000 gamma^(k-1) (at gamma 0.99: 370 at k = 100, 2.4 at
k = 600), which a flat policy taking one step per env step must see through its other rewards.
The report gives, per run: the failed episodes' Q over all their steps (median, 5th and 95th
percentile), the successful episodes' median Q at the k-th step counted back from the goal (k = 1: the step that
reached it), 1000 gamma^(k-1) beside it,
the largest such k up to which that median stays above the failures' 95th percentile, and the median Q
at the first step of successful and of failed episodes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import gymnasium as gym
import jax.numpy as jnp
import numpy as np

from latent_space_policies.agents import TrainConfig
from latent_space_policies.checkpoint import load_checkpoint
from latent_space_policies.evaluation import evaluate
from latent_space_policies.sac import q_network
from latent_space_policies.training import Trainer

FIRST_ROUND = 1000  # an evaluation round the run itself never used (it numbers them step // eval_every)
STEPS_BEFORE = (1, 5, 10, 25, 50, 100, 200, 300, 400, 600)


class _Recorder(gym.Wrapper):
    """Keeps each episode's (observation, action) pairs as the judged level sees them, and its last info."""

    def __init__(self, env):
        super().__init__(env)
        self.episodes: list[dict] = []
        self._observation = None

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self.episodes.append({"observations": [], "actions": [], "info": info})
        self._observation = observation
        return observation, info

    def step(self, action):
        episode = self.episodes[-1]
        episode["observations"].append(np.asarray(self._observation, np.float32))
        episode["actions"].append(np.asarray(action, np.float32))
        observation, reward, terminated, truncated, info = self.env.step(action)
        episode["info"] = info
        self._observation = observation
        return observation, reward, terminated, truncated, info


def q_values(trainer: Trainer, episodes: list[dict]) -> list[np.ndarray]:
    """Per episode, min over the run's Q networks of Q(s, a) at each step, divided by its reward scale."""
    sac = trainer.sac.config
    observations = np.concatenate([np.stack(e["observations"]) for e in episodes])
    actions = np.concatenate([np.stack(e["actions"]) for e in episodes])
    q = q_network(sac).apply(trainer.state.q_params, jnp.asarray(observations), jnp.asarray(actions))
    q = np.asarray(q.min(0)) / float(sac.reward_scale)
    return np.split(q, np.cumsum([len(e["actions"]) for e in episodes])[:-1])


def horizon_report(successes: list[np.ndarray], failures: list[np.ndarray], gamma: float) -> dict:
    """The summary described in the module docstring, from per-episode Q arrays (successes: each
    ending at the step that reached the goal)."""
    report: dict = {"successes": len(successes), "failures": len(failures), "gamma": gamma}
    threshold = None
    if failures:
        pooled = np.concatenate(failures)
        threshold = float(np.percentile(pooled, 95))
        report["failed_q"] = {
            "median": float(np.median(pooled)), "p5": float(np.percentile(pooled, 5)), "p95": threshold,
        }  # fmt: skip
    rows, seen, above = [], None, threshold is not None
    for k in STEPS_BEFORE:
        values = [q[-k] for q in successes if len(q) >= k]
        if not values:
            continue
        median = float(np.median(values))
        rows.append({"k": k, "episodes": len(values), "median_q": median, "goal_worth": 1000.0 * gamma ** (k - 1)})
        above = above and median > threshold  # seen from k: above at every k' <= k, counting back from the goal
        if above:
            seen = k
    report["before_goal"] = rows
    report["seen_from_k"] = seen
    report["start_q"] = {  # at the first step, where every episode starts alike
        name: float(np.median([q[0] for q in group])) if group else None
        for name, group in (("successes", successes), ("failures", failures))
    }
    return report


def diagnose(run: Path, episodes: int, round_index: int = FIRST_ROUND) -> dict:
    trees, metadata = load_checkpoint(run, skip=("replay",))
    config = dataclasses.replace(TrainConfig.from_json(metadata["config"]), tensorboard=False)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(config, Path(scratch), checkpoint=(trees, metadata))
        recorder = _Recorder(trainer.eval_env)
        evaluate(
            trainer.policy, trainer.state.policy_params, recorder, episodes=episodes, deterministic=False,
            seed=config.seed, round_index=round_index, act_fns=trainer.act_fns,
            latent_per_episode=config.latent_per_episode,
        )  # fmt: skip
        successes, failures = [], []
        for episode, q in zip(recorder.episodes, q_values(trainer, recorder.episodes)):
            (successes if episode["info"].get("is_success") else failures).append(q)
        trainer.close()
    return {
        "run": str(run), "env_id": config.env_id, "step": int(metadata["step"]),
        "env_step": int(metadata["step"]) * config.action_repeat, "action_repeat": config.action_repeat,
        "reward": config.reward, "episodes": episodes,
        "success_lengths": [len(q) for q in successes],
    } | horizon_report(successes, failures, float(trainer.sac.config.gamma))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--round", type=int, default=FIRST_ROUND, help="evaluation round of the seeds")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    for run in args.runs:
        if not (run / "checkpoints" / "latest.lsp").is_file():
            raise SystemExit(f"{run}: no checkpoints/latest.lsp: give a run folder with a full checkpoint")
    reports = []
    for run in args.runs:
        report = diagnose(run, args.episodes, args.round)
        reports.append(report)
        failed = report.get("failed_q", {})
        print(
            f"{run.name} @ {report['env_step']} env steps: {report['successes']}/{args.episodes} at the goal; "
            f"failed episodes' Q median {failed.get('median', float('nan')):.1f} "
            f"(p95 {failed.get('p95', float('nan')):.1f}); goal seen from k = {report['seen_from_k']}; "
            f"Q at the first step: {report['start_q']}"
        )
        for row in report["before_goal"]:
            print(f"  k={row['k']:4d}  median Q {row['median_q']:8.1f}  (n={row['episodes']})  1000 g^(k-1) {row['goal_worth']:7.1f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(reports, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
