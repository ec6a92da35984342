"""Throughput benchmark: environment steps per second of SAC training on Hopper-v5, on one CPU core.

Measures, each in a fresh subprocess pinned to the same core (``taskset``) with single-threaded
XLA / PyTorch:

- ours: ``latent_space_policies.train`` for lsp-modern, lsp-paper and gaussian-modern;
- sb3:  Stable-Baselines3 SAC (PyTorch, CPU, 1 thread);
- sbx:  SBX SAC (JAX);
- floor (one per configuration of ours): the time of one jitted ``sac.update`` on a fixed batch of
  128 (blocked) + one Hopper env step + one jitted action (to NumPy), each timed separately in a loop
  and summed: what a training loop would cost with zero overhead of its own. Also reported, as
  "fused floor": one jitted ``sac.train_step`` (update + action in one call, state donated: what
  the training loop actually calls) + one env step. Floors use a device-resident batch and do not
  time episode resets.

All training runs use the same settings: 2x128 networks, batch 128, replay 1e6, learning starts at
1000 transitions, one gradient step per env step, episodes capped at 1000 steps, no evaluation,
no checkpoints. Only the steps from ``learning_starts + warmup`` to the end are timed (the warm-up
holds JIT compilation and the first updates); steps/s = timed steps / their wall time.

Ours runs under the interpreter that runs this script; the peers need torch / stable-baselines3 /
sbx-rl, installed by ``bash benchmarks/setup_peers.sh`` into ./bench_env (used by default for them).

    python benchmarks/throughput.py                         # 20000 steps each, on core 0
    python benchmarks/throughput.py --steps 50000 --core 1 --repeats 3
    python benchmarks/throughput.py --methods lsp-modern sbx floor-lsp-modern

Writes results/throughput.csv (CPU model, date, versions, every number) and prints a table with the
issue's targets: ours >= 1.5x SBX, >= 3x SB3, and floor steps/s / our steps/s <= 1.3.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {  # method -> (variant, policy)
    "lsp-modern": ("modern", "lsp"),
    "lsp-paper": ("paper", "lsp"),
    "gaussian-modern": ("modern", "gaussian"),
}
PEERS = ("sb3", "sbx")
FLOORS = {f"floor-{name}": name for name in OURS}
ALL_METHODS = [*OURS, *PEERS, *FLOORS]
ENV_ID = "Hopper-v5"
BATCH_SIZE = 128
BUFFER_SIZE = 1_000_000
NET_ARCH = [128, 128]
SINGLE_THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONWARNINGS": "ignore",
}
TARGETS = {"vs_sbx": 1.5, "vs_sb3": 3.0, "floor_ratio": 1.3}


# ------------------------------------------------------------------------------------------ workers
# Each worker runs in its own process and prints one line "RESULT <json>" on stdout.


def _timing(steps: int, start_step: int):
    """A step hook: records perf_counter at ``start_step`` and at ``steps``; returns (hook, marks)."""
    marks: dict[int, float] = {}

    def hook(step: int) -> None:
        if step == start_step or step == steps:
            marks[step] = time.perf_counter()

    return hook, marks


def _rate(marks: dict[int, float], steps: int, start_step: int) -> dict:
    if start_step not in marks or steps not in marks:
        raise RuntimeError(f"timing marks missing (got steps {sorted(marks)}, wanted {start_step} and {steps})")
    wall = marks[steps] - marks[start_step]
    return {"timed_steps": steps - start_step, "wall_s": wall, "steps_per_s": (steps - start_step) / wall}


def worker_ours(method: str, steps: int, learning_starts: int, start_step: int) -> dict:
    import jax

    from latent_space_policies.training import TrainConfig, train

    variant, policy = OURS[method]
    hook, marks = _timing(steps, start_step)
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            env_id=ENV_ID,
            total_steps=steps,
            variant=variant,
            policy=policy,
            batch_size=BATCH_SIZE,
            buffer_size=BUFFER_SIZE,
            learning_starts=learning_starts,
            max_episode_steps=1000,
            eval_every=0,
            checkpoint_every=0,
            progress=False,
            tensorboard=False,
            output_dir=tmp,
            run_name="throughput",
        )
        train(config, callback=lambda trainer: hook(trainer.step))
    return _rate(marks, steps, start_step) | {"versions": f"jax {jax.__version__}"}


def worker_peer(method: str, steps: int, learning_starts: int, start_step: int) -> dict:
    import gymnasium as gym
    from stable_baselines3.common.callbacks import BaseCallback

    hook, marks = _timing(steps, start_step)

    class Timer(BaseCallback):
        def _on_step(self) -> bool:  # called after every env step
            hook(self.num_timesteps)
            return True

    settings = dict(
        learning_rate=3e-4,
        buffer_size=BUFFER_SIZE,
        learning_starts=learning_starts,
        batch_size=BATCH_SIZE,
        gamma=0.99,
        train_freq=1,
        gradient_steps=1,
        ent_coef="auto",
        policy_kwargs=dict(net_arch=dict(pi=NET_ARCH, qf=NET_ARCH)),
        seed=0,
        verbose=0,
    )
    env = gym.make(ENV_ID, max_episode_steps=1000)
    if method == "sb3":
        import stable_baselines3
        import torch
        from stable_baselines3 import SAC

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        model = SAC("MlpPolicy", env, device="cpu", **settings)
        versions = f"torch {torch.__version__}, stable-baselines3 {stable_baselines3.__version__}"
    else:
        import jax
        import sbx
        from sbx import SAC

        model = SAC("MlpPolicy", env, **settings)
        versions = f"jax {jax.__version__}, sbx-rl {sbx.__version__}"
    model.learn(total_timesteps=steps, callback=Timer())
    return _rate(marks, steps, start_step) | {"versions": versions}


def worker_floor(method: str, iterations: int) -> dict:
    """Sum of the blocked times of one update, one env step and one action (means over loops)."""
    import jax
    import numpy as np

    from latent_space_policies.envs import action_space_bounded, make_env
    from latent_space_policies.sac import Batch
    from latent_space_policies.training import TrainConfig, build_agent

    variant, policy = OURS[FLOORS[method]]
    env = make_env(ENV_ID, max_episode_steps=1000)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    config = TrainConfig(env_id=ENV_ID, variant=variant, policy=policy, batch_size=BATCH_SIZE)
    _, sac = build_agent(config, obs_dim, act_dim, action_space_bounded(env.action_space))
    state = sac.init(jax.random.PRNGKey(0))

    rng = np.random.default_rng(0)
    batch = Batch(  # one gradient step: leading axis of size 1, as the training loop passes it
        observation=rng.normal(size=(1, BATCH_SIZE, obs_dim)).astype(np.float32),
        action=rng.uniform(-1, 1, size=(1, BATCH_SIZE, act_dim)).astype(np.float32),
        reward=rng.normal(size=(1, BATCH_SIZE)).astype(np.float32),
        next_observation=rng.normal(size=(1, BATCH_SIZE, obs_dim)).astype(np.float32),
        terminated=(rng.uniform(size=(1, BATCH_SIZE)) < 0.01).astype(np.float32),
    )
    batch = jax.device_put(batch)

    # Env steps: random actions; resets on episode ends are not timed.
    observation, _ = env.reset(seed=0)
    observations, env_time = [], 0.0
    for _ in range(iterations):
        action = rng.uniform(-1, 1, size=act_dim).astype(np.float32)
        start = time.perf_counter()
        observation, _, terminated, truncated, _ = env.step(action)
        env_time += time.perf_counter() - start
        observations.append(observation)
        if terminated or truncated:
            observation, _ = env.reset()

    # Updates (jitted, not donated), each blocked, after a warm-up that holds the compilation.
    for _ in range(20):
        state, metrics = sac.update(state, batch)
    jax.block_until_ready((state, metrics))
    start = time.perf_counter()
    for _ in range(iterations):
        state, metrics = sac.update(state, batch)
        jax.block_until_ready((state, metrics))
    update_time = time.perf_counter() - start

    # Actions: one jitted stochastic action on a real (float64) observation, brought back to NumPy.
    for observation in observations[:20]:
        state, action = sac.explore(state, observation)
        np.asarray(action)
    start = time.perf_counter()
    for observation in observations:
        state, action = sac.explore(state, observation)
        np.asarray(action)
    action_time = time.perf_counter() - start

    # Extra: the fused call the training loop makes instead (update + action, state donated).
    for observation in observations[:20]:
        state, action, metrics = sac.train_step(state, batch, observation)
        np.asarray(action)
    start = time.perf_counter()
    for observation in observations:
        state, action, metrics = sac.train_step(state, batch, observation)
        np.asarray(action)
    train_step_time = time.perf_counter() - start

    update_ms, env_ms, action_ms, train_step_ms = (
        1e3 * t / iterations for t in (update_time, env_time, action_time, train_step_time)
    )
    total_s = (update_ms + env_ms + action_ms) / 1e3
    return {
        "timed_steps": iterations,
        "wall_s": total_s * iterations,
        "steps_per_s": 1.0 / total_s,
        "update_ms": update_ms,
        "env_step_ms": env_ms,
        "action_ms": action_ms,
        "train_step_ms": train_step_ms,
        "fused_floor_steps_per_s": 1e3 / (train_step_ms + env_ms),
        "versions": f"jax {jax.__version__}",
    }


def run_worker(args: argparse.Namespace) -> None:
    method, start_step = args.worker, args.learning_starts + args.warmup
    load = os.getloadavg()[0]
    if method in OURS:
        result = worker_ours(method, args.steps, args.learning_starts, start_step)
    elif method in PEERS:
        result = worker_peer(method, args.steps, args.learning_starts, start_step)
    else:
        result = worker_floor(method, args.floor_iterations)
    result |= {"python": sys.executable, "load_1m_at_start": load}
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------ driver


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def launch(args: argparse.Namespace, method: str, python: str) -> dict:
    command = [
        python, str(Path(__file__).resolve()), "--worker", method,
        "--steps", str(args.steps), "--learning-starts", str(args.learning_starts),
        "--warmup", str(args.warmup), "--floor-iterations", str(args.floor_iterations),
    ]  # fmt: skip
    if args.core is not None:
        command = ["taskset", "-c", str(args.core), *command]
    env = dict(os.environ)
    env.update({k: v for k, v in SINGLE_THREAD_ENV.items()})
    env.setdefault("JAX_PLATFORMS", "cpu")
    started = time.time()
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise RuntimeError(f"{method} failed (exit {proc.returncode}):\n{tail}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["process_s"] = time.time() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per training run (total)")
    parser.add_argument("--learning-starts", type=int, default=1000, help="transitions before the first update")
    parser.add_argument("--warmup", type=int, default=1000, help="steps after learning starts left out of the timing")
    parser.add_argument("--floor-iterations", type=int, default=3000, help="loop length of each floor measurement")
    parser.add_argument("--methods", nargs="+", default=ALL_METHODS, choices=ALL_METHODS)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each method; the median is reported")
    parser.add_argument("--core", type=int, default=0, help="CPU core every run is pinned to (-1: no pinning)")
    parser.add_argument("--ours-python", default=sys.executable, help="interpreter for ours and the floors")
    parser.add_argument(
        "--peer-python",
        default=str(ROOT / "bench_env" / "bin" / "python"),
        help="interpreter with torch, stable-baselines3 and sbx-rl (see setup_peers.sh)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "throughput.csv")
    parser.add_argument("--worker", choices=ALL_METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    if args.core is not None and args.core < 0:
        args.core = None
    if args.steps <= args.learning_starts + args.warmup:
        parser.error("--steps must exceed --learning-starts + --warmup (nothing would be timed)")
    if any(m in PEERS for m in args.methods) and not Path(args.peer_python).exists():
        parser.error(f"{args.peer_python} not found: run `bash benchmarks/setup_peers.sh` or pass --peer-python")

    machine, date = cpu_model(), time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{machine}; core {args.core}; {args.steps} steps ({args.learning_starts} before learning, "
          f"{args.warmup} warm-up, {args.steps - args.learning_starts - args.warmup} timed); {date}", flush=True)  # fmt: skip
    results: dict[str, dict] = {}
    for method in args.methods:
        python = args.peer_python if method in PEERS else args.ours_python
        runs = []
        for repeat in range(args.repeats):
            result = launch(args, method, python)
            runs.append(result)
            print(f"  {method:<22} run {repeat + 1}/{args.repeats}: {result['steps_per_s']:8.1f} steps/s "
                  f"(load {result['load_1m_at_start']:.2f} at start)", flush=True)  # fmt: skip
        median = statistics.median(r["steps_per_s"] for r in runs)
        best = min(runs, key=lambda r: abs(r["steps_per_s"] - median))
        results[method] = best | {"steps_per_s": median, "all_steps_per_s": [r["steps_per_s"] for r in runs]}

    sbx = results.get("sbx", {}).get("steps_per_s")
    sb3 = results.get("sb3", {}).get("steps_per_s")
    rows = []
    for method, result in results.items():
        sps = result["steps_per_s"]
        floor_result = results.get(f"floor-{method}", {}) if method in OURS else {}
        floor = floor_result.get("steps_per_s")
        fused = floor_result.get("fused_floor_steps_per_s")
        rows.append(
            {
                "date": date,
                "cpu_model": machine,
                "core": "" if args.core is None else args.core,
                "method": method,
                "steps_per_s": round(sps, 2),
                "ratio_vs_sbx": round(sps / sbx, 3) if sbx else "",
                "ratio_vs_sb3": round(sps / sb3, 3) if sb3 else "",
                "floor_steps_per_s": round(floor, 2) if floor else "",
                "floor_ratio": round(floor / sps, 3) if floor else "",
                "fused_floor_steps_per_s": round(fused, 2) if fused else "",
                "fused_floor_ratio": round(fused / sps, 3) if fused else "",
                "all_steps_per_s": " ".join(f"{v:.2f}" for v in result["all_steps_per_s"]),
                "total_steps": args.steps if method not in FLOORS else "",
                "learning_starts": args.learning_starts if method not in FLOORS else "",
                "timed_steps": result["timed_steps"],
                "wall_s": round(result["wall_s"], 3),
                "update_ms": round(result["update_ms"], 4) if "update_ms" in result else "",
                "env_step_ms": round(result["env_step_ms"], 4) if "env_step_ms" in result else "",
                "action_ms": round(result["action_ms"], 4) if "action_ms" in result else "",
                "train_step_ms": round(result["train_step_ms"], 4) if "train_step_ms" in result else "",
                "load_1m_at_start": round(result["load_1m_at_start"], 2),
                "python": result["python"],
                "versions": result["versions"],
            }
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    print(f"\n{'method':<22}{'steps/s':>10}{'vs SBX':>9}{'vs SB3':>9}{'floor/ours':>12}{'fused/ours':>12}"
          "   targets (>=1.5x SBX, >=3x SB3, floor <=1.3x)")  # fmt: skip
    for row in rows:

        def cell(value, fmt="{:.2f}x"):
            return fmt.format(value) if value != "" else "-"

        verdict = ""
        if row["method"] in OURS:
            checks = []
            if row["ratio_vs_sbx"] != "":
                checks.append(("SBX", row["ratio_vs_sbx"] >= TARGETS["vs_sbx"]))
            if row["ratio_vs_sb3"] != "":
                checks.append(("SB3", row["ratio_vs_sb3"] >= TARGETS["vs_sb3"]))
            if row["floor_ratio"] != "":
                checks.append(("floor", row["floor_ratio"] <= TARGETS["floor_ratio"]))
            verdict = "   " + " ".join(f"{name}:{'ok' if good else 'MISS'}" for name, good in checks)
        print(f"{row['method']:<22}{row['steps_per_s']:>10.1f}{cell(row['ratio_vs_sbx']):>9}"
              f"{cell(row['ratio_vs_sb3']):>9}{cell(row['floor_ratio']):>12}{cell(row['fused_floor_ratio']):>12}"
              f"{verdict}")  # fmt: skip
    for row in rows:
        if row["method"] in FLOORS:
            print(f"  {row['method']}: update {row['update_ms']:.3f} ms + env step {row['env_step_ms']:.3f} ms "
                  f"+ action {row['action_ms']:.3f} ms; fused train_step {row['train_step_ms']:.3f} ms")  # fmt: skip
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
