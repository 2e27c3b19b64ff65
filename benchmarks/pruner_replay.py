"""Which pruner by default: each one replayed over the same recorded learning curves.

One search records full learning curves (``--pruner none``, random sampler for a varied
population, Fashion-MNIST 3,000 train / 1,500 validation, 8 epochs, the space's early
stopping). Then every pruner is replayed over those curves in ``ORDERS`` random trial
orders, in an in-memory Optuna study that receives each epoch's value exactly as autodl's
reporter sends it (judged from the 2nd epoch, the space's ``pruning_warmup``). Per pruner:
the epochs it trains (against no pruning), the regret (the best final validation accuracy
of all curves minus the best among the trials it let finish), and how often the best
trial survives. Replaying recorded curves (as tabular HPO benchmarks do) compares pruners on
identical trials; it leaves out how pruning feeds back into TPE's proposals.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import fashion_npz, fmt, scratch

ORDERS = 200
#: The recorded curves, kept so that a pruner added later is replayed over the same ones.
CURVES = Path(__file__).resolve().parent / "results" / "pruner_replay_curves.json"
TOP = 3  # the best curves whose survival is counted
WARMUP = 1  # the cnn space's pruning_warmup: judged from the 2nd epoch
DURATION = "about 10 minutes on 2 quiet cores (one search of 20 unpruned trials; the replay takes seconds)"
TITLE = "Pruner replay: epochs saved against the best trial lost, on recorded learning curves"
TARGET_TEXT = (
    "picks the default pruner: among the fair ones (a trial judged only against >= 4 peers at the same "
    "epoch), the lowest regret that saves >= 25% of epochs"
)


def record_curves(quick: bool) -> tuple[list[list[float]], dict[str, Any]]:
    import autodl

    settings: dict[str, Any] = {
        "dataset": str(fashion_npz(3000, 1500)),
        "trials": 20,
        "epochs": 8,
        "sampler": "random",
        "pruner": "none",
        "refit": False,
        "seed": 0,
        "top_k": 1,
    }
    if quick:
        settings.update(dataset="digits", trials=6, epochs=3)
    kept = {k: v for k, v in settings.items() if k != "dataset"}
    saved = json.loads(CURVES.read_text()) if CURVES.is_file() and not quick else None
    if saved and saved.get("settings") == kept:  # recorded once; a new pruner replays in seconds
        return saved["curves"], kept
    with scratch("replay") as tmp:
        search = autodl.run_search(out=tmp, **settings)
    curves = [r.history.get("val_accuracy", []) for r in search.records if r.history.get("val_accuracy")]
    curves = [c for c in curves if c]
    if not quick:
        tmp_path = CURVES.with_suffix(".tmp")
        tmp_path.write_text(json.dumps({"settings": kept, "curves": curves}), encoding="utf-8")
        tmp_path.replace(CURVES)
    return curves, kept


def pruners() -> dict[str, Any]:
    import optuna

    from autodl.backends.optuna_policy import MIN_PEERS, FairPruner

    return {
        "none": lambda: optuna.pruners.NopPruner(),
        "median, 2 start-up trials (autodl before)": lambda: optuna.pruners.MedianPruner(n_startup_trials=2),
        f"median of complete trials, {MIN_PEERS} peers (fair)": lambda: FairPruner(
            optuna.pruners.MedianPruner(n_startup_trials=MIN_PEERS, n_warmup_steps=0, n_min_trials=MIN_PEERS), MIN_PEERS
        ),
        f"median of all peers, {MIN_PEERS} peers (fair)": lambda: FairPruner(None, MIN_PEERS),
        f"lower third of all peers, {MIN_PEERS} peers (fair)": lambda: FairPruner(None, MIN_PEERS, 1 / 3),
        f"lower quarter of all peers, {MIN_PEERS} peers (fair)": lambda: FairPruner(None, MIN_PEERS, 0.25),
        "ASHA (Optuna's SuccessiveHalving)": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=2, reduction_factor=3
        ),
        f"ASHA, {MIN_PEERS} peers (fair)": lambda: FairPruner(
            optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3), MIN_PEERS
        ),
        f"Hyperband, {MIN_PEERS} peers (fair)": lambda: FairPruner(
            optuna.pruners.HyperbandPruner(min_resource=1, max_resource=8, reduction_factor=3), MIN_PEERS
        ),
    }


def replay(curves: list[list[float]], make_pruner: Any, order: list[int]) -> tuple[int, float, bool, int]:
    """Epochs trained, the best final value among finished trials, whether the best curve
    finished, and how many of the ``TOP`` best curves finished (the ensemble's candidates,
    and the near-equal rivals exploitation produces)."""
    import optuna

    study = optuna.create_study(
        direction="maximize", pruner=make_pruner(), sampler=optuna.samplers.RandomSampler(seed=0)
    )
    epochs, finished = 0, []
    for index in order:
        curve = curves[index]
        trial = study.ask()
        pruned = False
        for epoch, value in enumerate(curve):
            trial.report(value, epoch)
            if epoch >= WARMUP and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                epochs += epoch + 1
                pruned = True
                break
        if not pruned:
            study.tell(trial, max(curve))
            epochs += len(curve)
            finished.append(index)
    ranked = sorted(range(len(curves)), key=lambda i: -max(curves[i]))
    top = sum(1 for i in ranked[:TOP] if i in finished)
    return epochs, max(max(curves[i]) for i in finished), ranked[0] in finished, top


def choose(stats: dict[str, dict[str, float]]) -> str | None:
    """The default: a fair pruner (the others judge against too few trials) saving >= 25% of
    epochs, with the lowest regret, then the fewest epochs."""
    eligible = {n: s for n, s in stats.items() if "fair" in n and s["epochs"] <= 0.75}
    return min(eligible, key=lambda n: (eligible[n]["regret"], eligible[n]["epochs"])) if eligible else None


def run(quick: bool) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    curves, settings = record_curves(quick)
    best = max(max(c) for c in curves)
    rng = random.Random(0)
    orders = [rng.sample(range(len(curves)), len(curves)) for _ in range(20 if quick else ORDERS)]
    all_epochs = sum(len(c) for c in curves)
    stats = {}
    for name, make in pruners().items():
        runs = [replay(curves, make, order) for order in orders]
        stats[name] = {
            "epochs": statistics.mean(r[0] for r in runs) / all_epochs,
            "regret": statistics.mean(best - r[1] for r in runs),
            "best_survives": statistics.mean(1.0 if r[2] else 0.0 for r in runs),
            "top_finish": statistics.mean(r[3] for r in runs),
        }
    choice = choose(stats)
    rows = [
        [
            name,
            fmt(100 * s["epochs"], 1),
            fmt(100 * s["regret"], 2),
            fmt(100 * s["best_survives"], 0),
            fmt(s["top_finish"], 2),
        ]
        for name, s in stats.items()
    ]
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": None,
        "choice": choice,
        "summary": f"the fair pruner with the lowest regret saving >= 25% of epochs: {choice}",
        "columns": [
            "pruner",
            "epochs trained, % of none",
            "regret, points of val accuracy",
            "best trial finishes, % of orders",
            f"of the {TOP} best trials, how many finish (mean)",
        ],
        "rows": rows,
        "stats": stats,
        "params": {
            **settings,
            "orders": len(orders),
            "curves": len(curves),
            "epochs_unpruned": all_epochs,
            "best_val": best,
        },
        "notes": [
            f"{len(curves)} curves, {all_epochs} epochs unpruned; each pruner replayed over the same "
            f"{len(orders)} random orders of those trials."
        ],
    }
