"""Batch shapes of a fit: few distinct shapes, so JAX compiles each step as few times as possible."""

from __future__ import annotations

import math

import pytest

from autodl.training.trainer import MAX_DROPPED_SHARE, even_batch_size, train_size


@pytest.mark.parametrize("n, batch", [(54000, 32), (54000, 64), (54000, 128), (2700, 128)])
def test_jax_drops_a_small_partial_batch(n, batch):
    kept = train_size(n, batch, "jax")
    assert kept % batch == 0 and n - kept < batch and n - kept <= MAX_DROPPED_SHARE * n


@pytest.mark.parametrize("n, batch", [(1437, 128), (100, 128), (54000, 100)])
def test_jax_keeps_everything_when_the_remainder_is_large_or_zero(n, batch):
    assert train_size(n, batch, "jax") == n


def test_other_backends_train_on_everything():
    assert train_size(54000, 128, "tensorflow") == 54000
    assert train_size(54000, 128, "torch") == 54000


@pytest.mark.parametrize("n, expected", [(6000, 1000), (5000, 1000), (144, 144), (1024, 1024), (1200, 600)])
def test_even_evaluation_batches(n, expected):
    size = even_batch_size(n)
    assert size == expected and size <= 1024
    assert math.ceil(n / size) == math.ceil(n / 1024)  # never more batches than with 1024


# ---------------------------------------------------------------- memory between trials
def _custom_gradients() -> set[str]:
    from tensorflow.python.framework import ops

    return {name for name in ops._gradient_registry._registry if name.startswith("CustomGradient-")}


def _small_model():
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_leaves_no_traced_graph_in_tensorflows_gradient_registry():
    """Keras' TF optimizer registers a custom gradient per trace; kept, it pins every trial's graphs."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the registry exists only under the TensorFlow backend (tests run it by default)")
    from autodl.data import load_splits
    from autodl.training import fit_model
    from autodl.training.tf_graphs import released_gradient_registrations

    splits = load_splits("digits", subset=200)
    import tensorflow as tf

    @tf.custom_gradient
    def users_own(x):  # registered before the fit: must survive it
        return tf.identity(x), lambda dy: dy

    tf.function(users_own).get_concrete_function(tf.TensorSpec([2]))
    before = _custom_gradients()
    assert before, "tracing a tf.custom_gradient function registers an entry"

    plain = _small_model()
    plain.fit(splits.x_train, splits.y_train, epochs=1, verbose=0)
    assert _custom_gradients() - before, "a plain fit leaves registrations (the leak being fixed)"

    leaked = _custom_gradients()
    fit_model(_small_model(), splits, batch_size=64, max_epochs=2, patience=0)
    assert _custom_gradients() == leaked  # nothing new, nothing of anyone else's removed

    with pytest.raises(RuntimeError):  # an exception inside the block still cleans up
        with released_gradient_registrations():
            _small_model().fit(splits.x_train, splits.y_train, epochs=1, verbose=0)
            raise RuntimeError("a trial that failed mid-fit")
    assert _custom_gradients() == leaked
