"""Trials a stopped worker left running in a journal study, settled before a resume.

A worker of a journal study names itself on each trial it runs (``OWNER_ATTR``: host, pid,
start time), so the others can tell a dead worker's trial from a live one's. A Ctrl-C (or a
kill) that lands between Optuna's ``ask()`` and that naming leaves a RUNNING trial nobody
owns. Workers take such a trial for dead only once it is ``ORPHAN_SECONDS`` (a minute) old,
and until then it holds a slot of the trial budget. ``autodl resume --workers 2`` of a
2-trial search, started within that minute, therefore ran one trial while the orphan held
the other slot, and finished with 1 complete trial when its trial took under a minute
(tests/test_workers.py::test_ctrl_c_stops_every_worker_and_resume_finishes, once in 8 runs).

A resume starts after every process of the stopped session has ended, so an unowned trial
is a dead one unless it was asked a moment ago (by a worker of another command that joined
the same study, about to name itself): ``settle_orphans`` waits until such a trial is
``GRACE_SECONDS`` old, then fails it as interrupted (not counted; its slot runs again).
"""

from __future__ import annotations

import datetime
import logging
import time

logger = logging.getLogger(__name__)

#: A live worker names itself within milliseconds of asking; an unowned trial this old is dead.
GRACE_SECONDS = 3.0


def settle_orphans(storage_url: str | None, name: str, *, grace: float = GRACE_SECONDS) -> list[int]:
    """Fail the journal study's RUNNING trials whose process is gone; return their numbers.

    Dead: an owner on this host that no longer runs, or no owner ``grace`` seconds after the
    trial started. Other storages (RDB) find dead workers by their heartbeats instead.
    """
    if not (storage_url or "").startswith("journal://"):
        return []
    import optuna
    from optuna.trial import TrialState

    from autodl.backends.optuna_storage import (  # the workers' own tests of a trial
        INTERRUPTED_ATTR,
        OWNER_ATTR,
        _alive,
        _requeue_stale_start,
        make_storage,
    )

    study = optuna.load_study(study_name=name, storage=make_storage(str(storage_url), shared=True))
    settled = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(OWNER_ATTR) is None and trial.datetime_start is not None:
            age = (datetime.datetime.now() - trial.datetime_start).total_seconds()
            if age < grace:  # perhaps a live worker's, about to name itself: look again once it is old enough
                time.sleep(grace - age)
                trial = study._storage.get_trial(trial._trial_id)
                if trial.state != TrialState.RUNNING:
                    continue
        owner = trial.user_attrs.get(OWNER_ATTR)
        if owner is not None and _alive(owner) is not False:
            continue
        try:  # a worker of another command may fail it first: then it is settled
            study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except Exception:  # noqa: BLE001, S112 - optuna's UpdateFinishedTrialError and the like
            continue
        _requeue_stale_start(study, trial)
        settled.append(trial.number)
    if settled:
        logger.info(
            "study %s: trials %s were left running by a stopped worker; their slots run again",
            name,
            ", ".join(map(str, settled)),
        )
    return settled
