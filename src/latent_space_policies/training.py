"""The training loop: collect, update, evaluate, log, checkpoint, resume.

One env step -> one jitted call that updates on a replay batch *and* returns the next action
(SB3's order: act with the parameters after the latest update), so each step costs one dispatch.

Exact resume: a checkpoint holds the full :class:`~latent_space_policies.sac.TrainState` (params,
optimiser states, temperature, JAX key, counters), the replay buffer (optional), the NumPy
generator that samples batches, and the actions taken so far in the current episode. Every
episode is reset with a seed derived from (seed, episode index), so the resumed run rebuilds the
env's exact state by replaying those actions; the run then continues bit-for-bit as if it had
never stopped (on the same machine and software).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from latent_space_policies.checkpoint import load_checkpoint, remove_orphaned_writes, save_checkpoint
from latent_space_policies.agents import (  # noqa: F401  (TrainConfig, build_agent, policy_spec: re-exported)
    TrainConfig,
    base_levels_for,
    env_dims,
    build_agent,
    make_training_env,
    policy_spec,
)
from latent_space_policies.evaluation import TRAIN_STREAM, episode_seed, evaluate, goal_stats, make_act_fns
from latent_space_policies.logs import EPISODE_FIELDS, EVAL_FIELDS, METRIC_FIELDS, CsvLog
from latent_space_policies.errors import (
    STOPPED_AT_ONCE,
    CheckpointError,
    SettingsError,
    ShapeError,
    TrainingDivergedError,
    TrainingInterrupted,
)
from latent_space_policies.levels import ObservationMap, levels_from_checkpoint, load_levels
from latent_space_policies.policies import Policy, PolicySpec
from latent_space_policies.presets import get_preset
from latent_space_policies.replay import FIELDS, ReplayBuffer, relabel_goals
from latent_space_policies.rewards import load_reward_state, reward_state
from latent_space_policies.sac import TrainState

__all__ = ["TrainConfig", "TrainResult", "train", "resume", "build_agent", "evaluate", "policy_spec"]


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns."""

    run_dir: Path
    state: TrainState
    policy: Policy
    evaluations: list[dict]
    steps: int


class StopFlag:
    """The first of ``signals`` (default: Ctrl-C and SIGTERM, what `kill`, `docker stop`, Slurm and
    Kubernetes send) asks the loop to stop at the end of the current step with a checkpoint; a second
    one raises KeyboardInterrupt. Handlers are installed only in the main thread and restored on exit.

    Flags nest: a flag entered while an outer one has a request pending starts requested. The CLI's
    training commands hold one over their whole start-up (imports aside), so that a Ctrl-C while the
    envs are built or XLA compiles is not lost or raised inside a compilation (which can leave XLA
    unable to shut down cleanly): the loop stops at its first step with a checkpoint. With
    ``hard_exit`` a second signal ends the process at once (exit code 130) instead of raising.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM), hard_exit: bool = False):
        self.requested = False
        self.hard_exit = hard_exit
        self._signals = signals
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self._signals:
                previous = signal.signal(signum, self._handle)
                self._previous[signum] = previous
                outer = getattr(previous, "__self__", None)
                if isinstance(outer, StopFlag) and outer.requested:
                    self.requested = True
        return self

    def _handle(self, signum, frame):
        if self.requested:
            if self.hard_exit:
                print(STOPPED_AT_ONCE, file=sys.stderr, flush=True)
                os._exit(130)
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


class Trainer:
    """Owns one run: its env, agent, replay, logs and checkpoints. Use :func:`train` / :func:`resume`."""

    def __init__(self, config: TrainConfig, run_dir: Path, checkpoint: tuple[dict, dict] | None = None):
        self.config = config
        self.run_dir = run_dir
        preset = get_preset(config.env_id)
        self.total_steps = config.total_steps if config.total_steps is not None else preset.total_steps
        if checkpoint is not None:
            self.base_levels = levels_from_checkpoint(*checkpoint, run_dir)[:-1]  # the frozen part
        else:
            self.base_levels = base_levels_for(config)
        self.env = make_training_env(config, self.base_levels)
        self.eval_env = make_training_env(config, self.base_levels)
        observation_dim, action_dim, bounded = env_dims(self.env)
        self.spec, self.sac = build_agent(config, observation_dim, action_dim, bounded)
        self.policy = self.sac.policy
        self.act_fns = make_act_fns(self.policy)
        self.goal_layout = goal_layout(self.env) if config.relabel_goals else None
        stored = max(self.total_steps, 1) * (1 + config.relabel_goals)  # relabelled copies take room too
        self.replay = ReplayBuffer(min(config.buffer_size, stored), observation_dim, action_dim)
        self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7]))
        self.evaluations: list[dict] = []
        self.step = 0
        self.episode_index = 0
        self.start_time = time.time()
        self.wall_time_before = 0.0  # seconds the run trained before this process (a resume)
        self.episode_actions: list[np.ndarray] = []
        self.episode_return = 0.0
        self.episode_closest = math.inf  # least info['distance_to_goal'] so far in the episode (goal tasks)
        self.last_checkpoint_step: int | None = None
        self.saved_reward_state: dict = {}
        self.state = self.sac.init(jax.random.PRNGKey(config.seed))
        if checkpoint is not None:
            self._restore(*checkpoint)
        elif config.init_policy is not None:
            self.state = self.state.replace(policy_params=self._initial_policy_params(config.init_policy))
        resume_step = self.step if checkpoint is not None else None
        self.eval_log = CsvLog(run_dir / "eval.csv", EVAL_FIELDS, resume_step)
        self.episode_log = CsvLog(run_dir / "episodes.csv", EPISODE_FIELDS, resume_step)
        self.metric_log = CsvLog(run_dir / "metrics.csv", METRIC_FIELDS, resume_step)
        self.writer = None
        if config.tensorboard:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step)

    # ----------------------------------------------------------------------------- checkpoints
    def _metadata(self) -> dict:
        return {
            "kind": "train",
            "config": self.config.to_json(),
            "policy": self.spec,
            "sac": {k: v for k, v in dataclasses.asdict(self.sac.config).items() if k != "critic_hidden"}
            | {"critic_hidden": list(self.sac.config.critic_hidden)},
            "env_id": self.config.env_id,
            "step": self.step,
            "wall_time_s": round(self.wall_time(), 2),
            "episode_index": self.episode_index,
            "episode_return": self.episode_return,
            "numpy_rng": _jsonable_rng_state(self.rng.bit_generator.state),
            "has_replay": self.config.save_replay,
            "replay_capacity": self.replay.capacity,
            "base_levels": [level.describe() for level in self.base_levels],
        }

    def save(self, path: Path | None = None, include_replay: bool | None = None) -> Path:
        if bool(self.state.nonfinite):
            raise TrainingDivergedError(self._diverged_message())
        include_replay = self.config.save_replay if include_replay is None else include_replay
        trees = {
            "state": flax.serialization.to_state_dict(jax.device_get(self.state)),
            "episode": {
                "actions": np.asarray(self.episode_actions, np.float32).reshape(-1, self.policy.action_dim),
                "next_action": np.asarray(self.next_action, np.float32),
            },
        }
        if include_replay:
            trees["replay"] = self.replay.state_dict()
        rewards = {"train": reward_state(self.env), "eval": reward_state(self.eval_env)}
        if any(rewards.values()):  # a stateful reward, e.g. the visit counts of visits_xy
            trees["reward"] = {name: state for name, state in rewards.items() if state}
        trees.update(self._base_trees())
        metadata = self._metadata() | {"has_replay": include_replay}
        path = path or self.run_dir / "checkpoints" / "latest.lsp"
        save_checkpoint(path, trees, metadata)
        if path.name == "latest.lsp":
            self.last_checkpoint_step = self.step
        return path

    def save_policy(self, path: Path) -> Path:
        """A small file with only the policy (what ``lsp eval`` and the hierarchy need)."""
        trees = {"policy": flax.serialization.to_state_dict(jax.device_get(self.state.policy_params))}
        trees.update(self._base_trees())
        metadata = {
            "kind": "policy",
            "env_id": self.config.env_id,
            "policy": self.spec,
            "step": self.step,
            "config": self.config.to_json(),
            "base_levels": [level.describe() for level in self.base_levels],
        }
        return save_checkpoint(path, trees, metadata)

    def _base_trees(self) -> dict:
        return {
            f"base_level_{k}": flax.serialization.to_state_dict(jax.device_get(level.params))
            for k, level in enumerate(self.base_levels)
        }

    def episode_latent(self, stream: int, index: int) -> np.ndarray | None:
        """The latent held for a whole episode (``latent_per_episode``), from (seed, stream, index)."""
        if not self.config.latent_per_episode:
            return None
        generator = np.random.default_rng(np.random.SeedSequence([self.config.seed, 3 + stream, index]))
        return generator.standard_normal(self.policy.action_dim).astype(np.float32)

    def _restore(self, trees: dict, metadata: dict) -> None:
        missing = sorted({"state", "episode"} - set(trees))
        if missing:
            raise CheckpointError(f"the checkpoint lacks its {' and '.join(missing)} section: it cannot be resumed")
        try:
            self.state = flax.serialization.from_state_dict(self.state, trees["state"])
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"checkpoint does not match this agent's networks ({error})") from None
        template_shapes = jax.tree_util.tree_map(np.shape, jax.device_get(self.sac.init(jax.random.PRNGKey(0))))
        loaded_shapes = jax.tree_util.tree_map(np.shape, self.state)
        if template_shapes != loaded_shapes:
            raise CheckpointError("checkpoint parameter shapes do not match this agent's networks")
        self.state = jax.tree_util.tree_map(jnp.asarray, self.state)
        self.step = int(metadata["step"])
        self.episode_index = int(metadata["episode_index"])
        self.episode_return = float(metadata["episode_return"])
        self.wall_time_before = float(metadata.get("wall_time_s", 0.0))  # absent before 2026-11-26
        self.rng.bit_generator.state = _rng_state_from_json(metadata["numpy_rng"])
        if "replay" in trees:
            self.replay.load_state_dict(trees["replay"])
        self.episode_actions = list(trees["episode"]["actions"])
        self.next_action = trees["episode"]["next_action"]
        self.last_checkpoint_step = self.step
        self.saved_reward_state = trees.get("reward", {})  # restored once the episode is replayed

    def _initial_policy_params(self, path: str):
        """The top level's parameters of a trained policy, checked against this run's network; with
        ``init_policy_observation``, widened to this run's observation (see :func:`widen_observation`)."""
        top = load_levels(path)[0][-1]
        theirs = PolicySpec(**top.spec).to_json()  # a layer saved before specs listed every field
        seen = self.config.init_policy_observation
        if seen is not None:
            ours = self.spec["observation_dim"]
            columns = range(ours)[ObservationMap.parse(seen).slice]
            if len(columns) != theirs["observation_dim"]:
                raise ShapeError(
                    f"--init-policy {path} was trained on {theirs['observation_dim']} observation entries, but "
                    f"--init-policy-observation {seen} picks {len(columns)} of this run's {ours}: give the part it saw"
                )
            theirs = theirs | {"observation_dim": ours}
        if theirs != self.spec:
            differ = sorted(k for k in theirs if theirs[k] != self.spec.get(k))
            raise ShapeError(
                f"--init-policy {path}: its network differs from this run's in {differ}; "
                "use the same policy settings (and --observation to show it the observation it was trained on)"
            )
        params = top.params
        if seen is not None:
            params = widen_observation(params, self.state.policy_params, columns)
        return jax.tree_util.tree_map(jnp.asarray, params)

    def _diverged_message(self) -> str:
        where = (
            f"the last good checkpoint (step {self.last_checkpoint_step}) is {self.run_dir / 'checkpoints' / 'latest.lsp'}"
            if self.last_checkpoint_step is not None
            else "no checkpoint was written before it"
        )
        return (
            f"a loss became NaN or infinite before step {self.step}; {where}. "
            "Try a smaller --learning-rate or --reward-scale, or --log-scale-bound 5"
        )

    # ----------------------------------------------------------------------------- the loop
    def _reset_episode(self) -> np.ndarray:
        observation, _ = self.env.reset(seed=episode_seed(self.config.seed, TRAIN_STREAM, self.episode_index))
        return observation

    def _replay_current_episode(self) -> np.ndarray:
        """Rebuild the env state of the interrupted episode by replaying its actions."""
        observation = self._reset_episode()
        for action in self.episode_actions:
            observation, _, terminated, truncated, info = self.env.step(action)
            self._track_closest(info)
            if terminated or truncated:
                raise CheckpointError(
                    "replaying the saved episode ended early: the environment is not deterministic "
                    "under a fixed seed, so this run cannot be resumed exactly"
                )
        return observation

    def _evaluate(self) -> dict:
        if bool(self.state.nonfinite):  # no row of a diverged policy reaches eval.csv
            raise TrainingDivergedError(self._diverged_message())
        round_index = self.step // max(self.config.eval_every, 1)
        row: dict[str, Any] = {"step": self.step, "episodes": self.config.eval_episodes}
        for mode, deterministic in (("stochastic", False), ("deterministic", True)):
            final_infos: list[dict] = []
            results = evaluate(
                self.policy,
                self.state.policy_params,
                self.eval_env,
                episodes=self.config.eval_episodes,
                deterministic=deterministic,
                seed=self.config.seed,
                round_index=round_index,
                act_fns=self.act_fns,
                latent_per_episode=self.config.latent_per_episode,
                final_infos=final_infos,
            )
            goal = goal_stats(final_infos)
            if goal is not None:
                row[f"final_distance_{mode}_mean"] = goal[1]
                row[f"success_{mode}_rate"] = goal[0]
            returns = np.array([r for r, _ in results])
            if not np.isfinite(returns).all():
                raise TrainingDivergedError(
                    f"an evaluation episode at step {self.step} returned {returns.tolist()}: the policy or the "
                    f"env produced a non-finite value; {self._diverged_message()}"
                )
            row[f"return_{mode}_mean"] = float(returns.mean())
            row[f"return_{mode}_std"] = float(returns.std())
            row[f"length_{mode}_mean"] = float(np.mean([n for _, n in results]))
        row["wall_time_s"] = round(self.wall_time(), 2)
        self.eval_log.append(row)
        self.evaluations.append(row)
        if self.writer is not None:
            self.writer.add_scalar("eval/return_stochastic", row["return_stochastic_mean"], self.step)
            self.writer.add_scalar("eval/return_deterministic", row["return_deterministic_mean"], self.step)
        return row

    def _track_closest(self, info: dict) -> None:
        if "distance_to_goal" in info:
            self.episode_closest = min(self.episode_closest, float(info["distance_to_goal"]))

    def _end_episode(self, info: dict) -> float:
        """Log the episode that just ended and start the next one's bookkeeping; returns its return."""
        episode_return, length = self.episode_return, len(self.episode_actions)
        self.episode_log.append(
            {
                "step": self.step,
                "episode": self.episode_index,
                "return": episode_return,
                "length": length,
                "final_distance": info.get("distance_to_goal", ""),
                "closest_distance": self.episode_closest if math.isfinite(self.episode_closest) else "",
                "goals_reached": info.get("goals_reached", ""),
            }
        )
        if self.writer is not None:
            self.writer.add_scalar("charts/episodic_return", episode_return, self.step)
            self.writer.add_scalar("charts/episodic_length", length, self.step)
        self.episode_index += 1
        self.episode_actions, self.episode_return, self.episode_closest = [], 0.0, math.inf
        if self.goal_layout is not None:
            self._add_relabelled(length)
        return episode_return

    def _add_relabelled(self, length: int) -> None:
        """Hindsight copies of the episode that just ended: its ``length`` transitions are the last
        ones in the replay (copies are added only here), so a resumed run relabels it exactly."""
        episode = self.replay.latest(length)
        copies = relabel_goals(
            episode, self.goal_layout, self.config.relabel_goals, self.config.relabel_reward, self.rng
        )  # fmt: skip
        for row in zip(*(copies[name] for name in FIELDS)):
            self.replay.add(*row)

    def _log_metrics(self, metrics, sps: float) -> None:
        """One row of metrics.csv (and TensorBoard scalars) from the last update's metrics."""
        values = {} if metrics is None else {k: float(v) for k, v in jax.device_get(metrics).items()}
        if values:
            self.metric_log.append(
                {"step": self.step, "sps": round(sps, 1)} | {k: v for k, v in values.items() if k in METRIC_FIELDS}
            )
        if self.writer is not None:
            self.writer.add_scalar("charts/SPS", sps, self.step)
            for name, value in values.items():
                group = "losses" if name.endswith("_loss") else "charts"
                self.writer.add_scalar(f"{group}/{name}", value, self.step)

    def wall_time(self) -> float:
        """Seconds of training so far, summed over the processes of a resumed run (up to its checkpoint)."""
        return self.wall_time_before + time.time() - self.start_time

    def run(self, callback: Callable[["Trainer"], None] | None = None) -> TrainResult:
        """Train until ``total_steps``. ``callback(trainer)`` runs after every env step (tests use it)."""
        from tqdm.auto import tqdm

        config = self.config
        self.start_time = time.time()
        latent = self.episode_latent(TRAIN_STREAM, self.episode_index)
        if self.step == 0 and not self.episode_actions:
            observation = self._reset_episode()
            self.state, action = self.sac.explore(self.state, observation, latent)
            self.next_action = np.asarray(action)
        else:
            observation = self._replay_current_episode()
            load_reward_state(self.env, self.saved_reward_state.get("train", {}))
            load_reward_state(self.eval_env, self.saved_reward_state.get("eval", {}))
        action = np.asarray(self.next_action)
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not config.progress, unit="step", smoothing=0.05)
        last_return, last_eval, metrics = math.nan, math.nan, None
        updates_enabled = False
        sps_time, sps_step = time.time(), self.step
        try:
            with StopFlag() as stop:
                while self.step < self.total_steps:
                    next_observation, reward, terminated, truncated, info = self.env.step(action)
                    self.replay.add(observation, action, reward, next_observation, terminated, truncated)
                    self.episode_actions.append(action)
                    self.episode_return += float(reward)
                    self._track_closest(info)
                    self.step += 1
                    if terminated or truncated:
                        last_return = self._end_episode(info)
                        observation = self._reset_episode()
                        latent = self.episode_latent(TRAIN_STREAM, self.episode_index)
                    else:
                        observation = next_observation

                    if updates_enabled or len(self.replay) >= config.learning_starts:
                        updates_enabled = True
                        batch = self.replay.sample(self.rng, config.batch_size, config.gradient_steps)
                        self.state, action, metrics = self.sac.train_step(self.state, batch, observation, latent)
                    else:
                        self.state, action = self.sac.explore(self.state, observation, latent)
                    action = np.asarray(action)
                    self.next_action, self.observation = action, observation

                    if self.step % 100 == 0:
                        bar.update(self.step - bar.n)
                    if self.step % config.log_every == 0:
                        if bool(self.state.nonfinite):
                            raise TrainingDivergedError(self._diverged_message())
                        now = time.time()
                        self._log_metrics(metrics, sps=(self.step - sps_step) / max(now - sps_time, 1e-9))
                        sps_time, sps_step = now, self.step
                        bar.set_postfix(ret=f"{last_return:.1f}", eval=f"{last_eval:.1f}", refresh=False)
                    if config.eval_every and self.step % config.eval_every == 0:
                        last_eval = self._evaluate()["return_stochastic_mean"]
                        bar.set_postfix(ret=f"{last_return:.1f}", eval=f"{last_eval:.1f}", refresh=False)
                    if config.snapshot_every and self.step % config.snapshot_every == 0:
                        self.save_policy(self.run_dir / "checkpoints" / f"step_{self.step:09d}.lsp")
                    if config.checkpoint_every and self.step % config.checkpoint_every == 0:
                        self.save()
                    if callback is not None:
                        callback(self)
                    if stop.requested:
                        path = self.save()
                        raise TrainingInterrupted(
                            f"interrupted at step {self.step}; saved {path}. "
                            f"Continue with: lsp train --resume {self.run_dir}"
                        )
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.flush()
        if bool(self.state.nonfinite):
            raise TrainingDivergedError(self._diverged_message())
        self.save()
        self.save_policy(self.run_dir / "policy.lsp")
        return TrainResult(self.run_dir, self.state, self.policy, self.evaluations, self.step)

    def close(self) -> None:
        self.env.close()
        self.eval_env.close()
        if self.writer is not None:
            self.writer.close()


def widen_observation(params, template, columns: range):
    """``params`` of a policy trained on ``observation[columns]``, as a policy of the whole observation
    with the parameter shapes of ``template``: each array whose first axis is the observation (the first
    layer's kernel) gets zero rows for the other entries, so the policy acts exactly as before."""

    def widen(theirs, ours):
        theirs = np.asarray(theirs)
        if theirs.shape == ours.shape:
            return theirs
        if theirs.shape[1:] != ours.shape[1:] or theirs.shape[0] != len(columns) or ours.shape[0] < len(columns):
            raise ShapeError(f"cannot widen a policy parameter of shape {theirs.shape} to {ours.shape}")
        wide = np.zeros(ours.shape, theirs.dtype)
        wide[np.asarray(columns)] = theirs
        return wide

    return jax.tree_util.tree_map(widen, params, jax.device_get(template))


def _jsonable_rng_state(state: dict) -> dict:
    return json.loads(json.dumps(state, default=str))


def _rng_state_from_json(document: dict) -> dict:
    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    return convert(document)


class RunLock:
    """An exclusive lock on a run folder (``RUN_DIR/.lock``, flock), held by the one process that
    writes it; the operating system releases it when that process ends, however it ends."""

    def __init__(self, run_dir: Path):
        import fcntl
        import os

        path = Path(run_dir) / ".lock"
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(self._fd)
            raise CheckpointError(
                f"{run_dir} is being written by another process (pid {holder}); wait for it to end "
                f"or stop it (kill -TERM {holder} saves a checkpoint) before writing to this run folder"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        import os

        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _new_run_dir(config: TrainConfig) -> tuple[Path, list[Path]]:
    """Make the run folder; returns it and the folders this made (deepest first)."""
    name = config.run_name or (
        f"{config.env_id}__{'sql' if config.algorithm == 'sql' else f'{config.policy}-{config.variant}'}"
        f"__{config.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    )
    run_dir = Path(config.output_dir) / name
    if (run_dir / "checkpoints" / "latest.lsp").exists():
        raise CheckpointError(
            f"{run_dir} already holds a run; continue it with `lsp train --resume {run_dir}` or choose another --run-name"
        )
    created = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise SettingsError(
            f"cannot write the run folder {run_dir} ({error.strerror or error}); choose another --output-dir"
        ) from None
    return run_dir, created


def train(config: TrainConfig, callback: Callable[[Trainer], None] | None = None) -> TrainResult:
    """Start a new run of ``config`` in a fresh run folder and train it to the end."""
    config.check()  # before any folder, env or network is made
    run_dir, created = _new_run_dir(config)
    with RunLock(run_dir):
        try:
            trainer = Trainer(config, run_dir)
        except BaseException:  # a rejected run (unknown env, bad base, ...) leaves no folder behind
            (run_dir / ".lock").unlink(missing_ok=True)
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty
            raise
        (run_dir / "config.json").write_text(json.dumps(config.to_json(), indent=2))
        try:
            return trainer.run(callback)
        finally:
            trainer.close()


def resume(
    run_dir: str | Path, total_steps: int | None = None, callback: Callable[[Trainer], None] | None = None, **overrides
) -> TrainResult:
    """Continue the run in ``run_dir`` from its latest checkpoint (optionally to a new ``total_steps``).

    ``overrides`` may change settings that do not alter the agent (progress, tensorboard, eval and
    checkpoint intervals); anything else is refused with a clear error.
    """
    run_dir = Path(run_dir)
    folder = run_dir.parent.parent if run_dir.is_file() else run_dir
    lock = RunLock(folder) if folder.is_dir() else None
    try:
        return _resume_locked(run_dir, total_steps, callback, overrides)
    finally:
        if lock is not None:
            lock.release()


def _resume_locked(run_dir: Path, total_steps: int | None, callback, overrides: dict) -> TrainResult:
    path = run_dir / "checkpoints" / "latest.lsp" if run_dir.is_dir() else run_dir
    _, metadata = load_checkpoint(path, sections=())  # settings first: refuse before reading the replay
    if run_dir.is_file():
        run_dir = run_dir.parent.parent
    if metadata.get("kind") != "train":
        raise CheckpointError("this checkpoint holds only a policy; resume needs RUN_DIR/checkpoints/latest.lsp")
    missing = sorted({"config", "step", "episode_index", "episode_return", "numpy_rng"} - set(metadata))
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)} in its metadata: it cannot be resumed")
    config = TrainConfig.from_json(metadata["config"])
    safe = {"progress", "tensorboard", "eval_every", "eval_episodes", "checkpoint_every", "snapshot_every", "log_every"}
    changed = {k: v for k, v in overrides.items() if v is not None and getattr(config, k) != v}
    refused = sorted(set(changed) - safe)
    if refused:
        details = ", ".join(f"{k}={getattr(config, k)!r} (asked {changed[k]!r})" for k in refused)
        raise CheckpointError(f"cannot change {details} when resuming; start a new run for different settings")
    config = dataclasses.replace(config, **changed)
    config = _pin_resolved_temperature(config, metadata)
    if total_steps is not None:
        if total_steps < metadata["step"]:
            raise SettingsError(
                f"--total-steps {total_steps} is below the {metadata['step']} steps this run has taken: "
                "give a larger total to extend it, or leave --total-steps out to finish it"
            )
        config = dataclasses.replace(config, total_steps=total_steps)
    config.check()
    for orphan in remove_orphaned_writes(path.parent) + remove_orphaned_writes(run_dir):
        print(f"removed {orphan}, the unfinished write of a process that was killed", file=sys.stderr)
    trees, metadata = load_checkpoint(path)
    if not metadata.get("has_replay", False):
        import warnings

        warnings.warn("checkpoint has no replay buffer: resuming with an empty one (not an exact resume)")
    trainer = Trainer(config, run_dir, checkpoint=(trees, metadata))
    (run_dir / "config.json").write_text(json.dumps(config.to_json(), indent=2))
    try:
        return trainer.run(callback)
    finally:
        trainer.close()


def _pin_resolved_temperature(config: TrainConfig, metadata: dict) -> TrainConfig:
    """A resumed run keeps the temperature and reward scale it was started with, even where a
    default has changed since (a Gaussian-prior level's temperature became fixed on 2026-12-03)."""
    saved = metadata.get("sac") or {}
    if config.algorithm != "sac" or "ent_coef" not in saved:
        return config
    return dataclasses.replace(
        config,
        ent_coef=config.ent_coef if config.ent_coef is not None else saved["ent_coef"],
        reward_scale=config.reward_scale if config.reward_scale is not None else saved["reward_scale"],
    )


def goal_layout(env) -> dict:
    """Where the goal lives in ``env``'s observations (its ``goal_layout``), for --relabel-goals;
    refused where the layer's observation (--observation 0:STOP) cuts off entries the layout uses."""
    try:
        layout = env.get_wrapper_attr("goal_layout")
        if layout is None:
            raise AttributeError("goal_layout")
    except AttributeError:
        name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        raise SettingsError(
            f"--relabel-goals needs a goal env that says where its goal lives (LSP/AntMazeUMaze-v0); {name} does not"
        ) from None
    used = max(layout["achieved"][1], layout["desired"][1], layout.get("uses", 0))
    if env.observation_space.shape[0] < used:
        raise SettingsError(
            f"--relabel-goals reads observation entries up to {used}, but this layer sees "
            f"{env.observation_space.shape[0]}: use --observation all or 0:STOP with STOP >= {used}"
        )
    return layout


def check_observation(observation, observation_dim: int) -> np.ndarray:
    observation = np.asarray(observation, np.float32)
    if observation.shape[-1:] != (observation_dim,):
        raise ShapeError(
            f"observation has shape {observation.shape}, but this policy expects (..., {observation_dim})"
        )
    return observation
