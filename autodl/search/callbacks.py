"""Progress hooks: the library never prints, front ends subclass ``SearchCallback``."""

from __future__ import annotations

from typing import Any

from autodl.records import TrialRecord


class SearchCallback:
    """No-op hooks called by a running search, in this order.

    ``on_search_start`` -> (``on_trial_start`` -> ``on_epoch_end``* -> ``on_trial_end``)* ->
    ``on_status``* -> ``on_search_end``. ``on_status`` also comes first, followed by
    ``on_load_progress``* while the data is loaded, and a search run in worker processes
    (``--workers``) sends it to say how the workers are laid out; it reports other processes'
    trials through ``on_trial_end`` (their running epochs through ``on_status``).
    """

    def on_load_progress(self, done: int, total: int) -> None:
        """``done`` of ``total`` files are read (sources read file by file: image folders)."""

    def on_search_start(self, search: Any) -> None:
        """The run folder exists and the data is loaded."""

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        """A trial's parameters are sampled and its model is about to train."""

    def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
        """One epoch of the running trial finished (``epoch`` counts from 0)."""

    def on_trial_end(self, record: TrialRecord) -> None:
        """A trial finished, in any state, and is saved."""

    def on_status(self, message: str) -> None:
        """A step outside trials (starting workers, evaluating, writing the report)."""

    def on_search_end(self, search: Any) -> None:
        """Everything is written."""


class CallbackList(SearchCallback):
    """Fans each hook out to several callbacks."""

    def __init__(self, callbacks: list[SearchCallback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):

            def call(*args: Any) -> None:
                for cb in object.__getattribute__(self, "callbacks"):
                    getattr(cb, name)(*args)

            return call
        return object.__getattribute__(self, name)


def as_callback(callbacks: list[SearchCallback] | SearchCallback | None) -> SearchCallback:
    """One callback for what callers may pass: one, a list, or none."""
    return callbacks if isinstance(callbacks, SearchCallback) else CallbackList(callbacks)
