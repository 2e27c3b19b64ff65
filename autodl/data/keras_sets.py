"""MNIST, Fashion-MNIST and CIFAR-10: local files first, Keras' download last.

Lab machines are often offline, so ``load`` looks for files in a fixed order before it lets
Keras download anything: the ``data_dir`` argument (else ``$AUTODL_DATA_DIR``), Keras' own
cache (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``), then system packages (Debian's
``dataset-fashion-mnist``). ``candidate_paths`` returns that order so it can be tested and
shown to the user. ``AUTODL_OFFLINE=1`` skips the download, so tests never touch the network.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import pickle

import numpy as np

from autodl.data.base import ArrayData, BaseDataset, LoadProgress
from autodl.data.files import IDX_HINT, IDX_NAMES, find_idx_files, load_npz, read_idx_folder
from autodl.exceptions import DatasetError

logger = logging.getLogger(__name__)

ENV_DATA_DIR = "AUTODL_DATA_DIR"
ENV_OFFLINE = "AUTODL_OFFLINE"
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
#: Folders that operating-system packages install datasets into, tried after Keras' cache.
SYSTEM_PATHS: dict[str, tuple[pathlib.Path, ...]] = {
    "fashion_mnist": (pathlib.Path("/usr/share/datasets/fashion-mnist"),),
}


@dataclasses.dataclass(frozen=True)
class _Spec:
    folders: tuple[str, ...]  # sub-folder names accepted inside the data folder
    keras_paths: tuple[str, ...]  # relative to Keras' datasets cache folder
    file_format: str  # "idx" or "cifar": what a candidate folder holds


_SPECS = {
    "mnist": _Spec(("mnist",), ("mnist.npz",), "idx"),
    "fashion_mnist": _Spec(("fashion_mnist", "fashion-mnist"), ("fashion-mnist",), "idx"),
    "cifar10": _Spec(
        ("cifar10", "cifar-10"),
        (f"cifar-10-batches-py-target/{CIFAR_FOLDER}", CIFAR_FOLDER),  # Keras 3, Keras 2
        "cifar",
    ),
}


def offline() -> bool:
    """True when ``$AUTODL_OFFLINE`` forbids downloads (1, true, yes or on)."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def keras_cache_dir() -> pathlib.Path:
    """Keras' download cache, resolved the way Keras does (``$KERAS_HOME``, else ``~/.keras``)."""
    if os.environ.get("KERAS_HOME"):
        base = pathlib.Path(os.environ["KERAS_HOME"]).expanduser()
    else:
        home = pathlib.Path.home()
        base = home / ".keras" if os.access(home, os.W_OK) else pathlib.Path("/tmp/.keras")
    return base / "datasets"


def data_folder(data_dir: str | pathlib.Path | None = None) -> pathlib.Path | None:
    """The user's data folder: ``data_dir`` if given, else ``$AUTODL_DATA_DIR``, else None."""
    chosen = data_dir if data_dir is not None else os.environ.get(ENV_DATA_DIR) or None
    return pathlib.Path(chosen).expanduser() if chosen is not None else None


def candidate_paths(name: str, data_dir: str | pathlib.Path | None = None) -> list[pathlib.Path]:
    """Every place ``name`` is looked for, in order: ``.npz`` files or folders of files.

    A folder candidate holds IDX files (mnist, fashion_mnist) or CIFAR pickles (cifar10).
    """
    spec = _SPECS[name]
    paths: list[pathlib.Path] = []
    folder = data_folder(data_dir)
    if folder is not None:
        subfolders = [folder / sub for sub in spec.folders]
        paths.append(folder / f"{name}.npz")
        paths.extend(sub / f"{name}.npz" for sub in subfolders)
        for base in [*subfolders, folder]:
            if spec.file_format == "cifar":
                paths.append(base / CIFAR_FOLDER)
            paths.append(base)
    cache = keras_cache_dir()
    paths.extend(cache / relative for relative in spec.keras_paths)
    paths.extend(SYSTEM_PATHS.get(name, ()))
    return list(dict.fromkeys(paths))


def _problem(path: pathlib.Path, file_format: str) -> str | None:
    """Why ``path`` cannot be used (a short phrase), or None when it looks complete."""
    if path.suffix == ".npz":
        return None if path.is_file() else "not found"
    if not path.is_dir():
        return "not found"
    if file_format == "idx":
        found = find_idx_files(path, require_all=False)
        missing = [IDX_NAMES[role][0] for role, file in found.items() if file is None]
        if not found:
            return "no IDX files"
        return f"missing {', '.join(missing)}[.gz]" if missing else None
    missing = [file for file in CIFAR_FILES if not (path / file).is_file()]
    if len(missing) == len(CIFAR_FILES):
        return "no CIFAR batch files"
    return f"missing {', '.join(missing)}" if missing else None


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR batches need (numpy arrays), so a file cannot run code."""

    _allowed = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str):
        module = module.replace("numpy.core.", "numpy._core.", 1)
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = _RestrictedUnpickler(handle, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"])
    except Exception as error:  # unpickling raises many types on corrupt input
        raise DatasetError(
            f"Cannot read CIFAR batch '{path}' ({type(error).__name__}: {error}). It should "
            f"be a python pickle from cifar-10-python.tar.gz with b'data' and b'labels'; "
            f"download and extract the archive again."
        ) from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DatasetError(
            f"CIFAR batch '{path}' holds data of shape {data.shape} and {len(labels)} labels; "
            f"expected (N, 3072) and N labels. Download and extract cifar-10-python.tar.gz "
            f"again."
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar_folder(folder: pathlib.Path) -> ArrayData:
    """Read an extracted ``cifar-10-batches-py`` folder (data_batch_1..5, test_batch)."""
    train = [_read_cifar_batch(folder / file) for file in CIFAR_FILES[:-1]]
    x_test, y_test = _read_cifar_batch(folder / CIFAR_FILES[-1])
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return ArrayData(x_train, y_train, x_test, y_test, None, str(folder))


def _download(name: str) -> ArrayData:
    """Keras' own loader, which downloads into its cache; monkeypatched out in tests."""
    import keras

    loader = getattr(keras.datasets, name)
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    return ArrayData(x_train, y_train, x_test, y_test, None, f"keras.datasets.{name}")


class _KerasDataset(BaseDataset):
    class_names: list[str] = [str(digit) for digit in range(10)]
    files_hint = f"{IDX_HINT} (gzipped or not)"

    def load(self, data_dir: pathlib.Path | None = None, progress: LoadProgress | None = None) -> ArrayData:
        folder = data_folder(data_dir)
        if folder is not None and not folder.is_dir():
            raise DatasetError(
                f"Data folder '{folder}' (from --data-dir or ${ENV_DATA_DIR}) does not exist "
                f"or is not a folder. Create it and put the {self.name} files in it, or fix "
                f"the path."
            )
        looked = []
        for path in candidate_paths(self.name, data_dir):
            problem = _problem(path, _SPECS[self.name].file_format)
            if problem is None:
                logger.info("Loading %s from %s", self.name, path)
                return dataclasses.replace(self._read(path), class_names=list(self.class_names))
            looked.append(f"{path} ({problem})")
        if offline():
            reason = f"the Keras download was skipped because ${ENV_OFFLINE} is set"
        else:
            try:
                logger.info("No local %s files; trying Keras' download", self.name)
                raw = _download(self.name)
            except Exception as error:  # network errors come in many types
                reason = f"the Keras download failed ({type(error).__name__}: {error})"
            else:
                return dataclasses.replace(raw, class_names=list(self.class_names))
        raise DatasetError(
            f"Cannot find the {self.name} dataset: looked in {'; '.join(looked)}; and "
            f"{reason}. To fix it, get the files on a machine with internet and pass their "
            f"folder with --data-dir or ${ENV_DATA_DIR}: put {self.name}.npz (arrays x_train, "
            f"y_train, x_test, y_test) or {self.files_hint} directly in it or in a "
            f"{_SPECS[self.name].folders[0]}/ sub-folder."
        )

    def _read(self, path: pathlib.Path) -> ArrayData:
        if path.suffix == ".npz":
            return ArrayData(**load_npz(path), class_names=None, source=str(path))
        return read_idx_folder(path)


class MnistDataset(_KerasDataset):
    """MNIST handwritten digits: 60,000 + 10,000 grayscale 28x28 images."""

    name = "mnist"
    description = "MNIST handwritten digits (70,000 28x28 grayscale images, 10 classes)"


class FashionMnistDataset(_KerasDataset):
    """Zalando's Fashion-MNIST: a harder drop-in replacement for MNIST."""

    name = "fashion_mnist"
    description = "Fashion-MNIST clothing (70,000 28x28 grayscale images, 10 classes)"
    class_names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]


class Cifar10Dataset(_KerasDataset):
    """CIFAR-10: 50,000 + 10,000 colour 32x32 images of objects and animals."""

    name = "cifar10"
    description = "CIFAR-10 objects (60,000 32x32 colour images, 10 classes)"
    class_names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    files_hint = f"the extracted {CIFAR_FOLDER}/ folder ({', '.join(CIFAR_FILES)})"

    def _read(self, path: pathlib.Path) -> ArrayData:
        if path.suffix == ".npz":
            return super()._read(path)
        return read_cifar_folder(path)
