#!/usr/bin/env bash
# Install the benchmark peers (Stable-Baselines3 SAC on PyTorch CPU, SBX SAC on JAX) into a
# virtual environment at ./bench_env, leaving the system Python's packages untouched.
#
#     bash benchmarks/setup_peers.sh            # then: bench_env/bin/python benchmarks/throughput.py
#
# The venv is made with --system-site-packages, so it reuses the system's jax / flax / optax /
# gymnasium / mujoco and this package (installed editable), and adds only what the peers need.
# torch is installed FIRST, pinned to the CPU build (a plain `pip install torch` would pull the
# CUDA build and gigabytes of CUDA libraries; so would stable-baselines3 / sbx-rl if they found
# no torch installed). tfp-nightly (needed by sbx) goes into this venv only: it is not a
# dependency of latent-space-policies.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${BENCH_ENV:-$ROOT/bench_env}"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install)

# 1. torch, CPU build, before anything that depends on it (this machine's pip finds 2.13.0+cpu).
"${PIP[@]}" "torch==2.13.0"
"$VENV/bin/python" - <<'EOF'
import torch
assert not torch.version.cuda, f"a CUDA build of torch got installed ({torch.__version__}); remove bench_env and retry"
print("torch", torch.__version__, "(CPU build)")
EOF

# 2. The peers, with the versions found to work (see requirements-peers.txt).
"${PIP[@]}" -r "$ROOT/benchmarks/requirements-peers.txt"

# 3. Check: everything imports, and JAX is the same version as the system's (no shadowing copy).
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
import jax, torch, stable_baselines3, sbx, gymnasium, mujoco
import latent_space_policies
import tensorflow_probability.substrates.jax  # what sbx uses
print("ok:", ", ".join(f"{n} {md.version(n)}" for n in
      ("torch", "stable-baselines3", "sbx-rl", "tfp-nightly", "jax", "flax", "optax", "gymnasium", "mujoco")))
EOF
