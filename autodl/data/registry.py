"""The dataset registry: names (``digits``, ``mnist``, ...) and paths to the dataset that reads them.

It sits apart from ``base`` (the dataset classes' parent) so that the base never imports
its own subclasses: this module imports every reader, and nothing below it imports this.
"""

from __future__ import annotations

import os
import pathlib

from autodl.data import files
from autodl.data.base import PATH_FORMS, BaseDataset, parse_image_size
from autodl.data.digits import DigitsDataset
from autodl.data.keras_sets import Cifar10Dataset, FashionMnistDataset, MnistDataset
from autodl.exceptions import DatasetError


def _registry() -> dict[str, type[BaseDataset]]:
    """Registered names -> classes."""
    classes = (DigitsDataset, MnistDataset, FashionMnistDataset, Cifar10Dataset)
    return {cls.name: cls for cls in classes}


def list_datasets() -> list[tuple[str, str]]:
    """Return ``(name, description)`` of every registered dataset, sorted by name."""
    return sorted((name, cls.description) for name, cls in _registry().items())


def _looks_like_path(text: str) -> bool:
    suffix = pathlib.PurePath(text).suffix.lower()
    return "/" in text or os.sep in text or text.startswith((".", "~")) or suffix in {".npz", ".csv", ".gz"}


def get_dataset(name_or_path: str, image_size: str | int | None = None) -> BaseDataset:
    """Return the dataset for a registry name or a path to local files.

    Registry names win over a same-named folder in the working directory; write
    ``./mnist`` to mean the folder. ``image_size`` (``"WIDTHxHEIGHT"``) makes an image
    folder resize its images as it reads them, so photos of mixed sizes can be searched.

    Raises:
        DatasetError: the name is unknown and no such path exists, or the path holds
            nothing autodl can read; or ``image_size`` is malformed or given for arrays.
    """
    dataset = _find_dataset(name_or_path)
    return dataset if image_size is None else dataset.resized(parse_image_size(image_size))


def _find_dataset(name_or_path: str) -> BaseDataset:
    text = str(name_or_path).strip()
    registry = _registry()
    key = text.lower().replace("-", "_")
    if key in registry:
        return registry[key]()
    path = pathlib.Path(text).expanduser()
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return files.NpzDataset(path)
        if suffix == ".csv":
            return files.CsvDataset(path)
        raise DatasetError(
            f"Dataset file '{path}' has suffix '{path.suffix}', which autodl cannot read. "
            f"Give a known name ({', '.join(sorted(registry))}) or a path: {PATH_FORMS}."
        )
    if path.is_dir():
        if files.find_idx_files(path, require_all=False):
            return files.IdxDataset(path)
        return files.ImageFolderDataset(path)
    if _looks_like_path(text):
        raise DatasetError(
            f"Dataset path '{text}' does not exist (resolved to '{path.resolve()}'). "
            f"Check the spelling and the working directory, or use a known name: "
            f"{', '.join(sorted(registry))}."
        )
    raise DatasetError(
        f"Unknown dataset '{text}'. Known names: {', '.join(sorted(registry))}. "
        f"Or give a path to local files: {PATH_FORMS}."
    )
