"""Run, resume and inspect a search: the one place that wires data -> model -> training ->
backend -> run folder.

A trial's record is written when it starts (state ``running``) and again, with the engine
told first, when it ends; ``search.pkl`` (settings, space, dataset fingerprint, engine state)
is signed and rewritten after every trial, so a crash at any moment leaves a run that
``autodl resume`` continues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from autodl import environment
from autodl.backends import TrialContext, get_backend
from autodl.exceptions import RunError, TrialFailed, TrialPruned, UsageError
from autodl.records import SearchSettings, TrialRecord, TrialState
from autodl.runs import RunStore, atomic_save_model, dump_signed
from autodl.search.callbacks import SearchCallback, as_callback
from autodl.search.checks import check_space
from autodl.search.evaluation import evaluate_best, evaluate_ensemble
from autodl.search.stop import check_stop, clear_stop, interrupts_deferred, stop_requested
from autodl.space import SearchSpace

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
# Names this process (and its GPU, under --gpus) in the records of shared studies.
WORKER = f"{socket.gethostname()}:{os.getpid()}" + (
    f":gpu{os.environ['CUDA_VISIBLE_DEVICES']}" if os.environ.get("CUDA_VISIBLE_DEVICES") else "")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


class SearchInterrupted(RunError):
    """The user stopped the search (Ctrl-C); everything finished so far is saved."""

    exit_code = 130


class Search:
    """One search and its run folder; ``autodl.load`` returns it, ``resume`` continues it."""

    def __init__(self, settings: SearchSettings, space: SearchSpace, store: RunStore, *,
                 records: list[TrialRecord] | None = None, backend_state: dict[str, Any] | None = None,
                 dataset: dict[str, Any] | None = None, created: str | None = None,
                 elapsed: float = 0.0) -> None:
        self.settings = settings
        self.space = space
        self.store = store
        self.records: list[TrialRecord] = list(records or [])
        self.backend_state = backend_state
        self.dataset = dataset
        self.created = created or _now()
        self.elapsed = elapsed
        self.splits: Any = None
        self.test_metrics: dict[str, float] | None = None
        self.ensemble: dict[str, Any] | None = None  # the kept models together (evaluate_ensemble)
        self.data_seconds = 0.0
        self.policy: str | None = None  # the Keras dtype policy ``settings.precision`` resolved to
        self._backend: Any = None
        self._callbacks: SearchCallback = SearchCallback()

    # ------------------------------------------------------------------ inspecting
    @property
    def path(self) -> Path:
        return self.store.root

    @property
    def direction(self) -> str:
        return self.space.objective[1]

    @property
    def finished(self) -> list[TrialRecord]:
        """Trials that count towards the budget (complete, pruned, failed)."""
        return [r for r in self.records if r.state in FINISHED]

    def ranked(self) -> list[TrialRecord]:
        """Complete trials, best first (ties: the earlier trial)."""
        sign = -1.0 if self.direction == "maximize" else 1.0
        done = [r for r in self.records if r.state == TrialState.COMPLETE and r.value is not None
                and math.isfinite(r.value)]
        return sorted(done, key=lambda r: (sign * r.value, r.number))  # type: ignore[operator]

    @property
    def best_trial(self) -> TrialRecord | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def pareto_front(self) -> list[TrialRecord]:
        """Complete trials that no smaller model matches, smallest first: the candidates when a
        model must be small (each scores better than every trial with as few parameters)."""
        from autodl.reporting.summary import pareto_front

        return pareto_front(self.records, self.direction)

    @property
    def best_params(self) -> dict[str, Any]:
        best = self.best_trial
        return dict(best.params) if best else {}

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return best.value if best else None

    def trial(self, number: int) -> TrialRecord:
        """Trial ``number``'s record, for ``autodl show RUN --trial N``.

        Raises:
            RunError: the run has no such trial.
        """
        found = [r for r in self.records if r.number == number]
        if found:
            return found[-1]
        numbers = sorted({r.number for r in self.records})
        have = f"trials {numbers[0]}-{numbers[-1]}" if numbers else "no trials yet"
        raise RunError(f"{self.path} has no trial {number} (it has {have}); `autodl show {self.path}` lists "
                       "the best ones, and trials.csv every one")

    @property
    def trials(self) -> Any:
        """Every trial as a pandas DataFrame, one row per trial, parameters as columns."""
        from autodl.runs.store import trials_frame

        return trials_frame(self.records)

    def best_models(self, k: int = 1) -> list[Any]:
        """The ``k`` best saved models, loaded, best first."""
        import keras

        return [keras.saving.load_model(self.path / str(record.model_path)) for record in self._saved()[:k]]

    def predict(self, images: list[str | Path], *, top: int = 1, trial: int | None = None, ensemble: bool = False,
                progress: Callable[[int, int], None] | None = None) -> Any:
        """Classify image files (or folders of them) with the best saved model, or ``trial``'s,
        or with ``ensemble`` the kept models' averaged probabilities (see ``self.ensemble``).

        Each image is prepared as the training data was: resized to the model's input,
        gray or RGB as the data was, pixels from 0..255 to [0, 1]. Returns a pandas
        DataFrame, one row per file: ``file``, ``class``, ``probability``, and for
        ``top`` > 1 the runners-up as ``class_2``, ``probability_2``, ... ``progress`` gets
        (files read, files) as the images are read.

        Raises:
            RunError: no saved model (or none for ``trial``; fewer than 2 for ``ensemble``).
            DatasetError: a file is missing or not an image.
        """
        import keras
        import numpy as np
        import pandas as pd

        from autodl.data.files import image_files, read_image_files

        records = self._ensemble_models(trial) if ensemble else [self._saved_model(trial)]
        models = [keras.saving.load_model(self.path / str(record.model_path)) for record in records]
        paths = image_files(images)
        x = read_image_files(paths, tuple((self.dataset or {}).get("input_shape") or models[0].input_shape[1:]),
                             progress, upright=bool((self.dataset or {}).get("exif_orientation")))
        proba = np.mean([model.predict(x, batch_size=256, verbose=0) for model in models], axis=0)
        names = list((self.dataset or {}).get("class_names") or range(proba.shape[1]))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :max(1, min(top, proba.shape[1]))]
        rows = []
        for path, p, ranked in zip(paths, proba, order):
            row: dict[str, Any] = {"file": str(path)}
            for rank, index in enumerate(ranked, 1):
                suffix = "" if rank == 1 else f"_{rank}"
                row[f"class{suffix}"], row[f"probability{suffix}"] = names[index], float(p[index])
            rows.append(row)
        return pd.DataFrame(rows)

    def _saved(self) -> list[TrialRecord]:
        """The trials whose model is on disk, best first."""
        return [r for r in self.ranked() if r.model_path and (self.path / r.model_path).is_file()]

    def _ensemble_models(self, trial: int | None) -> list[TrialRecord]:
        kept = self._saved()[:self.settings.top_k]
        if trial is not None or len(kept) < 2:
            why = ("an ensemble averages the kept models, so it takes no --trial" if trial is not None else
                   f"an ensemble needs 2 or more, and {self.path} keeps {len(kept)} (a search with --top-k 3 "
                   "keeps its 3 best); use its best model without --ensemble")
            raise RunError(f"Cannot predict with an ensemble: {why}")
        return kept

    def _saved_model(self, trial: int | None) -> TrialRecord:
        saved = self._saved()
        chosen = [r for r in saved if trial is None or r.number == trial]
        if chosen:
            return chosen[0]
        kept = ", ".join(str(r.number) for r in sorted(saved, key=lambda r: r.number)) or "none"
        raise RunError(
            f"{self.path} has no saved model{'' if trial is None else f' for trial {trial}'} (trials with "
            f"a model in {self.path / 'models'}: {kept}). Only the top-{self.settings.top_k} trials keep "
            f"their models; {'pick one of those' if saved else 'let the search finish a trial first'}")

    # ------------------------------------------------------------------ running
    def run(self, callbacks: list[SearchCallback] | SearchCallback | None = None, *,
            finish: bool = True) -> "Search":
        """Run trials until ``settings.trials`` have finished (or the timeout, or Ctrl-C).

        ``finish=False`` leaves out the end (test evaluation, report): for worker processes
        whose parent finishes the search once all of them are done (``--workers``).
        """
        self.store.check_usable()  # a full or read-only folder fails now, not after a trial
        clear_stop()  # an in-process caller's earlier Ctrl-C stopped the earlier run, not this one
        with self._session(callbacks):
            self._run_engine(finish)
        return self

    def finish(self, callbacks: list[SearchCallback] | SearchCallback | None = None) -> "Search":
        """Evaluate the best trial on the test split and write run.json and the report.

        For a search whose trials other processes ran (``run(finish=False)``): with a shared
        storage, every worker's finished trials are taken in first.
        """
        with self._session(callbacks):
            self._finish()
        return self

    @contextlib.contextmanager
    def _session(self, callbacks: list[SearchCallback] | SearchCallback | None) -> Iterator[None]:
        """Callbacks set, data loaded once, ``--precision`` in force (an in-process caller gets
        its own policy back afterwards)."""
        self._callbacks = as_callback(callbacks)
        if self.splits is None:
            self._callbacks.on_status(f"loading {self.settings.dataset}")
            self.splits = self._load_data()
        with self._precision():
            yield

    def _run_engine(self, finish: bool = True) -> None:
        """Open the backend on the run's state and run trials, saving on every way out."""
        if self._backend is not None:  # run again in this process: continue where it stopped
            self.backend_state = self._backend.state()
        backend_cls = get_backend(self.settings.backend)
        self._backend = backend_cls(self.settings, self.space, self.store, state=self.backend_state,
                                    input_shape=self.splits.input_shape, num_classes=self.splits.num_classes,
                                    dataset=self.dataset)
        start = time.perf_counter()
        try:
            self._settle_unfinished(self._backend.recover(self.records))
            self.write_run("running")
            self._save_state()
            self._callbacks.on_search_start(self)
            self._backend.optimize(self._run_trial, n_trials=self.settings.trials,
                                   timeout=self.settings.timeout, stop_requested=lambda: False)
            self.elapsed += time.perf_counter() - start
            start = time.perf_counter()
            if finish:
                self._finish()
        except KeyboardInterrupt:
            self.elapsed += time.perf_counter() - start
            self.write_run("interrupted")
            self._save_state()
            raise SearchInterrupted(
                f"search interrupted; {len(self.finished)} of {self.settings.trials} trials are saved in "
                f"{self.path}. Continue with: autodl resume {self.path}") from None
        finally:
            self._backend.close()

    def resume(self, trials: int | None = None, callbacks: list[SearchCallback] | SearchCallback | None = None,
               *, timeout: float | None = None, space: str | Path | None = None, finish: bool = True) -> "Search":
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

    def check_resume(self, trials: int | None = None, timeout: float | None = None,
                     space: str | Path | None = None) -> None:
        """Refuse ``resume``'s arguments before anything runs (``Search.resume`` explains them)."""
        if trials is not None and trials < 1:
            raise UsageError(f"--trials must be at least 1, got {trials}")
        if timeout is not None and timeout <= 0:
            raise UsageError(f"--timeout must be positive seconds, got {timeout}")
        check_space(self.space, space, saved_in=self.store.search_pkl, settings=self.settings)

    def _load_data(self) -> Any:
        start = time.perf_counter()
        splits = load_data(self.settings, expected=self.dataset, progress=self._callbacks.on_load_progress)
        self.data_seconds = time.perf_counter() - start
        self.dataset = splits.summary()
        return splits

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
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

    def _run_trial(self, ctx: TrialContext) -> TrialRecord:
        from autodl.model import build_model, count_params
        from autodl.training import fit_model, free_memory

        record = TrialRecord(number=ctx.number, state=TrialState.RUNNING, params={}, worker=WORKER,
                             start=ctx.start)
        start = time.perf_counter()
        tracker: list[Any] = []
        model = None
        try:
            if stop_requested():  # a stop that surfaced as another exception: no new trial
                raise KeyboardInterrupt
            arch = self.space.sample(ctx.suggester)
            record.params = dict(ctx.suggester.params)
            self._put(record)
            self._callbacks.on_trial_start(ctx.number, record.params)
            metric, direction = self.space.objective

            def show(epoch: int, logs: dict[str, float]) -> None:
                self._callbacks.on_epoch_end(ctx.number, epoch, logs)

            with interrupts_deferred():  # a Ctrl-C is raised between batches, never inside Keras' C++
                if self.settings.seed is not None:
                    import keras

                    keras.utils.set_random_seed(self.settings.seed + ctx.number)
                model = build_model(arch, self.splits.input_shape, self.splits.num_classes)
                record.n_params = count_params(model)
                limit, source = self.space.max_params, "the space's training.max_params"
                if self.settings.max_params is not None:
                    limit, source = self.settings.max_params, "--max-params"
                if limit and record.n_params > limit:
                    raise TrialPruned(f"{record.n_params:,} parameters, more than {source} ({limit:,}): "
                                      "pruned before training")
                fit = fit_model(model, self.splits, batch_size=arch["batch_size"],
                                max_epochs=ctx.max_epochs or self.settings.epochs or self.space.max_epochs,
                                patience=self.space.patience, monitor=metric, direction=direction,
                                reporters=[show, *ctx.reporters], callback_out=tracker.append,
                                check_stop=check_stop, lr_schedule=arch.get("lr_schedule", "constant"))
            record.state, record.value = TrialState.COMPLETE, fit.value
        except TrialPruned as exc:
            record.state, record.error = TrialState.PRUNED, str(exc)
        except TrialFailed as exc:
            record.state, record.error = TrialState.FAILED, str(exc)
        except KeyboardInterrupt:
            self._end_trial(ctx, _interrupted(record), start, tracker, None)
            raise
        except Exception as exc:  # a trial's crash is its result, never the search's end
            if stop_requested():  # a Ctrl-C raised inside C code can surface as another exception
                self._end_trial(ctx, _interrupted(record), start, tracker, None)
                raise KeyboardInterrupt from exc
            logger.debug("trial %d failed", ctx.number, exc_info=True)
            record.state, record.error = TrialState.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        try:
            self._end_trial(ctx, record, start, tracker, model)
        except KeyboardInterrupt:  # while saving: if the engine has not counted it, neither do we
            if ctx.finish is not None:
                self._end_trial(ctx, _interrupted(record), start, tracker, None)
            raise
        del model
        with interrupts_deferred():
            free_memory()
        return record

    def _end_trial(self, ctx: TrialContext, record: TrialRecord, start: float, tracker: list[Any],
                   model: Any) -> None:
        record.seconds = time.perf_counter() - start
        if tracker:
            record.history, record.epochs = tracker[0].history, tracker[0].epochs
        if record.state == TrialState.COMPLETE and (record.value is None or not math.isfinite(record.value)):
            record.state, record.error = TrialState.FAILED, "the objective was not a finite number"
        self._put(record)
        self._merge_shared()
        save = (lambda path: _save_deferred(path, model)) if model is not None else None
        self.records = self.store.update_top_models(self.records, self.settings.top_k, self.direction,
                                                    save if record.state == TrialState.COMPLETE else None,
                                                    record.number)
        record = next(r for r in self.records if r.number == record.number)
        # The engine's tell is the commit point. search.pkl is saved just before it, holding the
        # sampler before and after this trial: a resume takes whichever matches what the engine
        # counted. The run folder is rewritten just after; a resume adopts the engine's record.
        self._save_state()
        if ctx.finish is not None:
            finish, ctx.finish = ctx.finish, None  # told once; a Ctrl-C from here on keeps the outcome
            finish(record)
        self.store.write_trials(self.records)
        self._save_state()
        self.write_run("running")
        self._callbacks.on_trial_end(record)

    def _put(self, record: TrialRecord) -> None:
        """Insert or replace the record with this number and write trials.json/csv."""
        self.records = [r for r in self.records if r.number != record.number] + [dataclasses.replace(record)]
        self.records.sort(key=lambda r: r.number)
        self.store.write_trials(self.records)

    def _merge_shared(self) -> None:
        """With a shared storage, take in the trials other workers finished."""
        if not self.settings.storage:
            return
        if self._backend is not None:
            shared = self._backend.records()
        else:  # finishing a search whose trials other processes ran
            from autodl.backends.optuna_storage import study_records

            shared = study_records(self.settings.storage, self.settings.name or self.path.name)
        mine = {r.number: r for r in self.records}
        for record in shared:
            ours = mine.get(record.number)
            if ours is None or (ours.worker != WORKER and ours.state not in FINISHED):
                mine[record.number] = record
        self.records = sorted(mine.values(), key=lambda r: r.number)

    def _settle_unfinished(self, uncounted: list[int]) -> None:
        """Make the run folder agree with the engine after a crash, a kill or Ctrl-C.

        The engine's tell is the commit point: a trial the engine counted keeps (or gets back)
        the engine's record; one it did not count (left running by a killed process, or
        stopped before it was told) becomes ``interrupted`` and its slot is run again. Model
        files and temporary files of trials that did not make it are removed.
        """
        if self.settings.storage:  # a shared study: running trials may be other workers' live ones,
            kept = [r for r in self.records if r.state != TrialState.RUNNING]  # finished ones merge per trial
            if len(kept) != len(self.records):
                self.records = self.store.update_top_models(kept, self.settings.top_k, self.direction, None, -1)
                self.store.write_trials(self.records)
            return
        before = [r.to_dict() for r in self.records]
        known = {r.number for r in self.records}
        self.records += [TrialRecord(number=n, state=TrialState.RUNNING, params={}) for n in uncounted
                         if n not in known]  # asked, then killed before its record was written
        for i, record in enumerate(self.records):
            if record.state == TrialState.INTERRUPTED:
                continue
            adopted = self._backend.finished_record(record.number)
            if adopted is not None:
                if adopted.to_dict() != dataclasses.replace(record, model_path=adopted.model_path).to_dict():
                    self.records[i] = adopted  # told, then killed before trials.json was rewritten
            elif record.state == TrialState.RUNNING or record.number in uncounted:
                self.records[i] = dataclasses.replace(
                    record, state=TrialState.INTERRUPTED, model_path=None,
                    error="the process stopped while this trial ran; its slot is run again")
        self.records.sort(key=lambda r: r.number)
        self.records = self.store.update_top_models(self.records, self.settings.top_k, self.direction, None, -1)
        removed = self.store.remove_orphans(self.records)
        if removed:
            logger.info("removed files left by a stopped process: %s", ", ".join(p.name for p in removed))
        if [r.to_dict() for r in self.records] != before:
            self.store.write_trials(self.records)

    # ------------------------------------------------------------------ saving
    def state(self) -> dict[str, Any]:
        """What ``search.pkl`` holds; records live in trials.json, the source of truth."""
        return {"format": STATE_FORMAT, "settings": self.settings.to_dict(), "space": self.space.to_dict(),
                "dataset": self.dataset, "created": self.created, "elapsed": self.elapsed,
                "backend_state": self._backend.state() if self._backend else self.backend_state,
                "versions": environment.versions()}

    def _save_state(self) -> None:
        dump_signed(self.state(), self.store.search_pkl)

    def write_run(self, status: str) -> None:
        """Rewrite run.json: settings, dataset, counts, best trial, timings, test metrics."""
        counts = {s.value: sum(r.state == s for r in self.records) for s in TrialState if s != TrialState.RUNNING}
        best = self.best_trial
        metric, direction = self.space.objective
        info = {
            "autodl_version": environment.__version__, "name": self.store.root.name, "status": status,
            "created": self.created, "updated": _now(), "finished": _now() if status == "finished" else None,
            "settings": self.settings.to_dict(), "space": self.space.to_dict(), "dataset": self.dataset,
            "objective": {"metric": metric, "direction": direction},
            "study": getattr(self._backend, "study_info", self._shared_study)(),
            "precision_policy": self.policy,
            "versions": environment.versions(), "hardware": environment.hardware(),
            "timings": {"total_seconds": round(self.elapsed, 2), "data_seconds": round(self.data_seconds, 2),
                        "trial_seconds": round(sum(r.seconds for r in self.records), 2)},
            "counts": counts,
            "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params,
                                               "model_path": best.model_path,
                                               "architecture": self.space.sample(_fixed(best.params))},
            "test_metrics": self.test_metrics,
            "ensemble": self.ensemble,
        }
        self.store.write_run(info)

    def _shared_study(self) -> dict[str, Any] | None:
        """The study of a search finished without its engine (``--workers``: the workers had it)."""
        if not self.settings.storage:
            return None
        from autodl.backends.optuna_storage import study_info

        return study_info(self.settings.storage, self.settings.name or self.path.name)

    def _finish(self) -> None:
        self._merge_shared()
        if self.settings.storage:
            self.records = self.store.update_top_models(self.records, self.settings.top_k, self.direction, None, -1)
            self.store.write_trials(self.records)
        best = self.best_trial
        if best is not None and best.model_path and (self.path / best.model_path).is_file():
            import keras

            self._callbacks.on_status(f"evaluating trial {best.number} on the test split")
            with interrupts_deferred():
                model = keras.saving.load_model(self.path / best.model_path)
                self.test_metrics, proba = evaluate_best(model, self.splits, self.store.evaluation_npz,
                                                         check_stop=check_stop)
                kept = self._saved()[:self.settings.top_k]
                if len(kept) >= 2 and kept[0].number == best.number:
                    self._callbacks.on_status(f"evaluating the top-{len(kept)} ensemble")
                    models = [model] + [keras.saving.load_model(self.path / str(r.model_path)) for r in kept[1:]]
                    self.ensemble = evaluate_ensemble(models, [r.number for r in kept], self.splits, check_stop,
                                                      best_test_proba=proba)
        self.write_run("finished")
        self._save_state()
        try:
            from autodl.reporting import write_report
        except ImportError:  # reporting is optional until its issue lands
            write_report = None
        if write_report is not None:
            self._callbacks.on_status("writing the HTML report")
            write_report(self.path)
        self._callbacks.on_search_end(self)


def load_data(settings: SearchSettings, expected: dict[str, Any] | None = None,
              progress: Callable[[int, int], None] | None = None) -> Any:
    """Load and split the dataset once per search; refuse data that differs from ``expected``.

    ``progress`` gets (files read, files) while an image folder is read.
    """
    from autodl.data import load_splits

    # A run started before autodl applied EXIF orientation read image files as stored: it goes on so.
    upright = expected is None or bool(expected.get("exif_orientation"))
    splits = load_splits(settings.dataset, data_dir=settings.data_dir, val_fraction=settings.val_fraction,
                         seed=settings.seed or 0, subset=settings.subset, image_size=settings.image_size,
                         progress=progress, upright=upright)
    if expected and expected.get("fingerprint") != splits.fingerprint:
        raise RunError(
            f"the dataset {settings.dataset!r} is not the one this run was started with (its contents "
            f"differ: fingerprint {splits.fingerprint[:12]} != {str(expected.get('fingerprint'))[:12]}). "
            "Resuming on other data would mix incomparable trials; start a new search instead")
    return splits


def _save_deferred(path: Path, model: Any) -> None:
    with interrupts_deferred():
        atomic_save_model(path, model)


def _interrupted(record: TrialRecord) -> TrialRecord:
    return dataclasses.replace(record, state=TrialState.INTERRUPTED, value=None, model_path=None,
                               error="stopped by Ctrl-C; this slot is run again on resume")


def _fixed(params: dict[str, Any]) -> Any:
    from autodl.space import FixedSuggester

    return FixedSuggester(params)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")
