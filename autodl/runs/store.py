"""The run folder: where one search keeps its settings, trials, best models and saved state.

Layout (``reports/README.md`` is the reference)::

    reports/<run>/
        run.json            settings, space, versions, timings, status
        trials.json         every TrialRecord, history included
        trials.csv          one flat row per trial
        models/trial_NNNN.keras   the top-k models by the objective
        models/final.keras  the best trial trained again on train + validation (the final model)
        models/final_NNNN.keras   the final model's other members (the ensemble's), trained again too
        search.pkl          the signed search state ``autodl resume`` continues from
        study.db            Optuna's SQLite storage (Optuna backend)
        kerastuner/         Keras Tuner's project directory (Keras Tuner backend)
        evaluation.npz      the best model on the test split
        report.html         the HTML report

Every write goes through :mod:`autodl.runs.atomic`, so a crash leaves the previous version.

Longer than 300 lines: RunStore is the only code that knows the run folder's file names, and the
checks on what it reads back (trials.json is not signed) belong with the reading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodl.exceptions import RunError, brief
from autodl.records import TrialRecord, best_first
from autodl.runs.atomic import atomic_write_csv, atomic_write_json

if TYPE_CHECKING:  # pandas is imported where a frame is built, not with the store
    import pandas as pd

__all__ = ["RunStore", "MIN_FREE_BYTES", "check_run_name"]

logger = logging.getLogger(__name__)

#: A search refuses to start with less free space than this in its output folder.
MIN_FREE_BYTES = 100 * 1024 * 1024

#: The fixed columns of ``trials.csv``; one column per parameter follows.
CSV_COLUMNS = (
    "number",
    "state",
    "value",
    "epochs",
    "seconds",
    "n_params",
    "error",
    "model_path",
    "start",
    "origin",
    "flops",
)

_MODEL_FILE = re.compile(r"^trial_(\d+)\.keras$")
_FINAL_MEMBER = re.compile(r"^final_(\d+)\.keras$")


class RunStore:
    """One run folder, ``reports/<run>``: the only code that knows its file names.

    Args:
        root: The run folder. Nothing is checked or created; use :meth:`create` for a new
            run and :meth:`open` for an existing one.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(cls, out_dir: str | os.PathLike[str], name: str | None = None) -> RunStore:
        """Make a new, empty run folder ``out_dir/name`` and check it can hold a run.

        Called before any training, so a bad output folder fails in a second rather than
        after the first trial. ``name=None`` names the run after the current local time
        (``20250131-142501``), adding ``-2``, ``-3``... if that folder is taken.

        Raises:
            RunError: ``name`` is not a plain folder name; the folder already holds a run
                (resume it instead); it cannot be created or written; or less than 100 MB
                are free on its disk.
        """
        out_dir = Path(out_dir)
        if name is None:
            root = _unused_folder(out_dir, time.strftime("%Y%m%d-%H%M%S"))
        else:
            check_run_name(name)
            root = out_dir / name
            if root.is_dir() and any(root.iterdir()):
                raise RunError(
                    f"The run folder {root} already exists and is not empty. To continue that "
                    f"search run `autodl resume {root}`; to start a new one choose another "
                    "name (--name) or output folder (--out), or delete the old folder."
                )
        if root.exists() and not root.is_dir():
            raise RunError(
                f"Cannot create the run folder {root}: a file with that name exists. "
                "Choose another name (--name) or output folder (--out)."
            )
        created = not root.exists()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(
                f"Cannot create the run folder {root} ({exc.strerror or exc}). Check that "
                f"{out_dir} is a folder you can write to, or choose another one with --out."
            ) from exc
        try:
            _check_writable(root)
            _check_free_space(root)
        except BaseException:
            if created:
                with contextlib.suppress(OSError):
                    root.rmdir()
            raise
        return cls(root)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunStore:
        """Open an existing run from its folder or from its ``search.pkl``.

        Raises:
            RunError: ``path`` does not exist or is not a run folder (no ``run.json``).
        """
        path = Path(path)
        root = path.parent if path.is_file() or path.suffix == ".pkl" else path
        if not root.is_dir():
            raise RunError(
                f"{path} does not exist. Pass the run folder that `autodl search` created "
                "(for example reports/20250131-142501) or the search.pkl inside it."
            )
        store = cls(root)
        if not store.run_json.is_file():
            raise RunError(
                f"{root} is not an autodl run folder: it has no run.json. Pass the folder "
                "that `autodl search` created (for example reports/20250131-142501)."
            )
        return store

    def check_usable(self) -> None:
        """Writable, with room to spare: checked before any training, new run or resumed one.

        Raises:
            RunError: the folder cannot be written, or less than 100 MB are free.
        """
        _check_writable(self.root)
        _check_free_space(self.root)

    # ------------------------------------------------------------------ paths

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def trials_json(self) -> Path:
        return self.root / "trials.json"

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def search_pkl(self) -> Path:
        return self.root / "search.pkl"

    @property
    def study_db(self) -> Path:
        return self.root / "study.db"

    @property
    def study_log(self) -> Path:
        """The journal file that ``--workers`` processes share when no ``--storage`` was given."""
        return self.root / "study.log"

    @property
    def evaluation_npz(self) -> Path:
        return self.root / "evaluation.npz"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def kerastuner_dir(self) -> Path:
        return self.root / "kerastuner"

    @property
    def final_model(self) -> Path:
        """The winner trained again on train + validation: what ``autodl predict`` uses by default."""
        return self.models_dir / "final.keras"

    def final_member(self, number: int) -> Path:
        """Where trial ``number``, a member of the final model besides its first, is kept once
        trained again on train + validation."""
        return self.models_dir / f"final_{number:04d}.keras"

    def remove_final_members(self, keep: list[int]) -> None:
        """Delete the final members of an earlier end (a resumed search ends again) except ``keep``'s."""
        if not self.models_dir.is_dir():
            return
        wanted = {self.final_member(n).name for n in keep}
        for path in self.models_dir.iterdir():
            if _FINAL_MEMBER.match(path.name) and path.name not in wanted:
                path.unlink(missing_ok=True)

    def model_path(self, number: int) -> Path:
        """Where trial ``number``'s model is kept while it is in the top-k."""
        return self.models_dir / f"trial_{number:04d}.keras"

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # ------------------------------------------------------------------ run.json

    def write_run(self, info: dict[str, Any]) -> None:
        """Replace ``run.json`` with ``info`` (NaN and infinities become ``null``)."""
        atomic_write_json(self.run_json, info)

    def read_run(self) -> dict[str, Any]:
        """Return ``run.json``.

        Raises:
            RunError: it is missing or is not a JSON object.
        """
        data = _read_json(self.run_json)
        if not isinstance(data, dict):
            raise RunError(f"{self.run_json}: expected a JSON object, got {type(data).__name__}.")
        return data

    # ------------------------------------------------------------------ trials

    def write_trials(self, records: list[TrialRecord]) -> None:
        """Replace ``trials.json`` and ``trials.csv`` with ``records``.

        ``trials.csv`` has the columns :data:`CSV_COLUMNS`, then one per parameter name in
        the order first seen across the trials; a trial without that parameter (a
        conditional one) leaves it empty. A parameter whose name clashes with a fixed
        column is written as ``param_<name>``. List or dict values are written as JSON.
        """
        atomic_write_json(self.trials_json, {"trials": [r.to_dict() for r in records]})
        atomic_write_csv(self.trials_csv, trials_frame(records))

    def read_trials(self) -> list[TrialRecord]:
        """Return the records in ``trials.json``; an empty list before the first trial.

        Raises:
            RunError: the file is not a valid trials file.
        """
        if not self.trials_json.exists():
            return []
        data = _read_json(self.trials_json)
        try:
            return [self._contained(TrialRecord.from_dict(_checked_record(item))) for item in data["trials"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RunError(
                f"{self.trials_json} is not a valid trials file ({type(exc).__name__}: {exc}). "
                "It may come from another version of autodl; it is rewritten after every trial."
            ) from exc

    def _contained(self, record: TrialRecord) -> TrialRecord:
        """``record`` with its model path dropped unless it names a file in ``models/``.

        trials.json is not signed: a path edited to ``../../elsewhere`` (or a link in
        models/ that leads out) must not make autodl read, load or delete a file outside the
        run folder.
        """
        path = record.model_path
        if path is None:
            return record
        inside = (
            isinstance(path, str)
            and "\0" not in path
            and (self.root / path).resolve().is_relative_to(self.models_dir.resolve())
        )
        if not inside:
            logger.warning(
                "%s: trial %s's model path %s is not in the run's models/ folder; it is ignored "
                "(trials.json was edited by hand or comes from elsewhere)",
                self.trials_json,
                record.number,
                brief(path),
            )
            return dataclasses.replace(record, model_path=None)
        return record

    # ------------------------------------------------------------------ top-k models

    def update_top_models(
        self,
        records: list[TrialRecord],
        k: int,
        direction: str,
        save: Callable[[Path], None] | None,
        trial_number: int,
    ) -> list[TrialRecord]:
        """Keep the models of the ``k`` best complete trials, after trial ``trial_number`` ended.

        If that trial ranks in the top ``k`` COMPLETE trials by ``value`` (ties go to the
        earlier trial), ``save(path)`` is called with ``models/trial_NNNN.keras``; the
        callable must write the file atomically (:func:`~autodl.runs.atomic.atomic_save_model`).
        Then the model files of trials in ``records`` that are no longer in the top ``k`` are
        deleted. The new model is saved before any old one is deleted, so a crash in between
        leaves an extra file rather than a missing one. Pruned, failed and running trials,
        and complete ones without a finite value, never rank.

        Args:
            records: Every trial of the run so far, ``trial_number``'s included.
            k: How many models to keep; 0 keeps none.
            direction: ``"maximize"`` or ``"minimize"``, the objective's direction.
            save: Writes the trial's model to the given path; None when there is no model
                to save (then the trial ranks but keeps no file).
            trial_number: The trial that just ended.

        Returns:
            Copies of ``records`` with ``model_path`` set (``"models/trial_0007.keras"``)
            for the top-k trials whose file exists and cleared for all others. The given
            records are not modified.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        top = {r.number for r in best_first(records, direction)[:k]}

        if trial_number in top and save is not None:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            save(self.model_path(trial_number))

        updated = []
        for record in records:
            path = self.model_path(record.number)
            if record.number in top:
                model_path = self._relative(path) if path.exists() else None
            else:
                path.unlink(missing_ok=True)
                model_path = None
            if model_path != record.model_path:
                record = dataclasses.replace(record, model_path=model_path)
            updated.append(record)
        return updated

    def remove_orphans(self, records: list[TrialRecord]) -> list[Path]:
        """Delete what a killed process left behind; return the paths removed.

        That is model files no record points to (a trial killed after its model was saved)
        and the temporary files of atomic writes (``.<name>.tmp-<pid>-<random>``) whose
        process is gone. Call it only while no other process writes to this folder.
        """
        kept = {record.model_path for record in records if record.model_path}
        removed = []
        if self.models_dir.is_dir():
            for path in self.models_dir.iterdir():
                if _MODEL_FILE.match(path.name) and self._relative(path) not in kept:
                    removed.append(path)
        for folder in (self.root, self.models_dir):
            if folder.is_dir():
                removed += [p for p in folder.iterdir() if _is_dead_temporary(p.name)]
        for path in removed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return removed


# ---------------------------------------------------------------------------- helpers


_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+(\.keras)?$")


def _is_dead_temporary(name: str) -> bool:
    """An atomic write's temporary file whose writing process no longer runs."""
    match = _TEMPORARY.match(name)
    if not match or os.name != "posix":  # Windows' os.kill(pid, 0) would end the process
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, someone else's
        return False
    return False


def trials_frame(records: list[TrialRecord]) -> pd.DataFrame:
    """One row per trial: the fixed columns, then one column per parameter (first-seen order).

    A trial without a parameter (a conditional one) leaves it empty; a parameter whose name
    clashes with a fixed column becomes ``param_<name>``; list or dict values become JSON.
    """
    import pandas as pd

    param_names: dict[str, str] = {}  # parameter name -> column name, first-seen order
    for record in records:
        for key in record.params:
            if key not in param_names:
                param_names[key] = f"param_{key}" if key in CSV_COLUMNS else key
    rows = []
    for record in records:
        flat = record.to_dict()
        row: dict[str, Any] = {column: flat[column] for column in CSV_COLUMNS}
        for key, column in param_names.items():
            row[column] = _csv_cell(record.params.get(key))
        rows.append(row)
    # object dtype: pandas would write whole numbers as 5.0 in a column with a blank.
    return pd.DataFrame(rows, columns=[*CSV_COLUMNS, *param_names.values()], dtype=object)


def check_run_name(name: str) -> None:
    """Refuse a run name that is not one plain folder name (``..``, ``a/b``, an absolute path).

    Raises:
        RunError: the name would put the run folder outside the output folder, or is no name.
    """
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or len(name.encode("utf-8", "surrogateescape")) > 255
    ):
        raise RunError(
            f"Invalid run name {brief(name)}: expected a plain folder name such as 'cnn-fashion' "
            "(no slashes, at most 255 bytes; use --out to choose the parent folder)."
        )


def _unused_folder(out_dir: Path, base: str) -> Path:
    root = out_dir / base
    counter = 2
    while root.exists() and (not root.is_dir() or any(root.iterdir())):
        root = out_dir / f"{base}-{counter}"
        counter += 1
    return root


def _check_writable(root: Path) -> None:
    """Write and remove a probe file: permission bits alone do not tell (root, ACLs, NFS)."""
    probe = root / f".autodl-write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"probe")
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise RunError(
            f"Cannot write to the run folder {root} ({exc.strerror or exc}). Check its "
            "permissions, or choose another output folder with --out."
        ) from exc


def _check_free_space(root: Path) -> None:
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        raise RunError(
            f"Only {free / 2**20:.0f} MB are free on the disk holding {root}; a search needs "
            f"at least {MIN_FREE_BYTES // 2**20} MB for its models and report. Free some "
            "space or choose another output folder with --out."
        )


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RunError(f"{path} is missing: the run folder is incomplete.") from exc
    except OSError as exc:
        raise RunError(f"Cannot read {path} ({exc.strerror or exc}).") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunError(
            f"{path} is not valid JSON ({exc}). autodl writes it atomically, so it was "
            "probably edited by hand or copied incompletely."
        ) from exc


_NUMBER = (int, float)
#: What each field of a trial in trials.json holds (None allowed where the record allows it).
_RECORD_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "number": ((int,), False),
    "state": ((str,), False),
    "params": ((dict,), False),
    "value": (_NUMBER, True),
    "epochs": ((int,), False),
    "seconds": (_NUMBER, False),
    "n_params": ((int,), True),
    "history": ((dict,), False),
    "error": ((str,), True),
    "worker": ((str,), True),
    "start": ((int,), True),
    "origin": ((str,), True),
    "flops": ((int,), True),
}


def _checked_record(item: Any) -> dict[str, Any]:
    """``item`` if its fields hold what a TrialRecord's do; trials.json is not signed and may be edited.

    The model path is left to ``_contained``, which drops one that is not in models/.

    Raises:
        ValueError: a field of another type (named in the message), or not a JSON object.
    """
    if not isinstance(item, dict):
        raise ValueError(f"a trial is {type(item).__name__} {brief(item, 40)}, not an object")
    for key, (types, optional) in _RECORD_TYPES.items():
        value = item.get(key)
        if value is None and (optional or key not in ("number", "state")):
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"trial {brief(item.get('number'), 20)}: {key} is {brief(value, 40)}")
    history = item.get("history") or {}
    if not all(
        isinstance(v, list) and all(x is None or (isinstance(x, _NUMBER) and not isinstance(x, bool)) for x in v)
        for v in history.values()
    ):
        raise ValueError(f"trial {brief(item.get('number'), 20)}: history holds other than lists of numbers")
    return item


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value
