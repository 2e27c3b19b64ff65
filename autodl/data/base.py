"""The dataset plug-in family: ``BaseDataset``, the raw ``ArrayData`` it returns, and lookup.

A dataset is named either by a registry name (``digits``, ``mnist``, ...) or by a path to
local files; ``get_dataset`` turns both into a ``BaseDataset`` whose ``load`` returns the
arrays exactly as stored. Scaling, label remapping and splitting happen later, in
``autodl.data.splits``, so every source is treated the same way.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from autodl.exceptions import DatasetError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

#: Seed of the fixed train/test hold-out for sources that ship without a test split
#: (digits, a single CSV, an image folder without ``train/``/``test/``). It does not follow
#: the search seed on purpose: runs with different seeds are then scored on the same test
#: images, and the dataset fingerprint stays the same.
HOLDOUT_SEED = 0
#: Fraction held out as the test split for such sources.
HOLDOUT_FRACTION = 0.2

PATH_FORMS = (
    "an .npz file with arrays x_train, y_train, x_test, y_test; "
    "a folder of IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, gzipped or not); "
    "a .csv file with a 'label' column then one column per pixel; "
    "or an image folder with one sub-folder per class (optionally inside train/ and test/)"
)


@dataclasses.dataclass(frozen=True)
class ArrayData:
    """Arrays as a source stores them, before any splitting or scaling.

    ``max_value`` is the pixel value that means full intensity when the dtype alone does
    not say it (16 for scikit-learn's digits); ``None`` lets ``load_splits`` infer it.
    ``x_val``/``y_val`` are a fixed validation split when the source has one; without it
    ``load_splits`` holds out a stratified share of the training data.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] | None
    source: str
    max_value: float | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


LoadProgress = Callable[[int, int], None]


class BaseDataset(abc.ABC):
    """One source of labelled images; subclasses set ``name`` and ``description``."""

    name: str = ""
    description: str = ""

    @abc.abstractmethod
    def load(self, data_dir: pathlib.Path | None = None, progress: LoadProgress | None = None) -> ArrayData:
        """Read the raw arrays; ``data_dir`` is where to look first for downloadable sets.

        A source read file by file (an image folder) calls ``progress(files read, files)``
        as it goes: reading thousands of photos takes minutes.

        Raises:
            DatasetError: the files are missing, unreadable or inconsistent.
        """

    def resized(self, size: tuple[int, int]) -> BaseDataset:
        """This source, reading every image at ``size`` (width, height).

        Only image files can be resized as they are read: other sources store arrays that
        already share one size, so they refuse.
        """
        raise DatasetError(
            f"--image-size resizes the files of an image folder, but {self.name!r} "
            f"is stored as arrays of one size already. Leave out --image-size, or resize the "
            f"arrays before saving them."
        )

    def as_stored(self) -> BaseDataset:
        """This source as autodl read it before it applied EXIF orientation, so that runs started
        then resume on the same arrays. Only image files have an orientation: arrays are unchanged."""
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


#: The largest side --image-size resizes to; larger images do not fit a search's memory.
MAX_IMAGE_SIDE = 1024


def parse_image_size(value: str | int) -> tuple[int, int]:
    """``"64x48"`` -> (64, 48) as (width, height), the order image tools write; ``"32"`` -> (32, 32).

    Raises:
        DatasetError: not one or two positive whole numbers.
    """
    parts = str(value).strip().lower().split("x")
    if len(parts) in (1, 2) and all(
        part.strip().isdecimal() and len(part.strip()) < 10 and int(part) > 0 for part in parts
    ):
        sides = [int(part) for part in parts]
        width, height = sides if len(sides) == 2 else sides * 2
        if max(width, height) > MAX_IMAGE_SIDE:
            raise DatasetError(
                f"--image-size {width}x{height} is larger than autodl resizes to: at most {MAX_IMAGE_SIDE} pixels a "
                f"side (one {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} colour image is {MAX_IMAGE_SIDE**2 * 12 // 2**20} MB "
                "as the floats a network trains on, and a search holds every image in memory). Small-image "
                "classifiers train on 32x32 to 224x224; give a size in that range."
            )
        return width, height
    raise DatasetError(
        f"--image-size must be WIDTHxHEIGHT in pixels, like 64x48, or one number for a square, like 32; got {value!r}."
    )


def stratified_indices(labels: np.ndarray, test_size: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(len(labels))`` into shuffled (keep, held-out) indices, stratified if possible.

    Stratification needs every class twice and at least one held-out sample per class;
    when the data are too small for that, the split falls back to a plain seeded shuffle
    (logged), because a slightly unbalanced split is better than refusing small data.

    Raises:
        DatasetError: the requested sizes leave one side empty.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    try:
        keep, held = train_test_split(index, test_size=test_size, random_state=seed, stratify=labels)
    except (ValueError, TypeError) as stratify_error:
        logger.info("Unstratified split (%s)", stratify_error)
        try:
            keep, held = train_test_split(index, test_size=test_size, random_state=seed, stratify=None)
        except ValueError as error:
            raise DatasetError(
                f"Cannot split {len(labels)} examples with a held-out size of {test_size}: "
                f"{error} Use more data, or a larger subset / different val_fraction."
            ) from error
    return keep, held


def holdout(
    x: np.ndarray,
    y: np.ndarray,
    class_names: list[str] | None,
    source: str,
    max_value: float | None = None,
) -> ArrayData:
    """``ArrayData`` for a source without a test split: a stratified 20% becomes the test.

    The hold-out uses the fixed ``HOLDOUT_SEED``, so it is the same for every run.
    """
    train, test = stratified_indices(y, HOLDOUT_FRACTION, HOLDOUT_SEED)
    return ArrayData(x[train], y[train], x[test], y[test], class_names, source, max_value)
