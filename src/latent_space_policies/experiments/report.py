"""``lsp plot``: learning curves (paper Fig. 3 style) and a table of final returns from a tidy CSV.

The input is what ``lsp sweep`` collects (OUTPUT/results.csv): one row per (run, evaluation) with
columns task, method, seed, step and return_{stochastic,deterministic}_mean. Everything here is
computed from that file alone.

- Curves: one panel per task, one line per method: the mean over seeds of the evaluation return
  against environment steps, shaded +- one standard deviation (over seeds, ``numpy.std``, ddof 0).
  A method's curve covers the steps that every one of its seeds has reached.
- Table: per task, its last step (the furthest any of its runs got: the budget, once one has
  finished) and each method's mean +- std there over the seeds that reached it, with their number;
  then each seed's return at that step. With ``average_last`` K > 1 (``lsp plot --average-last K``)
  a seed's score is instead the mean of its last K evaluations up to that step: a single
  evaluation (a few episodes) is noisy, and the average shows whether a ranking at the last step
  is a fluke of that evaluation.
- Panels and rows follow the order of the file, or the ``tasks`` / ``methods`` asked for.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Literal

import numpy as np

from latent_space_policies.errors import LSPError

__all__ = ["ResultsError", "read_results", "final_returns", "final_returns_markdown", "plot_learning_curves", "report"]

Metric = Literal["stochastic", "deterministic"]


class ResultsError(LSPError):
    """The results CSV is missing, empty or malformed."""


# (task, method) -> seed -> {step: return}
Curves = dict[tuple[str, str], dict[int, dict[int, float]]]


def read_results(path: str | os.PathLike, metric: Metric = "stochastic") -> tuple[Curves, list[str], list[str]]:
    """Parse and check the tidy CSV. Returns (curves, tasks in file order, methods in file order)."""
    path = Path(path)
    column = f"return_{metric}_mean"
    required = ["task", "method", "seed", "step", column]
    expected = f"expected the tidy CSV of `lsp sweep` (columns {', '.join(required)}, ...)"
    try:
        handle = open(path, newline="")
    except FileNotFoundError:
        raise ResultsError(
            f"results file not found: {path}; run `lsp sweep` (or `lsp sweep --collect-only`) first"
        ) from None
    except OSError as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise ResultsError(f"{path} is empty; {expected}")
            missing = [c for c in required if c not in header]
            if missing:
                raise ResultsError(f"{path} has no column(s) {', '.join(missing)}; {expected}")
            curves: Curves = {}
            tasks: dict[str, None] = {}
            methods: dict[str, None] = {}
            for line, row in enumerate(reader, start=2):
                values = {}
                for name in ("seed", "step", column):
                    text = row.get(name)
                    try:
                        values[name] = float(text)  # type: ignore[arg-type]
                    except (TypeError, ValueError):
                        raise ResultsError(f"{path}, line {line}: {name} is {text!r}, not a number") from None
                    if not math.isfinite(values[name]):
                        raise ResultsError(f"{path}, line {line}: {name} is {text!r}, not a finite number")
                for name in ("seed", "step"):
                    if values[name] != int(values[name]):
                        raise ResultsError(f"{path}, line {line}: {name} is {row[name]!r}, not an integer")
                task, method = row["task"], row["method"]
                if not task or not method:
                    raise ResultsError(f"{path}, line {line}: empty task or method")
                tasks.setdefault(task)
                methods.setdefault(method)
                series = curves.setdefault((task, method), {}).setdefault(int(values["seed"]), {})
                step = int(values["step"])
                if step in series:
                    raise ResultsError(
                        f"{path}, line {line}: a second row for {task} / {method} / seed {int(values['seed'])} "
                        f"at step {step}; each (run, evaluation) must appear once"
                    )
                series[step] = values[column]
        except csv.Error as error:
            raise ResultsError(f"{path} is not a readable CSV ({error}); {expected}") from None
        except UnicodeDecodeError:
            raise ResultsError(f"{path} is not a text CSV; {expected}") from None
    if not curves:
        raise ResultsError(f"{path} has a header but no rows; {expected}")
    return curves, list(tasks), list(methods)


def _common_steps(series: list[dict[int, float]]) -> list[int]:
    common = set(series[0])
    for s in series[1:]:
        common &= set(s)
    return sorted(common)


def mean_curve(by_seed: dict[int, dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, mean, std) over the seeds that got furthest, on the steps all of them reached: a
    seed still running is left out rather than cutting every seed's curve short (as in the table)."""
    furthest = max((max(series) for series in by_seed.values() if series), default=None)
    if furthest is None:
        return np.array([]), np.array([]), np.array([])
    by_seed = {seed: series for seed, series in by_seed.items() if series and max(series) == furthest}
    steps = _common_steps(list(by_seed.values()))
    values = np.array([[by_seed[s][t] for t in steps] for s in sorted(by_seed)], dtype=float)
    values = values.reshape(len(by_seed), len(steps))
    return np.array(steps), values.mean(axis=0), values.std(axis=0)


def _score(series: dict[int, float], last: int, average_last: int, where: str) -> float:
    """A seed's return at ``last``, or the mean of its last ``average_last`` evaluations up to it."""
    steps = sorted(step for step in series if step <= last)[-average_last:]
    if len(steps) < average_last:
        raise ResultsError(
            f"--average-last {average_last}, but {where} has only {len(steps)} evaluation(s) up to step "
            f"{last}; ask for at most {len(steps)}"
        )
    return float(np.mean([series[step] for step in steps]))


def final_returns(
    curves: Curves, tasks: list[str], methods: list[str], average_last: int = 1
) -> dict[str, tuple[int | None, dict[str, tuple[float, float, int, int, int]]]]:
    """task -> (its final step, method -> (mean, std, n, seeds, furthest step)).

    A task's final step is the last step any of its runs reached (its budget, once a run has
    finished). Each method's mean and std are over the n of its seeds that reached that step (NaN
    when none did); ``seeds`` is how many it has in all and ``furthest`` how far its runs got.
    A seed's value is its return at the final step, or with ``average_last`` K > 1 the mean of its
    last K evaluations up to it."""
    if average_last < 1:
        raise ResultsError(f"--average-last must be at least 1 (1: the return at the last step), not {average_last}")
    table = {}
    for task in tasks:
        reached = [max(by_seed_steps) for (t, _), by_seed in curves.items() if t == task
                   for by_seed_steps in by_seed.values() if by_seed_steps]  # fmt: skip
        if not reached:
            table[task] = (None, {})
            continue
        last = max(reached)
        cells = {}
        for method in methods:
            by_seed = curves.get((task, method))
            if by_seed:
                values = np.array(
                    [_score(series, last, average_last, f"{task} / {method} / seed {seed}")
                     for seed, series in sorted(by_seed.items()) if last in series],
                    dtype=float,
                )  # fmt: skip
                mean, std = (float(values.mean()), float(values.std())) if len(values) else (np.nan, np.nan)
                furthest = max(max(series) for series in by_seed.values() if series)
                cells[method] = (mean, std, len(values), len(by_seed), furthest)
        table[task] = (last, cells)
    return table


def _cell(cell: tuple[float, float, int, int, int] | None) -> str:
    if cell is None:
        return "-"
    mean, std, n, seeds, furthest = cell
    if n == 0:
        return f"- (running: {furthest} steps)"
    spread = f"{mean:.1f}" if n == 1 else f"{mean:.1f} ± {std:.1f}"  # one seed has no spread to show
    return f"{spread} (n={n})" if n == seeds else f"{spread} (n={n} of {seeds})"


def final_returns_markdown(
    curves: Curves, tasks: list[str], methods: list[str], metric: Metric = "stochastic", average_last: int = 1
) -> str:
    table = final_returns(curves, tasks, methods, average_last)
    header = ["method"] + [f"{task} @ {table[task][0]} steps" if table[task][0] is not None else task for task in tasks]
    score = (
        "" if average_last == 1 else f", each seed scored by the mean of its last {average_last} evaluations up to it"
    )
    per_seed = "Each seed's score" if average_last > 1 else "Each seed"
    lines = [
        f"Final return ({metric} policy): mean ± std over the seeds (n) that reached the task's last "
        f"step{score} (the {'score' if average_last > 1 else 'return'} alone when n=1); 'n=2 of 3': one seed "
        "is still short of it; 'running': no seed is there yet.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for method in methods:
        lines.append("| " + " | ".join([method] + [_cell(table[task][1].get(method)) for task in tasks]) + " |")
    lines += [
        "",
        f"{per_seed} at that step, in seed order ('·': the seed is not there yet):",
        "",
        "| " + " | ".join(["method"] + tasks) + " |",
        "|" + "---|" * (len(tasks) + 1),
    ]
    for method in methods:
        cells = [_per_seed(curves.get((task, method)), table[task][0], average_last) for task in tasks]
        lines.append("| " + " | ".join([method] + cells) + " |")
    return "\n".join(lines) + "\n"


def _per_seed(by_seed: dict[int, dict[int, float]] | None, step: int | None, average_last: int = 1) -> str:
    if not by_seed or step is None:
        return "-"
    values = [
        _score(by_seed[seed], step, average_last, f"seed {seed}") if step in by_seed[seed] else None
        for seed in sorted(by_seed)
    ]
    return ", ".join("·" if v is None else f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" for v in values)


def plot_learning_curves(
    curves: Curves, tasks: list[str], methods: list[str], path: str | os.PathLike, metric: Metric = "stochastic"
) -> Path:
    """One panel per task, mean +- std over seeds per method; saved to ``path`` (format from its suffix)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ResultsError(
            "the figure needs matplotlib: pip install 'latent-space-policies[plot]' "
            "(or pass --no-make-figure for the table only)"
        ) from None
    columns = min(3, len(tasks))
    rows = math.ceil(len(tasks) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.3 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    colors = {method: f"C{k % 10}" for k, method in enumerate(methods)}
    for k, task in enumerate(tasks):
        ax = axes[k // columns][k % columns]
        for method in methods:
            by_seed = curves.get((task, method))
            if not by_seed:
                continue
            steps, mean, std = mean_curve(by_seed)
            if len(steps) == 0:
                continue
            ax.plot(steps, mean, color=colors[method], label=method, linewidth=1.5)
            ax.fill_between(steps, mean - std, mean + std, color=colors[method], alpha=0.2, linewidth=0)
        ax.set_title(task)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"average return ({metric})")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.grid(alpha=0.3)
    for k in range(len(tasks), rows * columns):
        axes[k // columns][k % columns].set_visible(False)
    handles = [h for ax in axes.flat for h in ax.get_lines()]
    labels, unique = [], []
    for handle in handles:
        if handle.get_label() not in labels:
            labels.append(handle.get_label())
            unique.append(handle)
    figure.legend(unique, labels, loc="outside lower center", ncols=min(len(labels), 8), frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    figure.savefig(tmp, dpi=150)
    os.replace(tmp, path)
    return path


def report(
    results: str | os.PathLike,
    *,
    figure: str | os.PathLike | None = None,
    table: str | os.PathLike | None = None,
    metric: Metric = "stochastic",
    make_figure: bool = True,
    tasks: list[str] | tuple[str, ...] | None = None,
    methods: list[str] | tuple[str, ...] | None = None,
    average_last: int = 1,
) -> tuple[Path | None, Path, str]:
    """Write the figure and the Markdown table next to ``results`` (or where asked).

    ``tasks`` / ``methods`` choose which of the file's tasks and methods to show, in that order
    (default: all, in file order); ``average_last`` K > 1 scores each seed in the table by the mean
    of its last K evaluations (see ``final_returns``)."""
    results = Path(results)
    curves, found_tasks, found_methods = read_results(results, metric)
    tasks = _choose(tasks, found_tasks, "task", results)
    methods = _choose(methods, found_methods, "method", results)
    figure_path = Path(figure) if figure else results.with_name("learning_curves.png")
    table_path = Path(table) if table else results.with_name("final_returns.md")
    markdown = final_returns_markdown(curves, tasks, methods, metric, average_last)  # checks before drawing
    plotted = plot_learning_curves(curves, tasks, methods, figure_path, metric) if make_figure else None
    table_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = table_path.with_name(f".{table_path.name}.{os.getpid()}.tmp")
    tmp.write_text(markdown)
    os.replace(tmp, table_path)
    return plotted, table_path, markdown


def _choose(wanted, found: list[str], what: str, path: Path) -> list[str]:
    if not wanted:
        return found
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise ResultsError(f"{path} has no {what} {', '.join(map(repr, unknown))}; it has {', '.join(found)}")
    return list(dict.fromkeys(wanted))
