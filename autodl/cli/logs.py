"""How the command line shows the library's warnings: each one once per command.

A ``--workers`` command runs the same loading code in every process it starts (the run's
signature, its space, the data), so a warning about any of them would print once per
process. The parent names a file in ``AUTODL_WARNED`` before it starts them; every process
of the command writes there what it has shown and skips what another process already has.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import sys
import tempfile

SHARED_ENV = "AUTODL_WARNED"


class _OncePerCommand(logging.Filter):
    """Drops a WARNING whose text was already shown by this command (any of its processes)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        text = " ".join(record.getMessage().split())
        if text in self.seen:
            return False
        self.seen.add(text)
        shared = os.environ.get(SHARED_ENV)
        return _first_in(shared, text) if shared else True


def _first_in(path: str, text: str) -> bool:
    """Record ``text`` in the command's shared file; False if a process recorded it before."""
    try:
        with open(path, "a+", encoding="utf-8") as shared:
            fcntl.flock(shared, fcntl.LOCK_EX)  # released on close
            shared.seek(0)
            if text in shared.read().splitlines():
                return False
            shared.write(text + "\n")
    except OSError:  # never hide a warning because the bookkeeping failed
        return True
    return True


def show_warnings() -> None:
    """Show the ``autodl`` loggers' warnings on stderr, as text, each once per command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(_OncePerCommand())
    logger = logging.getLogger("autodl")
    logger.addHandler(handler)


def share_with_workers() -> None:
    """Let the worker processes this command starts (they inherit the environment) skip
    the warnings it has shown, and it theirs."""
    if os.environ.get(SHARED_ENV):
        return
    fd, path = tempfile.mkstemp(prefix="autodl-warned-", suffix=".txt")
    os.close(fd)
    os.environ[SHARED_ENV] = path
    atexit.register(_remove, path)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
