"""Train a finished search's winner again: on other data, or on all of its own.

``autodl train RUN [DATASET]``, ``search.train(...)`` from Python. The run's best configuration (or trial N's, or the ensemble's members) is built for the
new data's input shape and class count, trained from scratch with the run's training
settings (its space's epochs, patience and objective, its precision and seed), evaluated once
on the test split, and written as a run folder of its own: trials, models, evaluation,
run.json (with ``origin``: where the configuration came from) and the report. ``autodl
export`` and ``predict`` then work on it as on any run.

Without DATASET the run's own train and validation splits are joined and each member trains
for the epochs its search trial needed to reach its best score (there is nothing left to
stop early on); with DATASET, early stopping watches that data's validation split.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from autodl.exceptions import UsageError
from autodl.records import TrialRecord, TrialState
from autodl.runs import RunStore
from autodl.search._budget import best_epoch
from autodl.search._data import load_data
from autodl.search.callbacks import SearchCallback, as_callback
from autodl.search.selection import architecture, chosen_trials

__all__ = ["train_run"]


def train_run(
    search: Any,
    dataset: str | None = None,
    *,
    trial: int | None = None,
    ensemble: bool = False,
    epochs: int | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    subset: int | None = None,
    data_dir: str | None = None,
    callbacks: list[SearchCallback] | SearchCallback | None = None,
) -> Any:
    """Train ``search``'s best configuration (or ``trial``'s, or the ensemble's) again; return the new run.

    Args:
        search: a finished run (``autodl.load``).
        dataset: a dataset name or path; None: the run's own train + validation data.
        epochs: at most this many epochs (default: the space's ``max_epochs``; without
            ``dataset``, the epochs the trial needed).
        out: the output root (default: the run's own, ``reports``); ``name``: the folder.
        subset: with ``dataset``, use only this many training examples (quick checks).

    Raises:
        UsageError: ``epochs`` below 1; a bad ``dataset``; RunError: no such trial.
    """
    if epochs is not None and epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    records = chosen_trials(search, trial, ensemble, saved=ensemble)
    callback = as_callback(callbacks)
    settings = search.settings
    callback.on_status(f"loading {dataset or settings.dataset}")
    start = time.perf_counter()
    if dataset is None:
        splits = _joined(load_data(settings, expected=search.dataset))
        new = dataclasses.replace(settings, trials=len(records), storage=None, top_k=len(records))
    else:
        new = dataclasses.replace(
            settings,
            dataset=dataset,
            data_dir=data_dir or settings.data_dir,
            subset=subset,
            image_size=None,
            trials=len(records),
            storage=None,
            top_k=len(records),
        )
        splits = load_data(new)
    data_seconds = time.perf_counter() - start
    default = f"{search.path.name}-on-{Path(dataset).stem if dataset else 'all'}"
    store = RunStore.create(out if out is not None else search.path.parent, name or default)
    new = dataclasses.replace(
        new,
        name=store.root.name,
        out=str(store.root.parent),
        epochs=epochs or settings.epochs or search.space.max_epochs,
    )
    result = type(search)(new, search.space, store, dataset=splits.summary())  # a Search, as the one given
    result.splits, result.data_seconds = splits, data_seconds
    origin = {
        "run": str(search.path),
        "trials": [r.number for r in records],
        "ensemble": ensemble,
        "dataset": settings.dataset,
        "retrained_on": dataset or "its own train + validation data",
    }
    result.origin = origin
    with result.precision_policy():
        callback.on_search_start(result)
        for number, record in enumerate(records):
            budget = best_epoch(record, *search.space.objective) if dataset is None else None
            _train_one(result, number, record, budget, callback)
        _evaluate(result, callback)
    result.elapsed = time.perf_counter() - start
    result.ledger.write_run("finished")
    result.ledger.save_state()
    from autodl.reporting import write_report

    callback.on_status("writing the HTML report")
    write_report(store.root)
    callback.on_search_end(result)
    return result


def _train_one(result: Any, number: int, source: TrialRecord, budget: int | None, callback: SearchCallback) -> None:
    """Train one configuration as trial ``number`` of ``result`` and keep its model."""
    import keras

    from autodl.model import build_model, count_params
    from autodl.training import fit_model, free_memory

    arch = architecture(result, source)
    metric, direction = result.space.objective
    callback.on_trial_start(number, dict(source.params))
    if result.settings.seed is not None:
        keras.utils.set_random_seed(result.settings.seed + number)
    model = build_model(arch, result.splits.input_shape, result.splits.num_classes)
    max_epochs = min(result.settings.epochs, budget or result.settings.epochs)
    fit = fit_model(
        model,
        result.splits,
        batch_size=arch["batch_size"],
        max_epochs=max_epochs,
        patience=0 if budget is not None else result.space.patience,
        monitor=metric,
        direction=direction,
        lr_schedule=arch.get("lr_schedule", "constant"),
        reporters=[lambda epoch, logs: callback.on_epoch_end(number, epoch, logs)],
    )
    record = TrialRecord(
        number=number,
        state=TrialState.COMPLETE,
        params=dict(source.params),
        value=fit.value,
        epochs=fit.epochs,
        seconds=fit.seconds,
        n_params=count_params(model),
        history=fit.history,
        origin=f"trial {source.number} of {result.origin['run']}" if result.origin else None,
    )
    callback.on_trial_end(result.ledger.commit(record, model, None))
    del model
    free_memory()


def _evaluate(result: Any, callback: SearchCallback) -> None:
    """The first member on the test split; several members together as an ensemble."""
    import keras

    from autodl.search.evaluation import evaluate_best, evaluate_ensemble

    ranked = [r for r in result.ranked() if r.model_path]
    if not ranked:
        return
    callback.on_status(f"evaluating trial {ranked[0].number} on the test split")
    models = [keras.saving.load_model(result.path / str(r.model_path)) for r in ranked]
    result.test_metrics, proba = evaluate_best(models[0], result.splits, result.store.evaluation_npz)
    if len(models) > 1:
        result.ensemble = evaluate_ensemble(models, [r.number for r in ranked], result.splits, best_test_proba=proba)


def _joined(splits: Any) -> Any:
    """Train and validation together; the validation split stays for the curves (it is trained on)."""
    return dataclasses.replace(
        splits,
        x_train=np.concatenate([splits.x_train, splits.x_val]),
        y_train=np.concatenate([splits.y_train, splits.y_val]),
    )
