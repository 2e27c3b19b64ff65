"""Datasets: find, read and split labelled images for the search.

``load_splits(name_or_path)`` is what the rest of autodl calls; ``get_dataset`` and
``list_datasets`` expose the registry (``digits``, ``mnist``, ``fashion_mnist``,
``cifar10``) and the local-file readers (.npz, IDX folder, CSV, image folder).
"""

from __future__ import annotations

from autodl.data.base import ArrayData, BaseDataset, parse_image_size
from autodl.data.registry import get_dataset, list_datasets
from autodl.data.splits import DataSplits, load_splits

__all__ = [
    "ArrayData",
    "BaseDataset",
    "DataSplits",
    "get_dataset",
    "list_datasets",
    "load_splits",
    "parse_image_size",
]
