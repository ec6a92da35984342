"""``lsp sweep``: a grid of runs (tasks x methods x seeds), one process per core, resumable.

Each run trains in its own folder OUTPUT/{task}__{method}__{seed} (a ``/`` in a task id becomes
``-``) as a subprocess: ``lsp train`` for our methods, ``python -m latent_space_policies.experiments.peers``
for the Stable-Baselines3 peers. By default as many runs go at a time as this process may use
cores, each pinned to its own core with ``taskset`` and single-threaded XLA / PyTorch / BLAS.
Re-running the same command skips finished runs (our ``policy.lsp`` / the peers' ``done.json``
at the run's budget), resumes interrupted ones from their checkpoints (ours: ``lsp train
--resume``, bit-exact; peers: their own checkpoints, not bit-exact) and starts the rest. At the
end every run's eval.csv is collected into one tidy CSV, OUTPUT/results.csv: columns task,
method, seed, then eval.csv's (step, return_stochastic_mean, ...), one row per (run, evaluation).

Files the sweep writes besides the runs' own: OUTPUT/{run}/sweep_run.json (what the run is; a
re-run with other settings for the same method name is refused), OUTPUT/{run}/run.log (its stdout
and stderr), OUTPUT/sweep_log.jsonl (one line per event: start, resume, skip, finished,
interrupted, failed) and OUTPUT/.jax_cache (a JAX compilation cache shared by the runs, so each
network shape compiles once; ``--no-jax-cache`` turns it off).

Ctrl-C (or SIGTERM / SIGHUP to the sweep) starts nothing new and passes one Ctrl-C to each running
run, which saves a checkpoint and stops; a second one kills them (:class:`PinnedJobs`). With ``--backend ray`` every run is one Ray task holding one
CPU (single-threaded, not pinned); OUTPUT must then be on a filesystem all Ray nodes see.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from latent_space_policies.errors import LSPError, TrainingInterrupted, UnknownEnvironmentError, read_toml

__all__ = ["METHODS", "Method", "SweepConfig", "Run", "load_sweep_file", "plan", "run_sweep", "collect"]

SINGLE_THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
RUN_INFO, RUN_LOG, EVENT_LOG, RESULTS = "sweep_run.json", "run.log", "sweep_log.jsonl", "results.csv"
ID_COLUMNS = ["task", "method", "seed"]
INTERRUPTED = 130  # exit status of `lsp train` and of the peers after Ctrl-C (checkpoint saved)


class SweepError(LSPError):
    """The grid is malformed, names something unknown, or some of its runs failed."""


# ------------------------------------------------------------------------------------------ methods


@dataclasses.dataclass(frozen=True)
class Method:
    """A named way of training: ``lsp train`` with some settings, or an SB3 peer."""

    name: str
    runner: Literal["lsp", "peer"]
    settings: Mapping[str, Any]
    """TrainConfig settings (runner 'lsp') or PeerConfig settings, ``algo`` included (runner 'peer')."""
    description: str = ""


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("sac-lsp", "lsp", {"policy": "lsp"}, "SAC with a latent space policy (ours): lsp train --policy lsp"),
        Method("sac", "lsp", {"policy": "gaussian"}, "SAC, tanh-Gaussian policy: lsp train --policy gaussian"),
        Method("sac-gmm", "lsp", {"policy": "gmm"}, "SAC, Gaussian-mixture policy: lsp train --policy gmm"),
        Method("sql", "lsp", {"algorithm": "sql"}, "soft Q-learning: lsp train --algorithm sql"),
        Method("ppo", "peer", {"algo": "ppo"}, "Stable-Baselines3 PPO (peers extra)"),
        Method("ddpg", "peer", {"algo": "ddpg"}, "Stable-Baselines3 DDPG (peers extra)"),
        Method("td3", "peer", {"algo": "td3"}, "Stable-Baselines3 TD3 (peers extra)"),
        Method("sb3-sac", "peer", {"algo": "sac"}, "Stable-Baselines3 SAC (peers extra)"),
    ]
}


def _settings_class(runner: str):
    if runner == "lsp":
        from latent_space_policies.training import TrainConfig

        return TrainConfig
    from latent_space_policies.experiments.peers import PeerConfig

    return PeerConfig


# Settings the sweep sets itself for every run; a method or [train]/[peer] table may not.
_SWEEP_OWNED = {"env_id", "seed", "total_steps", "output_dir", "run_name", "run_dir", "progress"}


def _literal_values(hint) -> tuple[list, bool]:
    """(allowed literal values, whether other values are allowed too) of a type hint."""
    if typing.get_origin(hint) is Literal:
        return list(typing.get_args(hint)), False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        literals, open_ = [], False
        for member in typing.get_args(hint):
            values, member_open = _literal_values(member)
            literals += values
            if member is type(None):
                literals.append(None)
            else:
                open_ = open_ or member_open
        return literals, open_
    return [], True


def check_settings(method_name: str, runner: str, settings: Mapping[str, Any]) -> None:
    """Every key must be a setting of ``lsp train`` (or of the peers) with an allowed value."""
    cls = _settings_class(runner)
    hints = typing.get_type_hints(cls)
    what = "lsp train" if runner == "lsp" else "the SB3 peers (python -m latent_space_policies.experiments.peers)"
    for key, value in settings.items():
        if key in _SWEEP_OWNED:
            raise SweepError(f"method {method_name!r}: {key!r} is set by the sweep for every run; remove it")
        if key not in hints:
            raise SweepError(
                f"method {method_name!r} sets {key!r}, which is not a setting of {what} in this version of "
                f"latent-space-policies; see its --help for the settings there are"
            )
        allowed, open_ = _literal_values(hints[key])
        if allowed and not open_ and value not in allowed:
            raise SweepError(
                f"method {method_name!r} sets {key}={value!r}, but this version of {what} allows only "
                f"{', '.join(map(repr, allowed))}"
            )


def _flags(cls, settings: Mapping[str, Any]) -> list[str]:
    """Command-line flags (tyro's spelling) for ``settings`` of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    flags: list[str] = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if hints.get(key) is bool:
            flags.append(flag if value else "--no-" + key.replace("_", "-"))
        elif value is None:
            flags += [flag, "None"]
        elif isinstance(value, (list, tuple)):
            flags += [flag, *map(str, value)]
        else:
            flags += [flag, str(value)]
    return flags


# ------------------------------------------------------------------------------------------ the grid


@dataclasses.dataclass
class SweepConfig:
    """A grid of runs. Read from a TOML file (:func:`load_sweep_file`) and/or given directly."""

    tasks: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    steps: int | dict[str, int] | None = None
    """Env steps per run: one number for every task, a table task -> steps, or None (the preset's)."""
    output_dir: str = "sweeps/sweep"
    eval_every: int = 10_000
    eval_episodes: int = 5
    checkpoint_every: int = 50_000
    max_episode_steps: int | None = 1000
    order: Literal["task", "seed"] = "task"
    """Order in which runs start: 'task' (task, then method, then seed) or 'seed' (every task and
    method at the first seed before any at the next: a grid cut short has the most cells filled)."""
    jobs: int | None = None
    """Runs at a time; default: one per core in ``cores``."""
    cores: tuple[int, ...] | None = None
    """Cores to pin runs to; default: the cores this process may run on."""
    pin: bool = True
    jax_cache: bool = True
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra ``lsp train`` settings for every run of our methods."""
    peer: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra peer settings for every SB3 run."""
    method: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Custom methods: name -> {"base": a known method, setting: value, ...}."""

    def budget(self, task: str) -> int:
        if isinstance(self.steps, int):
            return self.steps
        if isinstance(self.steps, dict) and task in self.steps:
            return int(self.steps[task])
        from latent_space_policies.presets import get_preset

        return get_preset(task).total_steps

    def method_table(self) -> dict[str, Method]:
        """Built-in methods plus the custom ones of ``[method.NAME]`` tables."""
        table = dict(METHODS)
        for name, definition in self.method.items():
            if not isinstance(definition, dict) or "base" not in definition:
                raise SweepError(
                    f"[method.{name}] needs base = one of {', '.join(table)} (the method it changes), "
                    "then the settings it changes"
                )
            base = definition["base"]
            if base not in table:
                raise SweepError(f"[method.{name}]: unknown base method {base!r}; known: {', '.join(table)}")
            parent = table[base]
            settings = {**parent.settings, **{k: v for k, v in definition.items() if k != "base"}}
            table[name] = Method(name, parent.runner, settings, f"{base} with {settings}")
        return table


_FILE_KEYS = {f.name for f in dataclasses.fields(SweepConfig)}


def load_sweep_file(path: str | os.PathLike) -> SweepConfig:
    """Read a grid from TOML (keys: the fields of :class:`SweepConfig`)."""
    document = read_toml(path, "sweep file", SweepError)
    unknown = sorted(set(document) - _FILE_KEYS)
    if unknown:
        raise SweepError(f"{path}: unknown keys {unknown}; allowed: {sorted(_FILE_KEYS)} (see lsp sweep --help)")
    values = dict(document)
    for key in ("tasks", "methods"):
        if key in values:
            if isinstance(values[key], str):
                values[key] = [values[key]]
            if not isinstance(values[key], list) or not all(isinstance(v, str) for v in values[key]):
                raise SweepError(f"{path}: {key} must be a list of strings, got {values[key]!r}")
            values[key] = tuple(values[key])
    if "seeds" in values:
        seeds = values["seeds"]
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            seeds = list(range(seeds))
        if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise SweepError(f"{path}: seeds must be a list of integers or a count, got {values['seeds']!r}")
        values["seeds"] = tuple(seeds)
    if "steps" in values and not isinstance(values["steps"], (int, dict)):
        raise SweepError(f"{path}: steps must be an integer or a table of task = steps, got {values['steps']!r}")
    if values.get("max_episode_steps") == 0:
        values["max_episode_steps"] = None  # TOML has no null: 0 means the environment's own limit
    if "cores" in values:
        values["cores"] = tuple(values["cores"])
    for table in ("train", "peer", "method"):
        if table in values and not isinstance(values[table], dict):
            raise SweepError(f"{path}: [{table}] must be a table")
    return SweepConfig(**values)


@dataclasses.dataclass(frozen=True)
class Run:
    task: str
    method: Method
    seed: int
    steps: int
    run_dir: Path

    @property
    def name(self) -> str:
        return self.run_dir.name

    def info(self, config: SweepConfig) -> dict:
        """What defines this run (recorded in RUN_DIR/sweep_run.json and checked on re-runs)."""
        return {
            "task": self.task,
            "method": self.method.name,
            "seed": self.seed,
            "steps": self.steps,
            "runner": self.method.runner,
            "settings": self.settings(config),
        }

    def settings(self, config: SweepConfig) -> dict:
        extra = config.train if self.method.runner == "lsp" else config.peer
        return {**extra, **self.method.settings, "max_episode_steps": config.max_episode_steps}

    def status(self) -> Literal["finished", "partial", "new"]:
        if self.method.runner == "peer":
            from latent_space_policies.experiments.peers import finished_steps, has_checkpoint

            done = finished_steps(self.run_dir)
            if done is not None and done >= self.steps:
                return "finished"
            return "partial" if has_checkpoint(self.run_dir) else "new"
        policy = self.run_dir / "policy.lsp"
        if policy.exists():
            from latent_space_policies.checkpoint import load_checkpoint

            try:
                _, metadata = load_checkpoint(policy, sections=())
                if int(metadata.get("step", -1)) >= self.steps:
                    return "finished"
            except LSPError:
                pass
        return "partial" if (self.run_dir / "checkpoints" / "latest.lsp").exists() else "new"

    def command(self, config: SweepConfig) -> list[str]:
        """Module arguments (run as ``python -m ...``) that start or continue this run."""
        common = {
            "eval_every": config.eval_every,
            "eval_episodes": config.eval_episodes,
            "checkpoint_every": config.checkpoint_every,
        }
        if self.method.runner == "lsp":
            from latent_space_policies.training import TrainConfig

            if (self.run_dir / "checkpoints" / "latest.lsp").exists():
                return [
                    "latent_space_policies.cli", "train", "--resume", str(self.run_dir),
                    "--total-steps", str(self.steps), "--no-progress", *_flags(TrainConfig, common),
                ]  # fmt: skip
            settings = {
                "env_id": self.task,
                "seed": self.seed,
                "total_steps": self.steps,
                "output_dir": str(self.run_dir.parent),
                "run_name": self.run_dir.name,
                "progress": False,
                **common,
                **self.settings(config),
            }
            return ["latent_space_policies.cli", "train", *_flags(TrainConfig, settings)]
        from latent_space_policies.experiments.peers import PeerConfig

        settings = {
            "env_id": self.task,
            "seed": self.seed,
            "total_steps": self.steps,
            "run_dir": str(self.run_dir),
            **common,
            **self.settings(config),
        }
        return ["latent_space_policies.experiments.peers", *_flags(PeerConfig, settings)]


def run_folder_name(task: str, method: str, seed: int) -> str:
    return f"{task.replace('/', '-')}__{method}__{seed}"


def _check_task(task: str) -> None:
    import gymnasium as gym

    import latent_space_policies.envs  # noqa: F401  (registers this package's tasks)

    try:
        gym.spec(task)
    except gym.error.Error as error:
        raise UnknownEnvironmentError(
            f"unknown task {task!r} ({error}); use a registered Gymnasium id such as Hopper-v5"
        ) from None


def plan(config: SweepConfig) -> list[Run]:
    """The grid's runs, after checking every task, method and setting (nothing is started)."""
    if not config.tasks:
        raise SweepError("no tasks: give them in the sweep file (tasks = [...]) or with --tasks")
    if not config.methods:
        raise SweepError(f"no methods: give them with methods = [...] or --methods; known: {', '.join(METHODS)}")
    if not config.seeds:
        raise SweepError("no seeds: give them with seeds = [...] or --seeds")
    table = config.method_table()
    unknown = [m for m in config.methods if m not in table]
    if unknown:
        raise SweepError(
            f"unknown method(s) {', '.join(map(repr, unknown))}; known: {', '.join(table)} "
            "(`lsp sweep --help` describes them)"
        )
    for task in config.tasks:
        _check_task(task)
    if isinstance(config.steps, dict):  # budgets of tasks left out of this sweep are fine; typos are not
        for task in sorted(set(config.steps) - set(config.tasks)):
            _check_task(task)
    if any(table[m].runner == "peer" for m in config.methods):
        import importlib.util

        if importlib.util.find_spec("stable_baselines3") is None:
            peers = sorted({m for m in config.methods if table[m].runner == "peer"})
            raise SweepError(
                f"methods {peers} need Stable-Baselines3: pip install torch==2.13.0 (the CPU build, first) "
                "&& pip install 'latent-space-policies[peers]'"
            )
    for name in dict.fromkeys(config.methods):
        method = table[name]
        shared = config.train if method.runner == "lsp" else config.peer
        check_settings(name, method.runner, {**shared, **method.settings})
    if config.order not in ("task", "seed"):
        raise SweepError(f"unknown order {config.order!r}: use 'task' or 'seed'")
    output = Path(config.output_dir)
    runs = []
    for task in config.tasks:
        steps = config.budget(task)
        if steps < 1:
            raise SweepError(f"the budget of {task} must be positive, got {steps}")
        for name in config.methods:
            for seed in config.seeds:
                runs.append(Run(task, table[name], seed, steps, output / run_folder_name(task, name, seed)))
    if config.order == "seed":
        runs.sort(key=lambda r: config.seeds.index(r.seed))  # stable: task, then method, within a seed
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise SweepError("two runs would share a folder: are tasks, methods or seeds listed twice?")
    return runs


# ------------------------------------------------------------------------------------------ running


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class _EventLog:
    def __init__(self, path: Path):
        self.path = path

    def write(self, run: str, event: str, **fields) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "run": run, "event": event, **fields}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        detail = f" ({', '.join(f'{k} {v}' for k, v in fields.items() if k != 'command')})" if fields else ""
        print(f"[{record['time'][11:]}] {event:<8} {run}{detail}", flush=True)


def run_environment(config: SweepConfig) -> dict[str, str]:
    """Environment variables of every run: single-threaded XLA / BLAS / PyTorch, CPU JAX, the cache."""
    env = dict(SINGLE_THREAD_ENV)
    env["JAX_PLATFORMS"] = os.environ.get("JAX_PLATFORMS", "cpu")
    env["PYTHONWARNINGS"] = os.environ.get("PYTHONWARNINGS", "ignore")
    if config.jax_cache:
        env["JAX_COMPILATION_CACHE_DIR"] = os.environ.get(
            "JAX_COMPILATION_CACHE_DIR", str((Path(config.output_dir) / ".jax_cache").resolve())
        )
    return env


def execute(module_args: Sequence[str], env: Mapping[str, str], log_path: str) -> int:
    """The body of a Ray task: ``python -m <module_args>`` with ``env`` added (this worker's Python),
    output appended to ``log_path``; returns the exit status."""
    command = [sys.executable, "-m", *module_args]
    with open(log_path, "a") as log:
        log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
        log.flush()
        proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            return proc.wait()
        except KeyboardInterrupt:  # ray.cancel: let the run save a checkpoint and stop
            proc.send_signal(signal.SIGINT)
            return proc.wait()


def available_cores() -> list[int]:
    """The cores this process may run on (``taskset -c 1 lsp ...`` confines its runs to core 1)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cores(config: SweepConfig) -> list[int]:
    return list(config.cores) if config.cores else available_cores()


class PinnedJobs:
    """Processes run ``parallel`` at a time, each pinned to its own core, that stop together.

    Used as a context manager around a loop that starts jobs while :attr:`can_start` and calls
    :meth:`reap` until nothing runs. Each job runs in its own session, so a Ctrl-C reaches it only
    through this process, and exactly once, whether the terminal sent it to the whole group or
    someone signalled this process alone: the first Ctrl-C, SIGTERM or SIGHUP (or :meth:`stop`)
    starts nothing new and passes one Ctrl-C to every running job, which saves a checkpoint and
    stops; a second signal kills them. Under ``nohup`` a hangup stays ignored. (Killing this process
    with SIGKILL leaves the jobs running to their end: stop them with a Ctrl-C or SIGTERM to this
    process instead.)
    """

    STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, cores: Sequence[int], parallel: int | None = None, pin: bool = True):
        if parallel is not None and parallel < 1:
            raise LSPError(f"--jobs {parallel}: give 1 or more (or leave it out: one per core)")
        self.cores = list(cores)
        self.free = list(range(parallel or len(self.cores)))
        self.pin = pin and shutil.which("taskset") is not None and sys.platform.startswith("linux")
        self.running: dict[int, tuple[subprocess.Popen, Any, Any]] = {}  # slot -> (process, key, log)
        self.received: list[int] = []
        self._previous: dict = {}

    def __enter__(self) -> "PinnedJobs":
        if threading.current_thread() is threading.main_thread():
            # A hangup that is ignored (`nohup lsp ...`) stays ignored, for this process and its jobs.
            watched = [s for s in self.STOP_SIGNALS if not (s == signal.SIGHUP and signal.getsignal(s) == signal.SIG_IGN)]
            self._previous = {s: signal.signal(s, self._on_signal) for s in watched}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        for process, _, log in self.running.values():  # only after an error in the caller's loop
            process.kill()
            process.wait()
            log.close()

    def _on_signal(self, signum, frame) -> None:
        self.received.append(signum)
        self._signal_running(signal.SIGINT if len(self.received) == 1 else signal.SIGKILL)

    def _signal_running(self, signum: int) -> None:
        for process, _, _ in list(self.running.values()):
            if process.poll() is None:
                process.send_signal(signum)

    def stop(self) -> None:
        """What the first Ctrl-C does: start nothing new, pass a Ctrl-C to the running jobs."""
        if not self.received:
            self.received.append(signal.SIGINT)
            self._signal_running(signal.SIGINT)

    @property
    def stopping(self) -> bool:
        return bool(self.received)

    @property
    def can_start(self) -> bool:
        return bool(self.free) and not self.stopping

    @property
    def next_core(self) -> int:
        return self.cores[self.free[0] % len(self.cores)]

    def start(self, key, command: Sequence[str], env: Mapping[str, str], log) -> int:
        """Start ``command`` (output to the open file ``log``, closed when the job ends) on the next free core."""
        core = self.next_core
        slot = self.free.pop(0)
        command = ["taskset", "-c", str(core), *command] if self.pin else list(command)
        process = subprocess.Popen(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.running[slot] = (process, key, log)
        return core

    def reap(self, wait: float = 0.2) -> list[tuple[Any, int]]:
        """Sleep ``wait`` seconds, then (key, exit status) of every job that has ended since the last call."""
        time.sleep(wait)
        ended = []
        for slot, (process, key, log) in list(self.running.items()):
            if process.poll() is not None:
                log.close()
                ended.append((key, process.returncode))
                del self.running[slot]
                self.free.append(slot)
        return ended


def run_pinned(
    jobs: Sequence[tuple[Path, list[str]]], parallel: int | None = None, cores: Sequence[int] | None = None
) -> list[tuple[Path, int]]:
    """Run (run folder, command) jobs ``parallel`` at a time (default: one per core), each pinned to
    its own core of ``cores`` (default: :func:`available_cores`) with single-threaded XLA / BLAS;
    a job's output is appended to ``<run>.log`` beside its folder. Returns (run, exit status) of
    each job in the order they ended. The plain runner of the benchmark drivers and of
    ``lsp experiment``; ``lsp sweep`` adds an event log and Ray on top.

    Ctrl-C or SIGTERM starts nothing new, passes a Ctrl-C to the running jobs (each saves its
    checkpoint and stops), waits for them and raises :class:`TrainingInterrupted` (see
    :class:`PinnedJobs`)."""
    pending, done = list(jobs), []
    env = {**os.environ, **SINGLE_THREAD_ENV, "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore")}
    with PinnedJobs(list(cores) if cores else available_cores(), parallel) as pool:
        while (pending and not pool.stopping) or pool.running:
            while pending and pool.can_start:
                run, command = pending.pop(0)
                run.parent.mkdir(parents=True, exist_ok=True)
                core = pool.start(run, command, env, open(run.parent / f"{run.name}.log", "a"))
                print(f"[{time.strftime('%H:%M:%S')}] start {run.name} (core {core})", flush=True)
            for run, code in pool.reap(1.0):
                print(f"[{time.strftime('%H:%M:%S')}] {run.name} exited with {code}", flush=True)
                done.append((run, code))
    if pool.stopping:
        unfinished = [run.name for run, code in done if code != 0] + [run.name for run, _ in pending]
        raise TrainingInterrupted(
            f"interrupted: {len(unfinished)} run(s) not finished ({', '.join(unfinished[:5])}"
            f"{', ...' if len(unfinished) > 5 else ''}); the running ones saved a checkpoint; "
            "re-run the same command to continue"
        )
    return done


@dataclasses.dataclass
class SweepResult:
    runs: list[Run]
    finished: list[str]
    failed: dict[str, int]
    results_csv: Path | None


def _run_local(jobs: list[tuple[Run, list[str]]], config: SweepConfig, env: dict, events: _EventLog) -> dict[str, int]:
    if config.pin and not (shutil.which("taskset") and sys.platform.startswith("linux")):
        print("note: taskset not found, runs are not pinned to cores", file=sys.stderr)
    pending = list(jobs)
    codes: dict[str, int] = {}
    # A run that stops on its own with the Ctrl-C status (someone signalled it alone) stops the sweep too.
    with PinnedJobs(_cores(config), config.jobs, config.pin) as pool:
        announced = False
        while pending or pool.running:
            if pool.stopping and not pool.running:
                break
            if pool.stopping and not announced:
                print("interrupted: waiting for the running runs to save a checkpoint (Ctrl-C again kills them)",
                      file=sys.stderr, flush=True)  # fmt: skip
                announced = True
            while pending and pool.can_start:
                run, module_args = pending.pop(0)
                events.write(run.name, "resume" if run.status() == "partial" else "start", core=pool.next_core)
                command = [sys.executable, "-m", *module_args]
                log = open(run.run_dir / RUN_LOG, "a")
                log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
                log.flush()
                pool.start(run, command, {**os.environ, **env}, log)
            for run, code in pool.reap():
                codes[run.name] = code
                if code == 0:
                    events.write(run.name, "finished")
                elif code == INTERRUPTED or pool.stopping:
                    events.write(run.name, "interrupted", returncode=code)
                    pool.stop()
                else:
                    events.write(run.name, "failed", returncode=code, log=str(run.run_dir / RUN_LOG))
    if pool.stopping:
        raise SweepError(
            "sweep interrupted; finished runs are kept and interrupted ones saved checkpoints. "
            f"Run the same command again to continue (output in {config.output_dir})"
        )
    return codes


def _connect_ray(config: SweepConfig, address: str | None) -> bool:
    """Connect to Ray (or start a local instance); True when this call started it."""
    try:
        import ray
    except ImportError:
        raise SweepError(
            "--backend ray needs Ray: pip install 'latent-space-policies[ray]' (or use the default --backend local)"
        ) from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = config.jobs or len(_cores(config))
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise SweepError(f"cannot connect to Ray at {address or 'a new local instance'}: {error}") from None
    return True


def _run_ray(jobs: list[tuple[Run, list[str]]], env: dict, events: _EventLog, started_here: bool) -> dict[str, int]:
    import ray

    # Each run is one Ray task holding one CPU; its process is single-threaded (not pinned: Ray
    # decides where it runs). Run folders must be on a filesystem every Ray node sees.
    remote = ray.remote(num_cpus=1, max_retries=0)(execute)
    references = {}
    codes: dict[str, int] = {}
    try:
        for run, module_args in jobs:
            events.write(run.name, "resume" if run.status() == "partial" else "start", backend="ray")
            log = str((run.run_dir / RUN_LOG).resolve())
            references[remote.remote(list(module_args), env, log)] = run
        while references:
            ready, _ = ray.wait(list(references), num_returns=1)
            run = references.pop(ready[0])
            try:
                code = int(ray.get(ready[0]))
            except ray.exceptions.RayError as error:
                code = -1
                print(f"{run.name}: Ray task failed: {error}", file=sys.stderr)
            codes[run.name] = code
            if code == 0:
                events.write(run.name, "finished")
            else:
                events.write(run.name, "failed", returncode=code, log=str(run.run_dir / RUN_LOG))
    except KeyboardInterrupt:
        print("interrupted: waiting for the running runs to save a checkpoint (Ctrl-C again stops waiting)",
              file=sys.stderr, flush=True)  # fmt: skip
        for reference in references:
            ray.cancel(reference)
        ray.wait(list(references), num_returns=len(references), timeout=300)
        raise SweepError("sweep interrupted; run the same command again to continue") from None
    finally:
        if started_here:
            ray.shutdown()
    return codes


def run_sweep(
    config: SweepConfig,
    *,
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    collect_only: bool = False,
    dry_run: bool = False,
    results: str | os.PathLike | None = None,
    merge: bool = False,
) -> SweepResult:
    """Run (or continue) the grid, then collect its eval.csv files into one tidy CSV (see :func:`collect`)."""
    # Absolute paths: Ray workers (and anyone reading run.log) need no knowledge of this cwd.
    config = dataclasses.replace(config, output_dir=str(Path(config.output_dir).resolve()))
    output = Path(config.output_dir)
    results_path = Path(results) if results else output / RESULTS
    if collect_only:
        path = collect(output, results_path, merge=merge)
        return SweepResult([], [], {}, path)
    if backend not in ("local", "ray"):
        raise SweepError(f"unknown backend {backend!r}: use 'local' or 'ray'")
    if config.jobs is not None and config.jobs < 1:
        raise SweepError(f"--jobs must be at least 1, got {config.jobs}")
    runs = plan(config)
    jobs: list[tuple[Run, list[str]]] = []
    finished: list[str] = []
    # With --merge, a run this folder does not hold that the results CSV already has at its budget
    # (a grid run over several sessions) is done: it is skipped and its rows are kept by the merge.
    done_elsewhere = _finished_in(results_path, runs) if merge else set()
    for run in runs:
        if run.name in done_elsewhere:
            finished.append(run.name)
            continue
        info = run.info(config)
        recorded_path = run.run_dir / RUN_INFO
        if recorded_path.exists():
            recorded = json.loads(recorded_path.read_text())
            now = json.loads(json.dumps(info))
            if (recorded.get("runner"), recorded.get("settings")) != (now["runner"], now["settings"]):
                raise SweepError(
                    f"{run.run_dir} was started with other settings ({recorded.get('settings')}, now "
                    f"{info['settings']}); give the changed method another name, or delete that folder"
                )
        status = run.status()
        if status == "finished":
            finished.append(run.name)
            continue
        jobs.append((run, run.command(config)))
    if dry_run:
        for run in runs:
            print(f"{'in ' + results_path.name if run.name in done_elsewhere else run.status():<9} {run.name}")
        for run, module_args in jobs:
            print(f"{run.name}: python -m {' '.join(module_args)}")
        return SweepResult(runs, finished, {}, None)

    ray_started = _connect_ray(config, address) if backend == "ray" and jobs else False
    output.mkdir(parents=True, exist_ok=True)
    events = _EventLog(output / EVENT_LOG)
    for name in finished:
        events.write(name, "skip", reason=f"finished, in {results_path}" if name in done_elsewhere else "finished")
    for run, _ in jobs:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(run.run_dir / RUN_INFO, json.dumps(run.info(config), indent=2))
    env = run_environment(config)
    if backend == "ray":
        codes = _run_ray(jobs, env, events, started_here=ray_started)
    else:
        codes = _run_local(jobs, config, env, events)
    finished += [name for name, code in codes.items() if code == 0]
    failed = {name: code for name, code in codes.items() if code != 0}
    started = any((r.run_dir / "eval.csv").exists() for r in runs)
    if started:
        path = collect(output, results_path, merge=merge)
    else:  # nothing ran here; with --merge the results CSV already holds every run
        path = results_path if merge and results_path.exists() else None
    if failed:
        names = ", ".join(sorted(failed))
        raise SweepError(
            f"{len(failed)} of {len(runs)} runs failed ({names}); see OUTPUT/RUN/{RUN_LOG} in {output}. "
            "Fix the cause and run the same command again: finished runs are skipped"
        )
    print(f"sweep done: {len(runs)} runs in {output}; results in {path}. Plot them with: lsp plot {path}")
    return SweepResult(runs, finished, failed, path)


# ------------------------------------------------------------------------------------------ results


def collect(
    output_dir: str | os.PathLike, destination: str | os.PathLike | None = None, merge: bool = False
) -> Path:
    """Every run's eval.csv under ``output_dir`` in one tidy CSV (atomic write); returns its path.

    A run is a folder holding sweep_run.json. Rows: one per (run, evaluation), sorted by task,
    method, seed and step; columns: task, method, seed, then the union of the eval.csv columns.
    With ``merge``, the runs already in ``destination`` that ``output_dir`` does not hold are kept
    (a grid collected over several sessions or machines); a run in both gets this folder's rows.
    """
    from latent_space_policies.logs import EVAL_FIELDS

    output = Path(output_dir)
    destination = Path(destination) if destination else output / RESULTS
    infos = sorted(output.glob(f"*/{RUN_INFO}"))
    if not infos:
        raise SweepError(f"no sweep runs in {output} (folders with {RUN_INFO}); run `lsp sweep` first")
    columns = list(EVAL_FIELDS)
    rows: list[dict] = []
    short = 0
    here: set[tuple[str, str, str]] = set()  # the runs this folder holds, as (task, method, seed)
    for info_path in infos:
        info = json.loads(info_path.read_text())
        here.add((info["task"], info["method"], str(info["seed"])))
        eval_csv = info_path.parent / "eval.csv"
        if not eval_csv.exists():
            continue
        with open(eval_csv, newline="") as handle:
            reader = csv.DictReader(handle)
            for name in reader.fieldnames or []:
                if name not in columns:
                    columns.append(name)
            for row in reader:
                if not _complete(row):
                    short += 1  # a line cut short by a killed process
                    continue
                rows.append({"task": info["task"], "method": info["method"], "seed": info["seed"], **row})
    kept = 0
    if merge and destination.exists():
        for row in _read_results(destination, columns):
            if (row["task"], row["method"], str(row["seed"])) not in here:
                rows.append(row)
                kept += 1
    rows.sort(key=lambda r: (r["task"], r["method"], int(r["seed"]), int(float(r["step"]))))
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ID_COLUMNS + columns, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, destination)
    note = f" ({short} incomplete lines left out)" if short else ""
    note += f"; kept {kept} rows of other runs already there" if merge else ""
    print(f"collected {len(rows) - kept} evaluations of {len(infos)} runs into {destination}{note}")
    return destination


def _finished_in(results: Path, runs: list[Run]) -> set[str]:
    """Names of the ``runs`` that this sweep's folder does not hold and whose rows in ``results`` reach their budget."""
    if not results.exists():
        return set()
    last: dict[tuple[str, str, str], int] = {}
    for row in _read_results(results, []):
        key = (row["task"], row["method"], str(row["seed"]))
        last[key] = max(last.get(key, 0), int(float(row["step"])))
    return {
        run.name
        for run in runs
        if not (run.run_dir / RUN_INFO).exists()
        and last.get((run.task, run.method.name, str(run.seed)), -1) >= run.steps
    }


def _complete(row: dict) -> bool:
    """False for a CSV line cut short (by a process killed while writing it)."""
    return bool(row.get("step")) and None not in row.values()


def _read_results(path: Path, columns: list[str]) -> list[dict]:
    """The rows of an existing results CSV (for ``merge``); new columns are appended to ``columns``."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ID_COLUMNS + ["step"] if c not in (reader.fieldnames or [])]
        if missing:
            raise SweepError(
                f"{path} is not a results CSV of lsp sweep (no {', '.join(missing)} column): "
                "merge into a CSV that `lsp sweep` wrote, or collect without --merge"
            )
        for name in reader.fieldnames or []:
            if name not in columns and name not in ID_COLUMNS:
                columns.append(name)
        return [row for row in reader if _complete(row)]
