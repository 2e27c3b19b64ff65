"""Errors autodl raises, so callers can tell bad input from a failed trial.

    AutoDLError                 base; the CLI prints its message and exits non-zero
    ├── UsageError              bad input from the user (exit code 2)
    │   ├── SpaceError          a search-space file or value is invalid
    │   ├── DatasetError        a dataset cannot be found, read or trusted
    │   └── RunError            a run folder / resume / storage problem
    │       ├── SignatureError  a pickled search state failed verification
    │       └── SearchInterrupted  the user stopped the search (Ctrl-C, exit 130); all is saved
    └── TrialError              one trial ended early; recorded, never fatal to a search
        ├── TrialPruned         the pruner stopped it
        └── TrialFailed         it crashed (NaN loss, exception, out of memory)

Messages say what happened, what was expected and how to fix it, in one paragraph.
"""

from __future__ import annotations

import reprlib
from typing import Any


class AutoDLError(Exception):
    """Base of every error autodl raises on purpose."""

    exit_code: int = 1


class UsageError(AutoDLError):
    """The user's input (a file, a flag, a folder) is wrong; exit code 2."""

    exit_code = 2


class SpaceError(UsageError):
    """A search space is invalid; the message names the file and the key path."""


class DatasetError(UsageError):
    """A dataset cannot be found, read or is inconsistent."""


class RunError(UsageError):
    """A run folder, its storage or its saved state cannot be used."""


class SignatureError(RunError):
    """A pickled search state is unsigned, tampered with, truncated or foreign."""


class SearchInterrupted(RunError):
    """The user stopped the search (Ctrl-C); everything finished so far is saved.

    What a Python caller catches instead of a bare ``KeyboardInterrupt``: its message says
    how to continue (``autodl resume RUN``).
    """

    exit_code = 130


class TrialError(AutoDLError):
    """A trial ended before completing; the search records it and goes on."""


class TrialPruned(TrialError):
    """The pruner judged the trial unpromising."""


class TrialFailed(TrialError):
    """The trial crashed; ``str(exc)`` is the reason recorded in the run."""


def brief(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting a value in a message.

    Bounded work whatever the value holds (a YAML file of nested aliases is gigabytes when
    written out): containers show their first items to a small depth, numbers of hundreds of
    digits their first ones.
    """
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = short.maxfrozenset = 6
    short.maxstring = short.maxother = limit
    short.maxlong = 40
    try:
        text = short.repr(value)
    except (ValueError, RecursionError):  # an int too long for str(), a deeply recursive __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
