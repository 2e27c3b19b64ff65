"""The serving model: raw uint8 images in, the run's preprocessing inside, class probabilities out.

``autodl predict`` prepares an image file before the model sees it (resize to the input
size, gray or RGB as the data was, pixels from 0..255 to [0, 1]); a model shipped on its own
must do that itself, or every deployment rebuilds it and gets it subtly wrong. The wrapper
takes ``uint8`` images of any height and width with the training data's channel count,
resizes them (bilinear) to the trained size, scales them, and runs the model, or several
models whose probabilities it averages (an ensemble).
"""

from __future__ import annotations

from typing import Any

__all__ = ["float32_model", "serving_model"]


def serving_model(models: list[Any], weights: list[float] | None = None) -> Any:
    """One ``keras.Model`` over ``models`` (same input shape): uint8 images of any size in,
    the class probabilities (an ensemble's weighted by ``weights``, else averaged) out, all in float32."""
    import keras
    from keras import layers

    height, width, channels = tuple(models[0].input_shape[1:])
    members = [float32_model(model, f"member{i}") for i, model in enumerate(models)]
    inputs = keras.Input(shape=(None, None, channels), dtype="uint8", name="image")
    x = layers.Rescaling(1.0 / 255.0, dtype="float32", name="scale_to_unit")(inputs)
    # Resizing follows the scaling so that it works on floats whatever the export format.
    x = layers.Resizing(height, width, interpolation="bilinear", dtype="float32", name="resize")(x)
    # training=False, recorded in the graph: Resizing defaults to training=True, which a caller
    # that gives no training argument (model.export's endpoints) would pass down to Dropout.
    outputs = [member(x, training=False) for member in members]
    if len(outputs) == 1:
        output = outputs[0]
    elif weights is None:
        output = layers.Average(dtype="float32", name="average")(outputs)
    else:  # greedy selection's weights: a weighted sum of the members' probabilities
        scaled = [
            layers.Rescaling(float(w), dtype="float32", name=f"weight{i}")(out)
            for i, (w, out) in enumerate(zip(weights, outputs))
        ]
        output = layers.Add(dtype="float32", name="weighted_sum")(scaled)
    return keras.Model(inputs, layers.Identity(dtype="float32", name="probabilities")(output), name="autodl_serving")


def float32_model(model: Any, name: str) -> Any:
    """``model`` computing in float32: a model trained under mixed precision keeps its bfloat16
    or float16 layers when loaded, which some runtimes (LiteRT, ONNX Runtime on CPU) lack."""
    config = _float32_config(model.get_config())
    config["name"] = name
    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def _float32_config(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and isinstance(value.get("config"), dict):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {key: _float32_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    if isinstance(value, str) and value.startswith("mixed_"):
        return "float32"
    return value
