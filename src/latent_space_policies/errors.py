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


class SettingsError(LSPError):
    """A setting is outside what it may be (checked before anything is built)."""
