"""Pick a Keras dtype policy: bfloat16 where the CPU has native support, float16 on GPUs."""

from __future__ import annotations

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


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


def auto_policy() -> str:
    """mixed_float16 with a GPU, mixed_bfloat16 on bf16-capable CPUs, else float32."""
    from autodl.environment import accelerators

    if accelerators():
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"
