"""Pick a Keras dtype policy for ``--precision auto`` from the hardware and the backend.

``auto`` chooses, in order:

- accelerators that compute in bfloat16 natively (NVIDIA compute capability 8.0 and up:
  A100, L4, H100; TPUs): ``mixed_bfloat16``, which needs no loss scaling;
- other GPUs (V100, T4): ``mixed_float16`` (Keras wraps the optimizer in loss scaling);
- CPUs with AMX or AVX512-BF16 under the TensorFlow backend, whose oneDNN kernels use those
  instructions: ``mixed_bfloat16`` (``benchmarks/precision.py`` measures the gain);
- anything else: ``float32``, including JAX on CPUs, where XLA's bfloat16 trained slower
  than float32 (0.85x on this project's AVX512-BF16 CPUs, JAX 0.10).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
BF16_COMPUTE_CAPABILITY = (8, 0)


def cpu_has_bf16() -> bool:
    """True when the CPU advertises AMX or AVX512-BF16 (Linux /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def accelerator_kinds() -> list[tuple[str, tuple[int, int] | None]]:
    """(platform, compute capability) of each accelerator the Keras backend sees.

    The capability is ``None`` where the backend does not say (or for TPUs). Machines where
    ``environment.accelerators`` finds nothing are not probed further.
    """
    from autodl.environment import accelerators

    if not accelerators():
        return []
    try:
        import keras

        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            return [
                (d.platform, _capability(getattr(d, "compute_capability", None)))
                for d in jax.devices()
                if d.platform != "cpu"
            ]
        if backend == "tensorflow":
            import tensorflow as tf  # only when TensorFlow is the backend

            return [
                ("gpu", _capability(tf.config.experimental.get_device_details(d).get("compute_capability")))
                for d in tf.config.list_physical_devices("GPU")
            ]
        if backend == "torch":
            import torch

            return [
                ("gpu", tuple(torch.cuda.get_device_capability(i)))  # type: ignore[misc]
                for i in range(torch.cuda.device_count())
            ]
    except Exception:  # hardware probing must never break a run
        logger.debug("could not list accelerators", exc_info=True)
    return []


def explain_auto() -> tuple[str, str]:
    """The policy ``auto`` picks here, and why (one line, for logs and benchmarks)."""
    import keras

    kinds = accelerator_kinds()
    if kinds:
        if all(p == "tpu" or (c is not None and c >= BF16_COMPUTE_CAPABILITY) for p, c in kinds):
            return "mixed_bfloat16", f"accelerators with native bfloat16: {_describe(kinds)}"
        return "mixed_float16", f"accelerators without (known) bfloat16 support: {_describe(kinds)}"
    backend = keras.backend.backend()
    if not cpu_has_bf16():
        return "float32", "CPU only, without AMX or AVX512-BF16"
    if backend != "tensorflow":
        return "float32", f"CPU with bfloat16 instructions, but the {backend} backend gains nothing from them"
    return "mixed_bfloat16", "CPU with AMX or AVX512-BF16 and TensorFlow's oneDNN kernels"


def auto_policy() -> str:
    """The dtype policy ``--precision auto`` resolves to on this machine and backend."""
    policy, reason = explain_auto()
    logger.info("precision auto: %s (%s)", policy, reason)
    return policy


def resolve_policy(precision: str) -> str:
    """A ``--precision`` value as a Keras policy name (``auto`` resolved)."""
    return auto_policy() if precision == "auto" else precision


def _capability(value: Any) -> tuple[int, int] | None:
    """'9.0', (9, 0) or None -> (9, 0) or None."""
    if value is None:
        return None
    try:
        parts = str(value).replace("(", "").replace(")", "").replace(",", ".").split(".")
        numbers = [int(p) for p in parts if p.strip()]
        return (numbers[0], numbers[1] if len(numbers) > 1 else 0)
    except (ValueError, IndexError):
        return None


def _describe(kinds: list[tuple[str, tuple[int, int] | None]]) -> str:
    return ", ".join(p + (f" {c[0]}.{c[1]}" if c else "") for p, c in kinds)
