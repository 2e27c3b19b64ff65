"""``autodl`` commands. Each parses flags, calls one library function, renders the result.

Longer than 300 lines: one click command per function, each a flag list and a call of the library;
click's decorators make the flag lists long, and one module keeps the command line readable as one
thing. The logic behind each command lives in the library.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from autodl.exceptions import AutoDLError, UsageError
from autodl.records import BACKENDS, PRUNERS, SAMPLERS, TUNERS

if TYPE_CHECKING:
    from autodl.search.workers import WorkerSlot

DEFAULT_OUT = os.environ.get("AUTODL_OUT", "reports")


class _Count(click.ParamType):
    """A whole number, written plainly or with a k or M suffix (``100k``, ``1.5M``)."""

    name = "count"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        import decimal
        import re

        if isinstance(value, int):
            return value
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", str(value).strip().replace("_", "").replace(",", ""))
        count = decimal.Decimal(match[1]) * {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()] if match else None
        if count is None or count != count.to_integral_value():
            self.fail(f"expected a whole number of parameters such as 100000, 100k or 1.5M, got {value!r}", param, ctx)
        return int(count)


_COUNT = _Count()


class _Duration(click.ParamType):
    """Seconds, written plainly or with a unit (``900``, ``90s``, ``15m``, ``2h``, ``1h30m``)."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        from autodl.search import parse_duration

        try:
            return parse_duration(value)
        except AutoDLError as exc:
            self.fail(str(exc), param, ctx)


_DURATION = _Duration()
_OWN_PROCESS = False  # set by main(): the console script never needs its old signal handlers back


def _handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Library errors become one clean paragraph and an exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from autodl.cli.console import error_console, literal

        try:
            return func(*args, **kwargs)
        except AutoDLError as exc:
            error_console.print(f"[bold red]error:[/] {literal(exc)}", soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _exit_at_next_signal()
            error_console.print("[yellow]interrupted[/]")
            sys.exit(130)

    return wrapper


def _exit_at_next_signal() -> None:
    """Once stopped by a signal, another one exits 130 at once, wherever it lands.

    Without this, a second Ctrl-C that lands after the command returned but before the
    process ended becomes click's "Aborted!" with exit status 1. Only the console script
    does it: an in-process caller (a test's CliRunner) keeps its own handlers.
    """
    if _OWN_PROCESS:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit_130)


def _exit_130(signum: int, frame: Any) -> None:
    os._exit(130)


def _stop_twice_to_quit() -> Callable[[], None]:
    """First Ctrl-C (or SIGTERM) stops the running trial and saves; a second exits at once.

    Returns a function that puts the previous handlers back (for in-process callers).
    """
    from autodl.search.stop import clear_stop, interrupt

    pressed = {"count": 0}

    def handler(signum: int, frame: Any) -> None:
        pressed["count"] += 1
        if pressed["count"] > 1:
            os._exit(130)  # every file is replaced atomically: what is on disk stays consistent
        interrupt()  # raises KeyboardInterrupt, or at the next batch when TensorFlow or JAX is running

    clear_stop()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
        clear_stop()

    return restore


def _worker_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--workers",
        default=1,
        show_default=True,
        type=int,
        help="Worker processes sharing the study: this many per GPU with --gpus, else on this "
        "machine's CPU cores (each worker gets its share of them).",
    )(func)
    return click.option(
        "--gpus", help="all, or GPU indices (0,1): worker processes on each of these GPUs, sharing the study."
    )(func)


def _display_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")(func)
    return func


def _tracking_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--tensorboard", is_flag=True, help="Write per-trial TensorBoard logs with hyperparameters to RUN/tensorboard."
    )(func)
    return click.option(
        "--mlflow",
        "mlflow_uri",
        is_flag=False,
        flag_value="",
        default=None,
        metavar="[URI]",
        help="Log each trial as an MLflow run under one parent run (URI: a tracking URI; "
        "without one, MLflow's default). Needs autodl[mlflow].",
    )(func)


def _trackers(mlflow_uri: str | None, tensorboard: bool) -> list[Any]:
    """The callbacks --mlflow and --tensorboard ask for (none by default)."""
    if mlflow_uri is None and not tensorboard:
        return []
    from autodl.tracking import MLflowCallback, TensorBoardCallback

    return ([MLflowCallback(mlflow_uri or None)] if mlflow_uri is not None else []) + (
        [TensorBoardCallback()] if tensorboard else []
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="autodl", prog_name="autodl")
def cli() -> None:
    """Automated architecture and hyperparameter search for Keras image classifiers."""


@cli.command()
@click.argument("dataset", default="digits")
@click.option("--space", default="cnn", show_default=True, help="Bundled space name or a YAML file.")
@click.option("--trials", default=20, show_default=True, type=int, help="Trials to finish.")
@click.option(
    "--timeout",
    type=_DURATION,
    metavar="DURATION",
    help="Time for the whole command (search, final training, test evaluation, report): 900, 15m, 2h.",
)
@click.option("--backend", default="optuna", show_default=True, type=click.Choice(BACKENDS))
@click.option("--sampler", default="tpe", show_default=True, type=click.Choice(SAMPLERS), help="Optuna sampler.")
@click.option("--pruner", default="median", show_default=True, type=click.Choice(PRUNERS), help="Optuna pruner.")
@click.option(
    "--tuner",
    default="random",
    show_default=True,
    type=click.Choice(TUNERS),
    help="Keras Tuner tuner (with --backend kerastuner).",
)
@click.option("--epochs", type=int, help="Max epochs per trial (default: the space's training.max_epochs).")
@click.option(
    "--max-params",
    type=_COUNT,
    metavar="N",
    help="Prune, untrained, every model with more than N parameters (100000, 100k, 1.5M; "
    "default: the space's training.max_params; 0: no limit).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for sampler, split and weights.")
@click.option("--name", help="Run name (folder under --out); default: a timestamp.")
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Output root for run folders.")
@click.option("--storage", help="Optuna storage URL (default: sqlite in the run folder).")
@click.option("--subset", type=int, help="Use only N training examples, for quick runs.")
@click.option(
    "--val-fraction",
    default=0.1,
    show_default=True,
    type=float,
    help="Share of train held out (unused when the data has x_val).",
)
@click.option("--top-k", default=3, show_default=True, type=int, help="Best models to keep.")
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="Train the winner again on train + validation at the end (when the time budget allows); "
    "autodl predict then uses that model.",
)
@click.option(
    "--warm-start",
    metavar="RUN",
    help="Queue the best configurations of an earlier run (its folder, or a study in --storage) first.",
)
@click.option("--data-dir", envvar="AUTODL_DATA_DIR", help="Folder with dataset files (AUTODL_DATA_DIR).")
@click.option(
    "--image-size",
    metavar="WxH",
    help="Resize an image folder's images to WIDTHxHEIGHT (or N for NxN) as they are read.",
)
@click.option(
    "--precision",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "float32", "mixed_bfloat16", "mixed_float16"]),
    help="Dtype policy. auto: mixed_bfloat16 on bfloat16 GPUs/TPUs and on AMX/AVX512-BF16 CPUs "
    "under TensorFlow, mixed_float16 on older GPUs, float32 elsewhere.",
)
@_worker_options
@click.option("--no-finish", is_flag=True, hidden=True, help="Leave the test evaluation and report to the caller.")
@_tracking_options
@_display_options
@_handle_errors
def search(
    dataset: str,
    quiet: bool,
    gpus: str | None,
    workers: int,
    no_finish: bool,
    mlflow_uri: str | None,
    tensorboard: bool,
    **flags: Any,
) -> None:
    """Search DATASET (default: digits) and save the best models under --out."""
    from autodl.records import SearchSettings

    settings = SearchSettings(dataset=dataset, **flags)
    trackers = _trackers(mlflow_uri, tensorboard)
    slots = _worker_slots(gpus, workers)
    from autodl.cli.quiet import import_keras_quietly

    if len(slots) > 1:
        from autodl.search import run_in_workers

        _run_with_display(
            lambda cb: run_in_workers(settings, slots, callbacks=[cb, *trackers], before_finish=import_keras_quietly),
            quiet,
        )
        return
    import_keras_quietly()
    from autodl.search import run_search

    guard = _memory_guard(no_finish)
    _run_with_display(
        lambda cb: run_search(settings, callbacks=[cb, *trackers, *guard], finish=not no_finish),
        quiet,
        summary=not no_finish,
        guard=guard,
    )


def _worker_slots(gpus_spec: str | None, workers: int) -> list[WorkerSlot]:
    """Where the worker processes run; one slot: this process runs the search (on that GPU)."""
    from autodl.cli.console import console
    from autodl.search import plan_workers
    from autodl.search.workers import detect_gpus, parse_gpus, usable_cpus

    gpus = parse_gpus(gpus_spec, detect_gpus()) if gpus_spec else []
    if gpus_spec and not gpus:
        console.print("[yellow]no GPU found (nvidia-smi lists none): running on the CPU[/]")
    slots = plan_workers(workers, gpus, usable_cpus())
    if len(slots) == 1 and slots[0].gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = slots[0].gpu
    if len(slots) > 1:
        from autodl.cli.logs import share_with_workers

        share_with_workers()
    return slots


@cli.command()
@click.option("--storage", required=True, help="The study's Optuna storage URL (postgresql://..., journal://...).")
@click.option("--name", required=True, help="The study (run) name given to the first `autodl search`.")
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Output root (shared, or one per worker).")
@click.option("--data-dir", envvar="AUTODL_DATA_DIR", help="Folder with dataset files on this machine.")
@click.option(
    "--wait",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for the study to be created (workers started together).",
)
@click.option("--no-finish", is_flag=True, hidden=True, help="Leave the test evaluation and report to the caller.")
@_display_options
@_handle_errors
def worker(storage: str, name: str, out: str, data_dir: str | None, wait: float, no_finish: bool, quiet: bool) -> None:
    """Join a running search as one more worker, with the settings stored in its study."""
    from autodl.cli.quiet import import_keras_quietly

    import_keras_quietly()
    from autodl.search import join_search

    _run_with_display(
        lambda cb: join_search(
            storage, name, out=out, data_dir=data_dir, wait=wait, callbacks=cb, finish=not no_finish
        ),
        quiet,
        summary=not no_finish,
    )


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--trials", type=int, help="Finish this many trials in all (default: the original total).")
@click.option(
    "--timeout",
    type=_DURATION,
    metavar="DURATION",
    help="Time for the rest of the search (final training, evaluation and report included): 900, 15m, 2h.",
)
@click.option("--trust", is_flag=True, help="Load a search.pkl signed by another key (only files you trust).")
@click.option("--space", help="The run's own space, to confirm it: a run keeps its space; another is refused.")
@_worker_options
@click.option("--no-finish", is_flag=True, hidden=True, help="Leave the test evaluation and report to the caller.")
@_display_options
@_handle_errors
def resume(
    path: str,
    trials: int | None,
    timeout: float | None,
    trust: bool,
    space: str | None,
    gpus: str | None,
    workers: int,
    no_finish: bool,
    quiet: bool,
) -> None:
    """Continue the search in PATH (a run folder or its search.pkl).

    A run searched with --workers (or --storage) may go on with --workers and --gpus again.
    """
    from autodl.cli.quiet import import_keras_quietly

    slots = _worker_slots(gpus, workers)
    if len(slots) > 1:
        from autodl.search import resume_in_workers

        _run_with_display(
            lambda cb: resume_in_workers(
                path,
                slots,
                trials=trials,
                timeout=timeout,
                trust=trust,
                space=space,
                callbacks=cb,
                before_finish=import_keras_quietly,
            ),
            quiet,
        )
        return
    import_keras_quietly()
    from autodl.search import resume_search

    guard = _memory_guard(no_finish)
    _run_with_display(
        lambda cb: resume_search(
            path, trials=trials, timeout=timeout, trust=trust, space=space, callbacks=[cb, *guard], finish=not no_finish
        ),
        quiet,
        summary=not no_finish,
        guard=guard,
    )


def _memory_guard(no_finish: bool) -> list[Any]:
    """A long single-process search run by the console script continues in a fresh process
    before its memory grows too far (autodl.search.recycle); none in a Python caller's process."""
    if not _OWN_PROCESS or no_finish:
        return []
    from autodl.search.recycle import MemoryGuard

    return [MemoryGuard()]


def _run_with_display(
    start: Callable[[Any], Any], quiet: bool, *, summary: bool = True, guard: list[Any] | None = None
) -> None:
    """Run ``start(progress)`` under the Ctrl-C rules; ``summary=False`` (a worker whose parent
    reports for it) prints neither the summary nor the resume hint. A ``guard`` that stopped
    the search to free memory has it continue in a fresh process."""
    from autodl.cli.console import RichProgress, console, literal, print_summary
    from autodl.search import SearchInterrupted

    progress = RichProgress(quiet=quiet)
    restore = _stop_twice_to_quit()
    try:
        try:
            result = start(progress)
        finally:
            progress.close()
            restore()
    except SearchInterrupted as exc:
        if guard and guard[0].triggered:
            _continue_in_a_fresh_process(guard[0], quiet)
        _exit_at_next_signal()
        if summary:
            console.print(f"[yellow]{literal(exc)}[/]", soft_wrap=True)  # unwrapped: the command is copied
        sys.exit(exc.exit_code)
    if summary:
        print_summary(result)


def _continue_in_a_fresh_process(guard: Any, quiet: bool) -> None:
    """Replace this process with ``autodl resume RUN`` (same pid and terminal, fresh memory)."""
    from autodl.cli.console import console
    from autodl.search.recycle import BASE_ENV

    if not quiet:
        console.print(guard.note(), markup=False, soft_wrap=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[BASE_ENV] = f"{guard.base:.1f}"
    os.execv(sys.executable, [sys.executable, "-m", "autodl", *guard.command(quiet=quiet)])


@cli.group(invoke_without_command=True)
@click.pass_context
@_handle_errors
def spaces(ctx: click.Context) -> None:
    """List the bundled search spaces (`autodl spaces show NAME` prints one)."""
    if ctx.invoked_subcommand is None:
        from autodl.cli.console import console, simple_table
        from autodl.space import bundled_spaces

        rows = [[name, desc] for name, desc in bundled_spaces().items()]
        console.print(simple_table("bundled search spaces (--space NAME)", ["name", "description"], rows))


@spaces.command("show")
@click.argument("name")
@_handle_errors
def spaces_show(name: str) -> None:
    """Print a bundled space's YAML (or validate and print a YAML file)."""
    from rich.syntax import Syntax

    from autodl.cli.console import console
    from autodl.space import bundled_text, load_space

    if Path(name).suffix in (".yaml", ".yml"):
        load_space(name)
        text = Path(name).read_text(encoding="utf-8")
    else:
        text = bundled_text(name)
    console.print(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))


@cli.command()
@_handle_errors
def datasets() -> None:
    """List the datasets autodl knows by name (paths to files and folders work too)."""
    from autodl.cli.console import console, simple_table
    from autodl.data import list_datasets

    console.print(simple_table("datasets", ["name", "description"], [list(r) for r in list_datasets()]))
    console.print(
        "Also: a path to an .npz, a folder of IDX files, a label+pixels CSV, or an image "
        "folder with one sub-folder per class (--image-size WxH for images of mixed sizes)."
    )


@cli.command()
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Output root to look in.")
@_handle_errors
def runs(out: str) -> None:
    """List the runs under --out with their best scores."""
    from autodl.cli.console import console, runs_table
    from autodl.runs.listing import list_runs

    rows = list_runs(out)
    if not rows:
        console.print(f"no runs under {out}/ yet: start one with `autodl search`", markup=False)
        return
    table, hidden = runs_table(rows)
    console.print(table)
    if hidden:
        console.print(
            f"[dim]{', '.join(hidden)} left out to fit {console.width} columns; a wider terminal shows them[/]"
        )


@cli.command()
@click.argument("run", type=click.Path())
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Output root, when RUN is a bare name.")
@click.option("--trial", type=int, help="Show this trial in full: outcome, hyperparameters, every epoch.")
@click.option("--trust", is_flag=True, help="Load a search.pkl signed by another key.")
@_handle_errors
def show(run: str, out: str, trial: int | None, trust: bool) -> None:
    """Print the leaderboard of RUN (a run folder, or a run name under --out), or one trial."""
    from autodl.cli.console import print_summary, print_trial
    from autodl.search import load

    search = load(_run_path(run, out), trust=trust)
    if trial is None:
        print_summary(search, front=True)
    else:
        print_trial(search, search.trial(trial))


@cli.command()
@click.argument("run", type=click.Path())
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Output root, when RUN is a bare name.")
@click.option("--top", default=1, show_default=True, type=click.IntRange(min=1), help="Classes to show per image.")
@click.option("--trial", type=int, help="Use this trial's saved model (default: the best).")
@click.option("--ensemble", is_flag=True, help="Average the probabilities of every kept model (the top-k).")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    help="Write the predictions to this CSV file (for scripts) instead of printing each.",
)
@click.option("--trust", is_flag=True, help="Load a search.pkl signed by another key.")
@_handle_errors
def predict(
    run: str,
    images: tuple[str, ...],
    out: str,
    top: int,
    trial: int | None,
    ensemble: bool,
    csv_path: str | None,
    trust: bool,
) -> None:
    """Classify IMAGES (files or folders) with RUN's best model, prepared as its training data was."""
    from autodl.cli.console import RichProgress, console, predictions_table
    from autodl.cli.quiet import import_keras_quietly

    import_keras_quietly()
    from autodl.search import load

    bar = RichProgress()  # its bar of the files read, for a folder of thousands of photos
    try:
        frame = load(_run_path(run, out), trust=trust).predict(
            list(images), top=top, trial=trial, ensemble=ensemble, progress=bar.on_load_progress
        )
    finally:
        bar.close()
    if csv_path is None:
        console.print(predictions_table(frame))
        return
    from autodl.runs import atomic_write_csv

    try:
        atomic_write_csv(csv_path, frame)
    except OSError as error:
        raise UsageError(
            f"Cannot write {csv_path} ({error.strerror or error}). Give --csv a path in a folder "
            "that exists and that you can write to."
        ) from error
    counts = frame["class"].value_counts()
    console.print(
        f"{len(frame)} predictions written to {csv_path} ("
        + ", ".join(f"{name}: {count}" for name, count in counts.items())
        + ")",
        soft_wrap=True,
        markup=False,
    )


@cli.command()
@click.argument("run", type=click.Path())
@click.argument("dataset", required=False)
@click.option("--trial", type=int, help="Train this trial's configuration (default: the best).")
@click.option("--ensemble", is_flag=True, help="Train each of the kept models' configurations (the top-k).")
@click.option("--epochs", type=int, help="Max epochs (default: the run's).")
@click.option("--out", default=None, help="Output root for the new run folder (default: RUN's own).")
@click.option("--name", help="The new run's name (default: RUN-on-DATASET).")
@click.option("--subset", type=int, help="Use only N training examples of DATASET, for quick runs.")
@click.option("--data-dir", envvar="AUTODL_DATA_DIR", help="Folder with dataset files (AUTODL_DATA_DIR).")
@click.option("--runs", default=DEFAULT_OUT, show_default=True, help="Output root, when RUN is a bare name.")
@click.option("--trust", is_flag=True, help="Load a search.pkl signed by another key.")
@_display_options
@_handle_errors
def train(
    run: str,
    dataset: str | None,
    trial: int | None,
    ensemble: bool,
    epochs: int | None,
    out: str | None,
    name: str | None,
    subset: int | None,
    data_dir: str | None,
    runs: str,
    trust: bool,
    quiet: bool,
) -> None:
    """Train RUN's best configuration (or --trial N's, or the --ensemble's) from scratch on DATASET, or
    without DATASET on RUN's own train + validation data, as a run folder of its own."""
    from autodl.cli.quiet import import_keras_quietly

    import_keras_quietly()
    from autodl.search import load
    from autodl.search.retrain import train_run

    source = load(_run_path(run, runs), trust=trust)
    _run_with_display(
        lambda cb: train_run(
            source,
            dataset,
            trial=trial,
            ensemble=ensemble,
            epochs=epochs,
            out=out,
            name=name,
            subset=subset,
            data_dir=data_dir,
            callbacks=cb,
        ),
        quiet,
    )


@cli.command()
@click.argument("run", type=click.Path())
@click.option(
    "--format",
    "format_",
    default="keras",
    show_default=True,
    type=click.Choice(["keras", "tf_saved_model", "onnx", "litert"]),
    help="Artifact format (Keras 3's model.export formats; all but keras need TensorFlow).",
)
@click.option("--trial", type=int, help="Export this trial's saved model (default: the best).")
@click.option("--ensemble", is_flag=True, help="Export the kept models as one model that averages them.")
@click.option(
    "--out",
    "dest",
    type=click.Path(file_okay=False),
    help="Folder to write (default: RUN/exports/FORMAT[-trialN|-ensemble]).",
)
@click.option("--runs", default=DEFAULT_OUT, show_default=True, help="Output root, when RUN is a bare name.")
@click.option("--no-latency", is_flag=True, help="Skip timing the artifact (batch 1 and 256) for the model card.")
@click.option("--trust", is_flag=True, help="Load a search.pkl signed by another key.")
@_handle_errors
def export(
    run: str,
    format_: str,
    trial: int | None,
    ensemble: bool,
    dest: str | None,
    runs: str,
    no_latency: bool,
    trust: bool,
) -> None:
    """Export RUN's best model (or --trial N, or --ensemble) for serving: raw uint8 images in, the
    run's preprocessing inside, class probabilities out; metadata.json and MODEL_CARD.md beside it."""
    from autodl.cli.console import console
    from autodl.cli.quiet import import_keras_quietly

    import_keras_quietly()
    from autodl.export import export_run
    from autodl.search import load

    with console.status(f"exporting to {format_}"):
        result = export_run(
            load(_run_path(run, runs), trust=trust),
            format_,
            trial=trial,
            ensemble=ensemble,
            out=dest,
            latency=not no_latency,
        )
    info = result.info
    metrics = info.get("test_metrics") or {}
    console.print(
        f"exported [cyan]{result.artifact}[/] ({info['size_bytes'] / 1e6:.2f} MB, "
        f"{len(info['classes'])} classes; test accuracy {metrics.get('accuracy', float('nan')):.4f})",
        soft_wrap=True,
    )
    if info.get("latency_text"):
        console.print(f"latency: {info['latency_text']}", soft_wrap=True)
    console.print(f"model card: [cyan]{result.path / 'MODEL_CARD.md'}[/]", soft_wrap=True)


@cli.command()
@click.argument("run", type=click.Path(), required=False)
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Output root, when RUN is a bare name.")
@click.option("--storage", help="Build the report of a shared study from this Optuna storage URL.")
@click.option("--name", help="The study's name (with --storage).")
@click.option("--open", "open_browser", is_flag=True, help="Open the report in a browser.")
@_handle_errors
def report(run: str | None, out: str, storage: str | None, name: str | None, open_browser: bool) -> None:
    """(Re)build RUN's self-contained HTML report, or a shared study's (--storage, --name)."""
    from autodl.cli.console import console, literal
    from autodl.cli.quiet import import_keras_quietly

    import_keras_quietly()
    if storage or name:
        if not (storage and name) or run:
            raise click.UsageError("give either RUN, or both --storage and --name")
        from autodl.search.api import report_study

        path = report_study(storage, name, out=out)
    elif run:
        from autodl.reporting import write_report

        path = write_report(_run_path(run, out))
    else:
        raise click.UsageError("give RUN (a run folder or name), or --storage and --name")
    console.print(f"report: [cyan]{literal(path)}[/]")
    if open_browser:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def _run_path(run: str, out: str) -> Path:
    path = Path(run)
    return path if path.exists() or os.sep in run else Path(out) / run


def main() -> None:
    """Console-script entry point."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    from autodl.cli.logs import show_warnings

    show_warnings()
    cli(prog_name="autodl")


if __name__ == "__main__":
    main()
