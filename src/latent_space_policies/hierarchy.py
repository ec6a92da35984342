"""Layerwise hierarchies of latent space policies: the paper's Algorithm 1.

    for k = 1..K:
        wrap the env in the frozen levels 1..k-1 (their latents become the action space),
        train level k on it with SAC,
        freeze it.

:func:`algorithm_1` is that loop. The parts it uses (frozen levels, the latent-action wrapper, the
composed policy, hierarchy files) live in :mod:`latent_space_policies.levels` and are re-exported
here. ``lsp hierarchy FILE.toml`` reads the levels' settings from a file and adds skipping of
finished levels and resuming of an unfinished one (see ``cli.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

from latent_space_policies.levels import (  # noqa: F401  (re-exported: the hierarchy's public names)
    ComposedPolicy,
    FrozenLayerWrapper,
    Level,
    ObservationMap,
    ObservationSlice,
    env_for,
    levels_from_checkpoint,
    load_levels,
    save_hierarchy,
    wrap_levels,
)
from latent_space_policies.training import TrainConfig, train


def _train_level(config: TrainConfig) -> Path:
    return train(config).run_dir


def algorithm_1(
    levels: Sequence[TrainConfig], train_level: Callable[[TrainConfig], Path] = _train_level
) -> list[Level]:
    """Train ``levels`` bottom first, each on the latent of the frozen levels below it.

    ``train_level(config)`` trains one level and returns its run folder (whose ``policy.lsp`` holds
    that level and every level below it); the default trains from scratch. Returns the frozen levels.
    """
    frozen: Path | None = Path(levels[0].base) if levels[0].base is not None else None
    for config in levels:
        if frozen is not None:  # wrap the env in the frozen levels below (the loop does it from `base`)
            config = dataclasses.replace(config, base=str(frozen))
        run_dir = train_level(config)  # train level k with SAC
        frozen = run_dir / "policy.lsp"  # freeze it, with every level below
    return load_levels(frozen)[0]
