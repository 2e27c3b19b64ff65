"""The run's data, loaded and split once per search (or per resume), and checked against the
fingerprint the run recorded, so a resume never mixes trials of different data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autodl.exceptions import RunError
from autodl.records import SearchSettings


def load_data(
    settings: SearchSettings, expected: dict[str, Any] | None = None, progress: Callable[[int, int], None] | None = None
) -> Any:
    """Load and split the dataset once per search; refuse data that differs from ``expected``.

    ``progress`` gets (files read, files) while an image folder is read.
    """
    from autodl.data import load_splits

    # A run started before autodl applied EXIF orientation read image files as stored: it goes on so.
    upright = expected is None or bool(expected.get("exif_orientation"))
    splits = load_splits(
        settings.dataset,
        data_dir=settings.data_dir,
        val_fraction=settings.val_fraction,
        seed=settings.seed or 0,
        subset=settings.subset,
        image_size=settings.image_size,
        progress=progress,
        upright=upright,
    )
    if expected and expected.get("fingerprint") != splits.fingerprint:
        raise RunError(
            f"the dataset {settings.dataset!r} is not the one this run was started with (its contents "
            f"differ: fingerprint {splits.fingerprint[:12]} != {str(expected.get('fingerprint'))[:12]}). "
            "Resuming on other data would mix incomparable trials; start a new search instead"
        )
    return splits
