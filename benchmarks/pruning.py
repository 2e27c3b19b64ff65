"""Pruning: epochs trained with Optuna's median pruner vs without, at equal trials.

For each seed, two searches with autodl's defaults (``cnn`` space, TPE, the space's early
stopping) differ only in ``--pruner median`` vs ``--pruner none``. Epochs are summed over
every trial; the score is the best validation accuracy (the objective), with the winner's
test accuracy beside it. Verdict on the medians over seeds of the epoch saving and of the
score change.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import fmt, median, scratch

MIN_SAVING, MAX_SCORE_DROP = 0.40, 0.3  # share of epochs; points of validation accuracy
DURATION = "about 60 minutes on 2 quiet cores (6 searches; each unpruned one takes 13-23 minutes)"
TITLE = "Pruning: epochs with the median pruner vs none"
TARGET_TEXT = (
    f">= {MIN_SAVING:.0%} fewer epochs with the best validation accuracy within {MAX_SCORE_DROP} points "
    "(median of 3 seeds, Fashion-MNIST)"
)


def one_search(pruner: str, seed: int, settings: dict[str, Any], out: str) -> dict[str, Any]:
    import autodl

    start = time.perf_counter()
    search = autodl.run_search(pruner=pruner, seed=seed, out=out, **settings)
    states = [r.state.value for r in search.finished]
    return {
        "pruner": pruner,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "epochs": sum(r.epochs for r in search.records),
        "best_val": search.best_value,
        "test": (search.test_metrics or {}).get("accuracy"),
        "counts": {s: states.count(s) for s in ("complete", "pruned", "failed")},
    }


def run(quick: bool) -> dict[str, Any]:
    if quick:
        seeds = [0]
        settings = {"dataset": "digits", "subset": 300, "trials": 8, "epochs": 3, "top_k": 1}
    else:
        seeds = [0, 1, 2]
        # The space's own epoch budget (15, early stopping after 3 without progress): what a
        # user's search runs. A low --epochs cap leaves pruning little to cut.
        settings = {
            "dataset": "fashion_mnist",
            "subset": 6000,
            "val_fraction": 0.25,
            "trials": 16,
            "epochs": None,
            "top_k": 1,
        }
    runs, savings, deltas = [], [], []
    with scratch("pruning") as tmp:
        for seed in seeds:
            pair = {p: one_search(p, seed, settings, f"{tmp}/{p}-{seed}") for p in ("none", "median")}
            runs += pair.values()
            saving = 1 - pair["median"]["epochs"] / pair["none"]["epochs"]
            delta = ((pair["median"]["best_val"] or 0) - (pair["none"]["best_val"] or 0)) * 100
            savings.append(saving)
            deltas.append(delta)
    rows = [
        [
            r["seed"],
            r["pruner"],
            "{complete}/{pruned}/{failed}".format(**r["counts"]),
            r["epochs"],
            fmt(r["seconds"], 0),
            fmt(r["best_val"], 4),
            fmt(r["test"], 4),
        ]
        for r in runs
    ]
    for seed, saving, delta in zip(seeds, savings, deltas):
        rows.append([seed, "saving", "", f"{saving:.0%} fewer", "", f"{delta:+.2f} points", ""])
    saving, delta = median(savings), median(deltas)
    passed = saving >= MIN_SAVING and delta >= -MAX_SCORE_DROP
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        "passed": passed,
        "summary": f"median {saving:.0%} fewer epochs, best val accuracy {delta:+.2f} points",
        "columns": [
            "seed",
            "pruner",
            "complete/pruned/failed",
            "epochs trained",
            "wall s",
            "best val accuracy",
            "test accuracy (best)",
        ],
        "rows": rows,
        "params": {"seeds": seeds, **settings},
        "notes": [
            f"{settings['trials']} trials per search, at most "
            f"{settings['epochs'] or 15} epochs per trial, {settings['dataset']} subset {settings['subset']} "
            f"(validation {settings.get('val_fraction', 0.1):.0%} of it); default `cnn` space, TPE.",
            "The median pruner (autodl's default) judges trials once 2 have finished, from their 2nd epoch; both arms keep "
            "the space's early stopping (patience 3), so the saving is on top of it.",
            "With pruning, TPE sees pruned trials, so after the first trials the two arms try different "
            "configurations: the score change mixes pruning's cut with that drift.",
        ],
    }
