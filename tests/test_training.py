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

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
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


# ---------------------------------------------------------------- learning-rate schedules
SCHEDULE_CHILD = """
import json
import keras
import numpy as np
from autodl.training.trainer import make_schedule_callbacks

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).random((32, 4)).astype("float32")
y = np.arange(32) % 2
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
weights = []

class Keep(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        weights.append(self.model.get_weights()[0].tolist())

# A cosine over 3 epochs, fitted for 4: the 4th epoch's rate is 0.
schedule = make_schedule_callbacks("cosine", model, 3, 0, "loss", "min")
history = model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[*schedule, Keep()])
print(json.dumps({"backend": keras.backend.backend(), "lr": history.history["learning_rate"], "weights": weights}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_cosine_schedule_sets_the_rate_each_epoch_trains_with(backend, tmp_path):
    """The rate is changed between epochs, where every backend reads it: under JAX a fit holds
    its optimizer state in the compiled step, and a change at the wrong moment is lost."""
    import importlib.util
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    if backend == "jax" and os.environ.get("AUTODL_SKIP_JAX") == "1":
        pytest.skip("AUTODL_SKIP_JAX=1: the JAX checks were skipped on purpose")
    if importlib.util.find_spec(backend) is None:
        pytest.fail(f'{backend} is not installed: `pip install -e ".[test,jax]"`')
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCHEDULE_CHILD],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["lr"] == pytest.approx([0.5, 0.375, 0.125, 0.0], abs=1e-7)
    w = [np.array(v) for v in result["weights"]]
    assert not np.allclose(w[1], w[0]) and not np.allclose(w[2], w[1])  # rates > 0 train
    np.testing.assert_array_equal(w[3], w[2])  # the epoch at rate 0 changed nothing


def _splits(n: int = 64):
    import types

    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, n)
    return types.SimpleNamespace(x_train=x, y_train=y, x_val=x[:32], y_val=y[:32])


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")  # frozen on purpose
def test_the_plateau_schedule_cuts_the_rate_before_early_stopping_gives_up():
    from autodl.training import fit_model
    from autodl.training.trainer import PLATEAU_FACTOR

    model = _small_model()
    model.trainable = False  # nothing improves: the objective is flat from the first epoch
    model.compile(model.optimizer, model.loss, metrics=["accuracy"])
    base = float(model.optimizer.learning_rate.numpy())
    fit = fit_model(model, _splits(), batch_size=32, max_epochs=10, patience=4, lr_schedule="plateau")
    # Patience 4: the rate is cut after 2 flat epochs (epochs 2-3), early stopping after 4 (2-5).
    assert fit.epochs == 5
    assert fit.history["learning_rate"] == pytest.approx([base] * 3 + [base * PLATEAU_FACTOR] * 2)


def test_a_final_training_anneals_its_rate_over_its_epochs():
    """A final training keeps its last epoch, so its rate decays on a cosine to near 0 even
    for a trial searched at a constant rate; it trains on train + validation together."""
    from autodl.training import refit_model

    model = _small_model()
    base = float(model.optimizer.learning_rate.numpy())
    splits = _splits()
    before = int(model.optimizer.iterations.numpy())
    refit_model(model, splits, batch_size=32, epochs=4)
    # The last epoch (the 4th) trains at (1 + cos(3 pi / 4)) / 2 of the rate.
    last = base * 0.5 * (1 + math.cos(math.pi * 3 / 4))
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(last, rel=1e-5) and last < 0.2 * base
    steps = math.ceil((len(splits.y_train) + len(splits.y_val)) / 32)
    assert int(model.optimizer.iterations.numpy()) - before == 4 * steps, "train + validation, every epoch"


def test_a_constant_rate_logs_no_learning_rate_and_trains_as_before():
    from autodl.training import fit_model

    fit = fit_model(_small_model(), _splits(), batch_size=32, max_epochs=2, patience=0)
    assert "learning_rate" not in fit.history and fit.epochs == 2


@pytest.mark.parametrize(
    "error, where",
    [
        (MemoryError(), "host"),
        (
            type("ResourceExhaustedError", (Exception,), {})(
                "OOM when allocating tensor with shape[4096,4096] on /job:localhost/device:GPU:0"
            ),
            "GPU",
        ),
        (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB."), "host"),
    ],
)
def test_a_trial_out_of_memory_fails_with_the_reason(monkeypatch, error, where):
    """Recorded as a failed trial (TrialFailed), and the search goes on."""
    from autodl.exceptions import TrialFailed
    from autodl.training import fit_model

    model = _small_model()

    def fit(*args, **kwargs):
        raise error

    monkeypatch.setattr(model, "fit", fit)
    with pytest.raises(TrialFailed, match=f"out of {where} memory while training \\(batch size 32\\)"):
        fit_model(model, _splits(), batch_size=32, max_epochs=1, patience=0)
    monkeypatch.setattr(model, "fit", lambda *a, **k: (_ for _ in ()).throw(ValueError("shapes differ")))
    with pytest.raises(ValueError, match="shapes differ"):  # other errors are left as they are
        fit_model(model, _splits(), batch_size=32, max_epochs=1, patience=0)
