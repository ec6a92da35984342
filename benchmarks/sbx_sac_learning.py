"""Learning benchmark peer: SBX SAC (JAX) on Hopper-v5 with the same settings as SAC-LSP's runs.

2x128 networks (actor and twin critics), batch 128, Adam lr 3e-4, replay 1e6, learning starts
after 1000 transitions, gamma 0.99, tau 0.005, one gradient step per env step, learned entropy
coefficient (target -|A|), episodes capped at 1000 steps. Every ``--eval-every`` env steps the
policy is evaluated on a separate Hopper-v5 env, ``--eval-episodes`` episodes stochastic and as
many deterministic, reset with the same seeds as ``lsp train`` uses for its evaluations (so both
methods start their evaluation episodes from the same states). Writes

    RUNS/Hopper-v5__sbx-sac__{seed}/eval.csv   (the same columns as lsp's eval.csv)

Resumable: every ``--save-every`` steps the model (model.zip) and replay buffer
(replay_buffer.pkl) are saved with SB3's own save / save_replay_buffer; re-running continues from
them (not bit-exact: the interrupted episode restarts, and random streams are re-seeded). A
finished run leaves a FINISHED marker and is skipped. Needs bench_env (benchmarks/setup_peers.sh):

    bench_env/bin/python benchmarks/sbx_sac_learning.py --seeds 0 1 2 --steps 300000 --jobs 2

Each seed runs in its own process pinned to one core (core = slot index) with single-threaded
XLA; its log is RUNS/sbx-sac-{seed}.log.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_ID = "Hopper-v5"
METHOD = "sbx-sac"
# The same columns and evaluation seeds as `lsp train`, so both methods start evaluation
# episodes from the same states (bench_env sees this package through its system site-packages).
from latent_space_policies.evaluation import episode_seed  # noqa: E402
from latent_space_policies.logs import EVAL_FIELDS  # noqa: E402

# The package's SB3 peers (latent_space_policies.experiments.peers) share this runner's evaluation and its
# eval.csv reading / atomic rewriting.
from latent_space_policies.experiments.peers import evaluate_model  # noqa: E402
from latent_space_policies.experiments.peers import read_eval_rows as read_rows  # noqa: E402
from latent_space_policies.experiments.peers import write_eval_rows as write_rows  # noqa: E402

SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
MODEL, REPLAY, STATE, FINISHED = "model.zip", "replay_buffer.pkl", "progress.json", "FINISHED"


def run_dir(runs: Path, seed: int) -> Path:
    return runs / f"{ENV_ID}__{METHOD}__{seed}"


def finished_steps(path: Path) -> int | None:
    marker = path / FINISHED
    if not marker.exists():
        return None
    try:
        return int(json.loads(marker.read_text())["steps"])
    except (ValueError, KeyError):
        return None




# ------------------------------------------------------------------------------------------ one run


def evaluate(model, env, *, seed: int, round_index: int, episodes: int, deterministic: bool):
    """(mean, std, mean length) of ``episodes`` episodes reset with ``lsp train``'s evaluation seeds."""
    return evaluate_model(
        model, env, None, seed=seed, round_index=round_index, episodes=episodes, deterministic=deterministic
    )


def train_one(args: argparse.Namespace, seed: int) -> None:
    import gymnasium as gym
    import jax
    import sbx
    from sbx import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    path = run_dir(args.runs, seed)
    done_at = finished_steps(path)
    if done_at is not None and done_at >= args.steps:
        print(f"{path.name}: finished ({done_at} steps), skipped", flush=True)
        return
    path.mkdir(parents=True, exist_ok=True)
    env = gym.make(ENV_ID, max_episode_steps=1000)
    eval_env = gym.make(ENV_ID, max_episode_steps=1000)
    log = path / "eval.csv"

    resumed = (path / MODEL).exists() and (path / STATE).exists()
    if resumed:
        progress = json.loads((path / STATE).read_text())
        model = SAC.load(path / MODEL, env=env, device="cpu")
        if (path / REPLAY).exists():
            model.load_replay_buffer(path / REPLAY)
        else:
            print(f"{path.name}: no replay buffer saved, continuing with an empty one", flush=True)
        step = model.num_timesteps
        if step != progress["step"]:
            raise RuntimeError(f"{path}: model is at step {step} but {STATE} says {progress['step']}")
        elapsed = float(progress["wall_time_s"])
        # Fresh, but reproducible, random streams for the continued run.
        model.set_random_seed(episode_seed(seed, 2, step))
        model.get_env().seed(episode_seed(seed, 3, step))
        write_rows(log, read_rows(log, step))  # drop evaluations made after the checkpoint
        print(f"{path.name}: resuming from step {step}", flush=True)
    else:
        model = SAC(
            "MlpPolicy",
            env,
            learning_rate=3e-4,
            buffer_size=1_000_000,
            learning_starts=1000,
            batch_size=128,
            tau=0.005,
            gamma=0.99,
            train_freq=1,
            gradient_steps=1,
            ent_coef="auto",
            target_entropy="auto",
            policy_kwargs=dict(net_arch=dict(pi=[128, 128], qf=[128, 128])),
            seed=seed,
            verbose=0,
        )
        step, elapsed = 0, 0.0
        write_rows(log, [])
        (path / "config.json").write_text(
            json.dumps(
                {
                    "method": METHOD,
                    "env_id": ENV_ID,
                    "seed": seed,
                    "total_steps": args.steps,
                    "net_arch": [128, 128],
                    "batch_size": 128,
                    "learning_rate": 3e-4,
                    "buffer_size": 1_000_000,
                    "learning_starts": 1000,
                    "gamma": 0.99,
                    "tau": 0.005,
                    "gradient_steps": 1,
                    "ent_coef": "auto",
                    "max_episode_steps": 1000,
                    "eval_every": args.eval_every,
                    "eval_episodes": args.eval_episodes,
                    "versions": {"sbx-rl": sbx.__version__, "jax": jax.__version__},
                },
                indent=2,
            )
        )

    started = time.time()

    def wall() -> float:
        return elapsed + time.time() - started

    def save() -> None:
        model.save(path / MODEL)
        model.save_replay_buffer(path / REPLAY)
        (path / STATE).write_text(json.dumps({"step": model.num_timesteps, "wall_time_s": wall()}))

    class Hooks(BaseCallback):
        """Runs after every env step: evaluation and checkpoints on their intervals."""

        def _on_step(self) -> bool:
            t = self.num_timesteps
            if args.eval_every and t % args.eval_every == 0:
                row = {"step": t, "episodes": args.eval_episodes}
                for mode, deterministic in (("stochastic", False), ("deterministic", True)):
                    mean, std, length = evaluate(
                        model,
                        eval_env,
                        seed=seed,
                        round_index=t // args.eval_every,
                        episodes=args.eval_episodes,
                        deterministic=deterministic,
                    )
                    row |= {f"return_{mode}_mean": mean, f"return_{mode}_std": std, f"length_{mode}_mean": length}
                row["wall_time_s"] = round(wall(), 2)
                with open(log, "a", newline="") as handle:
                    csv.DictWriter(handle, EVAL_FIELDS).writerow(row)
                print(
                    f"{path.name}: step {t}: return stochastic {row['return_stochastic_mean']:.1f}, "
                    f"deterministic {row['return_deterministic_mean']:.1f} ({row['wall_time_s']:.0f} s)",
                    flush=True,
                )
            if args.save_every and t % args.save_every == 0 and t < args.steps:
                save()
            return True

    model.learn(total_timesteps=args.steps - step, callback=Hooks(), reset_num_timesteps=not resumed)
    save()
    (path / FINISHED).write_text(json.dumps({"steps": model.num_timesteps, "wall_time_s": round(wall(), 2)}))
    if not args.keep_replay:
        (path / REPLAY).unlink(missing_ok=True)
    print(f"{path.name}: finished {model.num_timesteps} steps in {wall():.0f} s", flush=True)


# ------------------------------------------------------------------------------------------ driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300_000, help="env steps per run")
    parser.add_argument("--eval-every", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=5, help="per mode (stochastic and deterministic)")
    parser.add_argument("--save-every", type=int, default=20_000, help="model + replay checkpoint interval")
    parser.add_argument("--keep-replay", action="store_true", help="keep replay_buffer.pkl after a run finishes")
    parser.add_argument("--runs", type=Path, default=ROOT / "benchmarks" / "runs")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at a time, each pinned to its own core")
    parser.add_argument("--first-core", type=int, default=0, help="slot i runs on core first_core + i")
    parser.add_argument("--no-pin", action="store_true", help="do not pin runs to cores (no taskset)")
    parser.add_argument("--worker-seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.runs = args.runs.resolve()
    if args.worker_seed is not None:
        return train_one(args, args.worker_seed)

    todo = [s for s in args.seeds if (finished_steps(run_dir(args.runs, s)) or 0) < args.steps]
    for seed in sorted(set(args.seeds) - set(todo)):
        print(f"{run_dir(args.runs, seed).name}: finished, skipped")
    args.runs.mkdir(parents=True, exist_ok=True)
    running: dict[int, tuple[subprocess.Popen, int]] = {}
    free = list(range(args.jobs))
    failed = []
    while todo or running:
        while todo and free:
            seed, slot = todo.pop(0), free.pop(0)
            command = [
                sys.executable, str(Path(__file__).resolve()), "--worker-seed", str(seed),
                "--steps", str(args.steps), "--eval-every", str(args.eval_every),
                "--eval-episodes", str(args.eval_episodes), "--save-every", str(args.save_every),
                "--runs", str(args.runs), *(["--keep-replay"] if args.keep_replay else []),
            ]  # fmt: skip
            if not args.no_pin:
                command = ["taskset", "-c", str((args.first_core + slot) % (os.cpu_count() or 1)), *command]
            env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
            env.setdefault("XLA_FLAGS", SINGLE_THREAD)
            env.setdefault("JAX_PLATFORMS", "cpu")
            log = open(args.runs / f"{METHOD}-{seed}.log", "a")
            print(f"[{time.strftime('%H:%M:%S')}] start {METHOD} seed {seed} (slot {slot})", flush=True)
            running[slot] = (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), seed)
        time.sleep(2)
        for slot, (proc, seed) in list(running.items()):
            if proc.poll() is not None:
                print(f"[{time.strftime('%H:%M:%S')}] {METHOD} seed {seed} exited with {proc.returncode}", flush=True)
                if proc.returncode != 0:
                    failed.append(seed)
                del running[slot]
                free.append(slot)

    print(f"\n{'seed':>5}{'step':>9}{'stochastic':>13}{'deterministic':>15}")
    for seed in args.seeds:
        rows = read_rows(run_dir(args.runs, seed) / "eval.csv", args.steps)
        if rows:
            last = rows[-1]
            print(f"{seed:>5}{last['step']:>9}{float(last['return_stochastic_mean']):>13.1f}"
                  f"{float(last['return_deterministic_mean']):>15.1f}")  # fmt: skip
    if failed:
        sys.exit(f"runs failed for seeds {failed}; see {args.runs}/{METHOD}-<seed>.log")


if __name__ == "__main__":
    main()
