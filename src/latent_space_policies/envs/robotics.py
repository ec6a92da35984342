"""Gymnasium-Robotics' ``AntMaze_UMaze-v5`` in the layout our hierarchies use (optional extra ``robotics``).

``LSP/AntMazeUMaze-v0`` is the community's U-maze (Gymnasium's Ant-v5 inside a maze of 4 m cells,
random start and goal cells every episode, sparse reward 1 within 0.45 of the goal, 700 steps) made
episodic (``continuing_task=False``: the episode ends at the goal) and flattened to one vector:
``[achieved_goal (torso xy), desired_goal (goal xy), Ant-v5 observation without xy]``. So
``obs[4:]`` is exactly what a locomotion layer trained on ``LSP/AntArena-v0`` sees
(``--base-observation 4:``), and the high level sees where it is and where the goal is. Each step's
info carries ``distance_to_goal``, ``path_distance_to_goal`` (around the walls, see
:func:`maze_path_distance`), ``is_success`` and the torso's ``x_position``/``y_position`` like our cross maze.

``LSP/AntMazeUMazeUpright-v0`` is the same maze whose episode also ends when the torso turns upside
down (as ``LSP/AntArenaUpright-v0`` does for the locomotion layer): a training env for high levels,
whose success is then measured on the plain maze (``lsp eval RUN --env-id LSP/AntMazeUMaze-v0``).
``LSP/AntMazeUMazeEgoUpright-v0`` is the egocentric U-maze (below) that ends the same way.
``LSP/AntMazeUMazeWaypoint-v0`` also shows the high level the next door on its way round the walls
(``-EgoWaypoint-v0``: in the torso's heading frame): diagnostics that hand it the map. Every
variant's info says ``upside_down`` at each step (the ``upside_down_penalty`` reward reads it).
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np

from latent_space_policies.errors import SettingsError, UnknownEnvironmentError

UMAZE_GOAL_RADIUS = 0.45  # Gymnasium-Robotics' own: the goal is reached within this of its point


def _doors(maze, start: tuple[int, int], goal: tuple[int, int]) -> np.ndarray | None:
    """The doors (midpoints of the edges crossed) on the shortest 4-connected path of open cells from
    cell ``start`` to cell ``goal`` (breadth first), in walking order; None if there is no path.
    Cached on the maze: a route depends only on its two cells, and the env asks for one every step."""
    cache = maze.__dict__.setdefault("_lsp_doors", {})
    if (start, goal) in cache:
        return cache[start, goal]
    grid = [[cell != 1 for cell in row] for row in maze.maze_map]

    def is_open(cell):
        return 0 <= cell[0] < len(grid) and 0 <= cell[1] < len(grid[0]) and grid[cell[0]][cell[1]]

    route = None
    if is_open(start) and is_open(goal):
        previous = {start: None}
        frontier = [start]
        while frontier and goal not in previous:
            following = []
            for i, j in frontier:
                for cell in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                    if is_open(cell) and cell not in previous:
                        previous[cell] = (i, j)
                        following.append(cell)
            frontier = following
        if goal in previous:
            cells = [goal]
            while previous[cells[-1]] is not None:
                cells.append(previous[cells[-1]])
            centres = np.array([maze.cell_rowcol_to_xy(np.array(cell)) for cell in cells[::-1]], np.float64)
            route = (centres[:-1] + centres[1:]) / 2
    cache[start, goal] = route
    return route


def maze_path_distance(maze, xy, goal_xy) -> float:
    """Distance left to walk from ``xy`` to ``goal_xy`` around the walls of a Gymnasium-Robotics
    ``Maze``: the shortest 4-connected path of open cells from ``xy``'s cell to the goal's cell
    (breadth first), walked from door to door (the midpoints of the edges the path crosses). In the
    U-maze's one-cell-wide corridors this is the walking distance up to how the corners are cut; it
    is continuous through a door, and jumps by centimetres where the torso crosses an edge elsewhere.
    Outside the open cells it is the straight-line distance."""
    xy, goal_xy = np.asarray(xy, np.float64), np.asarray(goal_xy, np.float64)
    start = tuple(int(v) for v in maze.cell_xy_to_rowcol(xy))
    goal = tuple(int(v) for v in maze.cell_xy_to_rowcol(goal_xy))
    doors = _doors(maze, start, goal)
    if doors is None:
        return float(np.linalg.norm(xy - goal_xy))
    points = np.concatenate([xy[None], doors, goal_xy[None]])
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())


# The U-maze's walks by the path distance from start to goal (its arms are 4 m cells): short, the
# same side; middle, round one corner; across the U, round the inner wall's end.
UMAZE_WALKS = (("short", 0.0, 6.0), ("middle", 6.0, 12.0), ("across", 12.0, np.inf))


def umaze_walk(path_distance: float) -> str:
    """The name of the U-maze walk (``UMAZE_WALKS``) that a start ``path_distance`` from its goal is."""
    return next(name for name, low, high in UMAZE_WALKS if low <= path_distance < high)


def next_waypoint(maze, xy, goal_xy) -> np.ndarray:
    """Where to walk next on the way from ``xy`` to ``goal_xy`` around the walls of a ``Maze``: the
    first door of :func:`maze_path_distance`'s path, or the goal itself from the goal's own cell (and
    from outside the open cells)."""
    xy, goal_xy = np.asarray(xy, np.float64), np.asarray(goal_xy, np.float64)
    start = tuple(int(v) for v in maze.cell_xy_to_rowcol(xy))
    goal = tuple(int(v) for v in maze.cell_xy_to_rowcol(goal_xy))
    doors = _doors(maze, start, goal)
    return goal_xy if doors is None or len(doors) == 0 else doors[0]


class _GoalDistance(gym.Wrapper):
    """Adds ``distance_to_goal``, ``path_distance_to_goal``, ``is_success`` (within 0.45, the env's
    own radius) and ``upside_down`` (the z component of the torso's up axis below 0, as
    ``envs.ant.torso_up``, which this layer may not import) to infos."""

    def upside_down(self) -> bool:
        ant = self.env.unwrapped.ant_env
        return float(ant.data.body(ant._main_body).xmat[8]) < 0.0

    def path_distance_to_goal(self, xy) -> float:
        """:func:`maze_path_distance` from ``xy`` to this episode's goal."""
        return maze_path_distance(self.env.unwrapped.maze, xy, self.env.unwrapped.goal)

    def _annotate(self, observation, info):
        xy = observation["achieved_goal"]
        distance = float(np.linalg.norm(xy - observation["desired_goal"]))
        return dict(
            info,
            distance_to_goal=distance,
            path_distance_to_goal=self.path_distance_to_goal(xy),
            is_success=bool(info.get("success", distance <= UMAZE_GOAL_RADIUS)),
            x_position=float(xy[0]),
            y_position=float(xy[1]),
            upside_down=self.upside_down(),
        )

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        return observation, self._annotate(observation, info)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated, truncated, self._annotate(observation, info)


class _EndWhenUpsideDown(gym.Wrapper):
    """Also ends the episode (terminated) when the torso turns upside down (info ``upside_down``)."""

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated or info["upside_down"], truncated, info


class _FlatGoalObservation(gym.wrappers.FlattenObservation):
    """The flat observation, and where its goal lives (for hindsight relabelling, replay.relabel_goals)."""

    goal_layout = {"achieved": (0, 2), "desired": (2, 4), "radius": UMAZE_GOAL_RADIUS}


class _GoalFeature(gym.ObservationWrapper):
    """Inserts two entries computed from the torso and the goal after the first four:
    ``[torso xy, goal xy, feature, Ant-v5 observation without xy]``; a subclass says how
    (``_refresh``, also used to recompute it for relabelled goals) in its ``goal_layout``."""

    @staticmethod
    def _refresh(observations: np.ndarray) -> None:
        raise NotImplementedError

    def __init__(self, env: gym.Env):
        super().__init__(env)
        low, high = env.observation_space.low, env.observation_space.high
        inf = np.full(2, np.inf, low.dtype)
        self.observation_space = gym.spaces.Box(
            np.concatenate([low[:4], -inf, low[4:]]), np.concatenate([high[:4], inf, high[4:]]), dtype=low.dtype
        )

    def observation(self, observation):
        extended = np.concatenate([observation[:4], np.zeros(2, observation.dtype), observation[4:]])
        self._refresh(extended)
        return extended


_QUATERNION = 7  # where the torso's (w, x, y, z) starts in the egocentric observation, after the height


def _to_heading_frame(observations: np.ndarray, target_xy: np.ndarray) -> None:
    """Write ``R(-yaw) (target - torso xy)`` into obs[..., 4:6], the yaw read from the torso's
    quaternion in an observation with two inserted entries."""
    w, x, y, z = (observations[..., _QUATERNION + k] for k in range(4))
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    dx, dy = target_xy[..., 0] - observations[..., 0], target_xy[..., 1] - observations[..., 1]
    observations[..., 4] = np.cos(yaw) * dx + np.sin(yaw) * dy
    observations[..., 5] = -np.sin(yaw) * dx + np.cos(yaw) * dy


class _EgocentricGoal(_GoalFeature):
    """Inserts the goal as the ant sees it, ``R(-yaw) (goal - torso xy)``, after the first four entries:
    ``[torso xy, goal xy, goal in the torso's heading frame, Ant-v5 observation without xy]``."""

    @staticmethod
    def _refresh(observations: np.ndarray) -> None:
        """Recompute obs[..., 4:6] in place from the (relabelled) goal in obs[..., 2:4]."""
        _to_heading_frame(observations, observations[..., 2:4])

    # "uses": the entries it reads, up to the end of the quaternion
    goal_layout = {"achieved": (0, 2), "desired": (2, 4), "radius": UMAZE_GOAL_RADIUS, "refresh": _refresh,
                   "uses": _QUATERNION + 4}  # fmt: skip


class _WaypointGoal(_GoalFeature):
    """Inserts :func:`next_waypoint` (the next door on the shortest way round the walls to the goal)
    after the first four entries: ``[torso xy, goal xy, next waypoint xy, Ant-v5 observation without
    xy]``. The map's knowledge handed to the high level: a diagnostic of whether planning around the
    walls is what a goal-conditioned high level fails to learn, not a method of the paper's."""

    @staticmethod
    def _refresh(observations: np.ndarray) -> None:
        """Recompute obs[..., 4:6] in place from the torso in obs[..., 0:2] and the (relabelled) goal in obs[..., 2:4]."""
        maze = umaze_layout()
        for row in observations.reshape(-1, observations.shape[-1]):
            row[4:6] = next_waypoint(maze, row[0:2], row[2:4])

    goal_layout = {"achieved": (0, 2), "desired": (2, 4), "radius": UMAZE_GOAL_RADIUS, "refresh": _refresh, "uses": 6}


class _EgocentricWaypoint(_GoalFeature):
    """Inserts :func:`next_waypoint` as the ant sees it, ``R(-yaw) (waypoint - torso xy)``, after the
    first four entries (in the goal's cell the waypoint is the goal, so there this is the egocentric
    maze's feature). A diagnostic, as ``_WaypointGoal``: it hands the high level the map."""

    @staticmethod
    def _refresh(observations: np.ndarray) -> None:
        """Recompute obs[..., 4:6] in place from the torso, its heading and the (relabelled) goal."""
        maze = umaze_layout()
        flat = observations.reshape(-1, observations.shape[-1])
        waypoints = np.array([next_waypoint(maze, row[0:2], row[2:4]) for row in flat], flat.dtype)
        _to_heading_frame(flat, waypoints)

    goal_layout = {"achieved": (0, 2), "desired": (2, 4), "radius": UMAZE_GOAL_RADIUS, "refresh": _refresh,
                   "uses": _QUATERNION + 4}  # fmt: skip


def make_ant_umaze_ego_waypoint(**kwargs) -> gym.Env:
    """``LSP/AntMazeUMazeEgoWaypoint-v0``: the U-maze with the next waypoint round the walls in the
    torso's heading frame in obs[4:6] (the locomotion layer's view is then ``obs[6:]``)."""
    return _EgocentricWaypoint(make_ant_umaze(**kwargs))


def make_ant_umaze_waypoint(**kwargs) -> gym.Env:
    """``LSP/AntMazeUMazeWaypoint-v0``: the U-maze with the next waypoint round the walls in obs[4:6]
    (the locomotion layer's view is then ``obs[6:]``)."""
    return _WaypointGoal(make_ant_umaze(**kwargs))


def make_ant_umaze_egocentric(**kwargs) -> gym.Env:
    """``LSP/AntMazeUMazeEgo-v0``: the U-maze with the goal also given in the ant's heading frame
    (obs[4:6]; the locomotion layer's view is then ``obs[6:]``)."""
    return _EgocentricGoal(make_ant_umaze(**kwargs))


def make_ant_umaze(terminate_when_upside_down: bool = False, time_limit: int | None = None, **kwargs) -> gym.Env:
    """The U-maze (see the module docstring); ``time_limit`` replaces the maze's own 700 steps
    (``gym.make("LSP/AntMazeUMaze-v0", time_limit=1400)``: a diagnostic of how much the limit costs)."""
    if time_limit is not None:
        if time_limit < 1:
            raise SettingsError(f"time_limit={time_limit}: give 1 or more env steps")
        kwargs["max_episode_steps"] = time_limit
    try:
        import gymnasium_robotics
    except ImportError:
        raise UnknownEnvironmentError(
            "LSP/AntMazeUMaze-v0 needs Gymnasium-Robotics: pip install 'latent-space-policies[robotics]'"
        ) from None
    gym.register_envs(gymnasium_robotics)
    kwargs.setdefault("continuing_task", False)
    env = _GoalDistance(gym.make("AntMaze_UMaze-v5", **kwargs))
    return _FlatGoalObservation(_EndWhenUpsideDown(env) if terminate_when_upside_down else env)


@functools.cache
def umaze_layout():
    """The U-maze's ``Maze`` (its map and cell geometry), for :func:`maze_path_distance` without an env."""
    env = make_ant_umaze()
    maze = env.unwrapped.maze
    env.close()
    return maze


def register_robotics_envs() -> None:
    if "LSP/AntMazeUMaze-v0" not in gym.envs.registration.registry:
        gym.register("LSP/AntMazeUMaze-v0", entry_point=make_ant_umaze)
        gym.register("LSP/AntMazeUMazeEgo-v0", entry_point=make_ant_umaze_egocentric)
        upright = {"terminate_when_upside_down": True}
        gym.register("LSP/AntMazeUMazeUpright-v0", entry_point=make_ant_umaze, kwargs=upright)
        gym.register("LSP/AntMazeUMazeEgoUpright-v0", entry_point=make_ant_umaze_egocentric, kwargs=upright)
        gym.register("LSP/AntMazeUMazeWaypoint-v0", entry_point=make_ant_umaze_waypoint)
        gym.register("LSP/AntMazeUMazeEgoWaypoint-v0", entry_point=make_ant_umaze_ego_waypoint)
