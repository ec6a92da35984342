"""Reward specifications, one per hierarchy layer (paper §5.3).

A reward spec is a string:
- ``"task"``: the environment's own reward;
- ``"speed_xy"``: speed in any xy direction plus small survival, control and contact terms
  (SPEC §6, the ant-maze low level's pretraining reward);
- ``"module.path:function"``: a user's own function ``fn(observation, action, next_observation,
  reward, info) -> float``, imported by path.
"""

from __future__ import annotations

import importlib
from typing import Callable

import gymnasium as gym
import numpy as np

from latent_space_policies.errors import LSPError

RewardFn = Callable[[np.ndarray, np.ndarray, np.ndarray, float, dict], float]


def speed_xy_reward(observation, action, next_observation, reward, info) -> float:
    """||v_xy|| + 0.05 - 0.005 sum (a / a_max)^2 - 0.0005 sum clip(contact, -1, 1)^2 (SPEC §6).

    Needs ``x_velocity`` and ``y_velocity`` in ``info`` (Gymnasium's Ant-v5 and our ant envs) and,
    where the env reports it, Gymnasium's ``reward_contact`` (= -5e-4 sum clip(cfrc_ext, -1, 1)^2).
    ``action`` is in the policy's [-1, 1] units, so a / a_max = action.
    """
    try:
        speed = float(np.hypot(info["x_velocity"], info["y_velocity"]))
    except KeyError:
        raise LSPError(
            "reward 'speed_xy' needs an environment whose step info has x_velocity and y_velocity (e.g. Ant-v5)"
        ) from None
    control = 0.005 * float(np.square(action).sum())
    contact = -float(info.get("reward_contact", 0.0))
    return speed + 0.05 - control - contact


REWARDS: dict[str, RewardFn | None] = {"task": None, "speed_xy": speed_xy_reward}


def resolve_reward(spec: str) -> RewardFn | None:
    """The function for a reward spec (None for the task reward).

    Specs joined by ``+`` add up, e.g. ``"task+speed_xy"``: the maze's sparse reward with the
    locomotion reward as shaping (the paper's Fig. 5 baselines "with motion reward").
    """
    if "+" in spec:
        terms = [resolve_reward(part.strip()) for part in spec.split("+")]

        def total(observation, action, next_observation, reward, info):
            return sum(
                reward if fn is None else fn(observation, action, next_observation, reward, info) for fn in terms
            )

        return total
    if spec in REWARDS:
        return REWARDS[spec]
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise LSPError(f"cannot import reward {spec!r} ({error}); give it as 'package.module:function'") from None
        if not callable(fn):
            raise LSPError(f"reward {spec!r} is not a function")
        return fn
    raise LSPError(f"unknown reward {spec!r}: use one of {sorted(REWARDS)} or 'package.module:function'")


class RewardWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replaces the env's reward with ``fn(observation, action, next_observation, reward, info)``.

    The task reward stays available as ``info['task_reward']``.
    """

    def __init__(self, env: gym.Env, fn: RewardFn, name: str):
        gym.utils.RecordConstructorArgs.__init__(self, fn=fn, name=name)
        gym.Wrapper.__init__(self, env)
        self.fn, self.name = fn, name
        self._observation = None

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._observation = observation
        return observation, info

    def step(self, action):
        next_observation, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info, task_reward=reward)
        shaped = self.fn(self._observation, np.asarray(action), next_observation, reward, info)
        self._observation = next_observation
        return next_observation, float(shaped), terminated, truncated, info


def apply_reward(env: gym.Env, spec: str) -> gym.Env:
    fn = resolve_reward(spec)
    return env if fn is None else RewardWrapper(env, fn, spec)
