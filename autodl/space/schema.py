"""What each key of a search-space file may hold: its type, range and default.

One table drives validation, defaults and the format docs, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from autodl.exceptions import brief
from autodl.space.params import number_problem

ACTIVATIONS = ("relu", "gelu", "swish", "silu", "elu", "selu", "tanh", "leaky_relu", "mish")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
# constant: the optimizer's rate throughout. cosine: decays per epoch along half a cosine from
# it to near 0 at max_epochs. plateau: divided by 5 after max(1, patience // 2) epochs with no
# better objective (autodl.training.trainer.make_schedule_callbacks).
LR_SCHEDULES = ("constant", "cosine", "plateau")


@dataclasses.dataclass(frozen=True)
class Field:
    """Constraints on one key. ``kind`` is int, float, str or bool."""

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    high_open: bool = False
    values: tuple[Any, ...] | None = None
    searchable: bool = True
    doc: str = ""

    def check(self, value: Any) -> str | None:
        """Return why ``value`` does not fit, or None."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {brief(value)}"
        if self.kind == "str":
            if not isinstance(value, str) or value not in (self.values or ()):
                return f"expected one of {', '.join(map(str, self.values or ()))}, got {brief(value)}"
            return None
        problem = number_problem(value, integer=self.kind == "int")
        if problem:
            return problem
        if self.kind == "int" and not isinstance(value, int):  # 2.0 is a float: write 2
            return f"expected an integer, got {brief(value)}; write {int(value)}"
        if self.low is not None and value < self.low:
            return f"expected a value >= {self.low:g}, got {brief(value)}"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            bracket = ")" if self.high_open else "]"
            return f"expected a value in [{self.low:g}, {self.high:g}{bracket}, got {brief(value)}"
        return None


# Upper bounds on sizes: far beyond any network autodl searches, they stop a typo (an extra
# zero or six) from building a model no machine holds, and the loader from walking a network
# of a billion blocks to check the file.
MAX_FILTERS = 16384
MAX_UNITS = 65536
MAX_KERNEL = 128
MAX_BLOCKS = 64
MAX_LAYERS = 16
MAX_STEM = 64
MAX_EPOCHS = 100_000


def _dropout(doc: str) -> Field:
    return Field("float", 0.0, low=0.0, high=1.0, high_open=True, doc=doc)


STEM_LAYER = {
    "filters": Field("int", 32, low=1, high=MAX_FILTERS, doc="filters of this fixed leading conv layer"),
    "kernel_size": Field("int", 3, low=1, high=MAX_KERNEL, doc="kernel size"),
    "activation": Field("str", "relu", values=ACTIVATIONS, doc="activation"),
}

CONV_BLOCKS = {
    "count": Field("int", 1, low=0, high=MAX_BLOCKS, doc="number of conv blocks"),
    "sampling": Field(
        "str",
        "shared",
        values=("shared", "per_block", "per_layer"),
        searchable=False,
        doc="shared: one value for all blocks; per_block: block params per block; "
        "per_layer: also filters/kernel/activation per conv layer",
    ),
    "layers": Field("int", 1, low=1, high=MAX_LAYERS, doc="conv layers per block"),
    "filters": Field("int", 32, low=1, high=MAX_FILTERS, doc="filters of the first block"),
    "filters_growth": Field("float", 1.0, low=1.0, high=4.0, doc="filters of block i = filters * growth**i"),
    "kernel_size": Field("int", 3, low=1, high=MAX_KERNEL, doc="kernel size"),
    "activation": Field("str", "relu", values=ACTIVATIONS, doc="activation"),
    "pooling": Field("str", "max", values=("max", "avg", "none"), doc="pooling after each block"),
    "residual": Field("bool", False, doc="add a (projected) shortcut around each block"),
    "dropout": _dropout("dropout after each block"),
}

DENSE = {
    "global_pooling": Field("str", "flatten", values=("flatten", "avg", "max"), doc="how feature maps become a vector"),
    "layers": Field("int", 0, low=0, high=MAX_LAYERS, doc="hidden dense layers before the classifier"),
    "sampling": Field(
        "str",
        "per_layer",
        values=("shared", "per_layer"),
        searchable=False,
        doc="shared: all dense layers alike; per_layer: units/activation/dropout per layer",
    ),
    "units": Field("int", 128, low=1, high=MAX_UNITS, doc="units per dense layer"),
    "activation": Field("str", "relu", values=ACTIVATIONS, doc="activation"),
    "dropout": _dropout("dropout after each dense layer (before the classifier)"),
}

_LR = Field("float", 1e-3, low=0.0, doc="learning rate (use log: true)")
_WD = Field("float", 0.0, low=0.0, doc="weight decay")
_BETA = Field("float", 0.9, low=0.0, high=1.0, high_open=True, doc="moment decay")
OPTIMIZER_PARAMS = {
    "adam": {
        "learning_rate": _LR,
        "weight_decay": _WD,
        "beta_1": _BETA,
        "beta_2": dataclasses.replace(_BETA, default=0.999),
    },
    "adamw": {
        "learning_rate": _LR,
        "weight_decay": dataclasses.replace(_WD, default=0.004),
        "beta_1": _BETA,
        "beta_2": dataclasses.replace(_BETA, default=0.999),
    },
    "sgd": {
        "learning_rate": dataclasses.replace(_LR, default=0.01),
        "momentum": dataclasses.replace(_BETA, default=0.0),
        "weight_decay": _WD,
        "nesterov": Field("bool", False, doc="Nesterov momentum"),
    },
    "rmsprop": {
        "learning_rate": _LR,
        "rho": _BETA,
        "momentum": dataclasses.replace(_BETA, default=0.0),
        "weight_decay": _WD,
    },
}

TRAINING = {
    "batch_size": Field("int", 128, low=1, high=65536, doc="batch size"),
    "max_epochs": Field("int", 10, low=1, high=MAX_EPOCHS, searchable=False, doc="epochs at most (--epochs overrides)"),
    "patience": Field("int", 3, low=0, high=MAX_EPOCHS, searchable=False, doc="early-stopping patience in epochs"),
    "pruning_warmup": Field(
        "int",
        1,
        low=0,
        high=MAX_EPOCHS,
        searchable=False,
        doc="epochs every trial trains before Optuna's pruner may stop it",
    ),
    "lr_schedule": Field(
        "str", "constant", values=LR_SCHEDULES, doc="how the learning rate changes over a trial's epochs"
    ),
    "max_params": Field(
        "int",
        0,
        low=0,
        high=10**12,
        searchable=False,
        doc="largest model a trial may build (0: no limit); larger ones are pruned untrained",
    ),
}

OBJECTIVE = {
    "metric": Field(
        "str",
        "val_accuracy",
        values=("val_accuracy", "val_loss"),
        searchable=False,
        doc="validation metric the search optimizes",
    ),
    "direction": Field(
        "str", "maximize", values=("maximize", "minimize"), searchable=False, doc="maximize accuracy, minimize loss"
    ),
}

# Random transformations of the training images, as layers at the model's input: Keras runs
# them only while training (validation, test and predict see the images as they are), on any
# backend, and a saved model carries them without applying them.
AUGMENTATION = {
    "flip": Field(
        "str", "none", values=("none", "horizontal", "vertical", "horizontal_and_vertical"), doc="random mirroring"
    ),
    "rotation": Field("float", 0.0, low=0.0, high=0.5, doc="random rotation, up to this fraction of a full turn"),
    "translation": Field(
        "float", 0.0, low=0.0, high=0.5, high_open=True, doc="random shift, up to this fraction of the width and height"
    ),
    "zoom": Field(
        "float", 0.0, low=0.0, high=1.0, high_open=True, doc="random zoom in or out, up to this fraction of the size"
    ),
    "contrast": Field(
        "float", 0.0, low=0.0, high=1.0, high_open=True, doc="random contrast change, up to this fraction"
    ),
    "fill": Field(
        "str",
        "reflect",
        values=("reflect", "constant", "nearest", "wrap"),
        doc="what fills the pixels a rotation, shift or zoom brings in (constant: black)",
    ),
}

NORMALIZATION = Field(
    "str", "none", values=("none", "batch", "layer"), doc="normalization after every conv and dense layer"
)

TOP_LEVEL = (
    "name",
    "description",
    "objective",
    "augmentation",
    "stem",
    "conv_blocks",
    "normalization",
    "dense",
    "optimizer",
    "training",
    "start",
)
