"""TensorFlow only: drop the gradient registrations that a fit leaves behind.

Keras 3's TensorFlow optimizer sums gradients through ``tf.distribute``'s ``all_reduce``,
which registers a ``CustomGradient-N`` function in TensorFlow's process-wide gradient
registry each time a train step is traced. Nothing ever removes those entries, and each one
holds its traced graph (hundreds of operations), so ``keras.backend.clear_session()`` frees
the model but not its graphs: a search leaked 5-20 MiB per trial (benchmarks/memory.py).
Once ``fit`` returns, its train step is traced and its gradients built, so the entries it
added are dead weight. Other backends register nothing; there this is a no-op.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

_PREFIX = "CustomGradient-"


def _registry() -> dict[str, Any] | None:
    tf_ops = sys.modules.get("tensorflow.python.framework.ops")
    registry = getattr(getattr(tf_ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def released_gradient_registrations() -> Iterator[None]:
    """Remove the custom-gradient entries registered inside the block, and only those.

    Entries that existed before (the user's own ``tf.custom_gradient`` functions, another
    library's) are left alone. Without TensorFlow imported, or if its internals change
    shape, nothing happens.
    """
    before = _registry()
    known = set(before) if before is not None else None
    try:
        yield
    finally:
        registry = _registry()
        if registry is not None:
            for name in [n for n in registry if n.startswith(_PREFIX) and (known is None or n not in known)]:
                registry.pop(name, None)
