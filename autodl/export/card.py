"""``MODEL_CARD.md``: what an exported model is, how well it does and how to run it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["class_metrics", "model_card"]


def class_metrics(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy and log loss overall; precision, recall, F1 and support per class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(proba).argmax(axis=1)
    picked = np.asarray(proba, dtype=np.float64)[np.arange(len(y_true)), y_true]
    rows = []
    for index, name in enumerate(class_names):
        tp = int(np.sum((y_pred == index) & (y_true == index)))
        predicted, support = int(np.sum(y_pred == index)), int(np.sum(y_true == index))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": str(name), "precision": precision, "recall": recall, "f1": f1, "support": support})
    return {
        "accuracy": float(np.mean(y_pred == y_true)) if len(y_true) else None,
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))) if len(y_true) else None,
        "n": int(len(y_true)),
        "per_class": rows,
    }


def model_card(info: dict[str, Any]) -> str:
    """The card's Markdown, from the ``info`` that ``export_run`` gathered (also in metadata.json)."""
    source, data, metrics = info["source"], info["dataset"], info.get("test_metrics")
    weights = source.get("weights") or []
    mix = (
        "weighted " + ", ".join(f"{w:g}" for w in weights)
        if weights and len(set(weights)) > 1
        else "their probabilities averaged"
    )
    several = source["ensemble"] or len(source["trials"]) > 1  # the final model may average the ensemble's members
    which = (
        f"the ensemble of trials {', '.join(map(str, source['trials']))} ({mix})"
        if several
        else f"trial {source['trials'][0]}"
    ) + (" trained again on train + validation (the final model)" if source.get("final") else "")
    height, width, channels = info["input"]["trained_size"]
    lines = [
        f"# Model card: {source['run_name']}, {which}",
        "",
        f"An image classifier for {len(info['classes'])} classes, found by an autodl search ({source['run']}) "
        f"and exported as `{info['format']}` ({info['artifact']}).",
        "",
        "## Input and output",
        f"- Input `{info['input']['name']}`: uint8 pixels, shape (batch, height, width, {channels}) "
        f"({'gray' if channels == 1 else 'RGB'}), any height and width: the model resizes to {height}x{width} "
        "(bilinear) and scales 0..255 to [0, 1] itself.",
        f"- Output: class probabilities, shape (batch, {len(info['classes'])}), in the order of `classes` in "
        "metadata.json.",
        f"- Serve with: {info['serve']}",
        "",
        "## Data",
        f"- Dataset: {data.get('name')} ({data.get('source') or 'built in'}), {data.get('n_train')} training, "
        f"{data.get('n_val')} validation and {data.get('n_test')} test images; fingerprint "
        f"{str(data.get('fingerprint'))[:12]}.",
        f"- Classes: {', '.join(map(str, info['classes']))}",
        "",
        "## Test metrics",
    ]
    if metrics:
        lines += [
            f"On the test split ({metrics['n']} images, never used to choose the model): accuracy "
            f"{_f(metrics['accuracy'])}, log loss {_f(metrics['loss'])}.",
            "",
            "| class | precision | recall | F1 | support |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {_cell(r['class'])} | {_f(r['precision'])} | {_f(r['recall'])} | {_f(r['f1'])} | {r['support']} |"
            for r in metrics["per_class"]
        ]
    else:
        lines.append(f"Not measured: {info.get('test_metrics_note') or 'the test split could not be read'}.")
    check = info.get("check")
    lines += [
        "",
        "## Configuration",
        f"{info['parameters']:,} parameters. The search's sampled hyperparameters"
        + (" (per member)" if source["ensemble"] else "")
        + ":",
        "",
        "```json",
        json.dumps(source["params"] if source["ensemble"] else source["params"][0], indent=2, default=str),
        "```",
        "",
        "## File and speed",
        f"- Size: {info['size_bytes'] / 1e6:.2f} MB ({info['artifact']}).",
        "- Latency on this machine ({}): {}.".format(info["machine"], info.get("latency_text") or "not measured"),
    ]
    if check:
        lines.append(
            f"- Checked after writing: on {check['images']} images the artifact's probabilities differ "
            f"from the Keras model's by at most {check['max_abs_diff']:.2g}."
        )
    lines += ["", "## Versions", ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v), ""]
    return "\n".join(lines)


def _f(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
