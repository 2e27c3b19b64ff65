"""Search engines behind one interface; ``get_backend(name)`` picks one."""

from __future__ import annotations

from autodl.backends.base import BaseBackend, TrialContext, TrialRunner
from autodl.exceptions import UsageError
from autodl.records import BACKENDS


def get_backend(name: str) -> type[BaseBackend]:
    """The backend class for a CLI name; imported lazily (each engine is a heavy import)."""
    if name == "optuna":
        from autodl.backends.optuna import OptunaBackend

        return OptunaBackend
    if name == "kerastuner":
        from autodl.backends.kerastuner import KerasTunerBackend

        return KerasTunerBackend
    raise UsageError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "BaseBackend", "TrialContext", "TrialRunner", "get_backend"]
