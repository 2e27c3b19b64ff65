"""The final model: the winner trained again on train + validation.

The validation split chose the configuration and, through early stopping, the number of
epochs; once chosen, those images are more useful as training data (AutoKeras does this;
Keras Tuner and Optuna leave it to the user). The refit model trains from scratch for the
epochs its trial kept, is evaluated once on the test split beside the validation-chosen
model, and is what ``autodl predict`` uses by default. The test split chooses nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autodl.runs import atomic_save_model
from autodl.search._budget import REPORT_SECONDS, best_epoch, per_epoch
from autodl.search.stop import check_stop, interrupts_deferred
from autodl.space import FixedSuggester

if TYPE_CHECKING:
    from autodl.search.search import Search


def refit_best(search: Search) -> dict[str, Any] | None:
    """Train the best trial's configuration on train + validation and evaluate it on the test
    split; None when there is no best trial or ``--no-refit``; ``{"skipped": why}`` when the
    time budget has no room for it."""
    best = search.best_trial
    if best is None or not search.settings.refit:
        return None
    metric, direction = search.space.objective
    epochs = best_epoch(best, metric, direction)
    estimate = per_epoch(best) * search.planner.data_scale * epochs
    left = search.planner.time_left()
    if left is not None and left - min(REPORT_SECONDS, search.planner.end_seconds) < estimate:
        return {
            "trial": best.number,
            "skipped": f"the final training needs ~{estimate:.0f} s and {left:.0f} s "
            "were left of --timeout; the validation-chosen model is used",
        }
    import keras

    from autodl.model import build_model
    from autodl.training import evaluate, free_memory, refit_model

    search.callbacks.on_status(f"training trial {best.number} again on train + validation ({epochs} epochs)")
    arch = search.space.sample(FixedSuggester(best.params))
    splits = search.splits
    with interrupts_deferred():
        if search.settings.seed is not None:
            keras.utils.set_random_seed(search.settings.seed + best.number)
        model = build_model(arch, splits.input_shape, splits.num_classes)
        seconds = refit_model(
            model,
            splits,
            batch_size=arch["batch_size"],
            epochs=epochs,
            lr_schedule=arch.get("lr_schedule", "constant"),
            check_stop=check_stop,
        )
        metrics = evaluate(model, splits.x_test, splits.y_test, check_stop)
        atomic_save_model(search.store.final_model, model)
    del model
    free_memory()
    return {
        "trial": best.number,
        "epochs": epochs,
        "seconds": round(seconds, 2),
        "model_path": search.store.final_model.relative_to(search.path).as_posix(),
        "n_train": int(len(splits.y_train) + len(splits.y_val)),
        "test_metrics": {k: float(v) for k, v in metrics.items()},
    }
