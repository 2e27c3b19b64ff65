"""Keras Tuner backend: a KT oracle (random, bayesian, hyperband) proposes, autodl runs trials.

KT keeps its project folder (``<run>/kerastuner``) and picks the values; autodl's runner
builds, trains, records and saves every model. The backend drives KT's oracle with the
loop of ``BaseTuner.search`` itself, so KT never builds a model, runs callbacks (its
TensorBoard hook breaks under JAX) or writes checkpoints, and it learns each outcome
through ``ctx.finish`` before the run folder commits it. Choices, matching the Optuna backend:

* ``--trials N`` runs exactly N trials (fewer only if KT finds no new point in a tiny
  space). Hyperband too: its oracle honours ``max_trials`` and starts as many brackets as
  needed, so a search may end mid-bracket. Its rounds train from scratch for
  ``tuner/epochs`` epochs: autodl keeps no per-trial weights to warm-start from.
* Failed and pruned trials are KT ``FAILED`` trials, never retried, never fatal in a row.
* Interrupted trials (Ctrl-C, a killed process) become ``FAILED`` with
  ``INTERRUPTED_MESSAGE`` and are not counted; later trials take new numbers (KT's own
  resume would rerun them under the old number).
* ``budget_spent`` (the search's time budget) is checked before each new trial.
* KT prints (reload notices, trial tables): its calls run with stdout/stderr discarded.
* KT's own distributed mode (a chief serving the oracle over gRPC, workers training,
  chosen by its ``KERASTUNER_*`` environment variables) is ``kerastuner_distributed``:
  ``optimize`` hands the chief's and the workers' loops to it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodl.backends import kerastuner_distributed as distributed
from autodl.backends.base import BaseBackend, TrialContext, TrialRunner
from autodl.backends.kerastuner_hp import (
    INTERRUPTED_MESSAGE,
    KerasTunerSuggester,
    declare_space,
    quiet,
)
from autodl.exceptions import AutoDLError, RunError, UsageError
from autodl.records import TUNERS, SearchSettings, TrialRecord, TrialState
from autodl.space import SearchSpace

if TYPE_CHECKING:
    from autodl.runs import RunStore

HYPERBAND_FACTOR = 3
logger = logging.getLogger(__name__)
_UNLIMITED = 10**9  # failures in a row / Hyperband iterations; finite so it saves as JSON


def _kt_seed(seed: int | None) -> int | None:
    """KT reads seed 0 as "no seed" (``seed or random.randint``): shift into [1, 2**31)."""
    return None if seed is None else seed % (2**31 - 1) + 1


class KerasTunerBackend(BaseBackend):
    """Runs trials proposed by a Keras Tuner oracle; its project folder makes a run resumable.

    KT tuners cannot be pickled: ``state()`` names the tuner only, and a resumed search
    rebuilds the tuner from the settings and space and reloads ``store.kerastuner_dir``.
    KT discovers the space through ``declare_space``, which builds no model.
    """

    name = "kerastuner"

    def __init__(
        self,
        settings: SearchSettings,
        space: SearchSpace,
        store: RunStore,
        state: dict[str, Any] | None = None,
        *,
        dataset: dict[str, Any] | None = None,
        warm_start: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(settings, space, store, state, dataset=dataset, warm_start=warm_start)
        if settings.tuner not in TUNERS:
            raise UsageError(
                f"unknown tuner {settings.tuner!r} for --backend kerastuner; expected one of {', '.join(TUNERS)}"
            )
        if settings.storage:
            raise UsageError(
                "--storage is for --backend optuna; the Keras Tuner backend keeps its "
                "state in the run folder (several processes: KT's KERASTUNER_* "
                "environment variables, see docs/distributed.md): drop --storage"
            )
        if state and state.get("tuner", settings.tuner) != settings.tuner:
            raise RunError(
                f"this run was searched with --tuner {state['tuner']}, not "
                f"{settings.tuner}; resume it with the tuner it started with"
            )
        self.monitor, self.direction = space.objective
        if space.start and state is None:
            logger.warning(
                "the space's start configurations are tried first by --backend optuna only; "
                "Keras Tuner's %s tuner draws every trial itself",
                settings.tuner,
            )
        self.role = distributed.role()  # None, "chief" or "worker"
        distributed.claim_project(store.kerastuner_dir, distributed.tuner_id() if self.role else None)
        with quiet():
            self.tuner = self._make_tuner()
            self.tuner.save()  # so that a run killed in its first trial still reloads
        self.oracle = self.tuner.oracle  # on a worker, KT's OracleClient to the chief

    def _make_tuner(self) -> Any:
        try:
            import keras_tuner as kt
        except ImportError as exc:
            raise UsageError(
                "--backend kerastuner needs the keras-tuner package; run "
                "`pip install keras-tuner` or use --backend optuna"
            ) from exc
        kwargs: dict[str, Any] = dict(
            hypermodel=functools.partial(declare_space, self.space),
            objective=kt.Objective(self.monitor, "max" if self.direction == "maximize" else "min"),
            seed=_kt_seed(self.settings.seed),
            max_retries_per_trial=0,
            max_consecutive_failed_trials=_UNLIMITED,
            overwrite=False,
            directory=str(self.store.kerastuner_dir.parent),
            project_name=self.store.kerastuner_dir.name,
        )
        if self.settings.tuner == "hyperband":
            kwargs.update(
                max_epochs=self.settings.epochs or self.space.max_epochs,
                factor=HYPERBAND_FACTOR,
                hyperband_iterations=_UNLIMITED,
            )
            tuner_class = kt.Hyperband
        else:
            kwargs["max_trials"] = self.settings.trials
            tuner_class = kt.RandomSearch if self.settings.tuner == "random" else kt.BayesianOptimization
        try:
            tuner = tuner_class(**kwargs)
        except AutoDLError:
            raise
        except ImportError as exc:  # BayesianOptimization needs scipy and scikit-learn
            raise UsageError(
                f"--tuner {self.settings.tuner} needs a package that is not installed "
                f"({exc}); install it or pick --tuner random"
            ) from exc
        except Exception as exc:
            raise RunError(
                f"cannot open the Keras Tuner project {self.store.kerastuner_dir}: "
                f"{type(exc).__name__}: {exc}. The folder may be damaged or come from another "
                "Keras Tuner version; start a new run, or delete the folder to restart this search"
            ) from exc
        tuner.oracle.verbose = 0
        return tuner

    # -- the search --------------------------------------------------------------------
    def optimize(
        self, run_trial: TrialRunner, *, n_trials: int, budget_spent: Callable[[], bool] = lambda: False
    ) -> None:
        """KT's own ``Tuner.search`` loop, with the runner in place of ``Tuner.run_trial``.

        Driving the oracle directly (create_trial / update_trial / end_trial, as
        ``BaseTuner.search`` does) lets ``ctx.finish`` tell KT a trial's outcome before the
        search commits it; KT's loop would learn it only after ``run_trial`` returned.
        """
        if self.role == "worker":
            distributed.work(self, run_trial, budget_spent=budget_spent)
            return
        with quiet():
            self._settle_running()
        if self.role == "chief":
            distributed.serve(self, n_trials=n_trials, budget_spent=budget_spent)
            with quiet():
                self.tuner.save()
            return
        while not budget_spent():
            budget = n_trials + len(self.interrupted_trials())
            if len(self.oracle.trials) >= budget:
                break
            self.oracle.max_trials = budget  # also how KT pads trial ids
            with quiet():
                trial = self.oracle.create_trial(self.tuner.tuner_id)
            if trial.status != "RUNNING":  # STOPPED: KT found no new point in the space
                break
            try:
                self.run_one(trial, run_trial)
            except BaseException:  # Ctrl-C or a broken run folder: the trial does not count
                with quiet():
                    self._settle_running()
                raise

    def run_one(self, trial: Any, run_trial: TrialRunner) -> None:
        """Run one KT trial through autodl's runner; KT learns its outcome through ``finish``."""
        ended: list[bool] = []

        def finish(record: TrialRecord) -> None:
            self._end(trial, record)
            ended.append(True)

        hp = trial.hyperparameters
        epochs = hp.values.get("tuner/epochs")  # Hyperband's budget for this round
        ctx = TrialContext(
            number=int(trial.trial_id),
            suggester=KerasTunerSuggester(hp),
            max_epochs=int(epochs) if epochs else None,
            finish=finish,
        )
        record = run_trial(ctx)
        if not ended:
            self._end(trial, record)

    def _end(self, trial: Any, record: TrialRecord) -> None:
        """Tell KT how a trial ended and save the project, as ``Tuner.on_trial_end`` does."""
        if record.state == TrialState.INTERRUPTED and self.role == "worker":
            # The chief hears of it when this worker leaves (the trial proto has no message).
            _write_json(self._record_path(trial.trial_id), record.to_dict())
            return
        if record.state == TrialState.COMPLETE and record.value is not None and math.isfinite(record.value):
            with quiet():
                self.oracle.update_trial(trial.trial_id, {self.monitor: float(record.value)})
            trial.status, trial.message = "COMPLETED", None
        elif record.state == TrialState.INTERRUPTED:
            trial.status, trial.message = "FAILED", INTERRUPTED_MESSAGE
        else:  # failed or pruned: KT has no pruned state
            trial.status, trial.message = "FAILED", record.error or f"trial {record.state.value}"
        _write_json(self._record_path(trial.trial_id), record.to_dict())
        with quiet():
            self.oracle.end_trial(trial)
            self.tuner.save()

    def _settle_running(self) -> list[int]:
        """Mark trials left RUNNING (Ctrl-C, a killed process) interrupted, so they don't count."""
        stale = [t for t in self.oracle.trials.values() if t.status == "RUNNING"]
        for trial in stale:
            if trial.trial_id in self.oracle._retry_queue:  # KT's reload queues them to rerun
                self.oracle._retry_queue.remove(trial.trial_id)
            trial.status, trial.message = "FAILED", INTERRUPTED_MESSAGE
            self.oracle.end_trial(trial)
        if stale:
            self.tuner.save()
        return sorted(int(t.trial_id) for t in stale)

    def interrupted_trials(self) -> list[Any]:
        return [t for t in self.oracle.trials.values() if t.message == INTERRUPTED_MESSAGE]

    def _record_path(self, trial_id: str) -> Path:
        return Path(self.tuner.get_trial_dir(trial_id)) / "autodl_record.json"

    # -- bookkeeping -------------------------------------------------------------------
    def recover(self, records: list[TrialRecord]) -> list[int]:
        """Mark trials a killed process left running as interrupted; return their numbers."""
        if self.role == "worker":  # the chief holds the trials
            return []
        with quiet():
            return self._settle_running()

    def finished_count(self) -> int | None:
        if self.role == "worker":
            return None
        return sum(
            1
            for t in self.oracle.trials.values()
            if t.status in ("COMPLETED", "FAILED", "INVALID") and t.message != INTERRUPTED_MESSAGE
        )

    def finished_record(self, number: int) -> TrialRecord | None:
        """The record KT kept for a finished trial, for a run folder that lost it in a crash."""
        if self.role == "worker":  # the chief holds the trials; the record is kept here
            for path in self.store.kerastuner_dir.glob("trial_*/autodl_record.json"):
                if path.parent.name[len("trial_") :].isdigit() and int(path.parent.name[len("trial_") :]) == number:
                    record = TrialRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
                    return record if record.state not in (TrialState.RUNNING, TrialState.INTERRUPTED) else None
            return None
        trial = next((t for t in self.oracle.trials.values() if int(t.trial_id) == number), None)
        if trial is None or trial.status == "RUNNING" or trial.message == INTERRUPTED_MESSAGE:
            return None
        path = self._record_path(trial.trial_id)
        return TrialRecord.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None

    def study_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"tuner": self.settings.tuner, "project": self.store.kerastuner_dir.name}
        if self.role:
            info["distributed"] = {
                "role": self.role,
                "tuner_id": distributed.tuner_id(),
                "oracle": distributed.address(),
            }
        if self.role == "chief":
            info["trials"] = self.finished_count()  # every worker's; the runs are the workers'
        return info

    def state(self) -> dict[str, Any]:
        return {"tuner": self.settings.tuner}


def _write_json(path: Path, data: Any) -> None:
    """Write whole or not at all (the runs layer's atomic helpers are a sibling's)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
