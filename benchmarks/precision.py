"""Precision: ``--precision float32 | mixed_bfloat16 | mixed_float16 | auto`` on one fixed model.

Each policy is a real ``run_search`` (2 trials of one fixed CNN, no pruning, no early stopping)
on a Fashion-MNIST subset, so the policy goes through the CLI's path, including the memory
clean-up between trials (``clear_session`` resets Keras' policy; trial 2 checks it survives).
Epoch time is the median over every epoch but each trial's first (which traces the graph);
accuracy is the best trial's validation and test accuracy. Runs use the current
``KERAS_BACKEND``; ``auto`` is resolved by ``autodl.training.precision`` and its reason shown.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import cpu_flags, fmt, median, scratch, write_space

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
MIN_SPEEDUP, MAX_ACC_DROP = 0.95, 1.0  # auto vs float32; accuracy in points
DURATION = "about 7 minutes on 2 quiet cores (mixed_float16 is emulated on CPUs: the slowest row)"
TITLE = "Precision: float32 vs mixed_bfloat16 vs mixed_float16 vs auto"
TARGET_TEXT = (
    f"`auto` at least {MIN_SPEEDUP}x float32's speed with test accuracy within {MAX_ACC_DROP} points "
    "(the issue expects ~2x on CPUs with AMX/AVX512-BF16)"
)


def fixed_space(epochs: int) -> dict[str, Any]:
    return {
        "name": "precision-fixed",
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        "conv_blocks": {
            "count": 2,
            "layers": 2,
            "filters": 32,
            "filters_growth": 2.0,
            "kernel_size": 3,
            "activation": "relu",
            "pooling": "max",
            "residual": False,
            "dropout": 0.1,
        },
        "normalization": "none",
        "dense": {"global_pooling": "flatten", "layers": 1, "units": 128, "dropout": 0.3},
        "optimizer": {"adam": {"learning_rate": 0.001}},
        "training": {"batch_size": 128, "max_epochs": epochs, "patience": 0},
    }


def one_policy(precision: str, space_path: str, data: dict[str, Any], out: str, trials: int) -> dict[str, Any]:
    import keras

    import autodl

    stamps: list[tuple[int, int, float]] = []
    starts: dict[int, float] = {}

    class Clock(autodl.SearchCallback):
        def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
            starts[number] = time.perf_counter()

        def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
            stamps.append((number, epoch, time.perf_counter()))

    search = autodl.run_search(
        space=space_path,
        trials=trials,
        pruner="none",
        precision=precision,
        out=out,
        top_k=trials,
        seed=0,
        callbacks=[Clock()],
        **data,
    )
    epoch_seconds = [t - prev for (n, e, t), (pn, _, prev) in zip(stamps[1:], stamps[:-1]) if n == pn]
    policies = sorted(
        {
            keras.saving.load_model(search.path / r.model_path).layers[1].dtype_policy.name
            for r in search.records
            if r.model_path
        }
    )
    best = search.best_trial
    first_epoch_seconds = [t - starts[n] for n, e, t in stamps if e == 0]
    return {
        "epoch_s": median(epoch_seconds),
        "first_epoch_s": median(first_epoch_seconds),
        "val": best.value if best else None,
        "test": (search.test_metrics or {}).get("accuracy"),
        "policies": policies,
    }


def run(quick: bool) -> dict[str, Any]:
    import keras

    from autodl.training.precision import explain_auto

    if quick:
        data, epochs, trials = {"dataset": "digits", "subset": 400}, 2, 2
    else:
        data, epochs, trials = {"dataset": "fashion_mnist", "subset": 12000}, 3, 2
    auto, reason = explain_auto()
    results = {}
    with scratch("precision") as tmp:
        path = str(write_space(fixed_space(epochs), tmp))
        for precision in POLICIES:
            results[precision] = one_policy(precision, path, data, f"{tmp}/{precision}", trials)
    base = results["float32"]
    rows = []
    for precision in POLICIES:
        r = results[precision]
        expected = auto if precision == "auto" else precision
        speedup = base["epoch_s"] / r["epoch_s"] if r["epoch_s"] else None
        delta = (r["test"] - base["test"]) * 100 if r["test"] is not None and base["test"] is not None else None
        r.update(speedup=speedup, delta=delta)
        rows.append(
            [
                precision + (f" -> {auto}" if precision == "auto" else ""),
                fmt(r["epoch_s"], 2),
                fmt(r["first_epoch_s"], 2),
                fmt(speedup, 2),
                fmt(r["val"], 4),
                fmt(r["test"], 4),
                fmt(delta, 2),
                ", ".join(r["policies"]) + ("" if r["policies"] == [expected] else " (WRONG)"),
            ]
        )
    a = results["auto"]
    policy_ok = all(results[p]["policies"] == [auto if p == "auto" else p] for p in POLICIES)
    passed = bool(
        policy_ok
        and a["speedup"] is not None
        and a["speedup"] >= MIN_SPEEDUP
        and a["delta"] is not None
        and a["delta"] >= -MAX_ACC_DROP
    )
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": passed,
        "summary": f"auto -> {auto}: {fmt(a['speedup'], 2)}x float32, test accuracy {fmt(a['delta'], 2)} points",
        "columns": [
            "--precision",
            "epoch s (median)",
            "first epoch s",
            "speed-up vs float32",
            "best val accuracy",
            "test accuracy",
            "test accuracy change (points)",
            "policy in the saved models",
        ],
        "rows": rows,
        "params": {"data": data, "epochs": epochs, "trials": trials, "keras_backend": keras.backend.backend()},
        "notes": [
            f"Backend {keras.backend.backend()}; CPU flags: {' '.join(cpu_flags()) or 'none of amx/avx512'}; "
            f"`auto` -> {auto} because: {reason}.",
            f"{trials} trials of one fixed CNN (2 blocks x 2 conv layers, 32/64 filters, dense 128, Adam, batch 128), "
            f"{epochs} epochs each, on {data['dataset']} (subset {data['subset']}: 90% train, 10% validation).",
            "Same seed for every policy: the weights start equal (variables stay float32 under mixed precision), "
            "so accuracy differences come from the arithmetic.",
        ],
    }
