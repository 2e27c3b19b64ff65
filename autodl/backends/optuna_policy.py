"""How the Optuna backend searches: its samplers, its pruners (made fair), and exploitation.

What the measured searches taught (PITFALLS.md, BENCHMARKS.md):

- TPE's default 10 random start-up trials (start networks included) used up a 15-minute CPU
  budget before its model ever ran: autodl starts it after ``TPE_STARTUP`` trials.
- A median pruner that judged new trials at epoch 2 against the two start networks killed
  80% of them there, batch-norm models (slow starters) first. Every pruner is now wrapped
  in ``FairPruner``: a trial is judged at an epoch only once ``MIN_PEERS`` other trials
  reported that same epoch, and only against them; ``median`` is the median of all of
  them, not only of the complete ones (the survivors of earlier pruning).
- The winner was always a start network. After the queued configurations, most trials
  (``EXPLOIT_SHARE``) are neighbours of the best ones (one or two hyperparameters changed,
  as regularized evolution mutates), alongside TPE's own proposals. With half, two measured
  15-minute Fashion-MNIST searches found their best searched trial among the neighbours, and
  in one of them all 6 draws of TPE and its random start-up were pruned by epoch 4.
- Half of the neighbours (``RECIPE_SHARE``) change only the training recipe: the optimizer,
  its rate, the schedule, dropout. They cost what their parent cost, so a short budget is
  not gambled on them, and the recipe moved the most in the measured runs: a cosine decay
  added 0.6-1.0 points of validation accuracy to the first start network (schedule
  benchmark), where the architecture's neighbours landed within seed noise of it. Drawn
  among all ~18 parameters, the schedule changed in ~8% of neighbours.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import optuna

from autodl.exceptions import UsageError
from autodl.records import PRUNERS, SAMPLERS
from autodl.space import SearchSpace
from autodl.space.neighbours import neighbour, recipe_names

#: Trials (queued ones included) before TPE's model proposes.
TPE_STARTUP = 5
#: Other trials that must have reported an epoch before any trial is judged at it.
MIN_PEERS = 4
#: The share of the sampler's trials that are neighbours of the best ones instead.
EXPLOIT_SHARE = 0.7
#: The share of neighbours that change only the training recipe (``recipe_names``: optimizer,
#: rate, schedule, dropout), which costs what the parent cost per epoch.
RECIPE_SHARE = 0.5
#: Parents are drawn from this many best complete trials (a tournament of ``TOURNAMENT``).
PARENTS, TOURNAMENT = 5, 2
ORIGIN_ATTR = "autodl_origin"  # where an enqueued trial's configuration came from
QUEUED_ATTR = "autodl_queued"  # a warm-start configuration, queued again if its trial does not count


def make_sampler(name: str, seed: int | None, *, shared: bool = False) -> Any:
    """An Optuna sampler by its CLI name."""
    if name == "tpe":
        # Univariate, as Optuna's default: multivariate TPE's cached group search space did not
        # propose the same trials after a resume that had re-run an interrupted slot.
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=TPE_STARTUP, constant_liar=shared)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        try:
            import torch  # noqa: F401  (GPSampler needs it)
        except ImportError as exc:
            raise UsageError(
                "--sampler gp needs PyTorch, which is not installed; run "
                "`pip install torch` or pick --sampler tpe|random|cmaes"
            ) from exc
        return optuna.samplers.GPSampler(seed=seed)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError as exc:
            raise UsageError(
                "--sampler cmaes needs the `cmaes` package; run `pip install cmaes` or pick --sampler tpe|random"
            ) from exc
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise UsageError(f"unknown sampler {name!r}; expected one of {', '.join(SAMPLERS)}")


def make_pruner(name: str, max_epochs: int) -> Any:
    """An Optuna pruner by its CLI name, wrapped in ``FairPruner``.

    When a trial is first judged is the space's ``training.pruning_warmup``, applied to every
    pruner by the backend's reporter.
    """
    if name == "median":
        inner = None  # FairPruner's own median, over every peer that reached the epoch
    elif name == "asha":
        inner = optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)
    elif name == "hyperband":
        inner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)
    elif name == "none":
        return optuna.pruners.NopPruner()
    else:
        raise UsageError(f"unknown pruner {name!r}; expected one of {', '.join(PRUNERS)}")
    return FairPruner(inner, MIN_PEERS)


class FairPruner(optuna.pruners.BasePruner):
    """Judges a trial at an epoch only once ``min_peers`` other trials reported that epoch.

    Optuna's successive halving prunes the second trial to reach a rung unless it beats the
    first, and a median pruner with few finished trials compares against one or two: a noisy
    bar that cost the measured searches most of their new trials. Below ``min_peers`` peers
    the trial goes on; from there the wrapped pruner decides, or with ``inner=None`` the median
    of every peer: each other trial that reached this epoch, complete, pruned later or still
    running, by its best value up to this epoch. Optuna's median pruner looks at complete
    trials only, which in a short search are the survivors of earlier pruning: its bar rose
    with every trial it pruned (a 15-minute Fashion-MNIST search pruned 12 of 17 trials, the
    neighbours of its best start network among them).
    """

    def __init__(self, inner: Any, min_peers: int, quantile: float = 0.5) -> None:
        self.inner, self.min_peers, self.quantile = inner, min_peers, quantile

    def prune(self, study: Any, trial: Any) -> bool:
        step = trial.last_step
        if step is None:
            return False
        peers = [
            t for t in study.get_trials(deepcopy=False) if t.number != trial.number and step in t.intermediate_values
        ]
        if len(peers) < self.min_peers:
            return False
        if self.inner is not None:
            return bool(self.inner.prune(study, trial))
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        mine = _best_up_to(trial, step, maximize)
        bests = [b for b in (_best_up_to(t, step, maximize) for t in peers) if b is not None]
        if mine is None or len(bests) < self.min_peers:
            return mine is None  # a NaN-only trial has diverged
        # The bar: the ``quantile`` of the peers from the bad end (0.5: their median).
        bar = float(np.quantile(bests, self.quantile if maximize else 1.0 - self.quantile))
        return mine < bar if maximize else mine > bar


def _best_up_to(trial: Any, step: int, maximize: bool) -> float | None:
    """A trial's best finite value reported at or before ``step``."""
    values = [v for s, v in trial.intermediate_values.items() if s <= step and v is not None and math.isfinite(v)]
    return (max(values) if maximize else min(values)) if values else None


def plan_neighbour(study: Any, space: SearchSpace, seed: int | None) -> tuple[dict[str, Any], str] | None:
    """The configuration the next trial should run instead of the sampler's, if any.

    Once no queued configuration waits and a trial completed, ``EXPLOIT_SHARE`` of the slots
    go to a neighbour of one of the ``PARENTS`` best complete trials (the better of
    ``TOURNAMENT`` drawn). The draw is seeded by the slot (the number of trials that count
    so far), so a resumed search, whose stopped slots run again, proposes what an
    uninterrupted one would.
    """
    from optuna.trial import TrialState

    from autodl.backends.optuna_storage import counts

    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return None
    counted = [t for t in trials if counts(t) and t.state.is_finished()]
    complete = [t for t in counted if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        return None
    rng = random.Random(f"{seed}:{len(counted)}") if seed is not None else random.Random()
    if rng.random() >= EXPLOIT_SHARE:
        return None
    maximize = study.direction.name == "MAXIMIZE"
    top = sorted(complete, key=lambda t: (-t.value if maximize else t.value, t.number))[:PARENTS]
    parent = min(rng.sample(top, min(TOURNAMENT, len(top))), key=top.index)
    changes, avoid = rng.choice((1, 2)), [dict(t.params) for t in counted]
    params = None
    if rng.random() < RECIPE_SHARE:
        params = neighbour(space, dict(parent.params), rng, changes=changes, avoid=avoid, only=recipe_names(space))
    if params is None:  # not a recipe slot, or the recipe around this parent is exhausted
        params = neighbour(space, dict(parent.params), rng, changes=changes, avoid=avoid)
    return None if params is None else (params, f"neighbour of {parent.number}")
