"""Learning-rate schedules: what ``training.lr_schedule`` costs per epoch and changes in accuracy.

The ``cnn`` space's first start network (as in the augmentation suite), fixed, trained as a
real ``run_search`` of one trial with the ``cnn`` space's training settings (early stopping
with patience 3, at most 15 epochs, no pruner) on 12,000 Fashion-MNIST images, once per
schedule and seed. The schedules are Keras callbacks between epochs, so their cost is in the
epoch time.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from benchmarks.augmentation import network, one_case
from benchmarks.common import fmt, scratch, write_space

SCHEDULES = ("constant", "cosine", "plateau")
SEEDS = (0, 1)
MAX_SLOWDOWN = 1.10  # a schedule's median epoch vs the constant rate's
DURATION = "about 15 minutes on 2 quiet cores"
TITLE = "Learning-rate schedules: cost per epoch and effect on accuracy"
TARGET_TEXT = (
    f"every schedule at most {MAX_SLOWDOWN}x the constant rate's epoch time (accuracy is "
    "reported, not targeted: it depends on the data and the epochs)"
)
STATIC_NOTES = [
    "cosine: the rate of epoch e (from 0) is lr * (1 + cos(pi * e / max_epochs)) / 2. plateau: Keras' "
    "ReduceLROnPlateau on the objective, factor 0.2, patience max(1, patience // 2), floor lr / 1000.",
]


def run(quick: bool) -> dict[str, Any]:
    import keras

    if quick:
        data, epochs, patience, seeds = {"dataset": "digits", "subset": 400}, 3, 2, SEEDS[:1]
    else:
        data, epochs, patience, seeds = {"dataset": "fashion_mnist", "subset": 12000}, 15, 3, SEEDS
    results: dict[str, list[dict[str, Any]]] = {}
    with scratch("schedule") as tmp:
        for name in SCHEDULES:
            space = network(epochs, patience, {})
            space["training"]["lr_schedule"] = name
            os.makedirs(f"{tmp}/{name}")
            path = str(write_space(space, f"{tmp}/{name}"))
            results[name] = [one_case(path, data, f"{tmp}/{name}/{seed}", seed) for seed in seeds]

    def mean(name: str, key: str) -> float | None:
        values = [r[key] for r in results[name] if r[key] is not None]
        return statistics.fmean(values) if values else None

    base_epoch, base_test = mean("constant", "epoch_s"), mean("constant", "test")
    rows, slowdowns = [], []
    for name in SCHEDULES:
        epoch_s, test = mean(name, "epoch_s"), mean(name, "test")
        slowdown = epoch_s / base_epoch if epoch_s and base_epoch else None
        if name != "constant" and slowdown is not None:
            slowdowns.append(slowdown)
        delta = (test - base_test) * 100 if test is not None and base_test is not None else None
        rows.append(
            [
                name,
                " / ".join(str(r["epochs"]) for r in results[name]),
                fmt(epoch_s, 2),
                fmt(slowdown, 2),
                " / ".join(fmt(r["val"], 4) for r in results[name]),
                " / ".join(fmt(r["test"], 4) for r in results[name]),
                fmt(test, 4),
                fmt(delta, 2),
            ]
        )
    worst = max(slowdowns) if slowdowns else None
    best = max(SCHEDULES, key=lambda k: mean(k, "test") or 0.0)
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": bool(worst is not None and worst <= MAX_SLOWDOWN),
        "summary": (
            f"slowest schedule's epoch {fmt(worst, 2)}x the constant rate's; best mean test accuracy: "
            f"{best} ({fmt(mean(best, 'test'), 4)} vs {fmt(base_test, 4)} at a constant rate)"
        ),
        "columns": [
            "lr_schedule",
            "epochs trained (per seed)",
            "epoch s (median, mean of seeds)",
            "epoch time vs constant",
            "best val accuracy (per seed)",
            "test accuracy (per seed)",
            "test accuracy (mean)",
            "test change (points)",
        ],
        "rows": rows,
        "params": {
            "data": data,
            "max_epochs": epochs,
            "patience": patience,
            "seeds": list(seeds),
            "keras_backend": keras.backend.backend(),
        },
        "notes": [
            f"Backend {keras.backend.backend()}, --precision auto; one trial per schedule and seed on "
            f"{data['dataset']} (subset {data['subset']}: 90% train, 10% validation; the official test split); "
            f"early stopping with patience {patience}, at most {epochs} epochs, best epoch's weights.",
            f"{len(seeds)} seed(s) per schedule (the seed sets the weights' initialisation and the batches' "
            "order): a few tenths of a point of test accuracy is within the noise.",
        ],
    }
