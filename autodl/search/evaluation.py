"""The best model on the test split: metrics, and the arrays the report draws from."""

from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np

from autodl.runs import atomic_write_bytes

MAX_MISTAKES = 32
SAMPLES_PER_CLASS = 4


def evaluate_best(model: Any, splits: Any, path: Any,
                  check_stop: Callable[[], None] | None = None) -> dict[str, float]:
    """Evaluate once on the test split, write ``evaluation.npz``, return test metrics."""
    from autodl.training import evaluate, predict_proba

    metrics = evaluate(model, splits.x_test, splits.y_test, check_stop)
    proba = np.asarray(predict_proba(model, splits.x_test, check_stop), dtype=np.float32)
    arrays = evaluation_arrays(splits, proba)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return metrics


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
