"""Typed search-space parameters: small value objects that check themselves when built.

A parameter knows how to ask a suggester for a value; it never knows which backend
(Optuna trial, Keras Tuner ``hp``, a fixed dict) answers.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, Any

from autodl.exceptions import brief

if TYPE_CHECKING:
    from autodl.space.suggest import BaseSuggester


# A choice lists a few values; a longer list is a range (``type: int``) or a mistake, and every
# value costs a walk of the space when the loader checks it.
MAX_CHOICES = 64


class ParamError(ValueError):
    """A parameter's own fields are inconsistent; ``key`` is the offending field."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class BaseParam(abc.ABC):
    """One searchable (or fixed) value of the space."""

    kind: str = ""

    @abc.abstractmethod
    def suggest(self, name: str, suggester: BaseSuggester) -> Any:
        """Ask ``suggester`` for a value of this parameter under ``name``."""

    @abc.abstractmethod
    def candidates(self) -> list[Any]:
        """Values to check against a field's constraints (the bounds, or every choice)."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The YAML form of the parameter."""

    @property
    def is_searched(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseParam) and type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()})"

    @staticmethod
    def from_dict(data: Any) -> BaseParam:
        """Build a parameter from its YAML form: a scalar, a list (choice) or a typed mapping."""
        if isinstance(data, list):
            return ChoiceParam(data)
        if not isinstance(data, dict):
            return FixedParam(data)
        data = dict(data)
        kind = data.pop("type", None)
        if kind is None:
            raise ParamError(
                "a parameter mapping needs a 'type' (one of int, float, choice, bool, fixed)",
                key="type",
            )
        cls = _KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ParamError(f"unknown parameter type {brief(kind)}; expected one of {', '.join(_KINDS)}", key="type")
        allowed = cls.keys
        for key in data:
            if key not in allowed:
                raise ParamError(
                    f"unknown key {brief(key)} for a {kind} parameter; allowed: {', '.join(allowed) or 'none'}",
                    key=str(key) if isinstance(key, str) and len(key) <= 40 else brief(key, 40),
                )
        return cls._from_fields(data)


class FixedParam(BaseParam):
    """A constant: the space's author decided, the search does not."""

    kind = "fixed"
    keys = ("value",)

    def __init__(self, value: Any) -> None:
        if isinstance(value, (dict, list)):
            raise ParamError(f"a fixed value must be a scalar, got {brief(value)}", key="value")
        self.value = value

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> FixedParam:
        if "value" not in data:
            raise ParamError("a fixed parameter needs 'value'", key="value")
        return cls(data["value"])

    def suggest(self, name: str, suggester: BaseSuggester) -> Any:
        return self.value

    def candidates(self) -> list[Any]:
        return [self.value]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "fixed", "value": self.value}

    @property
    def is_searched(self) -> bool:
        return False


class _RangeParam(BaseParam):
    keys = ("min", "max", "step", "log")
    _number: type = float

    def __init__(self, low: Any, high: Any, step: Any = None, log: bool = False) -> None:
        integer = self._number is int
        for key, value in (("min", low), ("max", high)):
            reason = number_problem(value, integer=integer)
            if reason:
                raise ParamError(reason, key=key)
        if not isinstance(log, bool):
            raise ParamError(f"expected true or false, got {brief(log)}", key="log")
        if low > high:
            raise ParamError(f"min ({low}) is greater than max ({high})", key="max")
        if step is not None:
            if number_problem(step, integer=integer) or step <= 0:
                raise ParamError(
                    f"expected a positive {'integer' if integer else 'number'}, got {brief(step)}", key="step"
                )
            if log:
                raise ParamError("'step' and 'log: true' cannot be combined; drop one", key="log")
        if log and low <= 0:
            raise ParamError(f"log scaling needs min > 0, got {low}", key="min")
        self.low = self._number(low)
        self.high = self._number(high)
        self.step = None if step is None else self._number(step)
        self.log = log

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> _RangeParam:
        for key in ("min", "max"):
            if key not in data:
                raise ParamError(f"a {cls.kind} parameter needs '{key}'", key=key)
        return cls(data["min"], data["max"], data.get("step"), data.get("log", False))

    def candidates(self) -> list[Any]:
        return [self.low, self.high]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "min": self.low, "max": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


class IntParam(_RangeParam):
    """An integer range, optionally stepped or log-scaled."""

    kind = "int"
    _number = int

    def suggest(self, name: str, suggester: BaseSuggester) -> int:
        if self.low == self.high:
            return self.low
        return suggester.suggest_int(name, self.low, self.high, step=self.step or 1, log=self.log)


class FloatParam(_RangeParam):
    """A float range, optionally stepped or log-scaled."""

    kind = "float"

    def suggest(self, name: str, suggester: BaseSuggester) -> float:
        if self.low == self.high:
            return self.low
        return suggester.suggest_float(name, self.low, self.high, step=self.step, log=self.log)


class ChoiceParam(BaseParam):
    """One of a list of scalar values."""

    kind = "choice"
    keys = ("values",)

    def __init__(self, values: Any) -> None:
        if not isinstance(values, (list, tuple)) or not values:
            raise ParamError(f"expected a non-empty list of values, got {brief(values)}", key="values")
        if len(values) > MAX_CHOICES:
            raise ParamError(
                f"expected at most {MAX_CHOICES} values, got {len(values)}; search a range of numbers "
                "with `type: int` or `type: float` instead",
                key="values",
            )
        for value in values:
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise ParamError(f"choices must be scalars (number, string, bool), got {brief(value)}", key="values")
            problem = number_problem(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if problem:
                raise ParamError(f"choices must be {problem.removeprefix('expected ')}", key="values")
        if len(set(map(repr, values))) != len(values):
            raise ParamError(f"choices repeat a value: {brief(list(values))}", key="values")
        self.values = list(values)

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> ChoiceParam:
        if "values" not in data:
            raise ParamError("a choice parameter needs 'values'", key="values")
        return cls(data["values"])

    def suggest(self, name: str, suggester: BaseSuggester) -> Any:
        if len(self.values) == 1:
            return self.values[0]
        return suggester.suggest_choice(name, self.values)

    def candidates(self) -> list[Any]:
        return list(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "choice", "values": list(self.values)}

    @property
    def is_searched(self) -> bool:
        return len(self.values) > 1


class BoolParam(BaseParam):
    """On or off."""

    kind = "bool"
    keys: tuple[str, ...] = ()

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> BoolParam:
        return cls()

    def suggest(self, name: str, suggester: BaseSuggester) -> bool:
        return suggester.suggest_bool(name)

    def candidates(self) -> list[Any]:
        return [False, True]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "bool"}


_KINDS: dict[str, Any] = {
    "int": IntParam,
    "float": FloatParam,
    "choice": ChoiceParam,
    "bool": BoolParam,
    "fixed": FixedParam,
}


def number_problem(value: Any, *, integer: bool = False) -> str | None:
    """Why ``value`` is not a usable number (an integer if ``integer``), or None.

    Usable: an int or a finite float, of a size a float holds (a 400-digit integer is not:
    every engine converts bounds to floats at some point).
    """
    wanted = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected {wanted}, got {brief(value)}"
    try:
        finite = math.isfinite(value)
    except OverflowError:
        digits = int(int(value).bit_length() * math.log10(2)) + 1
        return f"expected {wanted} of a sane size (at most about 1e308), got an integer of about {digits} digits"
    if not finite:
        return f"expected a finite number, got {brief(value)}"
    if integer and not float(value).is_integer():
        return f"expected an integer, got {brief(value)}"
    return None
