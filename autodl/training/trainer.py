"""Fit one trial's model: early stopping on the objective, reports for the pruner."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

from autodl.training.callbacks import EpochReporter, make_trial_callback

EVAL_BATCH_SIZE = 1024  # inference needs no gradients: large batches are faster


@dataclasses.dataclass
class FitResult:
    """What a finished fit produced; the model holds the best epoch's weights."""

    model: Any
    value: float
    best_epoch: int
    epochs: int
    seconds: float
    history: dict[str, list[float]]


def fit_model(
    model: Any,
    splits: Any,
    *,
    batch_size: int,
    max_epochs: int,
    patience: int,
    monitor: str = "val_accuracy",
    direction: str = "maximize",
    reporters: list[EpochReporter] | None = None,
    callback_out: Callable[[Any], None] | None = None,
) -> FitResult:
    """Train on ``splits.x_train``, validate on ``splits.x_val``; patience 0 disables early stop.

    ``callback_out`` receives the history callback before training starts, so a caller
    still has the per-epoch history when a reporter raises mid-fit.
    """
    import keras

    tracker = make_trial_callback(monitor, list(reporters or []))
    if callback_out is not None:
        callback_out(tracker)
    callbacks: list[Any] = [tracker]
    mode = "max" if direction == "maximize" else "min"
    if patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=patience, restore_best_weights=True))
    start = time.perf_counter()
    model.fit(
        splits.x_train, splits.y_train,
        validation_data=(splits.x_val, splits.y_val),
        batch_size=batch_size, epochs=max_epochs, callbacks=callbacks,
        validation_batch_size=EVAL_BATCH_SIZE, verbose=0,
    )
    seconds = time.perf_counter() - start
    values = tracker.history.get(monitor, [])
    pick = max if mode == "max" else min
    best = pick(values) if values else math.nan
    return FitResult(model=model, value=float(best), best_epoch=values.index(best) + 1 if values else 0,
                     epochs=tracker.epochs, seconds=seconds, history=tracker.history)


def evaluate(model: Any, x: Any, y: Any) -> dict[str, float]:
    """Loss and accuracy on held-out data."""
    results = model.evaluate(x, y, batch_size=EVAL_BATCH_SIZE, verbose=0, return_dict=True)
    return {k: float(v) for k, v in results.items()}


def predict_proba(model: Any, x: Any) -> Any:
    """Class probabilities, batched for speed."""
    return model.predict(x, batch_size=EVAL_BATCH_SIZE, verbose=0)


def free_memory() -> None:
    """Drop Keras' global state between trials so memory stays flat over a search."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
