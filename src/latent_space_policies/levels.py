"""The parts of a layerwise hierarchy (paper §5): frozen levels and the envs and policies they make.

- :class:`Level`: one frozen layer f_k, with the observation it expects (an
  :class:`ObservationMap` of the env's observation) and how long each latent from the layer above
  is held (``latent_repeat``; the layer still acts every env step with the held latent).
- :class:`FrozenLayerWrapper`: embeds a frozen layer in the environment. The wrapped env's action
  is the layer's latent h; the wrapper computes a = f(h; s) and steps the inner env. The layer
  above sees an ordinary Gymnasium env; nothing in the SAC code knows it trains a higher layer.
- :class:`ComposedPolicy`: f_0 o f_1 o ... o f_{K-1} as one policy, saved and loaded as one file.

Algorithm 1 itself (train, freeze, wrap, repeat) is ``hierarchy.algorithm_1``; this module sits
below the training loop, which wraps a new level's env in the frozen levels given to it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, Sequence

import flax.serialization
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from latent_space_policies.checkpoint import load_checkpoint, save_checkpoint
from latent_space_policies.errors import CheckpointError, ShapeError
from latent_space_policies.flows import standard_normal_log_prob
from latent_space_policies.policies import Policy, jit_action_from_latent, policy_from_spec
from latent_space_policies.rewards import apply_reward


@dataclasses.dataclass(frozen=True)
class ObservationMap:
    """Which part of the env's observation a layer sees: ``observation[..., start:stop]``."""

    start: int = 0
    stop: int | None = None

    def __call__(self, observation):
        return observation[..., self.start : self.stop]

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    def output_dim(self, input_dim: int) -> int:
        return len(range(input_dim)[self.slice])

    @classmethod
    def parse(cls, text: str | None) -> "ObservationMap":
        """``"all"`` / ``None`` (everything), ``"START:STOP"`` or ``"slice:START:STOP"``."""
        if text is None or text in ("all", "identity", "auto"):
            return cls()
        parts = text.removeprefix("slice:").split(":")
        try:
            start, stop = (int(p) if p else None for p in parts)
        except ValueError:
            raise ShapeError(f"observation map {text!r} is not 'all' or 'START:STOP'") from None
        return cls(start or 0, stop)

    def to_json(self) -> dict:
        return {"start": self.start, "stop": self.stop}

    @classmethod
    def from_json(cls, document: dict | None) -> "ObservationMap":
        return cls(**document) if document else cls()


@dataclasses.dataclass
class Level:
    """One frozen layer of a hierarchy."""

    spec: dict  # the policy description (see training.policy_spec)
    params: Any
    observation_map: ObservationMap = ObservationMap()
    latent_repeat: int = 1
    """Env steps each latent from the layer above is held for."""
    repeat_reward: Literal["sum", "last"] = "sum"
    """Reward over a held latent: the sum, or only the last env step's (as the original code)."""
    reward: str = "task"
    """The reward this layer was trained on (recorded for reference)."""
    env_id: str = "?"
    latent_scale: float = 1.0
    """The layer sees ``latent_scale * h`` for the latent h from the layer above (1: the paper). Below 1,
    a layer above with a N(0, I) prior acts within the narrower latent range its layer walks upright in."""

    @property
    def policy(self) -> Policy:
        return policy_from_spec(self.spec)

    def describe(self) -> dict:
        return {
            "policy": self.spec,
            "observation_map": self.observation_map.to_json(),
            "latent_repeat": self.latent_repeat,
            "repeat_reward": self.repeat_reward,
            "reward": self.reward,
            "env_id": self.env_id,
            "latent_scale": self.latent_scale,
        }


class FrozenLayerWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The env seen by the layer above a frozen one: its action is the frozen layer's latent h.

    Each step holds h for ``level.latent_repeat`` inner env steps, computing a = f(h; s) on the
    current observation every step (mapped by ``level.observation_map``). The reward is the sum of
    the inner rewards, or only the last one (``repeat_reward='last'``); the step stops early when
    the inner episode ends. The layer is given ``level.latent_scale * h``.
    """

    def __init__(self, env: gym.Env, level: Level):
        gym.utils.RecordConstructorArgs.__init__(self, level=level)  # the env can be rebuilt from its spec
        gym.Wrapper.__init__(self, env)
        self.level = level
        policy = level.policy
        outer_dim = env.observation_space.shape[0]
        seen_dim = level.observation_map.output_dim(outer_dim)
        if seen_dim != policy.observation_dim:
            raise ShapeError(
                f"the frozen layer expects observations of size {policy.observation_dim}, but its observation "
                f"map {level.observation_map.to_json()} gives {seen_dim} of the env's {outer_dim}; "
                "choose the slice of the observation it was trained on (e.g. --base-observation 0:27)"
            )
        inner = env.action_space
        if inner.shape != (policy.action_dim,):
            raise ShapeError(
                f"the frozen layer outputs actions of size {policy.action_dim}, the env takes {inner.shape}"
            )
        if policy.squash and not (np.all(inner.low == -1.0) and np.all(inner.high == 1.0)):
            raise ShapeError("a squashed frozen layer needs an env with actions in [-1, 1] (use make_env)")
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (policy.action_dim,), np.float32)
        self._params = level.params
        self._forward = jit_action_from_latent(policy)
        self._observation = None

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._observation = observation
        return observation, info

    def low_action(self, latent) -> np.ndarray:
        """a = f(h; s) for the current observation."""
        observation = self.level.observation_map(np.asarray(self._observation, np.float32))
        return np.asarray(self._forward(self._params, observation, latent))

    def step(self, latent):
        latent = np.asarray(latent, np.float32)
        if latent.shape != self.action_space.shape:
            raise ShapeError(f"latent action has shape {latent.shape}, this layer takes {self.action_space.shape}")
        total = 0.0
        latent = latent * np.float32(self.level.latent_scale)
        for _ in range(self.level.latent_repeat):
            observation, reward, terminated, truncated, info = self.env.step(self.low_action(latent))
            self._observation = observation
            total = total + float(reward) if self.level.repeat_reward == "sum" else float(reward)
            if terminated or truncated:
                break
        return observation, total, terminated, truncated, info


class ObservationSlice(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Shows a layer only ``observation_map`` of the env's observation (e.g. without the torso's xy)."""

    def __init__(self, env: gym.Env, observation_map: ObservationMap):
        gym.utils.RecordConstructorArgs.__init__(self, observation_map=observation_map)
        gym.ObservationWrapper.__init__(self, env)
        self.observation_map = observation_map
        space = env.observation_space
        dim = observation_map.output_dim(space.shape[0])
        if dim == 0:
            raise ShapeError(f"observation slice {observation_map.to_json()} of a {space.shape[0]}-dim observation is empty")
        self.observation_space = gym.spaces.Box(
            observation_map(space.low), observation_map(space.high), (dim,), space.dtype
        )

    def observation(self, observation):
        return self.observation_map(observation)


def wrap_levels(env: gym.Env, levels: Sequence[Level]) -> gym.Env:
    """Embed frozen levels (bottom first) in ``env``; the result's action is the top level's latent."""
    for level in levels:
        env = FrozenLayerWrapper(env, level)
    return env


def env_for(env: gym.Env, below: Sequence[Level], *, reward: str | None = "task", observation: str | None = "all") -> gym.Env:
    """The env a level acts in: ``env`` with the level's reward, the frozen levels ``below`` it
    embedded (bottom first, their latent holds included), and the part of the observation it sees.
    Training (``agents.make_training_env``), ``lsp eval`` and the maze video all build it here."""
    env = wrap_levels(apply_reward(env, reward or "task"), below)
    if observation not in ("all", None):
        env = ObservationSlice(env, ObservationMap.parse(observation))
    return env


class ComposedPolicy:
    """f_0 o f_1 o ... o f_{K-1} (bottom first) as one policy of the env observation.

    Pure functions over a tuple of per-level parameters, with the same interface as
    :class:`~latent_space_policies.policies.Policy`. It maps latent to action within one env step;
    a hierarchy whose levels hold latents for several steps is run by wrapping the env
    (:func:`wrap_levels`) and acting with the top level, as ``lsp eval`` does.
    """

    def __init__(self, levels: Sequence[Level]):
        self.levels = list(levels)
        self.policies = [level.policy for level in self.levels]
        self.maps = [level.observation_map for level in self.levels]
        self.scales = [float(level.latent_scale) for level in self.levels]
        top = self.policies[-1]
        self.action_dim = self.policies[0].action_dim
        self.latent_dim = top.action_dim
        self.observation_dim = self.policies[-1].observation_dim + self.maps[-1].start
        self.squash = self.policies[0].squash

    @property
    def params(self) -> tuple:
        return tuple(level.params for level in self.levels)

    def action_from_latent(self, params: tuple, observation, latent):
        log_prob = standard_normal_log_prob(latent)
        value = latent
        for policy, obs_map, scale, level_params in reversed(list(zip(self.policies, self.maps, self.scales, params))):
            # the level sees scale * value: log|det| of the scaling is d log(scale)
            value = value * scale
            log_prob = log_prob - policy.action_dim * np.log(scale)
            output, level_log_prob = policy.action_from_latent(level_params, obs_map(observation), value)
            # level_log_prob = log N(input) - log|det f_k|: keep only the log-det part.
            log_prob = log_prob + level_log_prob - standard_normal_log_prob(value)
            value = output
        return value, log_prob

    def latent_from_action(self, params: tuple, observation, action):
        value, log_det_total = action, 0.0
        for policy, obs_map, scale, level_params in zip(self.policies, self.maps, self.scales, params):
            latent, level_log_prob = policy.latent_from_action(level_params, obs_map(observation), value)
            log_det_total = log_det_total + level_log_prob - standard_normal_log_prob(latent)
            value = latent / scale
            log_det_total = log_det_total - policy.action_dim * np.log(scale)
        return value, standard_normal_log_prob(value) + log_det_total

    def sample(self, params: tuple, observation, key):
        latent = jax.random.normal(key, (*jnp.shape(observation)[:-1], self.latent_dim))
        return self.action_from_latent(params, observation, latent)

    def deterministic_action(self, params: tuple, observation):
        latent = jnp.zeros((*jnp.shape(observation)[:-1], self.latent_dim))
        return self.action_from_latent(params, observation, latent)[0]


def save_hierarchy(path: str | Path, levels: Sequence[Level], env_id: str, extra: dict | None = None) -> Path:
    """Write all levels (bottom first), each with its parameters and description, to one file."""
    trees = {
        f"level_{k}": flax.serialization.to_state_dict(jax.device_get(level.params)) for k, level in enumerate(levels)
    }
    metadata = {"kind": "hierarchy", "env_id": env_id, "levels": [level.describe() for level in levels]}
    metadata.update(extra or {})
    return save_checkpoint(path, trees, metadata)


def levels_from_checkpoint(trees: dict, metadata: dict, path: str | Path) -> list[Level]:
    """The levels stored in any checkpoint kind: a hierarchy, a policy, or a training checkpoint."""
    kind = metadata.get("kind")
    if kind == "hierarchy":
        described = metadata["levels"]
        saved = [trees.get(f"level_{k}") for k in range(len(described))]
    elif kind in ("policy", "train"):
        config = metadata.get("config", {})
        described = list(metadata.get("base_levels", [])) + [
            {
                "policy": metadata["policy"],
                "observation_map": metadata.get("observation_map"),
                "reward": config.get("reward", "task"),
                "env_id": metadata.get("env_id", "?"),
            }
        ]
        own = trees.get("policy") if kind == "policy" else trees.get("state", {}).get("policy_params")
        saved = [trees.get(f"base_level_{k}") for k in range(len(described) - 1)] + [own]
    else:
        raise CheckpointError(f"{path}: unknown checkpoint kind {kind!r}")
    levels = []
    for k, (description, params) in enumerate(zip(described, saved)):
        if params is None:
            raise CheckpointError(f"{path}: parameters of level {k} are missing")
        policy = policy_from_spec(description["policy"])
        template = policy.init(jax.random.PRNGKey(0))
        try:
            restored = flax.serialization.from_state_dict(template, params)
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"{path}: level {k} parameters do not match their description ({error})") from None
        if jax.tree_util.tree_map(np.shape, template) != jax.tree_util.tree_map(np.shape, restored):
            raise CheckpointError(f"{path}: level {k} parameter shapes do not match their description")
        levels.append(
            Level(
                spec=description["policy"],
                params=jax.tree_util.tree_map(jnp.asarray, restored),
                observation_map=ObservationMap.from_json(description.get("observation_map")),
                latent_repeat=int(description.get("latent_repeat", 1)),
                repeat_reward=description.get("repeat_reward", "sum"),
                reward=description.get("reward", "task"),
                env_id=description.get("env_id", "?"),
                latent_scale=float(description.get("latent_scale", 1.0)),
            )
        )
    return levels


def load_levels(path: str | Path) -> tuple[list[Level], dict]:
    """All levels (bottom first) stored in a checkpoint file or run folder, and its metadata."""
    trees, metadata = load_checkpoint(path, skip=("replay", "episode"))
    return levels_from_checkpoint(trees, metadata, path), metadata
