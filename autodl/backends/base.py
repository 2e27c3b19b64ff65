"""The backend family: an engine that proposes trials and decides when to stop them.

Backends get the trial runner as a callable from ``autodl.search``; they never import the
training layer. Each sibling module implements ``BaseBackend`` over one engine.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autodl.exceptions import UsageError
from autodl.records import SearchSettings, TrialRecord
from autodl.space import SearchSpace
from autodl.space.suggest import BaseSuggester

if TYPE_CHECKING:
    from autodl.runs import RunStore

EpochReporter = Callable[[int, dict[str, float]], None]


@dataclasses.dataclass
class TrialContext:
    """What the search needs from the engine to run one trial."""

    number: int
    suggester: BaseSuggester
    reporters: list[EpochReporter] = dataclasses.field(default_factory=list)
    max_epochs: int | None = None  # an engine's own budget (Hyperband), else the space's
    initial_epoch: int = 0
    # Called by the search with the final record before it commits the trial to the run
    # folder, so the engine never counts a trial the run folder lost (or the reverse).
    finish: Callable[[TrialRecord], None] | None = None
    start: int | None = None  # index of the space's start configuration this trial runs
    origin: str | None = None  # where a queued configuration came from (TrialRecord.origin)
    # The trial's place in the budget (the n-th trial that counts): a slot run again after an
    # interruption keeps it, so the weights it starts from (seeded by it) are the same.
    slot: int | None = None


TrialRunner = Callable[[TrialContext], TrialRecord]


class BaseBackend(abc.ABC):
    """Drives trials until ``n_trials`` are finished or the time budget is spent.

    ``settings`` is the run's ``SearchSettings``; ``state`` is what ``state()`` returned in
    an earlier process, so a resumed search continues the engine where it was.
    """

    name: str = ""
    supports_warm_start: bool = False  # can queue configurations from earlier runs (``warm_start``)

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
        if warm_start and not self.supports_warm_start:
            raise UsageError(
                f"--warm-start queues configurations in an Optuna study; the {self.name} backend "
                "cannot queue them. Drop --warm-start or use --backend optuna"
            )
        self.settings = settings
        self.space = space
        self.store = store
        self.dataset = dataset  # the dataset summary (name, shapes, fingerprint)

    @abc.abstractmethod
    def optimize(
        self, run_trial: TrialRunner, *, n_trials: int, budget_spent: Callable[[], bool] = lambda: False
    ) -> None:
        """Run trials through ``run_trial`` until ``n_trials`` count or ``budget_spent()``
        (checked before each new trial: the search's time budget).

        A stop (Ctrl-C) reaches the backend as ``KeyboardInterrupt`` out of ``run_trial``.
        """

    @abc.abstractmethod
    def state(self) -> dict[str, Any]:
        """Picklable engine state for ``search.pkl`` (a sampler's random state, ...)."""

    def recover(self, records: list[TrialRecord]) -> list[int]:
        """Settle trials an earlier process left running; return their numbers."""
        return []

    def records(self) -> list[TrialRecord]:
        """Every finished trial the engine holds, from all workers (shared engines only)."""
        return []

    def finished_record(self, number: int) -> TrialRecord | None:
        """The engine's record of a trial it saw finish, for one the run folder lost."""
        return None

    def study_info(self) -> dict[str, Any] | None:
        """Where the engine keeps its state (for run.json and reports), if anywhere."""
        return None

    def finished_count(self) -> int | None:
        """Trials finished in the shared engine (all workers), or None if only local counts."""
        return None

    def close(self) -> None:
        """Release engine resources (database connections)."""
