"""Hostile data files and flag combinations: each loads or ends in autodl's own error.

Property tests (hypothesis) in the spirit of tests/test_space_fuzz.py: generated .npz, CSV and
IDX files go through ``load_splits`` (a dataset or a DatasetError, nothing else), and generated
``autodl search`` flags end in exit 2 with one message (never a traceback, never a folder).
No test trains: the flag test searches a dataset that does not exist, which is refused after
every flag was checked.
"""

from __future__ import annotations

import datetime
import gzip
import os
import struct
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autodl.data import load_splits
from autodl.exceptions import DatasetError

EXAMPLES = int(os.environ.get("AUTODL_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 100,
    derandomize=not EXAMPLES,
    deadline=datetime.timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


def loads_or_dataset_error(path, **kwargs) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            splits = load_splits(str(path), **kwargs)
    except DatasetError as exc:
        assert str(exc) and len(str(exc)) < 4000
        return
    assert len(splits.y_train) and len(splits.y_val) and len(splits.y_test)
    assert np.isfinite(splits.x_train).all() and splits.num_classes >= 2


DTYPES = st.sampled_from(["uint8", "int64", "float32", "float64", "bool", "int8", "float16", "complex64", "U3"])


@st.composite
def arrays(draw, images: bool):
    n = draw(st.integers(0, 30))
    shape = (n, *draw(st.lists(st.integers(0, 6), min_size=0, max_size=3))) if images else (n,)
    dtype = draw(DTYPES)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == "U3":
        return rng.integers(0, 3, shape).astype(str)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    values = rng.integers(0, draw(st.sampled_from([2, 3, 10, 256])), shape).astype(dtype)
    if images and dtype.startswith("float") and draw(st.booleans()):
        values.flat[: min(values.size, 2)] = draw(st.sampled_from([np.nan, np.inf, -1e30, 0.5]))
    return values


@FUZZ
@given(data=st.data())
def test_generated_npz_files_load_or_raise_dataset_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("npz") / "gen.npz"
    keys = data.draw(
        st.lists(
            st.sampled_from(["x_train", "y_train", "x_test", "y_test", "x_val", "y_val", "other"]),
            unique=True,
            min_size=0,
            max_size=7,
        )
    )
    np.savez(path, **{key: data.draw(arrays(images=key.startswith("x"))) for key in keys})
    if data.draw(st.booleans()):  # truncated or with bytes flipped
        raw = bytearray(path.read_bytes())
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        raw = raw[:at] if data.draw(st.booleans()) else raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]
        path.write_bytes(bytes(raw))
    loads_or_dataset_error(
        path,
        subset=data.draw(st.sampled_from([None, 4, 10_000])),
        val_fraction=data.draw(st.sampled_from([0.1, 0.5, 0.99])),
    )


CELLS = st.one_of(
    st.integers(-5, 300).map(str),
    st.sampled_from(["", "x", "1.5", "nan", "inf", "-", " ", "1e400", '"a,b"', "label", "0x10", "[/x]"]),
)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["label", "Label", "a", "b", "c", "d", "0", "1", "2", "3", "", "label"]), min_size=0, max_size=6
    ),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=6), min_size=0, max_size=30),
    sep=st.sampled_from([",", ";", "\t"]),
)
def test_generated_csv_files_load_or_raise_dataset_error(tmp_path_factory, header, rows, sep):
    path = tmp_path_factory.mktemp("csv") / "gen.csv"
    path.write_text("\n".join([sep.join(header)] + [sep.join(row) for row in rows]) + "\n")
    loads_or_dataset_error(path)


@FUZZ
@given(data=st.data())
def test_generated_idx_folders_load_or_raise_dataset_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("idx")
    for name, dims in (
        ("train-images-idx3-ubyte", 3),
        ("train-labels-idx1-ubyte", 1),
        ("t10k-images-idx3-ubyte", 3),
        ("t10k-labels-idx1-ubyte", 1),
    ):
        shape = data.draw(st.lists(st.integers(0, 12), min_size=dims, max_size=dims))
        ndim = data.draw(st.sampled_from([dims, dims, 0, 2, 255]))
        code = data.draw(st.sampled_from([0x08, 0x08, 0x09, 0x0B, 0x0D, 0x0E, 0x42]))
        header = bytes([0, 0, code, ndim]) + b"".join(struct.pack(">I", s) for s in shape[:ndim])
        body = bytes(data.draw(st.integers(0, 9)) for _ in range(int(np.prod(shape)) if shape else 0))
        raw = header + body[: data.draw(st.integers(0, len(body)))] if data.draw(st.booleans()) else header + body
        if data.draw(st.booleans()):
            (folder / (name + ".gz")).write_bytes(
                gzip.compress(raw)[: data.draw(st.integers(1, 200))] if data.draw(st.booleans()) else gzip.compress(raw)
            )
        else:
            (folder / name).write_bytes(raw)
    loads_or_dataset_error(folder)


VALUES = st.sampled_from(
    [
        "-1",
        "0",
        "1",
        "2",
        "1e400",
        "nan",
        "inf",
        "-inf",
        "1.5",
        "x",
        "",
        "99999999999999999999999",
        "[/x]",
        "../x",
        "/tmp",
        "a b",
        "60000",
        "16x0",
        "3x3",
        "1k",
        "1.5M",
        "-3",
        "  ",
    ]
)
FLAGS = [
    "--trials",
    "--timeout",
    "--epochs",
    "--max-params",
    "--seed",
    "--name",
    "--subset",
    "--val-fraction",
    "--top-k",
    "--image-size",
    "--space",
    "--storage",
    "--data-dir",
    "--sampler",
    "--pruner",
    "--backend",
    "--precision",
    "--tuner",
]


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@settings(
    max_examples=EXAMPLES or 60,
    derandomize=not EXAMPLES,
    deadline=datetime.timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(flags=st.lists(st.tuples(st.sampled_from(FLAGS), VALUES), max_size=5))
def test_any_flags_end_in_one_message_and_exit_2(runner, tmp_path_factory, flags):
    from autodl.cli.main import cli

    out = tmp_path_factory.mktemp("out")
    args = ["search", "no-such-dataset-here", "--out", str(out)]
    for flag, value in flags:
        args += [flag, value]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, (args, result.output, result.exception)
    assert "Traceback" not in result.output and result.output.strip(), args
    assert not list(out.iterdir()), f"{args} wrote into --out"
