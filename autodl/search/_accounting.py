"""Where a search's time went and what it bought: run.json's ``accounting``.

A search that hands back its start network has not yet searched; this says so plainly. It
puts the best start network (the space's hand-written ``start:`` configurations) against the
best searched trial, on validation and, where both kept their models, on the test split;
splits the time into phases (start networks, warm start, exploration by the sampler,
exploitation of the best trials' neighbours, the final training and evaluation); and counts
the epochs early stopping and pruning saved and the trials skipped for cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autodl.records import TrialRecord, TrialState, best_first

PHASES = ("start networks", "warm start", "exploration", "exploitation")


def phase(record: TrialRecord) -> str:
    """Which part of the search a trial belongs to, from where its configuration came."""
    origin = record.origin or ""
    if record.start is not None or origin == "start":
        return "start networks"
    if origin.startswith("warm-start"):
        return "warm start"
    if origin.startswith("neighbour"):
        return "exploitation"
    return "exploration"


def skipped(record: TrialRecord) -> bool:
    """A trial the time budget did not let train (pruned before its first epoch, for cost)."""
    return (
        record.state == TrialState.PRUNED
        and record.epochs == 0
        and (record.error or "").startswith(("skipped for cost", "the time budget is spent"))
    )


def accounting(
    records: Sequence[TrialRecord],
    direction: str,
    max_epochs: int,
    *,
    final_seconds: float | None = None,
    test: dict[int, float] | None = None,
) -> dict[str, Any]:
    """The accounting of a finished search (``test`` maps trial numbers to test accuracy)."""
    test = test or {}
    ranked = best_first(records, direction)
    starts = [r for r in ranked if phase(r) == "start networks"]
    searched = [r for r in ranked if phase(r) != "start networks"]

    def entry(found: list[TrialRecord]) -> dict[str, Any] | None:
        if not found:
            return None
        best = found[0]
        return {"trial": best.number, "value": best.value, "phase": phase(best), "test_accuracy": test.get(best.number)}

    best_start, best_searched = entry(starts), entry(searched)
    beats = None
    if best_start and best_searched:
        sign = 1.0 if direction == "maximize" else -1.0
        beats = sign * float(best_searched["value"]) > sign * float(best_start["value"])
    seconds: dict[str, float | None] = {
        name: round(sum(r.seconds for r in records if phase(r) == name), 1) for name in PHASES
    }
    seconds["final training and evaluation"] = None if final_seconds is None else round(final_seconds, 1)
    trained = [r for r in records if r.state in (TrialState.COMPLETE, TrialState.PRUNED) and r.epochs > 0]
    return {
        "best_start": best_start,
        "best_searched": best_searched,
        "searched_beats_start": beats,
        "seconds": seconds,
        "trials": {
            name: sum(1 for r in records if phase(r) == name and r.state != TrialState.INTERRUPTED) for name in PHASES
        },
        "epochs": {
            "trained": sum(r.epochs for r in records),
            "saved_by_early_stopping": sum(
                max(0, max_epochs - r.epochs) for r in trained if r.state == TrialState.COMPLETE
            ),
            "saved_by_pruning": sum(max(0, max_epochs - r.epochs) for r in trained if r.state == TrialState.PRUNED),
        },
        "skipped_for_cost": [{"trial": r.number, "reason": r.error} for r in records if skipped(r)],
    }
