"""setup.cfg lists autodl's packages by hand (see its comment): check the list is complete."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _options() -> configparser.SectionProxy:
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg", encoding="utf-8")
    return config["options"]


def test_every_package_on_disk_is_listed_in_setup_cfg():
    listed = set(_options()["packages"].split())
    on_disk = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in (REPO_ROOT / "autodl").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    missing = sorted(on_disk - listed)
    assert not missing, (
        f"setup.cfg [options] packages does not list {missing}: a non-editable install "
        "(pip install ., a wheel) would leave them out. Add them to that list."
    )


def test_bundled_search_spaces_ship_as_autodl_searchspaces():
    options = _options()
    assert "autodl.searchspaces" in options["packages"].split()
    assert "autodl.searchspaces = searchspaces" in options["package_dir"]
    assert (REPO_ROOT / "searchspaces" / "__init__.py").is_file()


@pytest.mark.slow
def test_non_editable_install_ships_spaces_and_templates(tmp_path):
    """A wheel installed elsewhere finds the bundled spaces and the report templates."""
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
            str(REPO_ROOT),
        ],
        check=True,
        timeout=300,
    )
    wheel = next((tmp_path / "wheel").glob("autodl-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp_path / "site"), str(wheel)],
        check=True,
        timeout=300,
    )
    code = (
        "import autodl, importlib.resources as r; from autodl.space import bundled_spaces, load_space;"
        f"assert autodl.__file__.startswith({str(tmp_path / 'site')!r}), autodl.__file__;"
        "names = sorted(bundled_spaces()); [load_space(n) for n in names]; print(names);"
        "print(sorted(p.name for p in r.files('autodl.reporting').joinpath('templates').iterdir()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    names, templates = out.stdout.strip().splitlines()
    assert names == "['cnn', 'cnn-augmented', 'digit-recognition', 'lenet', 'mlp']"
    assert "report.html.j2" in templates
