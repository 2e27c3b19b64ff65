"""What a model costs to run: floating-point operations per image, from its layers' shapes.

The search's planner turns this into seconds per epoch with the throughput it measured on
earlier trials: parameters alone miss the cost of convolutions at full resolution (a 5x5
conv with 64 filters on 28x28 images has few parameters and is the slowest layer).
"""

from __future__ import annotations

import math
from typing import Any


def forward_flops(model: Any) -> int:
    """Multiply-adds x 2 of one image's forward pass through conv and dense layers.

    Other layers (normalization, pooling, activations) cost little next to these and are
    left out; the estimate only has to rank models and scale with the measured throughput.
    """
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.Dense)):
            kernel = layer.kernel.shape  # (kh, kw, c_in, c_out) or (in, out)
            out = layer.output.shape  # (batch, h, w, c_out) or (batch, out)
            positions = math.prod(int(d) for d in out[1:-1]) if len(out) > 2 else 1
            total += 2 * positions * math.prod(int(d) for d in kernel)
    return int(total)
