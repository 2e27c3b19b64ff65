"""Helpers shared by the suites: machine facts, memory, data files, small statistics."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DATA = RESULTS / "data"  # derived data files (gitignored with the results)


def cpu_flags() -> list[str]:
    """The CPU features that decide ``--precision auto`` (AMX, AVX512-BF16, AVX512F)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(f for f in flags if f.startswith("amx") or f in ("avx512_bf16", "avx512f"))
    except OSError:
        pass
    return []


def machine() -> dict[str, Any]:
    """What a number depends on: hardware, load, versions, backend."""
    from autodl import environment

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        **environment.hardware(),
        "cpu_flags": cpu_flags(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in load] if load else None,
        "python_impl": platform.python_implementation(),
        "versions": environment.versions(),
    }


def rss_mb() -> float:
    """Resident memory of this process in MiB (psutil when installed, else /proc)."""
    try:
        import psutil  # optional
    except ImportError as exc:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        raise RuntimeError("cannot read resident memory: no psutil and no /proc/self/status") from exc
    return psutil.Process().memory_info().rss / 2**20


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def fashion_npz(n_train: int, n_val: int = 0) -> Path:
    """An .npz with Fashion-MNIST's first ``n_train`` training images and the official test set.

    With ``n_val``, the last ``n_val`` training images become a fixed validation split
    (``x_val``, ``y_val``). Built once (from the files ``autodl.data`` finds: Debian's
    dataset-fashion-mnist here) and cached under ``benchmarks/results/data``.
    """
    from autodl.data import get_dataset

    path = DATA / (f"fashion_mnist_first{n_train}" + (f"_last{n_val}" if n_val else "") + ".npz")
    if not path.is_file():
        raw = get_dataset("fashion_mnist").load(None)
        arrays = {
            "x_train": raw.x_train[:n_train],
            "y_train": raw.y_train[:n_train],
            "x_test": raw.x_test,
            "y_test": raw.y_test,
        }
        if n_val:
            arrays.update(x_val=raw.x_train[-n_val:], y_val=raw.y_train[-n_val:])
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    return path


def write_space(space: dict[str, Any], folder: str | Path) -> Path:
    """Write a search-space YAML (for fixed-model runs) and return its path."""
    import yaml

    path = Path(folder) / f"{space.get('name', 'space')}.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    return path


def scratch(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder for run folders that nobody needs afterwards."""
    return tempfile.TemporaryDirectory(prefix=f"autodl-bench-{prefix}-")


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats rounded, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def quiet() -> None:
    """Less noise from TensorFlow and Optuna while suites run (before TF is imported)."""
    import logging
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", module="optuna")
    warnings.filterwarnings("ignore", message=".*experimental.*")
    logging.getLogger("optuna").setLevel(logging.WARNING)
