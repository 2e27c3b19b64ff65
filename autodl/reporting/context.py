"""Read a run folder into the values the report template shows.

Every input but ``run.json`` is optional: a missing or unreadable file turns its sections
into a note, because a report of an interrupted or half-written run is still worth reading.

Longer than 300 lines: the report's template reads one context; each of its sections is a small
function here, every one defensive about what an edited run.json may hold.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from autodl.exceptions import RunError
from autodl.records import TrialRecord, TrialState
from autodl.reporting import figures, summary
from autodl.reporting.analysis import search_analysis
from autodl.reporting.images import png_data_uri
from autodl.runs import RunStore

__all__ = ["report_context"]

logger = logging.getLogger(__name__)

#: The grid shows at most this many misclassified images, and this many samples per class.
MAX_MISTAKES = 32
SAMPLES_PER_CLASS = 4
#: Learning curves are drawn for this many of the best trials.
TOP_CURVES = 3


def report_context(run_dir: Path, render: figures.FigureRenderer) -> dict[str, Any]:
    """Everything ``report.html.j2`` needs, figures wrapped by ``render``.

    Raises:
        RunError: ``run_dir`` is not a run folder (no readable ``run.json``).
    """
    store = RunStore.open(run_dir)
    run = store.read_run()
    notes: list[str] = []
    try:
        records = store.read_trials()
    except RunError as exc:
        records = []
        notes.append(str(exc))
    objective = _dict(run.get("objective"))
    metric = str(objective.get("metric") or "val_accuracy")
    direction = "minimize" if objective.get("direction") == "minimize" else "maximize"
    ranked = summary.rank_trials(records, direction)
    best = _best_record(run, ranked)
    dataset = _dict(run.get("dataset"))
    class_names = _class_names(dataset)
    analysis = search_analysis(store.root, run, records, metric, direction)
    top = [r for r in ranked if r.state == TrialState.COMPLETE][:TOP_CURVES]
    front = summary.pareto_front(records, direction)
    evaluation = _evaluation(store.evaluation_npz, class_names, render)
    return {
        "run": run,
        "name": str(run.get("name") or store.root.name),
        "notes": notes,
        "status": str(run.get("status") or "unknown"),
        "dataset": dataset,
        "settings": _dict(run.get("settings")),
        "param_budget": _param_budget(run),
        "objective": {"metric": metric, "direction": direction},
        "space_json": json.dumps(run.get("space") or {}, indent=2, default=str),
        "versions": _dict(run.get("versions")),
        "hardware": _dict(run.get("hardware")),
        "timings": _dict(run.get("timings")),
        "time_stats": summary.time_stats(records),
        "counts": summary.count_states(records),
        "n_trials": len(records),
        "workers": len({r.worker for r in records if r.worker}),
        "leaderboard": _leaderboard(ranked, summary.param_names(records)),
        "param_names": summary.param_names(records),
        "best": best,
        "best_info": _dict(run.get("best")),
        "best_params": _params(best.params if best else _dict(run.get("best")).get("params")),
        "test_metrics": _dict(run.get("test_metrics")),
        "ensemble": _ensemble(run.get("ensemble")),
        "final": _dict(run.get("final")),
        "accounting": _dict(run.get("accounting")),
        "accounting_seconds": [
            (name, summary.format_seconds(value))
            for name, value in _dict(_dict(run.get("accounting")).get("seconds")).items()
        ],
        "model": _model_table(store.root, run, best),
        "curves": render(figures.learning_curves_figure(top)),
        "curve_trials": [r.number for r in top if r.history],
        "overview": render(figures.overview_figure(records, metric, best.number if best else None)),
        "analysis": analysis,
        "history_fig": render(analysis.history),
        "importance_fig": render(analysis.importances),
        "parallel_fig": render(analysis.parallel),
        "size_fig": render(figures.size_figure(records, front, metric)),
        "front": _front_rows(front, ranked),
        "evaluation": evaluation,
        "class_names": class_names,
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _best_record(run: dict[str, Any], ranked: list[TrialRecord]) -> TrialRecord | None:
    """The trial run.json calls best, else the top of the leaderboard if it completed."""
    number = _dict(run.get("best")).get("number")
    for record in ranked:
        if record.number == number:
            return record
    if ranked and ranked[0].state == TrialState.COMPLETE and summary.is_finite(ranked[0].value):
        return ranked[0]
    return None


def _class_names(dataset: dict[str, Any]) -> list[str]:
    names = dataset.get("class_names")
    count = dataset.get("num_classes")
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    return [str(i) for i in range(count)] if isinstance(count, int) and count > 0 else []


def _params(params: Any) -> list[tuple[str, str]]:
    return [(str(k), summary.format_value(v)) for k, v in _dict(params).items()]


def _leaderboard(ranked: list[TrialRecord], names: list[str]) -> list[dict[str, Any]]:
    """One row per trial; ``sort`` values drive the in-page sorter (numbers stay numbers)."""
    rows = []
    rank = 0
    for record in ranked:
        scored = record.state == TrialState.COMPLETE and summary.is_finite(record.value)
        rank += scored
        cells = []
        for name in names:
            value = record.params.get(name)
            sort = value if summary.is_finite(value) else summary.format_value(value)
            cells.append(
                {
                    "text": summary.format_value(value) if name in record.params else "",
                    "sort": sort if name in record.params else "",
                }
            )
        rows.append(
            {
                "rank": rank if scored else None,
                "number": record.number,
                "state": record.state.value,
                "value": record.value if scored else None,
                "epochs": record.epochs,
                "seconds": record.seconds,
                "n_params": record.n_params,
                "error": record.error or "",
                "params": cells,
                "start": record.start,
            }
        )
    return rows


def _model_table(run_dir: Path, run: dict[str, Any], best: TrialRecord | None) -> dict[str, Any]:
    """The best model's layers, or its architecture dict and why the file was not read."""
    info = _dict(run.get("best"))
    result: dict[str, Any] = {
        "layers": None,
        "total_params": None,
        "note": None,
        "architecture": json.dumps(info.get("architecture"), indent=2, default=str)
        if info.get("architecture") is not None
        else None,
    }
    relative = info.get("model_path") or (best.model_path if best else None)
    if not relative:
        result["note"] = "No saved model for the best trial."
        return result
    path = (run_dir / str(relative)).resolve()
    if not path.is_relative_to(run_dir.resolve()):  # run.json edited by hand, or hostile
        result["note"] = f"The best model path {relative} points outside the run folder."
        return result
    if not path.is_file():
        result["note"] = f"The best model file {relative} is missing."
        return result
    try:
        import keras

        from autodl.model import layer_table

        result["layers"] = layer_table(keras.saving.load_model(path, compile=False))
        result["total_params"] = sum(row["params"] for row in result["layers"])
    except Exception as exc:  # a model from another Keras version still gets a report
        logger.warning("could not load %s: %s", path, exc)
        result["note"] = f"The best model {relative} could not be loaded ({type(exc).__name__}: {exc})."
    return result


def _evaluation(path: Path, class_names: list[str], render: figures.FigureRenderer) -> dict[str, Any]:
    """Confusion matrix, per-class accuracy, mistakes and samples from ``evaluation.npz``."""
    import numpy as np

    if not path.is_file():
        return {
            "note": "evaluation.npz is missing: the search stopped before the best model "
            "was evaluated on the test split, so test errors and dataset images "
            "are not shown."
        }
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
        y_true = np.asarray(data["y_true"], dtype=np.int64).ravel()
        proba = np.asarray(data["proba"], dtype=np.float64)
        if proba.ndim != 2 or len(proba) != len(y_true):
            raise ValueError(f"proba has shape {proba.shape} for {len(y_true)} labels")
    except Exception as exc:
        return {"note": f"evaluation.npz could not be read ({type(exc).__name__}: {exc})."}
    n = max(proba.shape[1], len(class_names), int(y_true.max(initial=-1)) + 1)
    names = class_names + [str(i) for i in range(len(class_names), n)]
    y_pred = proba.argmax(axis=1)
    matrix = summary.confusion_matrix(y_true, y_pred, n)
    per_class = [dict(row, name=names[row["index"]]) for row in summary.per_class_accuracy(matrix)]
    train_counts = data.get("train_class_counts")
    test_counts = np.bincount(y_true[(y_true >= 0) & (y_true < n)], minlength=n)
    issues = []
    try:
        mistakes = _mistakes(data, y_true, proba, names)
    except Exception as exc:  # e.g. images of an unexpected shape: the numbers still show
        mistakes = []
        issues.append(f"The misclassified images could not be drawn ({exc}).")
    try:
        samples = _samples(data, names)
    except Exception as exc:
        samples = []
        issues.append(f"The sample images could not be drawn ({exc}).")
    return {
        "note": None,
        "issues": issues,
        "n_test": len(y_true),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else None,
        "confusion": render(figures.confusion_figure(matrix, names)) if len(y_true) else None,
        "per_class": per_class,
        "mistakes": mistakes,
        "class_counts": render(
            figures.class_counts_figure(
                names, None if train_counts is None else train_counts.tolist(), test_counts.tolist()
            )
        ),
        "samples": samples,
    }


def _mistakes(data: dict[str, Any], y_true: Any, proba: Any, names: list[str]) -> list[dict[str, Any]]:
    indices = data.get("mistake_index")
    images = data.get("mistake_images")
    if indices is None or images is None:
        return []
    out = []
    for index, image in list(zip(indices.tolist(), images))[:MAX_MISTAKES]:
        if not 0 <= index < len(y_true):
            continue
        predicted = int(proba[index].argmax())
        out.append(
            {
                "index": index,
                "src": png_data_uri(image),
                "true": _name(names, int(y_true[index])),
                "predicted": _name(names, predicted),
                "confidence": float(proba[index, predicted]),
            }
        )
    return out


def _samples(data: dict[str, Any], names: list[str]) -> list[dict[str, str]]:
    images, labels = data.get("sample_images"), data.get("sample_labels")
    if images is None or labels is None:
        return []
    seen: dict[int, int] = {}
    out = []
    for image, label in zip(images, labels.tolist()):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= SAMPLES_PER_CLASS:
            out.append({"src": png_data_uri(image), "label": _name(names, int(label))})
    return out


def _name(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def _param_budget(run: dict[str, Any]) -> int | None:
    """The size budget trials were held to (--max-params, else the space's), or None."""
    budget = _dict(run.get("settings")).get("max_params")
    if budget is None:
        budget = _dict(_dict(run.get("space")).get("training")).get("max_params")
    return budget if isinstance(budget, int) and budget > 0 else None


def _front_rows(front: list[TrialRecord], ranked: list[TrialRecord]) -> list[dict[str, Any]]:
    """The Pareto front as table rows, with each trial's rank and its distance to the best."""
    if not front:
        return []
    best = ranked[0].value
    rank = {r.number: i + 1 for i, r in enumerate(ranked)}
    return [
        {
            "number": r.number,
            "rank": rank.get(r.number),
            "n_params": r.n_params,
            "value": r.value,
            "behind": abs(float(best) - float(r.value)) if best is not None and r.value is not None else None,
        }
        for r in front
    ]


def _ensemble(value: Any) -> dict[str, Any] | None:
    """run.json's ensemble, when it is whole (a hand-edited or older run.json may lack it)."""
    keys = ("trials", "val_accuracy", "best_val_accuracy", "accuracy", "best_accuracy", "loss")
    return value if isinstance(value, dict) and all(key in value for key in keys) else None
