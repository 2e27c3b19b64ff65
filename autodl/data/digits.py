"""scikit-learn's 8x8 handwritten digits: bundled with scikit-learn, so always offline."""

from __future__ import annotations

import pathlib

import numpy as np

from autodl.data.base import ArrayData, BaseDataset, LoadProgress, holdout


class DigitsDataset(BaseDataset):
    """1,797 8x8 grayscale digits, values 0..16, ten classes "0".."9".

    The set has no official test split, so a stratified 20% is held out with the fixed seed
    ``HOLDOUT_SEED``: every run, whatever its search seed, is scored on the same images.
    """

    name = "digits"
    description = "scikit-learn 8x8 handwritten digits (1,797 images, 10 classes, offline)"

    def load(self, data_dir: pathlib.Path | None = None, progress: LoadProgress | None = None) -> ArrayData:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = bunch.images.astype(np.uint8)  # integers 0..16 stored as float64
        y = bunch.target.astype(np.int64)
        names = [str(digit) for digit in range(10)]
        return holdout(x, y, names, source="scikit-learn", max_value=16.0)
