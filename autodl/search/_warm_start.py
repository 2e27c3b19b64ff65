"""``--warm-start RUN``: the best configurations of an earlier run, queued first.

A second search on a dataset should start where the first ended, not from the space's
hand-written start networks. The source is a run folder, or a study name in ``--storage``;
its complete trials are ranked best first, and each configuration that fits this search's
space (every value the space asks for is given and allowed; values it does not ask for are
dropped) is queued ahead of the start networks, up to ``WARM_TOP`` of them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from autodl.exceptions import RunError, UsageError
from autodl.records import SearchSettings, TrialRecord, best_first
from autodl.runs import RunStore
from autodl.space import SearchSpace
from autodl.space.neighbours import fitting

logger = logging.getLogger(__name__)

#: How many of the earlier run's best configurations are queued.
WARM_TOP = 3


def check_warm_start(settings: SearchSettings) -> None:
    """Refuse a ``--warm-start`` that names nothing readable, before anything is written.

    Raises:
        UsageError: the backend cannot queue configurations, or the source is not a run
            folder (and no ``--storage`` could hold a study of that name).
    """
    source = settings.warm_start
    if source is None:
        return
    if settings.backend != "optuna":
        raise UsageError(
            "--warm-start queues configurations in an Optuna study; the kerastuner backend cannot "
            "queue them. Drop --warm-start or use --backend optuna"
        )
    if not Path(source).is_dir() and not settings.storage:
        raise _no_source(source)


def warm_configs(settings: SearchSettings, space: SearchSpace, top: int = WARM_TOP) -> list[tuple[str, dict[str, Any]]]:
    """``(origin, configuration)`` of the earlier run's best trials that fit ``space``, best first."""
    source = str(settings.warm_start)
    records, direction, label = _source_records(source, settings.storage)
    chosen: list[tuple[str, dict[str, Any]]] = []
    for record in best_first(records, direction):
        params = fitting(space, record.params)
        if params is None or params in [c for _, c in chosen] or params in space.start:
            continue
        chosen.append((f"warm-start {label} trial {record.number}", params))
        if len(chosen) >= top:
            break
    if not chosen:
        logger.warning(
            "--warm-start %s: none of its complete trials fits the %r space (their parameters are "
            "missing here or outside this space's ranges); the search starts from the space's own "
            "start networks",
            source,
            space.name,
        )
    return chosen


def _source_records(source: str, storage: str | None) -> tuple[list[TrialRecord], str, str]:
    path = Path(source)
    if path.is_dir():
        store = RunStore.open(path)
        direction = (store.read_run().get("objective") or {}).get("direction", "maximize")
        return store.read_trials(), direction if direction in ("maximize", "minimize") else "maximize", path.name
    if storage:
        from autodl.backends.optuna_storage import load_study_settings, study_records

        try:
            stored = load_study_settings(storage, source)
        except RunError as exc:
            raise UsageError(f"--warm-start {source}: not a run folder, and {exc}") from exc
        objective = (stored.get("space") or {}).get("objective") or {}
        return study_records(storage, source), objective.get("direction", "maximize"), source
    raise _no_source(source)


def _no_source(source: str) -> UsageError:
    return UsageError(
        f"--warm-start {source}: no such run folder. Give the folder of an earlier run (for "
        "example reports/fm1), or a study name together with --storage"
    )
