"""Searches run in worker processes (``--workers``, ``--gpus``): start or resume them, show
their progress as one search, then finish the search in this process.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autodl.exceptions import RunError, UsageError
from autodl.records import SearchSettings
from autodl.runs import RunStore
from autodl.search.api import check_settings, load
from autodl.search.callbacks import SearchCallback, as_callback
from autodl.search.search import Search
from autodl.search.workers import WorkerSlot, describe, run_workers
from autodl.space import load_space


def run_in_workers(
    settings: SearchSettings,
    slots: list[WorkerSlot],
    *,
    callbacks: list[SearchCallback] | SearchCallback | None = None,
    before_finish: Callable[[], None] | None = None,
) -> Search:
    """Run a search in one worker process per slot (``--workers``, ``--gpus``), then finish it here.

    The workers share one study (``settings.storage``, else a journal file in the run folder)
    and the trial budget. This process shows their progress through ``callbacks`` (each trial
    any worker finished, read from the study), then evaluates the best of all their trials
    and writes the report. It imports Keras only then (``before_finish`` runs first), so it
    holds no accelerator memory while the workers train.

    Raises:
        UsageError: the backend is not Optuna, or the flags are impossible.
        SearchInterrupted: Ctrl-C; the finished trials are saved (``autodl resume`` continues).
        RunError: a worker failed.
    """
    check_settings(settings)
    _check_workers_backend(settings.backend)
    from autodl.data import get_dataset

    load_space(settings.space)  # a bad space or an unknown dataset fails here, before any folder exists
    get_dataset(settings.dataset, settings.image_size)
    created = None
    if not settings.storage:  # a new run: its folder is checked (name, space, writable) as for one process
        created = RunStore.create(settings.out, settings.name).root
        settings = dataclasses.replace(settings, name=created.name)
    try:
        return _workers_then_finish(settings, slots, None, callbacks, before_finish)
    except RunError:
        if created is not None and created.is_dir() and not any(created.iterdir()):
            created.rmdir()  # the first worker refused the data: leave nothing behind
        raise


def resume_in_workers(
    path: str | Path,
    slots: list[WorkerSlot],
    *,
    trials: int | None = None,
    timeout: float | None = None,
    trust: bool = False,
    space: str | Path | None = None,
    callbacks: list[SearchCallback] | SearchCallback | None = None,
    before_finish: Callable[[], None] | None = None,
) -> Search:
    """Continue a ``--workers`` (or ``--storage``) run with one worker process per slot, then finish it here.

    The first worker resumes the run (``resume_search``: stopped trials re-run, ``trials`` and
    ``timeout`` as there); the others join its study once it has started.

    Raises:
        UsageError: the run has its own single-process study, or is a Keras Tuner run.
        RunError: as ``resume_search``; a worker failed.
        SearchInterrupted: Ctrl-C; the finished trials are saved.
    """
    search = load(path, trust=trust)  # a bad signature or format fails here, before any worker starts
    _check_workers_backend(search.settings.backend)
    if not search.settings.storage:
        raise UsageError(
            f"{search.path} was searched in one process: its study ({search.store.study_db.name}) "
            "belongs to that process, so workers cannot share it. Resume it without --workers and "
            "--gpus; start a new search with --workers N to search in several processes"
        )
    study = search.settings.name or search.path.name
    if study != search.path.name:
        raise UsageError(
            f"{search.path} holds the study {study!r}, named after the folder it was started in, and "
            "workers find a study by their folder's name. Rename the folder back to "
            f"{study!r} to resume it with --workers, or resume it in one process (without --workers)"
        )
    search.check_resume(trials, timeout, space)
    first = ["resume", str(search.path)]
    first += ["--trials", str(trials)] if trials is not None else []
    first += ["--timeout", str(timeout)] if timeout is not None else []
    first += ["--trust"] if trust else []
    first += ["--space", str(space)] if space is not None else []
    settings = dataclasses.replace(search.settings, out=str(search.path.parent))
    return _workers_then_finish(settings, slots, first, callbacks, before_finish, elapsed=search.elapsed, trust=trust)


def _check_workers_backend(backend: str) -> None:
    if backend != "optuna":
        raise UsageError(
            "--workers and --gpus share an Optuna study between processes; Keras Tuner has its own "
            "chief/worker mode (docs/distributed.md): drop --backend kerastuner or run one worker"
        )


def _workers_then_finish(
    settings: SearchSettings,
    slots: list[WorkerSlot],
    first: list[str] | None,
    callbacks: list[SearchCallback] | SearchCallback | None,
    before_finish: Callable[[], None] | None,
    *,
    elapsed: float = 0.0,
    trust: bool = False,
) -> Search:
    """Show the workers' progress while they run, then evaluate and report here."""
    start = time.perf_counter()
    callbacks = as_callback(callbacks)
    callbacks.on_status(f"starting {describe(slots)}")
    progress = _StudyProgress(callbacks, trust=trust)
    shared = run_workers(settings, slots, poll=progress.poll, first=first)
    progress.poll(shared)  # the last trials' lines
    if before_finish is not None:
        before_finish()
    search = load(Path(shared.out) / str(shared.name), trust=trust)
    search.elapsed = elapsed + time.perf_counter() - start
    return search.finish(callbacks)


class _StudyProgress:
    """Shows the workers' search as one: started once the first worker saved its state, then
    each trial that any worker finished, read from the shared study (the workers print nothing).

    Reading must never stop the search: a failed read is skipped and tried again next time.
    """

    def __init__(self, callbacks: SearchCallback, *, trust: bool = False) -> None:
        self.callbacks = callbacks
        self.trust = trust
        self.search: Search | None = None
        self.reader: Any = None
        self.shown: set[int] = set()

    def poll(self, settings: SearchSettings) -> None:
        folder = Path(settings.out) / str(settings.name)
        try:
            if self.search is None:
                if not (folder / "search.pkl").is_file():
                    return
                from autodl.backends.optuna_storage import StudyReader

                self.reader = StudyReader(str(settings.storage), str(settings.name))
                self.search = load(folder, trust=self.trust)
                self.search.policy = self.search.store.read_run().get("precision_policy")
                self.callbacks.on_search_start(self.search)
            records, running = self.reader.read()
        except Exception:  # noqa: BLE001 - a display problem, never the search's
            logging.getLogger(__name__).debug("reading the workers' study failed", exc_info=True)
            return
        known = {r.number: r for r in self.search.records}
        new = [r for r in sorted(records, key=lambda r: r.number) if r.number not in self.shown]
        for record in new:
            known[record.number] = record
        self.search.records = sorted(known.values(), key=lambda r: r.number)
        for record in new:
            self.shown.add(record.number)
            self.callbacks.on_trial_end(record)
        metric = self.search.space.objective[0]
        self.callbacks.on_status(
            " · ".join(
                f"trial {n} epoch {epochs}: {metric} {value:.4f}" if value is not None else f"trial {n}: training"
                for n, (epochs, value) in sorted(running.items())
            )
        )
