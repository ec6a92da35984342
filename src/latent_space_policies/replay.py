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
