"""GPU: ``autodl search fashion_mnist --trials 50`` under ``KERAS_BACKEND=jax`` on a GPU machine.

Meant for an H100/H200 with JAX and no TensorFlow (``bash benchmarks/gpu.sh run`` sets that
up from a bundle; see below). autodl's defaults (``cnn`` space, TPE, median pruner, the full
54,000/6,000/10,000 split, ``--precision auto``) with ``--gpus all --workers N``: one small
CNN leaves most of a GPU idle (its step time is Python dispatch and each trial compiles a new
model, both on the CPU), so several worker processes share each GPU and one study. Recorded:
wall time, seconds per epoch (median over trials, compile included, and over trials of 3+
epochs), trials per hour, best validation and test accuracy, GPU utilisation sampled with
``nvidia-smi``, and whether TensorFlow is installed there at all.

Without a visible GPU the full suite records "not run"; ``--quick`` then rehearses the same
command on the CPU (3 trials, a 3,000-image subset), which checks the bundle and the path.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.common import RESULTS, ROOT, fmt, median

MAX_SECONDS, MIN_TEST, TRIALS = 600.0, 0.93, 50
# 8 per GPU is what met the target on an H200 (2026-12-04); 4 was never run there.
WORKERS_PER_GPU = int(os.environ.get("AUTODL_GPU_WORKERS", "8"))
# No trial starts after this many seconds (the device tool stops a command at 10 minutes, and
# a run cut off there brings back no result): a search this slow fails the target anyway.
SEARCH_TIMEOUT = float(os.environ.get("AUTODL_GPU_TIMEOUT", "450"))
DURATION = "about 6 minutes on an H200 (5.8 on 2026-12-04), plus half a minute of offline installs"
TITLE = "GPU: 50 trials of Fashion-MNIST with JAX on an H100/H200"
TARGET_TEXT = (
    f"`autodl search fashion_mnist --trials 50` < {MAX_SECONDS / 60:.0f} min with >= {MIN_TEST:.0%} test accuracy"
)
STATIC_NOTES = [
    "What travels to the GPU machine (no network there): this repository's tree and a bundle made here by "
    "`bash benchmarks/gpu.sh pack` (into `.gpu-bundle/`, git-ignored): CPython 3.12 wheels for what autodl "
    "needs beyond the machine's image (keras, optuna, optuna-integration, keras-tuner, plotly, SQLAlchemy, "
    "alembic...; `benchmarks/gpu_image.txt` lists what the image already has) and the four Fashion-MNIST "
    "`.gz` files (30 MB). `pack` refuses a bundle over the device tool's 64 MiB limit.",
    "On the GPU machine, from the repository root: `bash benchmarks/gpu.sh run` (add `--quick` for a "
    "3-trial check). It installs the wheels offline (`pip --no-index`), never TensorFlow, and runs this "
    "suite with `KERAS_BACKEND=jax AUTODL_OFFLINE=1 AUTODL_DATA_DIR=<bundle>/fashion-mnist`, autodl from "
    "the source tree; with `$OUT` set, the result JSON, the run's run.json/trials.json and the log land there.",
    "CI keeps this path alive on CPU: `tests/test_jax_smoke.py` runs `autodl search digits` under "
    "`KERAS_BACKEND=jax` with TensorFlow made unimportable, in one process and with `--workers 2`.",
    "On the H200 (2026-12-04), 41 of the 50 trials were pruned, 29 of them after their 2nd epoch (the "
    "median pruner's first judged epoch), so the 50 trials trained 244 epochs in all: 2,357 s of trial "
    "time over 8 workers, 9.7 s per epoch with each trial's compilation included. The best trial is the "
    "space's first start network (batch norm), as on 2 CPU cores (0.9393 validation, 0.9348 test there in"
    " 14 epochs; 0.9425 and 0.9378 here in 15). The top-3 ensemble reached 0.9457 validation and 0.9403 "
    "test accuracy.",
    "GPU utilisation stayed at a median of 63% with 8 workers. The same lease ran 16 workers (the "
    "machine's core count; `AUTODL_GPU_WORKERS=16 AUTODL_GPU_TIMEOUT=220`, so no trial started after 220 "
    "s): 45 trials in 343 s, 473 trials/hour against 518, with the GPU 82% busy and 22,989 MiB of its "
    "memory taken. 16 processes trained more epochs per second (0.85 against 0.70) but each epoch took "
    "longer (11.1 s against 6.8 s in trials of 3+ epochs), and with 16 trials running at once the median "
    "pruner had fewer finished ones to judge by: 15 complete and 30 pruned. Best test accuracy 0.9369, "
    "top-3 ensemble 0.9379. So 8 is the default; 4 was not run.",
    "Rehearsed on CPU on 2026-12-03: a bundle packed with `PY=3.11`, installed offline into a fresh venv "
    "holding only JAX (CPU) and the image's other packages, then `gpu.sh run --quick`: 3 trials with 2 "
    "workers, test accuracy 0.8427 on the 3,000-image subset, 204 s; the JSON, run.json, trials.json and "
    "the log came back through `$OUT`.",
]


def run(quick: bool) -> dict[str, Any]:
    import keras

    import autodl
    from autodl.search.workers import detect_gpus
    from autodl.training.precision import accelerator_kinds, explain_auto

    backend = keras.backend.backend()
    gpus = detect_gpus()  # nvidia-smi, not JAX: no GPU memory is taken here before the workers start
    if not gpus and not quick:
        return {
            "title": TITLE,
            "target": TARGET_TEXT,
            "passed": None,
            "status": "not run: no GPU lent to this task",
            "summary": f"not run: nvidia-smi lists no GPU on this machine ({backend} backend)",
            "columns": [],
            "rows": [],
            "notes": [],
        }
    name = f"gpu-{time.strftime('%Y%m%d-%H%M%S')}"
    out = RESULTS / "runs"
    flags = (
        ["--trials", "3", "--subset", "3000"]
        if quick
        else ["--trials", str(TRIALS), "--timeout", f"{SEARCH_TIMEOUT:g}"]
    )
    workers = WORKERS_PER_GPU if gpus else min(2, len(os.sched_getaffinity(0)))
    flags += ["--gpus", "all"] if gpus else []
    command = [
        "fashion_mnist",
        *flags,
        "--workers",
        str(workers),
        "--seed",
        "0",
        "--precision",
        "auto",
        "--out",
        str(out),
        "--name",
        name,
    ]
    sampler = _GpuSampler() if gpus else None
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "autodl", "search", *command, "--quiet"], cwd=ROOT)
    wall = time.perf_counter() - start
    utilisation = sampler.stop() if sampler else {}
    if proc.returncode != 0:
        raise RuntimeError(f"autodl search exited {proc.returncode}")
    search = autodl.load(out / name)
    finished = search.finished
    states = [r.state.value for r in finished]
    per_epoch = [r.seconds / r.epochs for r in finished if r.epochs]
    long_runs = [r.seconds / r.epochs for r in finished if r.epochs >= 3]
    test = (search.test_metrics or {}).get("accuracy")
    info = search.store.read_run()
    passed = (
        None
        if quick
        else bool(wall < MAX_SECONDS and len(finished) >= TRIALS and test is not None and test >= MIN_TEST)
    )
    row = [
        ", ".join(f"{p} {c[0]}.{c[1]}" if c else p for p, c in accelerator_kinds()) or "none (CPU rehearsal)",
        backend,
        str(info.get("precision_policy")),
        str(workers * max(1, len(gpus))),
        "/".join(str(states.count(s)) for s in ("complete", "pruned", "failed")),
        sum(r.epochs for r in finished),
        fmt(median(per_epoch), 2),
        fmt(median(long_runs), 2),
        fmt(len(finished) / (wall / 3600), 0),
        fmt(wall, 0),
        fmt(search.best_value, 4),
        fmt(test, 4),
        utilisation.get("median", "-"),
        utilisation.get("max_memory_mib", "-"),
        "no" if importlib.util.find_spec("tensorflow") is None else "yes",
    ]
    policy, reason = explain_auto()
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": passed,
        "summary": f"{wall / 60:.1f} min, test accuracy {fmt(test, 4)}" + (" (CPU rehearsal)" if not gpus else ""),
        "columns": [
            "accelerators",
            "backend",
            "precision (auto)",
            "workers",
            "complete/pruned/failed",
            "epochs",
            "s/epoch (median, compile incl.)",
            "s/epoch (trials of 3+ epochs)",
            "trials/hour",
            "wall s",
            "best val accuracy",
            "test accuracy",
            "GPU util % (median)",
            "GPU memory MiB (max)",
            "TensorFlow installed",
        ],
        "rows": [row],
        "params": {"command": "autodl search " + " ".join(command)},
        "notes": [
            f"Command: `autodl search {' '.join(command[:-4])}` (run folder under benchmarks/results/runs); "
            f"`--timeout` (AUTODL_GPU_TIMEOUT) only guards the device tool's 10-minute limit: the target "
            f"needs all {TRIALS} trials.",
            f"`auto` -> {policy} in this process ({reason}); the workers recorded {info.get('precision_policy')}.",
            (
                f"{workers} worker processes per GPU (AUTODL_GPU_WORKERS)"
                if gpus
                else f"{workers} worker processes on the CPU cores"
            )
            + " share one journal-file study; the parent "
            "evaluates the best trial on the test split and writes the report.",
        ],
    }


class _GpuSampler:
    """Samples GPU utilisation and memory once a second while the search runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
        while not self._stop.wait(1.0) and shutil.which("nvidia-smi"):
            try:
                lines = subprocess.run(query, capture_output=True, text=True, timeout=10).stdout.splitlines()
                for line in lines:
                    util, memory = (float(v) for v in line.split(","))
                    self.samples.append((util, memory))
            except (OSError, ValueError, subprocess.SubprocessError):
                continue

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=15)
        if not self.samples:
            return {}
        return {
            "median": fmt(median([u for u, _ in self.samples]), 0),
            "max_memory_mib": fmt(max(m for _, m in self.samples), 0),
        }
