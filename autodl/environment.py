"""Package versions and hardware, recorded with every run so results can be compared."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
from typing import Any

__version__ = "0.1.0"


def versions() -> dict[str, str | None]:
    """Installed versions of what a run's numbers depend on (None when absent)."""
    out: dict[str, str | None] = {"python": platform.python_version(), "autodl": __version__}
    for key, dist in (
        ("keras", "keras"),
        ("tensorflow", "tensorflow"),
        ("jax", "jax"),
        ("optuna", "optuna"),
        ("keras_tuner", "keras-tuner"),
        ("numpy", "numpy"),
    ):
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = None
    out["keras_backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    return out


def hardware() -> dict[str, Any]:
    """CPU, memory and accelerators of this machine."""
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "memory_gb": memory_gb,
        "accelerators": accelerators(),
    }


@functools.lru_cache(maxsize=1)
def accelerators() -> list[str]:
    """GPUs the active Keras backend can see (empty on CPU-only machines).

    Without an NVIDIA driver (no ``nvidia-smi``) TensorFlow is not asked: probing CUDA
    there only logs errors.
    """
    try:
        import keras

        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices() if d.platform != "cpu"]
        if backend == "tensorflow":
            if not shutil.which("nvidia-smi"):
                return []
            import tensorflow as tf  # optional: only when TensorFlow is the backend

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # hardware probing must never break a run
        return []
    return []


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
