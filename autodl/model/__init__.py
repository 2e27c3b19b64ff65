"""Turn a sampled architecture into a compiled Keras model."""

from autodl.model.builder import build_model, count_params, layer_table, make_optimizer

__all__ = ["build_model", "count_params", "layer_table", "make_optimizer"]
