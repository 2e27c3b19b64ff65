"""Which trials a command about a finished search means: the best, trial N, or the ensemble.

``export`` needs their saved models; ``train`` only their configurations. Read from a
``Search``'s public attributes alone, so any run folder that ``autodl.load`` opens works.
"""

from __future__ import annotations

from typing import Any

from autodl.exceptions import RunError
from autodl.records import TrialRecord

__all__ = ["architecture", "chosen_trials"]


def chosen_trials(
    search: Any, trial: int | None = None, ensemble: bool = False, *, saved: bool = True
) -> list[TrialRecord]:
    """The best trial, or ``trial``, or with ``ensemble`` the ensemble's members (best first).

    With ``saved`` (the default) these are the trials whose models ``predict`` uses
    (``Search.model_files``); ``saved=False`` (retraining takes only a configuration): any
    complete trial will do.

    Raises:
        RunError: no such trial, no saved model for it, or fewer than two kept models.
    """
    if saved or ensemble:
        return [f.record for f in search.model_files(trial, ensemble=ensemble)]
    chosen = [r for r in search.ranked() if trial is None or r.number == trial]
    if chosen:
        return chosen[:1]
    if trial is not None:
        record = search.trial(trial)  # raises for a trial the run does not have
        raise RunError(
            f"trial {trial} of {search.path} did not complete (it is {record.state.value}), so it has "
            "no configuration worth training; pick a complete trial (`autodl show RUN` lists them)"
        )
    raise RunError(f"{search.path} has no complete trial yet: let the search finish one first")


def architecture(search: Any, record: TrialRecord) -> dict[str, Any]:
    """The network ``record``'s parameters describe in the run's space."""
    from autodl.space import FixedSuggester

    return search.space.sample(FixedSuggester(record.params))
