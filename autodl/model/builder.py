"""Architecture dict -> compiled ``keras.Model``, with Keras 3 APIs only (any backend).

Both backends reach models through ``build_model``, so a configuration builds the same
network whichever engine proposed it.
"""

from __future__ import annotations

from typing import Any

from autodl.exceptions import TrialFailed

# Keras' default batch-norm momentum (0.99) needs hundreds of steps before its moving
# statistics settle; searches train a few short epochs per trial, so use a faster one.
BATCHNORM_MOMENTUM = 0.9


def build_model(arch: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Build and compile the classifier an architecture describes."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _augment(inputs, arch.get("augmentation") or {})
    norm = arch.get("normalization", "none")
    for i, spec in enumerate(arch.get("stem", [])):
        x = _conv(x, spec, norm, f"stem{i}")
    for b, block in enumerate(arch.get("blocks", [])):
        shortcut = x
        for j, spec in enumerate(block["layers"]):
            x = _conv(x, spec, norm, f"block{b}_conv{j}")
        if block.get("residual") and block["layers"]:
            if shortcut.shape[-1] != x.shape[-1]:
                shortcut = layers.Conv2D(x.shape[-1], 1, padding="same", name=f"block{b}_proj")(shortcut)
            x = layers.Add(name=f"block{b}_add")([x, shortcut])
        pooling = block.get("pooling", "none")
        if pooling != "none" and min(x.shape[1], x.shape[2]) >= 2:
            pool = layers.MaxPooling2D if pooling == "max" else layers.AveragePooling2D
            x = pool(2, name=f"block{b}_pool")(x)
        if block.get("dropout", 0.0) > 0:
            x = layers.Dropout(block["dropout"], name=f"block{b}_dropout")(x)
    x = _to_vector(x, arch.get("global_pooling", "flatten"))
    for i, spec in enumerate(arch.get("dense", [])):
        x = layers.Dense(spec["units"], name=f"dense{i}")(x)
        x = _normalize(x, norm, f"dense{i}")
        x = layers.Activation(spec.get("activation", "relu"), name=f"dense{i}_act")(x)
        if spec.get("dropout", 0.0) > 0:
            x = layers.Dropout(spec["dropout"], name=f"dense{i}_dropout")(x)
    # float32 output keeps softmax and the loss stable under mixed precision.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="classifier")(x)
    model = keras.Model(inputs, outputs, name="autodl_model")
    model.compile(
        optimizer=make_optimizer(arch.get("optimizer", {"name": "adam"})),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def make_optimizer(spec: dict[str, Any]) -> Any:
    """A Keras optimizer from ``{"name": ..., "learning_rate": ..., ...}``."""
    from keras import optimizers

    spec = dict(spec)
    name = spec.pop("name")
    weight_decay = spec.pop("weight_decay", 0.0) or None
    classes = {"adam": optimizers.Adam, "adamw": optimizers.AdamW, "sgd": optimizers.SGD, "rmsprop": optimizers.RMSprop}
    if name not in classes:
        raise TrialFailed(f"unknown optimizer {name!r}; expected one of {', '.join(classes)}")
    if name == "adamw":
        return optimizers.AdamW(weight_decay=weight_decay or 0.004, **spec)
    return classes[name](weight_decay=weight_decay, **spec)


def count_params(model: Any) -> int:
    """Trainable plus non-trainable parameters, as ``model.summary()`` totals them."""
    return int(model.count_params())


def layer_table(model: Any) -> list[dict[str, Any]]:
    """One row per layer (name, type, output shape, parameters) for reports."""
    rows = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None and hasattr(shape, "shape") else None
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": str(shape).replace("None", "-") if shape else "",
                "params": int(layer.count_params()),
            }
        )
    return rows


def _augment(x: Any, spec: dict[str, Any]) -> Any:
    """Keras' random-transformation layers: active in ``fit`` only, identity when predicting.

    They compute in float32 whatever the precision policy (the images arrive in float32 and
    not every backend's image kernels take bfloat16); the first conv layer casts after them.
    """
    from keras import layers

    fill = spec.get("fill", "reflect")
    if spec.get("flip", "none") != "none":
        x = layers.RandomFlip(spec["flip"], dtype="float32", name="aug_flip")(x)
    if spec.get("rotation", 0.0) > 0:
        x = layers.RandomRotation(spec["rotation"], fill_mode=fill, dtype="float32", name="aug_rotation")(x)
    if spec.get("translation", 0.0) > 0:
        t = spec["translation"]
        x = layers.RandomTranslation(t, t, fill_mode=fill, dtype="float32", name="aug_translation")(x)
    if spec.get("zoom", 0.0) > 0:
        z = spec["zoom"]
        x = layers.RandomZoom(z, z, fill_mode=fill, dtype="float32", name="aug_zoom")(x)
    if spec.get("contrast", 0.0) > 0:
        # value_range: autodl feeds pixels scaled to [0, 1].
        x = layers.RandomContrast(spec["contrast"], value_range=(0, 1), dtype="float32", name="aug_contrast")(x)
    return x


def _conv(x: Any, spec: dict[str, Any], norm: str, name: str) -> Any:
    from keras import layers

    x = layers.Conv2D(spec["filters"], spec["kernel_size"], padding="same", name=name)(x)
    x = _normalize(x, norm, name)
    return layers.Activation(spec.get("activation", "relu"), name=f"{name}_act")(x)


def _normalize(x: Any, norm: str, name: str) -> Any:
    from keras import layers

    if norm == "batch":
        return layers.BatchNormalization(momentum=BATCHNORM_MOMENTUM, name=f"{name}_bn")(x)
    if norm == "layer":
        return layers.LayerNormalization(name=f"{name}_ln")(x)
    return x


def _to_vector(x: Any, how: str) -> Any:
    from keras import layers

    if len(x.shape) == 2:
        return x
    if how == "avg" and len(x.shape) == 4:
        return layers.GlobalAveragePooling2D(name="global_avg")(x)
    if how == "max" and len(x.shape) == 4:
        return layers.GlobalMaxPooling2D(name="global_max")(x)
    return layers.Flatten(name="flatten")(x)
