"""Pure functions over trial records and test predictions: the numbers the report shows.

No plotting, no HTML and no file access here, so every number in the report can be tested
on plain lists and arrays (the figures and the page are built from these results).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autodl.records import TrialRecord, TrialState, best_first

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "STATE_ORDER",
    "confusion_matrix",
    "count_states",
    "format_number",
    "format_seconds",
    "format_value",
    "is_finite",
    "param_names",
    "pareto_front",
    "per_class_accuracy",
    "rank_trials",
    "time_stats",
]

#: How states follow each other in the leaderboard, after complete trials sorted by score.
STATE_ORDER = (
    TrialState.COMPLETE,
    TrialState.PRUNED,
    TrialState.FAILED,
    TrialState.INTERRUPTED,
    TrialState.RUNNING,
)


def is_finite(value: Any) -> bool:
    """True for a real, finite number (None, NaN, infinities and strings are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(float(value))


def rank_trials(records: Sequence[TrialRecord], direction: str = "maximize") -> list[TrialRecord]:
    """Every trial, best first: the leaderboard order.

    Complete trials with a finite score come first, best score first (ties: the earlier
    trial), then complete trials without a score, then pruned, failed, interrupted and
    running trials, each group by trial number. Nothing is dropped, so the leaderboard has
    one row per trial.
    """
    scored = best_first(records, direction)
    numbers = {r.number for r in scored}

    def group(record: TrialRecord) -> tuple[int, int]:
        return (STATE_ORDER.index(record.state) if record.state in STATE_ORDER else 99, record.number)

    return scored + sorted((r for r in records if r.number not in numbers), key=group)


def pareto_front(records: Sequence[TrialRecord], direction: str = "maximize") -> list[TrialRecord]:
    """The complete trials that no smaller model matches: smallest first, each scoring better
    than every trial with as few parameters. To deploy, pick the smallest one good enough.

    Equal sizes keep the better score; equal sizes and scores, the earlier trial.
    """
    sign = 1.0 if direction == "maximize" else -1.0
    sized = [r for r in records if r.state == TrialState.COMPLETE and is_finite(r.value) and r.n_params]
    front: list[TrialRecord] = []
    for record in sorted(sized, key=lambda r: (r.n_params, -sign * float(r.value), r.number)):  # type: ignore[arg-type]
        if not front or sign * float(record.value) > sign * float(front[-1].value):  # type: ignore[arg-type]
            front.append(record)
    return front


def count_states(records: Sequence[TrialRecord]) -> dict[str, int]:
    """Trials per state, every state present (zeros included) in :data:`STATE_ORDER` order."""
    counts = {state.value: 0 for state in STATE_ORDER}
    for record in records:
        counts[record.state.value] = counts.get(record.state.value, 0) + 1
    return counts


def time_stats(records: Sequence[TrialRecord]) -> dict[str, float | None]:
    """Total, mean and median seconds per trial (None when no trial has run)."""
    seconds = [float(r.seconds) for r in records if is_finite(r.seconds)]
    if not seconds:
        return {"total": 0.0, "mean": None, "median": None}
    return {"total": sum(seconds), "mean": statistics.fmean(seconds), "median": statistics.median(seconds)}


def param_names(records: Sequence[TrialRecord]) -> list[str]:
    """Every parameter name in first-seen order (conditional parameters appear in some only)."""
    names: dict[str, None] = {}
    for record in records:
        for name in record.params:
            names.setdefault(name, None)
    return list(names)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]``; labels outside ``[0, num_classes)`` are ignored."""
    import numpy as np

    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    ok = (y_true >= 0) & (y_true < num_classes) & (y_pred >= 0) & (y_pred < num_classes)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true[ok], y_pred[ok]), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> list[dict[str, float | int | None]]:
    """One row per class from a confusion matrix: support, correct, accuracy (None if empty)."""
    rows = []
    for index in range(matrix.shape[0]):
        support = int(matrix[index].sum())
        correct = int(matrix[index, index])
        rows.append(
            {"index": index, "support": support, "correct": correct, "accuracy": correct / support if support else None}
        )
    return rows


def format_number(value: Any, digits: int = 4) -> str:
    """A short, readable number: ``0.9731``, ``1.2e-05``, ``128``; an em dash for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def format_value(value: Any) -> str:
    """A parameter value as text: numbers shortened, lists and dicts as compact JSON."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return format_number(value)


def format_seconds(seconds: Any) -> str:
    """``42.1 s``, ``3 min 05 s``, ``2 h 07 min``: durations as people read them."""
    if not is_finite(seconds):
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
