"""The end of a search: the best model (and the kept ones together) on the test split, the
final training on train + validation, the accounting, then run.json and the HTML report.

The test split is touched here only, after every choice was made on validation.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from autodl.search._accounting import accounting, phase
from autodl.search._refit import refit_final
from autodl.search.evaluation import evaluate_best, evaluate_ensemble
from autodl.search.stop import check_stop, interrupts_deferred

if TYPE_CHECKING:
    from autodl.search.search import Search

logger = logging.getLogger(__name__)


def finish_search(search: Search) -> None:
    """Take in other workers' trials, evaluate on the test split, write run.json and the report."""
    start = time.perf_counter()
    ledger = search.ledger
    ledger.merge_shared(search.shared_records())
    if search.settings.storage:
        ledger.refresh_top_models()
    test = _evaluate(search)
    search.final = refit_final(search)
    metric, direction = search.space.objective
    search.accounting = accounting(
        search.records,
        direction,
        search.settings.epochs or search.space.max_epochs,
        final_seconds=time.perf_counter() - start,
        test=test,
    )
    ledger.write_run("finished")
    ledger.save_state()
    from autodl.reporting import write_report

    search.callbacks.on_status("writing the HTML report")
    write_report(search.path)
    search.callbacks.on_search_end(search)


def _evaluate(search: Search) -> dict[int, float]:
    """The best model, the ensemble, and the best start network and best searched trial on the
    test split; returns the test accuracy of each trial evaluated.

    Workers sharing one run folder each finish the search, and one may drop a model file
    from the top-k while another is about to read it (their views of the study differ by the
    trials still running): a model gone by then is left out, never the search's end.
    """
    from autodl.training import evaluate

    best = search.best_trial
    model = _load(search, best)
    if best is None or model is None:
        return {}
    search.callbacks.on_status(f"evaluating trial {best.number} on the test split")
    with interrupts_deferred():
        search.test_metrics, proba = evaluate_best(
            model, search.splits, search.store.evaluation_npz, check_stop=check_stop
        )
        test = {best.number: float(search.test_metrics.get("accuracy", float("nan")))}
        loaded = {best.number: model}
        for record in search.saved()[1 : search.settings.top_k]:
            found = _load(search, record)
            if found is not None:
                loaded[record.number] = found
        kept = [r for r in search.saved()[: search.settings.top_k] if r.number in loaded]
        if len(kept) >= 2 and kept[0].number == best.number:
            search.callbacks.on_status(f"evaluating the top-{len(kept)} ensemble")
            search.ensemble = evaluate_ensemble(
                [loaded[r.number] for r in kept],
                [r.number for r in kept],
                search.splits,
                check_stop,
                best_test_proba=proba,
            )
        # The best start network against the best searched trial: each one's test accuracy, where kept.
        for record in _phase_bests(kept):
            if record.number not in test:
                metrics = evaluate(loaded[record.number], search.splits.x_test, search.splits.y_test, check_stop)
                test[record.number] = float(metrics.get("accuracy", float("nan")))
    return test


def _load(search: Search, record: Any) -> Any:
    """``record``'s saved model, or None if it has none or the file is gone (another worker's top-k)."""
    if record is None or not record.model_path:
        return None
    import keras

    path = search.path / str(record.model_path)
    try:
        with interrupts_deferred():
            return keras.saving.load_model(path)
    except (OSError, ValueError):
        if path.is_file():
            raise
        logger.info("the model of trial %d is gone (another worker kept other models)", record.number)
        return None


def _phase_bests(kept: list[Any]) -> list[Any]:
    """The best kept start network and the best kept searched trial (``kept`` is best first)."""
    starts = [r for r in kept if phase(r) == "start networks"]
    searched = [r for r in kept if phase(r) != "start networks"]
    return [group[0] for group in (starts, searched) if group]
