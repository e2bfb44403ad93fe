"""The user errors every command reports as one line (``error: ...``, exit status 2) instead of a traceback."""

from __future__ import annotations


class UserError(ValueError):
    """Something the user gave (an option, a path, a file) cannot be used; the message is one line."""


class ConfigError(UserError):
    """A user error in an options file, a command-line override or the network options."""


class CheckpointError(UserError):
    """A checkpoint that cannot be used: unreadable, incomplete, or made for another model."""


class InputError(UserError):
    """Bad input/output paths or command-line values given to an inference command."""
