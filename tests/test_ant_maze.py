"""The maze experiment's environments (SPEC §6) and the training features it needs."""

import csv
import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from latent_space_policies.envs import make_env
from latent_space_policies.envs.ant import CROSS_MAZE_GOALS, CROSS_MAZE_WALLS, GOAL_RADIUS, GOAL_REWARD
from latent_space_policies.checkpoint import load_checkpoint
from latent_space_policies.errors import LSPError, ShapeError
from latent_space_policies.rewards import resolve_reward


def _teleport(env, x, y, z=0.55, velocity_xy=(0.0, 0.0)):
    base = env.unwrapped
    qpos, qvel = base.init_qpos.copy(), base.init_qvel.copy()
    qpos[:3] = (x, y, z)
    qvel[:2] = velocity_xy
    base.set_state(qpos, qvel)


def _shove(env, velocity_xy, steps=80):
    """Push the torso with a fixed xy velocity every step; return the torso's xy path."""
    base = env.unwrapped
    path = []
    for _ in range(steps):
        qvel = base.data.qvel.copy()
        qvel[:2] = velocity_xy
        base.set_state(base.data.qpos.copy(), qvel)
        env.step(np.zeros(8, np.float32))
        path.append(base.data.body("torso").xpos[:2].copy())
    return np.array(path)


def test_walls_are_in_the_model_where_the_spec_puts_them():
    env = make_env("LSP/AntCrossMaze-Goal0-v0")
    model = env.unwrapped.model
    for k, ((x, y), (hx, hy)) in enumerate(CROSS_MAZE_WALLS):
        geom = model.geom(f"wall_{k}")
        np.testing.assert_allclose(geom.pos[:2], (x, y))
        np.testing.assert_allclose(geom.size[:2], (hx, hy))
        assert geom.size[2] * 2 >= 1.0, "walls must be higher than the ant"
    # Start and goals lie in free corridor space, at least a torso radius from every wall.
    for px, py in [(0.0, 0.0), *CROSS_MAZE_GOALS]:
        for (x, y), (hx, hy) in CROSS_MAZE_WALLS:
            gap = max(abs(px - x) - hx, abs(py - y) - hy)
            assert gap > 0.5, f"point {(px, py)} is inside or against wall {(x, y)}"


@pytest.mark.parametrize("env_id, blocked", [("LSP/AntCrossMaze-Goal0-v0", True), ("LSP/AntArena-v0", False)])
def test_the_ant_cannot_walk_through_the_back_wall(env_id, blocked):
    # The back wall spans x in [-2.5, -1.5]; shove the ant at it from the start. In the open arena
    # the same shove carries it well past, so the maze's result is the wall's doing.
    env = make_env(env_id)
    env.reset(seed=0)
    _teleport(env, 0.0, 0.0)
    path = _shove(env, (-4.0, 0.0))
    if blocked:
        assert path[:, 0].min() > -1.5, path[:, 0].min()
    else:
        assert path[:, 0].min() < -3.0


@pytest.mark.parametrize("goal", range(3))
def test_reaching_each_goal_pays_and_ends_the_episode(goal):
    env = make_env(f"LSP/AntCrossMaze-Goal{goal}-v1")
    observation, info = env.reset(seed=goal)
    assert not info["is_success"] and info["distance_to_goal"] > GOAL_RADIUS
    _, reward, terminated, _, info = env.step(np.zeros(8, np.float32))
    assert reward == 0.0 and not terminated
    gx, gy = CROSS_MAZE_GOALS[goal]
    _teleport(env, gx + 1.0, gy)  # within the goal radius
    _, reward, terminated, _, info = env.step(np.zeros(8, np.float32))
    assert reward == GOAL_REWARD and terminated and info["is_success"]
    assert info["distance_to_goal"] <= GOAL_RADIUS


def test_cross_maze_goal_reads_the_goal_back_from_an_id():
    from latent_space_policies.envs.ant import NO_GOAL_MAZE, cross_maze_goal, cross_maze_id

    for goal in range(3):
        for dense in (False, True):
            assert cross_maze_goal(cross_maze_id(goal, dense, version=0)) == goal
    assert cross_maze_goal(NO_GOAL_MAZE) is None and cross_maze_goal("LSP/AntArena-v0") is None


def test_the_goal_free_maze_pays_nothing_ends_only_at_the_time_limit_and_measures_to_the_nearest_goal():
    from latent_space_policies.envs.ant import NO_GOAL_MAZE

    env = make_env(NO_GOAL_MAZE)
    _, info = env.reset(seed=0)
    assert info["distance_to_goal"] == pytest.approx(np.hypot(6.0, 6.0), abs=0.2)  # goals 0 and 1 are nearest
    _, _, _, _, info = env.step(np.zeros(8, np.float32))
    assert info["goals_reached"] == ""
    for k in (2, 0):
        gx, gy = CROSS_MAZE_GOALS[k]
        _teleport(env, gx + 1.0, gy)  # within this goal's radius
        _, reward, terminated, truncated, info = env.step(np.zeros(8, np.float32))
        assert reward == 0.0 and not terminated and not truncated and not info["is_success"]
        assert info["distance_to_goal"] <= GOAL_RADIUS
    assert info["goals_reached"] == "0 2"
    _teleport(env, 0.0, 0.0)
    assert env.step(np.zeros(8, np.float32))[4]["goals_reached"] == "0 2"  # the episode's, so far
    sites = lambda model: [model.site(k).name for k in range(model.nsite)]  # noqa: E731
    assert sites(env.unwrapped.model) == [] and sites(make_env("LSP/AntCrossMaze-Goal1-v1").unwrapped.model) == ["goal"]
    steps = 4
    while not env.step(np.zeros(8, np.float32))[3]:
        steps += 1
    assert steps + 1 == 1000  # the time limit, and nothing else, ends it
    assert env.reset(seed=1) and env.step(np.zeros(8, np.float32))[4]["goals_reached"] == ""


@pytest.mark.parametrize("goal", range(3))
def test_the_goal_free_maze_steps_exactly_as_each_goals_maze(goal):
    """Bit for bit the same physics and observations as a goal's v1 maze (the goal marker does not
    collide), so the only differences are the goal's reward and ending."""
    from latent_space_policies.envs.ant import NO_GOAL_MAZE

    actions = np.random.default_rng(goal).uniform(-1.0, 1.0, (300, 8)).astype(np.float32)
    free, goal_env = make_env(NO_GOAL_MAZE), make_env(f"LSP/AntCrossMaze-Goal{goal}-v1")
    a, _ = free.reset(seed=goal)
    b, _ = goal_env.reset(seed=goal)
    np.testing.assert_array_equal(a, b)
    for action in actions:
        a, reward_a, *_ = free.step(action)
        b, reward_b, *_ = goal_env.step(action)
        np.testing.assert_array_equal(a, b)
        assert reward_a == reward_b == 0.0


@pytest.mark.parametrize("method, variant", [("scratch", "modern"), ("finetune+motion", "paper")])
def test_a_goal_free_baseline_run_is_the_goal_run_it_stands_for(tmp_path, method, variant):
    """A baseline trained on the goal-free maze and the same baseline on goal 1's maze, same seed,
    neither coming near the goal: the same episodes and the same trained networks, to the bit (with
    the `paper` variant too, whose reward scale comes from the task's preset)."""
    from test_hierarchy import assert_same_state, tiny

    from latent_space_policies.envs.ant import NO_GOAL_MAZE
    from latent_space_policies.training import train

    extra = {"reward": "task+speed_xy"} if method.endswith("+motion") else {}
    if method.startswith("finetune"):
        from latent_space_policies.training import TrainConfig

        layer = _untrained_locomotion_layer(tmp_path / "layer.lsp")  # the default networks
        extra |= {"observation": "2:", "init_policy": str(layer), "embedding_hidden": TrainConfig().embedding_hidden}
    settings = dict(total_steps=240, learning_starts=80, max_episode_steps=70, eval_every=120, variant=variant, **extra)
    free = train(tiny(tmp_path, env_id=NO_GOAL_MAZE, run_name="free", **settings))
    goal1 = train(tiny(tmp_path, env_id="LSP/AntCrossMaze-Goal1-v1", run_name="goal1", **settings))
    assert_same_state(free, goal1)
    logs = [list(csv.DictReader(open(r.run_dir / "episodes.csv"))) for r in (free, goal1)]
    assert len(logs[0]) == 3 and [
        {k: e[k] for k in ("step", "episode", "return", "length")} for e in logs[0]
    ] == [{k: e[k] for k in ("step", "episode", "return", "length")} for e in logs[1]]
    for free_episode, goal_episode in zip(*logs):  # measured to the nearest goal, and to goal 1
        assert GOAL_RADIUS < float(free_episode["closest_distance"]) <= float(goal_episode["closest_distance"])
        assert float(free_episode["closest_distance"]) <= float(free_episode["final_distance"])
    # The collection counts its episodes that came within reach of a goal (none), and the failure
    # analysis plays it on a goal's maze, which it must be told.
    from latent_space_policies.experiments.ant_maze import goal_free_reached

    assert goal_free_reached(free.run_dir) == ({0: 0, 1: 0, 2: 0}, 3)
    assert all(e["goals_reached"] == "" for e in logs[0])
    spec = importlib.util.spec_from_file_location("maze_failures", Path(__file__).parents[1] / "benchmarks" / "maze_failures.py")
    failures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(failures)
    with pytest.raises(SystemExit, match="give --goal"):
        failures.diagnose(free.run_dir, episodes=1)
    report = failures.diagnose(free.run_dir, episodes=2, goal=1)
    assert report["env_id"] == "LSP/AntCrossMaze-Goal1-v1" and report["trained_on"] == NO_GOAL_MAZE
    own = failures.diagnose(goal1.run_dir, episodes=2)
    assert own["env_id"] == "LSP/AntCrossMaze-Goal1-v1"
    for mode in ("stochastic", "deterministic"):  # the same policy, the same maze, the same episodes
        assert report["modes"][mode]["episodes_detail"] == own["modes"][mode]["episodes_detail"]
    # A policy file (as a snapshot RUN/checkpoints/step_*.lsp is) plays as its run folder does.
    from_file = failures.diagnose(goal1.run_dir / "policy.lsp", episodes=2)
    assert from_file["modes"] == own["modes"] and from_file["step"] == own["step"] == 240


@pytest.mark.parametrize("version, ends", [(0, True), (1, False)])
def test_falling_ends_the_maze_episode_in_v0_only(version, ends):
    env = make_env(f"LSP/AntCrossMaze-Goal2-v{version}")
    env.reset(seed=0)
    _teleport(env, 0.0, 0.0, z=1.5)  # above the healthy range [0.2, 1.0]
    _, reward, terminated, _, info = env.step(np.zeros(8, np.float32))
    assert terminated == ends and reward == 0.0 and not info["is_success"]
    gx, gy = CROSS_MAZE_GOALS[2]
    _teleport(env, gx, gy)  # the goal ends either version
    assert env.step(np.zeros(8, np.float32))[2]


def _lay_on_its_back(env, tilt_degrees=180.0):
    """Put the torso at rest at 0.4 m, turned about the x axis by ``tilt_degrees``."""
    base = env.unwrapped
    qpos, qvel = base.init_qpos.copy(), np.zeros_like(base.init_qvel)
    half = np.radians(tilt_degrees) / 2
    qpos[2], qpos[3:7] = 0.4, (np.cos(half), np.sin(half), 0.0, 0.0)
    base.set_state(qpos, qvel)


@pytest.mark.parametrize("tilt, ends", [(180.0, True), (120.0, True), (60.0, False), (0.0, False)])
def test_the_upright_arena_ends_the_episode_when_the_torso_turns_upside_down(tilt, ends):
    upright, arena = make_env("LSP/AntArenaUpright-v0"), make_env("LSP/AntArena-v0")
    for env in (upright, arena):
        env.reset(seed=0)
        _lay_on_its_back(env, tilt)
    _, reward_u, terminated_u, _, info_u = upright.step(np.zeros(8, np.float32))
    _, reward_a, terminated_a, _, info_a = arena.step(np.zeros(8, np.float32))
    # Torso cosine = cos(tilt) (the first step barely moves a torso at rest), so the rule is up < 0.
    assert info_u["upside_down"] == info_a["upside_down"] == ends
    assert terminated_u == ends
    assert not terminated_a  # the paper's arena ends only on the torso's height
    assert reward_u == pytest.approx(reward_a)  # same reward, same physics: only termination differs


def test_maze_observation_is_torso_xy_then_the_arena_observation():
    maze, arena = make_env("LSP/AntCrossMaze-Goal1-v0"), make_env("LSP/AntArena-v0")
    assert maze.observation_space.shape[0] == arena.observation_space.shape[0] + 2
    maze.reset(seed=3)
    arena.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        action = rng.uniform(-1, 1, 8).astype(np.float32)
        maze_obs, *_ = maze.step(action)
    base_maze, base_arena = maze.unwrapped, arena.unwrapped
    base_arena.set_state(base_maze.data.qpos.copy(), base_maze.data.qvel.copy())
    np.testing.assert_allclose(maze_obs[:2], base_maze.data.qpos[:2], atol=1e-12)
    arena_obs = base_arena._get_obs()
    # Positions (without xy) and velocities match exactly; the 78 contact forces follow in the same
    # layout (set_state does not recompute them, so they are read from the maze's own data).
    np.testing.assert_allclose(maze_obs[2:29], arena_obs[:27], atol=1e-12)
    np.testing.assert_allclose(maze_obs[29:], base_maze.contact_forces[1:].ravel(), atol=1e-12)
    assert arena_obs.shape == maze_obs[2:].shape


def test_arena_reward_is_speed_in_any_direction_minus_small_costs():
    env = make_env("LSP/AntArena-v0")
    env.reset(seed=1)
    base = env.unwrapped
    action = np.full(8, 0.5, np.float32)
    before = base.data.body("torso").xpos[:2].copy()
    _, reward, _, _, info = env.step(action)
    after = base.data.body("torso").xpos[:2].copy()
    speed = np.linalg.norm((after - before) / base.dt)
    contact = 5e-4 * np.square(np.clip(base.data.cfrc_ext, -1, 1)).sum()
    expected = speed + 0.05 - 0.005 * np.square(action).sum() - contact
    assert reward == pytest.approx(expected, rel=1e-6, abs=1e-9)
    # Moving backwards or sideways pays the same as forwards: the reward is a speed, not a velocity.
    assert info["reward_speed"] == pytest.approx(np.hypot(info["x_velocity"], info["y_velocity"]))


def test_shaped_reward_adds_the_motion_reward_to_the_task_reward():
    shaped = resolve_reward("task+speed_xy")
    info = {"x_velocity": 3.0, "y_velocity": 4.0, "reward_contact": -0.01}
    action = np.ones(8)
    value = shaped(None, action, None, 1000.0, info)
    assert value == pytest.approx(1000.0 + 5.0 + 0.05 - 0.005 * 8 - 0.01)


def test_every_maze_method_becomes_its_command_with_its_reward_and_whole_seeds_come_first(tmp_path):
    from latent_space_policies.experiments.ant_maze import METHODS, AntMazeArgs, maze_runs

    args = AntMazeArgs(output_dir=str(tmp_path), goals=(0, 2), seeds=(0, 1), steps=30_000, action_repeat=15)
    runs = maze_runs(args, tmp_path / "layer.lsp")
    assert [run.name for run, _, _ in runs[: 2 * len(METHODS)]] == [
        f"goal{g}__{m}__0" for g in (0, 2) for m in METHODS
    ]  # seed 0 of every goal and method before seed 1
    for run, command, steps in runs:
        method = run.name.split("__")[1]
        flag = dict(zip(command, command[1:]))
        reward = {"motion": "task+speed_xy", "visits": "task+visits_xy"}.get(method.partition("+")[2])
        assert flag.get("--reward") == reward, method
        assert command[3] == ("stack" if method.startswith("hierarchy") else "train"), method
        assert steps == (2000 if method.startswith("hierarchy") else 30_000)
        assert ("--init-policy" in command) == method.startswith("finetune")
        assert flag.get("--init-policy-observation") == ("2:" if method.startswith("finetune-xy") else None), method
        assert ("--observation" in command) == (method.startswith("finetune") and not method.startswith("finetune-xy"))
        sql = method.startswith("hierarchy-sql")  # the paper's SQL hierarchy: a bounded sampler, scaled
        assert flag.get("--algorithm") == ("sql" if sql else None), method
        assert (flag.get("--squash"), flag.get("--base-latent-scale")) == (("True", "2.0") if sql else (None, None))
        assert ("--embedding-dim" in command) == (method.startswith("hierarchy") and not sql), method


def test_goal_free_baselines_train_once_per_seed_and_the_hierarchy_once_per_goal(tmp_path):
    from latent_space_policies.envs.ant import NO_GOAL_MAZE
    from latent_space_policies.experiments.ant_maze import AntMazeArgs, maze_runs

    methods = ("hierarchy", "scratch", "finetune+visits")
    args = AntMazeArgs(output_dir=str(tmp_path), goals=(0, 1, 2), seeds=(0, 1), methods=methods, goal_free=True)
    runs = maze_runs(args, tmp_path / "layer.lsp")
    names = [run.name for run, _, _ in runs]
    assert sorted(names) == sorted(
        [f"goal{g}__hierarchy__{s}" for g in (0, 1, 2) for s in (0, 1)]
        + [f"nogoal__{m}__{s}" for m in ("scratch", "finetune+visits") for s in (0, 1)]
    )
    for run, command, _ in runs:
        flag = dict(zip(command, command[1:]))
        assert (flag["--env-id"] == NO_GOAL_MAZE) == run.name.startswith("nogoal")
        assert flag["--seed"] == run.name[-1]
        # a policy at every evaluation (a hierarchy's in decisions), to play any budget's on fresh episodes
        assert int(flag["--snapshot-every"]) == int(flag["--eval-every"]) == (10_000 if "hierarchy" in run.name else 150_000)


def test_the_collection_says_which_goals_a_goal_free_run_stands_for(tmp_path, capsys):
    from latent_space_policies.experiments.ant_maze import AntMazeArgs, collect, goal_free_reached
    from latent_space_policies.logs import EPISODE_FIELDS

    run = tmp_path / "nogoal__scratch+visits__0"
    run.mkdir()
    with open(run / "episodes.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, EPISODE_FIELDS)
        writer.writeheader()
        for k, reached in enumerate(["", "0", "", "0 2"]):
            writer.writerow({"step": 1000 * (k + 1), "episode": k, "return": 0, "length": 1000, "goals_reached": reached})
    assert goal_free_reached(run) == ({0: 2, 1: 0, 2: 1}, 4)
    (tmp_path / "nogoal__scratch__0").mkdir()  # no episode yet: nothing to say
    assert goal_free_reached(tmp_path / "nogoal__scratch__0") is None
    collect(AntMazeArgs(output_dir=str(tmp_path)))
    out = capsys.readouterr().out
    assert "nogoal__scratch+visits__0: of its 4 training episodes, 2 reached goal 0, 0 reached goal 1, 1 reached goal 2" in out
    assert "it is the run of goals [1] on their own mazes so far (still training)" in out
    assert "nogoal__scratch__0" not in out


@pytest.mark.slow
def test_maze_runs_log_final_distance_and_finetuning_starts_from_the_given_policy(tmp_path, capsys):
    import jax

    from latent_space_policies.hierarchy import load_levels
    from latent_space_policies.training import TrainConfig, train

    common = dict(
        total_steps=300,
        learning_starts=100,
        max_episode_steps=60,
        eval_every=150,
        eval_episodes=1,
        progress=False,
        tensorboard=False,
        output_dir=str(tmp_path),
        checkpoint_every=0,
    )
    base = train(TrainConfig(env_id="LSP/AntArena-v0", run_name="arena", **common))
    tuned = TrainConfig(
        env_id="LSP/AntCrossMaze-Goal2-v0", run_name="tuned", observation="2:", init_policy=str(base.run_dir), **common
    )
    from latent_space_policies.training import Trainer

    (tmp_path / "probe").mkdir()
    trainer = Trainer(tuned, tmp_path / "probe")
    saved = load_levels(base.run_dir)[0][-1].params
    same = jax.tree_util.tree_map(
        lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))), trainer.state.policy_params, saved
    )
    assert all(jax.tree_util.tree_leaves(same))
    trainer.close()
    result = train(tuned)
    rows = list(csv.DictReader(open(result.run_dir / "eval.csv")))
    assert [int(r["step"]) for r in rows] == [150, 300]
    for row in rows:
        assert 0.0 < float(row["final_distance_stochastic_mean"]) < 20.0
        assert float(row["success_deterministic_rate"]) == 0.0
    episodes = list(csv.DictReader(open(result.run_dir / "episodes.csv")))
    assert episodes and all(float(e["final_distance"]) > 0 for e in episodes)
    # `lsp eval` of a maze policy reports how many episodes reached the goal and where they ended.
    from latent_space_policies.cli import main

    assert main(["eval", str(result.run_dir), "--episodes", "2", "--max-episode-steps", "60"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("LSP/AntCrossMaze-Goal2-v0: goal reached in 0 of 2 episodes; final distance ")
    assert 10.0 < float(line.rsplit("distance ", 1)[1].split()[0]) < 14.0  # 60 steps from (0, 0) toward (12, 0)

    # A policy with other networks cannot seed the run, and says why.
    wide = TrainConfig(
        env_id="LSP/AntCrossMaze-Goal2-v0",
        run_name="bad",
        observation="2:",
        init_policy=str(base.run_dir),
        coupling_hidden=16,
        **common,
    )
    with pytest.raises(ShapeError, match="coupling_hidden"):
        train(wide)


@pytest.mark.slow
def test_ant_maze_experiment_runs_end_to_end_resumably(tmp_path, monkeypatch):
    from latent_space_policies.experiments.ant_maze import AntMazeArgs, AntMazePicturesArgs, pictures, run_experiment

    args = AntMazeArgs(
        output_dir=str(tmp_path),
        locomotion=None,  # pretrain one (the default is the shipped layer)
        pretrain_steps=300,
        steps=300,
        goals=(2,),
        seeds=(0,),
        methods=("hierarchy", "finetune+motion"),
        jobs=2,
        eval_every=150,
        eval_episodes=1,
        max_episode_steps=50,
    )
    path = run_experiment(args)
    rows = list(csv.DictReader(open(path)))
    by_method = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(int(row["env_step"]))
        assert float(row["final_distance_stochastic_mean"]) > 0
    # Env steps on the x axis for both: the high level's 20 decisions hold each latent 15 steps.
    assert by_method == {"hierarchy": [150, 300], "finetune+motion": [150, 300]}
    assert (tmp_path / "ant_maze.png").stat().st_size > 0
    logs = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.log")}
    assert len(logs) == 3  # the locomotion layer and two maze runs
    run_experiment(args)  # everything finished: nothing runs again
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.log")} == logs
    # The locomotion layer was pretrained with the paper's settings for low levels.
    _, metadata = load_checkpoint(tmp_path / "locomotion__0" / "checkpoints" / "latest.lsp", sections=())
    assert (metadata["sac"]["variant"], metadata["sac"]["ent_coef"], metadata["sac"]["reward_scale"]) == (
        "paper",
        1.0,
        3.0,
    )
    # A trained layer given with --locomotion is used as it is: nothing is pretrained.
    other = tmp_path / "from_layer"
    layer = tmp_path / "locomotion__0" / "policy.lsp"
    other_args = dataclasses.replace(args, output_dir=str(other), methods=("hierarchy",), locomotion=str(layer))
    path = run_experiment(dataclasses.replace(other_args, action_repeat=3))
    assert sorted(p.name for p in other.glob("*.log")) == ["goal2__hierarchy__0.log"]
    _, metadata = load_checkpoint(other / "goal2__hierarchy__0" / "policy.lsp", sections=())
    assert metadata["config"]["base"] == str(layer) and metadata["config"]["action_repeat"] == 3
    # 100 decisions of 3 steps, still plotted in env steps.
    assert [int(r["env_step"]) for r in csv.DictReader(open(path))] == [150, 300]
    with pytest.raises(LSPError, match="--action-repeat 0"):
        run_experiment(dataclasses.replace(other_args, action_repeat=0))
    with pytest.raises(LSPError, match="no such file"):
        run_experiment(dataclasses.replace(args, locomotion=str(tmp_path / "missing.lsp")))

    video = _osmesa_available()
    if video:
        monkeypatch.setenv("MUJOCO_GL", "osmesa")
        monkeypatch.setenv("PYOPENGL_PLATFORM", "osmesa")
    made = pictures(AntMazePicturesArgs(output_dir=str(tmp_path), steps=20, video_episodes=1, video=video))
    assert "heading_spread" in made["steering"] and (tmp_path / "steering.png").stat().st_size > 0
    if video:
        assert "goal2__hierarchy__0" in made["video"] and (tmp_path / "maze.mp4").stat().st_size > 0


def _osmesa_available() -> bool:
    import ctypes.util

    return ctypes.util.find_library("OSMesa") is not None


def test_community_u_maze_observation_puts_the_locomotion_view_last():
    pytest.importorskip("gymnasium_robotics")
    env = make_env("LSP/AntMazeUMaze-v0")
    arena = make_env("LSP/AntArena-v0")
    observation, info = env.reset(seed=0)
    assert observation.shape[0] == arena.observation_space.shape[0] + 4
    inner = env.unwrapped
    np.testing.assert_allclose(observation[:2], inner.data.qpos[:2], atol=1e-9)  # achieved goal: torso xy
    np.testing.assert_allclose(observation[2:4], inner.goal, atol=1e-9)  # desired goal
    np.testing.assert_allclose(observation[4:31], np.concatenate([inner.data.qpos[2:], inner.data.qvel]), atol=1e-9)
    assert info["distance_to_goal"] == pytest.approx(np.linalg.norm(observation[:2] - observation[2:4]))
    _, reward, terminated, _, info = env.step(np.zeros(8, np.float32))
    assert reward == 0.0 and not terminated and not info["is_success"]


@pytest.mark.parametrize(
    "upright_id, plain_id",
    [("LSP/AntMazeUMazeUpright-v0", "LSP/AntMazeUMaze-v0"), ("LSP/AntMazeUMazeEgoUpright-v0", "LSP/AntMazeUMazeEgo-v0")],
)
def test_the_upright_u_maze_ends_when_the_torso_turns_over_and_is_otherwise_the_same(upright_id, plain_id):
    """LSP/AntMazeUMazeUpright-v0 (and its egocentric twin) steps exactly like the plain U-maze while
    the ant is upright, and ends (terminated, info upside_down) on the first step with the torso upside
    down; the plain one goes on, and its info says upside_down too (for the fall penalty)."""
    pytest.importorskip("gymnasium_robotics")
    upright, plain = make_env(upright_id), make_env(plain_id)
    observation, _ = upright.reset(seed=3)
    reference, _ = plain.reset(seed=3)
    np.testing.assert_array_equal(observation, reference)
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = rng.uniform(-0.3, 0.3, 8).astype(np.float32)
        observation, _, terminated, _, info = upright.step(action)
        reference, _, plain_terminated, _, plain_info = plain.step(action)
        np.testing.assert_array_equal(observation, reference)
        assert not terminated and not plain_terminated and info["upside_down"] is False
        assert plain_info["upside_down"] is False
    for env in (upright, plain):  # the same body turned over, 180 degrees about its x axis
        ant = env.unwrapped.ant_env
        qpos = ant.data.qpos.copy()
        qpos[2], qpos[3:7] = 0.8, [0.0, 1.0, 0.0, 0.0]
        ant.set_state(qpos, ant.data.qvel.copy())
    zero = np.zeros(8, np.float32)
    _, _, terminated, _, info = upright.step(zero)
    assert terminated and info["upside_down"] is True and not info["is_success"]
    _, _, plain_terminated, _, plain_info = plain.step(zero)
    assert not plain_terminated and plain_info["upside_down"] is True


def _play_beside_the_plain_u_maze(env_id: str, seed: int, action_seed: int):
    """Step ``env_id`` and the plain U-maze side by side for 30 steps of the same gentle random actions
    (the ant stays nearly level, and turns a little); every entry but the inserted obs[4:6] must be the
    plain maze's. Returns the env and its last observation."""
    env, plain = make_env(env_id), make_env("LSP/AntMazeUMaze-v0")
    observation, _ = env.reset(seed=seed)
    reference, _ = plain.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    for _ in range(30):
        action = rng.uniform(-0.3, 0.3, 8).astype(np.float32)
        observation, *_ = env.step(action)
        reference, *_ = plain.step(action)
    np.testing.assert_array_equal(np.delete(observation, [4, 5]), reference)
    return env, observation


def test_the_egocentric_u_maze_adds_the_goal_in_the_torso_frame():
    """obs[4:6] of LSP/AntMazeUMazeEgo-v0 is the goal relative to the torso in the torso's own axes
    (checked against MuJoCo's body rotation matrix, which includes the small tilt the yaw ignores);
    the rest is the U-maze's observation, so the locomotion layer's view is obs[6:]."""
    pytest.importorskip("gymnasium_robotics")
    ego, observation = _play_beside_the_plain_u_maze("LSP/AntMazeUMazeEgo-v0", seed=4, action_seed=0)
    inner = ego.unwrapped.ant_env
    rotation = inner.data.body(inner._main_body).xmat.reshape(3, 3)
    in_torso_axes = rotation.T @ np.append(observation[2:4] - observation[0:2], 0.0)
    np.testing.assert_allclose(observation[4:6], in_torso_axes[:2], atol=0.05 * np.linalg.norm(in_torso_axes))


def test_u_maze_path_distance_walks_around_the_inner_wall():
    """From the bottom-left cell's centre to the top-left one's, 8 m apart through the wall: the path
    goes door to door round the U (worked by hand: 4 straight half-cells of 2 m, 3 doors 4 m apart of
    which 2 cut a corner, 2*sqrt(8)); through a door it is continuous; in one cell it is straight."""
    pytest.importorskip("gymnasium_robotics")
    from latent_space_policies.envs.robotics import maze_path_distance, umaze_layout, umaze_walk

    maze = umaze_layout()
    bottom_left, top_left = np.array([-4.0, -4.0]), np.array([-4.0, 4.0])
    assert maze_path_distance(maze, bottom_left, top_left) == pytest.approx(16 + 2 * np.sqrt(8))
    assert umaze_walk(maze_path_distance(maze, bottom_left, top_left)) == "across"
    assert umaze_walk(maze_path_distance(maze, bottom_left, [4.0, -4.0])) == "middle"  # 8 m, one side
    assert umaze_walk(maze_path_distance(maze, bottom_left, [0.0, -4.0])) == "short"
    assert maze_path_distance(maze, top_left, bottom_left) == pytest.approx(16 + 2 * np.sqrt(8))
    left, right = np.array([1.999, -4.0]), np.array([2.001, -4.0])  # either side of a door
    assert abs(maze_path_distance(maze, left, top_left) - maze_path_distance(maze, right, top_left)) < 0.01
    assert maze_path_distance(maze, [-4.5, 3.0], top_left) == pytest.approx(np.hypot(0.5, 1.0))
    env = make_env("LSP/AntMazeUMaze-v0")
    observation, info = env.reset(seed=3)
    assert info["path_distance_to_goal"] == pytest.approx(maze_path_distance(maze, observation[:2], observation[2:4]))
    assert info["path_distance_to_goal"] >= info["distance_to_goal"] - 1e-9


def test_the_waypoint_u_maze_shows_the_next_door_round_the_walls():
    """next_waypoint, worked by hand on the U (open cells (1,1) (1,2) (1,3) (2,3) (3,3) (3,2) (3,1), 4 m
    each): from the top-left cell to the bottom-left one the first door is the edge to (1,2) at
    (-2, 4); from (1,3) to (3,1) it is the edge down to (2,3) at (4, 2); in the goal's cell, the goal.
    LSP/AntMazeUMazeWaypoint-v0 puts it in obs[4:6] and is otherwise the plain maze, and its relabelling
    refresh recomputes it for a moved goal."""
    pytest.importorskip("gymnasium_robotics")
    from latent_space_policies.envs.robotics import next_waypoint, umaze_layout

    maze = umaze_layout()
    np.testing.assert_allclose(next_waypoint(maze, [-4.2, 3.7], [-4.0, -4.0]), [-2.0, 4.0])
    np.testing.assert_allclose(next_waypoint(maze, [4.3, 4.1], [-3.0, -4.5]), [4.0, 2.0])
    np.testing.assert_allclose(next_waypoint(maze, [-4.2, 3.7], [-3.1, 4.6]), [-3.1, 4.6])
    waypoint, observation = _play_beside_the_plain_u_maze("LSP/AntMazeUMazeWaypoint-v0", seed=5, action_seed=2)
    np.testing.assert_allclose(observation[4:6], next_waypoint(maze, observation[0:2], observation[2:4]), rtol=1e-6)
    moved = np.stack([observation, observation])
    moved[:, 0:4] = [[-4.2, 3.7, -4.0, -4.0], [4.3, 4.1, 4.4, 4.2]]
    waypoint.get_wrapper_attr("goal_layout")["refresh"](moved)
    np.testing.assert_allclose(moved[:, 4:6], [[-2.0, 4.0], [4.4, 4.2]], rtol=1e-6)


def test_the_egocentric_waypoint_u_maze_shows_the_next_door_in_the_torso_frame():
    """obs[4:6] of LSP/AntMazeUMazeEgoWaypoint-v0 is next_waypoint relative to the torso in the torso's
    own axes (against MuJoCo's rotation matrix, as the egocentric maze's test); the rest is the plain
    maze's observation; its relabelling refresh rotates the hand-worked door of a moved goal."""
    pytest.importorskip("gymnasium_robotics")
    from latent_space_policies.envs.robotics import next_waypoint, umaze_layout

    maze = umaze_layout()
    env, observation = _play_beside_the_plain_u_maze("LSP/AntMazeUMazeEgoWaypoint-v0", seed=6, action_seed=1)
    inner = env.unwrapped.ant_env
    rotation = inner.data.body(inner._main_body).xmat.reshape(3, 3)
    offset = next_waypoint(maze, observation[0:2], observation[2:4]) - observation[0:2]
    in_torso_axes = rotation.T @ np.append(offset, 0.0)
    np.testing.assert_allclose(observation[4:6], in_torso_axes[:2], atol=0.05 * np.linalg.norm(in_torso_axes))
    moved = observation[None].copy()
    moved[0, 0:4] = [-4.2, 3.7, -4.0, -4.0]  # first door (-2, 4), as in the plain waypoint test
    moved[0, 7:11] = [np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)]  # heading +y (yaw 90 degrees)
    env.get_wrapper_attr("goal_layout")["refresh"](moved)
    np.testing.assert_allclose(moved[0, 4:6], [0.3, -2.2], atol=1e-5)  # (2.2, 0.3) in the world, turned -90


def test_a_u_maze_high_level_stores_hindsight_copies_of_each_finished_episode(tmp_path):
    """`--relabel-goals 2` on a U-maze high level (latents held 15 env steps, episodes of 3 decisions):
    12 decisions = 4 episodes, each decision stored once as played and twice with a goal the
    episode reached later; elsewhere the flag is a one-line error before any work."""
    pytest.importorskip("gymnasium_robotics")
    from latent_space_policies.training import Trainer, TrainConfig, train

    layer = _untrained_locomotion_layer(tmp_path / "layer.lsp")
    config = TrainConfig(
        env_id="LSP/AntMazeUMaze-v0", base=str(layer), base_observation="4:", action_repeat=15,
        max_episode_steps=45, total_steps=12, learning_starts=1000, relabel_goals=2, eval_every=0,
        checkpoint_every=0, output_dir=str(tmp_path), run_name="high", progress=False, tensorboard=False,
    )  # fmt: skip
    (tmp_path / "high").mkdir()
    trainer = Trainer(config, tmp_path / "high")
    trainer.run()
    replay = trainer.replay
    assert len(replay) == 12 + 2 * 12
    played, copies = slice(0, 3), slice(3, 9)  # the first episode, then its copies
    reached = {tuple(xy) for xy in replay.next_observation[played, 0:2]}
    assert all(tuple(goal) in reached for goal in replay.observation[copies, 2:4])
    np.testing.assert_array_equal(replay.observation[copies, 4:], np.repeat(replay.observation[played, 4:], 2, axis=0))
    assert np.all(replay.observation[played, 2:4] == replay.observation[0, 2:4])  # the real goal, held
    with pytest.raises(LSPError, match="--relabel-goals needs a goal env"):
        train(dataclasses.replace(config, env_id="LSP/AntArena-v0", base=None, action_repeat=1, run_name="flat"))
    ego = dataclasses.replace(config, env_id="LSP/AntMazeUMazeEgo-v0", base_observation="6:", run_name="ego")
    (tmp_path / "ego").mkdir()
    trainer = Trainer(ego, tmp_path / "ego")
    trainer.run()  # the goal in the torso's axes is recomputed for each relabelled goal
    stored = trainer.replay.observation[: len(trainer.replay)]
    refreshed = stored.copy()
    refreshed[:, 4:6] = 0.0
    make_env("LSP/AntMazeUMazeEgo-v0").get_wrapper_attr("goal_layout")["refresh"](refreshed)
    np.testing.assert_allclose(refreshed[:, 4:6], stored[:, 4:6], atol=1e-5)
    assert len({tuple(goal) for goal in stored[:, 2:4]}) > 4  # relabelled goals, not only the 4 real ones
    # A high level that sees only the start of the observation (here without the contact forces)
    # relabels the same way; one that would lose the goal, or the ego quaternion, is refused.
    short = dataclasses.replace(ego, observation="0:31", run_name="short")
    (tmp_path / "short").mkdir()
    trainer = Trainer(short, tmp_path / "short")
    trainer.run()
    assert trainer.replay.observation.shape[1] == 31 and len(trainer.replay) == 12 + 2 * 12
    cut = trainer.replay.observation[: len(trainer.replay)].copy()
    cut[:, 4:6] = 0.0
    make_env("LSP/AntMazeUMazeEgo-v0").get_wrapper_attr("goal_layout")["refresh"](cut)
    np.testing.assert_allclose(cut[:, 4:6], trainer.replay.observation[: len(trainer.replay), 4:6], atol=1e-5)
    with pytest.raises(LSPError, match="reads observation entries up to 11, but this layer sees 9"):
        train(dataclasses.replace(ego, observation="0:9", run_name="cut_quaternion"))
    with pytest.raises(LSPError, match="--observation all or 0:STOP, got '2:'"):
        dataclasses.replace(config, observation="2:").check()


def test_video_prefers_the_run_that_reaches_its_goal_most(tmp_path):
    from latent_space_policies.experiments.ant_maze import _video_rank

    def fake_run(name, distances, last_eval):
        run = tmp_path / name
        run.mkdir()
        rows = "".join(f"{i},{i},0,10,{d}\n" for i, d in enumerate(distances))
        (run / "episodes.csv").write_text("step,episode,return,length,final_distance\n" + rows)
        (run / "eval.csv").write_text(f"step,final_distance_stochastic_mean\n10,{last_eval}\n")
        return run

    # 150 episodes: only the last 100 count; "late" reaches the goal (<= 2) twice there.
    early = fake_run("goal0__hierarchy__0", [1.0] * 50 + [5.0] * 100, 3.0)
    late = fake_run("goal0__hierarchy__1", [5.0] * 148 + [1.9, 0.5], 6.0)
    never = fake_run("goal1__hierarchy-paper__0", [4.0] * 150, 2.5)
    assert _video_rank(early) == (0, 3.0) and _video_rank(late) == (-2, 6.0)
    assert min((_video_rank(r), r.name) for r in (early, late, never))[1] == late.name
    assert min((_video_rank(r), r.name) for r in (early, never))[1] == never.name  # then by distance


# ----------------------------------------------------------------------------- diagnostics
def test_path_distance_follows_the_corridors_through_the_junction():
    from latent_space_policies.envs.ant import corridor_path, path_distance

    south = corridor_path(CROSS_MAZE_GOALS[0])  # (0, 0) -> (6, 0) -> (6, -6)
    assert path_distance((0.0, 0.0), south) == pytest.approx(12.0)
    assert path_distance((6.0, 0.0), south) == pytest.approx(6.0)
    assert path_distance((6.0, -6.0), south) == pytest.approx(0.0)
    assert path_distance((3.0, 0.0), south) == pytest.approx(9.0)
    assert path_distance((6.0, -2.0), south) == pytest.approx(4.0)
    # Off the path: the shorter of (to the nearest point of a segment + the path left from there):
    # from (2, 1) straight to the junction beats dropping onto the first segment (1 + 4 + 6).
    assert path_distance((2.0, 1.0), south) == pytest.approx(np.hypot(4.0, 1.0) + 6.0)
    # In the north arm, the way to the south goal runs back through the junction.
    assert path_distance((6.0, 5.0), south) == pytest.approx(5.0 + 6.0)
    east = corridor_path(CROSS_MAZE_GOALS[2])
    assert path_distance((0.0, 0.0), east) == pytest.approx(12.0)


def test_dense_maze_pays_for_progress_along_the_path_and_the_goal():
    """Rewards summed over an episode = 100 x (path distance at the start - at the end) + 1000 at
    the goal, computed independently from the torso's positions."""
    from latent_space_policies.envs.ant import PATH_PROGRESS_REWARD, corridor_path, path_distance

    env = make_env("LSP/AntCrossMazeDense-Goal2-v0")
    sparse = make_env("LSP/AntCrossMaze-Goal2-v0")
    _, info = env.reset(seed=0)
    waypoints = corridor_path(CROSS_MAZE_GOALS[2])
    assert info["path_distance_to_goal"] == pytest.approx(
        path_distance(env.unwrapped.data.body("torso").xpos[:2], waypoints)
    )
    total, expected = 0.0, 0.0
    base = env.unwrapped
    for _ in range(30):  # pushed east at 2 m/s: about 3 m of progress
        qvel = base.data.qvel.copy()
        qvel[:2] = (2.0, 0.0)
        base.set_state(base.data.qpos.copy(), qvel)
        before = path_distance(base.data.body("torso").xpos[:2], waypoints)
        _, reward, terminated, _, info = env.step(np.zeros(8, np.float32))
        expected += PATH_PROGRESS_REWARD * (before - path_distance(base.data.body("torso").xpos[:2], waypoints))
        total += reward
    assert total == pytest.approx(expected, rel=1e-9)
    assert total > 200.0 and not terminated
    _teleport(env, 11.0, 0.0)
    before = path_distance(base.data.body("torso").xpos[:2], waypoints)
    _, reward, terminated, _, info = env.step(np.zeros(8, np.float32))
    progress = PATH_PROGRESS_REWARD * (before - info["path_distance_to_goal"])
    assert terminated and info["is_success"] and reward == pytest.approx(GOAL_REWARD + progress)
    sparse.reset(seed=0)
    assert sparse.step(np.zeros(8, np.float32))[1] == 0.0  # the paper's maze stays sparse


def _untrained_locomotion_layer(path):
    import jax

    from latent_space_policies.hierarchy import Level, save_hierarchy
    from latent_space_policies.policies import policy_from_spec
    from latent_space_policies.training import TrainConfig, policy_spec

    arena = make_env("LSP/AntArena-v0")
    spec = policy_spec(TrainConfig(env_id="LSP/AntArena-v0"), arena.observation_space.shape[0], 8, True)
    params = policy_from_spec(spec).init(jax.random.PRNGKey(0))
    return save_hierarchy(path, [Level(spec, params, env_id="LSP/AntArena-v0")], "LSP/AntArena-v0")


@pytest.mark.parametrize("env_id, skip", [("LSP/AntCrossMaze-Goal1-v0", 2), ("LSP/AntMazeUMaze-v0", 4)])
def test_oracle_planning_leaves_the_real_episode_as_if_the_chosen_latents_were_played(tmp_path, env_id, skip):
    """The candidates run in scratch copies of the MuJoCo state (in the U-maze, of the ant inside
    its env): replaying the chosen latents, each held 3 steps, from the same reset gives the same
    final state, bit for bit."""
    from latent_space_policies.experiments.maze_oracle import load_locomotion_layer, oracle_episode

    if "UMaze" in env_id:
        pytest.importorskip("gymnasium_robotics")
    level, forward = load_locomotion_layer(_untrained_locomotion_layer(tmp_path / "layer.lsp"))
    env = make_env(env_id, max_episode_steps=30)
    record = oracle_episode(
        env, level, forward, candidates=3, horizon=4, hold=3, rng=np.random.default_rng(0), reset_seed=5,
        goal_radius=0.45 if "UMaze" in env_id else None,
    )  # fmt: skip
    planned_qpos = env.unwrapped.data.qpos.copy()
    assert record["steps"] <= 30 and len(record["latents"]) == -(-record["steps"] // 3)
    observation, _ = env.reset(seed=5)
    for latent in record["latents"]:
        for _ in range(3):
            action = np.asarray(forward(level.params, np.asarray(observation, np.float32)[skip:], latent))
            observation, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
    np.testing.assert_array_equal(env.unwrapped.data.qpos, planned_qpos)
    assert info["distance_to_goal"] == record["final_distance"]
    small = oracle_episode(
        env, level, forward, candidates=3, horizon=4, hold=3, rng=np.random.default_rng(0), reset_seed=5,
        latent_scale=1e-3,
    )  # fmt: skip
    assert 0 < np.abs(small["latents"]).max() < 1e-2  # candidates from latent_scale * N(0, I)


def test_oracle_command_reports_every_goal_and_rejects_bad_settings(tmp_path, capsys):
    import importlib.util
    import json

    from latent_space_policies.cli import main

    layer = _untrained_locomotion_layer(tmp_path / "layer.lsp")
    out = tmp_path / "oracle.json"
    argv = ["experiment", "ant-maze-oracle", str(layer), "--episodes", "1", "--candidates", "2", "--horizon", "2"]
    assert main([*argv, "--max-episode-steps", "6", "--goals", "0", "2", "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["goals"]) == {"0", "2"}
    for row in report["goals"].values():
        assert 0.0 <= row["success_rate"] <= 1.0 and row["final_distance_mean"] > GOAL_RADIUS
        assert row["episodes"][0]["steps"] == 6
    if importlib.util.find_spec("gymnasium_robotics"):
        assert main([*argv, "--max-episode-steps", "6", "--maze", "umaze", "--output", str(out)]) == 0
        row = json.loads(out.read_text())["goals"]["random"]
        assert row["goal"] is None and row["start_distance_mean"] > 0.45 and row["episodes"][0]["steps"] == 6
        assert set(row["by_walk"]) == {"short", "middle", "across"}
        assert sum(w["episodes"] for w in row["by_walk"].values()) == 1
        assert row["episodes"][0]["start_path_distance"] >= row["episodes"][0]["start_distance"] - 1e-9
    assert main([*argv, "--hold", "0"]) == 2
    assert "--hold must be at least 1" in capsys.readouterr().err
    assert main([*argv, "--latent-scale", "0"]) == 2
    assert "--latent-scale must be greater than 0" in capsys.readouterr().err


def test_the_shipped_locomotion_layer_loads_by_name_and_fits_the_maze():
    """`pretrained:ant_locomotion` (the ant-maze default) is an arena layer whose observation is the
    maze's obs[2:]; it acts, and an unknown name is a one-line error listing the shipped ones."""
    from latent_space_policies.experiments.ant_maze import AntMazeArgs
    from latent_space_policies.loading import load_policy

    assert AntMazeArgs().locomotion == "pretrained:ant_locomotion"
    layer = load_policy("pretrained:ant_locomotion")
    assert layer.env_id == "LSP/AntArenaUpright-v0" and layer.action_dim == layer.latent_dim == 8
    maze = make_env("LSP/AntCrossMaze-Goal2-v0")
    observation, _ = maze.reset(seed=0)
    assert layer.observation_dim == observation.shape[0] - 2
    action = layer.act(observation[2:])
    assert action.shape == (8,) and np.all(np.abs(action) <= 1.0)
    with pytest.raises(LSPError, match="no pretrained layer 'nope'; available: pretrained:ant_locomotion"):
        load_policy("pretrained:nope")


def test_the_finetuning_baseline_starts_from_the_shipped_layer(tmp_path):
    """The shipped layer's checkpoint lists only some PolicySpec fields (it predates the full form);
    `--init-policy` still recognises it as the same network as the run's own."""
    import jax

    from latent_space_policies.checkpoint import load_checkpoint
    from latent_space_policies.loading import load_policy
    from latent_space_policies.training import TrainConfig, Trainer

    _, metadata = load_checkpoint("pretrained:ant_locomotion", sections=())
    assert "gmm_regularization" not in metadata["policy"]  # the short form this test is about
    config = TrainConfig(
        env_id="LSP/AntCrossMaze-Goal2-v1", observation="2:", init_policy="pretrained:ant_locomotion",
        output_dir=str(tmp_path), progress=False, tensorboard=False,
    )  # fmt: skip
    trainer = Trainer(config, tmp_path)
    shipped = load_policy("pretrained:ant_locomotion")
    observation = np.zeros(trainer.policy.observation_dim, np.float32)
    mine = trainer.act_fns["deterministic"](trainer.state.policy_params, observation)
    np.testing.assert_allclose(np.asarray(mine), shipped.act(observation, deterministic=True), atol=1e-6)
    trainer.close()


def test_a_finetuning_baseline_shown_the_xy_starts_as_the_layer_and_can_learn_from_it(tmp_path):
    """`--init-policy-observation 2:`: the shipped layer (105 inputs) seeds a policy of the maze's whole
    observation (107: torso xy first). It acts as the layer on the observation's last 105 entries
    whatever the xy, its first kernel's xy rows are zero (and not frozen: they are ordinary
    parameters), and a layer that saw another part of the observation is refused with the counts."""
    from latent_space_policies.errors import SettingsError
    from latent_space_policies.loading import load_policy
    from latent_space_policies.training import TrainConfig, Trainer

    common = dict(env_id="LSP/AntCrossMaze-Goal2-v1", init_policy="pretrained:ant_locomotion",
                  output_dir=str(tmp_path), progress=False, tensorboard=False)  # fmt: skip
    trainer = Trainer(TrainConfig(init_policy_observation="2:", **common), tmp_path)
    assert trainer.policy.observation_dim == 107
    shipped = load_policy("pretrained:ant_locomotion")
    rng = np.random.default_rng(0)
    for xy in ((0.0, 0.0), (6.0, -5.5), (12.0, 0.3)):
        observation = np.concatenate([xy, rng.normal(size=105)]).astype(np.float32)
        mine = trainer.act_fns["deterministic"](trainer.state.policy_params, observation)
        np.testing.assert_allclose(np.asarray(mine), shipped.act(observation[2:], deterministic=True), atol=1e-6)
    kernel = np.asarray(trainer.state.policy_params["params"]["embedding"]["Dense_0"]["kernel"])
    assert kernel.shape == (107, 128) and not kernel[:2].any() and kernel[2:].any()
    from conftest import random_batch

    # One update on random transitions moves the xy rows: they are trained like any other weight.
    state, _ = trainer.sac.update(trainer.state, random_batch(rng, 107, 8, size=32))
    assert np.asarray(state.policy_params["params"]["embedding"]["Dense_0"]["kernel"])[:2].any()
    trainer.close()
    with pytest.raises(ShapeError, match="trained on 105 observation entries, but --init-policy-observation 3: picks 104"):
        Trainer(TrainConfig(init_policy_observation="3:", **common), tmp_path / "bad")
    with pytest.raises(SettingsError, match="give --init-policy too"):
        TrainConfig(env_id="LSP/AntCrossMaze-Goal2-v1", init_policy_observation="2:").check()


def test_a_relabelling_run_resumes_exactly(tmp_path):
    """Hindsight copies are made from the replay's last rows when an episode ends, so a run Ctrl-C'd
    in the middle of an episode (step 173 of episodes of 3 decisions) and resumed trains exactly as
    one that was not interrupted, copies included."""
    pytest.importorskip("gymnasium_robotics")
    from test_hierarchy import assert_same_state, straight_and_resumed

    layer = _untrained_locomotion_layer(tmp_path / "layer.lsp")
    settings = dict(env_id="LSP/AntMazeUMaze-v0", base=str(layer), base_observation="4:", action_repeat=15,
                    max_episode_steps=45, relabel_goals=2, eval_every=0, checkpoint_every=100)  # fmt: skip
    straight, resumed = straight_and_resumed(tmp_path, settings)
    assert_same_state(straight, resumed)
    # The episode log too, whose closest distance the resumed run rebuilds by replaying the episode.
    straight_log = (tmp_path / "straight" / "episodes.csv").read_text()
    assert (tmp_path / "stopped" / "episodes.csv").read_text() == straight_log
    assert all(row["closest_distance"] for row in csv.DictReader(open(tmp_path / "straight" / "episodes.csv")))


def _umaze_failures():
    spec = importlib.util.spec_from_file_location(
        "umaze_failures", Path(__file__).parents[1] / "benchmarks" / "umaze_failures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_u_maze_failure_classes_and_the_recorded_torso_tilt():
    """benchmarks/umaze_failures.py: the tracker records MuJoCo's up cosine of the torso (upright and
    turned over) on the plain and the egocentric U-maze alike, and each hand-built path gets its class."""
    pytest.importorskip("gymnasium_robotics")
    failures = _umaze_failures()
    for env_id in ("LSP/AntMazeUMaze-v0", "LSP/AntMazeUMazeEgo-v0"):
        tracker = failures._Tracker(make_env(env_id))
        observation, _ = tracker.reset(seed=3)
        ant = tracker.unwrapped.ant_env.unwrapped
        for roll in (0.0, 2.5):  # upright, then rolled 143 degrees about x (on its back)
            qpos = ant.data.qpos.copy()
            qpos[3:7] = [np.cos(roll / 2), np.sin(roll / 2), 0.0, 0.0]
            ant.set_state(qpos, ant.data.qvel * 0)
            tracker.step(np.zeros(8))
            assert tracker.paths[-1][-1][2] == pytest.approx(ant.data.body("torso").xmat[8], abs=1e-9)
            assert tracker.paths[-1][-1][2] == pytest.approx(np.cos(roll), abs=0.1)  # barely moved in one step
        assert len(tracker.paths) == 1 and len(tracker.paths[0]) == 3

    def path(final_distance, up=1.0, closest=None, moved=5.0, walk=14.0):
        steps = [(0.0, 0.0, 1.0, closest or final_distance, walk)] * 400
        return steps + [(moved, 0.0, up, final_distance, final_distance)]

    assert failures.classify(path(0.4), {"is_success": True})["outcome"] == "success"
    assert failures.classify(path(5.0, up=-0.9), {"is_success": False})["outcome"] == "upside_down"
    assert failures.classify(path(3.0, closest=0.8), {"is_success": False})["outcome"] == "near_miss"
    assert failures.classify(path(3.0, moved=0.5), {"is_success": False})["outcome"] == "stalled"
    row = failures.classify(path(3.0, walk=9.0), {"is_success": False})
    assert (row["outcome"], row["walk"], row["walk_at_start"], row["env_steps"]) == ("out_of_time", "middle", 9.0, 400)


# The settings of the run behind docs/results/ant_maze.md's U-maze result (its saved config.json,
# less the names, seed and budget): `lsp experiment ant-umaze` must train exactly these.
UMAZE_RESULT_SETTINGS = {
    "env_id": "LSP/AntMazeUMazeEgoWaypoint-v0", "algorithm": "sac", "variant": "modern", "policy": "lsp",
    "num_coupling": 2, "reward_scale": None, "embedding_dim": 16, "coupling_hidden": 8,
    "embedding_hidden": (256, 256), "critic_hidden": (256, 256), "embedding_output_relu": False,
    "squash": None, "action_prior": None, "ent_coef": 0.1, "gamma": 0.99, "learning_rate": 0.0003,
    "batch_size": 128, "learning_starts": 1000, "gradient_steps": 4, "reward": "100*task",
    "base": "pretrained:ant_locomotion", "base_observation": "6:", "action_repeat": 15,
    "base_latent_scale": 0.5, "repeat_reward": "sum", "latent_per_episode": False, "observation": "0:33",
    "relabel_goals": 4, "relabel_reward": 100.0, "eval_every": 10_000, "eval_episodes": 10,
}  # fmt: skip


def test_the_u_maze_experiment_trains_the_documented_recipe_per_seed_and_resumes(tmp_path):
    from latent_space_policies.cli import StackArgs, _parse
    from latent_space_policies.experiments.ant_umaze import AntUMazeArgs, collect, run_umaze, umaze_runs

    args = AntUMazeArgs(output_dir=str(tmp_path), seeds=(0, 2))
    runs = umaze_runs(args, args.locomotion)
    assert [(run.name, steps) for run, _, steps in runs] == [("umaze__hierarchy+her__0", 200_000), ("umaze__hierarchy+her__2", 200_000)]
    for seed, (run, command, _) in zip((0, 2), runs):
        parsed = _parse(command[3:])  # after `python -m latent_space_policies.cli`
        assert isinstance(parsed, StackArgs) and parsed.base == "pretrained:ant_locomotion"
        config = dataclasses.asdict(dataclasses.replace(parsed.config, base=parsed.base))
        assert {k: config[k] for k in UMAZE_RESULT_SETTINGS} == UMAZE_RESULT_SETTINGS
        assert (config["seed"], config["total_steps"], config["output_dir"], config["run_name"]) == (
            seed, 200_000, str(tmp_path), run.name,
        )  # fmt: skip
    (runs[0][0] / "checkpoints").mkdir(parents=True)
    (runs[0][0] / "checkpoints" / "latest.lsp").write_bytes(b"")
    resumed = umaze_runs(args, args.locomotion)[0][1]
    assert resumed[3:6] == ["train", "--resume", str(runs[0][0])] and "200000" in resumed
    # Evaluations are collected against env steps (15 per decision).
    (runs[0][0] / "config.json").write_text('{"action_repeat": 15}')
    (runs[0][0] / "eval.csv").write_text(
        "step,success_stochastic_rate,success_deterministic_rate,final_distance_stochastic_mean\n"
        "10000,0.2,0.3,4.0\n20000,0.5,0.4,2.5\n"
    )
    (runs[1][0]).mkdir()
    (runs[1][0] / "eval.csv").write_text("step,success_stochastic_rate\n10000,0.1\n")  # settings not yet saved
    rows = list(csv.DictReader(open(collect(tmp_path))))
    assert [(r["seed"], r["env_step"], r["success_stochastic_rate"]) for r in rows] == [
        ("0", "150000", "0.2"), ("0", "300000", "0.5"),
    ]  # fmt: skip
    for bad, message in [
        (dict(steps=10), "--steps 10: give at least --action-repeat"),
        (dict(fresh_episodes=-1), "--fresh-episodes -1"),
        (dict(locomotion=str(tmp_path / "none.lsp")), "no such file"),
        (dict(eval_every=10), "--eval-every 10: give 0"),
        (dict(seeds=(0, 0)), "give distinct seeds"),
        (dict(seeds=(-1,)), "give distinct seeds"),
        (dict(jobs=0), "--jobs 0: give 1 or more"),
    ]:
        with pytest.raises(LSPError, match=message):
            run_umaze(dataclasses.replace(args, **bad))


@pytest.mark.slow
def test_the_u_maze_experiment_runs_end_to_end_and_its_fresh_evaluation_is_lsp_evals(tmp_path, capsys, monkeypatch):
    """Two decisions of one seed on an untrained layer: the periodic evaluations are collected and
    drawn, the final policy is played on fresh episodes (the ones `lsp eval` plays), and a second
    call runs and evaluates nothing again."""
    import json

    pytest.importorskip("gymnasium_robotics")
    from latent_space_policies.cli import main
    from latent_space_policies.experiments.ant_umaze import AntUMazeArgs, run_umaze

    layer = _untrained_locomotion_layer(tmp_path / "layer.lsp")
    out = tmp_path / "out"
    args = AntUMazeArgs(
        output_dir=str(out), locomotion=str(layer), steps=30, seeds=(0,), jobs=1, eval_every=15,
        eval_episodes=1, fresh_episodes=2,
    )  # fmt: skip
    path = run_umaze(args)
    assert [(r["seed"], r["env_step"]) for r in csv.DictReader(open(path))] == [("0", "15"), ("0", "30")]
    assert (out / "ant_umaze.png").stat().st_size > 0
    fresh = json.loads((out / "ant_umaze_fresh.json").read_text())
    entry = fresh["runs"]["0"]
    assert (entry["run"], entry["step"], entry["episodes"]) == ("umaze__hierarchy+her__0", 2, 2)
    assert fresh["mean_over_seeds"]["seeds"] == 1
    for mode, flags in (("stochastic", []), ("deterministic", ["--deterministic"])):
        capsys.readouterr()
        assert main(["eval", str(out / "umaze__hierarchy+her__0"), "--episodes", "2", *flags]) == 0
        line = capsys.readouterr().out.strip().splitlines()[-1]
        assert f"goal reached in {entry[f'success_{mode}']} of 2 episodes" in line
        distance = float(line.rsplit("distance ", 1)[1].split()[0])
        assert distance == pytest.approx(entry[f"final_distance_{mode}"], abs=0.006), mode
    logs = {p.name: p.stat().st_mtime_ns for p in out.glob("*.log")}
    import latent_space_policies.loading

    def no_second_evaluation(*_):
        raise AssertionError("the evaluated policy was loaded again")

    monkeypatch.setattr(latent_space_policies.loading, "load_policy", no_second_evaluation)
    run_umaze(args)  # finished and evaluated: nothing trains or plays again
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.log")} == logs
    assert json.loads((out / "ant_umaze_fresh.json").read_text())["runs"] == fresh["runs"]
    monkeypatch.undo()
    run_umaze(dataclasses.replace(args, fresh_episodes=1))  # another count: played again
    assert json.loads((out / "ant_umaze_fresh.json").read_text())["runs"]["0"]["episodes"] == 1


def test_the_u_maze_time_limit_can_be_replaced_for_diagnostics():
    """`time_limit` replaces the maze's own 700 steps (inside every variant), and a bad one is refused."""
    pytest.importorskip("gymnasium_robotics")
    import gymnasium as gym

    for env_id in ("LSP/AntMazeUMaze-v0", "LSP/AntMazeUMazeEgoWaypoint-v0"):
        env = gym.make(env_id, time_limit=7)
        env.reset(seed=0)
        for step in range(1, 8):
            _, _, terminated, truncated, _ = env.step(np.zeros(8))
            assert not terminated and truncated == (step == 7), (env_id, step)
        env.close()
    with pytest.raises(LSPError, match="time_limit=0"):
        gym.make("LSP/AntMazeUMaze-v0", time_limit=0)


def test_maze_collection_puts_evaluations_at_env_steps_and_leaves_out_runs_without_settings(tmp_path):
    from latent_space_policies.experiments.ant_maze import AntMazeArgs, collect

    header = "step,final_distance_stochastic_mean\n"
    for name, config, rows in [
        ("goal0__hierarchy__0", '{"action_repeat": 15}', "100,5.0\n"),
        ("goal0__finetune__0", '{"action_repeat": null}', "1500,6.0\n"),
        ("goal1__hierarchy__0", None, "100,4.0\n"),  # killed before it saved its settings
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.csv").write_text(header + rows)
        if config is not None:
            (tmp_path / name / "config.json").write_text(config)
    rows = list(csv.DictReader(open(collect(AntMazeArgs(output_dir=str(tmp_path))))))
    assert sorted((r["goal"], r["method"], r["env_step"]) for r in rows) == [
        ("0", "finetune", "1500"), ("0", "hierarchy", "1500"),
    ]  # fmt: skip


def test_maze_closer_pools_the_seeds_episodes_and_divides_by_the_reference(tmp_path):
    """benchmarks/maze_closer.py: per goal and budget, the mean final distance over every episode of
    every seed of a method, divided by the reference method's, checked against hand-worked numbers."""
    spec = importlib.util.spec_from_file_location("maze_closer", Path(__file__).parents[1] / "benchmarks" / "maze_closer.py")
    closer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(closer)

    def report(run, finals, env_step=3_000_000, goal=0):
        episodes = [{"final_distance": d, "outcome": "success" if d <= 2 else "short"} for d in finals]
        mode = {"episodes_detail": episodes}
        return {"run": run, "env_id": f"LSP/AntCrossMaze-Goal{goal}-v1", "env_step": env_step,
                "modes": {"stochastic": mode, "deterministic": mode}}  # fmt: skip

    (tmp_path / "h.json").write_text(json.dumps([
        report("runs/goal0__hierarchy+visits__0", [2.0, 2.0]), report("runs/goal0__hierarchy+visits__1", [2.0, 6.0]),
    ]))  # fmt: skip
    (tmp_path / "b.json").write_text(json.dumps([
        report("runs/goal0__finetune+motion__0/checkpoints/step_003000000.lsp", [9.0, 2.0, 10.0]),
        report("runs/nogoal__scratch__0", [12.0], env_step=1_500_000),
    ]))  # fmt: skip
    rows = closer.summarise(closer.collect([tmp_path / "h.json", tmp_path / "b.json"]), "hierarchy+visits")
    by_method = {(r["method"], r["env_step"]): r for r in rows}
    ref = by_method[("hierarchy+visits", 3_000_000)]["stochastic"]
    assert ref["final_distance_mean"] == 3.0 and ref["success_rate"] == 0.75 and ref["episodes"] == 4
    base = by_method[("finetune+motion", 3_000_000)]
    assert base["seeds"] == [0] and base["stochastic"]["times_reference"] == pytest.approx(7.0 / 3.0)
    assert base["deterministic"]["success_rate"] == pytest.approx(1 / 3)
    assert by_method[("scratch", 1_500_000)]["stochastic"]["times_reference"] is None  # no reference at 1.5M
    with pytest.raises(SystemExit, match="twice"):
        closer.collect([tmp_path / "h.json", tmp_path / "h.json"])


def test_maze_eval_table_puts_each_run_in_its_column_and_marks_missing_steps():
    """benchmarks/maze_eval_table.py: "k / d" per evaluated step and run, k the successes out of
    --episodes, "-" where a run has no evaluation at that step; an unknown column is an error."""
    spec = importlib.util.spec_from_file_location("maze_eval_table", Path(__file__).parents[1] / "benchmarks" / "maze_eval_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def row(goal, method, step, rate, distance):
        return {"goal": str(goal), "method": method, "seed": "0", "env_step": str(step),
                "success_stochastic_rate": str(rate), "final_distance_stochastic_mean": str(distance),
                "success_deterministic_rate": "1.0", "final_distance_deterministic_mean": "1.5"}  # fmt: skip

    rows = [row(0, "a", 150000, 0.3, 5.123), row(0, "a", 300000, 0.0, 8.0), row(2, "b", 150000, 0.1, 7.0)]
    lines = module.table(rows, [("0", "a", "0"), ("2", "b", "0")], "stochastic", 10).splitlines()
    assert lines[0] == "| env steps | goal 0: a (0) | goal 2: b (0) |"
    assert lines[2:] == ["| 150k | 3 / 5.12 | 1 / 7.00 |", "| 300k | 0 / 8.00 | - |"]
    assert module.table(rows, [("2", "b", "0")], "deterministic", 5).splitlines()[2] == "| 150k | 5 / 1.50 |"
    with pytest.raises(SystemExit, match="goal 1, method a"):
        module.table(rows, [("1", "a", "0")], "stochastic", 10)


def test_the_maze_figure_draws_each_method_in_one_colour_in_every_panel():
    """A method keeps its colour across goals even where another method is missing from a panel
    (the first figure let matplotlib's colour cycle restart per panel), and each top panel's legend
    names the methods it shows."""
    pytest.importorskip("matplotlib")
    from latent_space_policies.experiments.ant_maze import maze_figure

    def row(goal, method, seed, step, distance):
        return {"goal": str(goal), "method": method, "seed": str(seed), "env_step": str(step),
                "final_distance_stochastic_mean": str(distance), "success_stochastic_rate": "0.5"}  # fmt: skip

    rows = [row(0, m, 0, step, 5.0) for m in ("finetune+motion", "hierarchy+visits") for step in (150, 300)]
    rows += [row(1, "hierarchy+visits", s, step, 4.0 + s) for s in (0, 1) for step in (150, 300)]
    fig = maze_figure(rows)
    colours = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label().startswith(("finetune", "hierarchy")):
                colours.setdefault(line.get_label().split(" ")[0], set()).add(line.get_color())
    assert set(colours) == {"finetune+motion", "hierarchy+visits"}
    assert all(len(c) == 1 for c in colours.values()) and colours["finetune+motion"] != colours["hierarchy+visits"]
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes[:2]]
    assert "hierarchy+visits (1)" in legends[0] and "finetune+motion (1)" in legends[0]
    assert "hierarchy+visits (2)" in legends[1] and not any(t.startswith("finetune") for t in legends[1])
    from latent_space_policies.experiments.ant_maze import METHOD_COLORS, METHODS

    assert sorted(METHOD_COLORS) == sorted(METHODS) and len(set(METHOD_COLORS.values())) == len(METHODS)


def test_maze_episodes_counts_goals_and_the_shaping_per_step_by_window(tmp_path):
    """benchmarks/maze_episodes.py against hand-worked windows of a small episodes.csv."""
    spec = importlib.util.spec_from_file_location("maze_episodes", Path(__file__).parents[1] / "benchmarks" / "maze_episodes.py")
    episodes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(episodes)
    rows = [  # step, return, length, final distance
        (100, 1000 + 2.0 * 50, 50, 1.5), (180, 3.0 * 100, 100, 6.0), (260, 1.0 * 200, 200, 8.0), (300, 1000.0, 40, 2.0),
    ]  # fmt: skip
    with open(tmp_path / "episodes.csv", "w") as handle:
        handle.write("step,episode,return,length,final_distance\n")
        handle.writelines(f"{s},{k},{r},{n},{d}\n" for k, (s, r, n, d) in enumerate(rows))
    got = episodes.windows(tmp_path, 200)
    assert [(w["from"], w["episodes"], w["reached"]) for w in got] == [(0, 2, 1), (200, 2, 1)]
    assert got[0]["reached_length_mean"] == 50 and got[0]["shaping_per_step"] == pytest.approx(2.5)
    assert got[1]["reached_length_mean"] == 40 and got[1]["shaping_per_step"] == pytest.approx(0.5)


def test_maze_values_counts_back_from_the_goal_and_finds_where_it_shows(tmp_path):
    """benchmarks/maze_values.py: the recorder keeps the observation each action was taken in, and
    the horizon report reads Q k steps before the goal against hand-worked numbers."""
    import gymnasium as gym

    spec = importlib.util.spec_from_file_location("maze_values", Path(__file__).parents[1] / "benchmarks" / "maze_values.py")
    values = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(values)
    recorder = values._Recorder(gym.make("Pendulum-v1"))
    seen = [recorder.reset(seed=3)[0]]
    for action in (-1.0, 0.5):
        seen.append(recorder.step(np.array([action], np.float32))[0])
    episode = recorder.episodes[-1]
    np.testing.assert_allclose(np.stack(episode["observations"]), np.stack(seen[:2]))
    np.testing.assert_allclose(np.concatenate(episode["actions"]), [-1.0, 0.5])
    recorder.close()

    failures = [np.full(50, 10.0), np.concatenate([np.full(49, 10.0), [20.0]])]  # p95 of the pooled 100: 10
    successes = [np.arange(1.0, 31.0), np.arange(101.0, 131.0)]  # 30 steps each, rising to the goal
    report = values.horizon_report(successes, failures, 0.99)
    assert report["failed_q"]["median"] == 10.0 and report["failed_q"]["p95"] == pytest.approx(10.0)
    rows = {row["k"]: row for row in report["before_goal"]}
    assert sorted(rows) == [1, 5, 10, 25]  # no episode is 50 steps long
    assert rows[1]["median_q"] == pytest.approx((30.0 + 130.0) / 2)
    assert rows[1]["goal_worth"] == pytest.approx(1000.0)  # k = 1 is the step that reached the goal: its reward, undiscounted
    assert rows[25]["median_q"] == pytest.approx((6.0 + 106.0) / 2) and rows[25]["goal_worth"] == pytest.approx(1000 * 0.99**24)
    assert report["seen_from_k"] == 25
    assert report["start_q"] == {"successes": pytest.approx(51.0), "failures": 10.0}
    assert values.horizon_report(successes, [], 0.99)["seen_from_k"] is None
    dip = np.full(60, 50.0)
    dip[-25] = 5.0  # above the failures at k = 1, 5, 10 and 50, below at 25: seen from 10, not 50
    assert values.horizon_report([dip], failures, 0.99)["seen_from_k"] == 10
