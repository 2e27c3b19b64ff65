"""Assemble ``report.html`` for a run and ``index.html`` for a folder of runs.

Both pages are single files that work offline: CSS and the table sorter are inline, plotly.js
is embedded once, images are ``data:`` URIs. Jinja2 escapes every value (``autoescape=True``);
the only markup inserted unescaped is plotly's own output, whose strings
:func:`~autodl.reporting.figures.sanitize_figure` has escaped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from autodl.reporting.figures import FigureRenderer
from autodl.runs import atomic_write_text

if TYPE_CHECKING:
    import jinja2

__all__ = ["render_index", "render_report", "write_index", "write_report"]

logger = logging.getLogger(__name__)


def write_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.html`` atomically and refresh ``<run_dir>/../index.html``.

    Safe to call while a search runs or after it stopped: sections whose inputs are not
    there yet say so. A failure to refresh the index is logged, not raised: the report the
    caller asked for exists.

    Raises:
        RunError: ``run_dir`` is not a run folder (it has no readable ``run.json``).
    """
    import warnings

    run_dir = Path(run_dir)
    path = run_dir / "report.html"
    with warnings.catch_warnings():
        # Optuna's importance evaluators warn on small searches; the report says so itself.
        warnings.simplefilter("ignore", UserWarning)
        atomic_write_text(path, render_report(run_dir))
    try:
        write_index(run_dir.resolve().parent)
    except OSError as exc:
        logger.warning("could not refresh %s: %s", run_dir.parent / "index.html", exc)
    return path


def write_index(out_dir: str | Path) -> Path:
    """Write ``<out_dir>/index.html``: every run folder in ``out_dir``, newest first."""
    out_dir = Path(out_dir)
    path = out_dir / "index.html"
    atomic_write_text(path, render_index(out_dir))
    return path


def render_report(run_dir: Path) -> str:
    """The report page as a string (see :func:`write_report`)."""
    from autodl.reporting.context import report_context

    renderer = FigureRenderer()
    context = report_context(Path(run_dir), renderer)
    generated = _now()
    return _environment().get_template("report.html.j2").render(**context, generated=generated)


def render_index(out_dir: Path) -> str:
    """The index page as a string (see :func:`write_index`)."""
    runs = [entry for entry in (_index_entry(d) for d in _run_folders(out_dir)) if entry]
    runs.sort(key=lambda e: (e["sort_time"], e["folder"]), reverse=True)
    return (
        _environment().get_template("index.html.j2").render(runs=runs, out_dir=out_dir.resolve().name, generated=_now())
    )


def _run_folders(out_dir: Path) -> list[Path]:
    if not out_dir.is_dir():
        return []
    return [d for d in out_dir.iterdir() if d.is_dir() and (d / "run.json").is_file()]


def _index_entry(folder: Path) -> dict[str, Any] | None:
    """One index row; a run.json that cannot be read still gets a row that says so."""
    entry: dict[str, Any] = {
        "folder": folder.name,
        "name": folder.name,
        "href": None,
        "problem": None,
        "dataset": "",
        "backend": "",
        "trials": None,
        "best": None,
        "test": None,
        "status": "",
        "date": "",
        "sort_time": _mtime(folder / "run.json"),
    }
    if (folder / "report.html").is_file():
        entry["href"] = f"{quote(folder.name)}/report.html"
    try:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        if not isinstance(run, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        entry["problem"] = f"run.json could not be read ({exc})"
        return entry
    settings = run.get("settings") if isinstance(run.get("settings"), dict) else {}
    backend = str(settings.get("backend") or "")
    detail = settings.get("tuner") if backend == "kerastuner" else settings.get("sampler")
    counts = run.get("counts") if isinstance(run.get("counts"), dict) else {}
    best = run.get("best") if isinstance(run.get("best"), dict) else {}
    test = run.get("test_metrics") if isinstance(run.get("test_metrics"), dict) else {}
    dataset = run.get("dataset") if isinstance(run.get("dataset"), dict) else {}
    created = run.get("created")
    entry.update(
        name=str(run.get("name") or folder.name),
        dataset=str(dataset.get("name") or ""),
        backend=f"{backend} ({detail})" if backend and detail else backend,
        trials=sum(v for v in counts.values() if isinstance(v, int)) if counts else None,
        best=best.get("value"),
        test=test.get("accuracy"),
        status=str(run.get("status") or ""),
        date=str(created or "")[:19].replace("T", " "),
        sort_time=_timestamp(created) or entry["sort_time"],
    )
    return entry


def _timestamp(text: Any) -> float | None:
    """Seconds since the epoch for an ISO date; naive dates are taken as local time."""
    try:
        return dt.datetime.fromisoformat(str(text)).timestamp()
    except (TypeError, ValueError):
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _now() -> str:
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _environment() -> jinja2.Environment:
    """Templates from the package; autoescape on for every template, whatever its name.

    ``ChainableUndefined``: run.json files from older or interrupted runs lack keys, and a
    missing value should print as a dash, not stop the report.
    """
    import jinja2

    from autodl.reporting.summary import format_number, format_seconds

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("autodl.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["duration"] = format_seconds
    return env
