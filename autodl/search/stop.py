"""A stop signal (Ctrl-C, SIGTERM) as a request the search can still see after it was lost.

The command line's handler raises KeyboardInterrupt wherever the main thread is. Inside a
C extension that calls back into Python, that exception can come out as another one
(``SystemError: ... bad argument to internal function`` was seen in a worker): the trial
would be recorded as failed and counted, and the process would go on to the next trial.
The handler records the request here first, so the search marks that trial interrupted
and starts no other.
"""

from __future__ import annotations

import threading

_REQUESTED = threading.Event()


def request_stop() -> None:
    """Called by a signal handler before it raises KeyboardInterrupt."""
    _REQUESTED.set()


def stop_requested() -> bool:
    return _REQUESTED.is_set()


def clear_stop() -> None:
    """For a caller that runs another search in the same process after a stop."""
    _REQUESTED.clear()
