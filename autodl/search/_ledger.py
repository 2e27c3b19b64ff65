"""The run's trial records, and the only writer of trials.json/csv, run.json and search.pkl.

The crash-safe order of a trial's writes lives here, where it is enforced (``commit``), and
``tests/test_resume.py``'s kill -9 tests guard it:

1. When a trial starts, its record is written with state ``running`` (``put``).
2. When it ends, its final record is written, and the top-k models are updated: a new model
   is saved before any old one is deleted, so a crash in between leaves an extra file
   rather than a missing one.
3. ``search.pkl`` is saved, holding the engine's sampler before and after this trial.
4. The engine is told the outcome: this is the commit point. A resume takes whichever
   sampler matches what the engine counted.
5. trials.json/csv are rewritten (the engine's record, with the model path), ``search.pkl``
   is saved again and ``run.json`` is rewritten.

A process killed anywhere in between leaves a run that ``settle`` makes agree with the
engine on resume: a trial the engine counted keeps (or gets back) the engine's record; one
it did not count becomes ``interrupted`` and its slot is run again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodl import environment
from autodl.records import TrialRecord, TrialState
from autodl.runs import atomic_save_model, dump_signed
from autodl.search.stop import interrupts_deferred
from autodl.space import FixedSuggester

if TYPE_CHECKING:
    from autodl.backends import BaseBackend
    from autodl.search.search import Search

logger = logging.getLogger(__name__)

#: The format of ``search.pkl``; ``load`` refuses another.
STATE_FORMAT = 1
#: Names this process (and its GPU, under --gpus) in the records of shared studies.
WORKER = f"{socket.gethostname()}:{os.getpid()}" + (
    f":gpu{os.environ['CUDA_VISIBLE_DEVICES']}" if os.environ.get("CUDA_VISIBLE_DEVICES") else ""
)
#: States that count towards the trial budget.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


class Ledger:
    """The records of one search's trials, written to its run folder in a crash-safe order.

    ``search`` supplies what run.json and search.pkl describe (settings, space, dataset,
    timings, test metrics, the engine); the ledger decides when each file is written.
    """

    def __init__(self, search: Search, records: list[TrialRecord] | None = None) -> None:
        self.search = search
        self.records: list[TrialRecord] = sorted(records or [], key=lambda r: r.number)

    @property
    def _store(self) -> Any:
        return self.search.store

    # ------------------------------------------------------------------ one trial
    def put(self, record: TrialRecord) -> None:
        """Insert or replace the record with this number and write trials.json/csv."""
        self.records = [r for r in self.records if r.number != record.number] + [dataclasses.replace(record)]
        self.records.sort(key=lambda r: r.number)
        self._store.write_trials(self.records)

    def commit(
        self,
        record: TrialRecord,
        model: Any,
        tell: Callable[[TrialRecord], None] | None,
        shared: Callable[[], list[TrialRecord] | None] | None = None,
    ) -> TrialRecord:
        """Write a finished trial in the crash-safe order (module docstring); return it as kept.

        ``model`` is saved if the trial ranks in the top-k; ``tell`` commits it to the engine
        (None once told); ``shared`` gives the trials other workers finished, to merge first.
        """
        self.put(record)
        self.merge_shared(shared() if shared is not None else None)
        save = (lambda path: _save_deferred(path, model)) if model is not None else None
        self._keep_top_models(save if record.state == TrialState.COMPLETE else None, record.number)
        record = next(r for r in self.records if r.number == record.number)
        self.save_state()
        if tell is not None:
            tell(record)
        self._store.write_trials(self.records)
        self.save_state()
        self.write_run("running")
        return record

    def merge_shared(self, shared: list[TrialRecord] | None) -> None:
        """Take in the trials other workers finished (a shared storage's records)."""
        if shared is None:
            return
        mine = {r.number: r for r in self.records}
        for record in shared:
            ours = mine.get(record.number)
            if ours is None or (ours.worker != WORKER and ours.state not in FINISHED):
                mine[record.number] = record
        self.records = sorted(mine.values(), key=lambda r: r.number)

    def refresh_top_models(self) -> None:
        """Re-rank after trials arrived from elsewhere (workers) and rewrite trials.json/csv."""
        self._keep_top_models(None, -1)
        self._store.write_trials(self.records)

    def _keep_top_models(self, save: Callable[[Path], None] | None, number: int) -> None:
        self.records = self._store.update_top_models(
            self.records, self.search.settings.top_k, self.search.direction, save, number
        )

    # ------------------------------------------------------------------ after a crash
    def settle(self, backend: BaseBackend, uncounted: list[int]) -> None:
        """Make the run folder agree with the engine after a crash, a kill or Ctrl-C.

        The engine's tell is the commit point: a trial the engine counted keeps (or gets back)
        the engine's record; one it did not count (left running by a killed process, or
        stopped before it was told) becomes ``interrupted`` and its slot is run again. Model
        files and temporary files of trials that did not make it are removed.
        """
        if self.search.settings.storage:  # a shared study: running trials may be other workers' live ones,
            kept = [r for r in self.records if r.state != TrialState.RUNNING]  # finished ones merge per trial
            if len(kept) != len(self.records):
                self.records = kept
                self.refresh_top_models()
            return
        before = [r.to_dict() for r in self.records]
        known = {r.number for r in self.records}
        self.records += [
            TrialRecord(number=n, state=TrialState.RUNNING, params={}) for n in uncounted if n not in known
        ]  # asked, then killed before its record was written
        for i, record in enumerate(self.records):
            if record.state == TrialState.INTERRUPTED:
                continue
            adopted = backend.finished_record(record.number)
            if adopted is not None:
                if adopted.to_dict() != dataclasses.replace(record, model_path=adopted.model_path).to_dict():
                    self.records[i] = adopted  # told, then killed before trials.json was rewritten
            elif record.state == TrialState.RUNNING or record.number in uncounted:
                self.records[i] = dataclasses.replace(
                    record,
                    state=TrialState.INTERRUPTED,
                    model_path=None,
                    error="the process stopped while this trial ran; its slot is run again",
                )
        self.records.sort(key=lambda r: r.number)
        self._keep_top_models(None, -1)
        removed = self._store.remove_orphans(self.records)
        if removed:
            logger.info("removed files left by a stopped process: %s", ", ".join(p.name for p in removed))
        if [r.to_dict() for r in self.records] != before:
            self._store.write_trials(self.records)

    # ------------------------------------------------------------------ the run's files
    def state(self) -> dict[str, Any]:
        """What ``search.pkl`` holds; records live in trials.json, the source of truth."""
        search = self.search
        return {
            "format": STATE_FORMAT,
            "settings": search.settings.to_dict(),
            "space": search.space.to_dict(),
            "dataset": search.dataset,
            "created": search.created,
            "elapsed": search.elapsed,
            "backend_state": search.engine_state(),
            "versions": environment.versions(),
        }

    def save_state(self) -> None:
        dump_signed(self.state(), self._store.search_pkl)

    def write_run(self, status: str) -> None:
        """Rewrite run.json: settings, dataset, counts, best trial, timings, test metrics."""
        search = self.search
        counts = {s.value: sum(r.state == s for r in self.records) for s in TrialState if s != TrialState.RUNNING}
        best = search.best_trial
        metric, direction = search.space.objective
        info = {
            "autodl_version": environment.__version__,
            "name": self._store.root.name,
            "status": status,
            "created": search.created,
            "updated": now(),
            "finished": now() if status == "finished" else None,
            "settings": search.settings.to_dict(),
            "space": search.space.to_dict(),
            "dataset": search.dataset,
            "objective": {"metric": metric, "direction": direction},
            "study": search.study_info(),
            "precision_policy": search.policy,
            "versions": environment.versions(),
            "hardware": environment.hardware(),
            "timings": {
                "total_seconds": round(search.elapsed, 2),
                "data_seconds": round(search.data_seconds, 2),
                "trial_seconds": round(sum(r.seconds for r in self.records), 2),
            },
            "counts": counts,
            "best": None
            if best is None
            else {
                "number": best.number,
                "value": best.value,
                "params": best.params,
                "model_path": best.model_path,
                "architecture": search.space.sample(FixedSuggester(best.params)),
            },
            "test_metrics": search.test_metrics,
            "ensemble": search.ensemble,
            "final": search.final,
            "accounting": search.accounting,
        }
        if search.origin is not None:  # a run trained from another run's configurations (autodl train)
            info["origin"] = search.origin
        self._store.write_run(info)


def now() -> str:
    """The local time with its offset, to the second (run.json's timestamps)."""
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _save_deferred(path: Path, model: Any) -> None:
    with interrupts_deferred():
        atomic_save_model(path, model)
