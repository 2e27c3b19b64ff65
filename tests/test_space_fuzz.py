"""Hostile and broken search spaces: each loads or raises SpaceError, briefly and quickly.

The property tests mutate the bundled spaces (their parsed values, and their text) the way a
careless or hostile user would; the explicit cases are the ones a fuzzing pass once found to
crash (another exception than autodl's), hang or print megabytes.
"""

from __future__ import annotations

import datetime
import json
import os
import textwrap
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autodl.exceptions import SpaceError
from autodl.space import (
    RandomSuggester,
    WidestSuggester,
    bundled_text,
    load_space,
    parse_space,
    space_from_dict,
)

BUNDLED = ["cnn", "cnn-augmented", "digit-recognition", "lenet", "mlp"]
TEXTS = {name: bundled_text(name) for name in BUNDLED}
DICTS = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
MESSAGE_LIMIT = 8000  # at most 20 problems of a few hundred characters; never the file's contents

# CI runs a fixed sample (derandomized: no flaky failures); AUTODL_FUZZ_EXAMPLES=5000 runs a
# longer, random fuzzing pass.
EXAMPLES = int(os.environ.get("AUTODL_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 150,
    derandomize=not EXAMPLES,
    deadline=datetime.timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_outcome(load) -> None:
    """``load()`` gives a usable space or a short SpaceError; nothing else, and quickly."""
    start = time.perf_counter()
    try:
        space = load()
    except SpaceError as exc:
        message = str(exc)
        assert message and len(message) < MESSAGE_LIMIT, message[:500]
        return
    finally:
        assert time.perf_counter() - start < 5
    # A space that loads samples, serialises (run.json) and reloads as itself.
    for suggester in (RandomSuggester(0), RandomSuggester(1), WidestSuggester()):
        arch = space.sample(suggester)
        for block in arch["blocks"]:
            for layer in block["layers"]:
                assert type(layer["filters"]) is int and type(layer["kernel_size"]) is int
            assert 0 <= block["dropout"] < 1
        assert all(type(d["units"]) is int and 0 <= d["dropout"] < 1 for d in arch["dense"])
    json.dumps(space.to_dict(), allow_nan=False)
    assert space_from_dict(space.to_dict()) == space


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.integers(10**20, 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "[/x]",
            "[bold red]boom[/]",
            "int",
            "float",
            "choice",
            "bool",
            "fixed",
            "relu",
            "max",
            "none",
            "batch",
            "adam",
            "per_layer",
            "per_block",
            "val_loss",
            "1e400",
            "",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(max_size=8),
                st.sampled_from(["type", "min", "max", "step", "log", "values", "value", "count", "layers", "filters"]),
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)


def paths(node, prefix=()):
    """Every key path of a parsed YAML tree (the root included)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


def mutate(tree, path, op, value):
    """A copy of ``tree`` with the node at ``path`` replaced, deleted, or given a new key."""
    import copy

    tree = copy.deepcopy(tree)
    if not path:
        return value if op == "replace" else tree
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif op == "add" and isinstance(parent[last], dict):
        parent[last][value if isinstance(value, (str, int, bool)) or value is None else "extra"] = value
    elif op == "wrap":
        parent[last] = [parent[last]]
    return tree


@FUZZ
@given(data=st.data())
def test_mutated_bundled_spaces_load_or_raise_space_error(data):
    name = data.draw(st.sampled_from(BUNDLED))
    tree = DICTS[name]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(paths(tree))))
        tree = mutate(
            tree, path, data.draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"])), data.draw(VALUES)
        )
    check_outcome(lambda: space_from_dict(tree, label="fuzz.yaml"))
    try:
        text = yaml.safe_dump(tree)
    except (yaml.YAMLError, ValueError, OverflowError):
        return
    check_outcome(lambda: parse_space(text, source="fuzz.yaml"))


YAML_BITS = st.sampled_from(
    list("[]{}:,-&*!|>'\"#?%@` \n\t0123456789.eE+")
    + [
        "&a ",
        "*a",
        "<<: *a\n",
        ".nan",
        ".inf",
        "-.inf",
        "1" * 400,
        "~",
        "!!python/object:os.system ",
        "!!binary ",
        "2024-13-45",
        "0x",
        "0o7",
        "\n  ",
        "\n- ",
        "{type: {}}",
        "[" * 200,
        "\ufeff",
        "\x00",
    ]
)


@FUZZ
@given(data=st.data())
def test_text_edits_of_bundled_spaces_load_or_raise_space_error(data):
    text = TEXTS[data.draw(st.sampled_from(BUNDLED))]
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:at] + data.draw(YAML_BITS) + text[at + cut :]
    check_outcome(lambda: parse_space(text, source="fuzz.yaml"))


@FUZZ
@given(
    section=st.sampled_from(
        [
            "conv_blocks",
            "dense",
            "training",
            "augmentation",
            "objective",
            "stem",
            "normalization",
            "optimizer",
            "start",
            "name",
        ]
    ),
    key=st.sampled_from(
        [
            "count",
            "layers",
            "filters",
            "filters_growth",
            "kernel_size",
            "dropout",
            "units",
            "batch_size",
            "max_epochs",
            "max_params",
            "rotation",
            "metric",
            "adam",
            "sgd",
            "activation",
            "pooling",
            "residual",
        ]
    ),
    value=VALUES,
)
def test_any_value_under_any_key_loads_or_raises_space_error(section, key, value):
    tree = {"conv_blocks": {"count": 1}, section: {key: value}}
    check_outcome(lambda: space_from_dict(tree, label="fuzz.yaml"))


# ------------------------------------------------------------------- findings, one by one
def error_of(text: str) -> str:
    start = time.perf_counter()
    with pytest.raises(SpaceError) as info:
        parse_space(textwrap.dedent(text), source="my.yaml")
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert message.startswith("my.yaml: ") and len(message) < 1000, message[:1000]
    return message


def aliases(depth: int) -> str:
    """The "billion laughs": each level lists the one below nine times."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
        f"*a{i - 1}, *a{i - 1}]"
        for i in range(1, depth)
    ]
    return "\n".join(lines) + f"\nconv_blocks: {{count: *a{depth - 1}}}\n"


@pytest.mark.parametrize(
    "text, words",
    [
        ("conv_blocks: {count: {type: {}, min: 1, max: 2}}\n", "unknown parameter type {}"),
        ("conv_blocks: {count: {type: [int], min: 1, max: 2}}\n", "unknown parameter type ['int']"),
        ("conv_blocks: {count: " + "[" * 1000 + "]" * 1000 + "}\n", "nested"),
        ("conv_blocks: {filters: " + "9" * 400 + "}\n", "conv_blocks.filters: expected an integer of a sane size"),
        ("conv_blocks: {filters: {type: int, min: 1, max: " + "9" * 400 + "}}\n", "conv_blocks.filters.max: expected"),
        ("optimizer: {adam: {learning_rate: " + "9" * 400 + "}}\n", "a number of a sane size"),
        ("optimizer: {adam: {learning_rate: {type: float, min: 0.001, max: " + "9" * 400 + "}}}\n", "sane size"),
        ("conv_blocks: {count: " + "9" * 5000 + "}\n", "a value cannot be read"),
        (
            "dense: {layers: [1, 2]}\nstart: [{dense.layers: " + "9" * 400 + "}]\n",
            "start.0.dense.layers: expected one of 1, 2",
        ),
        (
            "dense: {layers: {type: int, min: 1, max: 2}}\nstart: [{dense.layers: " + "9" * 400 + "}]\n",
            "start.0.dense.layers: expected an integer in [1, 2], got 99999",
        ),
        ("conv_blocks: {count: 2.0}\n", "conv_blocks.count: expected an integer, got 2.0; write 2"),
        ("conv_blocks: {kernel_size: 3.0}\n", "conv_blocks.kernel_size: expected an integer, got 3.0; write 3"),
        ("conv_blocks: {kernel_size: [3, 5.0]}\n", "conv_blocks.kernel_size.values: expected an integer, got 5.0"),
        (
            "conv_blocks: {count: 2, filters_growth: [1.0, 1.0e+308]}\n",
            "filters_growth.values: expected a value in [1, 4]",
        ),
        (
            "conv_blocks: {count: {type: int, min: 1, max: 1000000000}}\n",
            "conv_blocks.count.max: expected a value in [0, 64]",
        ),
        ("dense: {layers: 1, units: 100000000}\n", "dense.units: expected a value in [1, 65536]"),
        ("training: {batch_size: 10000000}\n", "expected a value in [1, 65536]"),
        ("dense: {layers: 1, dropout: .nan}\n", "dense.dropout: expected a finite number, got nan"),
        ("optimizer: {adam: {learning_rate: .inf}}\n", "learning_rate: expected a finite number, got inf"),
        ("optimizer: {adam: {learning_rate: {type: float, min: 0.001, max: .inf}}}\n", "expected a finite number"),
        ("dense: {layers: 1, dropout: [0.1, .nan]}\n", "choices must be a finite number, got nan"),
        ("conv_blocks: {count: 1}\nconv_blocks: {count: 2}\n", "the key 'conv_blocks' appears twice"),
        ("dense:\n  layers: 1\n  units: 32\n  layers: 2\n", "at line 4"),
        ("[]\n", "expected a mapping of sections"),
        ("0\n", "got int 0"),
        ("false\n", "got bool False"),
        ("''\n", "got str ''"),
        ("\n# nothing but a comment\n", "the file is empty"),
        ("normalization: {type: choice, values: " + str(list(range(65))) + "}\n", "at most 64 values"),
        ("stem: [" + ", ".join(["{filters: 8}"] * 65) + "]\n", "stem: expected at most 64 layers"),
        (aliases(7), "once its YAML aliases"),
        (aliases(9), "once its YAML aliases"),
        ('normalization: "[/x]"\n', "expected one of none, batch, layer, got '[/x]'"),
        ("name: " + "n" * 100_000 + "\nconv_blocks: {count: 1, filters: x" + "y" * 100_000 + "}\n", "got 'xyyy"),
    ],
    ids=lambda v: v[:30].replace("\n", " ") if isinstance(v, str) and len(v) > 30 else None,
)
def test_each_fuzzing_finding_is_a_short_space_error(text, words):
    message = error_of(text)
    assert words in message, message


def test_a_merge_key_may_be_overridden_and_the_bundled_spaces_load():
    text = "start:\n  - &s {dense.layers: 1}\n  - <<: *s\n    dense.layers: 2\ndense: {layers: [1, 2]}\n"
    assert [c["dense.layers"] for c in parse_space(text).start] == [1, 2]
    for name in BUNDLED:
        load_space(name)


def test_a_file_larger_than_a_megabyte_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_100_000 + "\nconv_blocks: {count: 1}\n")
    with pytest.raises(SpaceError, match="larger than 1,000,000 bytes"):
        load_space(big)


def test_a_file_of_many_problems_lists_twenty_and_counts_the_rest():
    text = "dense:\n" + "".join(f"  unknown{i}: 1\n" for i in range(30))
    with pytest.raises(SpaceError) as info:
        parse_space(text, source="my.yaml")
    lines = str(info.value).splitlines()
    assert lines[0] == "my.yaml: 30 problems, fix each:" and lines[-1] == "  - ... and 10 more" and len(lines) == 22
    assert "(6 in all)" not in lines[1] and "allowed keys here: global_pooling, layers" in lines[1]
