"""Turn any source's raw arrays into train/validation/test splits a Keras model can eat.

``load_splits`` is the one entry point the rest of autodl uses. It loads the raw data
once, fingerprints it (so ``resume`` can refuse a different dataset), checks it, maps the
labels to 0..C-1, optionally takes a stratified subset, carves the validation split out of
the training data only (or takes the source's fixed one), and scales pixels to float32 in [0, 1] with a channel axis. The
test split is only ever subsampled (by ``subset``), never used to choose anything.

Longer than 300 lines: the split's every rule (stratified, seeded, a subset, an npz's own validation
split, the fingerprint a resume checks) is one contract, tested as one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from autodl.data.base import ArrayData, LoadProgress, stratified_indices
from autodl.data.registry import get_dataset
from autodl.exceptions import DatasetError

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class DataSplits:
    """The three splits, ready for ``model.fit``: x float32 NHWC in [0, 1], y int32 0..C-1."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: list[str]
    name: str
    source: str
    fingerprint: str
    upright: bool = True  # image files were turned as their EXIF orientation says

    def summary(self) -> dict[str, Any]:
        """A JSON-able description for ``run.json`` and the report (no arrays)."""
        return {
            "name": self.name,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "fingerprint": self.fingerprint,
            "exif_orientation": self.upright,  # absent in runs started before autodl applied it
        }


def fingerprint(raw: ArrayData) -> str:
    """SHA-256 over the raw train, test (and fixed validation) arrays, in a fixed order."""
    digest = hashlib.sha256()
    arrays = [raw.x_train, raw.y_train, raw.x_test, raw.y_test]
    if raw.x_val is not None:
        arrays += [raw.x_val, raw.y_val]
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def load_splits(
    name_or_path: str,
    *,
    data_dir: str | pathlib.Path | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    subset: int | None = None,
    image_size: str | int | None = None,
    progress: LoadProgress | None = None,
    upright: bool = True,
) -> DataSplits:
    """Load a dataset by name or path and return seeded, stratified, scaled splits.

    Args:
        name_or_path: a registry name (see ``list_datasets``) or a path to local files.
        data_dir: where to look first for the files of downloadable sets (mnist, ...).
        val_fraction: share of the training data held out for validation, in (0, 1);
            unused when the source has a fixed validation split (``x_val`` in an .npz).
        seed: seeds the subset and the validation split; the same seed gives the same
            splits.
        subset: keep only this many training examples (stratified, before the validation
            split) and at most this many test examples, for quick runs; at least two per
            class.
        image_size: ``"WIDTHxHEIGHT"`` (or one number for a square): an image folder's
            images are resized to it as they are read; refused for array sources.
        progress: called with (files read, files) as an image folder is read.
        upright: turn image files as their EXIF orientation says; false reads them as
            stored, as autodl did before (to resume the runs it started then).

    Raises:
        DatasetError: the data cannot be found or read, or is inconsistent, or an
            argument is out of range.
    """
    try:
        fraction = float(val_fraction)
    except (TypeError, ValueError):
        fraction = math.nan
    if isinstance(val_fraction, bool) or not 0.0 < fraction < 1.0:
        raise DatasetError(
            f"val_fraction must be a number strictly between 0 and 1, got {val_fraction!r}. "
            f"Use e.g. 0.1 to hold out 10% of the training data for validation."
        )
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32
    ):
        raise DatasetError(
            f"seed must be a whole number from 0 to {2**32 - 1}, got {seed!r}: it seeds the "
            "subset and the validation split (the same seed, the same splits)."
        )
    dataset = get_dataset(name_or_path, image_size)
    if not upright:
        dataset = dataset.as_stored()
    folder = pathlib.Path(data_dir).expanduser() if data_dir is not None else None
    raw = dataset.load(folder, progress)
    x = {"train": _to_nhwc(raw.x_train, "x_train", raw.source), "test": _to_nhwc(raw.x_test, "x_test", raw.source)}
    if raw.x_val is not None:
        x["val"] = _to_nhwc(raw.x_val, "x_val", raw.source)
    labels = {"train": raw.y_train, "test": raw.y_test, "val": raw.y_val}
    _check_shapes(x, labels, raw.source)
    for part, images in x.items():
        _check_finite(images, f"x_{part}", raw.source)
    y, class_names = _encode_labels(raw)
    digest = fingerprint(raw)  # after the checks: they reject arrays it cannot hash
    num_classes = len(class_names)
    scale = _scaler(x["train"], raw.max_value, raw.source)

    _warn_small_classes(y["train"], class_names, raw.source)
    index = {part: np.arange(len(y[part])) for part in x}
    if subset is not None:
        _check_subset(subset, num_classes, raw.source)
        if subset >= len(y["train"]):
            logger.warning(
                "subset=%d keeps all of the %d training images of '%s': the subset is not smaller "
                "than the data, so the search uses them all",
                subset,
                len(y["train"]),
                raw.source,
            )
        for part in index:
            if subset < len(y[part]):
                index[part], _ = stratified_indices(y[part], len(y[part]) - subset, seed)
    if "val" in x:
        logger.info("%s has a fixed validation split; val_fraction is not used", raw.source)
        x_val, y_val = x["val"][index["val"]], y["val"][index["val"]]
        fit_index = index["train"]
    else:
        fit_index, val_index = stratified_indices(y["train"][index["train"]], fraction, seed)
        fit_index, val_index = index["train"][fit_index], index["train"][val_index]
        x_val, y_val = x["train"][val_index], y["train"][val_index]
    x_train, y_train = x["train"], y["train"]
    x_test, y_test, test_index = x["test"], y["test"], index["test"]

    splits = DataSplits(
        x_train=scale(x_train[fit_index]),
        y_train=y_train[fit_index],
        x_val=scale(x_val),
        y_val=y_val,
        x_test=scale(x_test[test_index]),
        y_test=y_test[test_index],
        input_shape=tuple(int(d) for d in x_train.shape[1:]),
        num_classes=num_classes,
        class_names=class_names,
        name=dataset.name,
        source=raw.source,
        fingerprint=digest,
        upright=upright,
    )
    logger.info(
        "Dataset %s: %d train, %d val, %d test, shape %s, %d classes",
        splits.name,
        len(splits.y_train),
        len(splits.y_val),
        len(splits.y_test),
        splits.input_shape,
        num_classes,
    )
    return splits


def _to_nhwc(x: np.ndarray, key: str, source: str) -> np.ndarray:
    """Bring images to (N, H, W, C): add a channel axis, unflatten square rows, move C last."""
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DatasetError(
            f"{key} in '{source}' has dtype {x.dtype}, not numbers. Store the images as a "
            f"numeric array (uint8 0..255 or float 0..1)."
        )
    if x.ndim == 2:  # flattened rows, as in many course notebooks
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise DatasetError(
                f"{key} in '{source}' has shape {x.shape}: flat rows of {x.shape[1]} values, "
                f"not a square image. Reshape it to (N, height, width[, channels])."
            )
        x = x.reshape(len(x), side, side)
    if x.ndim == 3:
        return x[..., np.newaxis]
    if x.ndim == 4:
        if x.shape[1] in (1, 3, 4) and x.shape[3] not in (1, 3, 4):
            logger.info("%s in %s looks channels-first %s; moving channels last", key, source, x.shape)
            return np.moveaxis(x, 1, 3)
        return x
    raise DatasetError(
        f"{key} in '{source}' has shape {x.shape}; expected images shaped (N, height, width) "
        f"or (N, height, width, channels). Reshape the array before saving it."
    )


def _check_shapes(x: dict[str, np.ndarray], y: dict[str, Any], source: str) -> None:
    for part, images in x.items():
        if len(images) != len(y[part]):
            raise DatasetError(
                f"'{source}' has {len(images)} {part} images but {len(y[part])} {part} labels. "
                f"Each image needs exactly one label; check that the files belong together."
            )
        if len(images) == 0:
            raise DatasetError(f"'{source}' has no {part} images. Provide at least a few per class.")
        if images.shape[1:] != x["train"].shape[1:]:
            raise DatasetError(
                f"'{source}' has train images of shape {x['train'].shape[1:]} but {part} images "
                f"of shape {images.shape[1:]}. All splits must use one image size and channel "
                f"count."
            )


def _warn_small_classes(y: np.ndarray, class_names: list[str], source: str) -> None:
    """A class of one training image trains from one example and may be missing from validation."""
    counts = np.bincount(y, minlength=len(class_names))
    single = [str(class_names[i]) for i in np.flatnonzero(counts == 1)]
    if single:
        logger.warning(
            "'%s': class%s %s %s a single training image: the model learns %s from one example and "
            "the validation split may not hold %s at all. Add images, or remove the class",
            source,
            "es" if len(single) > 1 else "",
            ", ".join(single[:10]),
            "have" if len(single) > 1 else "has",
            "them" if len(single) > 1 else "it",
            "them" if len(single) > 1 else "it",
        )


def _check_subset(subset: object, num_classes: int, source: str) -> None:
    if isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or (subset < 2 * num_classes):
        raise DatasetError(
            f"subset={subset!r} is too small for '{source}', which has {num_classes} "
            f"classes: a subset needs an integer of at least 2 per class "
            f"({2 * num_classes}). Raise subset, or leave it unset to use all the data."
        )


def _integer_labels(y: np.ndarray, key: str, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all():
        logger.info("%s in %s is one-hot; converting to class indices", key, source)
        y = y.argmax(axis=1)
    if y.ndim > 1 and y.size == len(y):
        y = y.reshape(len(y))
    bad = None
    if y.ndim != 1:
        bad = f"has shape {y.shape}"
    elif y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        bad = f"has dtype {y.dtype} (e.g. {y[:1].tolist()})"
    elif not np.issubdtype(y.dtype, np.integer):
        fractional = y[~np.isfinite(y) | (y != np.round(y))]
        if fractional.size:
            bad = f"holds non-integer value {fractional[0]!r}"
    if bad:
        raise DatasetError(
            f"Labels {key} in '{source}' {bad}. Labels must be one integer class index per "
            f"image, shaped (N,); convert names or one-hot rows to integers 0..C-1."
        )
    return y.astype(np.int64)


def _encode_labels(raw: ArrayData) -> tuple[dict[str, np.ndarray], list[str]]:
    """Map labels to 0..C-1 (int32) per split, keeping each class's name attached to it."""
    given = {"train": raw.y_train, "test": raw.y_test}
    if raw.y_val is not None:
        given["val"] = raw.y_val
    y = {part: _integer_labels(labels, f"y_{part}", raw.source) for part, labels in given.items()}
    values = np.unique(y["train"])
    for part, name in (("test", "Test"), ("val", "Validation")):
        unseen = np.setdiff1d(np.unique(y[part]), values) if part in y else np.array([])
        if unseen.size:
            raise DatasetError(
                f"{name} labels in '{raw.source}' include {unseen[:5].tolist()}, which never "
                f"occur in the training labels; the model could not learn them. Add training "
                f"examples of those classes or drop them from the {part} data."
            )
    if len(values) < 2:
        raise DatasetError(
            f"'{raw.source}' has {len(values)} class(es) ({values.tolist()}) in its training "
            f"labels; classification needs at least 2. Check the label column/array."
        )
    names = raw.class_names
    if names is not None and (values[0] < 0 or values[-1] >= len(names)):
        raise DatasetError(
            f"Labels in '{raw.source}' run from {values[0]} to {values[-1]} but the dataset "
            f"names {len(names)} classes ({', '.join(names[:5])}...). The labels do not "
            f"match the class list; check the label files."
        )
    class_names = [names[v] if names is not None else str(v) for v in values]
    if not np.array_equal(values, np.arange(len(values))):
        logger.info("Labels %s remapped to 0..%d", values[:10].tolist(), len(values) - 1)
    encoded = {part: np.searchsorted(values, labels).astype(np.int32) for part, labels in y.items()}
    return encoded, class_names


def _check_finite(x: np.ndarray, key: str, source: str) -> None:
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DatasetError(
            f"{key} in '{source}' contains NaN or infinite values. Clean the data (every "
            f"pixel must be a finite number) and try again."
        )


def _scaler(x_train: np.ndarray, max_value: float | None, source: str) -> Callable[[np.ndarray], np.ndarray]:
    """Choose how to map pixels to [0, 1] from the training data alone."""
    low, high = (float(x_train.min()), float(x_train.max())) if x_train.size else (0.0, 1.0)
    if max_value is not None:
        low, high, how = 0.0, float(max_value), f"/ {max_value:g}"
    elif x_train.dtype == bool or (np.issubdtype(x_train.dtype, np.floating) and low >= 0.0 and high <= 1.0):
        low, high, how = 0.0, 1.0, "kept"
    elif np.issubdtype(x_train.dtype, np.integer) and low >= 0 and high <= 255:
        low, high, how = 0.0, 255.0, "/ 255"
    else:
        logger.warning(
            "Pixels in %s range over [%g, %g], not 0..255 or 0..1; min-max scaling them to "
            "[0, 1] with the training range (test values are clipped)",
            source,
            low,
            high,
        )
        how = "min-max"
    span = (high - low) or 1.0
    logger.debug("Pixel scaling for %s: %s", source, how)

    def scale(x: np.ndarray) -> np.ndarray:
        out = (x.astype(np.float32) - np.float32(low)) / np.float32(span)
        return np.clip(out, 0.0, 1.0, out=out)

    return scale
