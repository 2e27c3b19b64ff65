"""Configurations near a known one, and known ones that fit a space: what exploitation and
warm starts draw from.

Local search around the best trials (regularized evolution's mutation, one or two
hyperparameters changed at a time) finds improvements that a model-based sampler, busy
learning the whole space from a handful of trials, reaches late. Both functions walk the
space itself, so a configuration is always complete and valid for it: a parameter that a
change switches on (SGD's momentum once the optimizer becomes SGD) is drawn at random.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from autodl.exceptions import SpaceError
from autodl.space.suggest import BaseSuggester, Domain, RandomSuggester

if TYPE_CHECKING:
    from autodl.space.space import SearchSpace

#: How far a numeric change moves, as a share of the range (linear) or a factor (log).
LINEAR_SHARE = 0.2
LOG_FACTOR = 1.6
#: Parameters (by their name's first part, or its last) that change how a network is trained,
#: not what it computes: a neighbour that changes only these costs what its parent cost per
#: epoch. The batch size is not among them (small batches run the same FLOPs more slowly).
RECIPE_GROUPS = ("optimizer",)
RECIPE_NAMES = ("dropout", "lr_schedule")


def recipe_names(space: SearchSpace) -> list[str]:
    """The space's parameters that change the training recipe and not the network's cost
    (the optimizer, its rate, the schedule, dropout): the cheap ones to change first under a
    time budget, since their trial's time is known from the parent's."""
    return [
        name
        for name in space.domains()
        if name.split(".", 1)[0] in RECIPE_GROUPS or name.rsplit(".", 1)[-1] in RECIPE_NAMES
    ]


def neighbour(
    space: SearchSpace,
    params: dict[str, Any],
    rng: random.Random,
    *,
    changes: int = 1,
    avoid: list[dict[str, Any]] | None = None,
    tries: int = 20,
    only: list[str] | None = None,
) -> dict[str, Any] | None:
    """``params`` with ``changes`` of its searched values moved to a nearby value.

    Returns a complete configuration of ``space`` (the names trials.csv uses), or None when
    ``tries`` draws all landed on a configuration in ``avoid`` (a tiny space, exhausted) or
    ``only`` (the names that may change, when given) names none of ``params``.
    """
    seen = [dict(p) for p in (avoid or [])]
    names = [name for name in space.domains() if name in params and (only is None or name in only)]
    if not names:
        return None
    for _ in range(tries):
        chosen = set(rng.sample(names, min(changes, len(names))))
        walk = _Neighbour(params, chosen, rng)
        space.sample(walk)
        if walk.params != params and walk.params not in seen:
            return walk.params
    return None


def fitting(space: SearchSpace, params: dict[str, Any]) -> dict[str, Any] | None:
    """``params`` as ``space`` would ask for them, or None if one is missing or out of its domain.

    For configurations from another run (warm start): a run over another space fits only if
    every value this space asks for is given and allowed; values it does not ask for are dropped.
    """
    walk = _Fitting(params)
    try:
        space.sample(walk)
    except SpaceError:
        return None
    return walk.params


class _Neighbour(BaseSuggester):
    """Keeps ``params``' values except the ``chosen`` names, which move to a nearby value."""

    def __init__(self, params: dict[str, Any], chosen: set[str], rng: random.Random) -> None:
        super().__init__()
        self.known, self.chosen, self.rng = params, chosen, rng
        self.fresh = RandomSuggester(rng.randrange(2**31))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        value = self._kept(name, Domain("int", low, high, step))
        if value is None and self._moves(name):
            value = _moved_int(int(self.known[name]), low, high, step, log, self.rng)
        elif value is None:
            value = self.fresh.suggest_int(name, low, high, step=step, log=log)
        self.params[name] = value
        return int(value)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        value = self._kept(name, Domain("float", low, high, step))
        if value is None and self._moves(name):
            value = _moved_float(float(self.known[name]), low, high, step, log, self.rng)
        elif value is None:
            value = self.fresh.suggest_float(name, low, high, step=step, log=log)
        self.params[name] = value
        return float(value)

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        value = self._kept(name, Domain("choice", values=tuple(values)))
        others = [v for v in values if not _same(v, self.known.get(name))]
        if value is None and self._moves(name) and others:
            value = self.rng.choice(others)
        elif value is None:
            value = self.fresh.suggest_choice(name, values)
        self.params[name] = value
        return value

    def _moves(self, name: str) -> bool:
        return name in self.chosen and isinstance(self.known.get(name), (int, float, str, bool))

    def _kept(self, name: str, domain: Domain) -> Any:
        """The known value, when it is kept and still fits; else None (move or draw it)."""
        if name in self.chosen or name not in self.known:
            return None
        value, reason = domain.coerce(self.known[name])
        return None if reason else value


class _Fitting(BaseSuggester):
    """Answers with the given values, refusing (SpaceError) one that is missing or does not fit."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__()
        self.values = values

    def _get(self, name: str, domain: Domain) -> Any:
        if name not in self.values:
            raise SpaceError(f"no value for {name!r}")
        value, reason = domain.coerce(self.values[name])
        if reason:
            raise SpaceError(f"{name}: {reason}")
        self.params[name] = value
        return value

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return int(self._get(name, Domain("int", low, high, step)))

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return float(self._get(name, Domain("float", low, high, step)))

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        return self._get(name, Domain("choice", values=tuple(values)))


def _moved_int(value: int, low: int, high: int, step: int, log: bool, rng: random.Random) -> int:
    if log:
        moved = int(round(value * LOG_FACTOR ** rng.choice((-1, 1))))
        if moved == value:
            moved = value + rng.choice((-1, 1))
    else:
        span = max(1, round(LINEAR_SHARE * (high - low) / step))
        moved = value + step * rng.choice((-1, 1)) * rng.randint(1, span)
    moved = min(max(moved, low), high)
    if moved == value:  # at a bound: go the other way
        moved = min(max(value + (step if value == low else -step), low), high)
    return moved if log else low + step * round((moved - low) / step)


def _moved_float(value: float, low: float, high: float, step: float | None, log: bool, rng: random.Random) -> float:
    if log and value > 0:
        moved = value * math.exp(rng.gauss(0.0, math.log(LOG_FACTOR)))
    else:
        moved = value + rng.gauss(0.0, LINEAR_SHARE * (high - low))
    moved = min(max(moved, low), high)
    if step:
        moved = low + step * round((moved - low) / step)
        moved = min(max(round(moved, 12), low), high)
    return moved


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b
