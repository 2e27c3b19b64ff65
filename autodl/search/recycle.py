"""A long search continues in a fresh process before its memory grows too far.

TensorFlow keeps a little of every trial in the process even after Keras' state is cleared
(~3 MiB per one-epoch trial measured: +13% resident memory after 40 trials, see
BENCHMARKS.md). ``MemoryGuard`` watches resident memory after each trial. Once it is more
than ``LIMIT`` above its value after the search's 5th trial, and this process has run at
least ``MIN_TRIALS`` trials, it stops the search after that trial: the trial is committed
and everything saved, as for a Ctrl-C between trials. The command line then continues the
run with ``autodl resume`` in a fresh process image (``os.execv``: the same process id and
terminal), which starts from the saved state, so the trials and their counts are those of
an uninterrupted search.

Only single-process Optuna searches run by the command line are recycled: ``--workers``
processes share a study instead, and a Python caller's process is its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from autodl.records import TrialRecord
from autodl.search.callbacks import SearchCallback

#: Memory is measured from the run's 5th trial on: the first trials build the largest graphs.
BASE_TRIAL = 5
#: Recycle once resident memory is this much above its value after trial 5 (the target is 10%).
LIMIT = 0.08
#: A process runs at least this many trials: starting one (TensorFlow, the data) takes seconds.
MIN_TRIALS = 10
#: The base (MiB) travels to the fresh process, which measures against the run's first one.
BASE_ENV = "AUTODL_MEMORY_BASE_MB"
MIN_TRIALS_ENV = "AUTODL_RECYCLE_MIN_TRIALS"


class Recycle(KeyboardInterrupt):
    """Stops a search between trials, as a Ctrl-C would, so that a fresh process continues it."""


def resident_mb() -> float | None:
    """This process's resident memory in MiB; None where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return float(psutil.Process().memory_info().rss) / 2**20


class MemoryGuard(SearchCallback):
    """Raises ``Recycle`` after a trial once memory has grown past ``limit`` (see the module)."""

    def __init__(self, limit: float = LIMIT, *, measure: Callable[[], float | None] = resident_mb) -> None:
        self.limit, self.measure = limit, measure
        self.base: float | None = float(os.environ.get(BASE_ENV) or 0) or None
        self.min_trials = int(os.environ.get(MIN_TRIALS_ENV) or MIN_TRIALS)
        self.trials = 0
        self.search: Any = None
        self.resident: float | None = None
        self.triggered = False

    def on_search_start(self, search: Any) -> None:
        self.search = search if recyclable(search.settings) else None

    def on_trial_end(self, record: TrialRecord) -> None:
        self.trials += 1
        resident = self.measure()
        if resident is None or self.search is None:
            return
        if self.base is None:
            if len(self.search.records) >= BASE_TRIAL and self.trials >= min(BASE_TRIAL, len(self.search.records)):
                self.base = resident
            return
        left = self.search.settings.trials - len(self.search.finished)
        if self.trials >= self.min_trials and left > 0 and resident > self.base * (1 + self.limit):
            self.triggered, self.resident = True, resident
            raise Recycle

    def command(self, *, quiet: bool) -> list[str]:
        """The ``autodl resume`` that continues the stopped search, with what is left of its timeout."""
        search = self.search
        args = [os.fspath(search.path)]
        # The planner's clock, not the settings: a resumed search's timeout is what was left when
        # it resumed, while its elapsed time counts every process (a second recycle passed 1 s).
        left = search.planner.time_left() if search.settings.timeout is not None else None
        if left is not None:
            args += ["--timeout", f"{max(1.0, left):.1f}"]
        return ["resume", *args, *(["--quiet"] if quiet else [])]

    def note(self) -> str:
        resident, base = self.resident or 0.0, self.base or 1.0
        return (
            f"resident memory {resident:.0f} MiB, {resident / base - 1:.0%} above its "
            f"{base:.0f} MiB after trial {BASE_TRIAL}: the search goes on in a fresh process "
            f"after {len(self.search.finished)} of {self.search.settings.trials} trials"
        )


def recyclable(settings: Any) -> bool:
    """Whether a search with these settings may be continued in a fresh process."""
    return settings.backend == "optuna" and not settings.storage
