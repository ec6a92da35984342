"""Uniform replay buffer in NumPy. ``terminated`` and ``truncated`` are kept apart: only
``terminated`` stops the bootstrap (SPEC §3); ``truncated`` is kept for bookkeeping."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np


class Batch(NamedTuple):
    """A batch of transitions; ``terminated`` is 1.0 only for true terminal states."""

    observation: jax.Array  # (B, obs_dim)
    action: jax.Array  # (B, act_dim), policy units
    reward: jax.Array  # (B,)
    next_observation: jax.Array  # (B, obs_dim)
    terminated: jax.Array  # (B,)


FIELDS = ("observation", "action", "reward", "next_observation", "terminated", "truncated")


class ReplayBuffer:
    """A ring buffer of transitions, sampled uniformly with replacement."""

    def __init__(self, capacity: int, observation_dim: int, action_dim: int):
        if capacity <= 0:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self.observation_dim = int(observation_dim)
        self.action_dim = int(action_dim)
        self.observation = np.zeros((capacity, observation_dim), np.float32)
        self.action = np.zeros((capacity, action_dim), np.float32)
        self.reward = np.zeros((capacity,), np.float32)
        self.next_observation = np.zeros((capacity, observation_dim), np.float32)
        self.terminated = np.zeros((capacity,), np.float32)
        self.truncated = np.zeros((capacity,), np.float32)
        self.position = 0  # next slot to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, observation, action, reward, next_observation, terminated, truncated) -> None:
        i = self.position
        self.observation[i] = observation
        self.action[i] = action
        self.reward[i] = reward
        self.next_observation[i] = next_observation
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int, num_batches: int = 1) -> Batch:
        """``num_batches`` independent batches stacked on a leading axis: shapes ``(G, B, ...)``."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = rng.integers(0, self.size, size=(num_batches, batch_size))
        return Batch(
            observation=self.observation[index],
            action=self.action[index],
            reward=self.reward[index],
            next_observation=self.next_observation[index],
            terminated=self.terminated[index],
        )

    def latest(self, count: int) -> dict[str, np.ndarray]:
        """The ``count`` transitions added last (at most the buffer's size), oldest first, as arrays."""
        count = min(count, self.size)
        index = (self.position - count + np.arange(count)) % self.capacity
        return {name: getattr(self, name)[index] for name in FIELDS}

    def state_dict(self) -> dict[str, np.ndarray]:
        """The filled part of the buffer plus its position, as plain arrays (for checkpoints)."""
        filled = {name: getattr(self, name)[: self.size] for name in FIELDS}
        filled["position"] = np.asarray(self.position, np.int64)
        return filled

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        size = int(arrays["reward"].shape[0])
        if size > self.capacity:
            raise ValueError(f"saved replay holds {size} transitions, more than capacity {self.capacity}")
        position = int(arrays["position"])
        # A full ring saved with a smaller capacity (a run extended with more steps): store it
        # oldest-first so that new transitions go after it instead of over its oldest part.
        reorder = size < self.capacity and position != size
        for name in FIELDS:
            target = getattr(self, name)
            if arrays[name].shape[1:] != target.shape[1:]:
                raise ValueError(
                    f"saved replay field {name!r} has shape {arrays[name].shape[1:]}, expected {target.shape[1:]}"
                )
            saved = np.concatenate([arrays[name][position:], arrays[name][:position]]) if reorder else arrays[name]
            target[:size] = saved
        self.size = size
        self.position = size % self.capacity if reorder else position


def relabel_goals(
    transitions: dict[str, np.ndarray], layout: dict, copies: int, goal_reward: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Hindsight goals for one episode (Andrychowicz et al. 2017, the 'future' strategy).

    ``transitions`` holds the episode's ``observation``, ``action``, ``reward``, ``next_observation``,
    ``terminated`` and ``truncated`` in order, one row per step. ``layout`` says where the goal lives in
    an observation: ``{"achieved": (start, stop), "desired": (start, stop), "radius": r}``, and
    optionally ``"refresh"``, a function that recomputes in place, for a batch of observations, any
    entries derived from the goal. Each step
    gets ``copies`` new rows whose desired goal (in both observations) is the position achieved after
    a step drawn uniformly from it to the episode's end. A copy is a success, terminal and paid
    ``goal_reward``, when its next observation's achieved position is within ``radius`` of the new
    goal; the rest of its reward (e.g. an exploration bonus) stays what it was, without the
    ``goal_reward`` the original step earned if it reached the real goal. A termination that was not
    the goal (a fall) stays terminal.
    """
    (a0, a1), (d0, d1), radius = layout["achieved"], layout["desired"], float(layout["radius"])
    length = len(transitions["reward"])
    if length == 0 or copies == 0:
        return {name: transitions[name][:0] for name in FIELDS}
    step = np.repeat(np.arange(length), copies)
    future = rng.integers(step, length)  # from the same step to the last one
    goal = transitions["next_observation"][future, a0:a1]
    observation = transitions["observation"][step].copy()
    next_observation = transitions["next_observation"][step].copy()
    observation[:, d0:d1] = goal
    next_observation[:, d0:d1] = goal
    if layout.get("refresh") is not None:  # entries computed from the goal (e.g. it in the torso's axes)
        layout["refresh"](observation)
        layout["refresh"](next_observation)
    achieved = next_observation[:, a0:a1]
    success = np.linalg.norm(achieved - goal, axis=1) <= radius
    original = transitions["next_observation"][step]
    reached_before = np.linalg.norm(original[:, a0:a1] - original[:, d0:d1], axis=1) <= radius
    was_goal = (transitions["terminated"][step] > 0) & reached_before
    reward = transitions["reward"][step] - goal_reward * was_goal + goal_reward * success
    terminated = success | ((transitions["terminated"][step] > 0) & ~was_goal)
    return {
        "observation": observation,
        "action": transitions["action"][step],
        "reward": reward.astype(np.float32),
        "next_observation": next_observation,
        "terminated": terminated.astype(np.float32),
        "truncated": transitions["truncated"][step],
    }
