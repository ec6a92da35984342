"""Atomic, code-free checkpoint files.

A checkpoint is one ``.npz`` archive of plain arrays (nested dicts flattened with ``/``) plus a
JSON metadata document stored as bytes. Loading uses ``allow_pickle=False``, so opening a file
never runs code. Writes go to a temporary file in the same folder, are fsync'ed, then renamed over
the target (``os.replace`` is atomic), so a crash or Ctrl-C never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from flax import traverse_util

from latent_space_policies.errors import CheckpointError

FORMAT = "latent-space-policies/checkpoint"
FORMAT_VERSION = 1
_METADATA_KEY = "__metadata__"
_EMPTY_SUFFIX = "__empty__"
TMP_SUFFIX = ".tmp"  # a write in progress: ``.NAME.PID.tmp`` beside the file it will replace


def _flatten(tree: dict) -> dict[str, np.ndarray]:
    flat = traverse_util.flatten_dict(tree, keep_empty_nodes=True, sep="/")
    arrays = {}
    for key, value in flat.items():
        if value is traverse_util.empty_node:
            arrays[f"{key}/{_EMPTY_SUFFIX}"] = np.zeros((0,), np.uint8)
        else:
            arrays[key] = np.asarray(value)
    return arrays


def _unflatten(arrays: dict[str, np.ndarray]) -> dict:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in arrays.items():
        parts = tuple(key.split("/"))
        if parts[-1] == _EMPTY_SUFFIX:
            flat[parts[:-1]] = {}
        else:
            flat[parts] = value
    return traverse_util.unflatten_dict(flat)


def save_checkpoint(path: str | os.PathLike, trees: dict[str, dict], metadata: dict[str, Any]) -> Path:
    """Write ``trees`` (name -> nested dict of arrays) and JSON-able ``metadata`` atomically."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"cannot create the folder {path.parent} ({error.strerror or error})") from None
    arrays = _flatten({name: tree for name, tree in trees.items()})
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **metadata}
    arrays[_METADATA_KEY] = np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:  # disk full, read-only or vanished folder: the previous file is intact
        kept = "the previous one is intact" if path.exists() else "nothing was written"
        raise CheckpointError(
            f"could not write {path} ({error.strerror or error}); {kept}: free space or fix the folder, then run again"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load_checkpoint(
    path: str | os.PathLike, sections: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()
) -> tuple[dict, dict]:
    """Read a checkpoint. Returns (trees, metadata); ``sections`` limits which trees are read and
    ``skip`` leaves some out (e.g. the replay buffer when only the policy is needed).
    ``pretrained:NAME`` names a layer shipped with the package (see ``latent_space_policies.pretrained``)."""
    from latent_space_policies.pretrained import resolve

    path = Path(resolve(path))
    if path.is_dir():
        candidate = path / "checkpoints" / "latest.lsp"
        if not candidate.exists():
            raise CheckpointError(f"{path} is a folder without checkpoints/latest.lsp: pass a .lsp file or a run folder")
        path = candidate
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (runs keep theirs in RUN_DIR/checkpoints/latest.lsp)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy array
            raise CheckpointError(f"{path} is a plain NumPy array, not a latent-space-policies checkpoint")
        with loaded as archive:
            if _METADATA_KEY not in archive.files:
                raise CheckpointError(f"{path} is not a latent-space-policies checkpoint (no metadata)")
            metadata = json.loads(bytes(archive[_METADATA_KEY]).decode("utf-8"))
            wanted = [
                name
                for name in archive.files
                if name != _METADATA_KEY
                and (sections is None or name.split("/", 1)[0] in sections)
                and name.split("/", 1)[0] not in skip
            ]
            arrays = {name: archive[name] for name in wanted}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"{path} is corrupt or not a checkpoint ({type(error).__name__}: {error}); "
            "use another checkpoint, or start the run again"
        ) from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a latent-space-policies checkpoint")
    if metadata.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer version (format {metadata['format_version']}); upgrade latent-space-policies"
        )
    return upgrade_flow_layout(_unflatten(arrays)), metadata


def remove_orphaned_writes(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of checkpoint writes that a killed process left in ``folder``
    (call it only while holding the folder's run lock: no write can be in progress). Returns them."""
    folder = Path(folder)
    orphans = sorted(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


_SEPARATE_ST = ("log_scale_hidden", "log_scale_out", "shift_hidden", "shift_out")


def upgrade_flow_layout(tree):
    """Rewrite coupling s/t nets saved as two separate MLPs (files of version 0.1.0 before the
    fused layout) into the fused layout of :class:`~latent_space_policies.flows.ScaleShiftNets`.

    The fused net is the same function of the same numbers: the hidden kernels are placed side by
    side (s's units first) and the output kernels become the two diagonal blocks. Applied to every
    sub-tree with the old keys, so old policy and hierarchy files load and act as before. A *training*
    checkpoint of that version cannot be resumed (the optimiser state is now one flat vector per
    network): it fails with the usual "does not match" error; its policy.lsp still loads.
    """
    if not isinstance(tree, dict):
        return tree
    if set(_SEPARATE_ST) <= set(tree):
        s_hidden, s_out = tree["log_scale_hidden"], tree["log_scale_out"]
        t_hidden, t_out = tree["shift_hidden"], tree["shift_out"]
        fused = {k: v for k, v in tree.items() if k not in _SEPARATE_ST}
        fused["hidden"] = {
            "kernel": np.concatenate([s_hidden["kernel"], t_hidden["kernel"]], axis=-1),
            "bias": np.concatenate([s_hidden["bias"], t_hidden["bias"]], axis=-1),
        }
        fused["out_kernel"] = np.stack([s_out["kernel"], t_out["kernel"]])
        fused["out_bias"] = np.stack([s_out["bias"], t_out["bias"]])
        return fused
    return {key: upgrade_flow_layout(value) for key, value in tree.items()}
