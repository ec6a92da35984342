"""Trained layers shipped with the package, for others to build on.

Any command or function that loads a policy accepts ``pretrained:NAME`` in place of a path, e.g.
``lsp stack pretrained:ant_locomotion --env-id LSP/AntCrossMaze-Goal2-v0 --base-observation 2: ...``.
How each was trained and evaluated: ``MODELS.md`` beside this file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from latent_space_policies.errors import CheckpointError

PREFIX = "pretrained:"
NAMES = {
    "ant_locomotion": "ant_locomotion.lsp",
}


def resolve(path: str | Path) -> str | Path:
    """The file behind ``pretrained:NAME``; any other path unchanged."""
    if not isinstance(path, str) or not path.startswith(PREFIX):
        return path
    name = path[len(PREFIX):]
    if name not in NAMES:
        raise CheckpointError(f"no pretrained layer {name!r}; available: {', '.join(PREFIX + n for n in NAMES)}")
    return Path(str(resources.files(__name__) / NAMES[name]))
