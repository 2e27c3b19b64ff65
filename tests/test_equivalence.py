"""One YAML space, two engines: the same values build the same network through Optuna and KT.

Values are drawn once with ``RandomSuggester``, then replayed through an Optuna
``FixedTrial`` and through a Keras Tuner ``HyperParameters`` whose space was discovered the
way a tuner discovers it (``declare_space``) and whose values were set the way an oracle
sets them (active values only).
"""

from __future__ import annotations

from typing import Any

import pytest

keras_tuner = pytest.importorskip("keras_tuner")
optuna = pytest.importorskip("optuna")

from autodl.backends.kerastuner import KerasTunerSuggester, declare_space  # noqa: E402
from autodl.backends.optuna import OptunaSuggester  # noqa: E402
from autodl.model import build_model, count_params, layer_table  # noqa: E402
from autodl.space import BaseSuggester, RandomSuggester, bundled_spaces, load_space  # noqa: E402

SPACES = sorted(bundled_spaces())
SEEDS = [0, 1, 2]
INPUTS = [((28, 28, 1), 10), ((8, 8, 1), 10)]


def kt_hyperparameters(space: Any, values: dict[str, Any]) -> Any:
    hp = keras_tuner.HyperParameters()
    declare_space(space, hp)
    hp.values = dict(values)
    return hp


def summary(model: Any) -> list[tuple[str, str, str, int]]:
    return [(row["name"], row["type"], row["output_shape"], row["params"]) for row in layer_table(model)]


def test_every_bundled_space_is_covered():
    assert {"cnn", "digit-recognition", "lenet", "mlp"} <= set(SPACES)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", SPACES)
def test_same_values_build_the_same_model_through_both_engines(name, seed):
    import keras

    space = load_space(name)
    drawn = RandomSuggester(seed)
    expected = space.sample(drawn)

    via_optuna = OptunaSuggester(optuna.trial.FixedTrial(drawn.params))
    via_kt = KerasTunerSuggester(kt_hyperparameters(space, drawn.params))
    arch_optuna, arch_kt = space.sample(via_optuna), space.sample(via_kt)

    assert arch_optuna == arch_kt == expected
    assert via_optuna.params == via_kt.params == drawn.params
    for input_shape, num_classes in INPUTS:
        keras.backend.clear_session()
        a = build_model(arch_optuna, input_shape, num_classes)
        b = build_model(arch_kt, input_shape, num_classes)
        assert summary(a) == summary(b)
        assert count_params(a) == count_params(b) > 0
        assert a.output_shape == b.output_shape == (None, num_classes)


class _Declared(BaseSuggester):
    """Records what the space declares for each name, answering like ``WidestSuggester``."""

    def __init__(self, index: int, declared: dict[str, tuple]) -> None:
        super().__init__()
        self.index, self.declared = index, declared

    def suggest_int(self, name, low, high, *, step=1, log=False):
        self.declared[name] = ("int", low, high, None if log else step, log)
        return low + (step or 1) * ((high - low) // (step or 1))

    def suggest_float(self, name, low, high, *, step=None, log=False):
        self.declared[name] = ("float", low, high, step, log)
        return low

    def suggest_choice(self, name, values):
        self.declared[name] = ("choice", list(values))
        return values[self.index % len(values)]

    def suggest_bool(self, name):
        self.declared[name] = ("bool",)
        return bool(self.index % 2)


def declared_params(space: Any) -> dict[str, tuple]:
    declared: dict[str, tuple] = {}
    for index in range(6):  # more than the widest choice of any bundled space
        space.sample(_Declared(index, declared))
    return declared


def kt_view(hp: Any) -> tuple:
    """A KT hyperparameter in the same shape as ``_Declared`` records."""
    kind = type(hp).__name__
    if kind in ("Int", "Float"):
        return (kind.lower(), hp.min_value, hp.max_value, hp.step, hp.sampling == "log")
    if kind == "Choice":
        return ("choice", list(hp.values))
    return ("bool",)


@pytest.mark.parametrize("name", SPACES)
def test_kt_registry_has_the_declared_bounds_steps_and_scaling(name):
    space = load_space(name)
    hp = keras_tuner.HyperParameters()
    declare_space(space, hp)
    registry = {p.name: p for p in hp.space}

    assert len(registry) == len(hp.space), "each parameter is registered once"
    assert set(registry) == set(space.param_names())
    declared = declared_params(space)
    assert {n: kt_view(p) for n, p in registry.items()} == {n: declared[n] for n in registry}


def test_kt_registry_spot_checks_on_the_cnn_space():
    hp = keras_tuner.HyperParameters()
    declare_space(load_space("cnn"), hp)
    registry = {p.name: p for p in hp.space}

    filters = registry["conv_blocks.filters"]  # {type: int, min: 16, max: 64, log: true}
    assert (filters.min_value, filters.max_value, filters.step, filters.sampling) == (16, 64, None, "log")
    dropout = registry["conv_blocks.dropout"]  # {type: float, min: 0.0, max: 0.4, step: 0.05}
    assert (dropout.min_value, dropout.max_value, dropout.step, dropout.sampling) == (0.0, 0.4, 0.05, "linear")
    units = registry["dense.1.units"]  # per-layer dense units, only when dense.layers is 2
    assert (units.min_value, units.max_value, units.step) == (64, 256, 64)
    assert [(c.name, c.values) for c in units.conditions] == [("dense.layers", [2])]
    lr = registry["optimizer.sgd.learning_rate"]
    assert (lr.min_value, lr.max_value, lr.sampling) == (1e-3, 1e-1, "log")
    assert [(c.name, c.values) for c in registry["optimizer.sgd.momentum"].conditions] == [("optimizer.name", ["sgd"])]
    assert registry["optimizer.name"].values == ["adam", "adamw", "sgd", "rmsprop"]
    assert type(registry["conv_blocks.residual"]).__name__ == "Boolean"


def test_nested_conditions_on_int_parents():
    hp = keras_tuner.HyperParameters()
    declare_space(load_space("digit-recognition"), hp)
    registry = {p.name: p for p in hp.space}

    conditions = [(c.name, c.values) for c in registry["conv_blocks.1.1.filters"].conditions]
    assert conditions == [("conv_blocks.count", [2]), ("conv_blocks.1.layers", [2])]
    assert registry["conv_blocks.0.0.filters"].conditions == []
