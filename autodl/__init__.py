"""autodl: automated architecture and hyperparameter search for Keras image classifiers.

    import autodl
    search = autodl.run_search(dataset="digits", trials=20)  # run a search
    search = autodl.load("reports/my-run")                # reopen one
    search.trials, search.best_params, search.best_models(3), search.resume(trials=40)

Attributes are imported on first use, so ``import autodl`` (and ``autodl --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from autodl.environment import __version__
from autodl.exceptions import (
    AutoDLError,
    DatasetError,
    RunError,
    SearchInterrupted,
    SignatureError,
    SpaceError,
    TrialFailed,
    TrialPruned,
    UsageError,
)

_LAZY = {
    "run_search": ("autodl.search.api", "run_search"),
    "load": ("autodl.search.api", "load"),
    "resume": ("autodl.search.api", "resume_search"),
    "Search": ("autodl.search.search", "Search"),
    "SearchCallback": ("autodl.search.callbacks", "SearchCallback"),
    "SearchSettings": ("autodl.records", "SearchSettings"),
    "TrialRecord": ("autodl.records", "TrialRecord"),
    "TrialState": ("autodl.records", "TrialState"),
    "load_space": ("autodl.space", "load_space"),
    "load_splits": ("autodl.data", "load_splits"),
    "build_model": ("autodl.model", "build_model"),
    "write_report": ("autodl.reporting", "write_report"),
}

__all__ = [
    "AutoDLError",
    "DatasetError",
    "RunError",
    "SearchInterrupted",
    "SignatureError",
    "SpaceError",
    "TrialFailed",
    "TrialPruned",
    "UsageError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autodl' has no attribute {name!r}")
