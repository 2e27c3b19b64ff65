"""The best model on the test split: metrics, and the arrays the report draws from; and the
kept models together, as an ensemble."""

from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np

from autodl.runs import atomic_write_bytes

MAX_MISTAKES = 32
SAMPLES_PER_CLASS = 4


def evaluate_best(model: Any, splits: Any, path: Any,
                  check_stop: Callable[[], None] | None = None) -> tuple[dict[str, float], np.ndarray]:
    """Evaluate once on the test split, write ``evaluation.npz``; return the test metrics and
    the class probabilities (the ensemble's evaluation reuses them)."""
    from autodl.training import evaluate, predict_proba

    metrics = evaluate(model, splits.x_test, splits.y_test, check_stop)
    proba = np.asarray(predict_proba(model, splits.x_test, check_stop), dtype=np.float32)
    arrays = evaluation_arrays(splits, proba)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return metrics, proba


def evaluation_arrays(splits: Any, proba: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions, most-confident mistakes first, class counts and sample images."""
    y_true = np.asarray(splits.y_test, dtype=np.int64)
    y_pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = proba[wrong, y_pred[wrong]]
    mistakes = wrong[np.argsort(-confidence, kind="stable")][:MAX_MISTAKES]
    samples = np.concatenate([
        np.flatnonzero(splits.y_train == c)[:SAMPLES_PER_CLASS] for c in range(splits.num_classes)
    ]).astype(np.int64)
    return {
        "y_true": y_true,
        "proba": proba,
        "mistake_index": mistakes.astype(np.int64),
        "mistake_images": np.asarray(splits.x_test[mistakes], dtype=np.float32),
        "sample_images": np.asarray(splits.x_train[samples], dtype=np.float32),
        "sample_labels": np.asarray(splits.y_train[samples], dtype=np.int64),
        "train_class_counts": np.bincount(splits.y_train, minlength=splits.num_classes).astype(np.int64),
    }


def evaluate_ensemble(models: list[Any], numbers: list[int], splits: Any,
                      check_stop: Callable[[], None] | None = None,
                      best_test_proba: np.ndarray | None = None) -> dict[str, Any]:
    """The kept models' averaged class probabilities against the best model alone (``models[0]``),
    on the validation split, where choosing between them is fair, and on the test split
    (``best_test_proba``: the best model's, already computed by ``evaluate_best``).

    Averaging is what ``autodl predict --ensemble`` does; a few models of different
    architectures often make fewer mistakes together than the best of them.
    """
    from autodl.training import predict_proba

    out: dict[str, Any] = {"trials": list(numbers)}
    for split, x, y, known in (("val_", splits.x_val, splits.y_val, None),
                               ("", splits.x_test, splits.y_test, best_test_proba)):
        probas = [np.asarray(known if i == 0 and known is not None else predict_proba(model, x, check_stop),
                             dtype=np.float64) for i, model in enumerate(models)]
        mean = np.mean(probas, axis=0)
        out[f"{split}accuracy"], out[f"{split}loss"] = _accuracy(mean, y), _log_loss(mean, y)
        out[f"best_{split}accuracy"] = _accuracy(probas[0], y)
    return out


def _accuracy(proba: np.ndarray, y: Any) -> float:
    return float(np.mean(proba.argmax(axis=1) == np.asarray(y)))


def _log_loss(proba: np.ndarray, y: Any) -> float:
    picked = proba[np.arange(len(proba)), np.asarray(y, dtype=np.int64)]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
