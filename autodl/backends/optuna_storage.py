"""Optuna storages for autodl: heartbeats for shared studies, the run's settings kept in the study.

Distributed search is Optuna's RDB storage (PostgreSQL for many machines); this module only
configures it: stale trials of a dead worker are failed and marked so their slots re-run,
and the study carries the settings a joining worker needs. Optuna's journal file (several
processes on one host) has no heartbeats: there a trial names its process, and a trial whose
process on this host is gone is a dead worker's.

Longer than 300 lines: the storage's every concern (URLs and their redaction, heartbeats,
stale trials, the study's stored settings, the read-only views of a shared study) is kept in
one place so that no other module touches Optuna's storage API.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autodl.exceptions import AutoDLError, RunError
from autodl.space import space_from_dict
from autodl.space.compare import first_difference, searched

# A worker beats every HEARTBEAT seconds; a trial silent for 3 beats is a dead worker's.
HEARTBEAT_SECONDS = int(os.environ.get("AUTODL_HEARTBEAT_SECONDS", "20"))
GRACE_SECONDS = 3 * HEARTBEAT_SECONDS
INTERRUPTED_ATTR = "autodl_interrupted"  # failed by a stop or a dead worker: not counted, re-run
RECORD_ATTR = "autodl_record"  # a trial's whole TrialRecord, so any worker or report can rebuild it
START_ATTR = "autodl_start"  # index of the space's start configuration an enqueued trial runs
OWNER_ATTR = "autodl_owner"  # the process running a trial of a journal study: {host, pid, started}
# A journal trial with no owner yet (its process died between asking and naming itself) is
# taken for dead once it is this old.
ORPHAN_SECONDS = 60.0
SETTINGS_ATTR = "autodl_settings"
SPACE_ATTR = "autodl_space"
DATASET_ATTR = "autodl_dataset"


def make_storage(url: str, *, shared: bool) -> Any:
    """An Optuna storage for ``url``; shared RDB storages get heartbeats.

    ``journal:///path/file.log`` selects Optuna's journal file storage (safe for several
    processes on one host).
    """
    import optuna

    url = _with_driver(url)
    try:
        if url.startswith("journal://"):
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(url[len("journal://") :]))
        if not shared:
            return optuna.storages.RDBStorage(url)
        engine_kwargs = {} if url.startswith("sqlite") else {"pool_pre_ping": True}
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=_requeue_stale_start,
        )
    except Exception as exc:  # sqlalchemy raises many kinds; all mean the same to users
        raise RunError(
            f"cannot open the Optuna storage {redact(url)}: {type(exc).__name__}: {exc}. Check the URL "
            "(sqlite:///path/study.db, postgresql://user:password@host/db, journal:///path/file.log), "
            "that the server is reachable and the database exists, and that a file is an Optuna "
            "database (an unreadable study.db cannot be resumed: move it away to start over)"
        ) from exc


def _with_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; use whichever driver is installed."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
        if importlib.util.find_spec(module):
            return f"postgresql+{driver}://{rest}"
    raise RunError(
        "a PostgreSQL storage needs a database driver, and neither psycopg2 nor psycopg is "
        "installed: run `pip install 'autodl[postgres]'` (psycopg2-binary)"
    )


def counts(trial: Any) -> bool:
    """Does this trial take a slot of the shared budget?

    Running trials do; finished ones only when autodl itself told the outcome (it stores the
    record first). A trial Optuna failed because its worker's heartbeat stopped has no record,
    and an interrupted or over-budget one is marked: their slots are run again.
    """
    from optuna.trial import TrialState

    if trial.state == TrialState.WAITING or trial.user_attrs.get(INTERRUPTED_ATTR):
        return False
    return trial.state == TrialState.RUNNING or RECORD_ATTR in trial.user_attrs


def queue_start(study: Any, configs: list[dict[str, Any]], index: Any) -> None:
    """Queue start configuration ``index`` again at the queue's end (out-of-range: nothing)."""
    if isinstance(index, int) and 0 <= index < len(configs):
        study.enqueue_trial(configs[index], user_attrs={START_ATTR: index})


def _requeue_stale_start(study: Any, trial: Any) -> None:
    """A dead worker's start trial goes back to the queue, so some worker still runs it.

    Optuna calls this once per stale trial, in the one worker whose update failed it, so the
    configuration is queued once however many workers look. It reads the configurations from
    the study, which every worker shares.
    """
    space = study.user_attrs.get(SPACE_ATTR) or {}
    queue_start(study, space.get("start") or [], trial.user_attrs.get(START_ATTR))


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    """Record heartbeats for a running trial (RDB storages with heartbeats only)."""
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a missed beat must not kill the trial
                storage.record_heartbeat(trial_id)
            stop.wait(interval)

    thread = threading.Thread(target=beat, name=f"autodl-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def fail_stale(study: Any) -> None:
    """Fail the trials of workers that died: their heartbeats stopped (RDB storages), or, in a
    journal file, their process on this host is gone. Such trials are not counted; their slots
    (and start configurations) run again."""
    import warnings

    import optuna

    if isinstance(study._storage, optuna.storages.JournalStorage):
        _fail_dead_owners(study)
        return
    if not getattr(study._storage, "get_heartbeat_interval", lambda: None)():
        return
    with warnings.catch_warnings():  # "experimental since 2.9": stable in practice, noisy in logs
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def name_owner(study: Any, trial: Any) -> None:
    """Record which process runs ``trial`` (journal studies, whose dead trials are found by it)."""
    import optuna

    if isinstance(study._storage, optuna.storages.JournalStorage):
        pid = os.getpid()
        study._storage.set_trial_user_attr(
            trial._trial_id, OWNER_ATTR, {"host": socket.gethostname(), "pid": pid, "started": _started(pid)}
        )


def _fail_dead_owners(study: Any) -> None:
    from optuna.trial import TrialState

    storage = study._storage
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER_ATTR)
        if owner is None:
            dead = trial.datetime_start is not None and (now - trial.datetime_start).total_seconds() > ORPHAN_SECONDS
        else:
            dead = _alive(owner) is False
        if not dead:
            continue
        try:  # another worker may fail it first: then this one leaves it
            storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except Exception:  # noqa: BLE001 - optuna's UpdateFinishedTrialError and the like
            continue
        _requeue_stale_start(study, trial)


def _alive(owner: dict[str, Any]) -> bool | None:
    """Is the owner process running? None: it ran on another host, which this one cannot see."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = int(owner.get("pid", 0))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    started = _started(pid)  # a reused pid is another process, started at another time
    return started is None or owner.get("started") is None or started == owner["started"]


def _started(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (Linux), None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the command name


def save_study_settings(
    study: Any,
    settings: dict[str, Any],
    space: dict[str, Any],
    dataset: dict[str, Any] | None,
    *,
    resumed: bool = False,
) -> None:
    """Keep what a joining worker needs in the study itself (first writer wins).

    A resume may change the trial total and the timeout (``autodl resume --trials``): workers
    that join after it follow the new ones.
    """
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is None:
        study.set_user_attr(SETTINGS_ATTR, settings)
        study.set_user_attr(SPACE_ATTR, space)
        study.set_user_attr(DATASET_ATTR, dataset)
    elif resumed and any(stored.get(key) != settings.get(key) for key in ("trials", "timeout")):
        study.set_user_attr(
            SETTINGS_ATTR, {**stored, "trials": settings.get("trials"), "timeout": settings.get("timeout")}
        )


def check_same_search(study: Any, space: dict[str, Any], dataset: dict[str, Any] | None, url: str) -> None:
    """Refuse to add trials of another space, or on other data, to a study (a shared one above
    all): its trials would not be comparable, and its sampler's history would not fit.

    Raises:
        RunError: the study was started with another space or on other data.
    """
    name = study.study_name
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is not None:
        theirs, ours = searched(_plain(_as_parsed_now(stored))), searched(_plain(space))
        if theirs != ours:
            raise RunError(
                f"the study {name!r} in {redact(url)} searches another space than this process "
                f"({first_difference(theirs, ours, labels=('study', 'here'))}): trials of two spaces are not "
                f"comparable. Join it with `autodl worker --storage URL --name {name}`, which searches the "
                "study's own space, or give this search another --name"
            )
    fingerprint = ((study.user_attrs.get(DATASET_ATTR) or {}).get("fingerprint"), (dataset or {}).get("fingerprint"))
    if all(fingerprint) and fingerprint[0] != fingerprint[1]:
        raise RunError(
            f"the study {name!r} in {redact(url)} was started on other data than this process loaded "
            f"({(dataset or {}).get('name', 'the dataset')}: fingerprint {fingerprint[1][:12]} here, "
            f"{fingerprint[0][:12]} in the study): trials on different data are not comparable. Point --data-dir "
            "(or AUTODL_DATA_DIR) at the same files as the study's first worker, or give this search another --name"
        )


def _as_parsed_now(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored space with this version's defaults filled in, as ``space.to_dict()`` has them."""
    try:
        return space_from_dict(stored, label="the study's space").to_dict()
    except AutoDLError:  # not a space this version reads: compare it as stored
        return stored


def _plain(value: Any) -> Any:
    """As the storage keeps it (JSON): tuples become lists, so a stored space compares equal."""
    return json.loads(json.dumps(value, default=str))


def load_study_settings(url: str, name: str) -> dict[str, Any]:
    """``{"settings", "space", "dataset"}`` of an autodl study, for ``autodl worker``."""
    import optuna

    storage = make_storage(url, shared=False)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError as exc:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise RunError(
            f"no study named {name!r} in {redact(url)} (studies there: {', '.join(names) or 'none'}); "
            "start it with `autodl search DATASET --storage URL --name NAME` first"
        ) from exc
    attrs = study.user_attrs
    if SETTINGS_ATTR not in attrs:
        raise RunError(
            f"the study {name!r} in {redact(url)} was not created by autodl (it has no "
            "settings to join); start one with `autodl search DATASET --storage URL --name NAME`"
        )
    return {"settings": attrs[SETTINGS_ATTR], "space": attrs[SPACE_ATTR], "dataset": attrs.get(DATASET_ATTR)}


def redact(url: str) -> str:
    """Hide a password in a database URL before it reaches logs or files."""
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def study_info(url: str, name: str) -> dict[str, str]:
    """How run.json names a study: its name and its storage, password hidden."""
    return {"name": name, "storage": redact(url)}


def study_records(url: str, name: str) -> list[Any]:
    """Every finished trial's autodl record kept in the study, all workers together."""
    return StudyReader(url, name).read()[0]


class StudyReader:
    """Reads a shared study again and again as its workers finish trials (a journal file is
    read on from where the last read stopped; a database is queried)."""

    def __init__(self, url: str, name: str) -> None:
        import optuna

        self.study = optuna.load_study(study_name=name, storage=make_storage(url, shared=False))

    def read(self) -> tuple[list[Any], dict[int, tuple[int, float | None]]]:
        """Every finished trial's record, and each running trial's epochs reported so far with
        the last objective value (``{number: (epochs, value)}``)."""
        from optuna.trial import TrialState as OptunaState

        from autodl.records import TrialRecord

        trials = self.study.get_trials(deepcopy=False)
        records = [TrialRecord.from_dict(t.user_attrs[RECORD_ATTR]) for t in trials if RECORD_ATTR in t.user_attrs]
        running = {
            t.number: (
                len(t.intermediate_values),
                t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None,
            )
            for t in trials
            if t.state == OptunaState.RUNNING and RECORD_ATTR not in t.user_attrs
        }
        return records, running
