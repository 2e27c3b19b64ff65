"""A stop signal (Ctrl-C, SIGTERM) delivered where Python code can take it.

Python raises a signal handler's KeyboardInterrupt at whatever bytecode the main thread runs
next. Inside TensorFlow or JAX that can be Python code called back from C++ (a tensor
conversion, a tracing step), and the C++ side does not survive an exception there. Of 78
Ctrl-Cs sent as a trial began, 2 killed the process before it saved anything (SIGSEGV, and
``free(): invalid pointer``); a ``SystemError: ... bad argument to internal function`` was
seen in a worker. So while a trial builds, trains, saves or evaluates a model, a signal is
only recorded (``interrupts_deferred``); the KeyboardInterrupt is raised at the next check:
the start of a batch (a Keras callback calls ``check_stop``), or the end of the block.

The request also stays visible after the exception (``stop_requested``), so a stop that
surfaced as another error still marks its trial interrupted and starts no other.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

_REQUESTED = threading.Event()
_state = {"deferring": 0, "pending": False}


def interrupt() -> None:
    """A signal handler's part: record the stop, and raise KeyboardInterrupt unless deferred."""
    _REQUESTED.set()
    if _state["deferring"]:
        _state["pending"] = True
        return
    raise KeyboardInterrupt


def check_stop() -> None:
    """Raise, once, the KeyboardInterrupt of a signal that arrived in a deferred block."""
    if _state["pending"]:
        _state["pending"] = False
        raise KeyboardInterrupt


def stop_requested() -> bool:
    return _REQUESTED.is_set()


def clear_stop() -> None:
    """For a caller that runs another search in the same process after a stop."""
    _REQUESTED.clear()
    _state["pending"] = False


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block a stop signal is recorded, and raised at ``check_stop`` or at the end.

    The command line's handler calls ``interrupt``. A Python caller who kept Python's own
    SIGINT handler gets one for the block that defers the first Ctrl-C; a second one raises
    at once, as Python would.
    """
    restore = _defer_default_handler()
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
        restore()
    if not _state["deferring"]:
        check_stop()


def _defer_default_handler() -> Callable[[], None]:
    """Swap Python's default SIGINT handler for a deferring one; returns what puts it back."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        if _state["pending"]:  # pressed again before the first was raised: stop now
            _state["pending"] = False
            raise KeyboardInterrupt
        interrupt()

    signal.signal(signal.SIGINT, handler)

    def restore() -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    return restore
