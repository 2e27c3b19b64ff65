"""Which trials a command about a finished search means: the best, trial N, or the ensemble.

``export`` needs their saved models; ``train`` only their configurations. Read from a
``Search``'s public attributes alone, so any run folder that ``autodl.load`` opens works.
"""

from __future__ import annotations

from typing import Any

from autodl.exceptions import RunError
from autodl.records import TrialRecord, TrialState

__all__ = ["architecture", "chosen_trials", "saved_trials"]


def saved_trials(search: Any) -> list[TrialRecord]:
    """The trials whose model is on disk, best first."""
    return [r for r in search.ranked() if r.model_path and (search.path / r.model_path).is_file()]


def chosen_trials(search: Any, trial: int | None = None, ensemble: bool = False, *,
                  saved: bool = True) -> list[TrialRecord]:
    """The best trial, or ``trial``, or with ``ensemble`` the kept models (best first).

    ``saved=False`` (retraining takes only a configuration): any complete trial will do.

    Raises:
        RunError: no such trial, no saved model for it, or fewer than two kept models.
    """
    kept = saved_trials(search)
    if ensemble:
        members = kept[:search.settings.top_k]
        if trial is not None or len(members) < 2:
            why = ("an ensemble is the kept models together, so it takes no --trial" if trial is not None else
                   f"an ensemble needs 2 or more, and {search.path} keeps {len(members)} (a search with --top-k 3 "
                   "keeps its 3 best); use its best model without --ensemble")
            raise RunError(f"Cannot use an ensemble: {why}")
        return members
    pool = kept if saved else search.ranked()
    chosen = [r for r in pool if trial is None or r.number == trial]
    if chosen:
        return chosen[:1]
    if trial is not None and not saved:
        record = search.trial(trial)  # raises for a trial the run does not have
        raise RunError(f"trial {trial} of {search.path} did not complete (it is {record.state.value}), so it has "
                       "no configuration worth training; pick a complete trial (`autodl show RUN` lists them)")
    if trial is None and not any(r.state == TrialState.COMPLETE for r in search.records):
        raise RunError(f"{search.path} has no complete trial yet: let the search finish one first")
    numbers = ", ".join(str(r.number) for r in sorted(kept, key=lambda r: r.number)) or "none"
    raise RunError(
        f"{search.path} has no saved model{'' if trial is None else f' for trial {trial}'} (trials with a model "
        f"in {search.path / 'models'}: {numbers}). Only the top-{search.settings.top_k} trials keep their "
        "models; pick one of those")


def architecture(search: Any, record: TrialRecord) -> dict[str, Any]:
    """The network ``record``'s parameters describe in the run's space."""
    from autodl.space import FixedSuggester

    return search.space.sample(FixedSuggester(record.params))
