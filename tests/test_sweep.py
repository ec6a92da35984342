"""`lsp sweep` (grid, kill and restart, Ray backend, SB3 peers), `lsp plot` and the results CSV."""

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tyro

from latent_space_policies.cli import main
from latent_space_policies.experiments.sweep import METHODS, SweepConfig, SweepError, load_sweep_file, plan, run_sweep
from latent_space_policies.logs import EVAL_FIELDS
from latent_space_policies.training import TrainConfig

TASKS = ("Pendulum-v1", "MountainCarContinuous-v0")
BUDGETS = {"Pendulum-v1": 300, "MountainCarContinuous-v0": 400}
TINY_TRAIN = """
[train]
learning_starts = 100
batch_size = 32
embedding_hidden = [32, 32]
tensorboard = false
"""


def grid_file(tmp_path: Path, **keys) -> Path:
    values = dict(
        tasks=list(TASKS),
        methods=["sac-lsp", "sac"],
        seeds=[0, 1],
        output_dir=str(tmp_path / "out"),
        eval_every=100,
        eval_episodes=1,
        checkpoint_every=100,
        max_episode_steps=100,
    )
    values.update(keys)
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    lines += ["[steps]"] + [f'"{task}" = {steps}' for task, steps in BUDGETS.items()]
    path = tmp_path / "grid.toml"
    path.write_text("\n".join(lines) + "\n" + TINY_TRAIN)
    return path


@pytest.fixture(scope="module")
def jax_cache(tmp_path_factory):
    """One JAX compilation cache for the whole file: each network shape compiles once."""
    return tmp_path_factory.mktemp("jax_cache")


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch, jax_cache):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(jax_cache))


def events(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "sweep_log.jsonl").read_text().splitlines()]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def final_step(run_dir: Path) -> int | None:
    from latent_space_policies.checkpoint import load_checkpoint

    if not (run_dir / "policy.lsp").exists():
        return None
    return int(load_checkpoint(run_dir / "policy.lsp", sections=())[1]["step"])


def checkpoint_step(run_dir: Path) -> int | None:
    from latent_space_policies.checkpoint import load_checkpoint

    if not (run_dir / "checkpoints" / "latest.lsp").exists():
        return None
    return int(load_checkpoint(run_dir / "checkpoints" / "latest.lsp", sections=())[1]["step"])


@pytest.mark.slow
def test_grid_is_killed_midway_then_completes_without_redoing_finished_runs(tmp_path):
    grid = grid_file(tmp_path)
    output = tmp_path / "out"
    command = [sys.executable, "-m", "latent_space_policies.cli", "sweep", str(grid), "--jobs", "1"]
    with open(tmp_path / "sweep.out", "w") as out:
        sweep = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    run_dirs = [output / f"{t}__{m}__{s}" for t in TASKS for m in ("sac-lsp", "sac") for s in (0, 1)]
    # Wait for a moment when one run has finished and another has a checkpoint but is not done;
    # freeze the sweep and its runs (each in its own session) to look, then kill them all, as a
    # crash would (or let them go on and look again).
    deadline = time.time() + 400
    while True:
        log = tmp_path / "sweep.out"
        assert sweep.poll() is None, "the sweep ended before it could be killed:\n" + log.read_text()
        assert time.time() < deadline, "no run got a checkpoint in time:\n" + log.read_text()
        if any((d / "policy.lsp").exists() for d in run_dirs) and any(
            (d / "checkpoints" / "latest.lsp").exists() and not (d / "policy.lsp").exists() for d in run_dirs
        ):
            os.killpg(sweep.pid, signal.SIGSTOP)  # starts nothing new from here on
            runs = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(sweep.pid)], capture_output=True, text=True).stdout.split()]
            for pid in runs:
                os.killpg(pid, signal.SIGSTOP)
            finished = {d.name: (d / "policy.lsp").stat().st_mtime_ns for d in run_dirs if (d / "policy.lsp").exists()}
            partial = {
                d.name: checkpoint_step(d)
                for d in run_dirs
                if (d / "checkpoints" / "latest.lsp").exists() and d.name not in finished
            }
            if finished and partial:
                for pid in runs + [sweep.pid]:
                    os.killpg(pid, signal.SIGKILL)
                sweep.wait()
                break
            for pid in runs + [sweep.pid]:
                os.killpg(pid, signal.SIGCONT)
        time.sleep(0.02)
    (name, resume_step), = partial.items()
    kept_rows = [r for r in read_csv(output / name / "eval.csv") if int(r["step"]) <= resume_step]
    untouched = [d.name for d in run_dirs if not (d / "run.log").exists()]
    assert untouched, "with --jobs 1 some runs must not have started yet"
    before = len(events(output))

    assert main(["sweep", str(grid), "--jobs", "1"]) == 0

    after = events(output)[before:]
    by_run = {d.name: [e["event"] for e in after if e["run"] == d.name] for d in run_dirs}
    for run in finished:  # skipped, not redone
        assert by_run[run] == ["skip"]
        assert (output / run / "policy.lsp").stat().st_mtime_ns == finished[run]
    assert by_run[name] == ["resume", "finished"]
    assert "--resume" in (output / name / "run.log").read_text()
    for run in untouched:
        assert by_run[run] == ["start", "finished"]
    # The resumed run kept its evaluations up to the checkpoint and did not repeat any.
    rows = read_csv(output / name / "eval.csv")
    assert rows[: len(kept_rows)] == kept_rows
    for d in run_dirs:
        task = d.name.split("__")[0]
        assert final_step(d) == BUDGETS[task]
        steps = [int(r["step"]) for r in read_csv(d / "eval.csv")]
        assert steps == list(range(100, BUDGETS[task] + 1, 100))
    # Method names became the right `lsp train` settings.
    for d in run_dirs:
        config = json.loads((d / "config.json").read_text())
        assert config["policy"] == ("lsp" if "__sac-lsp__" in d.name else "gaussian")
        assert config["embedding_hidden"] == [32, 32] and config["env_id"] == d.name.split("__")[0]

    # One tidy row per (run, evaluation), equal to the runs' own eval.csv rows.
    results = read_csv(output / "results.csv")
    expected = {
        (t, m, str(s), str(step))
        for t in TASKS
        for m in ("sac-lsp", "sac")
        for s in (0, 1)
        for step in range(100, BUDGETS[t] + 1, 100)
    }
    keys = [(r["task"], r["method"], r["seed"], r["step"]) for r in results]
    assert len(keys) == len(set(keys)) == len(expected) and set(keys) == expected
    assert list(results[0])[:3] == ["task", "method", "seed"] and set(EVAL_FIELDS) <= set(results[0])
    for r in results:
        own = {row["step"]: row for row in read_csv(output / f"{r['task']}__{r['method']}__{r['seed']}" / "eval.csv")}
        assert {k: r[k] for k in EVAL_FIELDS} == {k: own[r["step"]][k] for k in EVAL_FIELDS}

    # A third run does nothing; --collect-only rebuilds the same CSV.
    text = (output / "results.csv").read_text()
    (output / "results.csv").unlink()
    assert main(["sweep", "--collect-only", "--output-dir", str(output)]) == 0
    assert (output / "results.csv").read_text() == text
    before = len(events(output))
    assert main(["sweep", str(grid)]) == 0
    assert {e["event"] for e in events(output)[before:]} == {"skip"}


@pytest.mark.slow
def test_ray_backend_runs_a_grid(tmp_path):
    ray = pytest.importorskip("ray")
    config = load_sweep_file(grid_file(tmp_path, tasks=["Pendulum-v1"], methods=["sac"]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_sweep(config, backend="ray")
    finally:
        ray.shutdown()
    assert sorted(result.finished) == ["Pendulum-v1__sac__0", "Pendulum-v1__sac__1"] and not result.failed
    rows = read_csv(result.results_csv)
    assert sorted((r["seed"], r["step"]) for r in rows) == [(s, str(t)) for s in "01" for t in (100, 200, 300)]
    assert [e["backend"] for e in events(tmp_path / "out") if e["event"] == "start"] == ["ray", "ray"]


def test_ray_backend_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    grid = grid_file(tmp_path, tasks=["Pendulum-v1"], methods=["sac"], seeds=[0])
    assert main(["sweep", str(grid), "--backend", "ray"]) == 2
    assert "pip install 'latent-space-policies[ray]'" in capsys.readouterr().err


@pytest.mark.slow
def test_sb3_peers_run_through_the_sweep_and_resume(tmp_path):
    pytest.importorskip("stable_baselines3")
    grid = grid_file(tmp_path, tasks=["Pendulum-v1"], methods=["td3", "ppo-small"], seeds=[0])
    grid.write_text(
        grid.read_text()
        + '\n[peer]\nlearning_starts = 100\n[method.ppo-small]\nbase = "ppo"\nn_steps = 64\nbatch_size = 32\n'
    )
    output = tmp_path / "out"
    assert main(["sweep", str(grid)]) == 0
    for method in ("td3", "ppo-small"):
        run = output / f"Pendulum-v1__{method}__0"
        rows = read_csv(run / "eval.csv")
        assert list(rows[0]) == EVAL_FIELDS
        assert [int(r["step"]) for r in rows] == [100, 200, 300]
        for r in rows:
            for mode in ("stochastic", "deterministic"):  # 100 Pendulum steps, each rewarded in [-16.3, 0]
                assert -1700 < float(r[f"return_{mode}_mean"]) <= 0
            assert float(r["length_deterministic_mean"]) == 100
        assert json.loads((run / "done.json").read_text())["steps"] == 300
        assert (run / "policy.zip").exists()
        settings = json.loads((run / "config.json").read_text())["settings"]
        if method == "td3":  # deterministic only: both columns hold the deterministic return
            assert all(r["return_stochastic_mean"] == r["return_deterministic_mean"] for r in rows)
            assert settings["net_arch"] == [128, 128] and settings["learning_starts"] == 100
        else:
            assert settings["algo"] == "ppo" and settings["n_steps"] == 64 and settings["batch_size"] == 32
            assert any(r["return_stochastic_mean"] != r["return_deterministic_mean"] for r in rows)
    # A larger budget continues the td3 run from its checkpoint and keeps its first evaluations.
    td3 = output / "Pendulum-v1__td3__0"
    first = read_csv(td3 / "eval.csv")
    before = len(events(output))
    assert main(["sweep", str(grid), "--methods", "td3", "--steps", "400"]) == 0
    assert [e["event"] for e in events(output)[before:]] == ["resume", "finished"]
    rows = read_csv(td3 / "eval.csv")
    assert rows[:3] == first and [int(r["step"]) for r in rows] == [100, 200, 300, 400]
    assert json.loads((td3 / "done.json").read_text())["steps"] == 400
    assert "resuming td3 from step 300" in (td3 / "run.log").read_text()


def test_peers_without_stable_baselines3_say_how_to_install(tmp_path, monkeypatch, capsys):
    from latent_space_policies.experiments.peers import PeerConfig, PeerError, train_peer

    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # import -> ImportError
    with pytest.raises(PeerError, match=r"pip install torch==2.13.0 && pip install 'latent-space-policies\[peers\]'"):
        train_peer(PeerConfig(algo="td3", run_dir=str(tmp_path / "run"), env_id="Pendulum-v1", total_steps=10))
    assert main(["sweep", str(grid_file(tmp_path)), "--methods", "sac", "td3"]) == 2
    assert "methods ['td3'] need Stable-Baselines3" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_peer_replay_is_held_to_the_run_and_enlarged_oldest_first_when_continued():
    """SB3 pickles its whole replay array at every checkpoint (1e6 x 348 float64 x 2 on Humanoid);
    the peers size it to the run, and a run continued to more steps gets room with its order kept."""
    pytest.importorskip("stable_baselines3")
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.buffers import ReplayBuffer

    from latent_space_policies.experiments.peers import PeerConfig, _enlarge_replay, replay_capacity

    assert replay_capacity(PeerConfig(algo="td3", run_dir="r", total_steps=200_000)) == 200_000
    assert replay_capacity(PeerConfig(algo="td3", run_dir="r", total_steps=5_000_000)) == 1_000_000
    box = gym.spaces.Box(-1.0, 1.0, (2,))
    model = type("Model", (), {})()
    model.replay_buffer = ReplayBuffer(5, box, box, device="cpu")
    for i in range(7):  # wraps: slots hold 5, 6, 2, 3, 4
        value = np.full((1, 2), i, np.float32)
        model.replay_buffer.add(value, value + 0.5, value, np.array([i]), np.array([i % 2]), [{}])
    _enlarge_replay(model, 9)
    grown = model.replay_buffer
    assert (grown.buffer_size, model.buffer_size, grown.pos, grown.full) == (9, 9, 5, False)
    assert grown.observations[:5, 0, 0].tolist() == [2, 3, 4, 5, 6]
    assert grown.next_observations[:5, 0, 0].tolist() == [2.5, 3.5, 4.5, 5.5, 6.5]
    assert grown.rewards[:5, 0].tolist() == [2, 3, 4, 5, 6] and grown.dones[:5, 0].tolist() == [0, 1, 0, 1, 0]
    for i in range(7, 12):  # new transitions go after the old ones, then wrap over the oldest
        value = np.full((1, 2), i, np.float32)
        grown.add(value, value, value, np.array([i]), np.array([0]), [{}])
    assert grown.observations[:, 0, 0].tolist() == [11, 3, 4, 5, 6, 7, 8, 9, 10] and grown.full
    _enlarge_replay(model, 4)  # never shrinks
    assert model.replay_buffer is grown


def test_peer_replay_held_to_the_run_trains_exactly_as_the_full_capacity(tmp_path, monkeypatch):
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import TD3

    from latent_space_policies.experiments import peers

    def run(name: str) -> dict:
        config = peers.PeerConfig(algo="td3", env_id="Pendulum-v1", seed=3, total_steps=300, learning_starts=100,
                                  eval_every=300, eval_episodes=1, run_dir=str(tmp_path / name))  # fmt: skip
        peers.train_peer(config)
        return TD3.load(tmp_path / name / "policy.zip", device="cpu").policy.state_dict()

    held = run("held")
    monkeypatch.setattr(peers, "replay_capacity", lambda config: config.buffer_size)
    full = run("full")
    assert TD3.load(tmp_path / "full" / "policy.zip").buffer_size == 1_000_000
    assert TD3.load(tmp_path / "held" / "policy.zip").buffer_size == 300
    assert held.keys() == full.keys() and all(torch.equal(held[k], full[k]) for k in held)


def test_methods_become_valid_train_settings():
    methods = ("sac-lsp", "sac", "sac-gmm", "sql")
    config = SweepConfig(tasks=("Pendulum-v1",), methods=methods, steps=500, output_dir="x")
    for run in plan(config):
        args = run.command(config)
        assert args[:2] == ["latent_space_policies.cli", "train"]
        parsed = tyro.cli(TrainConfig, args=args[2:])
        for key, value in METHODS[run.method.name].settings.items():
            assert getattr(parsed, key) == value
        assert (parsed.env_id, parsed.total_steps, parsed.run_name) == ("Pendulum-v1", 500, run.name)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--methods", "nope"], "unknown method(s) 'nope'; known: sac-lsp, sac"),
        (["--tasks", "NoSuchTask-v0"], "unknown task 'NoSuchTask-v0'"),
    ],
)
def test_unknown_method_or_task_is_a_clear_error(tmp_path, capsys, flags, message):
    assert main(["sweep", str(grid_file(tmp_path)), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_unknown_setting_in_the_grid_file_is_a_clear_error(tmp_path, capsys):
    grid = grid_file(tmp_path)
    grid.write_text(grid.read_text() + "no_such_train_setting = 3\n")
    assert main(["sweep", str(grid)]) == 2
    assert "no_such_train_setting" in capsys.readouterr().err
    grid = grid_file(tmp_path)
    grid.write_text(grid.read_text() + '\n[method.odd]\nbase = "sac"\npolicy = "nonsense"\n')
    assert main(["sweep", str(grid), "--methods", "odd"]) == 2
    assert "policy='nonsense'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["sweep", "hierarchy"])
def test_missing_or_broken_toml_is_a_one_line_error(tmp_path, capsys, command):
    assert main([command, str(tmp_path / "absent.toml")]) == 2
    assert "not found: " in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("tasks = [\n")
    assert main([command, str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken.toml is not valid TOML" in err and len(err.strip().splitlines()) == 1


def test_changed_method_settings_are_refused_for_an_existing_run(tmp_path, capsys):
    grid = grid_file(tmp_path, tasks=["Pendulum-v1"], methods=["mine"], seeds=[0])
    grid.write_text(grid.read_text() + '\n[method.mine]\nbase = "sac"\nvariant = "paper"\n')
    run = tmp_path / "out" / "Pendulum-v1__mine__0"
    run.mkdir(parents=True)
    (run / "sweep_run.json").write_text(json.dumps({"runner": "lsp", "settings": {"variant": "modern"}}))
    assert main(["sweep", str(grid)]) == 2
    assert "was started with other settings" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ lsp plot

FIELDS = ["task", "method", "seed", "step", "return_stochastic_mean", "return_deterministic_mean"]
HEADER = ",".join(FIELDS) + "\n"


def write_results(path: Path, rows: list[tuple]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        writer.writerows(rows)
    return path


def test_plot_writes_a_figure_and_a_table_of_final_returns(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rows = []
    for seed, offset in ((0, 0.0), (1, 10.0)):
        for step in (100, 200, 300):
            rows.append(("Hopper-v5", "sac-lsp", seed, step, step + offset, -step))
            rows.append(("Hopper-v5", "td3", seed, step, 2 * step + offset, 0))
    rows.append(("Hopper-v5", "td3", 2, 100, 0, 0))  # a third td3 seed that stopped at step 100
    rows.append(("Hopper-v5", "sql", 0, 100, 7, 0))  # a method none of whose runs reached 300 yet
    for seed in (0, 1, 2):
        rows.append(("Walker2d-v5", "sac-lsp", seed, 50, 3 * seed, 0))
    results = write_results(tmp_path / "results.csv", rows)
    assert main(["plot", str(results)]) == 0
    figure = tmp_path / "learning_curves.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    table = (tmp_path / "final_returns.md").read_text()
    assert table in capsys.readouterr().out
    lines = table.splitlines()
    assert lines[2] == "| method | Hopper-v5 @ 300 steps | Walker2d-v5 @ 50 steps |"
    # At Hopper's last step, 300: sac-lsp {300, 310}; td3 {600, 610}, its seed 2 still at step 100.
    assert lines[4] == "| sac-lsp | 305.0 ± 5.0 (n=2) | 3.0 ± 2.4 (n=3) |"
    assert lines[5] == "| td3 | 605.0 ± 5.0 (n=2 of 3) | - |"
    assert lines[6] == "| sql | - (running: 100 steps) | - |"
    assert lines[-5:] == [  # each seed at the task's last step
        "| method | Hopper-v5 | Walker2d-v5 |",
        "|---|---|---|",
        "| sac-lsp | 300, 310 | 0.0, 3.0, 6.0 |",
        "| td3 | 600, 610, · | - |",
        "| sql | · | - |",
    ]
    assert main(["plot", str(results), "--metric", "deterministic", "--table", str(tmp_path / "d.md"),
                 "--figure", str(tmp_path / "d.pdf")]) == 0  # fmt: skip
    assert "| sac-lsp | -300.0 ± 0.0 (n=2) |" in (tmp_path / "d.md").read_text()
    assert main(["plot", str(results), "--no-make-figure", "--table", str(tmp_path / "o.md"),
                 "--tasks", "Walker2d-v5", "Hopper-v5", "--methods", "td3", "sac-lsp"]) == 0  # fmt: skip
    lines = (tmp_path / "o.md").read_text().splitlines()
    assert lines[2] == "| method | Walker2d-v5 @ 50 steps | Hopper-v5 @ 300 steps |"
    assert [line.split(" |")[0] for line in lines[4:6]] == ["| td3", "| sac-lsp"] and len(lines) == 13
    capsys.readouterr()
    assert main(["plot", str(results), "--no-make-figure", "--tasks", "Ant-v5"]) == 2
    assert "has no task 'Ant-v5'; it has Hopper-v5, Walker2d-v5" in capsys.readouterr().err
    assert (tmp_path / "d.pdf").read_bytes()[:4] == b"%PDF"


def test_average_last_scores_each_seed_by_the_mean_of_its_last_evaluations(tmp_path, capsys):
    rows = []
    for seed, offset in ((0, 0.0), (1, 10.0)):
        for step in (100, 200, 300):
            rows.append(("Hopper-v5", "sac-lsp", seed, step, step + offset, -step))
            rows.append(("Hopper-v5", "td3", seed, step, (step / 100) ** 2 + offset, 0))
    rows.append(("Hopper-v5", "td3", 2, 200, 0, 0))  # stopped short of step 300: left out
    rows.append(("Walker2d-v5", "sac-lsp", 0, 50, 1.0, 0))  # one evaluation only
    results = write_results(tmp_path / "results.csv", rows)
    table = tmp_path / "t.md"
    base = ["plot", str(results), "--no-make-figure", "--table", str(table)]
    assert main(base + ["--tasks", "Hopper-v5", "--average-last", "2"]) == 0
    lines = table.read_text().splitlines()
    assert "each seed scored by the mean of its last 2 evaluations" in lines[0]
    # sac-lsp: seed 0 (200 + 300) / 2 = 250, seed 1 260; td3: seed 0 (4 + 9) / 2 = 6.5, seed 1 16.5.
    assert lines[4] == "| sac-lsp | 255.0 ± 5.0 (n=2) |"
    assert lines[5] == "| td3 | 11.5 ± 5.0 (n=2 of 3) |"
    assert lines[-2:] == ["| sac-lsp | 250, 260 |", "| td3 | 6.5, 16.5, · |"]
    assert main(base + ["--tasks", "Hopper-v5", "--average-last", "3"]) == 0  # all three: 200 and 210
    assert "| sac-lsp | 205.0 ± 5.0 (n=2) |" in table.read_text()
    assert main(base + ["--tasks", "Hopper-v5", "--average-last", "1"]) == 0
    assert "| sac-lsp | 305.0 ± 5.0 (n=2) |" in table.read_text()  # the return at the last step
    capsys.readouterr()
    assert main(base + ["--average-last", "2"]) == 2
    err = capsys.readouterr().err
    assert "Walker2d-v5 / sac-lsp / seed 0 has only 1 evaluation(s) up to step 50; ask for at most 1" in err
    assert main(base + ["--average-last", "0"]) == 2
    assert "--average-last must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("task,method,seed,step\nHopper-v5,sac,0,100\n", "has no column(s) return_stochastic_mean"),
        (HEADER, "has a header but no rows"),
        (HEADER + "Hopper-v5,sac,0,100,12.5,1\nHopper-v5,sac,0,200,lots,1\n", "line 3: return_stochastic_mean is 'lots'"),
        (HEADER + "Hopper-v5,sac,0,1e2x,12.5,1\n", "line 2: step is '1e2x'"),
        (HEADER + "Hopper-v5,sac,0,100,1,1\nHopper-v5,sac,0,100,2,1\n", "a second row for Hopper-v5 / sac / seed 0"),
        (HEADER + "Hopper-v5,sac,0.5,100,1,1\n", "seed is '0.5', not an integer"),
    ],
)
def test_malformed_results_give_a_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "results.csv"
    path.write_text(content)
    assert main(["plot", str(path), "--no-make-figure"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "final_returns.md").exists()


def test_without_matplotlib_the_figure_is_a_clear_error_and_the_table_still_works(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import -> ImportError
    results = write_results(tmp_path / "results.csv", [("Hopper-v5", "sac", 0, 100, 5.0, 1.0)])
    assert main(["plot", str(results)]) == 2
    assert "pip install 'latent-space-policies[plot]'" in capsys.readouterr().err
    assert main(["plot", str(results), "--no-make-figure"]) == 0
    assert "| sac | 5.0 (n=1) |" in (tmp_path / "final_returns.md").read_text()  # no ± for one seed
    assert not (tmp_path / "learning_curves.png").exists()


def test_missing_results_file_is_a_clear_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing.csv")]) == 2
    assert "results file not found" in capsys.readouterr().err


def test_curves_leave_out_a_seed_still_running_instead_of_cutting_every_curve_short():
    from latent_space_policies.experiments.report import mean_curve

    steps, mean, std = mean_curve({0: {1: 1.0, 2: 2.0}, 1: {1: 3.0, 2: 4.0}, 2: {1: 10.0}})
    assert steps.tolist() == [1, 2] and mean.tolist() == [2.0, 3.0] and std.tolist() == [1.0, 1.0]
    steps, mean, _ = mean_curve({0: {1: 1.0, 2: 2.0, 3: 5.0}, 1: {2: 4.0, 3: 7.0}})  # different first steps
    assert steps.tolist() == [2, 3] and mean.tolist() == [3.0, 6.0]
    assert mean_curve({0: {}})[0].size == 0


def fake_run(output: Path, task: str, method: str, seed: int, returns: list[float]) -> None:
    """A run folder as a sweep leaves it, without training: sweep_run.json and eval.csv."""
    run_dir = output / f"{task}__{method}__{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "sweep_run.json").write_text(json.dumps({"task": task, "method": method, "seed": seed}))
    with open(run_dir / "eval.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["step", "return_stochastic_mean"])
        writer.writeheader()
        writer.writerows({"step": 100 * (i + 1), "return_stochastic_mean": r} for i, r in enumerate(returns))


def test_collect_merges_into_results_of_earlier_sessions(tmp_path, capsys):
    """--merge keeps the runs of the existing CSV that the folder lacks; a run in both takes the folder's rows."""
    results = tmp_path / "fig.csv"
    fake_run(tmp_path / "first", "Hopper-v5", "sac", 0, [1.0, 2.0])
    fake_run(tmp_path / "first", "Hopper-v5", "sql", 0, [5.0, 6.0, 7.0])  # interrupted, redone later
    assert main(["sweep", "--collect-only", "--output-dir", str(tmp_path / "first"), "--results", str(results)]) == 0
    fake_run(tmp_path / "second", "Hopper-v5", "sql", 0, [8.0])
    fake_run(tmp_path / "second", "Walker2d-v5", "sac", 0, [3.0])
    second = ["sweep", "--collect-only", "--output-dir", str(tmp_path / "second"), "--results", str(results)]
    assert main(second + ["--merge"]) == 0
    assert "kept 2 rows of other runs" in capsys.readouterr().out
    rows = [(r["task"], r["method"], r["seed"], r["step"], float(r["return_stochastic_mean"])) for r in read_csv(results)]
    assert rows == [
        ("Hopper-v5", "sac", "0", "100", 1.0),
        ("Hopper-v5", "sac", "0", "200", 2.0),
        ("Hopper-v5", "sql", "0", "100", 8.0),
        ("Walker2d-v5", "sac", "0", "100", 3.0),
    ]
    assert main(second) == 0  # without --merge the file holds this folder's runs only
    assert {r["task"] for r in read_csv(results)} == {"Hopper-v5", "Walker2d-v5"} and len(read_csv(results)) == 2
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert main(["sweep", "--collect-only", "--output-dir", str(tmp_path / "second"), "--results",
                 str(tmp_path / "other.csv"), "--merge"]) == 2  # fmt: skip
    assert "not a results CSV of lsp sweep" in capsys.readouterr().err


def test_seed_order_starts_every_task_and_method_at_one_seed_before_the_next():
    config = SweepConfig(tasks=TASKS, methods=("sac-lsp", "sac"), seeds=(3, 1), steps=500, output_dir="x")
    by_task = [(r.task, r.method.name, r.seed) for r in plan(config)]
    assert by_task[:3] == [(TASKS[0], "sac-lsp", 3), (TASKS[0], "sac-lsp", 1), (TASKS[0], "sac", 3)]
    by_seed = [(r.task, r.method.name, r.seed) for r in plan(dataclasses.replace(config, order="seed"))]
    assert sorted(by_seed) == sorted(by_task)
    assert [seed for _, _, seed in by_seed] == [3, 3, 3, 3, 1, 1, 1, 1]
    assert by_seed[:4] == [(t, m, 3) for t in TASKS for m in ("sac-lsp", "sac")]
    with pytest.raises(SweepError, match="unknown order 'method'"):
        plan(dataclasses.replace(config, order="method"))


def test_merge_skips_runs_the_results_csv_has_at_their_budget(tmp_path, capsys):
    """`lsp sweep GRID --results all.csv --merge` runs only what the grid still lacks."""
    grid = grid_file(tmp_path, tasks=["Pendulum-v1"], methods=["sac", "sql"], seeds=[0, 1])
    budget = BUDGETS["Pendulum-v1"]
    results = write_results(
        tmp_path / "all.csv",
        [("Pendulum-v1", "sac", 0, budget, -150.0, -140.0),  # finished in an earlier session
         ("Pendulum-v1", "sac", 1, budget - 100, -900.0, -900.0),  # cut short there: to redo
         ("Pendulum-v1", "sql", 0, budget, -200.0, -190.0)],
    )  # fmt: skip
    config = load_sweep_file(grid)
    held = next(r for r in plan(config) if r.name == "Pendulum-v1__sql__0")  # also started here: the folder's run wins
    held.run_dir.mkdir(parents=True)
    (held.run_dir / "sweep_run.json").write_text(json.dumps(held.info(config)))
    assert main(["sweep", str(grid), "--results", str(results), "--merge", "--dry-run"]) == 0
    lines = [line.rsplit(" ", 1) for line in capsys.readouterr().out.splitlines() if ": python" not in line]
    states = {name: state.strip() for state, name in lines}
    assert states == {
        "Pendulum-v1__sac__0": "in all.csv",
        "Pendulum-v1__sac__1": "new",
        "Pendulum-v1__sql__0": "new",
        "Pendulum-v1__sql__1": "new",
    }
    assert main(["sweep", str(grid), "--results", str(results), "--dry-run"]) == 0  # no --merge: no skipping
    assert "in all.csv" not in capsys.readouterr().out
    # A grid whose every run is in the CSV runs nothing, and says why in the event log.
    only = ["--methods", "sac", "--seeds", "0"]
    assert main(["sweep", str(grid), *only, "--results", str(results), "--merge"]) == 0
    assert not (tmp_path / "out" / "Pendulum-v1__sac__0").exists()
    assert events(tmp_path / "out")[-1]["reason"] == f"finished, in {results}"
    assert len(read_csv(results)) == 3


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_run_pinned_passes_a_stop_signal_on_as_one_ctrl_c_and_starts_nothing_new(tmp_path, stop):
    """`lsp experiment`, `lsp sweep` (the same PinnedJobs) and the benchmark drivers: a stop signal
    to the runner reaches each running job once as a Ctrl-C (so it saves and stops), the next job
    never starts, and the runner says so."""
    import os
    import signal
    import sys
    import threading
    import time

    from latent_space_policies.errors import TrainingInterrupted
    from latent_space_policies.experiments.sweep import run_pinned

    child = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: (open(sys.argv[1], 'a').write('ctrl-c\\n'), sys.exit(130)))\n"
        "open(sys.argv[1] + '.started', 'w').close()\n"
        "time.sleep(120)\n"  # ended by the stop signal long before
    )
    names = ("a", "b", "c")
    jobs = [(tmp_path / name, [sys.executable, "-c", child, str(tmp_path / f"{name}.txt")]) for name in names]
    signum = getattr(signal, stop)
    ignored = signal.getsignal(signum) == signal.SIG_IGN  # pytest under `nohup`: the runner keeps a hangup ignored
    if ignored:
        signal.signal(signum, signal.SIG_DFL)
    before = signal.getsignal(signum)
    cancelled = threading.Event()

    def stop_once_both_listen():  # a busy machine can take seconds to start a Python child
        started = [tmp_path / f"{name}.txt.started" for name in names[:2]]
        deadline = time.monotonic() + 60
        while not all(path.exists() for path in started) and time.monotonic() < deadline:
            if cancelled.wait(0.05):
                return
        time.sleep(0.5)  # the handler is installed before the file is written; margin for the write
        os.kill(os.getpid(), signum)

    stopper = threading.Thread(target=stop_once_both_listen, daemon=True)
    stopper.start()
    try:
        with pytest.raises(TrainingInterrupted, match="3 run.s. not finished .*re-run the same command"):
            run_pinned(jobs, 2)
    finally:
        cancelled.set()
        stopper.join()
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text() == "ctrl-c\n"  # exactly once
    assert not (tmp_path / "c.txt.started").exists()
    assert signal.getsignal(signum) == before  # the previous handler is back
    if ignored:
        signal.signal(signum, signal.SIG_IGN)


def test_a_benchmark_driver_stopped_by_a_signal_ends_with_one_line_and_status_130(capsys):
    """benchmarks/jobs.run_driver: the runner's interruption reaches the user as its message, not a
    traceback, with the status of a Ctrl-C."""
    import importlib.util
    from pathlib import Path

    from latent_space_policies.errors import TrainingInterrupted

    spec = importlib.util.spec_from_file_location("jobs", Path(__file__).parents[1] / "benchmarks" / "jobs.py")
    jobs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(jobs)

    def main():
        raise TrainingInterrupted("interrupted: 2 run(s) not finished (a, b); re-run the same command to continue")

    with pytest.raises(SystemExit) as exit_:
        jobs.run_driver(main)
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "interrupted: 2 run(s) not finished (a, b); re-run the same command to continue\n"
    jobs.run_driver(lambda: None)  # a driver that finishes returns normally


def test_run_pinned_under_nohup_leaves_a_hangup_ignored(tmp_path):
    import signal
    import sys

    from latent_space_policies.experiments.sweep import run_pinned

    child = "import signal, sys; open(sys.argv[1], 'w').write(str(signal.getsignal(signal.SIGHUP) == signal.SIG_IGN))"
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        [(_, code)] = run_pinned([(tmp_path / "a", [sys.executable, "-c", child, str(tmp_path / "a.txt")])], 1)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert code == 0 and (tmp_path / "a.txt").read_text() == "True"  # the job is nohup'd too
