"""Layerwise hierarchies: inversion through a frozen layer, the latent-action wrapper, stacking,
the composed policy as one artifact, and Algorithm 1 from a config file."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import randomize

from latent_space_policies.cli import main
from latent_space_policies.errors import LSPError, ShapeError
from latent_space_policies.evaluation import evaluate
from latent_space_policies.flows import standard_normal_log_prob
from latent_space_policies.hierarchy import ComposedPolicy, FrozenLayerWrapper, Level, ObservationMap, load_levels
from latent_space_policies.loading import load_policy
from latent_space_policies.policies import make_policy
from latent_space_policies.rewards import RewardWrapper, resolve_reward
from latent_space_policies.training import TrainConfig, policy_spec, train


def random_level(obs_dim, action_dim, squash=True, seed=0, **level_kwargs) -> Level:
    spec = policy_spec(TrainConfig(env_id="x", embedding_hidden=(16,)), obs_dim, action_dim, squash)
    spec["coupling_hidden"] = 4
    policy = make_policy(spec.pop("kind"), spec.pop("observation_dim"), spec.pop("action_dim"), **spec)
    params = randomize(policy.init(jax.random.PRNGKey(seed)), jax.random.PRNGKey(seed + 1), scale=0.3)
    full_spec = policy_spec(TrainConfig(env_id="x", embedding_hidden=(16,)), obs_dim, action_dim, squash)
    full_spec["coupling_hidden"] = 4
    return Level(spec=full_spec, params=params, **level_kwargs)


class RecordingEnv(gym.Env):
    """Deterministic toy env that records every action it receives."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, terminate_after=None):
        self.actions, self.terminate_after = [], terminate_after

    def reset(self, *, seed=None, options=None):
        self.state = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
        return self.state.copy(), {}

    def step(self, action):
        self.actions.append(np.asarray(action).copy())
        self.state = (self.state + np.concatenate([action, -action]) * 0.5).astype(np.float32)
        reward = float(len(self.actions))  # 1, 2, 3, ... so sums and last values differ
        terminated = self.terminate_after is not None and len(self.actions) >= self.terminate_after
        return self.state.copy(), reward, terminated, False, {}


def test_frozen_layer_reproduces_any_action_through_its_inverse():
    level = random_level(4, 3)
    policy = level.policy
    observations = jax.random.normal(jax.random.PRNGKey(5), (256, 4))
    targets = jax.random.uniform(jax.random.PRNGKey(6), (256, 3), minval=-0.95, maxval=0.95)
    latents, _ = jax.jit(policy.latent_from_action)(level.params, observations, targets)
    reproduced, _ = jax.jit(policy.action_from_latent)(level.params, observations, latents)
    assert float(jnp.max(jnp.abs(reproduced - targets))) < 1e-4


def test_wrapper_steps_inner_env_with_the_frozen_layers_action():
    level = random_level(4, 2)
    inner = RecordingEnv()
    env = FrozenLayerWrapper(inner, level)
    assert env.action_space.shape == (2,) and np.all(np.isinf(env.action_space.high))
    observation, _ = env.reset(seed=0)
    forward = jax.jit(level.policy.action_from_latent)
    for latent in np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32):
        expected, _ = forward(level.params, observation, latent)
        observation, *_ = env.step(latent)
        np.testing.assert_array_equal(inner.actions[-1], np.asarray(expected))


@pytest.mark.parametrize("repeat_reward, expected_reward", [("sum", 1 + 2 + 3), ("last", 3)])
def test_action_repeat_holds_the_latent_and_acts_every_step(repeat_reward, expected_reward):
    level = random_level(4, 2, latent_repeat=3, repeat_reward=repeat_reward)
    inner = RecordingEnv()
    env = FrozenLayerWrapper(inner, level)
    observation, _ = env.reset()
    latent = np.array([0.5, -1.0], np.float32)
    forward = jax.jit(level.policy.action_from_latent)
    expected_actions, state = [], observation
    for _ in range(3):  # the low layer re-acts on each new observation with the held latent
        action = np.asarray(forward(level.params, state, latent)[0])
        expected_actions.append(action)
        state = (state + np.concatenate([action, -action]) * 0.5).astype(np.float32)
    _, reward, *_ = env.step(latent)
    assert len(inner.actions) == 3
    np.testing.assert_allclose(np.array(inner.actions), np.array(expected_actions), atol=1e-6)
    assert reward == expected_reward


def test_a_scaled_latent_reaches_the_layer_scaled_and_survives_save_and_load(tmp_path):
    from latent_space_policies.levels import save_hierarchy

    level = random_level(4, 2, latent_scale=0.5, latent_repeat=2)
    inner = RecordingEnv()
    env = FrozenLayerWrapper(inner, level)
    observation, _ = env.reset(seed=0)
    latent = np.array([1.2, -0.8], np.float32)
    expected, _ = jax.jit(level.policy.action_from_latent)(level.params, observation, 0.5 * latent)
    env.step(latent)
    np.testing.assert_allclose(inner.actions[0], np.asarray(expected), atol=1e-6)
    path = save_hierarchy(tmp_path / "h.lsp", [level, random_level(4, 2, squash=False, seed=3)], env_id="x")
    loaded, _ = load_levels(path)
    assert [lv.latent_scale for lv in loaded] == [0.5, 1.0] and loaded[0].latent_repeat == 2


def test_a_latent_scale_needs_a_frozen_layer_and_must_be_positive(tmp_path):
    from latent_space_policies.errors import SettingsError

    with pytest.raises(SettingsError, match="--base-latent-scale must be greater than 0"):
        tiny(tmp_path, base_latent_scale=0.0).check()
    with pytest.raises(SettingsError, match="--base-latent-scale needs a frozen layer below"):
        train(tiny(tmp_path, base_latent_scale=0.5))


def test_action_repeat_stops_at_the_end_of_the_episode():
    env = FrozenLayerWrapper(RecordingEnv(terminate_after=2), random_level(4, 2, latent_repeat=3))
    env.reset()
    _, reward, terminated, _, _ = env.step(np.zeros(2, np.float32))
    assert terminated and reward == 1 + 2 and len(env.env.actions) == 2


def test_observation_contract_mismatch_is_a_clear_error_at_construction():
    level = random_level(3, 2)  # trained on 3 observations; the env gives 4
    with pytest.raises(ShapeError, match="expects observations of size 3.*gives 4"):
        FrozenLayerWrapper(RecordingEnv(), level)
    sliced = random_level(3, 2, observation_map=ObservationMap(1, None))
    env = FrozenLayerWrapper(RecordingEnv(), sliced)  # sees observation[1:]
    env.reset()
    env.step(np.zeros(2, np.float32))
    with pytest.raises(ShapeError, match="latent action has shape"):
        env.step(np.zeros(3, np.float32))


@pytest.mark.parametrize("scales", [(1.0, 1.0), (0.5, 2.0)])
def test_composed_log_prob_matches_change_of_variables(scales):
    """Three levels (squashed bottom, unsquashed upper): log pi(a|s) of f_0 o f_1 o f_2 against
    log N(h) - log|det| from jax.jacobian of the whole composition, and the inverse round trip;
    also with the lower levels fed a scaled latent (``latent_scale``)."""
    levels = [random_level(4, 2, squash=True, seed=0, latent_scale=scales[0]),
              random_level(4, 2, squash=False, seed=2, latent_scale=scales[1]),
              random_level(4, 2, squash=False, seed=4)]
    composed = ComposedPolicy(levels)
    observation = jnp.array([0.3, -0.1, 0.7, 0.2])
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), composed.params)
        for latent in jnp.asarray(np.random.default_rng(1).normal(size=(3, 2))):
            action, log_prob = composed.action_from_latent(params, observation, latent)
            jacobian = jax.jacobian(lambda h: composed.action_from_latent(params, observation, h)[0])(latent)
            expected = standard_normal_log_prob(latent) - jnp.linalg.slogdet(jacobian)[1]
            np.testing.assert_allclose(log_prob, expected, atol=1e-6)
            latent_back, log_prob_back = composed.latent_from_action(params, observation, action)
            np.testing.assert_allclose(latent_back, latent, atol=1e-6)
            np.testing.assert_allclose(log_prob_back, log_prob, atol=1e-6)


def tiny(tmp_path, **overrides):
    values = dict(env_id="Pendulum-v1", total_steps=250, learning_starts=100, batch_size=32, eval_every=250,
                  eval_episodes=1, checkpoint_every=0, max_episode_steps=100, output_dir=str(tmp_path),
                  progress=False, tensorboard=False, embedding_hidden=(16, 16))
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.slow
def test_three_stacked_levels_train_and_save_load_identical_actions(tmp_path):
    level0 = train(tiny(tmp_path, run_name="level0"))
    level1 = train(tiny(tmp_path, run_name="level1", base=str(level0.run_dir)))
    assert not level1.policy.squash  # higher levels: no squash, Gaussian prior
    level2 = train(tiny(tmp_path, run_name="level2", base=str(level1.run_dir / "policy.lsp"), action_repeat=2))
    loaded = load_policy(level2.run_dir / "policy.lsp")
    assert len(loaded.levels) == 3
    assert [lv.latent_repeat for lv in loaded.levels] == [1, 2, 1]
    observations = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    latents = np.random.default_rng(1).normal(size=(8, 1)).astype(np.float32)
    # The composition by hand, level by level, with the parameters as trained.
    hand = jax.jit(level2.policy.action_from_latent)(level2.state.policy_params, observations, latents)[0]
    hand = jax.jit(level1.policy.action_from_latent)(level1.state.policy_params, observations, hand)[0]
    hand = jax.jit(level0.policy.action_from_latent)(level0.state.policy_params, observations, hand)[0]
    action, _ = loaded.action_from_latent(observations, latents)
    np.testing.assert_allclose(action, np.asarray(hand), atol=1e-6)
    again = load_policy(level2.run_dir / "policy.lsp")
    np.testing.assert_array_equal(again.act(observations, deterministic=True), loaded.act(observations, deterministic=True))
    assert main(["eval", str(level2.run_dir / "policy.lsp"), "--episodes", "1", "--max-episode-steps", "50"]) == 0


@pytest.mark.slow
def test_a_soft_q_learning_level_trains_on_a_scaled_frozen_latent(tmp_path):
    """The maze's ``hierarchy-sql``: SQL's bounded sampler as the higher level, the layer below fed
    ``base_latent_scale`` times its action; the saved hierarchy composes the two as trained."""
    import csv

    level0 = train(tiny(tmp_path, run_name="level0"))
    top = train(tiny(tmp_path, run_name="sql", base=str(level0.run_dir), algorithm="sql", squash=True,
                     base_latent_scale=2.0, action_repeat=2, log_every=50))  # fmt: skip
    loaded = load_policy(top.run_dir / "policy.lsp")
    assert loaded.metadata["policy"]["kind"] == "sql_sampler"
    assert [lv.latent_scale for lv in loaded.levels] == [2.0, 1.0]
    observations = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    latents = np.random.default_rng(1).normal(size=(8, 1)).astype(np.float32)
    high = jax.jit(top.policy.action_from_latent)(top.state.policy_params, observations, latents)[0]
    assert float(jnp.max(jnp.abs(high))) <= 1.0  # the sampler's action, in [-1, 1]
    hand = jax.jit(level0.policy.action_from_latent)(level0.state.policy_params, observations, 2.0 * high)[0]
    np.testing.assert_allclose(loaded.action_from_latent(observations, latents)[0], np.asarray(hand), atol=1e-6)
    with open(top.run_dir / "metrics.csv") as handle:
        norms = [float(row["action_norm"]) for row in csv.DictReader(handle)]
    assert norms and all(0.0 < n <= 1.0 for n in norms)  # logged for SQL levels too, before the scale


def test_algorithm_1_from_a_config_file_resumes_level_by_level(tmp_path, capsys):
    config = tmp_path / "hierarchy.toml"
    config.write_text(f'''
env_id = "Pendulum-v1"
output_dir = "{tmp_path / 'h'}"
total_steps = 200
learning_starts = 100
batch_size = 32
eval_every = 0
checkpoint_every = 0
max_episode_steps = 100
tensorboard = false
embedding_hidden = [16, 16]

[[level]]
reward = "task"

[[level]]
total_steps = 150
action_repeat = 2
repeat_reward = "last"
''')
    assert main(["hierarchy", str(config), "--no-progress"]) == 0
    levels, metadata = load_levels(tmp_path / "h" / "hierarchy.lsp")
    assert metadata["kind"] == "hierarchy" and len(levels) == 2
    assert levels[0].latent_repeat == 2 and levels[0].repeat_reward == "last"
    capsys.readouterr()
    assert main(["hierarchy", str(config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "level0: finished earlier" in out and "level1: finished earlier" in out  # the run folders
    bad = tmp_path / "bad.toml"
    bad.write_text('env_id = "Pendulum-v1"\n[[level]]\nlearning_rat = 1.0\n')
    assert main(["hierarchy", str(bad)]) == 2
    assert "unknown settings ['learning_rat']" in capsys.readouterr().err


def test_reward_registry():
    env = RewardWrapper(gym.make("Ant-v5"), resolve_reward("speed_xy"), "speed_xy")
    env.reset(seed=0)
    action = np.full(8, 0.5, np.float32)
    _, reward, _, _, info = env.step(action)
    expected = np.hypot(info["x_velocity"], info["y_velocity"]) + 0.05 - 0.005 * 8 * 0.25 + info["reward_contact"]
    assert reward == pytest.approx(expected)
    assert "task_reward" in info
    custom = RewardWrapper(gym.make("Pendulum-v1"), resolve_reward("custom_reward:negated"), "custom")
    custom.reset(seed=0)
    _, reward, _, _, info = custom.step(np.zeros(1, np.float32))
    assert reward == -info["task_reward"] and reward != 0
    with pytest.raises(LSPError, match="not a function"):
        resolve_reward("numpy:linalg")
    with pytest.raises(LSPError, match="unknown reward"):
        resolve_reward("fastest")
    with pytest.raises(LSPError, match="cannot import"):
        resolve_reward("no_such_module_xyz:fn")
    with pytest.raises(LSPError, match="x_velocity"):
        resolve_reward("speed_xy")(None, np.zeros(1), None, 0.0, {})


def test_weighted_terms_and_the_visit_count_bonus():
    at = lambda x, y: {"x_position": x, "y_position": y}  # noqa: E731
    bonus = resolve_reward("visits_xy")
    # 1/sqrt(n) per step in a 1 m cell, counted over the whole run (not per episode)
    assert [bonus(None, None, None, 0.0, at(0.2, 0.3)) for _ in range(4)] == pytest.approx([1, 2**-0.5, 3**-0.5, 0.5])
    assert bonus(None, None, None, 0.0, at(0.9, 0.9)) == pytest.approx(5**-0.5)  # same cell
    assert bonus(None, None, None, 0.0, at(-0.1, 0.3)) == 1.0  # the cell to the left is new
    assert resolve_reward("visits_xy")(None, None, None, 0.0, at(0.2, 0.3)) == 1.0  # each env its own counts
    mixed = resolve_reward("task + 0.5*visits_xy")
    assert mixed(None, None, None, 1000.0, at(3.5, 3.5)) == pytest.approx(1000.5)
    assert mixed(None, None, None, 0.0, at(3.5, 3.5)) == pytest.approx(0.5 * 2**-0.5)
    assert resolve_reward("2*task")(None, None, None, 3.0, {}) == 6.0
    with pytest.raises(LSPError, match="NUMBER\\*name"):
        resolve_reward("task+half*visits_xy")
    with pytest.raises(LSPError, match="x_position"):
        bonus(None, None, None, 0.0, {})


def test_the_fall_penalty_charges_each_step_spent_upside_down():
    fall = resolve_reward("100*task+0.2*upside_down_penalty")
    assert fall(None, None, None, 0.0, {"upside_down": True}) == pytest.approx(-0.2)
    assert fall(None, None, None, 0.0, {"upside_down": False}) == 0.0
    assert fall(None, None, None, 1.0, {"upside_down": False}) == 100.0
    with pytest.raises(LSPError, match="upside_down"):
        resolve_reward("upside_down_penalty")(None, None, None, 0.0, {})


@pytest.mark.parametrize("held", [True, False])
def test_latent_per_episode_holds_one_latent_for_the_whole_episode(tmp_path, held):
    seen = []

    def check(trainer):
        latent = trainer.episode_latent(0, trainer.episode_index)
        if not held:
            assert latent is None
            return
        expected = trainer.act_fns["from_latent"](trainer.state.policy_params, trainer.observation, latent)
        np.testing.assert_allclose(trainer.next_action, np.asarray(expected), atol=1e-5)
        seen.append((trainer.episode_index, tuple(latent)))

    train(tiny(tmp_path, run_name=f"held{held}", latent_per_episode=held, total_steps=220), callback=check)
    if held:
        per_episode = {}
        for episode, latent in seen:
            per_episode.setdefault(episode, set()).add(latent)
        assert len(per_episode) == 3 and all(len(v) == 1 for v in per_episode.values())
        assert len({next(iter(v)) for v in per_episode.values()}) == 3  # a new latent each episode


def test_eval_holds_the_latent_as_the_policy_was_trained_unless_told(tmp_path, capsys):
    run = train(tiny(tmp_path, run_name="held", latent_per_episode=True, total_steps=150, eval_every=0)).run_dir
    loaded = load_policy(run)
    top = loaded.levels[-1]

    def play(**hold):
        return loaded.evaluate(gym.make("Pendulum-v1", max_episode_steps=30), episodes=3, seed=5, **hold)

    def direct(held):
        env = loaded.wrap(gym.make("Pendulum-v1", max_episode_steps=30))
        return evaluate(top.policy, top.params, env, episodes=3, deterministic=False, seed=5, act_fns=loaded._top_act,
                        latent_per_episode=held)

    assert play() == direct(True) == play(latent_per_episode=True)
    assert play(latent_per_episode=False) == direct(False) != direct(True)
    assert main(["eval", str(run), "--episodes", "1", "--max-episode-steps", "30", "--latent", "per-step"]) == 0
    assert "(stochastic, a latent per step)" in capsys.readouterr().out
    assert main(["eval", str(run), "--episodes", "1", "--max-episode-steps", "30"]) == 0
    assert "(stochastic, one latent per episode)" in capsys.readouterr().out
    assert main(["eval", str(run), "--deterministic", "--latent", "per-episode"]) != 0
    assert "drop it or --deterministic" in capsys.readouterr().err


def straight_and_resumed(tmp_path, settings: dict, before_resume=lambda: None):
    """(a run of ``settings`` trained straight through, the same run Ctrl-C'd at step 173 and resumed)."""
    import os
    import signal

    from latent_space_policies.errors import TrainingInterrupted
    from latent_space_policies.training import resume

    straight = train(tiny(tmp_path, run_name="straight", **settings))

    def interrupt(trainer):
        if trainer.step == 173:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        train(tiny(tmp_path, run_name="stopped", **settings), callback=interrupt)
    before_resume()
    return straight, resume(tmp_path / "stopped")


def assert_same_state(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a.state), jax.tree_util.tree_leaves(b.state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_stacked_run_resumes_exactly_after_an_interruption(tmp_path):
    import shutil

    base = train(tiny(tmp_path, run_name="base", total_steps=150))
    settings = dict(base=str(base.run_dir), action_repeat=2, total_steps=260, checkpoint_every=100)
    # The resumed run needs only its own checkpoint.
    straight, resumed = straight_and_resumed(tmp_path, settings, before_resume=lambda: shutil.rmtree(base.run_dir))
    assert_same_state(straight, resumed)


def test_a_stateful_reward_resumes_with_its_state(tmp_path):
    """The visit counts of a count-based bonus travel in the checkpoint: an interrupted and resumed
    run trains exactly as one that was not interrupted (without them its rewards would differ)."""
    settings = dict(reward="task+10*custom_reward:ObservationVisits", total_steps=260, checkpoint_every=100)
    straight, resumed = straight_and_resumed(tmp_path, settings)
    assert_same_state(straight, resumed)
    straight_log = (tmp_path / "straight" / "episodes.csv").read_text()
    assert (tmp_path / "stopped" / "episodes.csv").read_text() == straight_log


def test_every_env_and_wrapper_we_ship_passes_gymnasiums_checker():
    """check_env on the ant tasks and on a hierarchy's env (frozen layer + shaped reward + slice),
    which also needs every wrapper to be recreatable from the env's spec."""
    import warnings

    import jax
    from gymnasium.utils.env_checker import check_env

    from latent_space_policies.envs import make_env
    from latent_space_policies.hierarchy import FrozenLayerWrapper, ObservationSlice
    from latent_space_policies.rewards import apply_reward

    from latent_space_policies.policies import policy_from_spec

    spec = policy_spec(TrainConfig(env_id="LSP/AntArena-v0"), 105, 8, True)
    level = Level(spec, policy_from_spec(spec).init(jax.random.PRNGKey(0)), ObservationMap.parse("2:"), latent_repeat=3)
    envs = [make_env(env_id).unwrapped for env_id in
            ("LSP/AntArena-v0", "LSP/AntArenaUpright-v0", "LSP/AntCrossMaze-Goal0-v0", "LSP/AntCrossMazeDense-Goal2-v0")]  # fmt: skip
    maze = make_env("LSP/AntCrossMaze-Goal1-v0")
    envs.append(ObservationSlice(FrozenLayerWrapper(apply_reward(maze, "task+speed_xy"), level), ObservationMap.parse("2:")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its advice on unbounded spaces and wrapped envs
        for env in envs:
            check_env(env, skip_render_check=True)
    rebuilt = gym.make(envs[-1].spec)  # the hierarchy's env, recreated from its spec
    assert rebuilt.observation_space.shape == envs[-1].observation_space.shape == (105,)
    assert rebuilt.action_space.shape == (8,)


@pytest.mark.slow
def test_sigterm_to_lsp_hierarchy_saves_the_level_in_training_and_a_rerun_resumes_it(tmp_path):
    """What `docker stop` or Slurm does to a running `lsp hierarchy`: the level in training saves a
    checkpoint and the command exits 130 with a one-line message; running it again skips level 0
    and resumes level 1 from that checkpoint."""
    import os
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "h.toml"
    config.write_text(
        f'env_id = "Pendulum-v1"\noutput_dir = "{tmp_path / "h"}"\nlearning_starts = 100\nbatch_size = 32\n'
        "eval_every = 0\ncheckpoint_every = 0\nmax_episode_steps = 100\ntensorboard = false\n"
        "embedding_hidden = [16, 16]\n[[level]]\ntotal_steps = 200\n[[level]]\ntotal_steps = 1000000\n"
    )
    command = [sys.executable, "-m", "latent_space_policies.cli", "hierarchy", str(config), "--no-progress"]
    env = {**os.environ, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    episodes = tmp_path / "h" / "level1" / "episodes.csv"
    deadline = time.time() + 300
    while time.time() < deadline and not (episodes.exists() and len(episodes.read_text().splitlines()) > 3):
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "saved" in err and "resume" in err
    from latent_space_policies.checkpoint import load_checkpoint

    saved = load_checkpoint(tmp_path / "h" / "level1" / "checkpoints" / "latest.lsp", sections=())[1]["step"]
    assert 300 <= saved < 1_000_000
    config.write_text(config.read_text().replace("1000000", str(saved + 50)))
    assert main(["hierarchy", str(config), "--no-progress"]) == 0
    assert load_levels(tmp_path / "h" / "hierarchy.lsp")[1]["kind"] == "hierarchy"


def test_latent_reach_measures_how_far_the_latent_moves_the_action():
    """benchmarks/latent_reach.py against closed forms: a freshly initialised unsquashed flow is the
    identity (|f(r u) - f(0)| = r, per-dimension std 1, entropy d/2 log(2 pi e)), and a layer that
    scales its latent by 0.1 round a state-dependent centre moves its action a tenth as far."""
    import importlib.util
    import math
    from pathlib import Path

    from latent_space_policies.policies import make_policy

    spec = importlib.util.spec_from_file_location("latent_reach", Path(__file__).parents[1] / "benchmarks" / "latent_reach.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    dim, samples = 4, 4096
    observations = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    identity = make_policy("lsp", 5, dim, squash=False)
    result = module.measure(identity, identity.init(jax.random.PRNGKey(0)), observations, samples=samples, radii=[1.0, 3.0], seed=1)
    assert result["radius_distance"] == pytest.approx({"1.0": 1.0, "3.0": 3.0}, rel=1e-5)
    expected_norm = math.sqrt(2) * math.exp(math.lgamma((dim + 1) / 2) - math.lgamma(dim / 2))  # E|h|, h ~ N(0, I_4)
    assert result["prior_distance"] == pytest.approx(expected_norm, rel=0.03)
    assert result["action_std_per_dim"] == pytest.approx(1.0, rel=0.03)
    assert result["entropy"] == pytest.approx(dim / 2 * math.log(2 * math.pi * math.e), rel=0.02)
    assert result["largest_radius_share_of_half_diagonal"] == pytest.approx(3.0 / 2.0, rel=1e-5)

    class Narrow:  # a = 0.1 h + sum(s), log pi = log N(h) - d log 0.1
        action_dim = dim

        def action_from_latent(self, params, observation, latent):
            log_prior = -0.5 * jnp.sum(latent**2, -1) - dim / 2 * jnp.log(2 * jnp.pi)
            return 0.1 * latent + observation.sum(-1, keepdims=True), log_prior - dim * jnp.log(0.1)

    narrow = module.measure(Narrow(), None, observations, samples=samples, radii=[1.0, 3.0], seed=1)
    assert narrow["radius_distance"] == pytest.approx({"1.0": 0.1, "3.0": 0.3}, rel=1e-4)
    assert narrow["prior_distance"] == pytest.approx(0.1 * result["prior_distance"], rel=1e-4)
    assert narrow["action_std_per_dim"] == pytest.approx(0.1 * result["action_std_per_dim"], rel=1e-4)
    assert narrow["entropy"] == pytest.approx(result["entropy"] + dim * math.log(0.1), rel=1e-4)
