"""Plain records shared by every layer: what a trial produced and how a run was asked for.

Stdlib only, so that reporting and storage never need Keras or Optuna to read a run.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable
from typing import Any

#: The one list of each engine's names: the CLI's choices, the settings' checks and the
#: backends' factories all read these.
BACKENDS = ("optuna", "kerastuner")
SAMPLERS = ("tpe", "random", "gp", "cmaes")  # Optuna
PRUNERS = ("median", "asha", "hyperband", "none")  # Optuna
TUNERS = ("random", "bayesian", "hyperband")  # Keras Tuner
DIRECTIONS = ("maximize", "minimize")


class TrialState(str, enum.Enum):
    """Outcome of one trial. ``INTERRUPTED`` trials (Ctrl-C, kill) are not counted."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclasses.dataclass
class TrialRecord:
    """Everything one trial left behind; serialised to ``trials.json`` and ``trials.csv``.

    ``history`` maps Keras metric names (``loss``, ``accuracy``, ``val_loss``,
    ``val_accuracy``) to one value per epoch trained.
    """

    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None = None
    epochs: int = 0
    seconds: float = 0.0
    n_params: int | None = None
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    error: str | None = None
    model_path: str | None = None  # relative to the run folder, set while in the top-k
    worker: str | None = None
    start: int | None = None  # index of the space's ``start:`` configuration it ran, if one
    # Where its configuration came from when not from the sampler: ``start``, ``warm-start
    # RUN#N``, ``neighbour of N`` (exploitation); None for the sampler's own draws.
    origin: str | None = None
    flops: int | None = None  # forward-pass floating-point operations per image: the cost model's input

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["state"] = self.state.value
        out["value"] = _finite_or_none(self.value)
        out["history"] = {k: [_finite_or_none(v) for v in vs] for k, vs in self.history.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["state"] = TrialState(kwargs["state"])
        return cls(**kwargs)


def best_first(records: Iterable[TrialRecord], direction: str) -> list[TrialRecord]:
    """Complete trials with a finite score, best first (ties: the earlier trial).

    The one ranking of trials: the search's best trial, the models the run folder keeps
    and the report's leaderboard all follow it.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    sign = -1.0 if direction == "maximize" else 1.0
    done = [r for r in records if r.state == TrialState.COMPLETE and r.value is not None and math.isfinite(r.value)]
    return sorted(done, key=lambda r: (sign * (r.value or 0.0), r.number))


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN/inf; a diverged metric is stored as null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclasses.dataclass
class SearchSettings:
    """How a search was asked for: the resolved CLI flags, saved in run.json and search.pkl."""

    dataset: str = "digits"
    space: str = "cnn"
    backend: str = "optuna"
    sampler: str = "tpe"  # optuna: one of SAMPLERS
    pruner: str = "median"  # optuna: one of PRUNERS
    tuner: str = "random"  # kerastuner: one of TUNERS
    trials: int = 20
    timeout: float | None = None  # seconds, for the whole search
    epochs: int | None = None  # overrides the space's training.max_epochs
    max_params: int | None = None  # overrides the space's training.max_params (0: no limit)
    seed: int | None = 0
    name: str | None = None
    out: str = "reports"
    storage: str | None = None  # an Optuna storage URL; default: sqlite in the run folder
    subset: int | None = None
    val_fraction: float = 0.1
    top_k: int = 3
    data_dir: str | None = None
    image_size: str | None = None  # "WIDTHxHEIGHT": an image folder's images are resized on load
    precision: str = "auto"  # resolved per process: autodl.training.precision
    refit: bool = True  # train the winner again on train + validation at the end, if the budget allows
    warm_start: str | None = None  # a run folder (or a study in --storage) whose best configurations go first

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSettings:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})
