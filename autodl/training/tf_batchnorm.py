"""TensorFlow only: train batch-norm layers with TensorFlow's fused kernel.

Keras 3's ``BatchNormalization`` computes its moments and normalises with separate float32
ops (it casts bfloat16 inputs up first). On CPU under ``mixed_bfloat16`` that made a batch-norm
CNN ~2x slower per epoch than the same CNN without it; TensorFlow's ``FusedBatchNormV3``
(oneDNN on CPU, cuDNN on GPU) does the same arithmetic in one pass on bfloat16 inputs
(benchmarks/batchnorm.py). During ``fit`` only, each 4-D channels-last batch-norm layer's
training step goes through the fused op; the layers keep their class, weights and config, so
a saved model is a plain Keras model that loads anywhere. Inference, other backends, and the
cases the fused op does not cover (masks, renorm, synchronized, other axes) keep Keras' code.
``AUTODL_FUSED_BATCHNORM=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

_MIN_EPSILON = 1.001e-5  # the fused op raises smaller epsilons to this; keep Keras' path there


def enabled() -> bool:
    """Fuse only on TensorFlow, and only when not turned off."""
    import keras

    return keras.backend.backend() == "tensorflow" and os.environ.get("AUTODL_FUSED_BATCHNORM", "1") != "0"


@contextlib.contextmanager
def fused_batch_norm(model: Any) -> Iterator[int]:
    """Within the block, train ``model``'s batch-norm layers with the fused op; yields how many.

    The override is an instance attribute removed on exit, so nothing of it is saved.
    """
    layers = _batch_norm_layers(model) if enabled() else []
    for layer in layers:
        object.__setattr__(layer, "call", _fused_call(layer, layer.call))
    try:
        yield len(layers)
    finally:
        for layer in layers:
            with contextlib.suppress(AttributeError):
                object.__delattr__(layer, "call")


def _batch_norm_layers(model: Any) -> list[Any]:
    import keras

    found, stack = [], list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if type(layer) is keras.layers.BatchNormalization:  # a subclass may change call()
            found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found


def _fused_call(layer: Any, keras_call: Callable[..., Any]) -> Callable[..., Any]:
    def call(inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if not (training and layer.trainable) or not _fusable(layer, inputs, mask):
            return keras_call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = tf.cast(layer.gamma, "float32") if layer.scale else tf.ones((channels,), "float32")
        beta = tf.cast(layer.beta, "float32") if layer.center else tf.zeros((channels,), "float32")
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=layer.epsilon, data_format="NHWC", is_training=True
        )[:3]
        # The op returns the unbiased batch variance; Keras' moving variance averages the biased one.
        n = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), "float32")
        variance = variance * tf.maximum(n - 1.0, 0.0) / tf.maximum(n, 1.0)
        momentum = layer.momentum
        layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
        layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(outputs, layer.compute_dtype)

    return call


def _fusable(layer: Any, inputs: Any, mask: Any) -> bool:
    import keras

    rank = len(inputs.shape)
    return (
        mask is None
        and rank == 4
        and layer.axis in (-1, rank - 1)
        and not layer.renorm
        and not getattr(layer, "synchronized", False)
        and layer.epsilon >= _MIN_EPSILON
        and keras.backend.standardize_dtype(inputs.dtype) in ("float32", "bfloat16", "float16")
    )
