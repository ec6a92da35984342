"""Acting and evaluation: the named seed streams, the jitted act functions and the evaluation loop.

Our runs and the peers (experiments/peers.py) draw their evaluation episodes from the same seeds,
so returns compare episode for episode.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np

from latent_space_policies.policies import Policy, jit_action_from_latent

# Named seed streams: training episodes, evaluation episodes (and their latents, stream + 2 for the
# deterministic mode); an evaluation round's episodes are spaced by a prime stride.
TRAIN_STREAM, EVAL_STREAM = 0, 1
_EVAL_ROUND_STRIDE = 1_000_003


def eval_episode_seed(seed: int, round_index: int, episode: int) -> int:
    """Reset seed of episode ``episode`` of evaluation round ``round_index`` (our runs and the peers)."""
    return episode_seed(seed, EVAL_STREAM, round_index * _EVAL_ROUND_STRIDE + episode)


def episode_seed(seed: int, stream: int, index: int) -> int:
    """A reset seed for episode ``index`` of a stream (training or evaluation)."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])


def play_episodes(
    env,
    act_in_episode: Callable[[], Callable],
    *,
    episodes: int,
    seed: int,
    round_index: int = 0,
    frames: list | None = None,
    final_infos: list | None = None,
) -> list[tuple[float, int]]:
    """(return, length) of each of ``episodes`` episodes of ``env``, reset with the evaluation seeds
    of (``seed``, ``round_index``): the evaluation loop of our runs and of the peers.

    ``act_in_episode()`` is called at the start of each episode and returns that episode's
    ``act(observation) -> action``. ``frames`` receives ``env.render()`` after every step and
    ``final_infos`` the info dict of each episode's last step.
    """
    results = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=eval_episode_seed(seed, round_index, episode))
        act = act_in_episode()
        total, length, done = 0.0, 0, False
        while not done:
            observation, reward, terminated, truncated, info = env.step(np.asarray(act(observation)))
            total += float(reward)
            length += 1
            done = terminated or truncated
            if frames is not None:
                frames.append(env.render())
        results.append((total, length))
        if final_infos is not None:
            final_infos.append(info)
    return results


def evaluate(
    policy: Policy,
    params,
    env,
    *,
    episodes: int,
    deterministic: bool,
    seed: int,
    round_index: int = 0,
    act_fns: dict | None = None,
    frames: list | None = None,
    latent_per_episode: bool = False,
    final_infos: list | None = None,
) -> list[tuple[float, int]]:
    """Run ``episodes`` episodes of ``policy``; returns (return, length) for each (see :func:`play_episodes`).

    With ``latent_per_episode`` the stochastic mode draws one latent per episode and holds it.
    """
    act_fns = act_fns if act_fns is not None else make_act_fns(policy)
    key = jax.random.PRNGKey(episode_seed(seed, EVAL_STREAM + 2 * int(deterministic), round_index))

    def act_in_episode() -> Callable:
        nonlocal key
        if deterministic:
            return lambda observation: act_fns["deterministic"](params, observation)
        if latent_per_episode:
            key, latent_key = jax.random.split(key)
            held = jax.random.normal(latent_key, (policy.action_dim,))
            return lambda observation: act_fns["from_latent"](params, observation, held)

        def act(observation):
            nonlocal key
            key, action = act_fns["stochastic"](params, observation, key)
            return action

        return act

    return play_episodes(
        env, act_in_episode, episodes=episodes, seed=seed, round_index=round_index, frames=frames, final_infos=final_infos
    )


def goal_stats(final_infos: list[dict]) -> tuple[float, float] | None:
    """(share of episodes at the goal, mean final distance to it) from the last infos of episodes of a
    goal task (a maze); None for a task whose infos carry no ``distance_to_goal``."""
    if not final_infos or not all("distance_to_goal" in info for info in final_infos):
        return None
    success = float(np.mean([bool(info.get("is_success")) for info in final_infos]))
    return success, float(np.mean([info["distance_to_goal"] for info in final_infos]))


def make_act_fns(policy: Policy) -> dict[str, Callable]:
    def stochastic(params, observation, key):
        key, sample_key = jax.random.split(key)
        return key, policy.sample(params, observation, sample_key)[0]

    return {
        "stochastic": jax.jit(stochastic),
        "deterministic": jax.jit(policy.deterministic_action),
        "from_latent": jit_action_from_latent(policy),
    }
