"""A search over a run folder: run it, resume it, finish it; the one place that wires data ->
model -> training -> backend -> run folder.

``Search`` keeps the orchestration; each concern behind it has its own module: the records
and the crash-safe order of their writes (``_ledger``), one trial (``_trial``), the
read-only results (``_results``) and the end of the search (``_finish``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autodl.backends import BaseBackend, get_backend
from autodl.exceptions import SearchInterrupted, UsageError
from autodl.records import SearchSettings, TrialRecord
from autodl.runs import RunStore
from autodl.search._budget import Planner
from autodl.search._data import load_data
from autodl.search._finish import finish_search
from autodl.search._ledger import STATE_FORMAT, WORKER, Ledger, now
from autodl.search._results import SearchResults
from autodl.search._trial import run_trial
from autodl.search._warm_start import warm_configs
from autodl.search.callbacks import SearchCallback, as_callback
from autodl.search.checks import check_space
from autodl.search.stop import clear_stop
from autodl.space import SearchSpace

__all__ = ["STATE_FORMAT", "WORKER", "Search", "SearchInterrupted", "load_data"]


class Search(SearchResults):
    """One search and its run folder; ``autodl.load`` returns it, ``resume`` continues it."""

    def __init__(
        self,
        settings: SearchSettings,
        space: SearchSpace,
        store: RunStore,
        *,
        records: list[TrialRecord] | None = None,
        backend_state: dict[str, Any] | None = None,
        dataset: dict[str, Any] | None = None,
        created: str | None = None,
        elapsed: float = 0.0,
    ) -> None:
        self.settings = settings
        self.space = space
        self.store = store
        self.ledger = Ledger(self, records)
        self.backend_state = backend_state
        self.dataset = dataset
        self.created = created or now()
        self.elapsed = elapsed
        self.splits: Any = None
        self.test_metrics: dict[str, float] | None = None
        self.ensemble: dict[str, Any] | None = None  # the kept models together (evaluate_ensemble)
        self.data_seconds = 0.0
        self.policy: str | None = None  # the Keras dtype policy ``settings.precision`` resolved to
        self.final: dict[str, Any] | None = None  # the winner trained again on train + validation (_refit)
        self.accounting: dict[str, Any] | None = None  # where the time went (_accounting)
        self.origin: dict[str, Any] | None = None  # a run trained from another run's trials (retrain)
        self.planner = Planner(None)
        self._backend: BaseBackend | None = None
        self.callbacks: SearchCallback = SearchCallback()

    @property
    def records(self) -> list[TrialRecord]:
        """Every trial so far, by number (the ledger's records)."""
        return self.ledger.records

    @records.setter
    def records(self, records: list[TrialRecord]) -> None:
        self.ledger.records = sorted(records, key=lambda r: r.number)

    # ------------------------------------------------------------------ running
    def run(self, callbacks: list[SearchCallback] | SearchCallback | None = None, *, finish: bool = True) -> Search:
        """Run trials until ``settings.trials`` have finished (or the timeout, or Ctrl-C).

        ``finish=False`` leaves out the end (test evaluation, report): for worker processes
        whose parent finishes the search once all of them are done (``--workers``).
        """
        started = time.monotonic() - (self.data_seconds if self.splits is not None else 0.0)
        self.store.check_usable()  # a full or read-only folder fails now, not after a trial
        clear_stop()  # an in-process caller's earlier Ctrl-C stopped the earlier run, not this one
        with self._session(callbacks):
            self.planner = Planner(
                self.settings.timeout,
                started=started,
                n_train=len(self.splits.y_train),
                n_val=len(self.splits.y_val),
                refit=self.settings.refit,
                members=self.settings.top_k,
                spent=self.elapsed,
                max_epochs=self.settings.epochs or self.space.max_epochs,
            )
            self._run_engine(finish)
        return self

    def finish(self, callbacks: list[SearchCallback] | SearchCallback | None = None) -> Search:
        """Evaluate the best trial on the test split and write run.json and the report.

        For a search whose trials other processes ran (``run(finish=False)``): with a shared
        storage, every worker's finished trials are taken in first.
        """
        with self._session(callbacks):
            finish_search(self)
        return self

    @contextlib.contextmanager
    def _session(self, callbacks: list[SearchCallback] | SearchCallback | None) -> Iterator[None]:
        """Callbacks set, data loaded once, ``--precision`` in force (an in-process caller gets
        its own policy back afterwards)."""
        self.callbacks = as_callback(callbacks)
        if self.splits is None:
            self.callbacks.on_status(f"loading {self.settings.dataset}")
            self.splits = self._load_data()
        with self.precision_policy():
            yield

    def _run_engine(self, finish: bool = True) -> None:
        """Open the backend on the run's state and run trials, saving on every way out."""
        if self._backend is not None:  # run again in this process: continue where it stopped
            self.backend_state = self._backend.state()
        backend_cls = get_backend(self.settings.backend)
        fresh = self.backend_state is None and not self.records
        warm = warm_configs(self.settings, self.space) if fresh and self.settings.warm_start else None
        self._backend = backend = backend_cls(
            self.settings, self.space, self.store, state=self.backend_state, dataset=self.dataset, warm_start=warm
        )
        start = time.perf_counter()
        try:
            self.ledger.settle(backend, backend.recover(self.records))
            self.ledger.write_run("running")
            self.ledger.save_state()
            self.callbacks.on_search_start(self)
            metric, direction = self.space.objective
            backend.optimize(
                lambda ctx: run_trial(self, ctx),
                n_trials=self.settings.trials,
                budget_spent=lambda: self.planner.over(self.records, metric, direction),
            )
            self.elapsed += time.perf_counter() - start
            start = time.perf_counter()
            if finish:
                finish_search(self)
        except KeyboardInterrupt:
            self.elapsed += time.perf_counter() - start
            self.ledger.write_run("interrupted")
            self.ledger.save_state()
            raise SearchInterrupted(
                f"search interrupted; {len(self.finished)} of {self.settings.trials} trials are saved in "
                f"{self.path}. Continue with: autodl resume {self.path}"
            ) from None
        finally:
            backend.close()

    def resume(
        self,
        trials: int | None = None,
        callbacks: list[SearchCallback] | SearchCallback | None = None,
        *,
        timeout: float | None = None,
        space: str | Path | None = None,
        finish: bool = True,
    ) -> Search:
        """Continue to the original trial total, or to ``trials`` in all.

        A run keeps the space it started with (saved in ``search.pkl``): ``space``, if given,
        must be that same space, and a space file edited since the start is ignored with a
        warning. Searching another space is a new search.

        Raises:
            UsageError: ``trials`` is below 1 or ``timeout`` not positive.
            RunError: ``space`` differs from the run's; the data differ from the run's; the
                run folder cannot be written or its disk is full; the study is damaged.
        """
        self.check_resume(trials, timeout, space)
        if trials is not None:
            self.settings = dataclasses.replace(self.settings, trials=trials)
        if timeout is not None:
            self.settings = dataclasses.replace(self.settings, timeout=timeout)
        return self.run(callbacks, finish=finish)

    def check_resume(
        self, trials: int | None = None, timeout: float | None = None, space: str | Path | None = None
    ) -> None:
        """Refuse ``resume``'s arguments before anything runs (``Search.resume`` explains them)."""
        if trials is not None and trials < 1:
            raise UsageError(f"--trials must be at least 1, got {trials}")
        if timeout is not None and timeout <= 0:
            raise UsageError(f"--timeout must be positive seconds, got {timeout}")
        check_space(self.space, space, saved_in=self.store.search_pkl, settings=self.settings)

    def _load_data(self) -> Any:
        start = time.perf_counter()
        splits = load_data(self.settings, expected=self.dataset, progress=self.callbacks.on_load_progress)
        self.data_seconds = time.perf_counter() - start
        self.dataset = splits.summary()
        return splits

    @contextlib.contextmanager
    def precision_policy(self) -> Iterator[None]:
        """Train under ``settings.precision`` (``auto`` resolved here), then restore the policy."""
        import keras

        from autodl.training.precision import resolve_policy

        previous = keras.mixed_precision.global_policy().name
        self.policy = resolve_policy(self.settings.precision)
        keras.mixed_precision.set_global_policy(self.policy)
        try:
            yield
        finally:
            keras.mixed_precision.set_global_policy(previous)

    # ------------------------------------------------------------------ what the ledger records
    def engine_state(self) -> dict[str, Any] | None:
        """The engine's picklable state for search.pkl (the saved one before the engine opens)."""
        return self._backend.state() if self._backend else self.backend_state

    def study_info(self) -> dict[str, Any] | None:
        """Where the engine keeps its study (run.json's ``study``); a search finished without
        its engine (``--workers``: the workers had it) reads the shared storage."""
        if self._backend is not None:
            return self._backend.study_info()
        if not self.settings.storage:
            return None
        from autodl.backends.optuna_storage import study_info

        return study_info(self.settings.storage, self.settings.name or self.path.name)

    def shared_records(self) -> list[TrialRecord] | None:
        """With a shared storage, every worker's finished trials; None for a run of its own."""
        if not self.settings.storage:
            return None
        if self._backend is not None:
            return self._backend.records()
        from autodl.backends.optuna_storage import (
            study_records,  # finishing a search that workers ran
        )

        return study_records(self.settings.storage, self.settings.name or self.path.name)

    def train(self, dataset: str | None = None, **options: Any) -> Search:
        """Train this run's best configuration (or ``trial=N``'s, or ``ensemble=True``'s members)
        again, on ``dataset`` or on this run's own train + validation data; returns the new run
        (``autodl train``; ``retrain.train_run`` documents the options)."""
        from autodl.search.retrain import train_run

        return train_run(self, dataset, **options)

    def write_run(self, status: str) -> None:
        """Rewrite run.json with ``status`` (``running``, ``interrupted``, ``finished``)."""
        self.ledger.write_run(status)
