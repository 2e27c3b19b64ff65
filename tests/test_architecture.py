"""The shape of the code, checked as tests: no import circles, small classes and modules, and
Keras Tuner's private modules only in the versions autodl was checked against.

docs/architecture.md says where new code goes; these keep the habits from drifting.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autodl"
MAX_CLASS_LINES = 250  # code and comments; docstrings are not counted
MAX_MODULE_LINES = 300  # unless the module docstring says why (REASON below)
REASON = "Longer than 300 lines:"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every autodl module ``path`` (the module ``name``) imports, at the top or inside functions
    (those count: a lazy import that closes a circle is still one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` imports name types for annotations, never run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("autodl")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _modules()}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path, name):
            # `from autodl.data import files` names a module; `from autodl.data import get_dataset`
            # names the package: keep whichever is a module of ours.
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)  # a module importing its own package's __init__ is no circle
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("import autodl.b\n")
    b.write_text("def f():\n    from autodl import a\n")
    assert _cycles({"autodl.a": {"autodl.b"}, "autodl.b": {"autodl.a"}}) == [["autodl.a", "autodl.b"]]
    assert _imports(b, "autodl.b") == {"autodl", "autodl.a"} and _imports(a, "autodl.a") == {"autodl.b"}


def test_no_import_circle_between_autodl_modules():
    """Imports inside functions count: a lazy import that closes a circle is still one."""
    cycles = _cycles(_graph())
    assert cycles == [], f"import circles: {cycles}"


def _docstring_lines(node: ast.AST) -> int:
    count = 0
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            expr = body[0]
            count += (expr.end_lineno or expr.lineno) - expr.lineno + 1
    return count


def test_no_class_over_250_lines_of_code():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1 - _docstring_lines(node)
                if lines > MAX_CLASS_LINES:
                    long.append(f"{path.relative_to(ROOT)}::{node.name} ({lines} lines)")
    assert long == [], f"classes over {MAX_CLASS_LINES} lines of code: give their concerns modules of their own"


def test_a_module_over_300_lines_says_why_at_its_top():
    unexplained = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES and REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert unexplained == [], f"split these, or write '{REASON} ...' in their docstring: {unexplained}"


def test_keras_tuner_is_a_version_whose_private_modules_autodl_checked():
    """autodl reaches into ``keras_tuner.src`` (the chief's servicer, protos): a new Keras Tuner
    may move them, so setup.cfg bounds it and this names what must still be there."""
    kt = pytest.importorskip("keras_tuner")
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirement = next(
        line for line in config["options"]["install_requires"].splitlines() if line.strip().startswith("keras-tuner")
    )
    upper = re.search(r"<\s*([\d.]+)", requirement)
    assert upper, f"setup.cfg's {requirement.strip()!r} needs an upper bound: autodl uses keras_tuner.src"
    installed = tuple(int(p) for p in kt.__version__.split(".")[:2])
    bound = tuple(int(p) for p in upper.group(1).split(".")[:2])
    assert installed < bound, f"keras-tuner {kt.__version__} is past the bound {upper.group(1)}"
    used = {
        "keras_tuner.src.protos": ["get_service", "get_service_grpc"],
        "keras_tuner.src.distribute.oracle_chief": ["OracleServicer", "exit_chief"],
        "keras_tuner.src.distribute.oracle_client": ["TIMEOUT"],
        "keras_tuner.src.engine.trial": ["Trial", "TrialStatus"],
        "keras_tuner.src.engine.oracle": ["synchronized"],
    }
    source = (PACKAGE / "backends" / "kerastuner_distributed.py").read_text(encoding="utf-8")
    for module in set(re.findall(r"from (keras_tuner\.src[\w.]*) import", source)):
        assert module in used or any(module == m.rpartition(".")[0] for m in used), (
            f"kerastuner_distributed.py uses {module}: add it to this test's list"
        )
    for module, names in used.items():
        loaded = importlib.import_module(module)
        missing = [name for name in names if not hasattr(loaded, name)]
        assert not missing, f"keras-tuner {kt.__version__} has no {module}.{', '.join(missing)}"
