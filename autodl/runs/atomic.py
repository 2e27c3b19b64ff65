"""Crash-safe file writes: every file in a run folder is replaced whole or not at all.

Each helper writes to a temporary file in the destination's own directory (so the final
``os.replace`` is a rename on one file system), flushes and fsyncs it, renames it over the
destination, then fsyncs the directory so the rename itself survives a power cut. If anything
fails on the way (a value that cannot be serialised, a full disk, Ctrl-C) the temporary file
is removed and the previous version of the destination is left untouched.

Serialisation happens before the temporary file is opened wherever the format allows it, so a
bad value never even creates a file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas and keras are heavy: imported only by the caller that has them
    import keras
    import pandas as pd

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_csv",
    "atomic_save_model",
]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring)."""
    _write_via_file(Path(path), lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically; newlines are written as given."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Replace ``path`` with ``obj`` as indented JSON, NaN and infinities stored as ``null``.

    JSON has no NaN: a diverged metric becomes ``null`` rather than the non-standard ``NaN``
    that other JSON readers reject. NumPy scalars and arrays are converted to Python values.

    Raises:
        TypeError: ``obj`` holds a value JSON cannot represent; ``path`` is left untouched.
    """
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


def atomic_write_csv(path: str | os.PathLike[str], df: pd.DataFrame) -> None:
    """Replace ``path`` with ``df`` as CSV (no index column, ``\\n`` line endings)."""
    atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))


def atomic_save_model(path: str | os.PathLike[str], model: keras.Model) -> None:
    """Save a Keras model to ``path`` (a ``.keras`` file) atomically.

    ``model.save`` picks the format from the file name, so the temporary file is named
    ``.<name>.tmp-<pid>-<random>.keras`` next to ``path``.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"atomic_save_model: expected a path ending in '.keras', got {path}")
    with _temporary(path, suffix=".keras") as (tmp, f):
        f.close()  # Keras writes the file itself, by name
        model.save(tmp, overwrite=True)


# ---------------------------------------------------------------------------- internals


def _write_via_file(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    with _temporary(path) as (_, f):
        write(f)


@contextlib.contextmanager
def _temporary(path: Path, suffix: str = "") -> Iterator[tuple[Path, IO[bytes]]]:
    """Yield a new temporary file next to ``path``, then fsync it and rename it over ``path``.

    The body either writes to the open file object or closes it and writes the file by name.
    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    exception propagates; ``path`` is never touched.
    """
    directory = path.parent
    tmp, f = _create_unique(directory, f".{path.name}.tmp-{os.getpid()}-", suffix)
    try:
        with f:
            yield tmp, f
            written_by_name = f.closed
            if not written_by_name:
                f.flush()
                os.fsync(f.fileno())
        if written_by_name:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(directory)


def _create_unique(directory: Path, prefix: str, suffix: str) -> tuple[Path, IO[bytes]]:
    """Create a new empty file; unlike ``mkstemp`` its mode follows the umask (0o666 base)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "wb")
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Persist a rename. Directories cannot be opened on Windows: skipped there."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (and /proc-like mounts) refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _json_safe(obj: Any) -> Any:
    """Return ``obj`` with non-finite floats as None, NumPy values and paths as plain ones.

    Anything else is left for ``json.dumps`` to accept or reject.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Mapping):
        return {key: _json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(value) for value in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # NumPy scalar or array
        return _json_safe(obj.tolist())
    return obj
