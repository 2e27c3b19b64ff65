"""The best model on the test split: metrics, and the arrays the report draws from; and the
kept models together, as an ensemble."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

from autodl.runs import atomic_write_bytes

MAX_MISTAKES = 32
SAMPLES_PER_CLASS = 4


def evaluate_best(
    model: Any, splits: Any, path: Any, check_stop: Callable[[], None] | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Evaluate once on the test split, write ``evaluation.npz``; return the test metrics and
    the class probabilities (the ensemble's evaluation reuses them)."""
    from autodl.training import evaluate, predict_proba

    metrics = evaluate(model, splits.x_test, splits.y_test, check_stop)
    proba = np.asarray(predict_proba(model, splits.x_test, check_stop), dtype=np.float32)
    arrays: dict[str, Any] = evaluation_arrays(splits, proba)
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
    samples = np.concatenate(
        [np.flatnonzero(splits.y_train == c)[:SAMPLES_PER_CLASS] for c in range(splits.num_classes)]
    ).astype(np.int64)
    return {
        "y_true": y_true,
        "proba": proba,
        "mistake_index": mistakes.astype(np.int64),
        "mistake_images": np.asarray(splits.x_test[mistakes], dtype=np.float32),
        "sample_images": np.asarray(splits.x_train[samples], dtype=np.float32),
        "sample_labels": np.asarray(splits.y_train[samples], dtype=np.int64),
        "train_class_counts": np.bincount(splits.y_train, minlength=splits.num_classes).astype(np.int64),
    }


def evaluate_ensemble(
    models: list[Any],
    numbers: list[int],
    splits: Any,
    check_stop: Callable[[], None] | None = None,
    best_test_proba: np.ndarray | None = None,
) -> dict[str, Any]:
    """The kept models as a weighted ensemble against the best model alone (``models[0]``).

    The weights come from greedy forward selection with replacement on the validation split
    (Caruana et al. 2004, as auto-sklearn and AutoGluon build theirs): ``ROUNDS`` times, add
    the model whose addition gives the best validation accuracy (the search's objective;
    log-loss breaks ties, which small validation splits make common); a model picked k
    times weighs k / ``ROUNDS``, one never picked weighs nothing. The test split is then
    evaluated once (``best_test_proba``: the best model's, already computed by
    ``evaluate_best``). ``autodl predict --ensemble`` averages with these weights.
    """
    from autodl.training import predict_proba

    val = [np.asarray(predict_proba(model, splits.x_val, check_stop), dtype=np.float64) for model in models]
    weights = greedy_weights(val, splits.y_val)
    test: list[Any] = [None] * len(models)
    for i in {0} | {i for i, w in enumerate(weights) if w > 0}:  # the best alone, and every model used
        known = best_test_proba if i == 0 else None
        test[i] = np.asarray(
            predict_proba(models[i], splits.x_test, check_stop) if known is None else known, dtype=np.float64
        )
    out: dict[str, Any] = {
        "trials": list(numbers),
        "weights": {str(n): w for n, w in zip(numbers, weights)},
        "selection": f"greedy forward selection, {ROUNDS} rounds, on validation accuracy",
    }
    for split, probas, y in (("val_", val, splits.y_val), ("", test, splits.y_test)):
        mean = np.sum([w * probas[i] for i, w in enumerate(weights) if w > 0], axis=0)
        out[f"{split}accuracy"], out[f"{split}loss"] = accuracy(mean, y), log_loss(mean, y)
        out[f"best_{split}accuracy"] = accuracy(probas[0], y)
    return out


#: Rounds of greedy ensemble selection: weights are multiples of 1 / ROUNDS.
ROUNDS = 10


def greedy_weights(probas: list[np.ndarray], y: Any, rounds: int = ROUNDS) -> list[float]:
    """Ensemble weights by greedy forward selection with replacement: accuracy, then log-loss.

    Remaining ties go to the earlier model (``probas[0]`` is the best alone).
    """
    total = np.zeros_like(probas[0])
    counts = [0] * len(probas)
    for picked in range(1, rounds + 1):
        scores = [(-accuracy((total + p) / picked, y), log_loss((total + p) / picked, y)) for p in probas]
        choice = min(range(len(probas)), key=lambda i: (scores[i], i))
        counts[choice] += 1
        total += probas[choice]
    return [c / rounds for c in counts]


def accuracy(proba: np.ndarray, y: Any) -> float:
    """The share of rows whose most probable class is ``y``'s."""
    return float(np.mean(proba.argmax(axis=1) == np.asarray(y)))


def log_loss(proba: np.ndarray, y: Any) -> float:
    """The mean negative log-probability of ``y``'s class (clipped at 1e-7)."""
    picked = proba[np.arange(len(proba)), np.asarray(y, dtype=np.int64)]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
