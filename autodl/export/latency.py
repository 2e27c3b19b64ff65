"""Latency of an exported artifact on this machine, at batch 1 and batch 256."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["describe", "measure_latency"]


def measure_latency(
    run: Callable[[np.ndarray], np.ndarray],
    input_shape: tuple[int, ...],
    *,
    batches: tuple[int, ...] = (1, 256),
    seconds: float = 1.0,
) -> dict[str, dict[str, float]]:
    """Median milliseconds per batch and images per second, per batch size.

    Each size is run once to warm up, then repeatedly for about ``seconds`` (at least 3
    times); random uint8 images of ``input_shape`` (height, width, channels).
    """
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {}
    for size in batches:
        x = rng.integers(0, 256, (size, *input_shape), dtype=np.uint8)
        run(x)
        times: list[float] = []
        deadline = time.perf_counter() + seconds
        while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 200):
            start = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        out[str(size)] = {
            "ms": round(median * 1000, 3),
            "images_per_second": round(size / median, 1),
            "repeats": len(times),
        }
    return out


def describe(latency: dict[str, Any]) -> str:
    """``batch 1: 0.4 ms · batch 256: 12 ms (21,000 images/s)``."""
    return " · ".join(
        f"batch {size}: {v['ms']:.3g} ms ({v['images_per_second']:,.0f} images/s)" for size, v in latency.items()
    )
