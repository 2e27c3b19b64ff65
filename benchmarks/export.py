"""Export formats: each artifact's file size, latency at batch 1 and 256, and agreement with Keras.

One trial of the ``cnn`` space (its first start network) trained briefly on Fashion-MNIST
(28x28 gray), then ``autodl export`` to every format: the serving model (uint8 in, resize and
scaling inside) written by Keras 3's ``model.export`` and run again by the format's own
runtime (Keras, TensorFlow, ONNX Runtime, LiteRT's interpreter). Latency is the median of
repeated calls on random uint8 images at the trained size, on the CPU.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import fmt, scratch

FORMATS = ("keras", "tf_saved_model", "onnx", "litert")
MAX_DIFF = 1e-4
DURATION = "about 2 minutes on 2 quiet cores"
TITLE = "Export formats: file size, latency and agreement"
TARGET_TEXT = f"every format's probabilities within {MAX_DIFF:g} of the Keras model's (size and latency reported)"


def run(quick: bool) -> dict[str, Any]:
    import keras

    import autodl
    from autodl.export import export_run

    data = {"dataset": "digits", "subset": 400} if quick else {"dataset": "fashion_mnist", "subset": 6000}
    rows, diffs, results = [], [], {}
    with scratch("export") as tmp:
        search = autodl.run_search(**data, trials=1, epochs=1 if quick else 2, top_k=1, out=tmp, name="e")
        for name in FORMATS:
            import time

            start = time.perf_counter()
            info = export_run(search, name, out=f"{tmp}/{name}").info
            seconds = time.perf_counter() - start
            latency = info["latency"]
            diffs.append(info["check"]["max_abs_diff"])
            results[name] = {
                "size_bytes": info["size_bytes"],
                "latency": latency,
                "export_seconds": seconds,
                "max_abs_diff": info["check"]["max_abs_diff"],
            }
            rows.append(
                [
                    name,
                    f"{info['size_bytes'] / 1e6:.2f}",
                    fmt(latency["1"]["ms"], 3),
                    fmt(latency["256"]["ms"], 2),
                    f"{latency['256']['images_per_second']:,.0f}",
                    f"{info['check']['max_abs_diff']:.1e}",
                    fmt(seconds, 1),
                ]
            )
        accuracy = (search.test_metrics or {}).get("accuracy")
        parameters = search.best_trial.n_params if search.best_trial else None
    fastest = min(results, key=lambda k: results[k]["latency"]["1"]["ms"])
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": bool(max(diffs) <= MAX_DIFF),
        "summary": (
            f"largest difference from Keras {max(diffs):.1e}; fastest at batch 1: {fastest} "
            f"({fmt(results[fastest]['latency']['1']['ms'], 3)} ms)"
        ),
        "columns": [
            "format",
            "size MB",
            "batch 1 ms",
            "batch 256 ms",
            "images/s at 256",
            "max |p - keras|",
            "export s",
        ],
        "rows": rows,
        "results": results,
        "params": {"data": data, "keras_backend": keras.backend.backend(), "parameters": parameters},
        "notes": [
            f"{data['dataset']} (subset {data['subset']}), one trial of the cnn space ({parameters:,} parameters, "
            f"test accuracy {fmt(accuracy, 4)}); backend {keras.backend.backend()}, CPU only.",
            "The machine is shared with other jobs: latencies are indicative (medians of repeated calls, "
            "about 1 s per batch size).",
            "keras runs through model.predict_on_batch, tf_saved_model through the reloaded SavedModel's serve "
            "endpoint, onnx through onnxruntime's CPU provider, litert through ai_edge_litert's interpreter.",
        ],
    }
