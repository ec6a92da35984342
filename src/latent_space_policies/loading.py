"""Loading a trained policy (one level or a whole hierarchy) for evaluation and use from Python."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from latent_space_policies.errors import ShapeError
from latent_space_policies.levels import ComposedPolicy, Level, env_for, load_levels
from latent_space_policies.evaluation import evaluate, make_act_fns


@dataclasses.dataclass
class LoadedPolicy:
    """A frozen policy f_0 o ... o f_{K-1} (K = 1 for a single level), with where it came from.

    ``act`` takes a NumPy observation ``(obs_dim,)`` or a batch ``(n, obs_dim)``; actions are in
    the policy's units ([-1, 1] when squashed: an env made by ``make_env`` takes them as they are).
    The composition maps latent to action within one env step; levels that hold latents for several
    steps are run by ``lsp eval`` through the wrapped env instead (see hierarchy.ComposedPolicy).
    """

    levels: list[Level]
    env_id: str
    metadata: dict

    def __post_init__(self):
        if len(self.levels) == 1:
            self.policy: Any = self.levels[0].policy
            self.params: Any = self.levels[0].params
        else:
            self.policy = ComposedPolicy(self.levels)
            self.params = self.policy.params
        self._act = make_act_fns(self.policy)
        self._top_act = self._act if len(self.levels) == 1 else make_act_fns(self.levels[-1].policy)
        self._key = jax.random.PRNGKey(0)
        self._forward = jax.jit(self.policy.action_from_latent)
        self._inverse = jax.jit(self.policy.latent_from_action)

    @property
    def observation_dim(self) -> int:
        return self.policy.observation_dim

    @property
    def action_dim(self) -> int:
        return self.levels[0].policy.action_dim

    @property
    def latent_dim(self) -> int:
        return self.levels[-1].policy.action_dim

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
        latent = self._check(latent, self.latent_dim, "latent")
        action, log_prob = self._forward(self.params, observation, latent)
        return np.asarray(action), np.asarray(log_prob)

    def wrap(self, env):
        """``env`` (the task) as the top level acts in it: the lower levels embedded with their latent
        holds, the top level's reward, and the part of the observation it was trained on."""
        config = self.metadata.get("config", {})
        observation = config.get("observation", "all")
        return env_for(env, self.levels[:-1], reward=self.levels[-1].reward, observation=observation)

    @property
    def trained_latent_per_episode(self) -> bool:
        """Whether the top level's run held one sampled latent per episode (``--latent-per-episode``)."""
        return bool(self.metadata.get("config", {}).get("latent_per_episode", False))

    def evaluate(self, env, *, episodes: int, deterministic: bool = False, seed: int = 0, round_index: int = 0,
                 frames: list | None = None, final_infos: list | None = None,
                 latent_per_episode: bool | None = None) -> list[tuple[float, int]]:
        """(return, length) of ``episodes`` episodes of the task ``env`` (wrapped with :meth:`wrap`),
        drawn as the run's own evaluations draw them (its latent held per episode where it was trained
        so, unless ``latent_per_episode`` says otherwise)."""
        top = self.levels[-1]
        if latent_per_episode is None:
            latent_per_episode = self.trained_latent_per_episode
        return evaluate(
            top.policy, top.params, self.wrap(env), episodes=episodes, deterministic=deterministic, seed=seed,
            round_index=round_index, act_fns=self._top_act, frames=frames, final_infos=final_infos,
            latent_per_episode=latent_per_episode,
        )  # fmt: skip

    def latent_from_action(self, observation, action) -> tuple[np.ndarray, np.ndarray]:
        """h = f^-1(a; s) and log pi(a|s)."""
        observation = self._check(observation, self.observation_dim, "observation")
        action = self._check(action, self.action_dim, "action")
        latent, log_prob = self._inverse(self.params, observation, action)
        return np.asarray(latent), np.asarray(log_prob)


def load_policy(path: str | Path) -> LoadedPolicy:
    """Load the policy from a run folder, a training checkpoint, a policy file or a hierarchy file."""
    levels, metadata = load_levels(path)
    return LoadedPolicy(levels=levels, env_id=metadata.get("env_id", "?"), metadata=metadata)
