"""Plotly figures for the report, and the one place that turns a figure into safe HTML.

Plotly draws titles, tick labels, legend entries and hover text as a small HTML dialect, so
run names, class names and parameter names/values (all user-controlled) could inject markup
there. :func:`sanitize_figure` escapes every string of a figure just before it is embedded,
whoever built it (these functions or ``optuna.visualization``); the figure builders therefore
pass user strings through unchanged and never escape twice.

Longer than 300 lines: one function per figure of the report; they share the styling and the
plotly helpers at the top.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autodl.records import TrialRecord, TrialState

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = [
    "FigureRenderer",
    "class_counts_figure",
    "confusion_figure",
    "learning_curves_figure",
    "overview_figure",
    "sanitize_figure",
    "size_figure",
]

#: Plotly markup that optuna's own hover texts use; put back after escaping. A user string
#: holding one of these renders it as formatting, which is harmless.
_ALLOWED_TAGS = ("<br>", "<b>", "</b>", "<i>", "</i>", "<extra>", "</extra>", "<sup>", "</sup>")
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
#: Line style per state in the overview: the legend explains them.
_STATE_STYLE = {
    TrialState.COMPLETE: {"color": "#4c78a8", "dash": "solid", "width": 1.2},
    TrialState.PRUNED: {"color": "#f58518", "dash": "dot", "width": 1.2},
    TrialState.FAILED: {"color": "#e45756", "dash": "dash", "width": 1.5},
    TrialState.INTERRUPTED: {"color": "#9d9d9d", "dash": "dashdot", "width": 1.2},
    TrialState.RUNNING: {"color": "#bab0ac", "dash": "longdash", "width": 1.2},
}


class FigureRenderer:
    """Turns figures into HTML fragments, embedding plotly.js (packed) with the first one only.

    ``renderer(fig)`` returns a placeholder whose HTML is produced when the template writes
    it (Jinja calls ``__html__``), so "the first figure" is the first one in the page, even
    when a section is left out, and plotly.js is always defined before any figure uses it.
    """

    def __init__(self) -> None:
        self.plotlyjs_included = False
        self.rendered = 0

    def __call__(self, figure: go.Figure | None) -> _FigureSlot | None:
        return None if figure is None else _FigureSlot(self, figure)

    def render(self, figure: go.Figure) -> str:
        import plotly.io as pio

        from autodl.reporting.plotlyjs import plotly_loader

        fragment = pio.to_html(
            sanitize_figure(figure),
            full_html=False,
            validate=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
        )
        if not self.plotlyjs_included:  # packed: the report stays under 1.5 MB (plotlyjs.py)
            fragment = plotly_loader() + fragment
        self.plotlyjs_included = True
        self.rendered += 1
        return fragment


class _FigureSlot:
    """A figure waiting for its place in the page (see :class:`FigureRenderer`)."""

    def __init__(self, renderer: FigureRenderer, figure: go.Figure) -> None:
        self._renderer = renderer
        self._figure = figure

    def __html__(self) -> str:
        return self._renderer.render(self._figure)


def sanitize_figure(figure: go.Figure | dict[str, Any]) -> dict[str, Any]:
    """The figure as a plain dict with ``&``, ``<``, ``>`` escaped in every string.

    Plotly decodes these entities when it draws text, so escaped strings still read as
    typed. Colours, modes and number formats contain none of these characters.
    """
    data = figure if isinstance(figure, dict) else figure.to_plotly_json()
    return _escape_tree(data)


def _escape_tree(value: Any) -> Any:
    if isinstance(value, str):
        text = html.escape(value, quote=False)
        for tag in _ALLOWED_TAGS:
            text = text.replace(html.escape(tag, quote=False), tag)
        return text
    if isinstance(value, dict):
        return {key: _escape_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape_tree(item) for item in value]
    if getattr(value, "dtype", None) is not None and value.dtype.kind in "OUS":
        return [_escape_tree(item) for item in value.tolist()]
    return value


def learning_curves_figure(
    records: Sequence[TrialRecord], metric_names: Sequence[str] = ("loss", "accuracy")
) -> go.Figure | None:
    """Training (solid) and validation (dashed) curves per metric for the given trials, and
    the learning rate (dotted, log scale) when a trial's schedule changed it."""
    from plotly.subplots import make_subplots

    records = [r for r in records if r.history]
    if not records:
        return None
    panels = list(metric_names)
    if any(r.history.get("learning_rate") for r in records):
        panels.append("learning_rate")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p.replace("_", " ") for p in panels])
    for index, record in enumerate(records):
        color = _PALETTE[index % len(_PALETTE)]
        for col, metric in enumerate(panels, start=1):
            lines = ((metric, "train", "solid"), (f"val_{metric}", "val", "dash"))
            if metric == "learning_rate":
                lines = ((metric, "learning rate", "dot"),)
            for key, label, dash in lines:
                values = record.history.get(key)
                if not values:
                    continue
                fig.add_scatter(
                    x=list(range(1, len(values) + 1)),
                    y=_finite(values),
                    row=1,
                    col=col,
                    mode="lines+markers",
                    name=f"trial {record.number} {label}",
                    legendgroup=f"trial {record.number}",
                    showlegend=col == 1,
                    line={"color": color, "dash": dash},
                    marker={"size": 4},
                )
    fig.update_xaxes(title_text="epoch", **_epoch_ticks(records))
    if "learning_rate" in panels:
        fig.update_yaxes(type="log", row=1, col=len(panels))
    fig.update_layout(height=380, margin={"t": 40, "b": 40, "l": 50, "r": 10}, legend={"orientation": "h", "y": -0.2})
    return fig


def overview_figure(records: Sequence[TrialRecord], metric: str, best_number: int | None) -> go.Figure | None:
    """Every trial's ``metric`` per epoch; pruned, failed... drawn in their own style."""
    import plotly.graph_objects as go

    records = [r for r in records if r.history.get(metric)]
    if not records:
        return None
    fig = go.Figure()
    shown: set[str] = set()
    for record in sorted(records, key=lambda r: r.number == best_number):  # best on top
        values = record.history[metric]
        epochs = list(range(1, len(values) + 1))
        style = _STATE_STYLE.get(record.state, _STATE_STYLE[TrialState.RUNNING])
        group = record.state.value
        line = {"color": style["color"], "dash": style["dash"], "width": style["width"]}
        if record.number == best_number:
            group = "best"
            line = {"color": "#2ca02c", "dash": "solid", "width": 3.5}
        fig.add_scatter(
            x=epochs,
            y=_finite(values),
            mode="lines",
            line=line,
            opacity=0.85,
            name=f"best (trial {record.number})" if group == "best" else group,
            legendgroup=group,
            showlegend=group not in shown,
            hovertemplate=f"trial {record.number} ({record.state.value})<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
        )
        shown.add(group)
        if record.state == TrialState.FAILED:  # mark where a failed trial stopped
            fig.add_scatter(
                x=epochs[-1:],
                y=_finite(values[-1:]),
                mode="markers",
                marker={"symbol": "x", "size": 10, "color": style["color"]},
                legendgroup=group,
                showlegend=False,
                hoverinfo="skip",
            )
    fig.update_xaxes(**_epoch_ticks(records))
    fig.update_layout(height=400, xaxis_title="epoch", yaxis_title=metric, margin={"t": 20, "b": 40, "l": 60, "r": 10})
    return fig


def size_figure(records: Sequence[TrialRecord], front: Sequence[TrialRecord], metric: str) -> go.Figure | None:
    """Score against parameters for every complete trial, the Pareto ``front`` joined: what
    each step up in size buys. None with fewer than 2 sized trials (nothing to compare)."""
    import plotly.graph_objects as go

    sized = [r for r in records if r.state == TrialState.COMPLETE and r.value is not None and r.n_params]
    if len(sized) < 2:
        return None

    def hover(record: TrialRecord) -> str:
        return f"trial {record.number}<br>{record.n_params:,} parameters<br>{metric} {float(record.value):.4g}"  # type: ignore[arg-type]

    fig = go.Figure()
    fig.add_scatter(
        x=[r.n_params for r in sized],
        y=[r.value for r in sized],
        mode="markers",
        name="trial",
        marker={"color": "#4c78a8", "size": 7, "opacity": 0.6},
        text=[hover(r) for r in sized],
        hovertemplate="%{text}<extra></extra>",
    )
    fig.add_scatter(
        x=[r.n_params for r in front],
        y=[r.value for r in front],
        mode="lines+markers",
        name="smallest for its score (Pareto front)",
        line={"color": "#d62728", "shape": "hv"},
        marker={"size": 9},
        text=[hover(r) for r in front],
        hovertemplate="%{text}<extra></extra>",
    )
    fig.update_layout(
        height=380,
        xaxis={"title": "parameters", "type": "log"},
        yaxis_title=metric,
        margin={"t": 20, "b": 40, "l": 60, "r": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    """Heatmap of ``matrix[true, predicted]``; counts written in cells up to 20 classes."""
    import plotly.graph_objects as go

    labels = _unique_labels(class_names)
    fig = go.Figure(
        go.Heatmap(
            z=matrix.tolist(),
            x=labels,
            y=labels,
            colorscale="Blues",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
            texttemplate="%{z}" if len(labels) <= 20 else None,
        )
    )
    side = min(900, 260 + 28 * len(labels))
    fig.update_layout(
        height=side,
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis={"autorange": "reversed"},
        xaxis={"type": "category"},
        margin={"t": 20, "b": 60, "l": 80, "r": 10},
    )
    fig.update_yaxes(type="category")
    return fig


def class_counts_figure(
    class_names: Sequence[str], train_counts: Sequence[int] | None, test_counts: Sequence[int] | None
) -> go.Figure | None:
    """Images per class in the training and test splits, side by side."""
    import plotly.graph_objects as go

    labels = _unique_labels(class_names)
    fig = go.Figure()
    for name, counts in (("train", train_counts), ("test", test_counts)):
        if counts is not None and len(counts) == len(labels):
            fig.add_bar(x=labels, y=[int(c) for c in counts], name=name)
    if not fig.data:
        return None
    fig.update_layout(
        height=340,
        barmode="group",
        xaxis={"type": "category"},
        yaxis_title="images",
        margin={"t": 20, "b": 60, "l": 60, "r": 10},
    )
    return fig


def _epoch_ticks(records: Sequence[TrialRecord]) -> dict[str, Any]:
    """Whole epochs only: plotly would otherwise label a 2-epoch axis 1, 1.2, 1.4..."""
    longest = max((len(v) for r in records for v in r.history.values()), default=1)
    return {"tick0": 1, "dtick": max(1, math.ceil(longest / 10))}


def _unique_labels(class_names: Sequence[str]) -> list[str]:
    """Plotly merges equal category labels: prefix the index when names repeat."""
    names = [str(name) for name in class_names]
    if len(set(names)) == len(names):
        return names
    return [f"{i}: {name}" for i, name in enumerate(names)]


def _finite(values: Sequence[Any]) -> list[float | None]:
    """Plotly leaves a gap for None; NaN from older files would break the JSON."""
    return [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None for v in values]
