"""Tests for autodl.data: every source from tiny real files, the splits, every error path.

Offline by construction: the autouse fixture sets AUTODL_OFFLINE, points Keras' cache and
the system dataset folders into tmp_path, and replaces the Keras download with a failure.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import pickle
import struct

import numpy as np
import pytest

from autodl.data import (
    ArrayData,
    BaseDataset,
    DataSplits,
    files,
    get_dataset,
    keras_sets,
    list_datasets,
    load_splits,
)
from autodl.exceptions import DatasetError

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No network, no real caches: every place a dataset is looked for is under tmp_path."""
    monkeypatch.setenv("AUTODL_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("AUTODL_DATA_DIR", raising=False)
    monkeypatch.setattr(keras_sets, "SYSTEM_PATHS", {"fashion_mnist": (tmp_path / "system",)})

    def no_network(name):
        pytest.fail(f"test tried to download {name}")

    monkeypatch.setattr(keras_sets, "_download", no_network)


# --- helpers writing tiny real files -------------------------------------------------------


def arrays(n_train=60, n_test=20, shape=(6, 6), classes=3, seed=0):
    """uint8 images and balanced int labels 0..classes-1."""
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (n_train, *shape), dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, *shape), dtype=np.uint8)
    y_train = np.arange(n_train) % classes
    y_test = np.arange(n_test) % classes
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def write_npz(path, **overrides):
    data = {**arrays(), **overrides}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return path


def idx_bytes(array, type_code=0x08):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(">u1").tobytes()


def write_idx_folder(folder, data=None, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    data = data or arrays(shape=(28, 28), classes=10)
    for role, names in files.IDX_NAMES.items():
        payload = idx_bytes(np.asarray(data[role], dtype=np.uint8))
        if gz:
            (folder / f"{names[0]}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / names[0]).write_bytes(payload)
    return folder


def write_csv(path, n=50, side=4, classes=2, header=True):
    rng = np.random.default_rng(1)
    rows = [[i % classes, *rng.integers(0, 256, side * side)] for i in range(n)]
    lines = [",".join(map(str, row)) for row in rows]
    if header:
        lines.insert(0, ",".join(["label"] + [f"pixel{i}" for i in range(side * side)]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_images(root, classes=("cat", "dog"), n=10, size=(5, 4), mode="L"):
    from PIL import Image

    rng = np.random.default_rng(2)
    channels = () if mode == "L" else (3,)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i}.png")
    return root


def cifar_batch(n, label_offset=0):
    data = np.zeros((n, 3, 32, 32), dtype=np.uint8)
    data[:, 0] = 255  # red channel full, green and blue empty
    labels = [(i + label_offset) % 10 for i in range(n)]
    return {b"batch_label": b"fake", b"data": data.reshape(n, 3072), b"labels": labels}


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING), as in the real CIFAR-10 pickles."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def write_cifar(folder, n=10, style="python2"):
    """Batches as CIFAR ships them (Python 2 / numpy 1), or as numpy 2 pickles them today."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in keras_sets.CIFAR_FILES:
        if style == "python2":
            buffer = io.BytesIO()
            Py2Pickler(buffer, protocol=2).dump(cifar_batch(n))
            payload = buffer.getvalue().replace(b"numpy._core.", b"numpy.core.")
        else:
            payload = pickle.dumps(cifar_batch(n), protocol=5)
        (folder / file).write_bytes(payload)
    return folder


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(DatasetError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message  # one paragraph
    return message


# --- registry ------------------------------------------------------------------------------


def test_list_datasets_names_the_registered_sets():
    names = dict(list_datasets())
    assert list(names) == ["cifar10", "digits", "fashion_mnist", "mnist"]
    assert all(description for description in names.values())


def test_get_dataset_unknown_name_lists_known_names_and_path_forms():
    message = error_of(get_dataset, "mnits")
    assert "'mnits'" in message
    for expected in ("digits", "mnist", "fashion_mnist", "cifar10", ".npz", ".csv", "IDX"):
        assert expected in message


def test_get_dataset_missing_path_says_so(tmp_path):
    message = error_of(get_dataset, str(tmp_path / "nope.npz"))
    assert "nope.npz" in message and "does not exist" in message


def test_get_dataset_unsupported_suffix(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x")
    message = error_of(get_dataset, str(path))
    assert "data.txt" in message and ".txt" in message and ".npz" in message


def test_get_dataset_dispatches_on_path_kind(tmp_path):
    assert isinstance(get_dataset(str(write_npz(tmp_path / "a.npz"))), files.NpzDataset)
    assert isinstance(get_dataset(str(write_csv(tmp_path / "a.csv"))), files.CsvDataset)
    assert isinstance(get_dataset(str(write_idx_folder(tmp_path / "idx"))), files.IdxDataset)
    images = get_dataset(str(write_images(tmp_path / "img")))
    assert isinstance(images, files.ImageFolderDataset) and isinstance(images, BaseDataset)
    assert get_dataset("Fashion-MNIST").name == "fashion_mnist"


# --- digits and the generic split logic ----------------------------------------------------


def test_digits_splits_shapes_dtypes_and_ranges():
    splits = load_splits("digits")
    assert isinstance(splits, DataSplits)
    assert splits.input_shape == (8, 8, 1) and splits.num_classes == 10
    assert splits.class_names == [str(d) for d in range(10)]
    assert splits.x_train.dtype == np.float32 and splits.y_train.dtype == np.int32
    assert splits.x_train.shape[1:] == (8, 8, 1)
    for x in (splits.x_train, splits.x_val, splits.x_test):
        assert x.min() == 0.0 and x.max() == 1.0  # divided by 16, not 255
    assert len(splits.y_test) == 360 and len(splits.y_train) + len(splits.y_val) == 1437
    assert len(splits.y_val) == pytest.approx(143.7, abs=1)
    assert splits.source == "scikit-learn"


def test_same_seed_same_splits_and_stable_fingerprint():
    first, again = load_splits("digits", seed=3), load_splits("digits", seed=3)
    other = load_splits("digits", seed=4)
    np.testing.assert_array_equal(first.x_val, again.x_val)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.y_val, other.y_val)
    assert first.fingerprint == again.fingerprint == other.fingerprint
    assert len(first.fingerprint) == 64 and int(first.fingerprint, 16) >= 0


def test_fingerprint_changes_with_the_data(tmp_path):
    a = load_splits(str(write_npz(tmp_path / "a.npz")))
    changed = arrays()
    changed["x_test"][0, 0, 0] ^= 1
    b = load_splits(str(write_npz(tmp_path / "b.npz", x_test=changed["x_test"])))
    assert a.fingerprint != b.fingerprint


def test_validation_split_is_stratified_from_train_only(tmp_path):
    y_train = np.array([0] * 400 + [1] * 100)
    data = arrays(n_train=500)
    path = write_npz(tmp_path / "imbalanced.npz", **{**data, "y_train": y_train, "y_test": np.arange(20) % 2})
    splits = load_splits(str(path), val_fraction=0.2, seed=5)
    assert np.bincount(splits.y_val).tolist() == [80, 20]
    assert np.bincount(splits.y_train).tolist() == [320, 80]
    np.testing.assert_array_equal(splits.x_test * 255, data["x_test"][..., None])


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True, "ten"])
def test_val_fraction_out_of_range(fraction):
    message = error_of(load_splits, "digits", val_fraction=fraction)
    assert "val_fraction" in message and repr(fraction) in message and "0.1" in message


def test_subset_is_stratified_and_caps_test():
    splits = load_splits("digits", subset=100, seed=1)
    assert len(splits.y_train) + len(splits.y_val) == 100 and len(splits.y_test) == 100
    counts = np.bincount(np.concatenate([splits.y_train, splits.y_val]), minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11
    assert load_splits("digits", subset=100, seed=1).fingerprint == splits.fingerprint


def test_subset_larger_than_the_data_keeps_everything(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="autodl"):
        splits = load_splits(str(write_npz(tmp_path / "a.npz")), subset=10_000)
    assert len(splits.y_train) + len(splits.y_val) == 60 and len(splits.y_test) == 20
    assert "subset=10000 keeps all of the 60 training images" in caplog.text  # not without a word


def test_a_class_with_a_single_training_image_is_warned_of(tmp_path, caplog):
    data = arrays(classes=3)
    data["y_train"] = np.where(np.arange(60) == 5, 3, data["y_train"])  # class 3: one image
    data["y_test"] = data["y_test"] % 3
    with caplog.at_level(logging.WARNING, logger="autodl"):
        load_splits(str(write_npz(tmp_path / "one.npz", **data)))
    assert "class 3 has a single training image" in caplog.text and "Add images" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="autodl"):
        load_splits(str(write_npz(tmp_path / "fine.npz")))
    assert "single training image" not in caplog.text


@pytest.mark.parametrize("seed", [-1, 2**32, True, 1.5])
def test_a_seed_out_of_range_says_so_rather_than_a_failed_split(seed):
    message = error_of(load_splits, "digits", seed=seed)
    assert "seed must be a whole number from 0 to 4294967295" in message and "Cannot split" not in message


def test_a_csv_with_only_a_header_row_says_so(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("label,a,b,c,d\n")
    message = error_of(load_splits, str(path))
    assert "has a header row but no data rows" in message and "non-numeric" not in message


@pytest.mark.parametrize("value", ["60000", "2048x32", "99999999999999999999"])
def test_an_image_size_beyond_1024_a_side_is_refused_before_any_image_is_read(tmp_path, value):
    root = write_images(tmp_path / "photos", n=2)
    message = error_of(load_splits, str(root), image_size=value)
    assert ("at most 1024 pixels a side" in message) or ("--image-size must be WIDTHxHEIGHT" in message)


@pytest.mark.parametrize("subset", [19, 0, 2.5])
def test_subset_too_small(subset):
    message = error_of(load_splits, "digits", subset=subset)
    assert f"subset={subset!r}" in message and "20" in message and "10 classes" in message


def test_summary_is_json_round_trippable(tmp_path):
    splits = load_splits(str(write_npz(tmp_path / "tiny.npz")))
    summary = json.loads(json.dumps(splits.summary()))
    assert summary == {
        "name": "tiny",
        "source": str(tmp_path / "tiny.npz"),
        "input_shape": [6, 6, 1],
        "num_classes": 3,
        "class_names": ["0", "1", "2"],
        "n_train": len(splits.y_train),
        "n_val": len(splits.y_val),
        "n_test": 20,
        "fingerprint": splits.fingerprint,
        "exif_orientation": True,  # how image files are read for this run (predict's too)
    }
    assert summary["n_train"] + summary["n_val"] == 60


# --- .npz ---------------------------------------------------------------------------------


def test_npz_scaling_labels_and_channels(tmp_path):
    data = arrays()
    path = write_npz(tmp_path / "a.npz", y_train=data["y_train"].reshape(-1, 1) * 2 + 3, y_test=data["y_test"] * 2 + 3)
    splits = load_splits(str(path))
    assert splits.input_shape == (6, 6, 1)
    assert splits.class_names == ["3", "5", "7"]  # remapped labels keep their names
    assert sorted(set(splits.y_train.tolist())) == [0, 1, 2]
    assert 0.0 <= splits.x_train.min() and splits.x_train.max() <= 1.0
    np.testing.assert_allclose(splits.x_test[..., 0] * 255, data["x_test"], atol=1e-4)


def test_npz_fixed_validation_split_is_used_as_given(tmp_path):
    data = arrays()
    x_val = np.random.default_rng(1).integers(0, 256, (15, 6, 6), dtype=np.uint8)
    y_val = (np.arange(15) % 3) * 2 + 3
    path = write_npz(
        tmp_path / "v.npz", y_train=data["y_train"] * 2 + 3, y_test=data["y_test"] * 2 + 3, x_val=x_val, y_val=y_val
    )
    splits = load_splits(str(path), val_fraction=0.5)  # ignored: the file names its validation set
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (60, 15, 20)
    np.testing.assert_allclose(splits.x_val[..., 0] * 255, x_val, atol=1e-4)
    np.testing.assert_array_equal(splits.y_val, np.arange(15) % 3)  # encoded like the train labels
    np.testing.assert_allclose(splits.x_train[..., 0] * 255, data["x_train"], atol=1e-4)  # order kept

    small = load_splits(str(path), subset=9)  # subset caps the fixed split too, stratified
    assert len(small.y_val) == 9 and np.bincount(small.y_val).tolist() == [3, 3, 3]

    other = write_npz(
        tmp_path / "w.npz",
        y_train=data["y_train"] * 2 + 3,
        y_test=data["y_test"] * 2 + 3,
        x_val=x_val[::-1],
        y_val=y_val[::-1],
    )
    assert load_splits(str(other)).fingerprint != splits.fingerprint
    assert load_splits(str(write_npz(tmp_path / "n.npz"))).fingerprint != splits.fingerprint


def test_npz_validation_needs_both_arrays_and_known_classes(tmp_path):
    message = error_of(load_splits, str(write_npz(tmp_path / "half.npz", x_val=np.zeros((5, 6, 6)))))
    assert "half.npz" in message and "x_val" in message and "no y_val" in message

    path = write_npz(tmp_path / "unseen.npz", x_val=np.zeros((5, 6, 6)), y_val=np.arange(5))
    message = error_of(load_splits, str(path))
    assert "Validation labels" in message and "[3, 4]" in message and "unseen.npz" in message

    path = write_npz(tmp_path / "shape.npz", x_val=np.zeros((5, 7, 7)), y_val=np.arange(5) % 3)
    message = error_of(load_splits, str(path))
    assert "shape.npz" in message and "val images of shape (7, 7, 1)" in message

    path = write_npz(tmp_path / "count.npz", x_val=np.zeros((5, 6, 6)), y_val=np.arange(4) % 3)
    assert "5 val images but 4 val labels" in error_of(load_splits, str(path))


def test_dark_uint8_images_are_divided_by_255_not_stretched(tmp_path):
    x = np.full((60, 6, 6), 100, dtype=np.uint8)
    x[:, 0, 0] = 10
    splits = load_splits(str(write_npz(tmp_path / "dark.npz", x_train=x, x_test=x[:20])))
    assert splits.x_train.max() == pytest.approx(100 / 255)
    assert splits.x_test.min() == pytest.approx(10 / 255)


def test_npz_float_in_unit_range_is_kept_and_one_hot_is_decoded(tmp_path):
    x = np.linspace(0, 1, 60 * 4 * 4 * 3, dtype=np.float32).reshape(60, 4, 4, 3)
    one_hot = np.eye(3, dtype=np.float32)[np.arange(60) % 3]
    path = write_npz(tmp_path / "f.npz", x_train=x, x_test=x[:20], y_train=one_hot, y_test=np.arange(20) % 3)
    splits = load_splits(str(path), val_fraction=0.5)
    assert splits.input_shape == (4, 4, 3) and splits.num_classes == 3
    np.testing.assert_array_equal(np.sort(splits.x_test.ravel()), np.sort(x[:20].ravel()))


def test_npz_other_ranges_are_min_max_scaled_with_a_warning(tmp_path, caplog):
    x = np.linspace(-500, 1500, 60 * 36).reshape(60, 6, 6)
    path = write_npz(tmp_path / "wide.npz", x_train=x, x_test=x[-20:] * 2)
    with caplog.at_level(logging.WARNING, logger="autodl.data"):
        splits = load_splits(str(path))
    assert "min-max" in caplog.text and "wide.npz" in caplog.text
    all_train = np.concatenate([splits.x_train, splits.x_val])
    assert all_train.min() == 0.0 and all_train.max() == 1.0
    assert splits.x_test.max() == 1.0  # test clipped with the train range, not rescaled


def test_npz_channels_first_is_moved_last(tmp_path):
    x = np.zeros((60, 3, 8, 8), dtype=np.uint8)
    x[:, 1] = 255
    splits = load_splits(str(write_npz(tmp_path / "c.npz", x_train=x, x_test=x[:20])))
    assert splits.input_shape == (8, 8, 3)
    assert splits.x_train[..., 1].min() == 1.0 and splits.x_train[..., 0].max() == 0.0


def test_npz_missing_key(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((2, 2, 2)), y_train=np.zeros(2))
    message = error_of(load_splits, str(path))
    assert "partial.npz" in message and "x_test, y_test" in message and "numpy.savez" in message


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_npz_corrupt_or_truncated(tmp_path, damage):
    path = write_npz(tmp_path / "bad.npz")
    content = path.read_bytes()
    path.write_bytes(b"not a zip file" if damage == "garbage" else content[: len(content) // 2])
    message = error_of(load_splits, str(path))
    assert "bad.npz" in message and "re-create it with numpy.savez" in message


def test_npz_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, **{**arrays(), "y_train": np.array([object()] * 60)})
    message = error_of(load_splits, str(path))
    assert "objects.npz" in message and "numpy.savez" in message


def test_label_image_count_mismatch(tmp_path):
    message = error_of(load_splits, str(write_npz(tmp_path / "m.npz", y_train=np.zeros(59))))
    assert "m.npz" in message and "60 train images but 59 train labels" in message


@pytest.mark.parametrize(
    "labels, shown",
    [
        (np.full(60, 0.5), "0.5"),
        (np.array(["cat", "dog"] * 30), "<U3"),
    ],
)
def test_non_integer_labels(tmp_path, labels, shown):
    message = error_of(load_splits, str(write_npz(tmp_path / "l.npz", y_train=labels)))
    assert "l.npz" in message and shown in message and "integers 0..C-1" in message


def test_fewer_than_two_classes(tmp_path):
    path = write_npz(tmp_path / "one.npz", y_train=np.zeros(60, int), y_test=np.zeros(20, int))
    message = error_of(load_splits, str(path))
    assert "one.npz" in message and "1 class(es)" in message and "at least 2" in message


def test_test_class_missing_from_train(tmp_path):
    path = write_npz(tmp_path / "t.npz", y_test=np.arange(20) % 4)
    message = error_of(load_splits, str(path))
    assert "t.npz" in message and "[3]" in message


def test_nan_pixels(tmp_path):
    x = np.zeros((60, 6, 6))
    x[3, 2, 1] = np.nan
    message = error_of(load_splits, str(write_npz(tmp_path / "n.npz", x_train=x)))
    assert "n.npz" in message and "NaN" in message


# --- IDX ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, gz):
    data = arrays(shape=(28, 28), classes=10)
    splits = load_splits(str(write_idx_folder(tmp_path / "idx", data, gz=gz)))
    assert splits.input_shape == (28, 28, 1) and splits.num_classes == 10
    np.testing.assert_allclose(splits.x_test[..., 0] * 255, data["x_test"], atol=1e-4)
    np.testing.assert_array_equal(splits.y_test, data["y_test"])


def test_idx_bad_magic(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x12\x34\x56\x78rest"))
    message = error_of(load_splits, str(folder))
    assert "train-labels-idx1-ubyte.gz" in message and "12 34 56 78" in message
    assert "download it again" in message


def test_idx_truncated_gzip(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    message = error_of(load_splits, str(folder))
    assert "t10k-images-idx3-ubyte.gz" in message and "truncated" in message


def test_idx_wrong_byte_count(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    message = error_of(load_splits, str(folder))
    assert "train-images-idx3-ubyte" in message and "(60, 28, 28)" in message
    assert str(60 * 28 * 28 - 5) in message


def test_idx_image_label_count_mismatch(tmp_path):
    data = arrays(shape=(28, 28), classes=10)
    folder = write_idx_folder(tmp_path / "idx", data)
    labels = idx_bytes(np.zeros(59, np.uint8))
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    message = error_of(load_splits, str(folder))
    assert "60 images" in message and "59 labels" in message
    assert "train-labels-idx1-ubyte.gz" in message


def test_idx_folder_missing_a_file(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    message = error_of(load_splits, str(folder))
    assert "lacks t10k-labels-idx1-ubyte[.gz]" in message and str(folder) in message


# --- CSV ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [True, False])
def test_csv_with_and_without_header(tmp_path, header):
    path = write_csv(tmp_path / "train.csv", n=50, header=header)
    splits = load_splits(str(path), val_fraction=0.25)
    assert splits.input_shape == (4, 4, 1) and splits.class_names == ["0", "1"]
    assert np.bincount(splits.y_test).tolist() == [5, 5]  # stratified 80/20 hold-out
    assert len(splits.y_train) + len(splits.y_val) == 40
    assert splits.x_train.dtype == np.float32 and splits.x_train.max() <= 1.0


def test_csv_non_square(tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("label," + ",".join(f"p{i}" for i in range(15)) + "\n" + "1," * 15 + "0\n")
    message = error_of(load_splits, str(path))
    assert "flat.csv" in message and "15 pixel columns" in message and "784" in message


def test_csv_without_label_column(tmp_path):
    path = tmp_path / "nolabel.csv"
    path.write_text("target,a,b,c,d\n1,0,0,0,0\n")
    message = error_of(load_splits, str(path))
    assert "nolabel.csv" in message and "'label'" in message and "target" in message


def test_csv_non_numeric_pixels(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("label,a,b,c,d\n1,0,x,0,0\n0,1,y,1,1\n")
    message = error_of(load_splits, str(path))
    assert "text.csv" in message and "non-numeric column(s) b" in message


def test_csv_non_integer_labels(tmp_path):
    path = tmp_path / "frac.csv"
    path.write_text("label,a,b,c,d\n" + "".join(f"{i % 2 + 0.5},1,2,3,4\n" for i in range(20)))
    message = error_of(load_splits, str(path))
    assert "frac.csv" in message and "non-integer value" in message


def test_csv_text_labels(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("label,a,b,c,d\n" + "".join(f"{['cat', 'dog'][i % 2]},1,2,3,4\n" for i in range(20)))
    message = error_of(load_splits, str(path))
    assert "names.csv" in message and "integers 0..C-1" in message
    assert "['cat']" in message or "['dog']" in message


def test_csv_unreadable(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    message = error_of(load_splits, str(path))
    assert "empty.csv" in message and "header row" in message


# --- image folders ------------------------------------------------------------------------


def test_image_folder_grayscale(tmp_path):
    root = write_images(tmp_path / "pets", classes=("dog", "cat", "bird"), size=(5, 4))
    (root / "__MACOSX" / "cat").mkdir(parents=True)  # left by zips made on macOS
    (root / "cat" / "notes.txt").write_text("not an image")
    splits = load_splits(str(root))
    assert splits.class_names == ["bird", "cat", "dog"]  # sorted folder names
    assert splits.input_shape == (4, 5, 1)  # height, width, one channel
    assert len(splits.y_test) == 6 and np.bincount(splits.y_test).tolist() == [2, 2, 2]
    assert splits.name == "pets"


def test_image_folder_rgb_with_train_and_test(tmp_path):
    write_images(tmp_path / "set" / "train", n=6, mode="RGB")
    write_images(tmp_path / "set" / "test", n=2, mode="RGB")
    splits = load_splits(str(tmp_path / "set"), val_fraction=0.5)
    assert splits.input_shape == (4, 5, 3) and splits.class_names == ["cat", "dog"]
    assert len(splits.y_test) == 4 and len(splits.y_train) + len(splits.y_val) == 12


def test_image_folder_sizes_differ(tmp_path):
    from PIL import Image

    root = write_images(tmp_path / "imgs", size=(5, 4))
    Image.new("L", (7, 3)).save(root / "dog" / "odd.png")
    message = error_of(load_splits, str(root))
    assert str(root / "cat" / "0.png") in message and "5x4" in message
    assert str(root / "dog" / "odd.png") in message and "7x3" in message
    assert "--image-size WIDTHxHEIGHT (e.g. --image-size 5x4)" in message


def test_image_folder_of_mixed_sizes_is_resized_on_load_with_image_size(tmp_path):
    from PIL import Image

    root = write_images(tmp_path / "photos", n=6, size=(5, 4), mode="RGB")
    wide = np.zeros((3, 40, 3), dtype=np.uint8)
    wide[:, :20, 0] = 255  # left half red, right half black
    Image.fromarray(wide).save(root / "dog" / "wide.png")
    Image.new("1", (9, 9), 1).save(root / "cat" / "bits.png")  # 1-bit and palette images too
    Image.new("P", (2, 7), 3).save(root / "cat" / "palette.gif")
    splits = load_splits(str(root), image_size="6x3", val_fraction=0.2)
    assert splits.input_shape == (3, 6, 3)  # height, width, channels: stretched to 6 wide, 3 high
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 15
    loaded = get_dataset(str(root), "6x3").load()
    resized = np.asarray(Image.fromarray(wide).resize((6, 3)))
    everything = np.concatenate([loaded.x_train, loaded.x_test])
    assert any(np.array_equal(image, resized) for image in everything)  # PIL's resize, not a crop
    assert resized[:, 0, 0].min() == 255 and resized[:, -1, 0].max() == 0
    assert load_splits(str(root), image_size=4).input_shape == (4, 4, 3)  # one number: a square
    assert load_splits(str(root), image_size="6x3").fingerprint != load_splits(str(root), image_size=4).fingerprint


def test_an_image_folder_reports_each_file_as_it_is_read(tmp_path):
    """Reading thousands of photos takes minutes: the loader says how far it is, file by file."""
    root = write_images(tmp_path / "imgs", n=5)
    write_images(tmp_path / "split" / "train", n=4)
    write_images(tmp_path / "split" / "test", n=2)
    for folder, n in ((root, 10), (tmp_path / "split", 12)):  # with train/ and test/: one count over both
        calls: list[tuple[int, int]] = []
        load_splits(str(folder), progress=lambda done, total, calls=calls: calls.append((done, total)))
        assert calls == [(i, n) for i in range(1, n + 1)]
    arrays = []
    load_splits("digits", subset=50, progress=lambda done, total: arrays.append(done))
    assert arrays == []  # arrays are read in one go


@pytest.mark.parametrize("value", ["0x3", "3x", "x", "32x32x3", "-4", "3.5", "big", ""])
def test_image_size_must_be_positive_width_x_height(tmp_path, value):
    root = write_images(tmp_path / "photos", n=2)
    message = error_of(load_splits, str(root), image_size=value)
    assert "--image-size must be WIDTHxHEIGHT" in message and repr(value) in message


def test_image_size_is_refused_for_arrays_that_have_one_size(tmp_path):
    message = error_of(load_splits, "digits", image_size="16x16")
    assert "'digits' is stored as arrays" in message and "Leave out --image-size" in message
    message = error_of(load_splits, str(write_npz(tmp_path / "a.npz")), image_size=16)
    assert "'a' is stored as arrays" in message


def test_image_folder_corrupt_image(tmp_path):
    root = write_images(tmp_path / "imgs")
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    message = error_of(load_splits, str(root))
    assert "broken.png" in message and "corrupt" in message


def test_image_folder_single_class(tmp_path):
    message = error_of(load_splits, str(write_images(tmp_path / "one", classes=("cat",))))
    assert "one" in message and "at least 2" in message


def test_image_folder_without_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"")
    message = error_of(load_splits, str(tmp_path / "flat"))
    assert "flat" in message and "one sub-folder per class" in message


def test_image_folder_test_class_not_in_train(tmp_path):
    write_images(tmp_path / "s" / "train", classes=("cat", "dog"), n=4)
    write_images(tmp_path / "s" / "test", classes=("cat", "emu"), n=2)
    message = error_of(load_splits, str(tmp_path / "s"))
    assert "emu" in message and "train" in message


# --- mnist / fashion_mnist / cifar10: where they are looked for --------------------------


def test_candidate_paths_order(tmp_path, monkeypatch):
    cache = tmp_path / "keras_home" / "datasets"
    given = tmp_path / "given"
    assert keras_sets.candidate_paths("mnist", given) == [
        given / "mnist.npz",
        given / "mnist" / "mnist.npz",
        given / "mnist",
        given,
        cache / "mnist.npz",
    ]
    monkeypatch.setenv("AUTODL_DATA_DIR", str(tmp_path / "env"))
    fashion = keras_sets.candidate_paths("fashion_mnist")
    assert fashion[0] == tmp_path / "env" / "fashion_mnist.npz"
    assert fashion[-2:] == [cache / "fashion-mnist", tmp_path / "system"]
    assert keras_sets.candidate_paths("mnist", given)[0] == given / "mnist.npz"  # arg wins
    cifar = keras_sets.candidate_paths("cifar10")
    assert cifar[-2:] == [cache / "cifar-10-batches-py-target" / "cifar-10-batches-py", cache / "cifar-10-batches-py"]


def test_mnist_from_keras_cache_via_keras_home(tmp_path):
    write_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz", **arrays(shape=(28, 28), classes=10))
    splits = load_splits("mnist")
    assert splits.name == "mnist" and splits.input_shape == (28, 28, 1)
    assert splits.class_names == [str(d) for d in range(10)]
    assert splits.source == str(tmp_path / "keras_home" / "datasets" / "mnist.npz")


def test_mnist_from_home_keras_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_npz(tmp_path / "home" / ".keras" / "datasets" / "mnist.npz", **arrays(shape=(28, 28), classes=10))
    assert load_splits("mnist").source.startswith(str(tmp_path / "home" / ".keras"))


def test_fashion_mnist_from_data_dir_subfolder(tmp_path):
    write_idx_folder(tmp_path / "data" / "fashion-mnist")
    splits = load_splits("fashion_mnist", data_dir=tmp_path / "data")
    assert splits.class_names == FASHION and splits.input_shape == (28, 28, 1)


def test_fashion_mnist_from_system_folder(tmp_path):
    write_idx_folder(tmp_path / "system")
    splits = load_splits("fashion_mnist")
    assert splits.source == str(tmp_path / "system") and splits.class_names == FASHION


def test_env_data_dir_is_used(tmp_path, monkeypatch):
    write_npz(tmp_path / "env" / "mnist.npz", **arrays(classes=10))
    monkeypatch.setenv("AUTODL_DATA_DIR", str(tmp_path / "env"))
    assert load_splits("mnist").source == str(tmp_path / "env" / "mnist.npz")


@pytest.mark.parametrize("layout", ["cifar-10-batches-py", "cifar-10-batches-py-target/cifar-10-batches-py"])
def test_cifar10_from_keras_cache_pickles(tmp_path, layout):
    write_cifar(tmp_path / "keras_home" / "datasets" / layout)
    splits = load_splits("cifar10")
    assert splits.input_shape == (32, 32, 3) and splits.class_names[0] == "airplane"
    assert len(splits.y_train) + len(splits.y_val) == 50 and len(splits.y_test) == 10
    assert splits.x_train[..., 0].min() == 1.0 and splits.x_train[..., 1:].max() == 0.0


def test_cifar10_from_data_dir_with_numpy2_pickles(tmp_path):
    write_cifar(tmp_path / "d" / "cifar-10-batches-py", style="numpy2")
    assert load_splits("cifar10", data_dir=tmp_path / "d").num_classes == 10


def test_cifar10_corrupt_batch(tmp_path):
    folder = write_cifar(tmp_path / "d" / "cifar-10-batches-py")
    (folder / "data_batch_3").write_bytes(b"\x80\x02}q\x00(")
    message = error_of(load_splits, "cifar10", data_dir=tmp_path / "d")
    assert "data_batch_3" in message and "download and extract" in message


def test_cifar10_pickle_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = write_cifar(tmp_path / "d" / "cifar-10-batches-py")
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    message = error_of(load_splits, "cifar10", data_dir=tmp_path / "d")
    assert "test_batch" in message and "refusing" in message
    assert not marker.exists()


def test_offline_without_files_lists_every_place_looked(tmp_path):
    partial = write_idx_folder(tmp_path / "data" / "mnist")
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    message = error_of(load_splits, "mnist", data_dir=tmp_path / "data")
    for path in keras_sets.candidate_paths("mnist", tmp_path / "data"):
        assert str(path) in message
    assert "missing t10k-labels-idx1-ubyte[.gz]" in message
    assert "AUTODL_OFFLINE" in message and "--data-dir" in message
    assert "AUTODL_DATA_DIR" in message and "mnist.npz" in message


def test_missing_data_dir(tmp_path):
    message = error_of(load_splits, "mnist", data_dir=tmp_path / "typo")
    assert "typo" in message and "does not exist" in message


def test_download_is_the_last_resort(tmp_path, monkeypatch):
    calls = []

    def fake_download(name):
        calls.append(name)
        data = arrays(shape=(32, 32, 3), classes=10)
        return ArrayData(**data, class_names=None, source=f"keras.datasets.{name}")

    monkeypatch.delenv("AUTODL_OFFLINE")
    monkeypatch.setattr(keras_sets, "_download", fake_download)
    splits = load_splits("cifar10")
    assert calls == ["cifar10"] and splits.class_names[-1] == "truck"
    assert splits.source == "keras.datasets.cifar10"


def test_download_failure_is_reported(monkeypatch):
    def failing_download(name):
        raise OSError("Name or service not known")

    monkeypatch.delenv("AUTODL_OFFLINE")
    monkeypatch.setattr(keras_sets, "_download", failing_download)
    message = error_of(load_splits, "fashion_mnist")
    assert "download failed" in message and "Name or service not known" in message
    assert "fashion-mnist" in message and "--data-dir" in message


def test_offline_flag_values(monkeypatch):
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv("AUTODL_OFFLINE", value)
        assert keras_sets.offline() is expected


# ---------------------------------------------------------------- EXIF orientation
def _portrait_folder(tmp_path):
    """Two classes of 2-wide, 4-high images; one is stored as a phone stores a portrait photo:
    4 wide, 2 high, with EXIF orientation 6 (turn a quarter clockwise to show it)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "set" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (4, 2), dtype=np.uint8)).save(tmp_path / "set" / name / f"{i}.png")
    stored = rng.integers(0, 255, (2, 4), dtype=np.uint8)  # height 2, width 4
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "set" / "a" / "phone.png", exif=exif)
    return tmp_path / "set", stored


def test_image_files_are_turned_as_their_exif_orientation_says(tmp_path):
    folder, stored = _portrait_folder(tmp_path)
    x = files.read_image_files([folder / "a" / "phone.png"], (4, 2, 1))
    np.testing.assert_array_equal(np.rint(x[0, :, :, 0] * 255).astype(np.uint8), np.rot90(stored, k=-1))
    splits = load_splits(str(folder))  # every image 2x4 once turned: one size, no --image-size needed
    assert splits.input_shape == (4, 2, 1) and splits.summary()["exif_orientation"] is True
    with pytest.raises(DatasetError, match="Images differ in size"):  # as stored, the phone's is 4x2
        load_splits(str(folder), upright=False)


def test_a_run_started_before_exif_orientation_resumes_on_the_files_as_stored(tmp_path):
    """Its dataset record has no exif_orientation: resume and workers read the files as it did,
    so the fingerprint matches; a run that read them upright goes on upright."""
    from autodl.exceptions import RunError
    from autodl.records import SearchSettings
    from autodl.search.search import load_data

    folder, _ = _portrait_folder(tmp_path)
    settings = SearchSettings(dataset=str(folder), image_size="2x4")
    upright = load_splits(str(folder), image_size="2x4")
    as_stored = load_splits(str(folder), image_size="2x4", upright=False)  # the phone's image stretched
    assert upright.fingerprint != as_stored.fingerprint
    old = {"fingerprint": as_stored.fingerprint}  # an old run.json / search.pkl
    resumed = load_data(settings, expected=old)
    assert resumed.fingerprint == as_stored.fingerprint and resumed.summary()["exif_orientation"] is False
    assert load_data(settings, expected=upright.summary()).fingerprint == upright.fingerprint
    with pytest.raises(RunError, match="not the one this run was started with"):
        load_data(settings, expected={"fingerprint": as_stored.fingerprint, "exif_orientation": True})
