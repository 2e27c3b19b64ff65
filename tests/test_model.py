"""The model builder: the network built is the architecture sampled, for every bundled space."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from autodl.model import build_model, layer_table, make_optimizer
from autodl.model.builder import BATCHNORM_MOMENTUM
from autodl.space import RandomSuggester, WidestSuggester, load_space, parse_space

BUNDLED = ["cnn", "cnn-augmented", "digit-recognition", "lenet", "mlp"]


def layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def check_matches(model, arch, num_classes):
    convs = layers_of(model, keras.layers.Conv2D)
    projections = [c for c in convs if c.name.endswith("_proj")]
    expected = [l["filters"] for l in arch["stem"]] + [l["filters"] for b in arch["blocks"] for l in b["layers"]]
    assert [c.filters for c in convs if c not in projections] == expected
    kernels = [l["kernel_size"] for l in arch["stem"]] + [l["kernel_size"] for b in arch["blocks"] for l in b["layers"]]
    assert [c.kernel_size[0] for c in convs if c not in projections] == kernels
    assert len(layers_of(model, keras.layers.Add)) == sum(1 for b in arch["blocks"] if b["residual"] and b["layers"])
    dense = layers_of(model, keras.layers.Dense)
    assert [d.units for d in dense] == [d["units"] for d in arch["dense"]] + [num_classes]
    dropouts = sorted(round(d.rate, 6) for d in layers_of(model, keras.layers.Dropout))
    expected_drop = [b["dropout"] for b in arch["blocks"]] + [d["dropout"] for d in arch["dense"]]
    assert dropouts == sorted(round(r, 6) for r in expected_drop if r > 0)
    n_norm = len(convs) - len(projections) + len(arch["dense"])
    bn, ln = layers_of(model, keras.layers.BatchNormalization), layers_of(model, keras.layers.LayerNormalization)
    assert (len(bn), len(ln)) == {"batch": (n_norm, 0), "layer": (0, n_norm), "none": (0, 0)}[arch["normalization"]]
    assert all(layer.momentum == BATCHNORM_MOMENTUM for layer in bn)
    opt = model.optimizer
    assert type(opt).__name__.lower() == arch["optimizer"]["name"]
    assert float(opt.learning_rate.numpy()) == pytest.approx(arch["optimizer"]["learning_rate"], rel=1e-5)
    assert model.output_shape == (None, num_classes)
    assert model.count_params() > 0
    aug = arch.get("augmentation") or {}
    expected_aug = [
        name
        for name, active in (
            ("aug_flip", aug.get("flip", "none") != "none"),
            ("aug_rotation", aug.get("rotation", 0) > 0),
            ("aug_translation", aug.get("translation", 0) > 0),
            ("aug_zoom", aug.get("zoom", 0) > 0),
            ("aug_contrast", aug.get("contrast", 0) > 0),
        )
        if active
    ]
    assert [layer.name for layer in model.layers if layer.name.startswith("aug_")] == expected_aug


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("input_shape", [(28, 28, 1), (32, 32, 3), (8, 8, 1)])
def test_builder_matches_architecture_for_every_bundled_space(name, input_shape):
    space = load_space(name)
    archs = [space.sample(RandomSuggester(seed)) for seed in range(3)] + [space.sample(WidestSuggester(1))]
    for arch in archs:
        model = build_model(arch, input_shape, 10)
        check_matches(model, arch, 10)
        out = model.predict(np.zeros((2, *input_shape), dtype="float32"), verbose=0)
        assert out.shape == (2, 10)
        keras.backend.clear_session()


def test_pooling_skipped_when_feature_map_is_too_small():
    space = parse_space("conv_blocks: {count: 4, pooling: max}\n")
    model = build_model(space.sample(RandomSuggester(0)), (8, 8, 1), 3)
    assert len(layers_of(model, keras.layers.MaxPooling2D)) == 3  # 8 -> 4 -> 2 -> 1, then no more
    assert model.output_shape == (None, 3)


def test_residual_projection_only_when_channels_change():
    space = parse_space("conv_blocks: {count: 2, filters: 8, filters_growth: 2.0, residual: true}\n")
    model = build_model(space.sample(RandomSuggester(0)), (16, 16, 1), 4)
    assert [layer.name for layer in model.layers if layer.name.endswith("_proj")] == ["block0_proj", "block1_proj"]
    same = parse_space("stem: [{filters: 8}]\nconv_blocks: {count: 1, filters: 8, residual: true}\n")
    model = build_model(same.sample(RandomSuggester(0)), (16, 16, 1), 4)
    assert not [layer for layer in model.layers if layer.name.endswith("_proj")]


@pytest.mark.parametrize(
    "spec, cls, checks",
    [
        (
            {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
            "SGD",
            {"momentum": 0.9, "nesterov": True},
        ),
        ({"name": "adamw", "learning_rate": 1e-3, "weight_decay": 0.01}, "AdamW", {"weight_decay": 0.01}),
        ({"name": "rmsprop", "learning_rate": 1e-3, "rho": 0.8}, "RMSprop", {"rho": 0.8}),
        ({"name": "adam", "learning_rate": 1e-3, "weight_decay": 0.0}, "Adam", {"weight_decay": None}),
    ],
)
def test_optimizers(spec, cls, checks):
    opt = make_optimizer(spec)
    assert type(opt).__name__ == cls
    for key, value in checks.items():
        assert getattr(opt, key) == (pytest.approx(value) if isinstance(value, float) else value)


def test_layer_table_lists_every_layer_with_params():
    model = build_model(load_space("lenet").sample(RandomSuggester(0)), (28, 28, 1), 10)
    rows = layer_table(model)
    assert [r["name"] for r in rows] == [layer.name for layer in model.layers]
    assert sum(r["params"] for r in rows) == model.count_params()
    assert rows[-1]["type"] == "Dense" and rows[-1]["output_shape"] == "(-, 10)"


AUGMENTED = """
augmentation: {flip: horizontal, rotation: 0.1, translation: 0.1, zoom: 0.2, contrast: 0.3, fill: constant}
conv_blocks: {count: 1, filters: 8}
dense: {layers: 1, units: 16}
"""


def test_augmentation_transforms_training_images_only():
    """The layers draw new transformations in training; predicting sees the image as it is."""
    arch = parse_space(AUGMENTED).sample(RandomSuggester(0))
    assert arch["augmentation"]["fill"] == "constant"
    plain_arch = {k: v for k, v in arch.items() if k != "augmentation"}
    model, plain = build_model(arch, (12, 12, 1), 4), build_model(plain_arch, (12, 12, 1), 4)
    check_matches(model, arch, 4)
    zoom = model.get_layer("aug_zoom")
    assert (zoom.fill_mode, zoom.height_lower, zoom.height_upper, zoom.width_lower, zoom.width_upper) == (
        "constant",
        -0.2,
        0.2,
        -0.2,
        0.2,
    )
    assert model.get_layer("aug_contrast").value_range == (0, 1)  # autodl's pixels are in [0, 1]
    for layer in plain.layers:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    x = np.random.default_rng(0).random((6, 12, 12, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    last = model.get_layer("aug_contrast").output
    front = keras.Model(model.input, last)
    np.testing.assert_array_equal(np.asarray(front(x, training=False)), x)
    trained = np.asarray(front(x, training=True))
    assert trained.shape == x.shape and np.abs(trained - x).max() > 0.05
    assert not np.allclose(trained, np.asarray(front(x, training=True)))  # a new draw per call


def test_augmented_model_trains_saves_and_loads_under_mixed_precision(tmp_path):
    """The layers compute in float32 under a bfloat16 policy, and a saved model loads with them."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model(parse_space(AUGMENTED).sample(RandomSuggester(1)), (12, 12, 3), 3)
        assert all(layer.compute_dtype == "float32" for layer in model.layers if layer.name.startswith("aug_"))
        assert model.get_layer("block0_conv0").compute_dtype == "bfloat16"
        rng = np.random.default_rng(1)
        x, y = rng.random((32, 12, 12, 3)).astype("float32"), rng.integers(0, 3, 32)
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        model.save(tmp_path / "m.keras")
        loaded = keras.models.load_model(tmp_path / "m.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert [layer.name for layer in loaded.layers if layer.name.startswith("aug_")] == [
        "aug_flip",
        "aug_rotation",
        "aug_translation",
        "aug_zoom",
        "aug_contrast",
    ]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-2, atol=1e-3)
