"""The validated search space, and how it turns into one trial's architecture.

``SearchSpace.sample`` walks the space in a fixed order and asks a suggester for every
searched value; the result (an *architecture*, a plain JSON-able dict) is all the model
builder needs. Parameter names are the key paths of the YAML file (``conv_blocks.filters``,
``conv_blocks.1.dropout`` when sampled per block, ``optimizer.sgd.momentum``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from autodl.space import schema
from autodl.space.params import BaseParam, ChoiceParam, FixedParam, IntParam
from autodl.space.suggest import BaseSuggester, Domain, DomainSuggester

Architecture = dict[str, Any]


class SearchSpace:
    """A validated space: nested dicts whose leaves are parameters (see ``loader``)."""

    def __init__(self, name: str, tree: dict[str, Any], *, description: str = "", source: str = "") -> None:
        self.name = name
        self.description = description
        self.source = source
        self.tree = tree
        # Configurations to try first (parameter name -> value; the loader validates them
        # against this space): known-good points give a short search a strong floor.
        self.start: list[dict[str, Any]] = []

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The complete YAML form, defaults filled in: what run.json records."""

        def dump(node: Any) -> Any:
            if isinstance(node, BaseParam):
                return node.value if isinstance(node, FixedParam) else node.to_dict()
            if isinstance(node, dict):
                return {k: dump(v) for k, v in node.items()}
            if isinstance(node, list):
                return [dump(v) for v in node]
            return node

        out = {"name": self.name, "description": self.description, **dump(self.tree)}
        if self.start:
            out["start"] = [dict(c) for c in self.start]
        return out

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A space pickled by an earlier version (a run's search.pkl) lacks the sections added
        # since; their defaults change nothing, so the run resumes and compares as before.
        tree = state.get("tree", {})
        tree.setdefault("augmentation", {key: FixedParam(f.default) for key, f in schema.AUGMENTATION.items()})
        for key, field in schema.TRAINING.items():
            tree.setdefault("training", {}).setdefault(key, FixedParam(field.default))
        self.__dict__.update(state)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    @property
    def objective(self) -> tuple[str, str]:
        """(metric, direction), e.g. ("val_accuracy", "maximize")."""
        obj = self.tree["objective"]
        return obj["metric"].value, obj["direction"].value

    @property
    def max_epochs(self) -> int:
        return self._fixed_training("max_epochs")

    @property
    def patience(self) -> int:
        return self._fixed_training("patience")

    @property
    def pruning_warmup(self) -> int:
        """Epochs a trial trains before the pruner may judge it (augmented trials start slowly)."""
        return self._fixed_training("pruning_warmup")

    @property
    def max_params(self) -> int:
        """The largest model a trial may train (0: any size): a deployment budget."""
        return self._fixed_training("max_params")

    def _fixed_training(self, key: str) -> int:
        return int(self.tree["training"][key].value)  # the schema makes these keys fixed values

    def param_names(self) -> list[str]:
        """Names of every searched parameter that some trial could ask for, in order."""
        return list(self.domains())

    def domains(self) -> dict[str, Domain]:
        """Every searched parameter's name and what it may take, in the order trials ask."""
        out: dict[str, Domain] = {}
        for index in range(max(self._choice_widths(self.tree), default=1)):
            suggester = DomainSuggester(index)
            self.sample(suggester)
            for name in suggester.params:
                out.setdefault(name, suggester.domains[name])
        return out

    def _choice_widths(self, node: Any) -> Iterator[int]:
        if isinstance(node, ChoiceParam):
            yield len(node.values)
        elif isinstance(node, dict):
            yield len(node)  # the optimizer table is a choice among its keys
            for value in node.values():
                yield from self._choice_widths(value)
        elif isinstance(node, list):
            for value in node:
                yield from self._choice_widths(value)

    # -- sampling ---------------------------------------------------------------------
    def sample(self, suggester: BaseSuggester) -> Architecture:
        """Ask ``suggester`` for every value of one trial; return the architecture."""
        run = _Sampling(suggester)
        tree = self.tree
        arch: Architecture = {"normalization": run.get("normalization", tree["normalization"])}
        arch["stem"] = [
            {key: run.get(f"stem.{i}.{key}", param) for key, param in layer.items()}
            for i, layer in enumerate(tree["stem"])
        ]
        arch["blocks"] = self._sample_blocks(run, tree["conv_blocks"])
        dense = tree["dense"]
        arch["global_pooling"] = run.get("dense.global_pooling", dense["global_pooling"])
        arch["dense"] = self._sample_dense(run, dense)
        arch["optimizer"] = self._sample_optimizer(run, tree["optimizer"])
        arch["batch_size"] = int(run.get("training.batch_size", tree["training"]["batch_size"]))
        schedule = run.get("training.lr_schedule", tree["training"]["lr_schedule"])
        if schedule != "constant":
            arch["lr_schedule"] = schedule  # absent for a constant rate: the trial trains as before
        augmentation = {key: run.get(f"augmentation.{key}", param) for key, param in tree["augmentation"].items()}
        if any(augmentation[key] != f.default for key, f in schema.AUGMENTATION.items() if key != "fill"):
            arch["augmentation"] = augmentation  # absent when nothing is transformed: the network is as before
        return arch

    def _sample_blocks(self, run: _Sampling, spec: dict[str, Any] | None) -> list[dict[str, Any]]:
        if spec is None:
            return []
        sampling = spec["sampling"].value
        count = run.get("conv_blocks.count", spec["count"])
        growth = float(run.get("conv_blocks.filters_growth", spec["filters_growth"]))
        blocks = []
        for b in range(count):
            with run.only_if("conv_blocks.count", spec["count"], b):
                prefix = "conv_blocks." if sampling == "shared" else f"conv_blocks.{b}."
                n_layers = run.get(prefix + "layers", spec["layers"])
                layers = []
                for j in range(n_layers):
                    with run.only_if(prefix + "layers", spec["layers"], j, enabled=sampling == "per_layer"):
                        lp = f"conv_blocks.{b}.{j}." if sampling == "per_layer" else prefix
                        filters = run.get(lp + "filters", spec["filters"])
                        layers.append(
                            {
                                "filters": max(1, int(round(filters * growth**b))),
                                "kernel_size": run.get(lp + "kernel_size", spec["kernel_size"]),
                                "activation": run.get(lp + "activation", spec["activation"]),
                            }
                        )
                blocks.append(
                    {
                        "layers": layers,
                        "pooling": run.get(prefix + "pooling", spec["pooling"]),
                        "residual": bool(run.get(prefix + "residual", spec["residual"])),
                        "dropout": float(run.get(prefix + "dropout", spec["dropout"])),
                    }
                )
        return blocks

    def _sample_dense(self, run: _Sampling, spec: dict[str, Any]) -> list[dict[str, Any]]:
        per_layer = spec["sampling"].value == "per_layer"
        layers = []
        for i in range(run.get("dense.layers", spec["layers"])):
            with run.only_if("dense.layers", spec["layers"], i):
                prefix = f"dense.{i}." if per_layer else "dense."
                layers.append(
                    {
                        "units": int(run.get(prefix + "units", spec["units"])),
                        "activation": run.get(prefix + "activation", spec["activation"]),
                        "dropout": float(run.get(prefix + "dropout", spec["dropout"])),
                    }
                )
        return layers

    def _sample_optimizer(self, run: _Sampling, spec: dict[str, dict[str, BaseParam]]) -> dict[str, Any]:
        names = list(spec)
        name_param: BaseParam = ChoiceParam(names) if len(names) > 1 else FixedParam(names[0])
        name = run.get("optimizer.name", name_param)
        out: dict[str, Any] = {"name": name}
        scope = (
            run.suggester.conditional("optimizer.name", [name]) if name_param.is_searched else contextlib.nullcontext()
        )
        with scope:
            for key, param in spec[name].items():
                out[key] = run.get(f"optimizer.{name}.{key}", param)
        return out

    def copy(self) -> SearchSpace:
        return copy.deepcopy(self)


class _Sampling:
    """One walk over the space: memoises shared names, opens conditional scopes."""

    def __init__(self, suggester: BaseSuggester) -> None:
        self.suggester = suggester
        self._memo: dict[str, Any] = {}

    def get(self, name: str, param: BaseParam) -> Any:
        if name not in self._memo:
            self._memo[name] = param.suggest(name, self.suggester)
        return self._memo[name]

    @contextlib.contextmanager
    def only_if(self, parent: str, param: BaseParam, index: int, *, enabled: bool = True) -> Iterator[None]:
        """Scope for item ``index`` of a counted list: it exists only when count > index."""
        if not (enabled and param.is_searched and isinstance(param, IntParam) and index >= param.low):
            yield
            return
        values = list(range(param.low, param.high + 1, param.step or 1))
        with self.suggester.conditional(parent, [v for v in values if v > index]):
            yield
