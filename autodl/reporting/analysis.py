"""The report's search analysis: optimization history, parameter importances, parallel
coordinates.

Optuna runs get ``optuna.visualization``'s own figures, read from the study's SQLite file, so
the report matches what ``optuna-dashboard`` shows. Keras Tuner runs, and Optuna runs whose
study cannot be opened (moved, deleted, another database), get the same three figures built
from ``trials.json``. Each figure is optional: a problem becomes a note, never an error,
because the report must build for any run folder.

Longer than 300 lines: each of Optuna's analyses (history, importances, parallel coordinates) needs
its own guard for the studies where it cannot run, and those guards are kept beside the call.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodl.records import TrialRecord, TrialState
from autodl.reporting.summary import is_finite

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["SearchAnalysis", "search_analysis"]

logger = logging.getLogger(__name__)

#: Fewer complete trials than this and importances are noise (and some evaluators fail).
MIN_TRIALS_FOR_IMPORTANCE = 3


@dataclasses.dataclass
class SearchAnalysis:
    """The three figures (each may be None) and what the reader should know about them."""

    source: str  # "optuna" or "trials"
    history: go.Figure | None = None
    importances: go.Figure | None = None
    parallel: go.Figure | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def search_analysis(
    run_dir: Path, run: dict[str, Any], records: Sequence[TrialRecord], metric: str, direction: str
) -> SearchAnalysis:
    """Figures from the Optuna study when it can be opened, else from the trial records."""
    complete = [r for r in records if r.state == TrialState.COMPLETE and is_finite(r.value)]
    found, note = _study_file(run_dir, run)
    if found is not None:
        kind, path = found
        try:
            return _from_study(kind, path, run["study"].get("name"), metric)
        except Exception as exc:  # a broken or foreign database must not stop the report
            logger.warning("could not read the Optuna study %s: %s", path, exc)
            note = (
                f"The Optuna study in {path.name} could not be read "
                f"({type(exc).__name__}: {exc}); these figures come from trials.json."
            )
    analysis = SearchAnalysis(source="trials", notes=[note] if note else [])
    if not complete:
        analysis.notes.append("No trial has completed yet, so there is nothing to analyse.")
        return analysis
    analysis.history = _history_figure(complete, metric, direction)
    analysis.parallel = _parallel_figure(complete, metric)
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        analysis.notes.append(
            f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE}"
            f" complete trials; this run has {len(complete)}."
        )
    else:
        try:
            analysis.importances = _importance_figure(complete)
        except Exception as exc:
            logger.warning("parameter importances failed: %s", exc)
            analysis.notes.append(f"Parameter importances could not be computed ({exc}).")
    return analysis


def _study_file(run_dir: Path, run: dict[str, Any]) -> tuple[tuple[str, Path] | None, str | None]:
    """The study's local file, ``("sqlite" | "journal", path)``, or None and a note why not.

    Only existing files are opened: SQLAlchemy would create an empty database for a missing
    one. Server storages (PostgreSQL...) are not contacted, so a report never waits on a
    network database. The run folder's own ``study.db`` comes first: run.json's absolute
    path goes stale when a run folder is moved or copied, and could then name another
    run's database.
    """
    study = run.get("study")
    if not isinstance(study, dict) or not study.get("storage"):
        return None, None
    storage = str(study["storage"])
    kind = next((k for k, prefix in _FILE_STORAGES.items() if storage.startswith(prefix)), None)
    if kind is None:
        return None, (
            "The Optuna study is kept in a database server the report does not "
            "contact; these figures come from trials.json."
        )
    url_path = Path(storage[len(_FILE_STORAGES[kind]) :])
    candidates = [run_dir / "study.db"] if kind == "sqlite" else []
    candidates += [url_path] if url_path.is_absolute() else []
    for path in candidates:
        if path.is_file():
            return (kind, path), None
    return None, "The Optuna study file is missing; these figures come from trials.json."


_FILE_STORAGES = {"sqlite": "sqlite:///", "journal": "journal://"}


def _from_study(kind: str, path: Path, name: str | None, metric: str) -> SearchAnalysis:
    import optuna
    from optuna.visualization import (
        plot_optimization_history,
        plot_parallel_coordinate,
        plot_param_importances,
    )

    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        storage: Any = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    else:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}", skip_table_creation=True)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        analysis = SearchAnalysis(source="optuna")
        n_complete = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        if not n_complete:
            analysis.notes.append("No trial has completed yet, so there is nothing to analyse.")
            return analysis
        analysis.history = plot_optimization_history(study, target_name=metric)
        analysis.parallel = plot_parallel_coordinate(study, target_name=metric)
        if n_complete < MIN_TRIALS_FOR_IMPORTANCE:
            analysis.notes.append(
                f"Parameter importances need at least "
                f"{MIN_TRIALS_FOR_IMPORTANCE} complete trials; this run "
                f"has {n_complete}."
            )
        else:
            try:
                analysis.importances = plot_param_importances(study, target_name=metric)
            except Exception as exc:
                analysis.notes.append(f"Parameter importances could not be computed ({exc}).")
        return analysis
    finally:
        if kind == "sqlite":  # close the file: the run folder may be moved or deleted
            storage.engine.dispose()


def _history_figure(complete: Sequence[TrialRecord], metric: str, direction: str) -> go.Figure:
    import plotly.graph_objects as go

    trials = sorted(complete, key=lambda r: r.number)
    values = [float(r.value) for r in trials]  # type: ignore[arg-type]
    pick = max if direction == "maximize" else min
    best = [pick(values[: i + 1]) for i in range(len(values))]
    numbers = [r.number for r in trials]
    fig = go.Figure()
    fig.add_scatter(
        x=numbers, y=values, mode="markers", name=metric, hovertemplate="trial %{x}: %{y:.4g}<extra></extra>"
    )
    fig.add_scatter(x=numbers, y=best, mode="lines", name="best so far", line={"shape": "hv", "color": "#d62728"})
    fig.update_layout(height=380, xaxis_title="trial", yaxis_title=metric, margin={"t": 20, "b": 40, "l": 60, "r": 10})
    return fig


def _parallel_figure(complete: Sequence[TrialRecord], metric: str) -> go.Figure | None:
    """Parallel coordinates drawn as SVG lines, one per trial, like optuna's own.

    ``go.Parcoords`` needs WebGL, which machines without a GPU (and headless browsers) draw
    in software at about a second per figure; lines also show a hover label per trial.
    Each axis is scaled to [0, 1]: numbers by range (log10 when they span over 100x),
    categories evenly spaced; the objective comes first and colours the lines.
    """
    import plotly.graph_objects as go
    from plotly.colors import sample_colorscale

    values = [float(r.value) for r in complete]  # type: ignore[arg-type]
    names = list(dict.fromkeys(name for r in complete for name in r.params))
    axes = [_axis(metric, values)] + [a for a in (_axis(n, [r.params.get(n) for r in complete]) for n in names) if a]
    lo, hi = min(values), max(values)
    shades = sample_colorscale("Viridis", [(v - lo) / (hi - lo) if hi > lo else 1.0 for v in values])
    fig = go.Figure()
    for i in sorted(range(len(complete)), key=lambda i: values[i]):  # best drawn last
        fig.add_scatter(
            x=list(range(len(axes))),
            y=[axis["y"][i] for axis in axes],
            mode="lines",
            line={"color": shades[i], "width": 1.5},
            opacity=0.8,
            showlegend=False,
            name=f"trial {complete[i].number}",
            hovertemplate=f"trial {complete[i].number}: {values[i]:.4g}<extra></extra>",
        )
    fig.add_scatter(
        x=[0],
        y=[None],
        mode="markers",
        showlegend=False,
        hoverinfo="skip",
        marker={
            "color": [lo],
            "cmin": lo,
            "cmax": hi,
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": {"text": metric}},
        },
    )
    for x, axis in enumerate(axes):
        fig.add_vline(x=x, line={"color": "#888", "width": 1})
        for y, text in axis["ticks"]:
            fig.add_annotation(
                x=x,
                y=y,
                text=text,
                showarrow=False,
                xanchor="right",
                xshift=-3,
                font={"size": 10},
                bgcolor="rgba(255,255,255,0.7)",
            )
    fig.update_layout(
        height=440,
        margin={"t": 20, "b": 40, "l": 80, "r": 20},
        plot_bgcolor="white",
        xaxis={
            "tickvals": list(range(len(axes))),
            "ticktext": [a["label"] for a in axes],
            "range": [-0.6, len(axes) - 0.6],
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={"range": [-0.05, 1.05], "visible": False},
    )
    return fig


def _axis(name: str, raw: list[Any]) -> dict[str, Any] | None:
    """One axis: label, each trial's height in [0, 1] and the tick labels to write."""
    from autodl.reporting.summary import format_number

    if raw and all(is_finite(v) for v in raw):
        numbers = [float(v) for v in raw]
        log = min(numbers) > 0 and max(numbers) / min(numbers) > 100
        scaled = [math.log10(v) for v in numbers] if log else numbers
        lo, hi = min(scaled), max(scaled)
        y = [(v - lo) / (hi - lo) if hi > lo else 0.5 for v in scaled]
        ends = (min(numbers), max(numbers)) if hi > lo else (numbers[0],)
        ticks = list(zip((0.0, 1.0) if hi > lo else (0.5,), (format_number(v) for v in ends)))
        return {"label": f"{name} (log)" if log else name, "y": y, "ticks": ticks}
    categories = sorted({_category(v) for v in raw}, key=lambda c: (c == "—", _numeric_key(c), c))
    if len(categories) > 40:  # free-form values: an axis of unreadable ticks helps no one
        return None
    step = 1 / (len(categories) - 1) if len(categories) > 1 else 0.0
    height = {c: i * step if len(categories) > 1 else 0.5 for i, c in enumerate(categories)}
    return {"label": name, "y": [height[_category(v)] for v in raw], "ticks": [(height[c], c) for c in categories]}


def _category(value: Any) -> str:
    if value is None:
        return "—"
    return str(value)


def _numeric_key(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def _importance_figure(complete: Sequence[TrialRecord]) -> go.Figure | None:
    """Random-forest importances on one-hot parameters, summed back per parameter.

    A forest copes with categorical and conditional parameters and needs no tuning; with few
    trials the numbers are rough, which the section says.
    """
    import pandas as pd
    import plotly.graph_objects as go
    from sklearn.ensemble import RandomForestRegressor

    names = list(dict.fromkeys(name for r in complete for name in r.params))
    columns: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for name in names:
        raw = [r.params.get(name) for r in complete]
        if all(is_finite(v) for v in raw):
            columns[name] = [float(v) for v in raw]
            owner[name] = name
        else:
            dummies = pd.get_dummies(pd.Series([_category(v) for v in raw]), dtype=float)
            for category in dummies.columns:
                key = f"{name}={category}"
                columns[key] = dummies[category].tolist()
                owner[key] = name
    if not columns:
        raise ValueError("the trials have no parameters")
    features = pd.DataFrame(columns)
    target = [float(r.value) for r in complete]  # type: ignore[arg-type]
    forest = RandomForestRegressor(n_estimators=64, random_state=0, n_jobs=1)
    forest.fit(features.to_numpy(), target)
    totals: dict[str, float] = dict.fromkeys(names, 0.0)
    for key, importance in zip(features.columns, forest.feature_importances_):
        totals[owner[key]] += float(importance)
    ranked = sorted(totals.items(), key=lambda item: item[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in ranked],
            y=[k for k, _ in ranked],
            orientation="h",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(240, 60 + 26 * len(ranked)),
        xaxis_title="importance",
        yaxis={"type": "category"},
        margin={"t": 20, "b": 40, "l": 140, "r": 10},
    )
    return fig
