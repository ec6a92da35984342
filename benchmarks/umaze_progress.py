"""A dense reward for the U-maze diagnostic: progress towards the goal in a straight line.

    PYTHONPATH=benchmarks lsp stack pretrained:ant_locomotion --env-id LSP/AntMazeUMaze-v0 \
        --reward "1000*task+umaze_progress:progress" --base-observation 4: ...

100 per metre that the torso's straight-line distance to the goal shrinks in an env step, read
from ``LSP/AntMazeUMaze-v0``'s observation ``[torso xy, goal xy, ...]``. It ignores the U's inner
wall (the straight line to a goal across it runs into the wall), so it is a check, not a task: if
a high level cannot learn to move towards goals that change every episode with this reward, the
sparse U-maze's failure is in goal-conditioned training, not only in exploration.
"""

import numpy as np

PROGRESS_REWARD = 100.0


def progress(observation, action, next_observation, reward, info) -> float:
    before = np.linalg.norm(np.asarray(observation[0:2]) - np.asarray(observation[2:4]))
    after = np.linalg.norm(np.asarray(next_observation[0:2]) - np.asarray(next_observation[2:4]))
    return PROGRESS_REWARD * float(before - after)
