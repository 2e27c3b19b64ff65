"""Signed pickles for ``search.pkl``: unpickling runs code, so only load what we wrote.

A signed file is::

    b"AUTODL-PKL1\\n" + 64 hex digits (HMAC-SHA256 of the payload) + b"\\n" + pickle payload

The key is per user: ``$AUTODL_SIGNING_KEY`` if set (hex, or any other string used as
is), else the file ``signing.key`` in autodl's config folder, created on first use with
32 random bytes (stored as hex, mode 0o600). A key has at least ``MIN_KEY_BYTES`` bytes,
and its file is the user's own and readable by no one else: anyone who can read the key
can forge a search state that runs code when it is resumed. A run folder copied from another machine or
user therefore fails verification until that machine's key is supplied, or ``--trust`` is
passed for a file the user trusts.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import pickle
import pickletools
import secrets
import stat
import time
from pathlib import Path
from typing import Any

from autodl.exceptions import RunError, SignatureError
from autodl.runs.atomic import atomic_write_bytes

__all__ = ["key_path", "get_key", "dump_signed", "load_signed", "MAGIC", "MIN_KEY_BYTES"]

logger = logging.getLogger(__name__)

MAGIC = b"AUTODL-PKL1\n"
_MAC_HEX_LEN = 64
_HEADER_LEN = len(MAGIC) + _MAC_HEX_LEN + 1
_KEY_BYTES = 32
#: The shortest key accepted (128 bits): a shorter one is guessed.
MIN_KEY_BYTES = 16
#: An empty key file younger than this may be one another process is still writing.
_PUBLISHING_SECONDS = 2.0
_NEW_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"
_FIX = (
    "If you trust this file, load it anyway with --trust; if it was written by another "
    "user or machine, set AUTODL_SIGNING_KEY to the key that wrote it (the contents of "
    "{key_file} there)."
)


def key_path() -> Path:
    """The signing key file: ``$AUTODL_CONFIG_DIR``, ``$XDG_CONFIG_HOME/autodl`` or
    ``~/.config/autodl``, then ``signing.key``."""
    config_dir = os.environ.get("AUTODL_CONFIG_DIR")
    if config_dir:
        return Path(config_dir).expanduser() / "signing.key"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "autodl" / "signing.key"


def get_key() -> bytes:
    """Return this user's signing key, creating the key file on first use.

    ``$AUTODL_SIGNING_KEY`` wins (hex digits are decoded, any other string is used as
    UTF-8). Otherwise the key file is read, or created atomically: two processes racing
    to create it both end up with the one key that was published first.

    Raises:
        RunError: the key file cannot be read or created.
    """
    env = os.environ.get("AUTODL_SIGNING_KEY")
    if env:  # set and not empty (an empty value, `AUTODL_SIGNING_KEY= autodl ...`, means unset)
        return _checked(
            _decode_key(env.strip()),
            "AUTODL_SIGNING_KEY",
            "set it to a longer one (e.g. the output of " + _NEW_KEY + "), or unset it to use "
            f"the key file {key_path()}",
        )
    path = key_path()
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RunError(
            f"Cannot read the signing key {path} ({exc.strerror or exc}). Fix its permissions "
            "(it should be yours, mode 600), or set AUTODL_SIGNING_KEY."
        ) from exc
    try:
        _create_key_file(path)
        return _read_key_file(path)
    except OSError as exc:
        raise RunError(
            f"Cannot create the signing key {path} ({exc.strerror or exc}). Make its folder "
            "writable, point AUTODL_CONFIG_DIR at a writable folder, or set AUTODL_SIGNING_KEY."
        ) from exc


def dump_signed(obj: Any, path: str | os.PathLike[str]) -> None:
    """Pickle ``obj`` to ``path`` with an HMAC of the payload, atomically."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    mac = hmac.new(get_key(), payload, hashlib.sha256).hexdigest().encode("ascii")
    atomic_write_bytes(path, MAGIC + mac + b"\n" + payload)


def load_signed(path: str | os.PathLike[str], *, trust: bool = False) -> Any:
    """Verify and unpickle a file written by :func:`dump_signed`.

    The signature is checked before a single byte is unpickled. ``trust=True`` skips the
    signature check (the header must still be autodl's) and logs a warning.

    Raises:
        SignatureError: the file is missing, is not an autodl search state, is truncated
            or modified, or was signed with another key.
        RunError: the signature is valid but unpickling failed (e.g. written by
            incompatible library versions).
    """
    path = Path(path)
    key_file = key_path()
    fix = _FIX.format(key_file=key_file)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SignatureError(
            f"{path} does not exist: this run has no saved search state (it may have been "
            "stopped before its first trial ended). Start a new search instead."
        ) from exc
    except OSError as exc:
        raise SignatureError(f"Cannot read {path} ({exc.strerror or exc}).") from exc

    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            problem = "it is truncated (shorter than its header)"
        elif data.startswith(b"AUTODL-PKL"):
            problem = "it was written by an incompatible version of autodl"
        else:
            problem = "it is not an autodl search state (no AUTODL-PKL1 header)"
        raise SignatureError(f"Cannot load {path}: {problem}. Pass the search.pkl of an autodl run.")

    mac_hex = data[len(MAGIC) : len(MAGIC) + _MAC_HEX_LEN]
    payload = data[_HEADER_LEN:]
    header_ok = len(data) > _HEADER_LEN and data[_HEADER_LEN - 1 : _HEADER_LEN] == b"\n" and _is_hex(mac_hex)
    if not header_ok:
        raise SignatureError(
            f"Cannot load {path}: it is truncated or modified (its signature header is incomplete). {fix}"
        )

    if trust:
        logger.warning("Loading %s without checking its signature (--trust).", path)
    else:
        expected = hmac.new(get_key(), payload, hashlib.sha256).hexdigest().encode("ascii")
        if not hmac.compare_digest(expected, mac_hex.lower()):
            if _is_complete_pickle(payload):
                problem = (
                    "its signature does not match this user's key: it was signed with a "
                    "different key (another user or machine), or modified after it was written"
                )
            else:
                problem = "it is truncated or modified (the signature does not match its contents)"
            raise SignatureError(
                f"Refusing to unpickle {path}: {problem}. Unpickling runs code, so autodl only "
                f"loads files signed with the key in {key_file} or $AUTODL_SIGNING_KEY. {fix}"
            )

    try:
        return pickle.loads(payload)  # noqa: S301 - verified above, or trusted by the user
    except Exception as exc:
        if trust and not _is_complete_pickle(payload):
            raise SignatureError(
                f"Cannot load {path}: it is truncated or modified ({type(exc).__name__}: {exc})."
            ) from exc
        raise RunError(
            f"Cannot unpickle {path} ({type(exc).__name__}: {exc}). It was probably written "
            "with other versions of autodl, Optuna or Keras Tuner than the ones installed "
            "(run.json lists them); install those versions to resume it."
        ) from exc


# ---------------------------------------------------------------------------- internals


def _is_hex(data: bytes) -> bool:
    try:
        bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _decode_key(text: str) -> bytes:
    if len(text) % 2 == 0:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(text)
    return text.encode("utf-8")


def _checked(key: bytes, source: str, fix: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise RunError(
            f"The signing key in {source} is {'empty' if not key else f'{len(key)} bytes long'}; autodl needs at "
            f"least {MIN_KEY_BYTES} bytes (32 hex digits), or anyone could forge a search state that runs code "
            f"when resumed: {fix}."
        )
    return key


def _read_key_file(path: Path) -> bytes:
    """Read the key; a file just created empty (another process is publishing it) is retried
    briefly, an older empty one is refused at once."""
    deadline = time.monotonic() + 0.5
    while True:
        text = path.read_text(encoding="utf-8").strip()
        if text or time.monotonic() > deadline or time.time() - path.stat().st_mtime > _PUBLISHING_SECONDS:
            break
        time.sleep(0.02)
    fix = (
        "delete it to have a new key made (search states signed with the old one then need --trust), "
        "or set AUTODL_SIGNING_KEY"
    )
    if not text:
        raise RunError(f"The signing key file {path} is empty: {fix}.")
    if os.name == "posix":
        info = path.stat()
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise RunError(
                f"The signing key {path} can be read or written by other users (mode "
                f"{stat.S_IMODE(info.st_mode):03o}), who could forge a search state that runs code when it is "
                f"resumed: run `chmod 600 {path}`, then make a new key if others may have copied it ({fix})."
            )
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise RunError(
                f"The signing key {path} belongs to another user (uid {info.st_uid}), who could forge search "
                f"states: {fix}."
            )
    return _checked(_decode_key(text), str(path), fix)


def _create_key_file(path: Path) -> None:
    """Publish a new random key at ``path`` unless one already exists.

    The key is written to a private temporary file first and then hard-linked into place,
    which fails if ``path`` exists: the file never appears half-written, and the first
    process to link wins. File systems without hard links fall back to ``O_EXCL`` on
    ``path`` itself (a racer may briefly see it empty, which the reader retries).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    content = (secrets.token_hex(_KEY_BYTES) + "\n").encode("ascii")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
        except OSError:  # no hard links here (some network or FAT file systems)
            try:
                fd = os.open(path, flags, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _is_complete_pickle(payload: bytes) -> bool:
    """Whether ``payload`` parses as exactly one pickle; parses opcodes, runs nothing."""
    try:
        end = 0
        for opcode, _arg, pos in pickletools.genops(payload):
            end = pos if pos is not None else end
            if opcode.name == "STOP":
                break
        else:
            return False
    except Exception:
        return False
    return end == len(payload) - 1
