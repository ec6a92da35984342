"""Contracts of the training loop: determinism, save/load, exact resume, Ctrl-C, bad input."""

import csv
import dataclasses
import os
import signal

import gymnasium as gym
import jax
import numpy as np
import pytest

from latent_space_policies.checkpoint import load_checkpoint, save_checkpoint
from latent_space_policies.cli import main
from latent_space_policies.errors import (
    CheckpointError,
    SettingsError,
    ShapeError,
    TrainingDivergedError,
    TrainingInterrupted,
    UnknownEnvironmentError,
)
from latent_space_policies.loading import load_policy
from latent_space_policies.training import TrainConfig, resume, train


def tiny_config(tmp_path, **overrides) -> TrainConfig:
    values = dict(
        env_id="Pendulum-v1",
        total_steps=700,
        learning_starts=300,
        batch_size=32,
        eval_every=350,
        eval_episodes=1,
        checkpoint_every=0,
        max_episode_steps=150,
        output_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        embedding_hidden=(32, 32),
    )
    values.update(overrides)
    return TrainConfig(**values)


def assert_trees_equal(a, b):
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("variant", ["modern", "paper"])
def test_same_seed_gives_identical_parameters(tmp_path, variant):
    first = train(tiny_config(tmp_path, run_name="a", variant=variant))
    second = train(tiny_config(tmp_path, run_name="b", variant=variant))
    assert_trees_equal(first.state, second.state)
    other = train(tiny_config(tmp_path, run_name="c", variant=variant, seed=1))
    with pytest.raises(AssertionError):
        assert_trees_equal(first.state.policy_params, other.state.policy_params)


def test_save_load_gives_identical_actions(tmp_path):
    result = train(tiny_config(tmp_path, run_name="run"))
    observations = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    for path in [result.run_dir / "policy.lsp", result.run_dir / "checkpoints" / "latest.lsp", result.run_dir]:
        loaded = load_policy(path)
        expected = np.asarray(jax.jit(result.policy.deterministic_action)(result.state.policy_params, observations))
        np.testing.assert_array_equal(loaded.act(observations, deterministic=True), expected)
        latents = np.random.default_rng(1).normal(size=(16, 1)).astype(np.float32)
        action, _ = loaded.action_from_latent(observations, latents)
        expected_action, _ = jax.jit(result.policy.action_from_latent)(result.state.policy_params, observations, latents)
        np.testing.assert_array_equal(action, np.asarray(expected_action))
    loaded.seed(3)
    first = loaded.act(observations)
    loaded.seed(3)
    np.testing.assert_array_equal(loaded.act(observations), first)


@pytest.mark.parametrize("variant", ["modern", "paper"])
def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path, variant):
    """Ctrl-C (SIGTERM in the paper variant's run: what kill, docker stop and Slurm send)
    mid-episode (step 437 of 700, episode length 150), then --resume: same final state."""
    reference = train(tiny_config(tmp_path, run_name="straight", variant=variant, checkpoint_every=200))
    stop_signal = signal.SIGINT if variant == "modern" else signal.SIGTERM

    def interrupt(trainer):
        if trainer.step == 437:
            os.kill(os.getpid(), stop_signal)

    config = tiny_config(tmp_path, run_name="interrupted", variant=variant, checkpoint_every=200, log_every=100)
    with pytest.raises(TrainingInterrupted, match="resume"):
        train(config, callback=interrupt)
    _, metadata = load_checkpoint(tmp_path / "interrupted" / "checkpoints" / "latest.lsp")
    assert metadata["step"] == 437
    resumed = resume(tmp_path / "interrupted")
    assert resumed.steps == 700
    assert_trees_equal(reference.state, resumed.state)
    eval_steps = [row["step"] for row in resumed.evaluations]
    assert eval_steps == [700]  # the resumed part evaluated once; the log holds both
    log = (tmp_path / "interrupted" / "eval.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["350", "700"]
    # wall_time_s counts the first process's training up to its checkpoint as well.
    assert resumed.evaluations[0]["wall_time_s"] > metadata["wall_time_s"] > 0
    # metrics.csv: one row per log_every (100) steps once updates ran (from step 300), none twice.
    with open(tmp_path / "interrupted" / "metrics.csv", newline="") as handle:
        metric_rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in metric_rows] == list(range(300, 701, 100))
    for row in metric_rows:
        assert float(row["alpha"]) > 0 and float(row["action_norm"]) > 0
        assert np.isfinite(float(row["log_pi_minus_log_prior"]))
    if variant == "paper":
        assert {float(row["alpha"]) for row in metric_rows} == {1.0}


def test_resume_keeps_the_temperature_the_run_started_with(tmp_path):
    """A default that changed after a run started (a Gaussian-prior level's temperature became
    fixed) does not change the run when it resumes: the resolved values in the checkpoint win."""
    from latent_space_policies.training import _pin_resolved_temperature

    result = train(tiny_config(tmp_path, run_name="run", total_steps=400))
    _, metadata = load_checkpoint(result.run_dir / "checkpoints" / "latest.lsp")
    assert metadata["sac"]["ent_coef"] == "auto" and metadata["sac"]["reward_scale"] == 1.0
    old = dict(metadata, sac=dict(metadata["sac"], ent_coef="auto", reward_scale=1.0))
    config = TrainConfig.from_json(metadata["config"])
    pinned = _pin_resolved_temperature(dataclasses.replace(config, action_prior="gaussian", squash=False), old)
    assert (pinned.ent_coef, pinned.reward_scale) == ("auto", 1.0)
    chosen = dataclasses.replace(config, ent_coef=0.5, reward_scale=2.0)
    assert (_pin_resolved_temperature(chosen, old).ent_coef, _pin_resolved_temperature(chosen, old).reward_scale) == (
        0.5,
        2.0,
    )
    assert resume(result.run_dir, total_steps=500).steps == 500


def test_resume_can_extend_a_finished_run(tmp_path):
    first = train(tiny_config(tmp_path, run_name="run"))
    longer = resume(first.run_dir, total_steps=800)
    assert longer.steps == 800


def test_resume_refuses_a_total_below_the_steps_taken_and_leaves_the_run_as_it_was(tmp_path):
    """A smaller --total-steps than the run has taken used to crash building the replay buffer."""
    first = train(tiny_config(tmp_path, run_name="run"))
    before = {p.relative_to(first.run_dir): p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    with pytest.raises(SettingsError, match=f"--total-steps 10 is below the {first.steps} steps"):
        resume(first.run_dir, total_steps=10)
    after = {p.relative_to(first.run_dir): p.read_bytes() for p in first.run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before
    assert resume(first.run_dir, total_steps=first.steps).steps == first.steps  # the same total: nothing to do


def test_resume_refuses_changed_settings(tmp_path):
    train(tiny_config(tmp_path, run_name="run"))
    with pytest.raises(CheckpointError, match="cannot change env_id"):
        resume(tmp_path / "run", env_id="Hopper-v5")


def test_new_run_refuses_to_overwrite(tmp_path):
    train(tiny_config(tmp_path, run_name="run", total_steps=10, learning_starts=5))
    with pytest.raises(CheckpointError, match="--resume"):
        train(tiny_config(tmp_path, run_name="run", total_steps=10, learning_starts=5))


def test_unknown_environment_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(UnknownEnvironmentError, match="unknown environment 'NoSuchEnv-v0'"):
        train(tiny_config(tmp_path, env_id="NoSuchEnv-v0"))
    assert main(["train", "--env-id", "NoSuchEnv-v0", "--output-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: unknown environment")


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_policy(tmp_path / "nothing.lsp")
    corrupt = tmp_path / "corrupt.lsp"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(corrupt)
    result = train(tiny_config(tmp_path, run_name="run", total_steps=10, learning_starts=5))
    truncated = tmp_path / "truncated.lsp"
    truncated.write_bytes((result.run_dir / "policy.lsp").read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(truncated)


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.lsp"
    save_checkpoint(path, {"a": {"x": np.arange(3)}}, {"kind": "test", "step": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"a": {"x": np.arange(5)}}, {"kind": "test", "step": 2})
    trees, metadata = load_checkpoint(path)
    assert metadata["step"] == 1 and trees["a"]["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.lsp"]


def test_checkpoint_from_another_env_is_refused(tmp_path, capsys):
    result = train(tiny_config(tmp_path, run_name="run", total_steps=10, learning_starts=5))
    code = main(["eval", str(result.run_dir / "policy.lsp"), "--env-id", "Hopper-v5", "--episodes", "1"])
    assert code == 2
    assert "trained on Pendulum-v1" in capsys.readouterr().err


def test_wrong_observation_shape_is_a_clear_error(tmp_path):
    result = train(tiny_config(tmp_path, run_name="run", total_steps=10, learning_starts=5))
    loaded = load_policy(result.run_dir / "policy.lsp")
    with pytest.raises(ShapeError, match=r"expects \(\.\.\., 3\)"):
        loaded.act(np.zeros(11))
    with pytest.raises(ShapeError, match="latent"):
        loaded.action_from_latent(np.zeros(3), np.zeros(4))


class NaNRewardEnv(gym.Env):
    """Fine for 400 steps, then rewards are NaN: training must stop with a clear error."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self):
        self.count = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.count += 1
        reward = float("nan") if self.count > 400 else float(-np.square(action).sum())
        return np.zeros(2, np.float32), reward, False, self.count % 50 == 0, {}


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_good_checkpoint(tmp_path):
    gym.register("NaNReward-v0", entry_point=NaNRewardEnv)
    config = tiny_config(
        tmp_path, env_id="NaNReward-v0", run_name="nan", total_steps=1000, checkpoint_every=300, log_every=100,
        max_episode_steps=None, eval_every=0,
    )
    with pytest.raises(TrainingDivergedError, match="NaN or infinite.*last good checkpoint \\(step 300\\)"):
        train(config)
    trees, metadata = load_checkpoint(tmp_path / "nan" / "checkpoints" / "latest.lsp")
    assert metadata["step"] == 300
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(trees["state"]["policy_params"]))


def test_ctrl_c_during_start_up_stops_the_run_at_its_first_step_with_a_checkpoint(tmp_path, monkeypatch, capsys):
    """A Ctrl-C while `lsp train` builds its envs (or XLA compiles) is neither lost nor raised inside
    the start-up: the run stops at step 1 with a checkpoint it resumes from, and the handler of the
    outer flag is restored afterwards."""
    import latent_space_policies.training as training

    build, calls = training.make_training_env, []

    def build_and_interrupt(*args, **kwargs):  # the training env and the evaluation env: one signal
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return build(*args, **kwargs)

    monkeypatch.setattr(training, "make_training_env", build_and_interrupt)
    args = ["train", "--env-id", "Pendulum-v1", "--total-steps", "400", "--learning-starts", "200",
            "--eval-every", "200", "--eval-episodes", "1", "--output-dir", str(tmp_path), "--run-name", "early",
            "--no-progress", "--batch-size", "32", "--no-tensorboard"]  # fmt: skip
    before = signal.getsignal(signal.SIGINT)
    assert main(args) == 130
    assert "interrupted at step 1" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before
    _, metadata = load_checkpoint(tmp_path / "early" / "checkpoints" / "latest.lsp")
    assert metadata["step"] == 1
    monkeypatch.setattr(training, "make_training_env", build)
    assert main(["train", "--resume", str(tmp_path / "early"), "--no-progress"]) == 0
    assert "done: 400 steps" in capsys.readouterr().out


def test_an_inner_stop_flag_inherits_a_pending_request():
    from latent_space_policies.training import StopFlag

    with StopFlag() as outer:
        with StopFlag() as quiet:
            assert not quiet.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert outer.requested
        with StopFlag() as inner:
            assert inner.requested
            with pytest.raises(KeyboardInterrupt):  # a second signal: stop at once
                os.kill(os.getpid(), signal.SIGINT)


def test_cli_train_then_eval(tmp_path, capsys):
    args = ["train", "--env-id", "Pendulum-v1", "--total-steps", "400", "--learning-starts", "200",
            "--eval-every", "200", "--eval-episodes", "1", "--output-dir", str(tmp_path), "--run-name", "cli",
            "--no-progress", "--batch-size", "32", "--max-episode-steps", "100"]
    assert main(args) == 0
    assert "done: 400 steps" in capsys.readouterr().out
    assert (tmp_path / "cli" / "tb").is_dir() and (tmp_path / "cli" / "eval.csv").exists()
    assert main(["eval", str(tmp_path / "cli"), "--episodes", "2", "--deterministic"]) == 0
    assert "over 2 episodes (deterministic); mean length 100" in capsys.readouterr().out  # the run's time limit
    assert main(["eval", str(tmp_path / "cli"), "--episodes", "1", "--max-episode-steps", "30"]) == 0
    assert "mean length 30" in capsys.readouterr().out
    for bad in (["--episodes", "0"], ["--max-episode-steps", "-1"]):
        assert main(["eval", str(tmp_path / "cli"), *bad]) == 2
        assert capsys.readouterr().err == f"error: {bad[0]} must be greater than 0, got {bad[1]}\n"
    # A typed setting that differs from the run's is refused even when it equals the CLI default
    # (the run is Pendulum-v1; Hopper-v5 is the default --env-id), before anything is trained.
    resume_args = ["train", "--resume", str(tmp_path / "cli"), "--total-steps", "500", "--no-progress"]
    assert main([*resume_args, "--env-id", "Hopper-v5"]) == 2
    assert "cannot change env_id='Pendulum-v1'" in capsys.readouterr().err
    assert main([*resume_args, "--batch-size=128"]) == 2
    assert "cannot change batch_size=32" in capsys.readouterr().err
    assert main([*resume_args, "--seed", "0", "--eval-episodes", "1"]) == 0  # the run's own values pass
    assert "done: 500 steps" in capsys.readouterr().out


def _osmesa_available() -> bool:
    import ctypes.util

    return ctypes.util.find_library("OSMesa") is not None


@pytest.mark.skipif(not _osmesa_available(), reason="needs Debian's libosmesa6 (.ci/run installs it)")
def test_eval_writes_a_video(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setenv("PYOPENGL_PLATFORM", "osmesa")
    result = train(tiny_config(tmp_path, env_id="InvertedPendulum-v5", run_name="run", total_steps=10, learning_starts=5))
    video = tmp_path / "episode.mp4"
    code = main(["eval", str(result.run_dir), "--episodes", "1", "--max-episode-steps", "20", "--video", str(video)])
    assert code == 0, capsys.readouterr().err
    import imageio.v2 as imageio

    frames = imageio.mimread(video)
    assert len(frames) >= 1 and frames[0].ndim == 3 and frames[0].std() > 0  # not a blank frame


def test_a_second_writer_of_a_run_folder_gets_a_one_line_error(tmp_path):
    """One process writes a run folder: while its lock is held, a fresh run with the same name and a
    resume of it are refused, naming the holder; once released, the resume goes ahead."""
    from latent_space_policies.training import RunLock

    first = train(tiny_config(tmp_path, run_name="run", total_steps=400))
    holder = RunLock(first.run_dir)  # as if another process were training in it
    try:
        with pytest.raises(CheckpointError, match=f"another process \\(pid {os.getpid()}\\)"):
            resume(first.run_dir, total_steps=500)
        (first.run_dir / "checkpoints" / "latest.lsp").rename(first.run_dir / "moved.lsp")
        with pytest.raises(CheckpointError, match="another process"):
            train(tiny_config(tmp_path, run_name="run", total_steps=400))
        (first.run_dir / "moved.lsp").rename(first.run_dir / "checkpoints" / "latest.lsp")
    finally:
        holder.release()
    assert resume(first.run_dir, total_steps=500).steps == 500


def test_a_run_carried_without_its_replay_resumes_from_the_same_parameters(tmp_path):
    """benchmarks/carry_run.py: the committed copy of a long run (no replay) resumes in a new folder
    with the same parameters and counters, refilling the replay before it updates again."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("carry_run", Path(__file__).parents[1] / "benchmarks" / "carry_run.py")
    carry_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(carry_run)
    first = train(tiny_config(tmp_path, run_name="run", total_steps=400, snapshot_every=200))
    carry_run.save(first.run_dir, tmp_path / "carried")
    trees, metadata = load_checkpoint(tmp_path / "carried" / "checkpoints" / "latest.lsp")
    assert "replay" not in trees and metadata["has_replay"] is False and metadata["step"] == 400
    assert (tmp_path / "carried" / "checkpoints" / "step_000000200.lsp").is_file()
    carry_run.restore(tmp_path / "carried", tmp_path / "elsewhere")
    seen = []
    with pytest.warns(UserWarning, match="no replay buffer"):
        resumed = resume(tmp_path / "elsewhere", total_steps=700, callback=lambda t: seen.append(t.state.gradient_steps))
    assert int(seen[0]) == int(first.state.gradient_steps)  # no update until learning_starts (300) are back
    # 300 steps refill the replay to learning_starts; the update at the last of them is the only one.
    assert int(resumed.state.gradient_steps) == int(first.state.gradient_steps) + 1


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--total-steps", "0", "--total-steps must be greater than 0, got 0"),
        ("--learning-rate", "-0.001", "--learning-rate must be greater than 0"),
        ("--gamma", "1.5", "--gamma must be in [0, 1], got 1.5"),
        ("--batch-size", "0", "--batch-size must be greater than 0"),
        ("--buffer-size", "-5", "--buffer-size must be greater than 0"),
        ("--gradient-steps", "0", "--gradient-steps must be greater than 0"),
        ("--eval-episodes", "-1", "--eval-episodes must be 0 or more"),
        ("--ent-coef", "0", "--ent-coef must be 'auto' or greater than 0"),
        ("--critic-hidden", "0", "--critic-hidden needs widths greater than 0, got [0]"),
    ],
)
def test_settings_outside_their_range_are_refused_before_anything_is_made(tmp_path, capsys, flag, value, message):
    argv = ["train", "--env-id", "Pendulum-v1", "--output-dir", str(tmp_path / "out"), "--no-progress", flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # no run folder was made


def test_unusable_output_folders_and_full_disks_are_one_line_errors(tmp_path, capsys, monkeypatch):
    """An output folder that is a file or cannot be made is refused before training; a checkpoint
    write that fails (disk full) says so in one line and leaves the previous checkpoint intact."""
    (tmp_path / "a_file").write_text("")
    for output_dir, reason in [(tmp_path / "a_file", "Not a directory"), (tmp_path / "a_file" / "sub", "Not a directory")]:
        argv = ["train", "--env-id", "Pendulum-v1", "--output-dir", str(output_dir), "--no-progress"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: cannot write the run folder") and reason in err and "--output-dir" in err
        assert len(err.strip().splitlines()) == 1
    path = tmp_path / "ckpt.lsp"
    save_checkpoint(path, {"a": {"x": np.arange(3)}}, {"kind": "test", "step": 1})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(CheckpointError, match="No space left on device\\); the previous one is intact"):
        save_checkpoint(path, {"a": {"x": np.arange(5)}}, {"kind": "test", "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)[1]["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "ckpt.lsp"]


def test_files_that_are_not_our_checkpoints_are_one_line_errors(tmp_path, capsys):
    np.save(tmp_path / "plain.npy", np.zeros(3))
    assert main(["eval", str(tmp_path / "plain.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "plain NumPy array" in err and len(err.strip().splitlines()) == 1
    result = train(tiny_config(tmp_path, run_name="run", total_steps=10, learning_starts=5, checkpoint_every=10))
    trees, metadata = load_checkpoint(result.run_dir / "checkpoints" / "latest.lsp")
    own = {k: v for k, v in metadata.items() if k not in ("format", "format_version")}
    for name, section_trees, section_metadata, message in [
        ("no_config", trees, {k: v for k, v in own.items() if k != "config"}, "lacks config in its metadata"),
        ("no_episode", {k: v for k, v in trees.items() if k != "episode"}, own, "lacks its episode section"),
    ]:
        save_checkpoint(tmp_path / name / "checkpoints" / "latest.lsp", section_trees, section_metadata)
        assert main(["train", "--resume", str(tmp_path / name), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_a_hierarchy_file_with_a_wrongly_typed_value_is_refused_before_any_level_trains(tmp_path, capsys):
    config_file = tmp_path / "h.toml"
    config_file.write_text(
        f'env_id = "Pendulum-v1"\noutput_dir = "{tmp_path / "out"}"\n'
        '[[level]]\ntotal_steps = 300\n[[level]]\ntotal_steps = "a lot"\n'
    )
    assert main(["hierarchy", str(config_file), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config_file}, level 1: --total-steps must be an integer")
    assert not (tmp_path / "out").exists()


def test_a_rejected_run_leaves_no_folder_and_resume_removes_orphaned_writes(tmp_path, capsys):
    with pytest.raises(UnknownEnvironmentError):
        train(tiny_config(tmp_path / "runs", env_id="NoSuchEnv-v0", run_name="x"))
    assert not (tmp_path / "runs").exists()
    result = train(tiny_config(tmp_path, run_name="run", total_steps=10, learning_starts=5))
    orphan = result.run_dir / "checkpoints" / f".latest.lsp.{os.getpid() + 1}.tmp"
    orphan.write_bytes(b"half a checkpoint")
    resume(result.run_dir, total_steps=20)
    assert not orphan.exists() and "removed" in capsys.readouterr().err


class NaNAfterEnv(gym.Env):
    """Finite for the first 300 steps of all instances together, NaN rewards after: the eval env
    meets them at the evaluation of step 400, before the loop's own NaN check at step 1000."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        NaNAfterEnv.steps += 1
        reward = float("nan") if NaNAfterEnv.steps > 300 else 0.0
        return np.zeros(2, np.float32), reward, False, NaNAfterEnv.steps % 50 == 0, {}


def test_no_evaluation_row_of_a_diverged_run_is_written(tmp_path):
    gym.register("NaNAfter-v0", entry_point=NaNAfterEnv)
    config = tiny_config(tmp_path, env_id="NaNAfter-v0", run_name="nan", total_steps=1000, learning_starts=100,
                         eval_every=200, log_every=1000, max_episode_steps=None)  # fmt: skip
    with pytest.raises(TrainingDivergedError):
        train(config)
    with open(tmp_path / "nan" / "eval.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [200]
    assert all(np.isfinite(float(row["return_stochastic_mean"])) for row in rows)


def test_every_sac_setting_reaches_the_update_with_the_same_default():
    from latent_space_policies.agents import SAC_SETTINGS, sac_config
    from latent_space_policies.sac import SACConfig

    derived = {"action_prior", "critic_hidden"}  # from the policy's squash; the critics' fixed widths
    assert set(SAC_SETTINGS) == {f.name for f in dataclasses.fields(SACConfig)} - derived
    train_defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert {name: train_defaults[name] for name in SAC_SETTINGS} == {
        f.name: f.default for f in dataclasses.fields(SACConfig) if f.name in SAC_SETTINGS
    }
    changed = TrainConfig(env_id="Pendulum-v1", gamma=0.9, tau=0.02, learning_rate=1e-3, reward_scale=2.0,
                          ent_coef=0.3, target_entropy=-0.5, variant="paper")  # fmt: skip
    resolved = sac_config(changed, 1, squash=True)
    assert (resolved.gamma, resolved.tau, resolved.learning_rate, resolved.reward_scale) == (0.9, 0.02, 1e-3, 2.0)
    assert (resolved.ent_coef, resolved.target_entropy, resolved.variant) == (0.3, -0.5, "paper")
