"""GPU: ``autodl search fashion_mnist --trials 50`` under ``KERAS_BACKEND=jax`` on a GPU machine.

Meant for an H100 with JAX and no TensorFlow (``bash benchmarks/gpu.sh run`` sets that up
from a bundle; see below). Everything is autodl's defaults (``cnn`` space, TPE, median pruner,
the full 54,000/6,000/10,000 split) plus ``--precision auto``. Recorded: wall time, median
epoch time (each trial's first epoch, which compiles, apart), trials per hour, best
validation and test accuracy, and whether TensorFlow was imported. Without a visible GPU the
suite records "not run" and trains nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from benchmarks.common import RESULTS, fmt, median

MAX_SECONDS, MIN_TEST = 600.0, 0.93
DURATION = "under 10 minutes on an H100 if the target holds, plus about a minute of offline installs"
TITLE = "GPU: 50 trials of Fashion-MNIST with JAX on an H100"
TARGET_TEXT = f"`autodl search fashion_mnist --trials 50` < {MAX_SECONDS / 60:.0f} min with >= {MIN_TEST:.0%} test accuracy"
STATIC_NOTES = [
    "What travels to the GPU machine (no network there): this repository's tree, and a bundle made here by "
    "`bash benchmarks/gpu.sh pack shared/gpu-bundle`: wheels for autodl's requirements without TensorFlow "
    "and TensorBoard, with their dependencies (measured 2026-11-22 for Python 3.11: 45 wheels, 113 MB, of "
    "which 17 MB pure-Python; numpy, scipy and ml_dtypes, 50 MB, are left out because JAX brings them, so "
    "about 63 MB travel: keras, optuna, optuna-integration, keras-tuner, pandas, scikit-learn, plotly, "
    "pillow, h5py, grpcio, SQLAlchemy, rich, click, PyYAML, Jinja2...) and the four Fashion-MNIST `.gz` "
    "files (30 MB). Binary wheels match this machine's Python: set `PY=3.x` to pack for another.",
    "On the GPU machine, from the repository root: `bash benchmarks/gpu.sh run` (add `--quick` for a "
    "3-trial check). It installs the wheels offline (`pip --no-index`), never TensorFlow, and runs this "
    "suite with `KERAS_BACKEND=jax AUTODL_OFFLINE=1 AUTODL_DATA_DIR=<bundle>/fashion-mnist`, autodl from "
    "the source tree. It expects JAX with CUDA already installed there (`jax.devices()` lists the GPU).",
    "CI keeps this path alive on CPU: `tests/test_jax_smoke.py` runs `autodl search digits` under "
    "`KERAS_BACKEND=jax` and checks that TensorFlow is never imported.",
]


def run(quick: bool) -> dict[str, Any]:
    import keras

    import autodl
    from autodl.training.precision import accelerator_kinds, explain_auto

    backend = keras.backend.backend()
    kinds = accelerator_kinds()
    if not kinds:
        return {"title": TITLE, "target": TARGET_TEXT, "passed": None,
                "status": "not run: no GPU lent to this task",
                "summary": f"not run: the {backend} backend sees no GPU on this machine",
                "columns": [], "rows": [], "notes": []}
    settings = {"dataset": "fashion_mnist", "trials": 3, "subset": 3000} if quick else \
        {"dataset": "fashion_mnist", "trials": 50}
    stamps: list[tuple[int, int, float]] = []
    starts: dict[int, float] = {}

    class Clock(autodl.SearchCallback):
        def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
            starts[number] = time.perf_counter()

        def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
            stamps.append((number, epoch, time.perf_counter()))

    start = time.perf_counter()
    search = autodl.run_search(precision="auto", seed=0, out=str(RESULTS / "runs"), callbacks=[Clock()], **settings)
    wall = time.perf_counter() - start
    epochs = [t - prev for (n, _, t), (pn, _, prev) in zip(stamps[1:], stamps[:-1]) if n == pn]
    first = [t - starts[n] for n, e, t in stamps if e == 0]
    finished = len(search.finished)
    states = [r.state.value for r in search.finished]
    test = (search.test_metrics or {}).get("accuracy")
    policy, reason = explain_auto()
    passed = None if quick else bool(wall < MAX_SECONDS and test is not None and test >= MIN_TEST)
    row = [", ".join(f"{p} {c[0]}.{c[1]}" if c else p for p, c in kinds), backend, policy,
           "{0}/{1}/{2}".format(*(states.count(s) for s in ("complete", "pruned", "failed"))),
           sum(r.epochs for r in search.records), fmt(median(epochs), 2), fmt(median(first), 2),
           fmt(finished / (search.elapsed / 3600), 0), fmt(wall, 0), fmt(search.best_value, 4), fmt(test, 4),
           "yes" if "tensorflow" in sys.modules else "no"]
    return {
        "title": TITLE, "target": TARGET_TEXT, "passed": passed,
        "summary": f"{wall / 60:.1f} min, test accuracy {fmt(test, 4)}",
        "columns": ["accelerators", "backend", "precision (auto)", "complete/pruned/failed", "epochs",
                    "epoch s (median)", "first epoch s (compiles)", "trials/hour", "wall s", "best val accuracy",
                    "test accuracy", "TensorFlow imported"],
        "rows": [row],
        "params": {**settings, "precision": "auto"},
        "notes": [f"`auto` -> {policy}: {reason}.", f"Run folder: {search.path}."],
    }
