"""Reward specifications, one per hierarchy layer (paper §5.3).

A reward spec is a string:
- ``"task"``: the environment's own reward;
- ``"speed_xy"``: speed in any xy direction plus small survival, control and contact terms
  (SPEC §6, the ant-maze low level's pretraining reward);
- ``"visits_xy"``: a goal-agnostic exploration bonus 1 / sqrt(n), n the number of env steps this
  run has spent in the torso's 1 m x 1 m cell so far (count-based exploration, not in the paper);
- ``"upside_down_penalty"``: -1 per env step with the torso upside down (``info['upside_down']``), a
  goal-agnostic fall penalty for high levels whose layer cannot get up again (not in the paper);
- ``"module.path:function"``: a user's own function ``fn(observation, action, next_observation,
  reward, info) -> float``, imported by path; a class is instantiated once per env, and its
  ``state_dict()`` / ``load_state_dict()`` (if it has them) go into the run's checkpoints.

Terms add up with ``+`` and take a weight with ``*``: ``"task+0.5*visits_xy"``.
"""

from __future__ import annotations

import importlib
import math
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


class VisitsXY:
    """Count-based exploration bonus on the torso's xy: 1 / sqrt(n) per env step.

    n counts the env steps this reward object has seen in the current ``cell`` x ``cell`` square
    (this one included), over the whole run: a square visited often pays little, a new one pays 1.
    It knows nothing of the goal, so one setting serves every goal of a maze. The counts are saved
    in the run's checkpoints (``state_dict``), so a resumed run goes on with them. Needs
    ``x_position`` and ``y_position`` in ``info`` (our ant envs and the U-maze).
    """

    def __init__(self, cell: float = 1.0):
        self.cell = cell
        self.counts: dict[tuple[int, int], int] = {}

    def position(self, next_observation, info) -> tuple[float, float]:
        try:
            return info["x_position"], info["y_position"]
        except KeyError:
            raise LSPError(
                "reward 'visits_xy' needs an environment whose step info has x_position and y_position "
                "(the ant arenas and mazes)"
            ) from None

    def __call__(self, observation, action, next_observation, reward, info) -> float:
        x, y = self.position(next_observation, info)
        key = (math.floor(x / self.cell), math.floor(y / self.cell))
        count = self.counts.get(key, 0) + 1
        self.counts[key] = count
        return count**-0.5

    def state_dict(self) -> dict:
        return {
            "cells": np.array(list(self.counts), np.int64).reshape(-1, 2),
            "counts": np.array(list(self.counts.values()), np.int64),
        }

    def load_state_dict(self, state: dict) -> None:
        cells, counts = np.asarray(state["cells"]).reshape(-1, 2), np.asarray(state["counts"])
        self.counts = {(int(x), int(y)): int(n) for (x, y), n in zip(cells, counts)}


def upside_down_penalty(observation, action, next_observation, reward, info) -> float:
    """-1 for an env step that ends with the torso upside down, 0 otherwise. Needs ``upside_down`` in
    ``info`` (the ant arenas and mazes)."""
    try:
        return -float(bool(info["upside_down"]))
    except KeyError:
        raise LSPError(
            "reward 'upside_down_penalty' needs an environment whose step info has upside_down (the ant arenas and mazes)"
        ) from None


class WeightedSum:
    """``sum_i weight_i * term_i`` of reward terms (None: the task reward); keeps the terms' state."""

    def __init__(self, terms: list[tuple[float, RewardFn | None]]):
        self.terms = terms

    def __call__(self, observation, action, next_observation, reward, info) -> float:
        return sum(
            weight * (reward if fn is None else fn(observation, action, next_observation, reward, info))
            for weight, fn in self.terms
        )

    def state_dict(self) -> dict:
        return {str(k): fn.state_dict() for k, (_, fn) in enumerate(self.terms) if hasattr(fn, "state_dict")}

    def load_state_dict(self, state: dict) -> None:
        for k, (_, fn) in enumerate(self.terms):
            if str(k) in state:
                fn.load_state_dict(state[str(k)])


# A class is a reward with state: each env gets its own instance.
REWARDS: dict[str, RewardFn | type | None] = {
    "task": None,
    "speed_xy": speed_xy_reward,
    "visits_xy": VisitsXY,
    "upside_down_penalty": upside_down_penalty,
}


def _weighted(spec: str) -> tuple[float, str]:
    weight, star, name = spec.partition("*")
    if not star:
        return 1.0, spec
    try:
        return float(weight), name.strip()
    except ValueError:
        raise LSPError(f"reward term {spec!r}: write a weight as 'NUMBER*name', e.g. '0.5*visits_xy'") from None


def resolve_reward(spec: str) -> RewardFn | None:
    """The function for a reward spec (None for the task reward).

    Specs joined by ``+`` add up, e.g. ``"task+speed_xy"``: the maze's sparse reward with the
    locomotion reward as shaping (the paper's Fig. 5 baselines "with motion reward").
    """
    if "+" in spec or "*" in spec:
        return WeightedSum([(weight, resolve_reward(name)) for weight, name in map(_weighted, map(str.strip, spec.split("+")))])
    if spec in REWARDS:
        fn = REWARDS[spec]
        return fn() if isinstance(fn, type) else fn
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise LSPError(f"cannot import reward {spec!r} ({error}); give it as 'package.module:function'") from None
        if not callable(fn):
            raise LSPError(f"reward {spec!r} is not a function")
        return fn() if isinstance(fn, type) else fn
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


def reward_state(env: gym.Env) -> dict:
    """The state of the stateful reward in ``env``'s wrapper chain ({} if none)."""
    while env is not None:
        if isinstance(env, RewardWrapper):
            return env.fn.state_dict() if hasattr(env.fn, "state_dict") else {}
        env = getattr(env, "env", None)
    return {}


def load_reward_state(env: gym.Env, state: dict) -> None:
    """Give the stateful reward in ``env``'s wrapper chain the ``state`` of :func:`reward_state`."""
    while env is not None:
        if isinstance(env, RewardWrapper):
            if state and hasattr(env.fn, "load_state_dict"):
                env.fn.load_state_dict(state)
            return
        env = getattr(env, "env", None)


def apply_reward(env: gym.Env, spec: str) -> gym.Env:
    fn = resolve_reward(spec)
    return env if fn is None else RewardWrapper(env, fn, spec)
