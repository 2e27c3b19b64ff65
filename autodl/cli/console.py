"""Everything the terminal shows; the only module that imports rich.

Longer than 300 lines: rich may be imported here alone, so every table, bar and line the terminal shows
lives in this one module; splitting it would spread rich over several.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from autodl.records import TrialRecord, TrialState
from autodl.search.callbacks import SearchCallback

console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False)

STATE_STYLE = {"complete": "green", "pruned": "yellow", "failed": "red", "interrupted": "magenta", "running": "cyan"}


def fmt(value: Any, digits: int = 4) -> str:
    """A value as a cell or a line shows it; text comes out literally (a run named
    ``[final]`` is not rich markup)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if 0 < abs(value) < 1e-3 else f"{value:.{digits}f}"
    return escape(str(value))


def literal(value: Any) -> str:
    """Text from outside (a message, a path, a name) for a markup string: its brackets shown as written."""
    return escape(str(value))


class RichProgress(SearchCallback):
    """Progress bar over trials with a live line for the running trial's epochs."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.progress: Progress | None = None
        self.task: Any = None
        self.best: float | None = None
        self.search: Any = None
        self.epoch_line = ""
        self.loading: Progress | None = None

    def on_load_progress(self, done: int, total: int) -> None:
        """A bar while an image folder is read, gone once it is read (thousands of photos take minutes)."""
        if self.quiet or self.progress is not None or not console.is_terminal:  # a pipe shows no live bar
            return
        if self.loading is None:
            self.loading = Progress(
                TextColumn("  reading images"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.loading.start()
            self.loading.add_task("read", total=total)
        self.loading.update(self.loading.task_ids[0], completed=done, total=total)
        if done >= total:
            self._stop_loading()

    def _stop_loading(self) -> None:
        if self.loading is not None:
            self.loading.stop()
            self.loading = None

    def on_search_start(self, search: Any) -> None:
        self._stop_loading()
        self.search = search
        best = search.best_trial
        self.best = best.value if best else None
        if self.quiet:
            return
        s, d = search.settings, search.dataset or {}
        engine = f"optuna/{s.sampler}, pruner {s.pruner}" if s.backend == "optuna" else f"kerastuner/{s.tuner}"
        console.print(
            f"[bold]autodl[/] {literal(d.get('name', s.dataset))} "
            f"({d.get('n_train')} train / {d.get('n_val')} val / {d.get('n_test')} test, "
            f"{d.get('num_classes')} classes, {tuple(d.get('input_shape') or ())}) · "
            f"space {literal(search.space.name)} · {engine} · {literal(search.policy)} · "
            f"run [cyan]{literal(search.path)}[/]"
        )
        self.progress = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("best {task.fields[best]}"),
            TextColumn("{task.fields[line]}", style="dim", markup=False),
            console=console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "search", total=s.trials, completed=len(search.finished), best=fmt(self.best), line=""
        )

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._line(f"trial {number}: training")

    def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
        metric = self.search.space.objective[0] if self.search else "val_accuracy"
        self._line(f"trial {number} epoch {epoch + 1}: loss {fmt(logs.get('loss'))} {metric} {fmt(logs.get(metric))}")

    def on_trial_end(self, record: TrialRecord) -> None:
        if self.search is not None:  # the search's best: other workers' trials of a shared study included
            self.best = self.search.best_value
        if self.progress is None:
            return
        # The search's count, not this process's: workers sharing a study count each other's trials.
        done = len(self.search.finished) if self.search else None
        self.progress.update(self.task, completed=done, best=fmt(self.best), line="")
        style = STATE_STYLE.get(record.state.value, "")
        # A failure says why; a pruned trial's state and epochs already say what happened.
        note = (
            f" [dim]{literal(record.error)}[/]"
            if record.error and record.state not in (TrialState.COMPLETE, TrialState.PRUNED)
            else ""
        )
        self.progress.console.print(  # one line each, also in logs and pipes (rich wraps at 80 there)
            f"  trial {record.number:>3} [{style}]{record.state.value:<9}[/] value {fmt(record.value):>7} "
            f"epochs {record.epochs:>2} {record.seconds:6.1f}s "
            f"{f'{record.n_params:,}' if record.n_params else '-'} params{note}",
            soft_wrap=True,
        )

    def on_status(self, message: str) -> None:
        if self.progress is None and message and not self.quiet:  # before the bar: a line of its own
            console.print(message, soft_wrap=True, markup=False)
        self._line(message)

    def on_search_end(self, search: Any) -> None:
        self.close()

    def close(self) -> None:
        self._stop_loading()
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _line(self, text: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, line=text)


def leaderboard(search: Any, limit: int = 10) -> Table:
    """The best trials, ranked."""
    metric = search.space.objective[0]
    table = Table(title=f"top {limit} of {len(search.records)} trials by {metric}", title_justify="left")
    for column in ("rank", "trial", metric, "epochs", "seconds", "parameters"):
        table.add_column(column, justify="right")
    for rank, record in enumerate(search.ranked()[:limit], 1):
        table.add_row(
            str(rank),
            str(record.number),
            fmt(record.value),
            str(record.epochs),
            f"{record.seconds:.1f}",
            f"{record.n_params:,}" if record.n_params else "-",
        )
    return table


def params_table(record: TrialRecord, best: bool = True) -> Table:
    """One trial's hyperparameters, one per row."""
    table = Table(title=f"{'best ' if best else ''}trial {record.number}: hyperparameters", title_justify="left")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for key, value in record.params.items():
        table.add_row(literal(key), fmt(value))
    return table


#: A smaller model is worth listing when it has at most this share of the best's parameters.
SMALLER = 0.8


def smaller_models(search: Any) -> list[TrialRecord]:
    """The Pareto front of size and score, cut to models clearly smaller than the best (and it)."""
    best = search.best_trial
    if best is None or not best.n_params:
        return []
    return [r for r in search.pareto_front() if r.number == best.number or r.n_params <= SMALLER * best.n_params]


def front_table(search: Any) -> Table:
    """The smaller models worth a look: what each gives up against the best."""
    metric = search.space.objective[0]
    best = search.best_trial
    ranks = {r.number: i for i, r in enumerate(search.ranked(), 1)}
    table = Table(title=f"smaller models (Pareto front), up to {SMALLER:.0%} of the best's size", title_justify="left")
    for column in ("trial", "rank", "parameters", metric, "behind the best"):
        table.add_column(column, justify="right")
    for record in smaller_models(search):
        behind = "best" if record.number == best.number else fmt(abs(best.value - record.value))
        table.add_row(str(record.number), str(ranks[record.number]), f"{record.n_params:,}", fmt(record.value), behind)
    return table


def print_summary(search: Any, *, front: bool = False) -> None:
    """Leaderboard, counts, test metrics and where everything is; ``front`` adds the smaller
    models worth knowing of (``autodl show``)."""
    counts = {s: sum(r.state == s for r in search.records) for s in TrialState}
    if counts[TrialState.COMPLETE]:
        console.print(leaderboard(search))
        if front and len(smaller_models(search)) > 1:
            console.print(front_table(search))
    elif first := next(
        (r for r in search.records if r.state not in (TrialState.INTERRUPTED, TrialState.RUNNING)), None
    ):
        console.print(
            f"[yellow]no trial completed[/]: `autodl show {literal(search.path)} --trial {first.number}` "
            f"says why (trial {first.number}: {literal(first.error or first.state.value)})",
            highlight=False,
            soft_wrap=True,
        )
    if search.best_trial is not None:
        if search.best_trial.params:
            console.print(params_table(search.best_trial))
        else:
            console.print(f"best trial {search.best_trial.number}: the space fixes every hyperparameter")
    console.print(
        f"trials: {counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned, "
        f"{counts[TrialState.FAILED]} failed"
        + (f", {counts[TrialState.INTERRUPTED]} interrupted (re-run)" if counts[TrialState.INTERRUPTED] else "")
        + f" in {search.elapsed:.0f}s"
    )
    if search.test_metrics:
        console.print(
            "best model on the test split: " + ", ".join(f"{k} {fmt(v)}" for k, v in search.test_metrics.items())
        )
    if search.final:
        console.print(final_line(search.final, search.test_metrics), highlight=False, markup=False)
    if search.ensemble:
        console.print(ensemble_line(search.ensemble), highlight=False)
    for line in accounting_lines(search.accounting):
        console.print(line, highlight=False, markup=False)
    console.print(f"run folder: [cyan]{literal(search.path)}[/]")
    if search.store.report_html.is_file():
        console.print(f"report: [cyan]{literal(search.store.report_html)}[/]")


def final_line(final: dict[str, Any], test_metrics: dict[str, float] | None) -> str:
    """The winner trained again on train + validation, beside the validation-chosen model."""
    if final.get("skipped"):
        return f"final training skipped: {final['skipped']}"
    ours = (final.get("test_metrics") or {}).get("accuracy")
    before = (test_metrics or {}).get("accuracy")
    members = final.get("members") or []
    what = (
        f"trial {final['trial']} trained again on train + validation, {final['epochs']} epochs"
        if len(members) < 2
        else "the ensemble's trials "
        + ", ".join(f"{m['trial']} ({m['weight']:.2f})" for m in members)
        + " trained again on train + validation"
    )
    return (
        f"final model ({what}, {final['seconds']:.0f}s): test accuracy {fmt(ours)} "
        f"(validation-chosen model {fmt(before)}); autodl predict uses it"
    )


def accounting_lines(accounting: dict[str, Any] | None) -> list[str]:
    """Where the time went, and whether the search beat the space's start networks."""
    if not accounting:
        return []
    lines = []
    start, searched = accounting.get("best_start"), accounting.get("best_searched")

    def describe(entry: dict[str, Any]) -> str:
        test = f", test {fmt(entry['test_accuracy'])}" if entry.get("test_accuracy") is not None else ""
        return f"{entry['trial']} ({entry['phase']}): {fmt(entry['value'])}{test}"

    if start and searched:
        verdict = "beats" if accounting.get("searched_beats_start") else "does not beat"
        lines.append(
            f"the best searched trial, {describe(searched)}, {verdict} the best start network, trial {describe(start)}"
        )
    seconds = {k: v for k, v in (accounting.get("seconds") or {}).items() if v}
    if seconds:
        lines.append("time: " + ", ".join(f"{name} {value:.0f}s" for name, value in seconds.items()))
    epochs = accounting.get("epochs") or {}
    skipped = accounting.get("skipped_for_cost") or []
    if epochs:
        lines.append(
            f"epochs: {epochs['trained']} trained, {epochs['saved_by_early_stopping']} saved by early "
            f"stopping, {epochs['saved_by_pruning']} by pruning; {len(skipped)} trial"
            f"{'s' if len(skipped) != 1 else ''} skipped for cost"
        )
    return lines


def ensemble_line(ensemble: dict[str, Any]) -> str:
    """The kept models together against the best alone, validation first (where choosing is fair)."""
    trials = ensemble["trials"]
    weights = ensemble.get("weights")
    how = "weights " + ", ".join(f"{n}: {w:g}" for n, w in weights.items()) if weights else "probabilities averaged"
    return (
        f"top-{len(trials)} ensemble (trials {', '.join(map(str, trials))}, {how}): "
        f"validation accuracy {fmt(ensemble['val_accuracy'])} (best alone {fmt(ensemble['best_val_accuracy'])}), "
        f"test accuracy {fmt(ensemble['accuracy'])} (best alone {fmt(ensemble['best_accuracy'])})"
        + (
            "; it beats the best alone on validation: `autodl predict --ensemble` uses it"
            if ensemble["val_accuracy"] > ensemble["best_val_accuracy"]
            else ""
        )
    )


def print_trial(search: Any, record: TrialRecord) -> None:
    """One trial in full (``autodl show RUN --trial N``): outcome, hyperparameters, every epoch."""
    metric, direction = search.space.objective
    ranked = [r.number for r in search.ranked()]
    rank = f" (rank {ranked.index(record.number) + 1} of {len(ranked)} complete)" if record.number in ranked else ""
    parts = [
        f"trial {record.number}: {record.state.value}",
        f"{metric} {fmt(record.value)}{rank}" if record.value is not None else None,
        f"{record.epochs} epoch{'s' if record.epochs != 1 else ''} in {record.seconds:.1f}s",
        f"{record.n_params:,} parameters" if record.n_params else None,
        f"start configuration {record.start}" if record.start is not None else None,
        f"worker {record.worker}" if record.worker else None,
    ]
    console.print(" · ".join(p for p in parts if p), highlight=False, markup=False)
    if record.error:
        console.print(f"why: {record.error}", highlight=False, markup=False)
    if record.model_path and (search.path / record.model_path).is_file():
        console.print(f"model: [cyan]{literal(search.path / record.model_path)}[/]", soft_wrap=True)  # whole, to copy
    elif record.state != TrialState.COMPLETE:
        console.print("model: none (only complete trials keep one)")
    else:
        console.print(f"model: not kept (only the top-{search.settings.top_k} trials keep theirs)")
    if record.params:
        console.print(params_table(record, best=False))
    else:
        console.print("the space fixes every hyperparameter")
    if record.history:
        console.print(epochs_table(record, metric, direction))
    else:
        console.print("no epoch trained")


def epochs_table(record: TrialRecord, metric: str, direction: str) -> Table:
    """A trial's history, one row per epoch; its best epoch by ``metric`` is starred."""
    columns = [c for c in ("loss", "accuracy", "val_loss", "val_accuracy") if c in record.history]
    columns += sorted(c for c in record.history if c not in columns)
    table = Table(title=f"trial {record.number}: epochs", title_justify="left")
    table.add_column("epoch", justify="right")
    for column in columns:
        table.add_column(column, justify="right")
    scores = record.history.get(metric, [])
    finite = [(i, v) for i, v in enumerate(scores) if v is not None and math.isfinite(v)]
    pick = max if direction == "maximize" else min  # the first of equals, as early stopping keeps it
    best = pick(finite, key=lambda iv: iv[1])[0] if finite else None
    for epoch in range(max((len(v) for v in record.history.values()), default=0)):
        values = [record.history[c][epoch] if epoch < len(record.history[c]) else None for c in columns]
        cells = [f"{v:.2e}" if c == "learning_rate" and v is not None else fmt(v) for c, v in zip(columns, values)]
        table.add_row(f"{epoch + 1}{' *' if epoch == best else ''}", *cells)
    if best is not None:
        table.caption, table.caption_justify = f"* best {metric}", "left"
    return table


_RUN_COLUMNS = ("run", "status", "dataset", "space", "backend", "trials", "best", "test", "created")
#: Left out, in this order, until the table fits the terminal: nine columns need ~130.
_RUN_COLUMNS_TO_HIDE = ("created", "backend", "space", "dataset")


def runs_table(rows: list[dict[str, Any]], width: int | None = None) -> tuple[Table, list[str]]:
    """The runs table and the columns left out so that every cell shows whole in ``width``
    (default: the terminal's): a cut run name or score ("0.62…") is worse than none."""
    width = width or console.width
    hidden: list[str] = []
    while True:
        columns = [c for c in _RUN_COLUMNS if c not in hidden]
        table = Table(title="runs", title_justify="left")
        for column in columns:
            table.add_column(column, justify="right" if column in ("trials", "best", "test") else "left", no_wrap=True)
        for row in rows:
            table.add_row(*(_minute(row.get(c)) if c == "created" else fmt(row.get(c)) for c in columns))
        natural = console.measure(table, options=console.options.update_width(10_000)).maximum
        if len(hidden) == len(_RUN_COLUMNS_TO_HIDE) or natural <= width:
            return table, hidden
        hidden.append(_RUN_COLUMNS_TO_HIDE[len(hidden)])


def _minute(stamp: Any) -> str:
    """``2026-12-04T04:24:37+00:00`` -> ``2026-12-04 04:24``, in this machine's time zone."""
    try:
        return datetime.datetime.fromisoformat(str(stamp)).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return fmt(stamp)


def predictions_table(frame: Any) -> Table:
    """One row per image: its class and probability, then the runners-up (``--top``)."""
    table = Table(title=f"{len(frame)} image{'s' if len(frame) != 1 else ''}", title_justify="left")
    table.add_column("image", overflow="fold")
    table.add_column("class")
    table.add_column("probability", justify="right")
    others = [c for c in frame.columns if c.startswith("class_")]
    if others:
        table.add_column("then")
    for row in frame.to_dict("records"):
        rest = " · ".join(f"{literal(row[c])} {row[c.replace('class', 'probability')]:.3f}" for c in others)
        table.add_row(
            literal(row["file"]), literal(row["class"]), f"{row['probability']:.3f}", *([rest] if others else [])
        )
    return table


def simple_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(fmt(v) for v in row))
    return table
