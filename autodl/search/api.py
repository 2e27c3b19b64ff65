"""Start, load and resume searches: what the CLI and ``import autodl`` call."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from autodl.exceptions import RunError, UsageError
from autodl.records import BACKENDS, PRUNERS, SAMPLERS, TUNERS, SearchSettings
from autodl.runs import RunStore, check_run_name, load_signed
from autodl.runs.signing import get_key
from autodl.search._budget import parse_duration
from autodl.search._warm_start import check_warm_start
from autodl.search.callbacks import SearchCallback, as_callback
from autodl.search.orphans import settle_orphans
from autodl.search.search import STATE_FORMAT, Search, load_data
from autodl.space import SearchSpace, load_space, space_from_dict


def check_settings(settings: SearchSettings) -> None:
    """Reject impossible flag values before anything is loaded or written."""
    from autodl.training.precision import POLICIES

    def one_of(flag: str, value: str, names: tuple[str, ...]) -> tuple[bool, str]:
        return value in names, f"unknown {flag} {value!r}; expected one of {', '.join(names)}"

    checks = [
        (settings.trials >= 1, f"--trials must be at least 1, got {settings.trials}"),
        (settings.top_k >= 1, f"--top-k must be at least 1, got {settings.top_k}"),
        (settings.epochs is None or settings.epochs >= 1, f"--epochs must be at least 1, got {settings.epochs}"),
        (
            settings.max_params is None or settings.max_params >= 0,
            f"--max-params must be a number of parameters (0: no limit), got {settings.max_params}",
        ),
        (
            settings.timeout is None or settings.timeout > 0,
            f"--timeout must be positive seconds, got {settings.timeout}",
        ),
        (settings.subset is None or settings.subset >= 1, f"--subset must be at least 1, got {settings.subset}"),
        (
            settings.seed is None or (type(settings.seed) is int and 0 <= settings.seed < 2**32),
            f"--seed must be a whole number from 0 to {2**32 - 1}, got {settings.seed}",
        ),
        (0 < settings.val_fraction < 1, f"the validation fraction must be in (0, 1), got {settings.val_fraction}"),
        one_of("backend", settings.backend, BACKENDS),
        one_of("precision", settings.precision, POLICIES),
    ]
    if settings.backend == "optuna":
        checks += [one_of("sampler", settings.sampler, SAMPLERS), one_of("pruner", settings.pruner, PRUNERS)]
    else:
        checks.append(one_of("tuner", settings.tuner, TUNERS))
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    check_warm_start(settings)
    if settings.name is not None:  # before any folder is joined or made: `..`, `/abs` or `a/b` lead out of --out
        check_run_name(settings.name)
    get_key()  # a short, empty or shared signing key refuses before anything trains, not at the first save
    if settings.image_size is not None:
        from autodl.data import parse_image_size

        parse_image_size(settings.image_size)


def run_search(
    settings: SearchSettings | None = None,
    callbacks: list[SearchCallback] | SearchCallback | None = None,
    *,
    finish: bool = True,
    **overrides: Any,
) -> Search:
    """Run a new search; ``overrides`` are ``SearchSettings`` fields (``trials=5``).

    A bad space, dataset or output folder raises before any training starts. ``finish=False``
    skips the test evaluation and the report (a worker whose parent finishes the search).
    """
    settings = dataclasses.replace(settings or SearchSettings(), **overrides)
    if settings.timeout is not None:  # from Python, "15m" works as on the command line
        settings = dataclasses.replace(settings, timeout=parse_duration(settings.timeout))
    check_settings(settings)
    return _start(settings, load_space(settings.space), callbacks, finish=finish)


def _start(
    settings: SearchSettings,
    space: SearchSpace,
    callbacks: list[SearchCallback] | SearchCallback | None,
    *,
    finish: bool,
) -> Search:
    callback = as_callback(callbacks)
    callback.on_status(f"loading {settings.dataset}")
    start = time.perf_counter()
    splits = load_data(settings, progress=callback.on_load_progress)  # bad data fails before a run folder exists
    store = _join_or_create(settings)
    settings = dataclasses.replace(settings, name=store.root.name)
    search = Search(settings, space, store, dataset=splits.summary())
    search.splits, search.data_seconds = splits, time.perf_counter() - start
    return search.run(callback, finish=finish)


def _join_or_create(settings: SearchSettings) -> RunStore:
    """A new run folder; with a shared storage, the study's folder may already exist: join it."""
    folder = Path(settings.out) / (settings.name or "")
    if settings.storage and settings.name and folder.is_dir():  # another worker made it (maybe just now)
        store = RunStore(folder)
        store.check_usable()
        return store
    return RunStore.create(settings.out, settings.name)


def join_search(
    storage: str,
    name: str,
    *,
    out: str = "reports",
    callbacks: list[SearchCallback] | SearchCallback | None = None,
    data_dir: str | None = None,
    wait: float = 0.0,
    finish: bool = True,
) -> Search:
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
    settings = dataclasses.replace(
        SearchSettings.from_dict(stored["settings"]),
        storage=storage,
        name=name,
        out=out,
        data_dir=data_dir or stored["settings"].get("data_dir"),
    )
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
    store.write_trials(
        [
            r if (r.model_path and (store.root / r.model_path).is_file()) else dataclasses.replace(r, model_path=None)
            for r in merged
        ]
    )
    return write_report(store.root)


def load(path: str | Path, *, trust: bool = False) -> Search:
    """Open a run from its folder or ``search.pkl``; the signature is checked before unpickling."""
    store = RunStore.open(path)
    if not store.search_pkl.is_file():
        raise RunError(
            f"{store.root} has no search.pkl: the search did not get past its start, so there is "
            "nothing to resume; start it again with `autodl search`"
        )
    state = load_signed(store.search_pkl, trust=trust)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise RunError(
            f"{store.search_pkl} is a search state of another format (autodl "
            f"{(state or {}).get('versions', {}).get('autodl', '?') if isinstance(state, dict) else '?'}); "
            "resume it with the autodl version that wrote it"
        )
    _warn_versions(state.get("versions", {}))
    space = space_from_dict(state["space"], label=f"{store.search_pkl} (space)")
    settings = _own_journal(SearchSettings.from_dict(state["settings"]), store)
    search = Search(
        settings,
        space,
        store,
        records=store.read_trials(),
        backend_state=state.get("backend_state"),
        dataset=state.get("dataset"),
        created=state.get("created"),
        elapsed=state.get("elapsed", 0.0),
    )
    run = store.read_run()
    search.test_metrics, search.ensemble = _numbers(run.get("test_metrics")), _ensemble(run.get("ensemble"))
    search.final, search.accounting = _object(run.get("final")), _object(run.get("accounting"))
    return search


def _numbers(value: Any) -> dict[str, float] | None:
    """run.json's test metrics if they are what autodl writes (it is not signed: an edit may hold anything)."""
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values())
    ):
        return value
    return None


def _ensemble(value: Any) -> dict[str, Any] | None:
    scores = ("val_accuracy", "best_val_accuracy", "accuracy", "best_accuracy")
    weights = value.get("weights", {}) if isinstance(value, dict) else None
    if (
        isinstance(value, dict)
        and _numbers({k: value.get(k) for k in scores}) is not None
        and isinstance(value.get("trials"), list)
        and all(type(t) is int for t in value["trials"])
        and isinstance(weights, dict)
        and (not weights or _numbers(weights) is not None)
    ):
        return value
    return None


def _object(value: Any) -> dict[str, Any] | None:
    """run.json's final model or accounting if it is an object (what autodl writes); None otherwise."""
    return value if isinstance(value, dict) else None


def resume_search(
    path: str | Path,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    trust: bool = False,
    space: str | Path | None = None,
    callbacks: list[SearchCallback] | SearchCallback | None = None,
    finish: bool = True,
) -> Search:
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
    saved = Path(str(settings.storage)[len(prefix) :])
    if saved.name != store.study_log.name or saved.resolve() == store.study_log.resolve():
        return settings
    return dataclasses.replace(settings, storage=f"{prefix}{store.study_log.resolve()}")


def _warn_versions(saved: dict[str, Any]) -> None:

    from autodl import environment

    now = environment.versions()
    for key in ("optuna", "keras", "keras_tuner"):
        if saved.get(key) and now.get(key) and saved[key] != now[key]:
            logging.getLogger(__name__).warning(
                "this run was saved with %s %s and is resumed with %s: samplers may not restore exactly",
                key,
                saved[key],
                now[key],
            )
