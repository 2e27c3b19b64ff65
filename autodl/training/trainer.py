"""Fit one trial's model: early stopping on the objective, reports for the pruner."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from autodl.exceptions import TrialFailed
from autodl.training.callbacks import (
    EpochReporter,
    make_stop_callback,
    make_trial_callback,
)
from autodl.training.tf_batchnorm import fused_batch_norm
from autodl.training.tf_graphs import released_gradient_registrations

EVAL_BATCH_SIZE = 1024  # inference needs no gradients: large batches are faster
# Under JAX each new batch shape compiles the step again (seconds per trial, on GPUs too): the
# last, partial training batch is left out when it holds at most this share of the data.
MAX_DROPPED_SHARE = 0.01
PLATEAU_FACTOR = 0.2  # the plateau schedule's cut (Keras' docs example; its default 0.1 stalls short trials)


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
    check_stop: Callable[[], None] | None = None,
    lr_schedule: str = "constant",
    time_up: Callable[[], bool] | None = None,
) -> FitResult:
    """Train on ``splits.x_train``, validate on ``splits.x_val``; patience 0 disables early stop.

    ``callback_out`` receives the history callback before training starts, so a caller
    still has the per-epoch history when a reporter raises mid-fit. ``check_stop`` is called
    before every batch; what it raises ends the fit (a deferred Ctrl-C). A ``lr_schedule``
    other than constant changes the rate between epochs and adds ``learning_rate`` (the rate
    each epoch trained with) to the history. ``time_up`` is asked after each epoch: once it
    says yes, the fit ends there and keeps what it trained (the search's time budget).
    """
    import keras

    tracker = make_trial_callback(monitor, list(reporters or []))
    if callback_out is not None:
        callback_out(tracker)
    mode = "max" if direction == "maximize" else "min"
    # Before the tracker, so the rate they log reaches the history.
    schedule = make_schedule_callbacks(lr_schedule, model, max_epochs, patience, monitor, mode)
    callbacks: list[Any] = [*schedule, tracker, *_stop_callbacks(check_stop)]
    if time_up is not None:
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", model.stop_training or time_up())
            )
        )
    if patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True)
        )
    n = train_size(len(splits.y_train), batch_size, keras.backend.backend())
    start = time.perf_counter()
    # TensorFlow would keep every trial's graphs, and run batch norm unfused.
    with released_gradient_registrations(), fused_batch_norm(model), _out_of_memory_fails(batch_size):
        model.fit(
            splits.x_train[:n],
            splits.y_train[:n],
            validation_data=(splits.x_val, splits.y_val),
            batch_size=batch_size,
            epochs=max_epochs,
            callbacks=callbacks,
            validation_batch_size=even_batch_size(len(splits.y_val)),
            verbose=0,
        )
    seconds = time.perf_counter() - start
    values = tracker.history.get(monitor, [])
    pick = max if mode == "max" else min
    best = pick(values) if values else math.nan
    return FitResult(
        model=model,
        value=float(best),
        best_epoch=values.index(best) + 1 if values else 0,
        epochs=tracker.epochs,
        seconds=seconds,
        history=tracker.history,
    )


def refit_model(
    model: Any,
    splits: Any,
    *,
    batch_size: int,
    epochs: int,
    check_stop: Callable[[], None] | None = None,
) -> float:
    """Train ``model`` from scratch on train + validation for ``epochs`` (no early stopping:
    the search's trial already chose how many); return the seconds it took.

    The rate decays on a cosine over those epochs, whatever schedule the trial searched with:
    early stopping picked a constant-rate trial's best epoch on validation, but a final
    training keeps its last one, with nothing to pick from, and an annealed rate makes that
    a settled one. Measured on 10,000 Fashion-MNIST images no search saw (the start network,
    13 epochs on 17,000 images, 2 seeds): 0.9251 and 0.9268 accuracy against 0.9201 and
    0.9219 at its constant rate, at the same cost.
    """
    import keras
    import numpy as np

    x = np.concatenate([splits.x_train, splits.x_val])
    y = np.concatenate([splits.y_train, splits.y_val])
    order = np.random.default_rng(0).permutation(len(y))  # validation images mixed in, not all last
    schedule = make_schedule_callbacks("cosine", model, epochs, 0, "loss", "min")
    n = train_size(len(y), batch_size, keras.backend.backend())
    start = time.perf_counter()
    with released_gradient_registrations(), fused_batch_norm(model):
        model.fit(
            x[order][:n],
            y[order][:n],
            batch_size=batch_size,
            epochs=epochs,
            verbose=0,
            callbacks=[*schedule, *_stop_callbacks(check_stop)],
        )
    return time.perf_counter() - start


def out_of_memory(exc: BaseException) -> str | None:
    """``"host"`` or ``"GPU"`` if ``exc`` says memory ran out (Python, TensorFlow or JAX), else None."""
    if isinstance(exc, MemoryError):
        return "host"
    text = f"{type(exc).__name__}: {exc}"[:4000]
    if (
        type(exc).__name__ == "ResourceExhaustedError"
        or "RESOURCE_EXHAUSTED" in text
        or "out of memory" in text.lower()
    ):
        return "GPU" if any(word in text for word in ("GPU", "gpu", "CUDA", "cuda", "device")) else "host"
    return None


@contextlib.contextmanager
def _out_of_memory_fails(batch_size: int) -> Iterator[None]:
    """A trial that runs out of memory fails with that reason; the search goes on."""
    try:
        yield
    except Exception as exc:
        where = out_of_memory(exc)
        if where is None:
            raise
        raise TrialFailed(
            f"out of {where} memory while training (batch size {batch_size}): {str(exc)[:300]}; a smaller "
            "batch_size, fewer filters or units, or --max-params keeps trials within memory"
        ) from exc


def make_schedule_callbacks(
    name: str, model: Any, max_epochs: int, patience: int, monitor: str, mode: str
) -> list[Any]:
    """Keras' own schedule callbacks: they set the optimizer's rate between epochs, which
    every backend reads at the next epoch (a per-batch change would not reach a JAX fit).

    cosine ends near, not at, 0: its last epoch trains at ``(1 - cos(pi / max_epochs)) / 2``
    of the rate. plateau divides the rate by 5 after ``max(1, patience // 2)`` epochs with no
    better objective, so a trial gets a lower rate before early stopping gives up on it.
    """
    import keras

    if name == "constant":
        return []
    base = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    if name == "cosine":

        def rate(epoch: int, _lr: float) -> float:
            return base * 0.5 * (1.0 + math.cos(math.pi * min(epoch, max_epochs) / max_epochs))

        return [keras.callbacks.LearningRateScheduler(rate)]
    if name == "plateau":
        return [
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=PLATEAU_FACTOR, patience=max(1, patience // 2), min_lr=base / 1000
            )
        ]
    raise TrialFailed(f"unknown lr_schedule {name!r}; expected one of constant, cosine, plateau")


def train_size(n: int, batch_size: int, backend: str) -> int:
    """How many of ``n`` training examples to fit on: all, except under JAX, where a partial
    last batch of at most ``MAX_DROPPED_SHARE`` of the data is dropped to save its compile.

    The training split is already in random order, so the examples left out are a seeded
    random handful (under 1%: 16 to 112 of Fashion-MNIST's 54,000 at batch sizes 32 to 128).
    """
    remainder = n % batch_size
    if backend == "jax" and n > batch_size and remainder <= MAX_DROPPED_SHARE * n:
        return n - remainder
    return n


def even_batch_size(n: int, largest: int = EVAL_BATCH_SIZE) -> int:
    """The batch size that splits ``n`` examples into the fewest, most equal batches of at most
    ``largest`` (6,000 -> 6 x 1,000 rather than 5 x 1,024 + 880: one batch shape to compile)."""
    if n <= 0:
        return largest
    return math.ceil(n / math.ceil(n / largest))


def evaluate(model: Any, x: Any, y: Any, check_stop: Callable[[], None] | None = None) -> dict[str, float]:
    """Loss and accuracy on held-out data."""
    results = model.evaluate(
        x, y, batch_size=even_batch_size(len(y)), verbose=0, return_dict=True, callbacks=_stop_callbacks(check_stop)
    )
    return {k: float(v) for k, v in results.items()}


def predict_proba(model: Any, x: Any, check_stop: Callable[[], None] | None = None) -> Any:
    """Class probabilities, batched for speed."""
    return model.predict(x, batch_size=even_batch_size(len(x)), verbose=0, callbacks=_stop_callbacks(check_stop))


def _stop_callbacks(check_stop: Callable[[], None] | None) -> list[Any]:
    return [make_stop_callback(check_stop)] if check_stop is not None else []


def free_memory() -> None:
    """Drop Keras' global state between trials so memory stays flat over a search.

    ``clear_session`` also resets the global dtype policy to float32; the policy the search
    set (``--precision``) is put back, or every trial after the first would train in float32.
    """
    import gc

    import keras

    policy = keras.mixed_precision.global_policy().name
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    gc.collect()
