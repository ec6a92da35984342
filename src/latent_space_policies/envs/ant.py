"""The ant tasks of the paper's maze experiment (SPEC §6), on Gymnasium's own Ant-v5 model and physics.

- ``LSP/AntArena-v0``: the open arena (no walls). Reward: speed in any xy direction,
  ||v_xy|| + 0.05 - 0.005 sum (a / a_max)^2 - 0.0005 sum clip(cfrc_ext, -1, 1)^2: the
  pretraining task of the locomotion layer. The observation is Ant-v5's (no torso xy).
- ``LSP/AntCrossMaze-Goal{0,1,2}-v0``: the plus-shaped maze of 12 walls with goals (6, -6), (6, 6)
  and (12, 0). Reward 1000 when the torso is within 2 of the goal, 0 otherwise; the episode ends at
  the goal, when the torso's height leaves [0.2, 1.0], or after 1000 steps. The observation is the
  torso's xy followed by the arena's observation, so ``obs[2:]`` is exactly what a locomotion layer
  trained in the arena sees (``--base-observation 2:``).
- ``LSP/AntArenaUpright-v0``: the arena whose episode also ends when the torso turns upside down (its up
  axis points below the horizon). Not in the paper: Gymnasium's ant, rewarded for speed in any
  direction, learns to flip onto its back and crawl there (at 2M steps of ``v0`` with sampled
  latents, most steps are upside down at about half the upright speed), a mode the maze cannot
  use; ending the episode there makes staying upright worth the rest of the episode's reward.
- ``LSP/AntCrossMaze-Goal{0,1,2}-v1``: the same maze, but the episode ends only at the goal or after
  1000 steps (a fall or hop out of the height range does not end it), as Gymnasium-Robotics' ant
  mazes. Why: a high level with a Gaussian action prior earns r - alpha KL <= r per decision, so
  where its episodes can end early it learns to end them: on the dense maze with falls ending the
  episode, the trained high level's deterministic episodes shrank to 3 decisions (a hop out of
  range), while with falls not ending it they ran on and the progress grew
  (``docs/results/ant_maze.md``). ``lsp experiment ant-maze`` uses v1; v0 is SPEC §6 as written.
- ``LSP/AntCrossMaze-NoGoal-v1``: the v1 maze without a goal: reward 0 at every step, and the episode
  ends only at the time limit; ``distance_to_goal`` is the distance to the nearest of the three
  goals, ``is_success`` is always False, and ``goals_reached`` lists the goals the episode has come
  within 2 of so far (``"0 2"``; logged per training episode in ``episodes.csv``). Every step is
  the same, to the bit, as on any goal's v1 maze until the torso first comes within 2 of that goal
  (tested), so a flat baseline whose reward does not depend on the goal (``scratch``, ``finetune``,
  and their ``+motion`` / ``+visits`` shaping) trained here is, for each goal none of its training
  episodes reached, the very run it would have made on that goal's maze: one run stands for three.
  (Under a hierarchy the training loop sees only each decision's last env step.)
- ``LSP/AntCrossMazeDense-Goal{0,1,2}-v0`` / ``-v1``: the maze (v0 / v1 ends) with a dense reward, 100 per metre of
  progress along the corridor path (start -> junction (6, 0) -> goal) plus 1000 at the goal: a
  diagnostic of the high-level trainer (if a hierarchy cannot learn this, the fault is not
  exploration), not a task of the paper.

Gymnasium's ant differs from rllab's (the paper's): a control step is 0.05 s (frame skip 5 of 0.01 s)
rather than 0.02 s, and the observation holds 78 clipped contact forces. Both are kept as Gymnasium
has them so that results compare with the community's Ant-v5.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv

# Centre (x, y) and half extents (x, y) of the maze walls (SPEC §6, from the original code).
CROSS_MAZE_WALLS: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    ((1.0, -2.5), (3.0, 0.5)),
    ((-2.0, 0.0), (0.5, 3.0)),
    ((1.0, 2.5), (3.0, 0.5)),
    ((3.5, 5.0), (0.5, 3.0)),
    ((3.5, -5.0), (0.5, 3.0)),
    ((6.0, 7.5), (3.0, 0.5)),
    ((6.0, -7.5), (3.0, 0.5)),
    ((8.5, 5.0), (0.5, 3.0)),
    ((8.5, -5.0), (0.5, 3.0)),
    ((11.0, 2.5), (3.0, 0.5)),
    ((11.0, -2.5), (3.0, 0.5)),
    ((13.5, 0.0), (0.5, 3.0)),
)
CROSS_MAZE_GOALS: tuple[tuple[float, float], ...] = ((6.0, -6.0), (6.0, 6.0), (12.0, 0.0))
GOAL_RADIUS = 2.0
GOAL_REWARD = 1000.0
WALL_HALF_HEIGHT = 1.0
# The corridors' centre lines: from the start east to the junction at (6, 0), then to the goal.
CROSS_MAZE_JUNCTION = (6.0, 0.0)
# Dense check only (``LSP/AntCrossMazeDense-Goal{k}-v0``): reward per metre of progress along the path.
PATH_PROGRESS_REWARD = 100.0


NO_GOAL_MAZE = "LSP/AntCrossMaze-NoGoal-v1"


def cross_maze_id(goal: int, dense: bool = False, version: int = 1) -> str:
    """The Gymnasium id of the cross maze with goal ``goal`` (0, 1, 2); version 1 (the default)
    ends episodes only at the goal or the time limit, version 0 also on falls (see the module doc)."""
    return f"LSP/AntCrossMaze{'Dense' if dense else ''}-Goal{goal}-v{version}"


def cross_maze_goal(env_id: str) -> int | None:
    """The goal index of a cross-maze id (``cross_maze_id``'s inverse); None for any other id,
    the goal-free maze's included."""
    match = re.search(r"-Goal(\d+)-", env_id)
    return int(match.group(1)) if match else None


def corridor_path(goal: tuple[float, float], start: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Waypoints (start, junction, goal) of the corridor path to ``goal`` (a (3, 2) array)."""
    return np.array([start, CROSS_MAZE_JUNCTION, goal], dtype=np.float64)


def path_distance(xy, waypoints: np.ndarray) -> float:
    """Distance left to walk from ``xy`` to the last waypoint along the polyline ``waypoints``.

    ``xy`` is projected onto each segment; the cost of a segment is the distance to that projection
    plus the path length from it to the end; the smallest cost wins. At a waypoint this is the
    remaining path length; off the path it adds the distance to it.
    """
    xy = np.asarray(xy, np.float64)
    segments = np.diff(waypoints, axis=0)
    lengths = np.linalg.norm(segments, axis=1)
    after = np.concatenate([np.cumsum(lengths[::-1])[::-1][1:], [0.0]])  # path length after segment k
    best = np.inf
    for start, segment, length, rest in zip(waypoints[:-1], segments, lengths, after):
        t = 0.0 if length == 0 else float(np.clip(np.dot(xy - start, segment) / length**2, 0.0, 1.0))
        point = start + t * segment
        best = min(best, float(np.linalg.norm(xy - point)) + (1.0 - t) * length + rest)
    return best


def speed_reward_terms(x_velocity: float, y_velocity: float, action: np.ndarray, contact_cost: float) -> dict:
    """The arena reward's terms; ``action`` in [-1, 1] (Ant-v5's bounds), so a / a_max = a."""
    terms = {
        "reward_speed": float(np.hypot(x_velocity, y_velocity)),
        "reward_survive": 0.05,
        "reward_ctrl": -0.005 * float(np.square(action).sum()),
        "reward_contact": -float(contact_cost),
    }
    return terms


def torso_up(env: AntEnv) -> float:
    """Cosine of the torso's tilt: the z component of its up axis (1 upright, -1 on its back)."""
    return float(env.data.body(env._main_body).xmat[8])


class AntArenaEnv(AntEnv):
    """Ant-v5 in an open arena, rewarded for speed in any xy direction (SPEC §6 low level).

    ``terminate_when_upside_down``: also end the episode when :func:`torso_up` < 0 (``LSP/AntArenaUpright-v0``).
    """

    def __init__(self, terminate_when_upside_down: bool = False, **kwargs):
        kwargs.setdefault("contact_cost_weight", 5e-4)
        self.terminate_when_upside_down = terminate_when_upside_down
        super().__init__(**kwargs)

    def step(self, action):
        xy_before = self.data.body(self._main_body).xpos[:2].copy()
        self.do_simulation(action, self.frame_skip)
        xy_after = self.data.body(self._main_body).xpos[:2].copy()
        x_velocity, y_velocity = (xy_after - xy_before) / self.dt
        terms = speed_reward_terms(x_velocity, y_velocity, np.asarray(action), self.contact_cost)
        reward = sum(terms.values())
        upside_down = torso_up(self) < 0.0
        terminated = (not self.is_healthy or (self.terminate_when_upside_down and upside_down)) and (
            self._terminate_when_unhealthy
        )
        info = {
            "upside_down": bool(upside_down),
            "x_position": float(xy_after[0]),
            "y_position": float(xy_after[1]),
            "distance_from_origin": float(np.linalg.norm(xy_after)),
            "x_velocity": float(x_velocity),
            "y_velocity": float(y_velocity),
            **terms,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), float(reward), terminated, False, info


def cross_maze_xml(walls=CROSS_MAZE_WALLS, goal: tuple[float, float] | None = None) -> str:
    """Gymnasium's ant.xml with the maze walls (and a non-colliding goal marker) in the world body."""
    source = os.path.join(os.path.dirname(gym.__file__), "envs", "mujoco", "assets", "ant.xml")
    tree = ET.parse(source)
    world = tree.getroot().find("worldbody")
    for k, ((x, y), (hx, hy)) in enumerate(walls):
        ET.SubElement(
            world,
            "geom",
            name=f"wall_{k}",
            type="box",
            pos=f"{x} {y} {WALL_HALF_HEIGHT}",
            size=f"{hx} {hy} {WALL_HALF_HEIGHT}",
            conaffinity="1",
            contype="1",
            rgba="0.55 0.55 0.6 1",
        )
    if goal is not None:
        ET.SubElement(
            world,
            "site",
            name="goal",
            type="cylinder",
            pos=f"{goal[0]} {goal[1]} 0.01",
            size=f"{GOAL_RADIUS} 0.01",
            rgba="0.2 0.8 0.2 0.4",
        )
    camera = ET.SubElement(world, "camera", name="maze_top", pos="6 0 24", xyaxes="1 0 0 0 1 0")
    camera.tail = "\n"
    return ET.tostring(tree.getroot(), encoding="unicode")


def _write_xml(text: str) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".xml", prefix="lsp_ant_maze_", delete=False)
    with handle:
        handle.write(text)
    return handle.name


class AntCrossMazeEnv(AntEnv):
    """The ant in the plus-shaped maze with a sparse goal reward (SPEC §6, paper Fig. 5).

    ``goal`` is an index into :data:`CROSS_MAZE_GOALS` or an (x, y) pair; None is the maze without a
    goal (``LSP/AntCrossMaze-NoGoal-v1``: no goal reward or ending, ``distance_to_goal`` to the
    nearest of :data:`CROSS_MAZE_GOALS`). The info of every step holds ``distance_to_goal`` and
    ``is_success``.
    """

    def __init__(self, goal: int | tuple[float, float] | None = 2, dense: bool = False, **kwargs):
        if goal is None and dense:
            raise ValueError("the dense maze needs a goal to make progress towards")
        self.has_goal = goal is not None
        targets = [CROSS_MAZE_GOALS[goal] if isinstance(goal, int) else goal] if self.has_goal else CROSS_MAZE_GOALS
        self.targets = np.asarray(targets, dtype=np.float64)  # the goal, or every goal without one
        self.goal = self.targets[0] if self.has_goal else None
        self.dense = dense
        self.waypoints = corridor_path(tuple(self.goal)) if self.has_goal else None
        path = _write_xml(cross_maze_xml(goal=tuple(self.goal) if self.has_goal else None))
        try:
            kwargs.setdefault("exclude_current_positions_from_observation", False)
            super().__init__(xml_file=path, **kwargs)
        finally:
            os.unlink(path)

    def distance_to_goal(self) -> float:
        """To the goal; without one, to the nearest of the maze's goals."""
        return float(np.min(np.linalg.norm(self.targets - self.data.body(self._main_body).xpos[:2], axis=1)))

    def step(self, action):
        xy_before = self.data.body(self._main_body).xpos[:2].copy()
        self.do_simulation(action, self.frame_skip)
        xy = self.data.body(self._main_body).xpos[:2].copy()
        x_velocity, y_velocity = (xy - xy_before) / self.dt
        distances = np.linalg.norm(self.targets - xy, axis=1)  # to the goal, or to each goal without one
        distance = float(distances.min())
        success = self.has_goal and distance <= GOAL_RADIUS
        fallen = not self.is_healthy
        terminated = success or (fallen and self._terminate_when_unhealthy)
        reward = GOAL_REWARD if success else 0.0
        path_left = path_distance(xy, self.waypoints) if self.has_goal else math.nan
        if self.dense:  # the dense-reward check: progress along the corridor path, plus the goal
            reward += PATH_PROGRESS_REWARD * (path_distance(xy_before, self.waypoints) - path_left)
        info = {
            "x_position": float(xy[0]),
            "y_position": float(xy[1]),
            "distance_to_goal": distance,
            "path_distance_to_goal": path_left,
            "is_success": bool(success),
            # For the shaped baselines (reward 'task+speed_xy'):
            "x_velocity": float(x_velocity),
            "y_velocity": float(y_velocity),
            "reward_contact": -float(self.contact_cost),
        }
        if not self.has_goal:  # which goals the episode has come within reach of so far, e.g. "0 2"
            self._reached |= {int(k) for k in np.flatnonzero(distances <= GOAL_RADIUS)}
            info["goals_reached"] = " ".join(str(k) for k in sorted(self._reached))
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), float(reward), terminated, False, info

    def reset_model(self):
        self._reached: set[int] = set()
        return super().reset_model()

    def _get_reset_info(self):
        xy = self.data.body(self._main_body).xpos[:2]
        return {
            "distance_to_goal": self.distance_to_goal(),
            "path_distance_to_goal": path_distance(xy, self.waypoints) if self.has_goal else math.nan,
            "is_success": False,
        }


def register_ant_envs() -> None:
    """Register the ant tasks with Gymnasium (idempotent; importing ``latent_space_policies.envs`` calls it)."""
    registry = gym.envs.registration.registry
    if "LSP/AntArena-v0" not in registry:
        gym.register("LSP/AntArena-v0", entry_point=AntArenaEnv, max_episode_steps=1000)
    if "LSP/AntArenaUpright-v0" not in registry:
        gym.register(
            "LSP/AntArenaUpright-v0",
            entry_point=AntArenaEnv,
            max_episode_steps=1000,
            kwargs={"terminate_when_upside_down": True},
        )
    for k in range(len(CROSS_MAZE_GOALS)):
        for dense in (False, True):
            for version in (0, 1):
                env_id = cross_maze_id(k, dense, version)
                if env_id not in registry:
                    kwargs = {"goal": k, "dense": dense, "terminate_when_unhealthy": version == 0}
                    gym.register(env_id, entry_point=AntCrossMazeEnv, max_episode_steps=1000, kwargs=kwargs)
    if NO_GOAL_MAZE not in registry:
        kwargs = {"goal": None, "terminate_when_unhealthy": False}
        gym.register(NO_GOAL_MAZE, entry_point=AntCrossMazeEnv, max_episode_steps=1000, kwargs=kwargs)
