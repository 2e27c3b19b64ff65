"""A long search continues in a fresh process once its memory grew (autodl.search.recycle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest

from autodl.records import SearchSettings, TrialRecord, TrialState
from autodl.search._budget import Planner
from autodl.search.recycle import BASE_ENV, MIN_TRIALS_ENV, MemoryGuard, Recycle


def _search(trials: int, done: int, *, elapsed: float = 100.0, ran: float = 100.0, **settings):
    """A search ``elapsed`` seconds old in all, ``ran`` of them in this process."""
    records = [TrialRecord(i, TrialState.COMPLETE, {}, value=0.5) for i in range(done)]
    timeout = settings.get("timeout")
    return types.SimpleNamespace(
        settings=SearchSettings(trials=trials, **settings),
        records=records,
        finished=records,
        path="reports/r",
        elapsed=elapsed,
        planner=Planner(timeout, started=-ran, clock=lambda: 0.0),
    )


def test_the_guard_stops_after_a_trial_once_memory_grew_past_the_limit(monkeypatch):
    monkeypatch.delenv(BASE_ENV, raising=False)
    monkeypatch.delenv(MIN_TRIALS_ENV, raising=False)
    readings = iter([900, 950, 990, 1000, 1000] + [1050] * 6 + [1090])
    guard = MemoryGuard(measure=lambda: next(readings))
    search = _search(trials=50, done=0)
    guard.on_search_start(search)
    for number in range(11):  # the base is read after trial 5; +5% stays under the 8% limit
        search.records.append(TrialRecord(number, TrialState.COMPLETE, {}, value=0.5))
        guard.on_trial_end(search.records[-1])
    assert guard.base == 1000 and not guard.triggered
    search.records.append(TrialRecord(11, TrialState.COMPLETE, {}, value=0.5))
    with pytest.raises(Recycle):  # +9%: stop here, committed; a fresh process goes on
        guard.on_trial_end(search.records[-1])
    assert isinstance(Recycle(), KeyboardInterrupt), "the search stops as for a Ctrl-C between trials"
    assert guard.command(quiet=True) == ["resume", "reports/r", "--quiet"]
    assert "9% above its 1000 MiB after trial 5" in guard.note()


def test_the_guard_leaves_the_last_trial_workers_and_keras_tuner_alone(monkeypatch):
    monkeypatch.setenv(BASE_ENV, "100")
    monkeypatch.setenv(MIN_TRIALS_ENV, "1")
    for search in (
        _search(trials=3, done=3),
        _search(trials=9, done=2, storage="journal:///x"),
        _search(trials=9, done=2, backend="kerastuner"),
    ):
        guard = MemoryGuard(measure=lambda: 1000.0)
        guard.on_search_start(search)
        guard.on_trial_end(search.records[-1])  # no Recycle raised
    guard = MemoryGuard(measure=lambda: 1000.0)
    guard.on_search_start(_search(trials=9, done=2, timeout=600.0))
    with pytest.raises(Recycle):
        guard.on_trial_end(TrialRecord(1, TrialState.COMPLETE, {}, value=0.5))
    assert guard.command(quiet=False) == ["resume", "reports/r", "--timeout", "500.0"]  # what is left of it
    # Recycled again: this process resumed with 500 s and ran 200 of them; 300 s in all went before.
    guard = MemoryGuard(measure=lambda: 1000.0)
    guard.on_search_start(_search(trials=9, done=2, timeout=500.0, elapsed=300.0, ran=200.0))
    with pytest.raises(Recycle):
        guard.on_trial_end(TrialRecord(1, TrialState.COMPLETE, {}, value=0.5))
    assert guard.command(quiet=False) == ["resume", "reports/r", "--timeout", "300.0"]


@pytest.mark.slow
def test_a_recycled_search_finishes_with_exact_counts(tmp_path):
    """Every trial's end exceeds a 1 MiB base: the search goes on in a fresh process after each
    of the first three of 4 trials, and ends as one uninterrupted search would."""
    env = {
        **os.environ,
        "AUTODL_CONFIG_DIR": str(tmp_path / "config"),
        "AUTODL_OFFLINE": "1",
        BASE_ENV: "1",
        MIN_TRIALS_ENV: "1",
        "PYTHONUNBUFFERED": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--space",
            "mlp",
            "--trials",
            "4",
            "--epochs",
            "1",
            "--subset",
            "300",
            "--pruner",
            "none",
            "--name",
            "r",
            "--out",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert output.count("the search goes on in a fresh process") == 3 and "Traceback" not in output
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["status"] == "finished" and sum(info["counts"][k] for k in ("complete", "pruned", "failed")) == 4
    trials = json.loads((tmp_path / "r" / "trials.json").read_text())["trials"]
    assert sorted(t["number"] for t in trials if t["state"] != "interrupted") == [0, 1, 2, 3]
    assert "best model on the test split" in done.stdout
