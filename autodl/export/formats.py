"""The export formats: how each writes the serving model and how each is run again.

Every format but ``keras`` goes through Keras 3's own ``model.export``; each has a runner
that loads the written artifact with the runtime that serves it (TensorFlow for a
SavedModel, ONNX Runtime, LiteRT's interpreter), so the model card measures and checks
the file that ships, not the Keras model it came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autodl.exceptions import UsageError

__all__ = ["FORMATS", "ExportFormat", "get_format"]

Runner = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """One format: the artifact's name in the export folder, what it needs, how to use it."""

    name: str
    artifact: str
    needs: tuple[str, ...]  # modules that must import, each with the pip package that has it
    serve: str  # how the artifact is served, for the model card

    def write(self, model: Any, path: Path) -> None:
        """Write ``model`` (the serving model) to ``path`` (the artifact)."""
        self.check()
        if self.name == "keras":
            model.save(path)
            return
        kwargs: dict[str, Any] = {"verbose": False}
        model.export(str(path), format=self.name, **kwargs)

    def check(self) -> None:
        """Refuse early, with the fix, when a module the format needs is missing."""
        import importlib.util
        import os

        needs = list(self.needs)
        if self.name == "onnx" and os.environ.get("KERAS_BACKEND") == "jax":  # Keras converts JAX with jax2onnx
            needs = ["jax2onnx:jax2onnx", "onnx:onnx", "onnxruntime:onnxruntime"]
        for module, package in (need.split(":") for need in needs):
            if importlib.util.find_spec(module) is None:
                raise UsageError(
                    f"Exporting to {self.name} needs {package}, which is not installed. Install it with "
                    f"`pip install 'autodl[export]'` (or `pip install {package}`), or pick another --format "
                    f"({', '.join(FORMATS)})"
                )

    def runner(self, path: Path) -> Runner:
        """A function from a uint8 image batch to class probabilities, run by the format's runtime."""
        return _RUNNERS[self.name](path)


def _keras_runner(path: Path) -> Runner:
    import keras

    model = keras.saving.load_model(path)
    return lambda x: np.asarray(model.predict_on_batch(x))


def _saved_model_runner(path: Path) -> Runner:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept: ``serve`` refers to its variables
    return lambda x: np.asarray(loaded.serve(tf.constant(x)))


def _onnx_runner(path: Path) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: np.asarray(session.run(None, {name: x})[0])


def _litert_runner(path: Path) -> Runner:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own copy of the interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(path))
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]["index"]
    shape: list[tuple[int, ...]] = [()]

    def run(x: np.ndarray) -> np.ndarray:
        if x.shape != shape[0]:  # the interpreter is sized per input shape
            interpreter.resize_tensor_input(source["index"], x.shape)
            interpreter.allocate_tensors()
            shape[0] = x.shape
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(target))

    return run


_RUNNERS: dict[str, Callable[[Path], Runner]] = {
    "keras": _keras_runner,
    "tf_saved_model": _saved_model_runner,
    "onnx": _onnx_runner,
    "litert": _litert_runner,
}

FORMATS: dict[str, ExportFormat] = {
    "keras": ExportFormat("keras", "model.keras", (), "keras.saving.load_model(path).predict(images)"),
    "tf_saved_model": ExportFormat(
        "tf_saved_model",
        "saved_model",
        ("tensorflow:tensorflow",),
        "TensorFlow Serving, or tf.saved_model.load(path).serve(images)",
    ),
    "onnx": ExportFormat(
        "onnx",
        "model.onnx",
        ("tensorflow:tensorflow", "tf2onnx:tf2onnx", "onnx:onnx", "onnxruntime:onnxruntime"),
        "onnxruntime.InferenceSession(path).run(None, {'image': images})",
    ),
    "litert": ExportFormat(
        "litert",
        "model.tflite",
        ("tensorflow:tensorflow",),
        "LiteRT (TFLite) on a phone, or ai_edge_litert.interpreter.Interpreter(path)",
    ),
}


def get_format(name: str) -> ExportFormat:
    """The format called ``name``.

    Raises:
        UsageError: no such format.
    """
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(f"unknown export format {name!r}; expected one of {', '.join(FORMATS)}") from None
