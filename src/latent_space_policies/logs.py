"""The run folder's logs: append-only CSVs with fixed columns (eval.csv, episodes.csv, metrics.csv)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

class CsvLog:
    """Append-only CSV with a fixed header; on resume, rows past the checkpoint's step are dropped."""

    def __init__(self, path: Path, fields: Sequence[str], resume_step: int | None = None):
        self.path, self.fields = path, list(fields)
        if resume_step is not None and path.exists():
            with open(path, newline="") as handle:
                rows = [row for row in csv.DictReader(handle) if int(float(row["step"])) <= resume_step]
            self._write_all(rows)
        elif not path.exists() or resume_step is None:
            self._write_all([])

    def _write_all(self, rows):
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, row: dict) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.fields).writerow(row)


EVAL_FIELDS = [
    "step",
    "return_stochastic_mean",
    "return_stochastic_std",
    "return_deterministic_mean",
    "return_deterministic_std",
    "length_stochastic_mean",
    "length_deterministic_mean",
    "episodes",
    "wall_time_s",
    # Goal tasks only (envs whose info has distance_to_goal / is_success, e.g. the ant maze):
    "final_distance_stochastic_mean",
    "final_distance_deterministic_mean",
    "success_stochastic_rate",
    "success_deterministic_rate",
]
# final_distance / closest_distance: goal tasks only, info['distance_to_goal'] at the episode's end
# and its least value over the episode's steps (for a hierarchy, over its decisions' last env steps);
# goals_reached: the goal-free maze only, the goals the episode came within reach of ("0 2").
EPISODE_FIELDS = ["step", "episode", "return", "length", "final_distance", "closest_distance", "goals_reached"]
# Every `log_every` steps, the last update's metrics (SAC; SQL leaves the ones it lacks empty).
# log_pi_minus_log_prior is E[log pi - log p] (the KL to a Gaussian prior on a higher level; minus
# the entropy under the uniform prior); action_norm is the mean norm of the sampled actions (a
# higher level's latent actions). Together with alpha they show whether the prior still acts.
METRIC_FIELDS = [
    "step",
    "alpha",
    "log_pi_minus_log_prior",
    "entropy",
    "action_norm",
    "q_mean",
    "q_loss",
    "v_loss",
    "policy_loss",
    "sps",
]
