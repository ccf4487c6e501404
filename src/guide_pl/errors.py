"""Errors a user can fix. The CLI prints these as one line; every other exception keeps its traceback (a bug).

Each kind also derives from the built-in exception it refines, so `except ValueError` and the like still work.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, files or machine, stated so that they can fix it."""

    def __str__(self) -> str:
        # KeyError would quote its message; a user error is always shown as written.
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(UserError, ValueError):
    """A config problem: unknown key, bad value, missing group file."""


class BadValueError(UserError, ValueError):
    """A setting, option or input value that makes no sense (negative count, NaN, unknown mode)."""


class UnknownNameError(UserError, KeyError):
    """A registry name (generator, network, inverter, judge, weights) that does not exist."""


class UnknownOptionError(UserError, TypeError):
    """An option a builder does not take."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the run needs is not there (weights, photos, latents, run folders)."""


class BadFileError(UserError, ValueError):
    """A file that is there but unusable: unreadable, truncated, corrupt, or not what it should be."""


class FetchError(UserError, RuntimeError):
    """Weights could not be fetched (registry unreachable, wrong checksum, unexpected archive)."""


class NonFiniteLossError(UserError, FloatingPointError):
    """A training loss became NaN or infinite (the weights were not updated)."""


class RunFolderError(UserError, RuntimeError):
    """A run folder that cannot be used: busy with another process, owned by another config, not writable."""


class MachineError(UserError, RuntimeError):
    """The configuration asks for hardware this machine does not have (accelerator, device count)."""
