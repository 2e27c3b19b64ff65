"""The time budget of a whole ``autodl search``: which trials start, how many epochs they may
train, which are skipped for cost, and what is kept back for the end.

``--timeout`` bounds the whole command (search, final training, test evaluation and
report), so the search itself ends early enough for the end to fit: its share is the time
left minus a reserve, the estimated cost of the final training plus the evaluation and
report. Nothing starts that cannot finish:

- a candidate's seconds per epoch are estimated before it trains, from its forward-pass
  FLOPs and the throughput measured on the trials before it (the start networks give the
  first measurement);
- one trial may use at most ``MAX_SHARE`` of the search time left: a candidate that could
  not train ``useful_epochs`` (half of its epochs, at least 3) within it is skipped with the
  reason (the sampler is told it was pruned, so it learns to stay away from slow
  configurations), and one that starts gets at most the epochs that fit;
- a trial still running when the search's share ends is stopped at an epoch boundary and
  kept.

Without a timeout nothing is skipped and every trial gets its full epochs.
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from autodl.exceptions import UsageError
from autodl.records import TrialRecord, TrialState

#: Seconds kept for the end besides the final training: test evaluation, ensemble, report
#: (at most a tenth of a short budget, so that a 30-second search still trains).
END_SECONDS = 20.0
#: A trial that cannot train this many epochs in the time left is not started...
MIN_USEFUL_EPOCHS = 3
#: ...nor one that cannot train this share of the epochs it asks for: in two measured 15-minute
#: searches the last trials started with 1-8 of 15 epochs, none came near the best (0.85-0.91
#: against 0.92), and their ~55 s were what the final ensemble's third member lacked.
USEFUL_SHARE = 0.5
#: A trial whose full training would take more than this share of the search time left is skipped.
MAX_SHARE = 0.5
#: Of the end's reserve, what the report alone needs: the evaluations come before the final training.
REPORT_SECONDS = 5.0
#: At most this many ensemble members are trained again on train + validation (the final
#: model averages them); the reserve is the final training of the ``REFIT_MEMBERS`` best so far.
REFIT_MEMBERS = 3
#: ...but at most this share of the budget, unless the best trial's alone needs more: the other
#: members are trained only while time is left (a measured 15-minute search kept 395 s back for
#: three members, among them a GELU network the FLOPs model priced at half its cost, and ended
#: the search after 536 s). At 0.3, three members of the start network's size (~95 s each on
#: 17,000 images) did not fit, and two measured searches ended with two: the final model's
#: members moved its test accuracy more than the search's last trials did.
REFIT_SHARE = 0.35
#: A final training epoch on train + validation is priced at its trial's measured search epoch
#: times ``(n_train + n_val) / n_train``, plus this many seconds per member (building,
#: compiling, its first epoch's tracing, predicting the test split and saving). Five members
#: of two measured 15-minute searches (bf16, 2 cores) took 0.78-1.05x that estimate: the
#: validation pass a search epoch includes is cheap. The earlier model (a validation image at
#: 20% of a training one, no overhead) priced them 15-25% low, so the search ran into the
#: time of the third member, which then did not train.
MEMBER_SECONDS = 10.0


_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def parse_duration(value: str | float) -> float:
    """Seconds from ``900``, ``90s``, ``15m``, ``2h`` or ``1h30m`` (``--timeout``).

    Raises:
        UsageError: not a positive duration in those forms.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = re.findall(r"(\d+(?:\.\d+)?)(h|min|m|s|)", text)
        joined = "".join(number + unit for number, unit in parts)
        if not parts or joined != text or sum(1 for _, unit in parts if unit == "") > (len(parts) == 1):
            seconds = math.nan
        else:
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(
            f"--timeout must be positive: a duration such as 900 (seconds), 90s, 15m, 2h or 1h30m; "
            f"got {str(value)[:40]!r}"
        )
    return seconds


@dataclasses.dataclass
class Admission:
    """What the planner allows one candidate: ``epochs`` to train, or a ``skip`` reason."""

    epochs: int
    skip: str | None = None
    seconds_per_epoch: float | None = None


class Planner:
    """Plans one search's time; ``clock`` is injectable so tests can fake it.

    Args:
        timeout: Seconds for the whole command, or None for no limit.
        started: When the command started, on ``clock``'s scale (data loading counts).
        n_train, n_val: The split sizes: a final training epoch on train + validation costs
            ``(n_train + n_val) / n_train`` times a search epoch (which trained on ``n_train``
            images), and each member ``MEMBER_SECONDS`` more.
        refit: Whether the search ends by training the winner again on train + validation.
        members: How many of the best trials that final training may cover (the ensemble's
            members, at most ``REFIT_MEMBERS``).
        spent: Seconds the search ran in earlier processes (a resumed or recycled search): the
            final training's share is of the whole budget, not of what was left at the resume.
        max_epochs: The epochs a trial asks for, when known: the search ends once no trial
            could train ``useful_epochs`` of them.
    """

    def __init__(
        self,
        timeout: float | None,
        *,
        started: float | None = None,
        n_train: int = 1,
        n_val: int = 0,
        refit: bool = True,
        members: int = 1,
        spent: float = 0.0,
        max_epochs: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.started = clock() if started is None else started
        self.budget = None if timeout is None else timeout + spent
        self.deadline = None if timeout is None else self.started + timeout
        self.end_seconds = END_SECONDS if timeout is None else min(END_SECONDS, 0.1 * timeout)
        self.data_scale = (n_train + n_val) / max(1, n_train)
        self.refit = refit
        self.members = max(1, min(REFIT_MEMBERS, members))
        self.max_epochs = max_epochs

    # ------------------------------------------------------------------ time
    def time_left(self) -> float | None:
        """Seconds left for the whole command (None: no limit)."""
        return None if self.deadline is None else self.deadline - self.clock()

    def search_time_left(
        self, records: Sequence[TrialRecord], metric: str = "val_accuracy", direction: str = "maximize"
    ) -> float | None:
        """Seconds left for trials: the time left minus what the end needs."""
        left = self.time_left()
        return None if left is None else left - self.reserve(records, metric, direction)

    def reserve(
        self, records: Sequence[TrialRecord], metric: str = "val_accuracy", direction: str = "maximize"
    ) -> float:
        """The end's estimated seconds: the final training of the best trials so far, plus ``end_seconds``."""
        return self.end_seconds + (self.refit_seconds(records, metric, direction) if self.refit else 0.0)

    def refit_seconds(
        self, records: Sequence[TrialRecord], metric: str = "val_accuracy", direction: str = "maximize"
    ) -> float:
        """What training the ``members`` best complete trials again on train + validation should
        take, capped at ``REFIT_SHARE`` of the budget (or the best one's estimate, if more)."""
        from autodl.records import best_first

        estimates = [self.refit_estimate(r, metric, direction) for r in best_first(records, direction)[: self.members]]
        if not estimates or self.budget is None:
            return sum(estimates)
        return min(sum(estimates), max(estimates[0], REFIT_SHARE * self.budget))

    def refit_estimate(self, record: TrialRecord, metric: str = "val_accuracy", direction: str = "maximize") -> float:
        """Seconds to train ``record``'s configuration again on train + validation for the epochs it
        kept, and to predict the test split with it and save it."""
        return MEMBER_SECONDS + self._final_epoch_seconds(record) * best_epoch(record, metric, direction)

    def _final_epoch_seconds(self, record: TrialRecord) -> float:
        """One epoch of ``record``'s configuration on train + validation: its search epoch, scaled."""
        return per_epoch(record) * self.data_scale

    def final_epochs(self, record: TrialRecord, metric: str = "val_accuracy", direction: str = "maximize") -> int:
        """The epochs ``record``'s final training may run in the time left: the epochs its early
        stopping kept, or, when those no longer fit, as many as do if that is at least
        ``useful_epochs`` of them (the rate's schedule then spans the shorter training); 0 when
        not even that fits.

        Why shorten rather than pass over: a member's time is an estimate (measured members took
        0.78-1.05x theirs), and an ensemble member trained for most of its epochs, its rate
        annealed over them, is worth more than none: in a measured search the third member
        added 0.37 points of test accuracy.
        """
        kept = best_epoch(record, metric, direction)
        left = self.time_left()
        if left is None:
            return kept
        per = self._final_epoch_seconds(record)
        room = left - min(REPORT_SECONDS, self.end_seconds) - MEMBER_SECONDS
        fits = kept if per <= 0 else max(0, int(room // per))
        if fits >= kept:
            return kept
        return fits if fits >= useful_epochs(kept) else 0

    # ------------------------------------------------------------------ cost
    def seconds_per_epoch(
        self, flops: int | None, records: Sequence[TrialRecord], params: dict[str, Any] | None = None
    ) -> float | None:
        """Estimated seconds per epoch of a model of ``flops`` FLOPs per image, from the
        throughput measured on earlier trials of this search (None before any).

        FLOPs count the convolutions and dense layers only; what they miss is priced by
        measurement: when ``params`` is given and measured trials share its values of
        ``SPEED_PARAMS`` (the activation, the batch size), their throughput is used. A GELU
        network of the start network's FLOPs took 2.1x its time on 2 CPU cores.
        """
        measured = [r for r in records if _measured(r) and r.flops]
        alike = [r for r in measured if params is not None and _speed_key(r.params) == _speed_key(params)]
        rates = [per_epoch(r) / r.flops for r in (alike or measured) if r.flops]
        if not rates or not flops:
            return None
        return float(statistics.median(rates)) * flops

    def admit(
        self,
        flops: int | None,
        max_epochs: int,
        records: Sequence[TrialRecord],
        metric: str = "val_accuracy",
        direction: str = "maximize",
        params: dict[str, Any] | None = None,
    ) -> Admission:
        """How many epochs a candidate (of ``params``, when known) may train, or why it is skipped."""
        left = self.search_time_left(records, metric, direction)
        estimate = self.seconds_per_epoch(flops, records, params)
        if left is None:
            return Admission(max_epochs, seconds_per_epoch=estimate)
        if left <= 0:
            return Admission(0, "the time budget is spent", estimate)
        if estimate is None:  # nothing measured yet: the first trials set the rate
            return Admission(max_epochs, seconds_per_epoch=estimate)
        fits, useful = int(MAX_SHARE * left // estimate), useful_epochs(max_epochs)
        if fits < useful:
            return Admission(
                0,
                f"skipped for cost: ~{estimate:.0f} s per epoch, and {useful} epochs would "
                f"take more than {MAX_SHARE:.0%} of the {left:.0f} s of search time left",
                estimate,
            )
        return Admission(min(max_epochs, fits), seconds_per_epoch=estimate)

    def over(self, records: Sequence[TrialRecord], metric: str = "val_accuracy", direction: str = "maximize") -> bool:
        """True once the search's share of the time is spent, or too little of it is left for even
        the fastest trial measured so far to train ``useful_epochs``: no new trial starts."""
        left = self.search_time_left(records, metric, direction)
        if left is None:
            return False
        fastest = min((per_epoch(r) for r in records if _measured(r)), default=0.0)
        useful = MIN_USEFUL_EPOCHS if self.max_epochs is None else useful_epochs(self.max_epochs)
        return left <= 0 or MAX_SHARE * left < useful * fastest


def useful_epochs(max_epochs: int) -> int:
    """The fewest epochs worth starting a trial for, of the ``max_epochs`` it asks for."""
    return min(max_epochs, max(MIN_USEFUL_EPOCHS, math.ceil(USEFUL_SHARE * max_epochs)))


def per_epoch(record: TrialRecord) -> float:
    """A trial's measured seconds per epoch (its building and compiling included)."""
    return record.seconds / max(1, record.epochs)


def best_epoch(record: TrialRecord, metric: str = "val_accuracy", direction: str = "maximize") -> int:
    """The epoch (1-based) early stopping kept: the best value of ``metric`` in the history."""
    values = [v for v in record.history.get(metric, []) if v is not None]
    if not values:
        return max(1, record.epochs)
    pick = max if direction == "maximize" else min
    return values.index(pick(values)) + 1


#: Parameters (by the end of their name) whose values change the time per FLOP: elementwise
#: activations are not counted in FLOPs, and small batches run the same FLOPs more slowly.
SPEED_PARAMS = ("activation", "batch_size")


def _speed_key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in params.items() if k.rsplit(".", 1)[-1] in SPEED_PARAMS))


def _measured(record: TrialRecord) -> bool:
    return (
        record.state in (TrialState.COMPLETE, TrialState.PRUNED)
        and record.epochs > 0
        and bool(record.flops)
        and record.seconds > 0
    )
