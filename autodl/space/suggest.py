"""The one interface through which a space asks for values: "suggest a value".

Backends implement it over their own engine (an Optuna trial, Keras Tuner's ``hp``); the
model builder therefore exists once and serves every backend.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
import random
from collections.abc import Iterator
from typing import Any

from autodl.exceptions import SpaceError, brief


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


@dataclasses.dataclass(frozen=True)
class Domain:
    """What one searched parameter may take, as a suggester was asked for it."""

    kind: str  # int, float or choice
    low: float | None = None
    high: float | None = None
    step: float | None = None
    values: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(_yaml_scalar(v) for v in self.values)
        grid = f" in steps of {self.step:g} from {self.low:g}" if self.step and self.step != 1 else ""
        return f"{'an integer' if self.kind == 'int' else 'a number'} in [{self.low:g}, {self.high:g}]{grid}"

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        """``(value as the engine should get it, None)``, or ``(None, why it does not fit)``."""
        wrong = (None, f"expected {self.describe()}, got {_yaml_scalar(value)}")
        if self.kind == "choice":
            for choice in self.values:
                same_kind = isinstance(choice, bool) == isinstance(value, bool)
                if same_kind and type(choice) in (int, float) and type(value) in (int, float):
                    if choice == value:
                        return choice, None
                elif same_kind and type(choice) is type(value) and choice == value:
                    return choice, None
            return wrong
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return wrong
        if isinstance(value, float) and not math.isfinite(value):  # ints of any size compare exactly
            return wrong
        if self.kind == "int" and not (isinstance(value, int) or value.is_integer()):
            return wrong
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            return wrong
        if self.step:
            steps = (value - self.low) / self.step
            if abs(steps - round(steps)) > 1e-9:
                return wrong
        return (int(value) if self.kind == "int" else float(value)), None


class DomainSuggester(WidestSuggester):
    """A widest walk that also records each parameter's ``Domain``."""

    def __init__(self, index: int = 0) -> None:
        super().__init__(index)
        self.domains: dict[str, Domain] = {}

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.domains.setdefault(name, Domain("int", low, high, step))
        return super().suggest_int(name, low, high, step=step, log=log)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        self.domains.setdefault(name, Domain("float", low, high, step))
        return super().suggest_float(name, low, high, step=step, log=log)

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        self.domains.setdefault(name, Domain("choice", values=tuple(values)))
        return super().suggest_choice(name, values)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) and len(value) <= 40 else brief(value, 40)
