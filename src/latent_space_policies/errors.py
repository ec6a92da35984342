"""Errors that reach the user. Each message says what went wrong and what to do about it."""


class LSPError(Exception):
    """Base class: the command line prints ``error: <message>`` and exits with status 2."""


class UnknownEnvironmentError(LSPError):
    pass


class CheckpointError(LSPError):
    """A checkpoint is missing, corrupt, or does not fit what it is being loaded into."""


class ShapeError(LSPError):
    """An observation or action of the wrong shape was given to a policy or environment."""


class TrainingDivergedError(LSPError):
    """A loss became NaN or infinite."""


class TrainingInterrupted(LSPError):
    """Ctrl-C: the run saved a checkpoint and stopped."""


# What a second Ctrl-C / SIGTERM prints: the process stops without a checkpoint of its own.
STOPPED_AT_ONCE = "stopped at once; a run continues from its last checkpoint with: lsp train --resume RUN_DIR"


class SettingsError(LSPError):
    """A setting is outside what it may be (checked before anything is built)."""


def read_toml(path, what: str, error: type[LSPError] = LSPError) -> dict:
    """The TOML document at ``path``, or ``error`` with one line naming the file (``what`` says what
    the file is for: "hierarchy config", "sweep file")."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{path} is not valid TOML ({problem})") from None
