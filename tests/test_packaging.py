"""setup.cfg lists autodl's packages by hand (see its comment): check the list is complete."""

from __future__ import annotations

import configparser
from pathlib import Path

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
