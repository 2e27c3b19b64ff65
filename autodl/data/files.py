"""Datasets given as a path: an ``.npz`` file, a folder of IDX files, a CSV, an image folder.

Each reader checks what it can about the file itself (magic numbers, byte counts, keys,
columns, image sizes) and names the file in its error; checks that hold for every source
(label values, image/label counts, class counts) live in ``autodl.data.splits``.

Longer than 300 lines: the four local file formats (.npz, IDX, CSV, image folders) share their
checks and messages (shapes, labels, what a file must hold); each reader is a small class here.
"""

from __future__ import annotations

import gzip
import logging
import math
import pathlib
import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

from autodl.data.base import ArrayData, BaseDataset, LoadProgress, holdout
from autodl.exceptions import DatasetError

if TYPE_CHECKING:
    import PIL.Image

logger = logging.getLogger(__name__)

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_VAL_KEYS = ("x_val", "y_val")  # optional: a fixed validation split
#: IDX roles -> accepted file names (the official hyphenated one first); each is also
#: accepted with a ``.gz`` suffix.
IDX_NAMES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
IDX_HINT = ", ".join(names[0] + ".gz" for names in IDX_NAMES.values())
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Read the four arrays of an ``.npz`` file (and x_val, y_val if given), refusing pickles."""
    try:  # our own handle: np.load leaks its file when the zip directory is damaged
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DatasetError(
                    f"'{path}' has no array(s) {', '.join(missing)}; it holds "
                    f"{', '.join(archive.files) or 'nothing'}. Save it with "
                    f"numpy.savez('{path.name}', x_train=..., y_train=..., x_test=..., "
                    f"y_test=...)."
                )
            given = [key for key in NPZ_VAL_KEYS if key in archive.files]
            if len(given) == 1:
                other = next(key for key in NPZ_VAL_KEYS if key not in given)
                raise DatasetError(
                    f"'{path}' has {given[0]} but no {other}. A fixed validation split needs "
                    f"both arrays: save x_val and y_val together, or neither to let autodl "
                    f"hold out part of the training data (--val-fraction)."
                )
            return {key: archive[key] for key in NPZ_KEYS + tuple(given)}
    except DatasetError:
        raise
    except Exception as error:  # zipfile.BadZipFile, ValueError (pickle), OSError, EOFError
        raise DatasetError(
            f"Cannot read '{path}' as an .npz archive ({type(error).__name__}: {error}). "
            f"The file may be truncated, corrupt or hold Python objects; re-create it with "
            f"numpy.savez from plain numeric arrays x_train, y_train, x_test, y_test."
        ) from error


def read_idx(path: pathlib.Path) -> np.ndarray:
    """Read one IDX file (gzipped or not, told apart by content) into a native array."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(
            f"Cannot read IDX file '{path}' ({type(error).__name__}: {error}). The file is "
            f"probably truncated or corrupt; download it again."
        ) from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"'{path}' is not an IDX file: it starts with bytes {raw[:4].hex(' ') or '(none)'}"
            f", expected 00 00 <type code> <dimensions> (e.g. 00 00 08 03 for images). "
            f"Check that it is an MNIST-style file and download it again if it is damaged."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DatasetError(
            f"IDX file '{path}' has a truncated header ({len(raw)} bytes for {ndim} "
            f"dimension(s)). Download the file again."
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(
            f"IDX file '{path}' has {len(raw) - header} data bytes but its header declares "
            f"shape {shape}, which needs {expected}. The file is truncated or corrupt; "
            f"download it again."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def find_idx_files(folder: pathlib.Path, *, require_all: bool = True) -> dict[str, pathlib.Path | None]:
    """Map each IDX role to its file in ``folder``; empty if none is there.

    With ``require_all`` the result is empty unless all four files exist, so a caller can
    tell "complete" from "absent"; without it, partly filled folders are returned too.
    """
    found: dict[str, pathlib.Path | None] = {}
    for role, names in IDX_NAMES.items():
        candidates = [folder / f"{name}{ext}" for name in names for ext in (".gz", "")]
        found[role] = next((path for path in candidates if path.is_file()), None)
    present = [path for path in found.values() if path is not None]
    if not present or (require_all and len(present) < len(found)):
        return {}
    return found


def read_idx_folder(folder: pathlib.Path) -> ArrayData:
    """Read the four MNIST-style IDX files of ``folder``."""
    found = find_idx_files(folder, require_all=False)
    missing = [IDX_NAMES[role][0] + "[.gz]" for role, path in found.items() if path is None]
    if not found or missing:
        raise DatasetError(
            f"IDX folder '{folder}' lacks {', '.join(missing) or 'all IDX files'}. "
            f"Put all four files there: {IDX_HINT} (gzipped or not)."
        )
    arrays = {role: read_idx(path) for role, path in found.items() if path is not None}
    for part in ("train", "test"):
        x_path, y_path = found[f"x_{part}"], found[f"y_{part}"]
        if len(arrays[f"x_{part}"]) != len(arrays[f"y_{part}"]):
            raise DatasetError(
                f"'{x_path}' holds {len(arrays[f'x_{part}'])} images but '{y_path}' holds "
                f"{len(arrays[f'y_{part}'])} labels. The two files come from different "
                f"datasets or one is damaged; download both again."
            )
    return ArrayData(**arrays, class_names=None, source=str(folder))


class _PathDataset(BaseDataset):
    """A dataset given by a path; its name is the file's stem or the folder's name."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self.name = self.path.stem if self.path.is_file() else self.path.name


class NpzDataset(_PathDataset):
    """An ``.npz`` file holding x_train, y_train, x_test, y_test (and optionally x_val, y_val)."""

    description = "local .npz file (x_train, y_train, x_test, y_test)"

    def load(self, data_dir: pathlib.Path | None = None, progress: LoadProgress | None = None) -> ArrayData:
        return ArrayData(**load_npz(self.path), class_names=None, source=str(self.path))


class IdxDataset(_PathDataset):
    """A folder of MNIST-style IDX files (the original MNIST / Fashion-MNIST format)."""

    description = "local folder of IDX files"

    def load(self, data_dir: pathlib.Path | None = None, progress: LoadProgress | None = None) -> ArrayData:
        return read_idx_folder(self.path)


class CsvDataset(_PathDataset):
    """A CSV in the course-notebook layout: a ``label`` column, then one column per pixel.

    Images must be square (the pixel count a perfect square). A file whose header is
    missing (every column name a number, as in the popular ``mnist_train.csv``) is read
    with the first column as the label. A CSV has no test split, so a stratified 20% is
    held out as test with the fixed seed ``HOLDOUT_SEED``.
    """

    description = "local CSV file (label column, then pixel columns)"

    def _read(self):  # -> pandas.DataFrame
        import pandas as pd

        try:
            frame = pd.read_csv(self.path)
            columns = [str(column).strip() for column in frame.columns]
            if "label" not in [c.lower() for c in columns] and all(_is_number(c) for c in columns):
                logger.info("%s has no header; using the first column as label", self.path)
                frame = pd.read_csv(self.path, header=None)
                frame.columns = ["label"] + [f"pixel{i}" for i in range(frame.shape[1] - 1)]
            else:
                frame.columns = ["label" if c.lower() == "label" else c for c in columns]
        except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
            raise DatasetError(
                f"Cannot read CSV '{self.path}' ({type(error).__name__}: {error}). Check "
                f"that it is a comma-separated text file with a header row: label, then "
                f"one column per pixel."
            ) from error
        return frame

    def load(self, data_dir: pathlib.Path | None = None, progress: LoadProgress | None = None) -> ArrayData:
        import pandas as pd

        frame = self._read()
        if "label" not in frame.columns:
            raise DatasetError(
                f"CSV '{self.path}' has no 'label' column (its first columns are "
                f"{', '.join(map(str, frame.columns[:5]))}). Rename the column that holds "
                f"the class to 'label'; the other columns must be the pixels."
            )
        if frame.empty:  # a header and no rows: every column reads as text, which is not the problem
            raise DatasetError(
                f"CSV '{self.path}' has a header row but no data rows. Each image is one row: its "
                f"label, then its pixels; check that the file was written completely."
            )
        pixels = frame.drop(columns="label")
        numeric = pd.api.types.is_numeric_dtype
        bad = [str(c) for c in pixels.columns if not numeric(pixels[c].dtype)]
        if bad or pixels.isna().to_numpy().any():
            detail = f"non-numeric column(s) {', '.join(bad[:5])}" if bad else "empty cells"
            raise DatasetError(
                f"CSV '{self.path}' has {detail} among its pixel columns. Every column but "
                f"'label' must hold a number per row; remove other columns and fill gaps."
            )
        side = math.isqrt(pixels.shape[1])
        if pixels.shape[1] == 0 or side * side != pixels.shape[1]:
            raise DatasetError(
                f"CSV '{self.path}' has {pixels.shape[1]} pixel columns, which is not a "
                f"square number, so the image size cannot be inferred. Use one column per "
                f"pixel of a square image (e.g. 784 for 28x28)."
            )
        x = pixels.to_numpy().reshape(len(frame), side, side)
        return holdout(x, frame["label"].to_numpy(), None, str(self.path))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_EXIF_ORIENTATION = 0x0112  # 1: as stored; 2-8: mirrored and/or turned (6: a quarter turn clockwise)


class ImageFolderDataset(_PathDataset):
    """A folder with one sub-folder of images per class; class names are the sub-folders.

    With ``train/`` and ``test/`` sub-folders (each holding the class sub-folders) those are
    the splits; otherwise a stratified 20% is held out as test with the fixed seed
    ``HOLDOUT_SEED``. All images must have the same size, unless ``image_size`` (width,
    height) is given: then each is resized to it as it is read (stretched, not cropped, as
    Keras' ``image_dataset_from_directory`` does). If every image is grayscale the arrays
    have one channel, otherwise all are converted to RGB (alpha is dropped).
    """

    description = "local image folder (one sub-folder per class)"

    def __init__(self, path: pathlib.Path, image_size: tuple[int, int] | None = None, upright: bool = True) -> None:
        super().__init__(path)
        self.image_size = image_size
        self.upright = upright

    def resized(self, size: tuple[int, int]) -> ImageFolderDataset:
        return ImageFolderDataset(self.path, size, self.upright)

    def as_stored(self) -> ImageFolderDataset:
        return ImageFolderDataset(self.path, self.image_size, upright=False)

    def load(self, data_dir: pathlib.Path | None = None, progress: LoadProgress | None = None) -> ArrayData:
        train_dir, test_dir = self.path / "train", self.path / "test"
        if train_dir.is_dir() and test_dir.is_dir():
            class_names = _class_folders(train_dir)
            test_classes = _class_folders(test_dir)
            extra = sorted(set(test_classes) - set(class_names))
            if extra:
                raise DatasetError(
                    f"'{test_dir}' has class folder(s) {', '.join(extra)} that '{train_dir}' "
                    f"lacks. Every test class needs training images; add them to train/ or "
                    f"remove them from test/."
                )
            train_files = _list_images(train_dir, class_names)
            test_files = _list_images(test_dir, test_classes)
            x, y = _read_images(train_files + test_files, class_names, self.image_size, progress, self.upright)
            n = len(train_files)
            return ArrayData(x[:n], y[:n], x[n:], y[n:], class_names, str(self.path))
        class_names = _class_folders(self.path)
        x, y = _read_images(_list_images(self.path, class_names), class_names, self.image_size, progress, self.upright)
        return holdout(x, y, class_names, str(self.path))


def _class_folders(folder: pathlib.Path) -> list[str]:
    names = sorted(
        p.name
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name != "__MACOSX"  # zip debris
    )
    if not names:
        raise DatasetError(
            f"Folder '{folder}' has no class sub-folders and no IDX files. An image "
            f"dataset needs one sub-folder per class (e.g. {folder}/cat/1.png, "
            f"{folder}/dog/2.png), optionally inside train/ and test/."
        )
    return names


def _list_images(folder: pathlib.Path, class_names: list[str]) -> list[tuple[pathlib.Path, str]]:
    files = []
    for name in class_names:
        images = _images_in(folder / name)
        if not images:
            raise DatasetError(
                f"Class folder '{folder / name}' holds no images (looked for "
                f"{', '.join(sorted(IMAGE_SUFFIXES))}). Add images or remove the folder."
            )
        files.extend((path, name) for path in images)
    return files


def _images_in(folder: pathlib.Path) -> list[pathlib.Path]:
    """The image files anywhere under ``folder``, sorted; hidden files (``._x.png``) left out."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def _read_images(
    files: list[tuple[pathlib.Path, str]],
    class_names: list[str],
    size: tuple[int, int] | None = None,
    progress: LoadProgress | None = None,
    upright: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    images = _open_images([path for path, _ in files], size, progress, upright)
    first = files[0][0], images[0].size
    for (path, _), image in zip(files, images):
        if image.size != first[1]:
            raise DatasetError(
                f"Images differ in size: '{first[0]}' is {first[1][0]}x{first[1][1]} but "
                f"'{path}' is {image.size[0]}x{image.size[1]} (width x height). Have them "
                f"resized as they are read with --image-size WIDTHxHEIGHT (e.g. --image-size "
                f"{first[1][0]}x{first[1][1]}), or resize the files to one size first."
            )
    gray = all(image.mode in {"1", "L", "LA", "I", "I;16", "F"} for image in images)
    x = _pixels(images, "L" if gray else "RGB")
    index = {name: i for i, name in enumerate(class_names)}
    y = np.array([index[name] for _, name in files], dtype=np.int64)
    return x, y


def read_image_files(
    paths: list[pathlib.Path], input_shape: tuple[int, ...], progress: LoadProgress | None = None, upright: bool = True
) -> np.ndarray:
    """Image files as a model trained by autodl takes them: turned upright as their EXIF
    orientation says (unless ``upright`` is false, for runs that trained on files as stored,
    before autodl applied it), resized to ``input_shape`` (height, width, channels), gray or
    RGB, pixels scaled from 0..255 to [0, 1]. ``progress`` gets (files read, files) as they
    are read.

    Raises:
        DatasetError: a file is not a readable image, or the shape is not an image's.
    """
    if len(input_shape) != 3 or input_shape[2] not in (1, 3):
        raise DatasetError(
            f"A model with input shape {tuple(input_shape)} does not take image files: it needs "
            f"(height, width, 1 or 3 channels). Give it arrays of that shape instead."
        )
    height, width, channels = input_shape
    images = _open_images(paths, (width, height), progress, upright)
    x = _pixels(images, "L" if channels == 1 else "RGB").reshape(len(images), height, width, channels)
    return x.astype(np.float32) / np.float32(255.0)


def image_files(paths: list[str | pathlib.Path]) -> list[pathlib.Path]:
    """The given files, with each folder replaced by the images in it (sorted, sub-folders too).

    Raises:
        DatasetError: a path does not exist, or a folder holds no image.
    """
    found: list[pathlib.Path] = []
    for text in paths:
        path = pathlib.Path(text).expanduser()
        if path.is_dir():
            images = _images_in(path)
            if not images:
                raise DatasetError(
                    f"Folder '{path}' holds no images (looked for "
                    f"{', '.join(sorted(IMAGE_SUFFIXES))}). Give image files or a folder of them."
                )
            found.extend(images)
        elif path.is_file():
            found.append(path)
        else:
            raise DatasetError(
                f"Image '{path}' does not exist (resolved to '{path.resolve()}'). Check the "
                f"spelling and the working directory."
            )
    return found


def _open_images(
    paths: list[pathlib.Path], size: tuple[int, int] | None, progress: LoadProgress | None, upright: bool = True
) -> list[PIL.Image.Image]:
    images = []
    for path in paths:
        images.append(_open_image(path, size, upright))
        if progress is not None:
            progress(len(images), len(paths))
    return images


def _open_image(path: pathlib.Path, size: tuple[int, int] | None, upright: bool = True) -> PIL.Image.Image:
    """One image file, read whole, turned as its EXIF orientation says (a phone stores a
    portrait photo as a landscape one plus that tag), and resized to ``size`` (width x
    height) if given."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1) if upright else 1
            if size is not None:  # JPEG: decode at the smallest scale >= size, 2-8x faster
                image.draft(None, size[::-1] if orientation in (5, 6, 7, 8) else size)  # 5-8: a quarter turn
            image.load()
            if orientation in range(2, 9):
                image = ImageOps.exif_transpose(image)
            return image.copy() if size is None else _resize(image, size)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DatasetError(
            f"Cannot read image '{path}' ({type(error).__name__}: {error}). Replace or "
            f"delete the file; it is corrupt, truncated or not an image."
        ) from error


def _pixels(images: list[PIL.Image.Image], mode: str) -> np.ndarray:
    """Images of one size as uint8 (N, height, width) for ``"L"``, (N, height, width, 3) for ``"RGB"``."""
    if any(image.mode in {"I", "I;16", "F"} for image in images):
        logger.warning("16-bit or float images are converted to 8-bit and may be clipped")
    return np.stack([np.asarray(image.convert(mode), dtype=np.uint8) for image in images])


def _resize(image: PIL.Image.Image, size: tuple[int, int]) -> PIL.Image.Image:
    """Resize with PIL's default (bicubic, antialiased when shrinking); palette and 1-bit
    images are converted first, since PIL resizes those only by nearest neighbour."""
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    elif image.mode == "1":
        image = image.convert("L")
    return image.resize(size)
