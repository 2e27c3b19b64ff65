"""The final model: the winner, and the ensemble's other members, trained again on train + validation.

The validation split chose the configurations, the ensemble's weights and, through early
stopping, the number of epochs; once chosen, those images are more useful as training data
(AutoKeras does this; Keras Tuner and Optuna leave it to the user). Each member trains from
scratch for the epochs its trial kept, best first while the time budget allows (at most
``REFIT_MEMBERS``; one whose epochs no longer fit trains the half or more of them that do).
The final model averages them with the ensemble's weights (renormalized over the members
trained), is evaluated once on the test split beside the validation-chosen model, and is
what ``autodl predict`` uses by default. The test split chooses nothing.

On 12,000 Fashion-MNIST images the best model alone gained ~0.8 points of test accuracy from
the 5,000 validation images, and the validation-chosen ensemble ~0.6 points over its best
member; the refit ensemble takes both (BENCHMARKS.md, quality suite).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from autodl.records import TrialRecord
from autodl.runs import atomic_save_model
from autodl.search._budget import REFIT_MEMBERS, best_epoch, useful_epochs
from autodl.search.evaluation import accuracy, log_loss
from autodl.search.stop import check_stop, interrupts_deferred
from autodl.space import FixedSuggester

if TYPE_CHECKING:
    from autodl.search.search import Search


def members(search: Search) -> list[tuple[TrialRecord, float]]:
    """The trials the final model trains again, with their ensemble weights: the ensemble's
    members, the best trial first (the winner, if the ensemble uses it) and then by weight
    (ties: the better trial), else the best trial alone."""
    best = search.best_trial
    if best is None:
        return []
    weights = (search.ensemble or {}).get("weights") or {}
    ranked = {r.number: i for i, r in enumerate(search.ranked())}
    chosen = [(search.trial(int(n)), float(w)) for n, w in weights.items() if float(w) > 0 and int(n) in ranked]
    chosen.sort(key=lambda pair: (pair[0].number != best.number, -pair[1], ranked[pair[0].number]))
    return chosen[:REFIT_MEMBERS] or [(best, 1.0)]


def refit_final(search: Search) -> dict[str, Any] | None:
    """Train the final model's members on train + validation and evaluate it on the test split;
    None when there is no best trial or ``--no-refit``; ``{"skipped": why}`` when the time
    budget has no room for even its first member."""
    chosen = members(search)
    if not chosen or not search.settings.refit:
        return None
    metric, direction = search.space.objective
    planner = search.planner
    trained: list[dict[str, Any]] = []
    probas: list[np.ndarray] = []
    for index, (record, weight) in enumerate(chosen):
        kept = best_epoch(record, metric, direction)
        epochs = planner.final_epochs(record, metric, direction)
        if not epochs:
            if trained:
                continue  # a later, cheaper member may still fit (two measured runs left 90 s unused)
            search.store.remove_final_members(keep=[])
            return {
                "trial": record.number,
                "skipped": f"the final training needs ~{planner.refit_estimate(record, metric, direction):.0f} s "
                f"(at least half of it: {useful_epochs(kept)} of its {kept} epochs) and "
                f"{planner.time_left() or 0:.0f} s were left of --timeout; the validation-chosen model is used",
            }
        store = search.store
        path = store.final_model if index == 0 else store.final_member(record.number)
        seconds, proba = _train_one(search, record, epochs, path)
        probas.append(proba)
        trained.append(
            {
                "trial": record.number,
                "weight": weight,
                "epochs": epochs,
                **({"shortened_from": kept} if epochs < kept else {}),
                "seconds": round(seconds, 2),
                "model_path": path.relative_to(search.path).as_posix(),
                "test_accuracy": accuracy(proba, search.splits.y_test),
            }
        )
    search.store.remove_final_members(keep=[m["trial"] for m in trained[1:]])
    total = sum(m["weight"] for m in trained)
    for member in trained:
        member["weight"] = member["weight"] / total
    mean = np.sum([m["weight"] * p for m, p in zip(trained, probas)], axis=0)
    y_test = np.asarray(search.splits.y_test, dtype=np.int64)
    first = trained[0]
    return {
        "trial": first["trial"],
        "epochs": first["epochs"],
        "seconds": round(sum(m["seconds"] for m in trained), 2),
        "model_path": first["model_path"],
        "n_train": int(len(search.splits.y_train) + len(search.splits.y_val)),
        "members": trained,
        "test_metrics": {
            "accuracy": accuracy(mean, y_test),
            "loss": log_loss(mean, y_test),
        },
    }


def _train_one(search: Search, record: TrialRecord, epochs: int, path: Any) -> tuple[float, np.ndarray]:
    """One member trained from scratch on train + validation and saved to ``path``; its seconds
    and its class probabilities on the test split."""
    import keras

    from autodl.model import build_model
    from autodl.training import free_memory, predict_proba, refit_model

    search.callbacks.on_status(f"training trial {record.number} again on train + validation ({epochs} epochs)")
    arch = search.space.sample(FixedSuggester(record.params))
    splits = search.splits
    with interrupts_deferred():
        if search.settings.seed is not None:
            keras.utils.set_random_seed(search.settings.seed + record.number)
        model = build_model(arch, splits.input_shape, splits.num_classes)
        seconds = refit_model(
            model,
            splits,
            batch_size=arch["batch_size"],
            epochs=epochs,
            check_stop=check_stop,
        )
        proba = np.asarray(predict_proba(model, splits.x_test, check_stop), dtype=np.float64)
        atomic_save_model(path, model)
    del model
    free_memory()
    return seconds, proba
