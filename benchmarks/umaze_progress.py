r"""Dense rewards for the U-maze diagnostics: progress towards the goal.

    PYTHONPATH=benchmarks lsp stack pretrained:ant_locomotion --env-id LSP/AntMazeUMaze-v0 \
        --reward "1000*task+umaze_progress:path_progress" --base-observation 4: ...

``path_progress`` pays 100 per metre that the distance left to walk to the goal around the walls
(``info['path_distance_to_goal']``, ``envs.robotics.maze_path_distance``) shrinks in an env step: the
U-maze's counterpart of the cross maze's dense check. If a high level cannot learn to reach goals
that change every episode with it, the sparse U-maze's failure is in goal-conditioned training, not
only in exploration.

``progress`` (the first check, kept for ``results/ant_umaze_dense_progress_*``) pays for the
straight-line distance instead, read from the observation ``[torso xy, goal xy, ...]``. It ignores
the U's inner wall: across it, the straight line to the goal runs into the wall.
"""

import numpy as np

PROGRESS_REWARD = 100.0


def progress(observation, action, next_observation, reward, info) -> float:
    before = np.linalg.norm(np.asarray(observation[0:2]) - np.asarray(observation[2:4]))
    after = np.linalg.norm(np.asarray(next_observation[0:2]) - np.asarray(next_observation[2:4]))
    return PROGRESS_REWARD * float(before - after)


def path_progress(observation, action, next_observation, reward, info) -> float:
    from latent_space_policies.envs.robotics import maze_path_distance, umaze_layout

    before = maze_path_distance(umaze_layout(), observation[0:2], observation[2:4])
    return PROGRESS_REWARD * float(before - info["path_distance_to_goal"])
