"""Search-space parsing, validation errors, sampling and the bundled spaces."""

from __future__ import annotations

import textwrap

import pytest

from autodl.exceptions import SpaceError
from autodl.space import (
    ChoiceParam,
    FixedSuggester,
    FloatParam,
    IntParam,
    RandomSuggester,
    WidestSuggester,
    bundled_spaces,
    load_space,
    parse_space,
    space_from_dict,
)
from autodl.space.params import BaseParam, ParamError

BUNDLED = ["cnn", "cnn-augmented", "digit-recognition", "lenet", "mlp"]


def parse(text: str):
    return parse_space(textwrap.dedent(text), source="my.yaml")


def error_of(text: str) -> str:
    with pytest.raises(SpaceError) as info:
        parse(text)
    return str(info.value)


# ---------------------------------------------------------------------------- params
@pytest.mark.parametrize(
    "raw, cls",
    [
        ({"type": "int", "min": 1, "max": 4}, IntParam),
        ({"type": "float", "min": 0.0, "max": 0.5, "step": 0.1}, FloatParam),
        ({"type": "choice", "values": ["a", "b"]}, ChoiceParam),
        ([3, 5], ChoiceParam),
    ],
)
def test_params_round_trip(raw, cls):
    param = BaseParam.from_dict(raw)
    assert isinstance(param, cls)
    assert BaseParam.from_dict(param.to_dict()) == param


@pytest.mark.parametrize(
    "raw, key, words",
    [
        ({"type": "int", "min": 5, "max": 1}, "max", "greater than max"),
        ({"type": "float", "min": 0.0, "max": 1.0, "log": True}, "min", "log scaling needs min > 0"),
        ({"type": "float", "min": 0.1, "max": 1.0, "log": True, "step": 0.1}, "log", "cannot be combined"),
        ({"type": "int", "min": 1.5, "max": 3}, "min", "integer"),
        ({"type": "choice", "values": []}, "values", "non-empty"),
        ({"type": "choice", "values": [1, 1]}, "values", "repeat"),
        ({"type": "range", "min": 1, "max": 2}, "type", "unknown parameter type"),
        ({"type": "int", "min": 1, "max": 2, "stepp": 1}, "stepp", "unknown key"),
        ({"min": 1, "max": 2}, "type", "needs a 'type'"),
    ],
)
def test_param_errors_name_the_field(raw, key, words):
    with pytest.raises(ParamError) as info:
        BaseParam.from_dict(raw)
    assert info.value.key == key
    assert words in str(info.value)


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "text, path, words",
    [
        (
            """
     conv_blocks:
       filters: {type: int, min: 64, max: 16}
     """,
            "conv_blocks.filters.max",
            "min (64) is greater than max (16)",
        ),
        (
            """
     conv_blocks:
       dropout: {type: float, min: 0.0, max: 1.5}
     """,
            "conv_blocks.dropout.max",
            "[0, 1)",
        ),
        (
            """
     dense:
       dropout: 1.0
     """,
            "dense.dropout",
            "[0, 1)",
        ),
        (
            """
     conv_blocks:
       filter: 32
     """,
            "conv_blocks.filter",
            "did you mean 'filters'",
        ),
        (
            """
     optimizer:
       adam:
         learning_rate: {type: float, min: 0, max: 0.1, log: true}
     """,
            "optimizer.adam.learning_rate.min",
            "log scaling needs min > 0",
        ),
        (
            """
     optimizer:
       adagrad: {learning_rate: 0.01}
     """,
            "optimizer.adagrad",
            "allowed keys here: adam, adamw, sgd, rmsprop",
        ),
        (
            """
     optimizer:
       adam: {momentum: 0.9}
     """,
            "optimizer.adam.momentum",
            "unknown key",
        ),
        (
            """
     normalization: {type: choice, values: []}
     """,
            "normalization.values",
            "non-empty",
        ),
        (
            """
     normalization: group
     """,
            "normalization",
            "expected one of none, batch, layer",
        ),
        (
            """
     conv_blocks:
       activation: {type: choice, values: [relu, sparkle]}
     """,
            "conv_blocks.activation.values",
            "'sparkle'",
        ),
        (
            """
     conv_blocks:
       count: {type: float, min: 1, max: 3}
     """,
            "conv_blocks.count",
            "type: int",
        ),
        (
            """
     conv_blocks:
       pooling: {type: int, min: 1, max: 3}
     """,
            "conv_blocks.pooling",
            "use a choice",
        ),
        (
            """
     training:
       max_epochs: {type: int, min: 1, max: 5}
     """,
            "training.max_epochs",
            "single fixed value",
        ),
        (
            """
     training:
       batch_size: sixty-four
     """,
            "training.batch_size",
            "expected an integer, got 'sixty-four'",
        ),
        (
            """
     objective: {metric: val_loss, direction: maximize}
     """,
            "objective.direction",
            "should be minimized",
        ),
        (
            """
     stem: {filters: 3}
     """,
            "stem",
            "expected a list",
        ),
        (
            """
     residual: true
     """,
            "residual",
            "unknown key",
        ),
        (
            """
     conv_blocks:
       residual: {type: bool, values: [true]}
     """,
            "conv_blocks.residual.values",
            "unknown key",
        ),
        (
            """
     augmentation: {flip: sideways}
     """,
            "augmentation.flip",
            "expected one of none, horizontal, vertical, horizontal_and_vertical",
        ),
        (
            """
     augmentation:
       rotation: {type: float, min: 0.0, max: 0.7}
     """,
            "augmentation.rotation.max",
            "[0, 0.5]",
        ),
        (
            """
     augmentation: {translate: 0.1}
     """,
            "augmentation.translate",
            "did you mean 'translation'",
        ),
        (
            """
     augmentation: horizontal
     """,
            "augmentation",
            "expected a mapping with keys flip, rotation",
        ),
        (
            """
     training: {lr_schedule: linear}
     """,
            "training.lr_schedule",
            "expected one of constant, cosine, plateau, got 'linear'",
        ),
        (
            """
     training:
       max_params: {type: choice, values: [10000, 100000]}
     """,
            "training.max_params",
            "single fixed value",
        ),
        (
            """
     training: {max_params: -1}
     """,
            "training.max_params",
            "expected a value >= 0",
        ),
    ],
)
def test_validation_errors_name_file_key_path_and_reason(text, path, words):
    message = error_of(text)
    assert message.startswith(f"my.yaml: {path}: "), message
    assert words in message


def test_every_problem_in_a_file_is_reported_at_once():
    message = error_of("""
        conv_blocks:
          count: {type: int, min: 4, max: 2}
          filtres: 32
        dense:
          units: -3
        optimizer:
          adamm: {}
        objective: {metric: val_loss, direction: maximize}
        """)
    head, *lines = message.splitlines()
    assert head == "my.yaml: 5 problems, fix each:"
    paths = sorted(line.removeprefix("  - ").split(":")[0] for line in lines)
    assert paths == [
        "conv_blocks.count.max",
        "conv_blocks.filtres",
        "dense.units",
        "objective.direction",
        "optimizer.adamm",
    ]
    assert "did you mean 'filters'?" in message and "did you mean 'adam'?" in message


def test_start_problems_are_all_listed_once_the_space_is_valid():
    message = error_of("""
        conv_blocks: {count: {type: int, min: 1, max: 3}}
        start:
          - {conv_blocks.count: 9}
          - {conv_blocks.cuont: 2}
          - 7
        """)
    assert message.startswith("my.yaml: 3 problems, fix each:\n"), message
    for path in ("start.0.conv_blocks.count", "start.1.conv_blocks.cuont", "start.2"):
        assert f"  - {path}: " in message


def test_yaml_syntax_error_names_line():
    message = error_of("conv_blocks:\n  count: [1, 2\n")
    assert message.startswith("my.yaml: not valid YAML at line")


def test_top_level_must_be_mapping():
    assert "expected a mapping" in error_of("- 1\n- 2\n")


def test_missing_file_and_unknown_bundled_name(tmp_path):
    with pytest.raises(SpaceError, match="no such search-space file"):
        load_space(tmp_path / "nope.yaml")
    with pytest.raises(SpaceError, match="Did you mean 'cnn'"):
        load_space("cnm")


def test_defaults_fill_a_minimal_space():
    space = parse("conv_blocks: {count: 2}\n")
    arch = space.sample(RandomSuggester(0))
    assert len(arch["blocks"]) == 2
    assert arch["blocks"][0]["layers"][0] == {"filters": 32, "kernel_size": 3, "activation": "relu"}
    assert arch["optimizer"] == {
        "name": "adam",
        "learning_rate": 1e-3,
        "weight_decay": 0.0,
        "beta_1": 0.9,
        "beta_2": 0.999,
    }
    assert space.objective == ("val_accuracy", "maximize")
    assert space.param_names() == []  # nothing is searched


# ---------------------------------------------------------------------------- sampling
def test_augmentation_is_in_the_architecture_only_when_it_transforms():
    """A space without augmentation builds the network it built before the section existed."""
    assert "augmentation" not in parse("conv_blocks: {count: 1}\n").sample(RandomSuggester(0))
    assert "augmentation" not in parse("augmentation: {fill: constant}\n").sample(RandomSuggester(0))
    space = parse("""
        augmentation:
          flip: [none, horizontal]
          translation: {type: float, min: 0.0, max: 0.2}
          fill: constant
        """)
    assert space.param_names() == ["augmentation.flip", "augmentation.translation"]
    arch = space.sample(FixedSuggester({"augmentation.flip": "none", "augmentation.translation": 0.15}))
    assert arch["augmentation"] == {
        "flip": "none",
        "rotation": 0.0,
        "translation": 0.15,
        "zoom": 0.0,
        "contrast": 0.0,
        "fill": "constant",
    }
    assert "augmentation" not in space.sample(
        FixedSuggester({"augmentation.flip": "none", "augmentation.translation": 0.0})
    )


def test_a_learning_rate_schedule_is_in_the_architecture_only_when_the_rate_changes():
    assert "lr_schedule" not in parse("training: {lr_schedule: constant}\n").sample(RandomSuggester(0))
    space = parse("training: {lr_schedule: [constant, cosine, plateau], max_params: 50000}\n")
    assert space.param_names() == ["training.lr_schedule"] and space.max_params == 50000
    assert space.sample(FixedSuggester({"training.lr_schedule": "cosine"}))["lr_schedule"] == "cosine"
    assert "lr_schedule" not in space.sample(FixedSuggester({"training.lr_schedule": "constant"}))
    assert parse("conv_blocks: {count: 1}\n").max_params == 0  # no limit by default


def test_a_space_pickled_before_augmentation_and_pruning_warmup_existed_loads_as_the_same_space():
    """search.pkl of a run started by an earlier version: resume compares and samples as before."""
    import pickle

    from autodl.space.compare import searched

    space = load_space("lenet")  # a bundled space that searches none of the keys added since
    old = space.copy()
    del old.tree["augmentation"]
    for key in ("pruning_warmup", "lr_schedule", "max_params"):
        del old.tree["training"][key]
    assert "augmentation" not in old.to_dict()  # what an earlier version pickled
    restored = pickle.loads(pickle.dumps(old))
    assert restored == space and searched(restored) == searched(space)
    assert restored.sample(RandomSuggester(3)) == space.sample(RandomSuggester(3))
    old_dict = {k: v for k, v in space.to_dict().items() if k != "augmentation"}  # an old run.json
    old_dict["training"] = {
        k: v for k, v in old_dict["training"].items() if k not in ("pruning_warmup", "lr_schedule", "max_params")
    }
    assert space_from_dict(old_dict) == space


def test_conditional_optimizer_params_only_when_chosen():
    space = parse("""
        optimizer:
          adam: {learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}}
          sgd:
            learning_rate: 0.01
            momentum: {type: float, min: 0.5, max: 0.99}
        """)
    seen = set()
    for seed in range(30):
        suggester = RandomSuggester(seed)
        arch = space.sample(suggester)
        seen.add(arch["optimizer"]["name"])
        has_momentum = "optimizer.sgd.momentum" in suggester.params
        assert has_momentum == (arch["optimizer"]["name"] == "sgd")
        assert ("optimizer.adam.learning_rate" in suggester.params) == (arch["optimizer"]["name"] == "adam")
    assert seen == {"adam", "sgd"}


def test_per_block_and_per_layer_names_and_growth():
    space = parse("""
        conv_blocks:
          count: {type: int, min: 1, max: 3}
          sampling: per_layer
          layers: {type: int, min: 1, max: 2}
          filters: {type: int, min: 8, max: 16, step: 8}
          filters_growth: 2.0
        """)
    values = {
        "conv_blocks.count": 2,
        "conv_blocks.0.layers": 2,
        "conv_blocks.0.0.filters": 8,
        "conv_blocks.0.1.filters": 16,
        "conv_blocks.1.layers": 1,
        "conv_blocks.1.0.filters": 16,
    }
    suggester = FixedSuggester(values)
    arch = space.sample(suggester)
    assert [[l["filters"] for l in b["layers"]] for b in arch["blocks"]] == [[8, 16], [32]]
    assert suggester.params == values
    names = space.param_names()
    assert "conv_blocks.2.1.filters" in names and "conv_blocks.filters" not in names


def test_shared_sampling_asks_once():
    space = parse("""
        conv_blocks:
          count: 3
          filters: {type: int, min: 8, max: 64}
        """)
    suggester = RandomSuggester(1)
    arch = space.sample(suggester)
    assert list(suggester.params) == ["conv_blocks.filters"]
    assert len({b["layers"][0]["filters"] for b in arch["blocks"]}) == 1


def test_fixed_suggester_reports_missing_params():
    space = load_space("cnn")
    with pytest.raises(SpaceError, match="no value for parameter 'normalization'"):
        space.sample(FixedSuggester({}))


def test_random_values_respect_bounds_steps_and_log():
    space = parse("""
        dense:
          layers: 1
          units: {type: int, min: 64, max: 256, step: 64}
          dropout: {type: float, min: 0.1, max: 0.25, step: 0.05}
        optimizer:
          adam: {learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}}
        """)
    for seed in range(50):
        arch = space.sample(RandomSuggester(seed))
        assert arch["dense"][0]["units"] in (64, 128, 192, 256)
        assert 0.1 - 1e-9 <= arch["dense"][0]["dropout"] <= 0.25 + 1e-9
        assert round((arch["dense"][0]["dropout"] - 0.1) / 0.05, 6).is_integer()
        assert 1e-4 <= arch["optimizer"]["learning_rate"] <= 1e-2


# ---------------------------------------------------------------------------- bundled
def test_bundled_spaces_listed_with_descriptions():
    spaces = bundled_spaces()
    assert sorted(spaces) == BUNDLED
    assert all(desc for desc in spaces.values())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_space_round_trips_through_dict(name):
    space = load_space(name)
    again = space_from_dict(space.to_dict())
    assert again == space
    for seed in range(5):
        assert again.sample(RandomSuggester(seed)) == space.sample(RandomSuggester(seed))


def test_digit_recognition_is_the_course_space():
    space = load_space("digit-recognition")
    widest = space.sample(WidestSuggester())
    assert [(l["filters"], l["kernel_size"]) for l in widest["stem"]] == [(64, 5), (64, 5)]
    assert widest["normalization"] == "batch"
    assert len(widest["blocks"]) == 2 and all(len(b["layers"]) == 2 for b in widest["blocks"])
    assert all(b["pooling"] == "max" for b in widest["blocks"])
    tree = space.to_dict()
    assert tree["conv_blocks"]["filters"] == {"type": "int", "min": 64, "max": 128, "step": 32}
    assert tree["conv_blocks"]["dropout"] == {"type": "float", "min": 0.1, "max": 0.25, "step": 0.05}
    assert tree["dense"]["units"] == {"type": "int", "min": 64, "max": 256, "step": 64}
    assert list(tree["optimizer"]) == ["adam"]


def test_format_docs_cover_every_key():
    """searchspaces/README.md documents every key the validator accepts."""
    from pathlib import Path

    from autodl.space import schema

    docs = (Path(__file__).resolve().parents[1] / "searchspaces" / "README.md").read_text()
    keys = (
        [f"stem[i].{k}" for k in schema.STEM_LAYER]
        + [f"conv_blocks.{k}" for k in schema.CONV_BLOCKS]
        + [f"dense.{k}" for k in schema.DENSE]
        + [f"training.{k}" for k in schema.TRAINING]
        + [f"objective.{k}" for k in schema.OBJECTIVE]
        + [f"augmentation.{k}" for k in schema.AUGMENTATION]
        + ["normalization"]
    )
    for key in keys:
        assert f"`{key}`" in docs, key
    for name, fields in schema.OPTIMIZER_PARAMS.items():
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{name}` |"))
        assert all(f"`{k}`" in row for k in fields), name


def test_exponent_floats_without_decimal_point():
    space = parse("optimizer:\n  adam: {learning_rate: {type: float, min: 1e-4, max: 1e-2, log: true}}\n")
    assert space.to_dict()["optimizer"]["adam"]["learning_rate"] == {
        "type": "float",
        "min": 1e-4,
        "max": 1e-2,
        "log": True,
    }
    assert parse("dense: {layers: 1, units: 64}\n").to_dict()["dense"]["units"] == 64  # ints stay ints
