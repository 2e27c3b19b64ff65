"""Overhead: one trial run by autodl vs a plain ``model.fit`` of the same model, data and epochs.

The model is fixed (a space whose every key is a value, written to a temporary YAML), so
autodl's trial and the plain fit build the identical network from one seed. The autodl side
is a real 1-trial ``run_search`` (Optuna, no pruner, no early stopping); its trial time runs
from ``on_search_start`` to ``on_trial_end``: the engine's ask, sampling, building, fitting
with autodl's callbacks, saving the model and the records, the engine's tell. The plain side
is ``build_model`` + ``model.fit(..., verbose=0)`` in the same process, on the same arrays.
Runs alternate (plain, autodl, plain, ...) after one discarded warm-up of each; medians.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import fmt, median, scratch, write_space

TARGET = 1.05
DURATION = "about 6 minutes on 2 quiet cores"
TITLE = "Overhead: autodl trial vs plain model.fit"
TARGET_TEXT = f"autodl trial time / plain fit time <= {TARGET} (plain fit with the same validation batch)"


def fixed_space(batch_size: int, epochs: int) -> dict[str, Any]:
    return {
        "name": f"overhead-b{batch_size}",
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        "conv_blocks": {
            "count": 2,
            "layers": 1,
            "filters": 32,
            "filters_growth": 2.0,
            "kernel_size": 3,
            "activation": "relu",
            "pooling": "max",
            "residual": False,
            "dropout": 0.1,
        },
        "normalization": "none",
        "dense": {"global_pooling": "flatten", "layers": 1, "units": 128, "dropout": 0.2},
        "optimizer": {"adam": {"learning_rate": 0.001}},
        "training": {"batch_size": batch_size, "max_epochs": epochs, "patience": 0},
    }


def plain_fit(arch: dict[str, Any], splits: Any, batch_size: int, epochs: int, val_batch: int | None) -> float:
    """What a user writes without autodl; ``val_batch=None`` keeps Keras' default."""
    import keras

    from autodl.model import build_model
    from autodl.training import free_memory

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model = build_model(arch, splits.input_shape, splits.num_classes)
    model.fit(
        splits.x_train,
        splits.y_train,
        validation_data=(splits.x_val, splits.y_val),
        batch_size=batch_size,
        epochs=epochs,
        validation_batch_size=val_batch,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    del model
    free_memory()
    return seconds


def autodl_trial(space_path: str, data: dict[str, Any], epochs: int, out: str) -> tuple[float, float]:
    """(trial seconds, whole run_search seconds) of a 1-trial search."""
    import autodl

    marks: dict[str, float] = {}

    class Clock(autodl.SearchCallback):
        def on_search_start(self, search: Any) -> None:
            marks["start"] = time.perf_counter()

        def on_trial_end(self, record: Any) -> None:
            marks["end"] = time.perf_counter()

    start = time.perf_counter()
    autodl.run_search(
        space=space_path, trials=1, pruner="none", epochs=epochs, out=out, top_k=1, seed=0, callbacks=[Clock()], **data
    )
    return marks["end"] - marks["start"], time.perf_counter() - start


def run(quick: bool) -> dict[str, Any]:
    from autodl.data import load_splits
    from autodl.space import FixedSuggester, load_space
    from autodl.training.trainer import even_batch_size

    if quick:
        data, epochs, repeats, batches = {"dataset": "digits", "subset": 400}, 1, 2, [64]
    else:
        data, epochs, repeats, batches = {"dataset": "fashion_mnist", "subset": 12000}, 2, 3, [32, 128]
    splits = load_splits(data["dataset"], subset=data["subset"], seed=0)  # what run_search loads
    rows, ratios = [], []
    val_batch = even_batch_size(len(splits.y_val))  # what fit_model validates with
    with scratch("overhead") as tmp:
        for batch in batches:
            path = str(write_space(fixed_space(batch, epochs), tmp))
            arch = load_space(path).sample(FixedSuggester({}))
            times: dict[str, list[float]] = {"plain": [], "plain_eval": [], "trial": [], "search": []}
            for i in range(repeats + 1):  # i == 0: warm-up, discarded
                plain = plain_fit(arch, splits, batch, epochs, None)
                plain_eval = plain_fit(arch, splits, batch, epochs, val_batch)
                trial, whole = autodl_trial(path, data, epochs, f"{tmp}/b{batch}-{i}")
                if i:
                    for key, value in zip(times, (plain, plain_eval, trial, whole)):
                        times[key].append(value)
            med = {k: median(v) for k, v in times.items()}
            ratio = med["trial"] / med["plain_eval"]
            ratios.append(ratio)
            rows.append(
                [
                    batch,
                    epochs,
                    len(splits.y_train),
                    fmt(med["plain"], 2),
                    fmt(med["plain_eval"], 2),
                    fmt(med["trial"], 2),
                    fmt(med["search"], 2),
                    fmt(med["trial"] / med["plain"]),
                    fmt(ratio),
                    "pass" if ratio <= TARGET else "FAIL",
                ]
            )
    worst = max(ratios)
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": worst <= TARGET,
        "summary": f"worst ratio {worst:.3f} (target <= {TARGET})",
        "columns": [
            "batch",
            "epochs",
            "train images",
            "plain fit s",
            f"plain fit, val batch {val_batch} s",
            "autodl trial s",
            "whole run_search s",
            "ratio vs plain",
            "ratio vs plain (same val batch)",
            "verdict",
        ],
        "rows": rows,
        "params": {"data": data, "epochs": epochs, "repeats": repeats, "batches": batches},
        "notes": [
            f"Medians of {repeats} repeats after one warm-up repeat; each repeat runs the plain fit, the plain "
            "fit with autodl's validation batch, then the autodl trial.",
            "`autodl trial` = engine ask + sampling + build + fit with autodl's callbacks + saving the "
            ".keras model and records + engine tell (from `on_search_start` to `on_trial_end`).",
            "`whole run_search` adds loading the data, the test evaluation and the HTML report.",
            f"autodl validates with batches of {val_batch} (Keras' default is the training batch); the verdict "
            "compares with a plain fit given the same validation batch, so it measures autodl's machinery.",
            "Under KERAS_BACKEND=jax autodl also drops a partial last training batch of under 1% of the data "
            "(one compile fewer per trial); this suite is meant for the default TensorFlow backend.",
        ],
    }
