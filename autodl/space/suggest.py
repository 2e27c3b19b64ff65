"""The one interface through which a space asks for values: "suggest a value".

Backends implement it over their own engine (an Optuna trial, Keras Tuner's ``hp``); the
model builder therefore exists once and serves every backend.
"""

from __future__ import annotations

import abc
import contextlib
import math
import random
from typing import Any, Iterator

from autodl.exceptions import SpaceError


class BaseSuggester(abc.ABC):
    """Answers the space's questions; records what it was asked in ``params``."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    @abc.abstractmethod
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        """An integer in [low, high]."""

    @abc.abstractmethod
    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """A float in [low, high]."""

    @abc.abstractmethod
    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        """One of ``values``."""

    def suggest_bool(self, name: str) -> bool:
        return bool(self.suggest_choice(name, [False, True]))

    @contextlib.contextmanager
    def conditional(self, parent: str, values: list[Any]) -> Iterator[None]:
        """Parameters suggested inside exist only when ``parent`` takes one of ``values``.

        Define-by-run engines (Optuna) need nothing; Keras Tuner opens a conditional scope.
        """
        yield


class FixedSuggester(BaseSuggester):
    """Replays known values: rebuilding a trial's model, or comparing backends."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__()
        self._values = dict(values)

    def _get(self, name: str) -> Any:
        if name not in self._values:
            raise SpaceError(
                f"no value for parameter {name!r}: the given parameters "
                f"({', '.join(sorted(self._values)) or 'none'}) do not match this space; "
                "rebuild with the space the trial was run with"
            )
        value = self._values[name]
        self.params[name] = value
        return value

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return int(self._get(name))

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return float(self._get(name))

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        return self._get(name)

    def suggest_bool(self, name: str) -> bool:
        return bool(self._get(name))


class RandomSuggester(BaseSuggester):
    """Seeded random values within the declared bounds; for tests and smoke checks."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self._rng = random.Random(seed)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        if log:
            value = int(round(math.exp(self._rng.uniform(math.log(low), math.log(high)))))
        else:
            value = low + step * self._rng.randint(0, (high - low) // step)
        self.params[name] = value = min(max(value, low), high)
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        if log:
            value = math.exp(self._rng.uniform(math.log(low), math.log(high)))
        elif step:
            value = low + step * self._rng.randint(0, int(round((high - low) / step)))
        else:
            value = self._rng.uniform(low, high)
        self.params[name] = value
        return value

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        self.params[name] = value = self._rng.choice(values)
        return value


class WidestSuggester(BaseSuggester):
    """Largest counts and the ``index``-th choice: walks every block, layer and branch."""

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self._index = index

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.params[name] = value = low + step * ((high - low) // step)
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        self.params[name] = low
        return low

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        self.params[name] = value = values[self._index % len(values)]
        return value
