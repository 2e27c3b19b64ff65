"""One trial: sample its configuration, build and train its model, and commit its outcome.

A trial's crash, pruning or size-budget refusal is its result, never the search's end. A
stop (Ctrl-C) is the exception: the trial is recorded as ``interrupted`` (its slot runs
again on resume) and the ``KeyboardInterrupt`` goes on up to the search.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autodl.exceptions import TrialFailed, TrialPruned
from autodl.records import TrialRecord, TrialState
from autodl.search._ledger import WORKER
from autodl.search.stop import check_stop, interrupts_deferred, stop_requested

if TYPE_CHECKING:
    from autodl.backends import TrialContext
    from autodl.search._budget import Planner
    from autodl.search.search import Search

logger = logging.getLogger(__name__)


def run_trial(search: Search, ctx: TrialContext) -> TrialRecord:
    """Run trial ``ctx.number`` of ``search`` and commit it; the engine's ``TrialRunner``."""
    from autodl.training import free_memory

    record = TrialRecord(
        number=ctx.number, state=TrialState.RUNNING, params={}, worker=WORKER, start=ctx.start, origin=ctx.origin
    )
    start = time.perf_counter()
    tracker: list[Any] = []
    model = None
    try:
        if stop_requested():  # a stop that surfaced as another exception: no new trial
            raise KeyboardInterrupt
        arch = search.space.sample(ctx.suggester)
        record.params = dict(ctx.suggester.params)
        search.ledger.put(record)
        search.callbacks.on_trial_start(ctx.number, record.params)
        with interrupts_deferred():  # a Ctrl-C is raised between batches, never inside Keras' C++
            model = _train(search, ctx, arch, record, tracker)
        record.state = TrialState.COMPLETE
    except TrialPruned as exc:
        record.state, record.error = TrialState.PRUNED, str(exc)
    except TrialFailed as exc:
        record.state, record.error = TrialState.FAILED, str(exc)
    except KeyboardInterrupt:
        _end(search, ctx, _interrupted(record), start, tracker, None)
        raise
    except Exception as exc:  # a trial's crash is its result, never the search's end
        if stop_requested():  # a Ctrl-C raised inside C code can surface as another exception
            _end(search, ctx, _interrupted(record), start, tracker, None)
            raise KeyboardInterrupt from exc
        logger.debug("trial %d failed", ctx.number, exc_info=True)
        record.state, record.error = TrialState.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    try:
        _end(search, ctx, record, start, tracker, model)
    except KeyboardInterrupt:  # while saving: if the engine has not counted it, neither do we
        if ctx.finish is not None:
            _end(search, ctx, _interrupted(record), start, tracker, None)
        raise
    del model
    with interrupts_deferred():
        free_memory()
    return record


def _train(search: Search, ctx: TrialContext, arch: Any, record: TrialRecord, tracker: list[Any]) -> Any:
    """Build the trial's model, refuse it if it is over the size or time budget, and fit it."""
    from autodl.model import build_model, count_params
    from autodl.model.cost import forward_flops
    from autodl.training import fit_model

    metric, direction = search.space.objective
    settings, splits = search.settings, search.splits
    if settings.seed is not None:
        import keras

        keras.utils.set_random_seed(settings.seed + (ctx.number if ctx.slot is None else ctx.slot))
    model = build_model(arch, splits.input_shape, splits.num_classes)
    record.n_params, record.flops = count_params(model), forward_flops(model)
    limit, source = search.space.max_params, "the space's training.max_params"
    if settings.max_params is not None:
        limit, source = settings.max_params, "--max-params"
    if limit and record.n_params > limit:
        raise TrialPruned(f"{record.n_params:,} parameters, more than {source} ({limit:,}): pruned before training")
    planner, records = search.planner, search.records
    admission = planner.admit(
        record.flops,
        ctx.max_epochs or settings.epochs or search.space.max_epochs,
        records,
        metric,
        direction,
        params=record.params,
    )
    if admission.skip:
        raise TrialPruned(admission.skip)

    def show(epoch: int, logs: dict[str, float]) -> None:
        search.callbacks.on_epoch_end(ctx.number, epoch, logs)

    fit = fit_model(
        model,
        splits,
        batch_size=arch["batch_size"],
        max_epochs=admission.epochs,
        patience=search.space.patience,
        monitor=metric,
        direction=direction,
        reporters=[show, *ctx.reporters],
        callback_out=tracker.append,
        check_stop=check_stop,
        lr_schedule=arch.get("lr_schedule", "constant"),
        time_up=_epoch_fits(planner, records, metric, direction),
    )
    record.value = fit.value
    return model


def _epoch_fits(planner: Planner, records: list[TrialRecord], metric: str, direction: str) -> Callable[[], bool]:
    """Asked after each epoch: True ("stop here, keep what trained") once another epoch as long
    as the last would not end before the search's share of the time does. Stopping only when
    the share is already spent let the last trial run over by one of its epochs, and that ate
    the final training's time."""
    last = [time.monotonic()]

    def time_up() -> bool:
        now = time.monotonic()
        took, last[0] = now - last[0], now
        left = planner.search_time_left(records, metric, direction)
        return left is not None and left < took

    return time_up


def _end(search: Search, ctx: TrialContext, record: TrialRecord, start: float, tracker: list[Any], model: Any) -> None:
    """Complete the record (time, history) and commit it through the ledger, telling the engine once."""
    record.seconds = time.perf_counter() - start
    if tracker:
        record.history, record.epochs = tracker[0].history, tracker[0].epochs
    if record.state == TrialState.COMPLETE and (record.value is None or not math.isfinite(record.value)):
        record.state, record.error = TrialState.FAILED, "the objective was not a finite number"

    def tell(committed: TrialRecord) -> None:
        finish, ctx.finish = ctx.finish, None  # told once; a Ctrl-C from here on keeps the outcome
        if finish is not None:
            finish(committed)

    record = search.ledger.commit(record, model, tell, search.shared_records)
    search.callbacks.on_trial_end(record)


def _interrupted(record: TrialRecord) -> TrialRecord:
    return dataclasses.replace(
        record,
        state=TrialState.INTERRUPTED,
        value=None,
        model_path=None,
        error="stopped by Ctrl-C; this slot is run again on resume",
    )
