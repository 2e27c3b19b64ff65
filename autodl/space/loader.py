"""Read search-space YAML files into a validated ``SearchSpace``.

Every error names the file, the key path and the reason, e.g.
``cnn.yaml: conv_blocks.filters.max: min (64) is greater than max (16)``.

Longer than 300 lines: a space file's every check (keys, types, bounds, start networks, YAML's
hostile forms) names the file and key path the same way; one validator class holds them.
"""

from __future__ import annotations

import difflib
import importlib.resources
import pathlib
from collections.abc import Callable
from typing import Any, NoReturn

from autodl.exceptions import SpaceError, brief
from autodl.space import schema
from autodl.space.params import BaseParam, FixedParam, ParamError
from autodl.space.schema import Field
from autodl.space.space import SearchSpace

BUNDLED_PACKAGE = "autodl.searchspaces"
# Limits on a file's shape, far above any real space (the bundled ones hold ~10 kB and ~300
# values, 5 levels deep): the loader's work stays bounded whatever the file holds. YAML
# aliases repeat what they point to, so a file of a few hundred bytes can stand for millions
# of values; the count is of values as the aliases expand them.
MAX_BYTES = 1_000_000
MAX_VALUES = 20_000
MAX_DEPTH = 20
MAX_PROBLEMS = 20  # a message lists this many problems of a file, then counts the rest


def bundled_spaces() -> dict[str, str]:
    """Name -> one-line description of the spaces shipped with autodl."""
    out = {}
    for entry in sorted(_bundled_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            name = entry.name[: -len(".yaml")]
            text = " ".join(load_space(name).description.split())
            out[name] = text.split(". ")[0].rstrip(".") + "." if text else ""
    return out


def bundled_text(name: str) -> str:
    """The YAML source of a bundled space, as shipped."""
    entry = _bundled_dir() / f"{name}.yaml"
    if not entry.is_file():
        raise SpaceError(_unknown_space_message(name))
    return entry.read_text(encoding="utf-8")


def load_space(name_or_path: str | pathlib.Path) -> SearchSpace:
    """A bundled space by name (``cnn``) or a YAML file by path."""
    text_name = str(name_or_path)
    path = pathlib.Path(text_name)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text_name:
        if not path.is_file():
            raise SpaceError(
                f"{text_name}: no such search-space file; give a YAML file path or one of "
                f"the bundled spaces ({', '.join(_bundled_names())})"
            )
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                raise SpaceError(_too_large(text_name))
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpaceError(f"{text_name}: cannot read the search-space file ({brief(str(exc), 200)})") from exc
        return parse_space(text, source=str(path), default_name=path.stem)
    return parse_space(bundled_text(text_name), source=f"bundled:{text_name}", default_name=text_name)


def parse_space(text: str, *, source: str = "<string>", default_name: str = "space") -> SearchSpace:
    """Parse and validate YAML text; ``source`` names the file in errors."""
    import yaml

    label = pathlib.Path(source.removeprefix("bundled:")).name if source.startswith("bundled:") else source
    label = label + ".yaml" if source.startswith("bundled:") else label
    if len(text) > MAX_BYTES:
        raise SpaceError(_too_large(label))
    try:
        data = yaml.load(text, Loader=_loader_class())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpaceError(
            f"{label}: not valid YAML{where}: {brief(problem, 300)}; fix the syntax (indentation, colons, quotes)"
        ) from exc
    except RecursionError as exc:
        raise SpaceError(
            f"{label}: nested too deeply for a search space (brackets or indentation more than "
            f"{MAX_DEPTH} levels deep); fix the file's structure"
        ) from exc
    except (ValueError, OverflowError) as exc:  # an integer of more than 4,300 digits, a date like 2024-13-45
        raise SpaceError(
            f"{label}: a value cannot be read ({brief(str(exc), 120)}); write numbers of sane size "
            "and quote text that YAML would read as something else"
        ) from exc
    if data is None:
        raise SpaceError(
            f"{label}: the file is empty; a search space is a mapping of sections, e.g. "
            "`conv_blocks: {count: 2}` (`autodl spaces show cnn` prints a complete one)"
        )
    return space_from_dict(data, label=label, source=source, default_name=default_name)


def space_from_dict(data: Any, *, label: str = "<space>", source: str = "", default_name: str = "space") -> SearchSpace:
    """Validate a plain dict (parsed YAML, or ``SearchSpace.to_dict()``) into a space.

    Every problem in the file is reported at once (one line each), so a user fixes them in
    one edit instead of one run per typo.
    """
    v = _Validator(label)
    if not isinstance(data, dict):
        raise SpaceError(
            f"{label}: expected a mapping of sections ({', '.join(schema.TOP_LEVEL)}), "
            f"got {type(data).__name__} {brief(data, 40)}"
        )
    _check_size(data, label)
    v.keys("", data, schema.TOP_LEVEL)
    name = data.get("name", default_name)
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            v.note(key, f"expected a string, got {brief(value)}")
    tree: dict[str, Any] = {
        "objective": v.check(v.section, "objective", data.get("objective"), schema.OBJECTIVE),
        "augmentation": v.check(v.section, "augmentation", data.get("augmentation"), schema.AUGMENTATION),
        "stem": v.check(v.stem, data.get("stem")),
        "conv_blocks": None
        if data.get("conv_blocks") is None
        else v.check(v.section, "conv_blocks", data["conv_blocks"], schema.CONV_BLOCKS),
        "normalization": v.check(
            v.param, "normalization", data.get("normalization", schema.NORMALIZATION.default), schema.NORMALIZATION
        ),
        "dense": v.check(v.section, "dense", data.get("dense"), schema.DENSE),
        "optimizer": v.check(v.optimizer, data.get("optimizer")),
        "training": v.check(v.section, "training", data.get("training"), schema.TRAINING),
    }
    objective = tree["objective"] or {}
    if objective.get("metric") is not None and objective.get("direction") is not None:
        metric, direction = objective["metric"].value, objective["direction"].value
        if (metric == "val_loss") != (direction == "minimize"):
            v.note(
                "objective.direction",
                f"{metric} should be {'minimized' if metric == 'val_loss' else 'maximized'}, "
                f"got direction: {direction}; fix the direction or the metric",
            )
    v.raise_problems()  # the start list is checked against a valid space only
    space = SearchSpace(name, tree, description=description, source=source)
    space.start = v.check(v.start, data.get("start"), space) or []
    v.raise_problems()
    return space


def _too_large(label: str) -> str:
    return (
        f"{label}: the file is larger than {MAX_BYTES:,} bytes; a search space takes a few kilobytes "
        "(the bundled ones 1-3 kB): check that this is the file you meant"
    )


def _check_size(data: Any, label: str) -> None:
    """Refuse data of more than ``MAX_VALUES`` values (aliases expanded) or ``MAX_DEPTH`` levels."""
    count, stack = 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SpaceError(
                f"{label}: the file holds more than {MAX_VALUES:,} values once its YAML aliases "
                "(*name) are expanded; a search space holds a few hundred. Write the values out, "
                "or use fewer nested aliases"
            )
        if depth > MAX_DEPTH:
            raise SpaceError(
                f"{label}: values nested more than {MAX_DEPTH} levels deep; a search space is "
                "at most 5 levels deep (section, key, parameter, field, value)"
            )
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for pair in node.items() for child in pair)
        elif isinstance(node, (list, tuple)):
            stack.extend((child, depth + 1) for child in node)


class _Invalid(Exception):
    """One key's problem; stops checking that key, not the file."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path, self.reason = path, reason


class _Validator:
    def __init__(self, label: str) -> None:
        self.label = label
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, reason: str) -> NoReturn:
        raise _Invalid(path, reason)

    def note(self, path: str, reason: str) -> None:
        """Record a problem and go on checking."""
        self.problems.append((path, reason))

    def check(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one key's check; its problem is recorded and the rest of the file still checked."""
        try:
            return fn(*args)
        except _Invalid as exc:
            self.note(exc.path, exc.reason)
            return None

    def raise_problems(self) -> None:
        if not self.problems:
            return
        lines = [f"{path}: {reason}" if path else reason for path, reason in self.problems]
        if len(lines) == 1:
            raise SpaceError(f"{self.label}: {lines[0]}")
        shown = [f"  - {line}" for line in lines[:MAX_PROBLEMS]]
        if len(lines) > MAX_PROBLEMS:
            shown.append(f"  - ... and {len(lines) - MAX_PROBLEMS} more")
        raise SpaceError(f"{self.label}: {len(lines)} problems, fix each:\n" + "\n".join(shown))

    def keys(
        self,
        path: str,
        data: dict[str, Any],
        allowed: Any,
        *,
        unknown: str = "unknown key",
        listing: str = "allowed keys here",
    ) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key[:100], list(allowed), n=1) if isinstance(key, str) else []
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.note(_join(path, _key(key)), f"{unknown}; {hint}{listing}: {_listing(list(allowed))}")

    def param(self, path: str, raw: Any, field: Field) -> BaseParam:
        try:
            param = BaseParam.from_dict(raw)
        except ParamError as exc:
            self.fail(_join(path, exc.key) if exc.key else path, str(exc))
        if not field.searchable and not isinstance(param, FixedParam):
            self.fail(
                path,
                f"this key takes a single fixed value, not {_article(param.kind)} {param.kind} parameter; write e.g. "
                f"`{path.rsplit('.', 1)[-1]}: {field.default}`",
            )
        if param.kind in ("int", "float") and field.kind not in ("int", "float"):
            self.fail(
                path,
                f"{_article(param.kind)} {param.kind} range does not fit here: expected {field.kind} values"
                + (f" ({', '.join(map(str, field.values))}); use a choice" if field.values else ""),
            )
        if param.kind == "bool" and field.kind != "bool":
            self.fail(path, f"a bool parameter does not fit here: expected {field.kind} values")
        if param.kind == "float" and field.kind == "int":
            self.fail(path, "expected whole numbers here: use `type: int`")
        for value in param.candidates():
            reason = field.check(value)
            if reason:
                sub = {"int": "min", "float": "min"}.get(param.kind)
                if sub and value == getattr(param, "high", None) and value != getattr(param, "low", None):
                    sub = "max"
                self.fail(_join(path, {"choice": "values", "fixed": ""}.get(param.kind, sub or "")), reason)
        return param

    def section(self, path: str, data: Any, fields: dict[str, Field]) -> dict[str, BaseParam]:
        data = {} if data is None else data
        if not isinstance(data, dict):
            self.fail(path, f"expected a mapping with keys {', '.join(fields)}, got {brief(data)}")
        self.keys(path, data, fields)
        return {key: self.check(self.param, _join(path, key), data.get(key, f.default), f) for key, f in fields.items()}

    def stem(self, data: Any) -> list[dict[str, BaseParam]]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.fail("stem", "expected a list of conv layers, e.g. `- {filters: 64, kernel_size: 5}`")
        if len(data) > schema.MAX_STEM:
            self.fail("stem", f"expected at most {schema.MAX_STEM} layers, got {len(data)}")
        return [self.check(self.section, f"stem.{i}", layer, schema.STEM_LAYER) for i, layer in enumerate(data)]

    def start(self, data: Any, space: SearchSpace) -> list[dict[str, Any]]:
        """Configurations to try first: each maps searched parameter names to values."""
        if data is None:
            return []
        example = "`- {conv_blocks.count: 2, optimizer.name: adam}`"
        if not isinstance(data, list):
            self.fail("start", f"expected a list of configurations (parameter name: value), e.g. {example}")
        domains = space.domains()
        out: list[dict[str, Any]] = []
        for i, config in enumerate(data):
            if not isinstance(config, dict) or not config:
                self.note(
                    f"start.{i}",
                    f"expected a mapping of parameter names to values, e.g. {example}, got {brief(config)}",
                )
                continue
            self.keys(
                f"start.{i}",
                config,
                domains,
                unknown="not a searched parameter of this space",
                listing="start values name parameters as trials.csv does",
            )
            clean, valid = {}, True
            for key, value in config.items():
                if key not in domains:
                    valid = False
                    continue
                clean[str(key)], reason = domains[key].coerce(value)
                if reason:
                    self.note(f"start.{i}.{_key(key)}", reason)
                    valid = False
            if valid and clean in out:
                self.note(f"start.{i}", "repeats an earlier configuration; drop one")
            elif valid:
                out.append(clean)
        return out

    def optimizer(self, data: Any) -> dict[str, dict[str, BaseParam]]:
        if data is None:
            data = {"adam": {}}
        if not isinstance(data, dict) or not data:
            self.fail(
                "optimizer",
                f"expected a mapping of optimizer names ({', '.join(schema.OPTIMIZERS)}) "
                "to their parameters, e.g. `adam: {learning_rate: {type: float, min: 1e-4, max: 1e-2, log: true}}`",
            )
        self.keys("optimizer", data, schema.OPTIMIZERS)
        return {
            name: self.check(self.section, f"optimizer.{name}", params, schema.OPTIMIZER_PARAMS[name])
            for name, params in data.items()
            if name in schema.OPTIMIZERS
        }


def _loader_class() -> Any:
    """A SafeLoader that reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        # PyYAML keeps the last of two equal keys without a word; a space file with a key
        # twice was edited in two places, and only one of them counts. Merged keys (<<: *a)
        # may be overridden: that is what merging is for.
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: PyYAML says so below
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {brief(key, 40)} appears twice in one mapping, and only the last would count; keep one",
                    key_node.start_mark,
                )
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.construct_mapping = construct_mapping  # type: ignore[method-assign,assignment]
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return Loader


def _listing(names: list[str], most: int = 8) -> str:
    """``a, b, c`` of at most ``most`` names, and how many more (a per-layer space has thousands)."""
    if not names:
        return "none"
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _key(key: Any) -> str:
    """A key as a message's key path shows it: short, whatever the file holds."""
    return key if isinstance(key, str) and len(key) <= 40 else brief(key, 40)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and key else path or key


def _bundled_dir() -> Any:
    try:
        return importlib.resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:  # running from a source tree without installing
        return pathlib.Path(__file__).resolve().parents[2] / "searchspaces"


def _bundled_names() -> list[str]:
    return [e.name[:-5] for e in sorted(_bundled_dir().iterdir(), key=lambda e: e.name) if e.name.endswith(".yaml")]


def _unknown_space_message(name: str) -> str:
    names = _bundled_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown search space {name!r}.{hint} Bundled spaces: {', '.join(names)}; "
        "or pass the path of a YAML file (see searchspaces/README.md for the format)"
    )
