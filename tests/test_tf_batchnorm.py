"""Fused batch norm on TensorFlow: same arithmetic as Keras' layer, faster, and never saved."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip(
        "the fused batch norm is TensorFlow's; other backends keep Keras' layer (tests/test_jax_smoke.py covers JAX)",
        allow_module_level=True,
    )

import tensorflow as tf  # noqa: E402

from autodl.training import tf_batchnorm  # noqa: E402
from autodl.training.tf_batchnorm import fused_batch_norm  # noqa: E402


@pytest.fixture(autouse=True)
def _float32():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.fixture
def fused_calls(monkeypatch):
    """How often the fused op was put into a graph (once per layer per traced train step)."""
    calls = []
    real = tf.compat.v1.nn.fused_batch_norm

    def spy(*args, **kwargs):
        calls.append(kwargs.get("is_training"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tf.compat.v1.nn, "fused_batch_norm", spy)
    return calls


def _model(dense_bn: bool = False):
    keras.utils.set_random_seed(7)
    inputs = keras.Input((2, 2, 3))
    x = keras.layers.Conv2D(4, 1, name="conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.5, name="bn")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, name="dense")(x)
    if dense_bn:
        x = keras.layers.BatchNormalization(momentum=0.5, name="dense_bn")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(3.0, 2.0, (16, 2, 2, 3)).astype("float32"), rng.integers(0, 2, 16)


def _fit(model, fused: bool):
    x, y = _data()
    if fused:
        with fused_batch_norm(model) as n:
            model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
        return n
    model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    return 0


def test_fused_training_computes_what_keras_computes(fused_calls):
    """Batches of 2x2x2 values: the unbiased-vs-biased variance would differ by 1/8 here."""
    stock, fused = _model(), _model()
    _fit(stock, fused=False)
    assert fused_calls == []
    assert _fit(fused, fused=True) == 1
    assert fused_calls and all(fused_calls), "the train step ran the fused op"
    for name in ("bn", "conv", "dense", "out"):
        for a, b in zip(stock.get_layer(name).weights, fused.get_layer(name).weights):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{name}/{a.name}")
    x, _ = _data()
    np.testing.assert_allclose(fused.predict(x, verbose=0), stock.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_the_model_keeps_keras_layers_and_saves_as_plain_keras(tmp_path):
    model = _model()
    _fit(model, fused=True)
    bn = model.get_layer("bn")
    assert "call" not in vars(bn), "the override is gone after fit"
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("bn")) is keras.layers.BatchNormalization
    x, _ = _data()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_only_4d_channels_last_layers_fuse_and_the_switch_turns_it_off(fused_calls, monkeypatch):
    model = _model(dense_bn=True)
    assert _fit(model, fused=True) == 2  # both layers wrapped ...
    assert len(fused_calls) == 1, "... but the 2-D one after Dense keeps Keras' code"

    fused_calls.clear()
    monkeypatch.setenv("AUTODL_FUSED_BATCHNORM", "0")
    assert not tf_batchnorm.enabled()
    assert _fit(_model(), fused=True) == 0
    assert fused_calls == []


def test_mixed_bfloat16_trains_through_the_fused_op(fused_calls):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    stock, fused = _model(), _model()
    _fit(stock, fused=False)
    _fit(fused, fused=True)
    assert fused_calls
    assert fused.get_layer("bn").compute_dtype == "bfloat16"
    a, b = stock.get_layer("bn").moving_variance.numpy(), fused.get_layer("bn").moving_variance.numpy()
    np.testing.assert_allclose(b, a, rtol=0.05)  # bfloat16 has 8 bits of mantissa


def test_a_search_trains_batch_norm_models_fused(tmp_path, monkeypatch, fused_calls):
    import autodl

    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    space = tmp_path / "bn.yaml"
    space.write_text(
        "name: bn\nconv_blocks: {count: 1, layers: 1, filters: 8}\nnormalization: batch\n"
        "dense: {layers: 1, units: 16}\noptimizer: {adam: {learning_rate: 0.001}}\n"
        "training: {batch_size: 32, max_epochs: 1, patience: 0}\n",
        encoding="utf-8",
    )
    search = autodl.run_search(
        dataset="digits",
        subset=200,
        space=str(space),
        trials=1,
        out=str(tmp_path),
        name="bn",
        pruner="none",
        precision="float32",
    )
    assert search.records[0].state.value == "complete"
    assert fused_calls, "the search's fit went through the fused op"
    model = keras.saving.load_model(search.path / search.records[0].model_path)
    assert any(type(layer) is keras.layers.BatchNormalization for layer in model.layers)
