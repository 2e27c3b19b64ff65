"""Optuna backend: a study in Optuna's RDB storage, driven with ask/tell.

ask/tell (rather than ``study.optimize``) lets the search own Ctrl-C, the shared trial
budget across workers and the exact record of every trial.

Longer than 300 lines: one study's whole life (open or create it, queue configurations, ask,
tell, give a stopped trial's draws back, recover after a crash) is one protocol whose steps
share the study's state; how it searches (samplers, pruners, exploitation) is apart, in
``optuna_policy``, and the storage plumbing in ``optuna_storage``.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autodl.backends.base import BaseBackend, TrialContext, TrialRunner
from autodl.backends.optuna_policy import ORIGIN_ATTR, QUEUED_ATTR, make_pruner, make_sampler, plan_neighbour
from autodl.backends.optuna_storage import (
    INTERRUPTED_ATTR,
    RECORD_ATTR,
    START_ATTR,
    check_same_search,
    counts,
    fail_stale,
    heartbeat,
    make_storage,
    name_owner,
    queue_start,
    redact,
    save_study_settings,
    study_info,
)
from autodl.exceptions import RunError, TrialPruned
from autodl.records import SearchSettings, TrialRecord, TrialState
from autodl.space import SearchSpace
from autodl.space.suggest import BaseSuggester

if TYPE_CHECKING:
    from autodl.runs import RunStore

logger = logging.getLogger(__name__)


class OptunaSuggester(BaseSuggester):
    """Answers the space's questions with an Optuna trial's ``suggest_*``."""

    def __init__(self, trial: Any) -> None:
        super().__init__()
        self.trial = trial

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.params[name] = value = self.trial.suggest_int(name, low, high, step=step, log=log)
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        self.params[name] = value = self.trial.suggest_float(name, low, high, step=step, log=log)
        return value

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        self.params[name] = value = self.trial.suggest_categorical(name, values)
        return value


class OptunaBackend(BaseBackend):
    """Runs trials from one Optuna study; several processes may share it via RDB storage."""

    name = "optuna"
    supports_warm_start = True

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
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        metric, direction = space.objective
        self.monitor = metric
        self.shared = bool(settings.storage)
        # Workers sharing a study must not draw the same points: a shared study's samplers are
        # seeded from the OS, a single-process one from --seed (and restored on resume).
        saved = state or {}
        sampler = saved.get("sampler") or make_sampler(
            settings.sampler, None if self.shared else settings.seed, shared=self.shared
        )
        # The sampler as it was before the last trial it drew for: that trial's draws are
        # given back if it did not count (Ctrl-C, kill -9), so its slot re-runs them.
        pending = saved.get("pending") or {}
        self._pending: tuple[int | None, bytes | None] = (pending.get("trial"), pending.get("sampler_before"))
        self._current: int | None = None
        self._sampler_before: bytes | None = None
        self.storage_url = settings.storage or f"sqlite:///{store.study_db}"
        self.study = _open_study(self.storage_url, settings, space, store, sampler, dataset, resumed=state is not None)
        check_same_search(self.study, space.to_dict(), dataset, self.storage_url)
        if state is None:
            self._enqueue_start(warm_start or [])
        if self.study.direction.name.lower() != direction:
            raise RunError(
                f"the study {self.study.study_name!r} in {redact(self.storage_url)} "
                f"{self.study.direction.name.lower()}s, but this space's objective is to {direction}; "
                "use another --name for a different objective"
            )

    def _enqueue_start(self, warm: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue earlier runs' best configurations (``--warm-start``), then the space's start
        configurations, ahead of the sampler, once per study.

        A shared study that already has trials got them from its first worker. Parameters a
        configuration leaves out are drawn by the sampler as usual.
        """
        if self.study.get_trials(deepcopy=False):
            return
        for origin, params in warm:
            self.study.enqueue_trial(params, user_attrs={ORIGIN_ATTR: origin, QUEUED_ATTR: params}, skip_if_exists=True)
        for index, params in enumerate(self.space.start):
            self.study.enqueue_trial(params, user_attrs={START_ATTR: index}, skip_if_exists=True)

    def _requeue_start(self, user_attrs: dict[str, Any]) -> None:
        """A queued configuration whose trial did not count goes back to the queue's end."""
        if QUEUED_ATTR in user_attrs:
            self.study.enqueue_trial(
                user_attrs[QUEUED_ATTR],
                user_attrs={ORIGIN_ATTR: user_attrs.get(ORIGIN_ATTR), QUEUED_ATTR: user_attrs[QUEUED_ATTR]},
            )
            return
        queue_start(self.study, self.space.start, user_attrs.get(START_ATTR))

    def optimize(
        self, run_trial: TrialRunner, *, n_trials: int, budget_spent: Callable[[], bool] = lambda: False
    ) -> None:
        while not budget_spent():
            fail_stale(self.study)
            if self._taken() >= n_trials:
                break
            self._plan_next()
            slot = self._taken()
            self._current, self._sampler_before = None, None if self.shared else pickle.dumps(self.study.sampler)
            with warnings.catch_warnings():
                # Optuna expects heartbeats under study.optimize; autodl sends its own (below).
                warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
                trial = self.study.ask()
            self._current = trial.number
            try:  # a Ctrl-C before the trial's own try below must not leave it RUNNING: it would hold a slot
                name_owner(self.study, trial)
                over = self._over_budget(trial.number, n_trials)
            except BaseException:
                self._tell_interrupted(trial)
                raise
            if over:  # another worker took the last slot
                self.study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
                self.study.tell(trial, state=self._fail_state())
                break
            told: list[TrialRecord] = []

            def finish(record: TrialRecord, trial: Any = trial, told: list[TrialRecord] = told) -> None:
                self._tell(trial, record)
                told.append(record)

            start = trial.user_attrs.get(START_ATTR)
            ctx = TrialContext(
                number=trial.number,
                suggester=OptunaSuggester(trial),
                reporters=[self._pruning_reporter(trial)],
                finish=finish,
                start=start,
                slot=slot,
                origin=trial.user_attrs.get(ORIGIN_ATTR) or (None if start is None else "start"),
            )
            try:
                with heartbeat(self.study._storage, trial._trial_id):
                    record = run_trial(ctx)
            except BaseException:
                if not told:
                    self._tell_interrupted(trial)
                raise
            if not told:
                self._tell(trial, record)

    def _plan_next(self) -> None:
        """Queue a neighbour of a good trial when exploitation takes this slot (``plan_neighbour``)."""
        if self.settings.sampler != "tpe":  # random, GP and CMA-ES searches stay as their samplers make them
            return
        planned = plan_neighbour(self.study, self.space, None if self.shared else self.settings.seed)
        if planned is not None:
            params, origin = planned
            self.study.enqueue_trial(params, user_attrs={ORIGIN_ATTR: origin})

    def _pruning_reporter(self, trial: Any) -> Callable[[int, dict[str, float]], None]:
        warmup = self.space.pruning_warmup  # default 1: the first epoch mostly shows the init

        def report(epoch: int, logs: dict[str, float]) -> None:
            trial.report(logs[self.monitor], epoch)
            if epoch >= warmup and trial.should_prune():
                raise TrialPruned(
                    f"pruned after epoch {epoch + 1} ({self.monitor} {logs[self.monitor]:.4f} below the pruner's bar)"
                )

        return report

    def _tell(self, trial: Any, record: TrialRecord) -> None:
        from optuna.trial import TrialState as OptunaState

        # The storage keeps the whole record: a run folder that lost it, or a report built
        # from a shared PostgreSQL study, can rebuild it from there.
        trial.set_user_attr(RECORD_ATTR, record.to_dict())
        if record.state == TrialState.COMPLETE:
            self.study.tell(trial, record.value)
        elif record.state == TrialState.PRUNED:
            self.study.tell(trial, state=OptunaState.PRUNED)
        elif record.state == TrialState.INTERRUPTED:
            self._tell_interrupted(trial)
        else:
            self.study.tell(trial, state=OptunaState.FAIL)

    def _tell_interrupted(self, trial: Any) -> None:
        from optuna.trial import TrialState as OptunaState

        with contextlib.suppress(Exception):  # the trial may already be finished
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            self.study.tell(trial, state=OptunaState.FAIL)
            self._requeue_start(trial.user_attrs)
        if trial.number == self._current:
            self._give_back_draws(self._sampler_before)

    def _give_back_draws(self, sampler_before: bytes | None) -> None:
        """Put the sampler back as it was before a trial that does not count.

        The re-run slot then proposes what the interrupted trial would have, so a seeded
        search stopped and resumed draws the same trials as one that never stopped. Shared
        studies' samplers are seeded from the OS: nothing to reproduce there.
        """
        if sampler_before is not None and not self.shared:
            self.study.sampler = pickle.loads(sampler_before)  # noqa: S301 - our own bytes, or verified search.pkl

    def _counted(self) -> list[Any]:
        """Trials that count towards the budget: finished ones plus those running now."""
        return [t for t in self.study.get_trials(deepcopy=False) if counts(t)]

    def _taken(self) -> int:
        return len(self._counted())

    def _over_budget(self, number: int, n_trials: int) -> bool:
        """Trial numbers are handed out atomically by the storage: exactly n_trials pass this."""
        return sum(1 for t in self._counted() if t.number < number) >= n_trials

    @staticmethod
    def _fail_state() -> Any:
        from optuna.trial import TrialState as OptunaState

        return OptunaState.FAIL

    def finished_count(self) -> int:
        return sum(1 for t in self.study.get_trials(deepcopy=False) if t.state.is_finished() and counts(t))

    def recover(self, records: list[TrialRecord]) -> list[int]:
        """Settle what an earlier process left (single-process storages only).

        Trials left RUNNING by a killed process are failed and marked interrupted; if the
        last trial drawn did not count, the sampler gets its draws back. Returns the numbers
        of every trial the study does not count (those, and ones stopped by Ctrl-C), so the
        run folder can agree.

        Raises:
            RunError: the study lacks trials the run folder lists (another or older study.db).
        """
        from optuna.trial import TrialState as OptunaState

        if self.settings.storage:  # shared storage: other workers may be running them
            return []
        trials = self.study.get_trials(deepcopy=False)
        known = {t.number for t in trials}
        unknown = sorted(r.number for r in records if r.number not in known)
        if unknown:
            raise RunError(
                f"{self.store.study_db} does not match {self.store.trials_json}: the study has no trial "
                f"{', '.join(map(str, unknown[:5]))}{' ...' if len(unknown) > 5 else ''}, which the run folder "
                f"lists. It was replaced, recreated or restored from an older copy, and resuming would number "
                f"new trials twice. The finished trials are intact in trials.csv and models/; restore this "
                f"run's study.db to resume, or start a new search (autodl search ... --name NEW)"
            )
        stale = [t for t in trials if t.state == OptunaState.RUNNING]
        for t in stale:
            self.study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED_ATTR, True)
            self.study.tell(t.number, state=OptunaState.FAIL)
            self._requeue_start(t.user_attrs)
        number, before = self._pending
        if number is not None:
            trial = next((t for t in self.study.get_trials(deepcopy=False) if t.number == number), None)
            if trial is None or not (trial.state.is_finished() and counts(trial)):
                self._give_back_draws(before)  # the process died or stopped before it counted
        self._pending = (None, None)
        return sorted({t.number for t in stale} | {t.number for t in trials if t.user_attrs.get(INTERRUPTED_ATTR)})

    def finished_record(self, number: int) -> TrialRecord | None:
        trials = [t for t in self.study.get_trials(deepcopy=False) if t.number == number]
        if not trials or not trials[0].state.is_finished() or trials[0].user_attrs.get(INTERRUPTED_ATTR):
            return None
        data = trials[0].user_attrs.get(RECORD_ATTR)
        return TrialRecord.from_dict(data) if data else None

    def records(self) -> list[TrialRecord]:
        """Every finished trial's record as the storage holds it (all workers)."""
        return [
            TrialRecord.from_dict(t.user_attrs[RECORD_ATTR])
            for t in self.study.get_trials(deepcopy=False)
            if RECORD_ATTR in t.user_attrs
        ]

    def study_info(self) -> dict[str, Any]:
        return study_info(self.storage_url, self.study.study_name)

    def state(self) -> dict[str, Any]:
        return {
            "sampler": self.study.sampler,
            "storage": redact(self.storage_url),
            "study_name": self.study.study_name,
            "pending": {"trial": self._current, "sampler_before": self._sampler_before},
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.study._storage.remove_session()


def _open_study(
    url: str,
    settings: SearchSettings,
    space: SearchSpace,
    store: RunStore,
    sampler: Any,
    dataset: dict[str, Any] | None,
    *,
    resumed: bool,
) -> Any:
    """Open (or create) the run's study with its sampler and pruner, and store the settings in it."""
    import optuna

    shared = bool(settings.storage)
    if not shared:
        _check_run_study(store, resumed=resumed)
    try:
        storage = make_storage(url, shared=shared)
    except RunError as exc:
        if shared:
            raise
        raise _damaged_study(store, exc.__cause__ or exc) from exc
    try:
        study = optuna.create_study(
            study_name=settings.name or store.root.name,
            storage=storage,
            sampler=sampler,
            pruner=make_pruner(settings.pruner, settings.epochs or space.max_epochs),
            direction=space.objective[1],
            load_if_exists=True,
        )
        save_study_settings(study, {**settings.to_dict(), "storage": None}, space.to_dict(), dataset, resumed=resumed)
    except Exception as exc:  # sqlalchemy/optuna raise many kinds; all mean the same to users
        if not shared:
            raise _damaged_study(store, exc) from exc
        raise RunError(
            f"cannot open the Optuna study in {redact(url)}: {type(exc).__name__}: {exc}. "
            "Check the URL (e.g. sqlite:///path/study.db or postgresql://user@host/db), that the "
            "server is reachable, and that the file is a valid Optuna database (a damaged study.db "
            "cannot be resumed: move it away and start a new search)"
        ) from exc
    return study


def _check_run_study(store: Any, *, resumed: bool) -> None:
    """A resumed run needs its own study.db: a missing one would restart the numbering."""
    if resumed and not store.study_db.is_file():
        raise RunError(
            f"{store.study_db} is missing, so this run cannot continue: Optuna's record of its trials "
            f"(and the sampler's history) is gone. The finished trials are intact in trials.csv and "
            f"models/; restore study.db to resume, or start a new search (autodl search ... --name NEW)"
        )


def _damaged_study(store: Any, exc: BaseException) -> RunError:
    reason = getattr(exc, "orig", None) or exc  # sqlalchemy wraps sqlite3's own message
    first_line = (str(reason).splitlines() or [""])[0]
    return RunError(
        f"{store.study_db} cannot be opened as an Optuna database ({type(reason).__name__}: "
        f"{first_line}): it is damaged or unreadable, so this run cannot "
        f"continue from it. Nothing was changed: the finished trials are intact in trials.csv, "
        f"trials.json and models/ (`autodl show {store.root}` still works). Restore study.db from a "
        f"backup to resume, or start a new search (autodl search ... --name NEW)"
    )
