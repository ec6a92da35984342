"""Stable-Baselines3 peers (PPO, DDPG, TD3, SAC) that write the same run files as ``lsp train``.

    python -m latent_space_policies.experiments.peers --algo td3 --env-id Hopper-v5 --seed 0 \\
        --total-steps 1000000 --run-dir runs/Hopper-v5__td3__0

Needs the ``peers`` extra. Install torch's CPU build FIRST, or pip pulls the CUDA build and
gigabytes of CUDA libraries: ``pip install torch==2.13.0 && pip install -e ".[peers]"``.

Settings (``PeerConfig``; every value used is recorded in RUN_DIR/config.json):

- SAC, TD3, DDPG: actor and critic(s) 2 x 128 ReLU like ours, Adam lr 3e-4, batch 128, replay 1e6
  (held to the run's steps, as ours: SB3 allocates and checkpoints the whole array),
  learning starts after 1000 transitions, gamma 0.99, tau 0.005, one gradient step per env step.
  SAC learns its temperature (target -|A|); TD3 and DDPG explore with Gaussian action noise of
  std 0.1 (TD3 paper); TD3 keeps its target smoothing (0.2, clip 0.5) and policy delay 2.
- PPO: SB3's defaults, which are the PPO paper's MuJoCo settings (2048 steps per rollout,
  minibatch 64, 10 epochs, lr 3e-4, gamma 0.99, GAE 0.95, clip 0.2, 2 x 64 tanh networks), with
  observation and reward normalisation (``VecNormalize``), as rl-baselines3-zoo runs MuJoCo tasks.

Evaluation: every ``eval_every`` env steps, ``eval_episodes`` episodes on a separate env reset
with the seeds ``lsp train`` uses (``training.episode_seed``), so every method starts its
evaluation episodes from the same states. RUN_DIR/eval.csv has ``training.EVAL_FIELDS``.
TD3 and DDPG have no stochastic policy: their stochastic columns repeat the deterministic ones
(the episodes are run once); config.json says so.

Checkpoints: every ``checkpoint_every`` steps the model (+ replay buffer for SAC/TD3/DDPG, +
normalisation statistics for PPO) goes into a fresh folder RUN_DIR/checkpoints/step_N, and
RUN_DIR/checkpoints/latest.json is then atomically replaced to point at it; a killed process
never leaves a half-written checkpoint. Re-running the same command resumes from it. The resume
is **not bit-exact** (unlike ``lsp train --resume``): the interrupted episode (and, for PPO, the
partial rollout) is dropped, the env restarts from a reset, and the random streams are re-seeded
from (seed, step). A finished run leaves RUN_DIR/policy.zip and RUN_DIR/done.json
(``{"steps": N, ...}``); a larger ``--total-steps`` later continues it.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Literal

from latent_space_policies.errors import CheckpointError, LSPError

__all__ = [
    "ALGORITHMS",
    "PeerConfig",
    "PeerError",
    "evaluate_model",
    "finished_steps",
    "has_checkpoint",
    "read_eval_rows",
    "train_peer",
    "write_eval_rows",
]

ALGORITHMS = ("ppo", "ddpg", "td3", "sac")
OFF_POLICY = ("ddpg", "td3", "sac")
DETERMINISTIC_ONLY = ("ddpg", "td3")
DONE, POLICY, CHECKPOINTS, LATEST = "done.json", "policy.zip", "checkpoints", "latest.json"
MODEL, REPLAY, NORMALIZE, STATE = "model.zip", "replay_buffer.pkl", "vecnormalize.pkl", "state.json"
# Settings that may change when a run is resumed; anything else must match the run's config.json.
_RESUMABLE = {"total_steps", "eval_every", "eval_episodes", "checkpoint_every", "keep_replay", "run_dir", "progress"}


class PeerError(LSPError):
    """A peer run cannot start or continue (missing extra, mismatched run folder, ...)."""


@dataclasses.dataclass
class PeerConfig:
    """Train a Stable-Baselines3 peer (PPO, DDPG, TD3 or SAC) and log it like ``lsp train``."""

    algo: Literal["ppo", "ddpg", "td3", "sac"]
    """Algorithm (Stable-Baselines3's implementation)."""
    run_dir: str
    """Run folder (created; re-running with the same folder resumes or skips the run)."""
    env_id: str = "Hopper-v5"
    """Gymnasium id of the task."""
    seed: int = 0
    """Seed of the networks, exploration and training env (evaluation seeds follow ``lsp train``)."""
    total_steps: int = 1_000_000
    """Environment steps to train for."""
    eval_every: int = 10_000
    """Evaluate every this many env steps (0: never)."""
    eval_episodes: int = 5
    """Episodes per evaluation, in each mode (stochastic and deterministic)."""
    checkpoint_every: int = 50_000
    """Checkpoint every this many env steps (0: only at the end and on Ctrl-C)."""
    max_episode_steps: int | None = 1000
    """Time limit of an episode in env steps (None: the environment's own)."""
    net_arch: tuple[int, ...] | None = None
    """Hidden widths of actor and critic; default (128, 128), or (64, 64) for PPO."""
    learning_rate: float = 3e-4
    """Adam step size."""
    batch_size: int | None = None
    """Batch (SAC/TD3/DDPG) or minibatch (PPO) size; default 128, or 64 for PPO."""
    gamma: float = 0.99
    """Discount factor."""
    learning_starts: int = 1000
    """SAC/TD3/DDPG: transitions collected before the first update."""
    buffer_size: int = 1_000_000
    """SAC/TD3/DDPG: replay capacity (held to total_steps: SB3 allocates and checkpoints all of it,
    and a buffer that never fills samples the same either way; a resume to more steps enlarges it)."""
    tau: float = 0.005
    """SAC/TD3/DDPG: target-network Polyak rate."""
    action_noise: float = 0.1
    """TD3/DDPG: std of the Gaussian exploration noise (actions in [-1, 1])."""
    n_steps: int = 2048
    """PPO: env steps per rollout."""
    n_epochs: int = 10
    """PPO: epochs over each rollout."""
    normalize: bool = True
    """PPO: normalise observations and rewards with running statistics (VecNormalize)."""
    keep_replay: bool = True
    """Keep the replay buffer in the final checkpoint (a larger --total-steps can then continue
    exactly where the run stopped; without it the continued run starts with an empty buffer)."""
    progress: bool = False
    """Print a line per evaluation."""

    def resolved(self) -> dict[str, Any]:
        """The hyperparameters this run uses, defaults filled in."""
        ppo = self.algo == "ppo"
        values = dataclasses.asdict(self)
        values["net_arch"] = list(self.net_arch or ((64, 64) if ppo else (128, 128)))
        values["batch_size"] = self.batch_size or (64 if ppo else 128)
        return values


def _require_sb3():
    try:
        import stable_baselines3
        import torch
    except ImportError as error:
        raise PeerError(
            f"the SB3 peers need the 'peers' extra ({error}). Install torch's CPU build first, then the extra: "
            "pip install torch==2.13.0 && pip install 'latent-space-policies[peers]'"
        ) from None
    return stable_baselines3, torch


# ------------------------------------------------------------------------------------------ run files


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_eval_rows(path: Path, rows: list[dict]) -> None:
    """(Re)write an eval.csv with ``training.EVAL_FIELDS`` atomically."""
    from latent_space_policies.logs import EVAL_FIELDS

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, EVAL_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def read_eval_rows(path: Path, up_to: int) -> list[dict]:
    """The rows of an eval.csv up to step ``up_to`` (none when it does not exist)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("step") and int(float(row["step"])) <= up_to]


def finished_steps(run_dir: str | os.PathLike) -> int | None:
    """Steps of a finished peer run (from RUN_DIR/done.json), or None when it has not finished."""
    marker = Path(run_dir) / DONE
    try:
        return int(json.loads(marker.read_text())["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _latest(run_dir: Path) -> tuple[Path, dict] | None:
    pointer = run_dir / CHECKPOINTS / LATEST
    if not pointer.exists():
        return None
    try:
        document = json.loads(pointer.read_text())
        folder = run_dir / CHECKPOINTS / document["dir"]
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{pointer} or the checkpoint it names is unreadable ({error}); delete {run_dir / CHECKPOINTS} "
            "to start the run again"
        ) from None
    return folder, state


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """True when the run folder holds a peer checkpoint to resume from."""
    return (Path(run_dir) / CHECKPOINTS / LATEST).exists()


# ------------------------------------------------------------------------------------------ training


def _make_env(config: PeerConfig):
    from latent_space_policies.envs import make_env

    return make_env(config.env_id, max_episode_steps=config.max_episode_steps)


def replay_capacity(config: PeerConfig) -> int:
    """The SB3 replay capacity of a run: ``buffer_size``, but no more than the run's steps."""
    return max(1, min(config.buffer_size, config.total_steps))


def _enlarge_replay(model, capacity: int) -> None:
    """Give an off-policy SB3 model a replay buffer of ``capacity`` holding its transitions, oldest first.

    A run continued to more steps than it was started with (its buffer was sized to those) needs
    room for the new ones; a buffer already that large is left alone.
    """
    import numpy as np

    old = model.replay_buffer
    if old.buffer_size >= capacity:
        return
    if old.optimize_memory_usage:
        raise PeerError("cannot enlarge a replay buffer with optimize_memory_usage; start the run again")
    new = type(old)(
        capacity,
        old.observation_space,
        old.action_space,
        device=old.device,
        n_envs=old.n_envs,
        handle_timeout_termination=old.handle_timeout_termination,
    )
    order = np.r_[old.pos : old.buffer_size, : old.pos] if old.full else np.arange(old.pos)
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        getattr(new, name)[: len(order)] = getattr(old, name)[order]
    new.pos = len(order)
    model.replay_buffer = new
    model.buffer_size = capacity


def _build_model(config: PeerConfig, env):
    import numpy as np
    from stable_baselines3 import DDPG, PPO, SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    h = config.resolved()
    if config.algo == "ppo":
        return PPO(
            "MlpPolicy",
            env,
            learning_rate=h["learning_rate"],
            n_steps=h["n_steps"],
            batch_size=h["batch_size"],
            n_epochs=h["n_epochs"],
            gamma=h["gamma"],
            gae_lambda=0.95,
            clip_range=0.2,
            ent_coef=0.0,
            policy_kwargs=dict(net_arch=dict(pi=h["net_arch"], vf=h["net_arch"])),
            seed=config.seed,
            device="cpu",
            verbose=0,
        )
    common = dict(
        learning_rate=h["learning_rate"],
        buffer_size=replay_capacity(config),
        learning_starts=h["learning_starts"],
        batch_size=h["batch_size"],
        tau=h["tau"],
        gamma=h["gamma"],
        train_freq=1,
        gradient_steps=1,
        policy_kwargs=dict(net_arch=dict(pi=h["net_arch"], qf=h["net_arch"])),
        seed=config.seed,
        device="cpu",
        verbose=0,
    )
    if config.algo == "sac":
        return SAC("MlpPolicy", env, ent_coef="auto", target_entropy="auto", **common)
    action_dim = env.action_space.shape[0]
    noise = NormalActionNoise(np.zeros(action_dim), config.action_noise * np.ones(action_dim))
    if config.algo == "td3":
        return TD3(
            "MlpPolicy",
            env,
            action_noise=noise,
            policy_delay=2,
            target_policy_noise=0.2,
            target_noise_clip=0.5,
            **common,
        )
    return DDPG("MlpPolicy", env, action_noise=noise, **common)


def _algorithm_class(algo: str):
    from stable_baselines3 import DDPG, PPO, SAC, TD3

    return {"ppo": PPO, "ddpg": DDPG, "td3": TD3, "sac": SAC}[algo]


def evaluate_model(model, env, normalizer, *, seed: int, round_index: int, episodes: int, deterministic: bool):
    """(mean return, std, mean length) of an SB3-style model (``predict``) over ``episodes`` episodes,
    with the evaluation loop and episode seeds of ``lsp train``'s evaluation ``round_index``
    (:func:`latent_space_policies.evaluation.play_episodes`); ``normalizer``: a VecNormalize whose
    observation statistics the model expects, or None."""
    import numpy as np

    from latent_space_policies.evaluation import play_episodes

    def act(observation):
        seen = normalizer.normalize_obs(observation) if normalizer is not None else observation
        return model.predict(seen, deterministic=deterministic)[0]

    results = play_episodes(env, lambda: act, episodes=episodes, seed=seed, round_index=round_index)
    returns = np.array([r for r, _ in results])
    return float(returns.mean()), float(returns.std()), float(np.mean([n for _, n in results]))


@dataclasses.dataclass
class PeerResult:
    run_dir: Path
    steps: int
    evaluations: list[dict]
    interrupted: bool = False


def _refuse_changed_settings(run_dir: Path, config_path: Path, resolved: dict) -> None:
    """A resumed run keeps its settings: only the step budget and the intervals may change."""
    recorded = json.loads(config_path.read_text()).get("settings", {})
    changed = sorted(k for k in resolved if k not in _RESUMABLE and k in recorded and recorded[k] != resolved[k])
    if changed:
        details = ", ".join(f"{k}={recorded[k]!r} (asked {resolved[k]!r})" for k in changed)
        raise PeerError(
            f"{run_dir} holds a run with {details}; use another --run-dir for different settings "
            "(only total_steps, eval and checkpoint intervals may change when resuming)"
        )


def _model_for(config: PeerConfig, run_dir: Path, latest) -> tuple[Any, int, float]:
    """The SB3 model at the latest checkpoint (replay and normaliser included), or a new one:
    (model, step, wall time already spent)."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from latent_space_policies.evaluation import episode_seed

    log_path = run_dir / "eval.csv"
    venv = DummyVecEnv([lambda: Monitor(_make_env(config))])
    if latest is None:
        if config.algo == "ppo" and config.normalize:
            venv = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=config.gamma)
        write_eval_rows(log_path, [])
        return _build_model(config, venv), 0, 0.0
    folder, state = latest
    step, elapsed = int(state["step"]), float(state["wall_time_s"])
    if config.algo == "ppo" and config.normalize:
        venv = VecNormalize.load(str(folder / NORMALIZE), venv)
        venv.training = True
    model = _algorithm_class(config.algo).load(folder / MODEL, env=venv, device="cpu")
    if model.num_timesteps != step:
        raise CheckpointError(f"{folder}: model is at step {model.num_timesteps} but {STATE} says {step}")
    if config.algo in OFF_POLICY:
        if (folder / REPLAY).exists():
            model.load_replay_buffer(folder / REPLAY)
        else:
            print(f"{run_dir}: no replay buffer in the checkpoint, continuing with an empty one", flush=True)
        _enlarge_replay(model, replay_capacity(config))
    # Fresh but reproducible random streams for the continued run (the resume is not bit-exact).
    model.set_random_seed(episode_seed(config.seed, 2, step))
    model.get_env().seed(episode_seed(config.seed, 3, step))
    write_eval_rows(log_path, read_eval_rows(log_path, step))  # drop evaluations made after it
    print(f"{run_dir}: resuming {config.algo} from step {step}", flush=True)
    return model, step, elapsed


def _write_run_config(config_path: Path, config: PeerConfig, resolved: dict, torch) -> None:
    import stable_baselines3

    notes = []
    if config.algo in DETERMINISTIC_ONLY:
        notes.append(
            f"{config.algo} has only a deterministic policy: the return_stochastic_* columns of eval.csv "
            "repeat the deterministic ones (the evaluation episodes are run once)"
        )
    versions = {"stable-baselines3": stable_baselines3.__version__, "torch": torch.__version__}
    document = {"method": f"sb3-{config.algo}", "settings": resolved, "notes": notes, "versions": versions}
    _atomic_write_text(config_path, json.dumps(document, indent=2))


def _save_checkpoint(model, config: PeerConfig, run_dir: Path, wall_time_s: float, include_replay: bool = True) -> Path:
    """Write checkpoints/step_N (model, replay, normaliser, step) atomically and point LATEST at it."""
    checkpoints = run_dir / CHECKPOINTS
    checkpoints.mkdir(parents=True, exist_ok=True)
    name = f"step_{model.num_timesteps:09d}"
    if (checkpoints / name).exists():
        name += f"_{time.time_ns()}"
    tmp = checkpoints / f".{name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save(tmp / MODEL)
    if config.algo in OFF_POLICY and include_replay:
        model.save_replay_buffer(tmp / REPLAY)
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        normalizer.save(str(tmp / NORMALIZE))
    (tmp / STATE).write_text(json.dumps({"step": model.num_timesteps, "wall_time_s": round(wall_time_s, 2)}))
    os.replace(tmp, checkpoints / name)
    _atomic_write_text(checkpoints / LATEST, json.dumps({"dir": name, "step": model.num_timesteps}))
    for old in checkpoints.glob("step_*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return checkpoints / name


def _evaluation_row(model, eval_env, config: PeerConfig, t: int) -> dict:
    """One eval.csv row at step ``t`` in our schema (the same episode seeds as our runs)."""
    row: dict[str, Any] = {"step": t, "episodes": config.eval_episodes}
    modes = [("stochastic", False), ("deterministic", True)]
    if config.algo in DETERMINISTIC_ONLY:
        modes = modes[1:]
    for mode, deterministic in modes:
        mean, std, length = evaluate_model(
            model,
            eval_env,
            model.get_vec_normalize_env(),
            seed=config.seed,
            round_index=t // config.eval_every,
            episodes=config.eval_episodes,
            deterministic=deterministic,
        )
        row |= {f"return_{mode}_mean": mean, f"return_{mode}_std": std, f"length_{mode}_mean": length}
    if config.algo in DETERMINISTIC_ONLY:
        for what in ("return_{}_mean", "return_{}_std", "length_{}_mean"):
            row[what.format("stochastic")] = row[what.format("deterministic")]
    return row


def train_peer(config: PeerConfig) -> PeerResult:
    """Train (or resume, or skip when finished) the peer run described by ``config``."""
    if config.algo not in ALGORITHMS:
        raise PeerError(f"unknown peer algorithm {config.algo!r}; choose one of {', '.join(ALGORITHMS)}")
    if config.total_steps < 1:
        raise PeerError(f"total_steps must be positive, got {config.total_steps}")
    run_dir = Path(config.run_dir)
    done_at = finished_steps(run_dir)
    if done_at is not None and done_at >= config.total_steps:
        print(f"{run_dir}: finished ({done_at} steps), nothing to do", flush=True)
        return PeerResult(run_dir, done_at, read_eval_rows(run_dir / "eval.csv", done_at))

    _, torch = _require_sb3()
    from stable_baselines3.common.callbacks import BaseCallback

    from latent_space_policies.logs import EVAL_FIELDS
    from latent_space_policies.training import StopFlag

    torch.set_num_threads(1)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path, config_path = run_dir / "eval.csv", run_dir / "config.json"
    resolved = config.resolved()
    latest = _latest(run_dir)
    if latest is not None and config_path.exists():
        _refuse_changed_settings(run_dir, config_path, resolved)
    eval_env = _make_env(config)
    model, step, elapsed = _model_for(config, run_dir, latest)
    (run_dir / DONE).unlink(missing_ok=True)
    _write_run_config(config_path, config, resolved, torch)

    started = time.time()
    evaluations: list[dict] = []

    def wall() -> float:
        return elapsed + time.time() - started

    def evaluate_now(t: int) -> None:
        row = _evaluation_row(model, eval_env, config, t)
        row["wall_time_s"] = round(wall(), 2)
        with open(log_path, "a", newline="") as handle:
            csv.DictWriter(handle, EVAL_FIELDS).writerow(row)
        evaluations.append(row)
        if config.progress:
            print(
                f"{run_dir.name}: step {t}: return {row['return_stochastic_mean']:.1f} (stochastic), "
                f"{row['return_deterministic_mean']:.1f} (deterministic)",
                flush=True,
            )

    on_policy = config.algo == "ppo"
    with StopFlag((signal.SIGINT, signal.SIGTERM)) as stop:  # SIGTERM: what lsp sweep and Ray send

        class Hooks(BaseCallback):
            """After every env step: evaluation, checkpoints, the step budget and Ctrl-C."""

            def _on_step(self) -> bool:
                t = self.num_timesteps
                if config.eval_every and t % config.eval_every == 0:
                    evaluate_now(t)
                if config.checkpoint_every and t % config.checkpoint_every == 0 and t < config.total_steps:
                    _save_checkpoint(model, config, run_dir, wall())
                if stop.requested:
                    return False
                # PPO would otherwise finish its rollout past the budget.
                return not (on_policy and t >= config.total_steps)

        if config.total_steps > step:
            model.learn(total_timesteps=config.total_steps - step, callback=Hooks(), reset_num_timesteps=latest is None)
        if stop.requested:
            path = _save_checkpoint(model, config, run_dir, wall())
            print(
                f"interrupted at step {model.num_timesteps}; saved {path}. Re-run the same command to continue",
                flush=True,
            )
            return PeerResult(run_dir, model.num_timesteps, evaluations, interrupted=True)

    _save_checkpoint(model, config, run_dir, wall(), include_replay=config.keep_replay)
    tmp = run_dir / f".{POLICY}.{os.getpid()}.tmp.zip"
    model.save(tmp)
    os.replace(tmp, run_dir / POLICY)
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        normalizer.save(str(run_dir / NORMALIZE))
    _atomic_write_text(
        run_dir / DONE, json.dumps({"steps": model.num_timesteps, "wall_time_s": round(wall(), 2)}, indent=2)
    )
    print(f"done: {model.num_timesteps} steps of {config.algo} on {config.env_id} in {run_dir}", flush=True)
    return PeerResult(run_dir, model.num_timesteps, evaluations)


def main(argv: list[str] | None = None) -> int:
    import tyro

    config = tyro.cli(PeerConfig, args=argv, prog="python -m latent_space_policies.experiments.peers")
    try:
        result = train_peer(config)
    except LSPError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
