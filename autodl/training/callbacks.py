"""Keras callbacks that connect a fit to the search: history, NaN guard, pruning reports."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from autodl.exceptions import TrialFailed

EpochReporter = Callable[[int, dict[str, float]], None]


def make_trial_callback(monitor: str, reporters: list[EpochReporter]) -> Any:
    """One callback that records history, stops diverged runs and reports each epoch.

    A reporter may raise ``TrialPruned``; the exception leaves ``fit`` and ends the trial.
    """
    import keras

    class TrialCallback(keras.callbacks.Callback):
        # The per-batch NaN check only reads the loss, so Keras may run it on its callback
        # thread: with backends that dispatch asynchronously (JAX) the training loop then never
        # waits for each batch's loss, as in a plain ``fit``; an exception raised there leaves
        # ``fit`` at the next batch or at the epoch's end. (TensorFlow always calls batch hooks
        # in line, whatever this says.)
        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[float]] = {}
            self.epochs = 0

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            for key, value in logs.items():
                self.history.setdefault(key, []).append(value)
            self.epochs = epoch + 1
            if monitor not in logs:
                raise TrialFailed(
                    f"the objective metric {monitor!r} is not among the metrics Keras logged "
                    f"({', '.join(sorted(logs))}); check `objective.metric` in the space"
                )
            loss = logs.get("loss", 0.0)
            if not math.isfinite(loss) or not math.isfinite(logs[monitor]):
                raise TrialFailed(
                    f"the loss became {loss} at epoch {epoch + 1}: training diverged "
                    "(a learning rate too high for this architecture is the usual cause)"
                )
            for report in reporters:
                report(epoch, logs)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise TrialFailed(
                    f"the loss became {float(loss)} in epoch {self.epochs + 1}: training diverged "
                    "(a learning rate too high for this architecture is the usual cause)"
                )

    return TrialCallback()


def make_stop_callback(check: Callable[[], None]) -> Any:
    """A callback that calls ``check`` before every batch, so a deferred Ctrl-C is raised there.

    Batch-begin hooks always run in line on the main thread (Keras dispatches only batch-end
    hooks to its callback thread), in Keras' own Python loop: an exception raised there leaves
    ``fit``, ``evaluate`` or ``predict`` cleanly, with no C++ frame in between.
    """
    import keras

    class StopCheck(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            check()

        def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            check()

        def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            check()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            check()

    return StopCheck()
