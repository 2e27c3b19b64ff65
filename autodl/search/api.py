"""Start, load and resume searches: what the CLI and ``import autodl`` call."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable

from autodl.exceptions import RunError, UsageError
from autodl.records import SearchSettings
from autodl.runs import RunStore, check_run_name, load_signed
from autodl.runs.signing import get_key
from autodl.search.callbacks import SearchCallback, as_callback
from autodl.search.orphans import settle_orphans
from autodl.search.search import STATE_FORMAT, Search, load_data
from autodl.search.workers import WorkerSlot, describe, run_workers
from autodl.space import SearchSpace, load_space, space_from_dict


def check_settings(settings: SearchSettings) -> None:
    """Reject impossible flag values before anything is loaded or written."""
    from autodl.backends import BACKENDS
    from autodl.training.precision import POLICIES

    checks = [
        (settings.trials >= 1, f"--trials must be at least 1, got {settings.trials}"),
        (settings.top_k >= 1, f"--top-k must be at least 1, got {settings.top_k}"),
        (settings.epochs is None or settings.epochs >= 1, f"--epochs must be at least 1, got {settings.epochs}"),
        (settings.max_params is None or settings.max_params >= 0,
         f"--max-params must be a number of parameters (0: no limit), got {settings.max_params}"),
        (settings.timeout is None or settings.timeout > 0, f"--timeout must be positive seconds, got {settings.timeout}"),
        (settings.subset is None or settings.subset >= 1, f"--subset must be at least 1, got {settings.subset}"),
        (settings.seed is None or (type(settings.seed) is int and 0 <= settings.seed < 2**32),
         f"--seed must be a whole number from 0 to {2**32 - 1}, got {settings.seed}"),
        (0 < settings.val_fraction < 1, f"the validation fraction must be in (0, 1), got {settings.val_fraction}"),
        (settings.backend in BACKENDS, f"unknown backend {settings.backend!r}; expected one of {', '.join(BACKENDS)}"),
        (settings.precision in POLICIES, f"unknown precision {settings.precision!r}; expected one of {', '.join(POLICIES)}"),
    ]
    if settings.backend == "optuna":
        from autodl.backends.optuna import PRUNERS, SAMPLERS

        checks += [(settings.sampler in SAMPLERS, f"unknown sampler {settings.sampler!r}; expected one of {', '.join(SAMPLERS)}"),
                   (settings.pruner in PRUNERS, f"unknown pruner {settings.pruner!r}; expected one of {', '.join(PRUNERS)}")]
    else:
        checks.append((settings.tuner in ("random", "bayesian", "hyperband"),
                       f"unknown tuner {settings.tuner!r}; expected one of random, bayesian, hyperband"))
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    if settings.name is not None:  # before any folder is joined or made: `..`, `/abs` or `a/b` lead out of --out
        check_run_name(settings.name)
    get_key()  # a short, empty or shared signing key refuses before anything trains, not at the first save
    if settings.image_size is not None:
        from autodl.data import parse_image_size

        parse_image_size(settings.image_size)


def run_search(settings: SearchSettings | None = None, callbacks: list[SearchCallback] | SearchCallback | None = None,
               *, finish: bool = True, **overrides: Any) -> Search:
    """Run a new search; ``overrides`` are ``SearchSettings`` fields (``trials=5``).

    A bad space, dataset or output folder raises before any training starts. ``finish=False``
    skips the test evaluation and the report (a worker whose parent finishes the search).
    """
    settings = dataclasses.replace(settings or SearchSettings(), **overrides)
    check_settings(settings)
    return _start(settings, load_space(settings.space), callbacks, finish=finish)


def _start(settings: SearchSettings, space: SearchSpace, callbacks: list[SearchCallback] | SearchCallback | None,
           *, finish: bool) -> Search:
    callback = as_callback(callbacks)
    callback.on_status(f"loading {settings.dataset}")
    start = time.perf_counter()
    splits = load_data(settings, progress=callback.on_load_progress)  # bad data fails before a run folder exists
    store = _join_or_create(settings)
    settings = dataclasses.replace(settings, name=store.root.name)
    search = Search(settings, space, store, dataset=splits.summary())
    search.splits, search.data_seconds = splits, time.perf_counter() - start
    return search.run(callback, finish=finish)


def run_in_workers(settings: SearchSettings, slots: list[WorkerSlot], *,
                   callbacks: list[SearchCallback] | SearchCallback | None = None,
                   before_finish: Callable[[], None] | None = None) -> Search:
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


def resume_in_workers(path: str | Path, slots: list[WorkerSlot], *, trials: int | None = None,
                      timeout: float | None = None, trust: bool = False, space: str | Path | None = None,
                      callbacks: list[SearchCallback] | SearchCallback | None = None,
                      before_finish: Callable[[], None] | None = None) -> Search:
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
        raise UsageError(f"{search.path} was searched in one process: its study ({search.store.study_db.name}) "
                         "belongs to that process, so workers cannot share it. Resume it without --workers and "
                         "--gpus; start a new search with --workers N to search in several processes")
    study = search.settings.name or search.path.name
    if study != search.path.name:
        raise UsageError(f"{search.path} holds the study {study!r}, named after the folder it was started in, and "
                         "workers find a study by their folder's name. Rename the folder back to "
                         f"{study!r} to resume it with --workers, or resume it in one process (without --workers)")
    search.check_resume(trials, timeout, space)
    first = ["resume", str(search.path)]
    first += ["--trials", str(trials)] if trials is not None else []
    first += ["--timeout", str(timeout)] if timeout is not None else []
    first += ["--trust"] if trust else []
    first += ["--space", str(space)] if space is not None else []
    settings = dataclasses.replace(search.settings, out=str(search.path.parent))
    return _workers_then_finish(settings, slots, first, callbacks, before_finish, elapsed=search.elapsed,
                                trust=trust)


def _check_workers_backend(backend: str) -> None:
    if backend != "optuna":
        raise UsageError("--workers and --gpus share an Optuna study between processes; Keras Tuner has its own "
                         "chief/worker mode (docs/distributed.md): drop --backend kerastuner or run one worker")


def _workers_then_finish(settings: SearchSettings, slots: list[WorkerSlot], first: list[str] | None,
                         callbacks: list[SearchCallback] | SearchCallback | None,
                         before_finish: Callable[[], None] | None, *, elapsed: float = 0.0,
                         trust: bool = False) -> Search:
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
        self.callbacks.on_status(" · ".join(
            f"trial {n} epoch {epochs}: {metric} {value:.4f}" if value is not None else f"trial {n}: training"
            for n, (epochs, value) in sorted(running.items())))


def _join_or_create(settings: SearchSettings) -> RunStore:
    """A new run folder; with a shared storage, the study's folder may already exist: join it."""
    folder = Path(settings.out) / (settings.name or "")
    if settings.storage and settings.name and folder.is_dir():  # another worker made it (maybe just now)
        store = RunStore(folder)
        store.check_usable()
        return store
    return RunStore.create(settings.out, settings.name)


def join_search(storage: str, name: str, *, out: str = "reports", callbacks: list[SearchCallback] | SearchCallback | None = None,
                data_dir: str | None = None, wait: float = 0.0, finish: bool = True) -> Search:
    """Join the study ``name`` in ``storage`` as one more worker, with the settings it was started with.

    ``wait`` seconds are given to a study not created yet (workers of a batch array start together).
    """
    from autodl.backends.optuna_storage import load_study_settings

    deadline = time.monotonic() + wait
    while True:
        try:
            stored = load_study_settings(storage, name)
            break
        except RunError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(2.0)
    settings = dataclasses.replace(SearchSettings.from_dict(stored["settings"]), storage=storage, name=name, out=out,
                                   data_dir=data_dir or stored["settings"].get("data_dir"))
    check_settings(settings)
    # The study's own space: the file it was loaded from may be edited since, or not be on this machine.
    return _start(settings, space_from_dict(stored["space"], label=f"study {name} (space)"), callbacks, finish=finish)


def report_study(storage: str, name: str, *, out: str = "reports") -> Path:
    """Build one report for a shared study from its storage, in ``<out>/<name>/``."""
    from autodl.backends.optuna_storage import load_study_settings, study_records
    from autodl.reporting import write_report

    check_run_name(name)
    stored = load_study_settings(storage, name)
    records = study_records(storage, name)
    folder = Path(out) / name
    store = RunStore.open(folder) if (folder / "run.json").is_file() else RunStore.create(out, name)
    if not store.run_json.is_file():
        space = space_from_dict(stored["space"], label=f"study {name} (space)")
        settings = dataclasses.replace(SearchSettings.from_dict(stored["settings"]), name=name, out=out)
        search = Search(settings, space, store, records=records, dataset=stored["dataset"])
        search.write_run("finished")
    known = {r.number: r for r in store.read_trials()}
    for record in records:  # the storage's finished trials win over a worker's running view
        known[record.number] = dataclasses.replace(record, model_path=known.get(record.number, record).model_path)
    merged = sorted(known.values(), key=lambda r: r.number)
    store.write_trials([r if (r.model_path and (store.root / r.model_path).is_file()) else
                        dataclasses.replace(r, model_path=None) for r in merged])
    return write_report(store.root)


def load(path: str | Path, *, trust: bool = False) -> Search:
    """Open a run from its folder or ``search.pkl``; the signature is checked before unpickling."""
    store = RunStore.open(path)
    if not store.search_pkl.is_file():
        raise RunError(f"{store.root} has no search.pkl: the search did not get past its start, so there is "
                       "nothing to resume; start it again with `autodl search`")
    state = load_signed(store.search_pkl, trust=trust)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise RunError(f"{store.search_pkl} is a search state of another format (autodl "
                       f"{(state or {}).get('versions', {}).get('autodl', '?') if isinstance(state, dict) else '?'}); "
                       "resume it with the autodl version that wrote it")
    _warn_versions(state.get("versions", {}))
    space = space_from_dict(state["space"], label=f"{store.search_pkl} (space)")
    settings = _own_journal(SearchSettings.from_dict(state["settings"]), store)
    search = Search(settings, space, store, records=store.read_trials(),
                    backend_state=state.get("backend_state"), dataset=state.get("dataset"),
                    created=state.get("created"), elapsed=state.get("elapsed", 0.0))
    run = store.read_run()
    search.test_metrics, search.ensemble = _numbers(run.get("test_metrics")), _ensemble(run.get("ensemble"))
    return search


def _numbers(value: Any) -> dict[str, float] | None:
    """run.json's test metrics if they are what autodl writes (it is not signed: an edit may hold anything)."""
    if isinstance(value, dict) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in value.values()):
        return value
    return None


def _ensemble(value: Any) -> dict[str, Any] | None:
    scores = ("val_accuracy", "best_val_accuracy", "accuracy", "best_accuracy")
    if (isinstance(value, dict) and _numbers({k: value.get(k) for k in scores}) is not None
            and isinstance(value.get("trials"), list) and all(type(t) is int for t in value["trials"])):
        return value
    return None


def resume_search(path: str | Path, *, trials: int | None = None, timeout: float | None = None,
                  trust: bool = False, space: str | Path | None = None,
                  callbacks: list[SearchCallback] | SearchCallback | None = None, finish: bool = True) -> Search:
    """Continue a stopped or crashed search until its trial total (or ``trials``).

    ``space``, if given, must be the space the run started with (see ``Search.resume``).
    ``finish=False``: as for ``run_search`` (the first of ``resume --workers``' processes).
    """
    search = load(path, trust=trust)
    search.check_resume(trials, timeout, space)
    # Every process of the stopped session has ended: a trial one of them left running holds
    # no slot (resume --workers runs this in its first worker, before the others start).
    settle_orphans(search.settings.storage, search.settings.name or search.path.name)
    return search.resume(trials, callbacks, timeout=timeout, space=space, finish=finish)


def _own_journal(settings: SearchSettings, store: RunStore) -> SearchSettings:
    """A ``--workers`` run keeps its study in its own folder (study.log): moved or copied, the
    run goes on with the study it carries, never with the one left at the old place."""
    prefix = "journal://"
    if not (settings.storage or "").startswith(prefix) or not store.study_log.is_file():
        return settings
    saved = Path(str(settings.storage)[len(prefix):])
    if saved.name != store.study_log.name or saved.resolve() == store.study_log.resolve():
        return settings
    return dataclasses.replace(settings, storage=f"{prefix}{store.study_log.resolve()}")


def _warn_versions(saved: dict[str, Any]) -> None:
    import logging

    from autodl import environment

    now = environment.versions()
    for key in ("optuna", "keras", "keras_tuner"):
        if saved.get(key) and now.get(key) and saved[key] != now[key]:
            logging.getLogger(__name__).warning(
                "this run was saved with %s %s and is resumed with %s: samplers may not restore exactly",
                key, saved[key], now[key])
