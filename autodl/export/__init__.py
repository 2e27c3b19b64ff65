"""Ship a run's model: one inference artifact that takes raw images, its metadata and model card.

``export_run(search, "onnx")`` (``autodl export RUN --format onnx``); the formats are
Keras 3's own (``keras``, ``tf_saved_model``, ``onnx``, ``litert``).
"""

from autodl.export.api import ExportResult, export_run
from autodl.export.formats import FORMATS, get_format

__all__ = ["FORMATS", "ExportResult", "export_run", "get_format"]
