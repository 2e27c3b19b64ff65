"""Export a run's best model (or trial N's, or its ensemble) for serving, with its model card.

    autodl export RUN --format onnx            # reports/RUN/exports/onnx/{model.onnx, metadata.json, MODEL_CARD.md}

The folder is written next to its final place and renamed into it, so a failed export
leaves the previous one (or nothing), never half a folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from autodl.exceptions import UsageError
from autodl.export.card import class_metrics, model_card
from autodl.export.formats import get_format
from autodl.runs import atomic_write_json, atomic_write_text

__all__ = ["ExportResult", "export_run"]

logger = logging.getLogger(__name__)
CHECK_IMAGES = 32


@dataclasses.dataclass
class ExportResult:
    """Where the export went and what its card says (``info`` is metadata.json)."""

    path: Path
    artifact: Path
    info: dict[str, Any]


def export_run(
    search: Any,
    format: str = "keras",
    *,
    trial: int | None = None,
    ensemble: bool = False,
    out: str | Path | None = None,
    latency: bool = True,
) -> ExportResult:
    """Write one inference artifact that takes raw uint8 images, its metadata and model card.

    ``search`` is an opened run (``autodl.load``). The artifact resizes and scales images
    itself (see ``autodl.export.wrapper``); an ensemble is one model averaging its members.
    After writing, the artifact is run by its own runtime on random images and compared with
    the Keras model; ``latency`` also times it at batch 1 and 256.

    Raises:
        UsageError: unknown format, or a package it needs is missing.
        RunError: no saved model for ``trial``, or fewer than two for ``ensemble``.
    """
    import keras

    from autodl import environment
    from autodl.export.latency import describe, measure_latency
    from autodl.export.wrapper import serving_model

    kind = get_format(format)
    kind.check()
    files = search.model_files(trial, ensemble=ensemble)  # what `autodl predict` uses, weights included
    records = [f.record for f in files]
    models = [keras.saving.load_model(f.path) for f in files]
    model = serving_model(models, [f.weight for f in files])
    suffix = "-ensemble" if ensemble else ("" if trial is None else f"-trial{trial}")
    folder = Path(out) if out is not None else search.path / "exports" / f"{format}{suffix}"
    trained = tuple(int(v) for v in models[0].input_shape[1:])
    classes = [str(c) for c in (search.dataset or {}).get("class_names") or range(models[0].output_shape[-1])]
    probe = np.random.default_rng(0).integers(0, 256, (CHECK_IMAGES, *trained), dtype=np.uint8)
    expected = np.asarray(model(probe))  # also builds the model: ONNX export wants one that has been called
    with _new_folder(folder) as tmp:
        artifact = tmp / kind.artifact
        try:
            kind.write(model, artifact)
        except (ImportError, ModuleNotFoundError) as exc:
            raise UsageError(
                f"Exporting to {format} failed: {exc}. Install what it names (`pip install "
                "'autodl[export]'`), or pick another --format"
            ) from exc
        run = kind.runner(artifact)
        difference = float(np.max(np.abs(run(probe) - expected)))
        info: dict[str, Any] = {
            "format": format,
            "artifact": kind.artifact,
            "serve": kind.serve,
            "classes": classes,
            "input": {
                "name": "image",
                "dtype": "uint8",
                "shape": [None, None, None, trained[2]],
                "trained_size": list(trained),
                "preprocessing": f"inside the model: resize (bilinear) to {trained[0]}x{trained[1]}, "
                "scale 0..255 to [0, 1]",
            },
            "output": {"shape": [None, len(classes)], "meaning": "class probabilities, in the order of classes"},
            "source": {
                "run": str(search.path),
                "run_name": search.path.name,
                "ensemble": ensemble,
                "final": files[0].final,
                "trials": [r.number for r in records],
                "weights": [f.weight for f in files],
                "params": [r.params for r in records],
                "values": [r.value for r in records],
            },
            "dataset": {k: v for k, v in (search.dataset or {}).items() if k != "class_names"},
            "parameters": int(sum(m.count_params() for m in models)),
            "size_bytes": _size(artifact),
            "check": {"images": CHECK_IMAGES, "max_abs_diff": difference},
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "versions": {**environment.versions(), **_runtime_versions(format)},
        }
        info.update(_test_metrics(search, files, models, classes))
        if latency:
            info["latency"] = measure_latency(run, trained)
            info["latency_text"] = describe(info["latency"])
        atomic_write_json(tmp / "metadata.json", info)
        atomic_write_text(tmp / "MODEL_CARD.md", model_card(info))
    return ExportResult(folder, folder / kind.artifact, info)


def _test_metrics(search: Any, files: list[Any], models: list[Any], classes: list[str]) -> dict[str, Any]:
    """The chosen model's test metrics: the run's own evaluation for its validation-chosen best
    model, else the test split predicted again (the data must still be where the search read it)."""
    best = search.best_trial
    evaluation = search.path / "evaluation.npz"
    if (
        len(files) == 1
        and not files[0].final
        and best is not None
        and files[0].record.number == best.number
        and evaluation.is_file()
    ):
        with np.load(evaluation) as data:
            return {"test_metrics": class_metrics(data["y_true"], data["proba"], classes)}
    try:
        from autodl.search import load_data
        from autodl.training import predict_proba

        splits = load_data(search.settings, expected=search.dataset)
    except Exception as exc:  # noqa: BLE001 - the card says why instead
        logger.info("test split not readable for the model card: %s", exc)
        return {"test_metrics": None, "test_metrics_note": f"the test split could not be read ({exc})"}
    proba = np.sum(
        [f.weight * np.asarray(predict_proba(m, splits.x_test), dtype=np.float64) for f, m in zip(files, models)],
        axis=0,
    )
    return {"test_metrics": class_metrics(splits.y_test, proba, classes)}


def _runtime_versions(format: str) -> dict[str, str | None]:
    import importlib.metadata

    out: dict[str, str | None] = {}
    for dist in {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "litert": ("ai-edge-litert",)}.get(format, ()):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


@contextlib.contextmanager
def _new_folder(folder: Path) -> Any:
    """A temporary folder beside ``folder``, renamed to ``folder`` (replacing it) on success."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
