"""Gymnasium-Robotics' ``AntMaze_UMaze-v5`` in the layout our hierarchies use (optional extra ``robotics``).

``LSP/AntMazeUMaze-v0`` is the community's U-maze (Gymnasium's Ant-v5 inside a maze of 4 m cells,
random start and goal cells every episode, sparse reward 1 within 0.45 of the goal, 700 steps) made
episodic (``continuing_task=False``: the episode ends at the goal) and flattened to one vector:
``[achieved_goal (torso xy), desired_goal (goal xy), Ant-v5 observation without xy]``. So
``obs[4:]`` is exactly what a locomotion layer trained on ``LSP/AntArena-v0`` sees
(``--base-observation 4:``), and the high level sees where it is and where the goal is. Each step's
info carries ``distance_to_goal``, ``is_success`` and the torso's ``x_position``/``y_position`` like our
cross maze.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from latent_space_policies.errors import UnknownEnvironmentError


class _GoalDistance(gym.Wrapper):
    """Adds ``distance_to_goal`` and ``is_success`` (within 0.45, the env's own radius) to infos."""

    def _annotate(self, observation, info):
        xy = observation["achieved_goal"]
        distance = float(np.linalg.norm(xy - observation["desired_goal"]))
        return dict(
            info,
            distance_to_goal=distance,
            is_success=bool(info.get("success", distance <= 0.45)),
            x_position=float(xy[0]),
            y_position=float(xy[1]),
        )

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        return observation, self._annotate(observation, info)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated, truncated, self._annotate(observation, info)


def make_ant_umaze(**kwargs) -> gym.Env:
    try:
        import gymnasium_robotics
    except ImportError:
        raise UnknownEnvironmentError(
            "LSP/AntMazeUMaze-v0 needs Gymnasium-Robotics: pip install 'latent-space-policies[robotics]'"
        ) from None
    gym.register_envs(gymnasium_robotics)
    kwargs.setdefault("continuing_task", False)
    env = gym.make("AntMaze_UMaze-v5", **kwargs)
    return gym.wrappers.FlattenObservation(_GoalDistance(env))


def register_robotics_envs() -> None:
    if "LSP/AntMazeUMaze-v0" not in gym.envs.registration.registry:
        gym.register("LSP/AntMazeUMaze-v0", entry_point=make_ant_umaze)
