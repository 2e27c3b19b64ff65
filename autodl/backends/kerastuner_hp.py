"""The search space as Keras Tuner hyperparameters, and what the KT backend shares with its
distributed mode (``kerastuner_distributed``): the suggester, the space's declaration to the
oracle, the marker of an interrupted trial and KT's silenced output.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from autodl.exceptions import SpaceError
from autodl.space.suggest import BaseSuggester

INTERRUPTED_MESSAGE = "autodl: interrupted, not counted towards --trials"


class KerasTunerSuggester(BaseSuggester):
    """Answers the space's questions with a KT ``HyperParameters`` (``hp.Int``, ...)."""

    def __init__(self, hp: Any) -> None:
        super().__init__()
        self.hp = hp

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        # KT reads `step` as a multiplier under log sampling; the space never combines them.
        value = self.hp.Int(name, low, high, step=None if log else step, sampling="log" if log else "linear")
        return self._record(name, value)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        value = self.hp.Float(name, low, high, step=None if log else step, sampling="log" if log else "linear")
        return self._record(name, value)

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        if _native_choice(values):
            return self._record(name, self.hp.Choice(name, list(values)))
        # KT choices hold one type (bools become ints): pick an index instead.
        index = self.hp.Choice(name, list(range(len(values))))
        return self._record(name, None if index is None else values[index])

    def suggest_bool(self, name: str) -> bool:
        value = self.hp.Boolean(name)
        return self._record(name, None if value is None else bool(value))

    @contextlib.contextmanager
    def conditional(self, parent: str, values: list[Any]) -> Iterator[None]:
        with self.hp.conditional_scope(parent, list(values)):
            yield

    def _record(self, name: str, value: Any) -> Any:
        if value is None:
            raise SpaceError(
                f"Keras Tuner has no active value for parameter {name!r}: the space asked for it "
                "outside the conditions it was declared under. This is a bug in autodl's space "
                "walk; please report it with the search-space file"
            )
        if hasattr(value, "item") and not isinstance(value, (bool, int, float, str)):
            value = value.item()  # a NumPy scalar from the Bayesian oracle: keep records plain
        self.params[name] = value
        return value


class _DeclaringSuggester(KerasTunerSuggester):
    """Registers every parameter it is asked for, but answers the widest value.

    KT only learns the parameters a build asks for; answering the largest counts and the
    ``index``-th choice walks every block and branch, so the oracle knows the whole space
    before the first trial (a parameter KT first meets in a trial gets its default value).
    """

    def __init__(self, hp: Any, index: int) -> None:
        super().__init__(hp)
        self.index = index
        self.widest = 1

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        super().suggest_int(name, low, high, step=step, log=log)
        return high if log else low + step * ((high - low) // step)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        super().suggest_float(name, low, high, step=step, log=log)
        return low

    def suggest_choice(self, name: str, values: list[Any]) -> Any:
        super().suggest_choice(name, values)
        self.widest = max(self.widest, len(values))
        return values[self.index % len(values)]

    def suggest_bool(self, name: str) -> bool:
        super().suggest_bool(name)
        return bool(self.index % 2)

    def _record(self, name: str, value: Any) -> Any:
        return value  # inactive under KT's current values is fine: it is registered


def declare_space(space: Any, hp: Any) -> None:
    """Register every parameter ``space`` can ask for in ``hp``, under its conditions.

    KT's tuner calls this (as its hypermodel) to discover the space; it builds no model.
    """
    index, widest = 0, 1
    while index < widest:
        suggester = _DeclaringSuggester(hp, index)
        space.sample(suggester)
        widest = max(widest, suggester.widest)
        index += 1


def _native_choice(values: list[Any]) -> bool:
    """True when KT can hold ``values`` as they are: one type among str, int, float."""
    kinds = {type(v) for v in values}
    return len(kinds) == 1 and kinds <= {str, int, float}


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Drop what KT prints (``Reloading Tuner from ...``, trial tables): the library never prints."""
    with contextlib.redirect_stdout(_Discard()), contextlib.redirect_stderr(_Discard()):
        yield
