"""Loading a trained policy from any checkpoint file, for evaluation and for use from Python."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from latent_space_policies.checkpoint import load_checkpoint
from latent_space_policies.errors import CheckpointError, ShapeError
from latent_space_policies.policies import Policy
from latent_space_policies.training import make_act_fns, policy_from_spec


@dataclasses.dataclass
class LoadedPolicy:
    """A frozen policy: its networks, parameters and where it came from.

    ``act`` takes a NumPy observation ``(obs_dim,)`` or a batch ``(n, obs_dim)``; actions are in
    the policy's units ([-1, 1] when squashed: the env made by ``make_env`` takes them as they are).
    """

    policy: Policy
    params: Any
    env_id: str
    metadata: dict

    def __post_init__(self):
        self._act = make_act_fns(self.policy)
        self._key = jax.random.PRNGKey(0)
        self._forward = jax.jit(self.policy.action_from_latent)
        self._inverse = jax.jit(self.policy.latent_from_action)

    @property
    def observation_dim(self) -> int:
        return self.policy.observation_dim

    @property
    def action_dim(self) -> int:
        return self.policy.action_dim

    def _check(self, array, dim: int, what: str) -> jax.Array:
        array = np.asarray(array, np.float32)
        if array.ndim == 0 or array.shape[-1] != dim:
            raise ShapeError(f"{what} has shape {array.shape}, but this policy expects (..., {dim})")
        return jnp.asarray(array)

    def seed(self, seed: int) -> None:
        """Seed the latent samples drawn by stochastic ``act``."""
        self._key = jax.random.PRNGKey(seed)

    def act(self, observation, deterministic: bool = False) -> np.ndarray:
        observation = self._check(observation, self.observation_dim, "observation")
        if deterministic:
            return np.asarray(self._act["deterministic"](self.params, observation))
        self._key, action = self._act["stochastic"](self.params, observation, self._key)
        return np.asarray(action)

    def action_from_latent(self, observation, latent) -> tuple[np.ndarray, np.ndarray]:
        """a = f(h; s) and log pi(a|s)."""
        observation = self._check(observation, self.observation_dim, "observation")
        latent = self._check(latent, self.action_dim, "latent")
        action, log_prob = self._forward(self.params, observation, latent)
        return np.asarray(action), np.asarray(log_prob)

    def latent_from_action(self, observation, action) -> tuple[np.ndarray, np.ndarray]:
        """h = f^-1(a; s) and log pi(a|s)."""
        observation = self._check(observation, self.observation_dim, "observation")
        action = self._check(action, self.action_dim, "action")
        latent, log_prob = self._inverse(self.params, observation, action)
        return np.asarray(latent), np.asarray(log_prob)


def load_policy(path: str | Path) -> LoadedPolicy:
    """Load the policy from a run folder, a training checkpoint, or a policy-only file."""
    trees, metadata = load_checkpoint(path, sections=("policy", "state"))
    spec = metadata.get("policy")
    if spec is None:
        raise CheckpointError(f"{path} holds no policy description; it was not written by lsp train")
    policy = policy_from_spec(spec)
    template = policy.init(jax.random.PRNGKey(0))
    if metadata.get("kind") == "train":
        saved = trees.get("state", {}).get("policy_params")
    else:
        saved = trees.get("policy")
    if saved is None:
        raise CheckpointError(f"{path} has no policy parameters")
    try:
        params = flax.serialization.from_state_dict(template, saved)
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: policy parameters do not match their description ({error})") from None
    if jax.tree_util.tree_map(np.shape, template) != jax.tree_util.tree_map(np.shape, params):
        raise CheckpointError(f"{path}: policy parameter shapes do not match their description")
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return LoadedPolicy(policy=policy, params=params, env_id=metadata.get("env_id", "?"), metadata=metadata)
