"""Augmentation: what a space's ``augmentation:`` section costs per epoch and changes in accuracy.

The ``cnn`` space's first start network (two blocks of two 3x3 conv layers, 32 then 64
filters, batch norm, dense 128, Adam 1e-3, batch 64), fixed, trained as a real
``run_search`` of one trial with early stopping (patience 5, at most 30 epochs, no pruner)
on 12,000 Fashion-MNIST images, once per augmentation. The augmentation layers run inside
the model, so their cost is in the epoch time; validation and test see plain images.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.common import fmt, median, scratch, write_space

CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("none", {}),
    ("flip", {"flip": "horizontal"}),
    ("shift 0.05, constant fill", {"translation": 0.05, "fill": "constant"}),
    ("flip + shift 0.1", {"flip": "horizontal", "translation": 0.1}),
    (
        "flip + shift 0.1 + rotation 0.05 + zoom 0.1",
        {"flip": "horizontal", "translation": 0.1, "rotation": 0.05, "zoom": 0.1},
    ),
)
MAX_SLOWDOWN = 1.15  # the slowest augmented epoch vs the plain one
DURATION = "about 20 minutes on 2 quiet cores"
TITLE = "Augmentation: cost per epoch and effect on accuracy"
TARGET_TEXT = (
    f"every augmentation at most {MAX_SLOWDOWN}x the plain epoch time (accuracy is reported, "
    "not targeted: it depends on the data and the epochs)"
)
STATIC_NOTES = [
    "Augmentation is Keras' RandomFlip/RandomTranslation/RandomRotation/RandomZoom layers at the model's "
    "input, in float32 under any precision policy; `fill` is Keras' `fill_mode` (default reflect).",
]


def network(epochs: int, patience: int, augmentation: dict[str, Any]) -> dict[str, Any]:
    space: dict[str, Any] = {
        "name": "augmentation-fixed",
        "conv_blocks": {
            "count": 2,
            "layers": 2,
            "filters": 32,
            "filters_growth": 2.0,
            "kernel_size": 3,
            "activation": "relu",
            "pooling": "max",
            "residual": False,
            "dropout": 0.25,
        },
        "normalization": "batch",
        "dense": {"global_pooling": "flatten", "layers": 1, "units": 128, "dropout": 0.4},
        "optimizer": {"adam": {"learning_rate": 0.001}},
        "training": {"batch_size": 64, "max_epochs": epochs, "patience": patience},
    }
    if augmentation:
        space["augmentation"] = augmentation
    return space


def one_case(space_path: str, data: dict[str, Any], out: str, seed: int = 0) -> dict[str, Any]:
    """One trial of a fixed space, timed per epoch (the schedule suite runs it too)."""
    import autodl

    stamps: list[float] = []

    class Clock(autodl.SearchCallback):
        def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
            stamps.append(time.perf_counter())

        def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
            stamps.append(time.perf_counter())

    search = autodl.run_search(
        space=space_path, trials=1, pruner="none", out=out, seed=seed, callbacks=[Clock()], **data
    )
    record = search.records[0]
    epoch_seconds = [b - a for a, b in zip(stamps[1:-1], stamps[2:])]  # the first epoch traces: left out
    return {
        "epochs": record.epochs,
        "epoch_s": median(epoch_seconds) if epoch_seconds else None,
        "trial_s": record.seconds,
        "val": record.value,
        "test": (search.test_metrics or {}).get("accuracy"),
    }


def run(quick: bool) -> dict[str, Any]:
    import keras

    if quick:
        data, epochs, patience = {"dataset": "digits", "subset": 400}, 3, 2
    else:
        data, epochs, patience = {"dataset": "fashion_mnist", "subset": 12000}, 30, 5
    results = {}
    with scratch("augmentation") as tmp:
        for i, (label, augmentation) in enumerate(CASES):
            os.makedirs(f"{tmp}/{i}")
            path = str(write_space(network(epochs, patience, augmentation), f"{tmp}/{i}"))
            results[label] = one_case(path, data, f"{tmp}/{i}/out")
    plain = results["none"]
    rows, slowdowns = [], []
    for label, augmentation in CASES:
        r = results[label]
        slowdown = r["epoch_s"] / plain["epoch_s"] if r["epoch_s"] and plain["epoch_s"] else None
        if augmentation and slowdown is not None:
            slowdowns.append(slowdown)
        delta = (r["test"] - plain["test"]) * 100 if r["test"] is not None and plain["test"] is not None else None
        rows.append(
            [
                label,
                r["epochs"],
                fmt(r["epoch_s"], 2),
                fmt(slowdown, 2),
                fmt(r["trial_s"], 1),
                fmt(r["val"], 4),
                fmt(r["test"], 4),
                fmt(delta, 2),
            ]
        )
    worst = max(slowdowns) if slowdowns else None
    best = max(results, key=lambda k: results[k]["test"] or 0.0)
    passed = bool(worst is not None and worst <= MAX_SLOWDOWN)
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": passed,
        "summary": (
            f"slowest augmented epoch {fmt(worst, 2)}x the plain one; best test accuracy: {best} "
            f"({fmt(results[best]['test'], 4)} vs {fmt(plain['test'], 4)} without augmentation)"
        ),
        "columns": [
            "augmentation",
            "epochs trained",
            "epoch s (median)",
            "epoch time vs none",
            "trial s",
            "best val accuracy",
            "test accuracy",
            "test change (points)",
        ],
        "rows": rows,
        "params": {"data": data, "max_epochs": epochs, "patience": patience, "keras_backend": keras.backend.backend()},
        "notes": [
            f"Backend {keras.backend.backend()}, --precision auto; one trial per row on {data['dataset']} "
            f"(subset {data['subset']}: 90% train, 10% validation; the official test split), the same seed in "
            f"every row; early stopping with patience {patience}, at most {epochs} epochs, best epoch's weights.",
            "One seed per row: a point or so of test accuracy is within the noise of a single run.",
        ],
    }
