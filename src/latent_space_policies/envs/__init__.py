"""Environment factory: Gymnasium ids with Box actions, rescaled to the policy's [-1, 1]."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from latent_space_policies.envs.ant import register_ant_envs
from latent_space_policies.envs.robotics import register_robotics_envs
from latent_space_policies.errors import UnknownEnvironmentError
from latent_space_policies.presets import PRESETS

register_ant_envs()
register_robotics_envs()


def make_env(env_id: str, *, max_episode_steps: int | None = None, render_mode: str | None = None) -> gym.Env:
    """``gym.make`` with a clear error for unknown ids; bounded Box actions are rescaled to [-1, 1]."""
    kwargs = {}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        env = gym.make(env_id, **kwargs)
    except gym.error.Error as error:
        known = ", ".join(PRESETS)
        raise UnknownEnvironmentError(
            f"unknown environment {env_id!r} ({error}); use a registered Gymnasium id such as {known}"
        ) from None
    space = env.action_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        env.close()
        raise UnknownEnvironmentError(
            f"environment {env_id!r} has action space {space}; latent space policies need a 1-D Box"
        )
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        env.close()
        raise UnknownEnvironmentError(
            f"environment {env_id!r} has observation space {env.observation_space}; a flat Box is needed "
            "(wrap dict observations with gymnasium.wrappers.FlattenObservation and register the result)"
        )
    if action_space_bounded(space) and not (np.all(space.low == -1.0) and np.all(space.high == 1.0)):
        env = gym.wrappers.RescaleAction(env, -1.0, 1.0)
    return env


def action_space_bounded(space: gym.spaces.Box) -> bool:
    return bool(np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)))
