"""The run folder (``reports/<run>/``): crash-safe writes, trial records, top-k models and
the signed search state. See ``reports/README.md`` for the files it holds."""

from autodl.runs.atomic import (
    atomic_save_model,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
)
from autodl.runs.signing import dump_signed, load_signed
from autodl.runs.store import RunStore, check_run_name

__all__ = [
    "RunStore",
    "atomic_save_model",
    "atomic_write_bytes",
    "atomic_write_csv",
    "atomic_write_json",
    "atomic_write_text",
    "check_run_name",
    "dump_signed",
    "load_signed",
]
