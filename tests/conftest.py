import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# A persistent XLA compilation cache shared by every test, pytest-xdist worker and subprocess: most of
# the suite's time is compiling the same update and act functions for the same shapes again and again.
# Entries are keyed by the computation and the JAX version, so a stale one is never used.
_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "jax")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def randomize(params, key, scale=0.5):
    """Replace every parameter with random values, so that no layer is the identity."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(
        treedef, [scale * jax.random.normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves)]
    )


def random_batch(rng, obs_dim, act_dim, size=16, terminated=0.0):
    """One gradient step's replay batch (leading axis 1, as the training loop passes it) of random data."""
    from latent_space_policies.sac import Batch

    return Batch(
        observation=rng.normal(size=(1, size, obs_dim)).astype(np.float32),
        action=rng.uniform(-1, 1, (1, size, act_dim)).astype(np.float32),
        reward=rng.normal(size=(1, size)).astype(np.float32),
        next_observation=rng.normal(size=(1, size, obs_dim)).astype(np.float32),
        terminated=np.full((1, size), terminated, np.float32),
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pendulum_config(tmp_path, **settings):
    """The learning tests' Pendulum-v1 run: 8,000 steps, one 5-episode evaluation at the end."""
    from latent_space_policies.training import TrainConfig

    return TrainConfig(
        env_id="Pendulum-v1",
        total_steps=8000,
        max_episode_steps=None,  # Pendulum's own 200-step limit
        eval_every=8000,
        eval_episodes=5,
        output_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        **settings,
    )
