"""Workers: one search process on every core vs ``--workers N`` processes with a share each.

The same fixed model (every key of the space a value, so every trial trains the identical
network and only the throughput differs) is searched with ``--trials T --pruner none`` and no
early stopping, once by one process using every core and once by ``--workers N`` processes
pinned to their share of the cores; runs alternate and repeat. Measured: the whole command's
wall time (worker start-up, the test evaluation and the report included) and the epochs
trained per minute. Two models: the small CNN of the overhead suite, and a dense network
(too small to keep two cores busy).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import ROOT, fmt, median, scratch, write_space

TARGET = 1.0
DURATION = "about 8 minutes on 2 quiet cores"
TITLE = "Workers: --workers N (cores shared out) vs one process on every core"
TARGET_TEXT = "`--workers N` (N = usable cores) trains at least as many epochs per minute as one process"


def _space(name: str, model: str, epochs: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cnn": {
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
        },
        "mlp": {"normalization": "none"},
    }[model]
    return {
        "name": name,
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        **body,
        "dense": {"global_pooling": "flatten", "layers": 1, "units": 128, "dropout": 0.2},
        "optimizer": {"adam": {"learning_rate": 0.001}},
        "training": {"batch_size": 64, "max_epochs": epochs, "patience": 0},
    }


def _search(space: str, data: list[str], trials: int, workers: int, out: str, name: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            *data,
            "--space",
            space,
            "--trials",
            str(trials),
            "--pruner",
            "none",
            "--workers",
            str(workers),
            "--out",
            out,
            "--name",
            name,
            "--quiet",
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def run(quick: bool) -> dict[str, Any]:
    import autodl

    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        return {
            "title": TITLE,
            "target": TARGET_TEXT,
            "passed": None,
            "status": "not run: one usable core",
            "summary": "not run: needs 2 or more cores",
            "columns": [],
            "rows": [],
            "notes": [],
        }
    if quick:
        data, trials, epochs, repeats, models = ["digits", "--subset", "400"], 2, 1, 1, ["mlp"]
    else:
        data, trials, epochs, repeats, models = ["fashion_mnist", "--subset", "6000"], 8, 3, 2, ["cnn", "mlp"]
    rows, ratios = [], []
    with scratch("workers") as tmp:
        for model in models:
            space = str(write_space(_space(f"workers-{model}", model, epochs), tmp))
            walls: dict[int, list[float]] = {1: [], cores: []}
            epochs_done: dict[int, list[int]] = {1: [], cores: []}
            for i in range(repeats):
                for workers in (1, cores):
                    name = f"{model}-w{workers}-{i}"
                    walls[workers].append(_search(space, data, trials, workers, tmp, name))
                    epochs_done[workers].append(sum(r.epochs for r in autodl.load(f"{tmp}/{name}").finished))
            rate = {w: median([e / s * 60 for e, s in zip(epochs_done[w], walls[w])]) for w in walls}
            ratio = rate[cores] / rate[1]
            ratios.append(ratio)
            for workers in (1, cores):
                rows.append(
                    [
                        model,
                        workers,
                        trials,
                        epochs_done[workers][0],
                        fmt(median(walls[workers]), 1),
                        fmt(rate[workers], 1),
                        fmt(rate[workers] / rate[1], 2) if workers != 1 else "1.00",
                    ]
                )
    worst = min(ratios)
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": worst >= TARGET,
        "summary": f"--workers {cores}: {', '.join(f'{m} {r:.2f}x' for m, r in zip(models, ratios))} the epochs "
        "per minute of one process",
        "columns": ["model", "workers", "trials", "epochs trained", "wall s (median)", "epochs per minute", "speed-up"],
        "rows": rows,
        "params": {"data": data, "trials": trials, "epochs": epochs, "repeats": repeats, "cores": cores},
        "notes": [
            f"{' '.join(data)}, {trials} trials of {epochs} epochs, batch 64, no pruning, no early stopping; "
            f"medians of {repeats} alternating repeats; one process (all {cores} cores) vs {cores} workers "
            "pinned to one core each.",
            "Wall time is the whole `autodl search` command: Python and Keras start-up in every worker, "
            "loading the data, the test evaluation and the report included.",
        ],
    }
