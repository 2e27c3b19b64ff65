"""The Keras Tuner backend: trial budget, failures, interruption, resume, silence, end to end.

Backend tests use a fake runner (it samples the space and builds nothing); the end-to-end
tests run the real search on a small slice of digits.
"""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

keras_tuner = pytest.importorskip("keras_tuner")

from autodl.backends import get_backend  # noqa: E402
from autodl.backends.kerastuner import INTERRUPTED_MESSAGE, KerasTunerBackend, KerasTunerSuggester  # noqa: E402
from autodl.exceptions import RunError, UsageError  # noqa: E402
from autodl.records import SearchSettings, TrialRecord, TrialState  # noqa: E402
from autodl.runs import RunStore  # noqa: E402
from autodl.space import FixedSuggester, load_space, space_from_dict  # noqa: E402

TUNERS = ["random", "bayesian", "hyperband"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AUTODL_OFFLINE", "1")


class FakeRunner:
    """Samples the space like the search does; returns a record from ``outcome(number)``."""

    def __init__(self, space: Any, outcome: Any = None) -> None:
        self.space = space
        self.outcome = outcome or (lambda number: ("complete", 0.5 + number / 100))
        self.calls: list[tuple[int, int | None, dict[str, Any], dict[str, Any]]] = []

    def __call__(self, ctx: Any) -> TrialRecord:
        arch = self.space.sample(ctx.suggester)
        self.calls.append((ctx.number, ctx.max_epochs, dict(ctx.suggester.params), arch))
        result = self.outcome(ctx.number)
        if isinstance(result, BaseException):
            raise result
        state, value = result
        return TrialRecord(
            ctx.number,
            TrialState(state),
            dict(ctx.suggester.params),
            value=value,
            error=None if state == "complete" else f"{state} on purpose",
        )

    @property
    def numbers(self) -> list[int]:
        return [call[0] for call in self.calls]


def make_backend(
    tmp_path: Path, tuner: str = "random", space: Any = None, state: Any = None, **settings: Any
) -> KerasTunerBackend:
    store = RunStore(tmp_path / "run")
    store.root.mkdir(parents=True, exist_ok=True)
    settings = SearchSettings(backend="kerastuner", tuner=tuner, **settings)
    return KerasTunerBackend(settings, space or load_space("cnn"), store, state)


def optimize(backend: KerasTunerBackend, runner: Any, n_trials: int, timeout: float | None = None) -> None:
    """``timeout`` seconds from now, as the search's planner would say the budget is spent."""
    deadline = None if timeout is None else time.monotonic() + timeout
    backend.optimize(
        runner, n_trials=n_trials, budget_spent=lambda: deadline is not None and time.monotonic() >= deadline
    )


def kt_trials(backend: KerasTunerBackend) -> dict[int, Any]:
    return {int(t.trial_id): t for t in backend.oracle.trials.values()}


# ---------------------------------------------------------------------------- backend
def test_get_backend_finds_it():
    assert get_backend("kerastuner") is KerasTunerBackend


@pytest.mark.parametrize("tuner", TUNERS)
def test_runs_exactly_the_requested_trials(tmp_path, tuner):
    space = load_space("cnn")
    backend = make_backend(tmp_path, tuner, space, epochs=2)
    runner = FakeRunner(space)
    optimize(backend, runner, 5)

    assert runner.numbers == [0, 1, 2, 3, 4]
    assert backend.finished_count() == 5
    assert {t.status for t in kt_trials(backend).values()} == {"COMPLETED"}
    for _, max_epochs, params, arch in runner.calls:
        assert max_epochs == (2 if tuner == "hyperband" else None)
        assert space.sample(FixedSuggester(params)) == arch, "recorded params rebuild the trial"
    project = backend.store.kerastuner_dir
    assert {"oracle.json", "tuner0.json", "trial_0"} <= {p.name for p in project.iterdir()}
    saved = {p.suffix for p in project.rglob("*") if p.is_file()}
    assert saved <= {".json"}, "KT writes no checkpoints or TensorBoard logs"
    assert backend.state() == {"tuner": tuner}


def test_the_seed_makes_the_proposals_repeatable(tmp_path):
    space = load_space("cnn")
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        runner = FakeRunner(space)
        optimize(make_backend(tmp_path / name, "random", space, seed=seed), runner, 3)
        runs[name] = [call[2] for call in runner.calls]
    assert runs["a"] == runs["b"] != runs["c"]


def test_hyperband_runs_its_rounds_within_the_trial_budget(tmp_path):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "hyperband", space, epochs=9)
    runner = FakeRunner(space)  # later trials score higher
    optimize(backend, runner, 10)

    # max_epochs 9, factor 3: 9 one-epoch trials, then the best is retrained for 3 epochs.
    assert runner.numbers == list(range(10))
    assert collections.Counter(call[1] for call in runner.calls) == {1: 9, 3: 1}
    assert runner.calls[9][2] == runner.calls[8][2], "the round retrains the best trial's values"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bayesian_fits_its_model_after_the_random_start(tmp_path):
    space = space_from_dict(
        {
            "name": "tiny",
            "dense": {"layers": 1, "units": {"type": "int", "min": 8, "max": 64, "step": 8}},
            "optimizer": {"adam": {"learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "log": True}}},
        }
    )
    backend = make_backend(tmp_path, "bayesian", space)
    runner = FakeRunner(space, lambda n: ("complete", 0.5))
    optimize(backend, runner, 8)  # 2 parameters: 6 random trials, then the Gaussian process

    assert runner.numbers == list(range(8))
    assert all(64 >= params["dense.0.units"] >= 8 for _, _, params, _ in runner.calls)


def test_failed_and_pruned_trials_are_recorded_and_the_search_goes_on(tmp_path):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "random", space)
    outcomes = ["failed"] * 5 + ["pruned", "complete"]
    runner = FakeRunner(space, lambda n: (outcomes[n], 0.9 if outcomes[n] == "complete" else None))
    optimize(backend, runner, 7)  # five failures in a row: KT's default limit is three

    assert runner.numbers == list(range(7))
    trials = kt_trials(backend)
    assert [trials[n].status for n in range(7)] == ["FAILED"] * 6 + ["COMPLETED"]
    assert trials[0].message == "failed on purpose"
    assert backend.finished_count() == 7
    assert backend.finished_record(0).state == TrialState.FAILED


@pytest.mark.parametrize("tuner", TUNERS)
def test_resume_reloads_the_project_and_runs_only_the_missing_trials(tmp_path, tuner):
    space = load_space("cnn")
    first = FakeRunner(space)
    backend = make_backend(tmp_path, tuner, space, epochs=2)
    optimize(backend, first, 2)

    again = make_backend(tmp_path, tuner, space, state=backend.state(), epochs=2)
    assert again.recover([]) == [] and again.finished_count() == 2
    second = FakeRunner(space)
    optimize(again, second, 3)

    assert first.numbers == [0, 1] and second.numbers == [2]
    assert again.finished_count() == 3
    optimize(again, FakeRunner(space), 3)
    assert again.finished_count() == 3, "a met budget runs nothing"


def test_ctrl_c_propagates_and_the_trial_is_not_counted(tmp_path):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "random", space)
    runner = FakeRunner(space, lambda n: KeyboardInterrupt() if n == 1 else ("complete", 0.5))
    with pytest.raises(KeyboardInterrupt):
        optimize(backend, runner, 3)
    assert backend.finished_count() == 1
    assert kt_trials(backend)[1].message == INTERRUPTED_MESSAGE

    again = make_backend(tmp_path, "random", space, state=backend.state())
    resumed = FakeRunner(space)
    optimize(again, resumed, 3)
    assert resumed.numbers == [2, 3], "the interrupted slot is run again under a new number"
    assert again.finished_count() == 3 and again.finished_record(1) is None


def test_interrupted_record_is_not_counted_either(tmp_path):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "random", space)
    runner = FakeRunner(space, lambda n: ("interrupted", None) if n == 0 else ("complete", 0.5))
    optimize(backend, runner, 2)
    assert runner.numbers == [0, 1, 2] and backend.finished_count() == 2


def test_a_killed_process_leaves_a_running_trial_that_recover_settles(tmp_path, monkeypatch):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "random", space)
    monkeypatch.setattr(backend, "_settle_running", lambda: [])  # as if the process died mid-trial
    with pytest.raises(SystemExit):
        optimize(backend, FakeRunner(space, lambda n: SystemExit() if n == 1 else ("complete", 0.5)), 3)

    again = make_backend(tmp_path, "random", space, state=backend.state())
    assert kt_trials(again)[1].status == "RUNNING"
    assert again.recover([]) == [1]
    assert again.finished_record(1) is None and again.finished_record(0).state == TrialState.COMPLETE
    resumed = FakeRunner(space)
    optimize(again, resumed, 3)
    assert resumed.numbers == [2, 3]


def test_finish_tells_kt_before_the_run_folder_commits(tmp_path):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "random", space)

    def runner(ctx: Any) -> TrialRecord:
        space.sample(ctx.suggester)
        record = TrialRecord(ctx.number, TrialState.COMPLETE, dict(ctx.suggester.params), value=0.75, epochs=3)
        ctx.finish(record)
        raise KeyboardInterrupt  # the process dies before the run folder is written

    with pytest.raises(KeyboardInterrupt):
        optimize(backend, runner, 2)
    again = make_backend(tmp_path, "random", space, state=backend.state())
    assert again.recover([]) == [] and again.finished_count() == 1
    adopted = again.finished_record(0)
    assert adopted.value == 0.75 and adopted.epochs == 3 and adopted.state == TrialState.COMPLETE


def test_the_timeout_is_checked_between_trials_and_a_stop_ends_the_loop(tmp_path):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "random", space)
    runner = FakeRunner(space, lambda n: KeyboardInterrupt() if n == 2 else ("complete", 0.5))
    optimize(backend, runner, 5, timeout=0.0)
    assert runner.numbers == []
    with pytest.raises(KeyboardInterrupt):  # a Ctrl-C reaches the backend out of the runner
        optimize(backend, runner, 5)
    assert runner.numbers == [0, 1, 2]


def test_keras_tuner_prints_nothing(tmp_path, capfd):
    space = load_space("mlp")
    backend = make_backend(tmp_path, "hyperband", space, epochs=2)

    def runner(ctx: Any) -> TrialRecord:
        print(f"trial {ctx.number} speaking")  # the caller's output still goes through
        return TrialRecord(
            ctx.number,
            TrialState.FAILED if ctx.number else TrialState.COMPLETE,
            dict(ctx.suggester.params),
            value=0.5,
            error="no",
        )

    optimize(backend, runner, 2)
    optimize(make_backend(tmp_path, "hyperband", space, state=backend.state(), epochs=2), runner, 3)
    out, err = capfd.readouterr()
    assert out.splitlines() == ["trial 0 speaking", "trial 1 speaking", "trial 2 speaking"]
    assert "Reloading" not in err and "Traceback" not in err


def test_bad_tuner_or_a_changed_tuner_is_refused(tmp_path):
    with pytest.raises(UsageError, match="unknown tuner 'grid'"):
        make_backend(tmp_path, "grid")
    with pytest.raises(UsageError, match="--storage"):
        make_backend(tmp_path, "random", storage="sqlite:///x.db")
    with pytest.raises(RunError, match="--tuner random"):
        make_backend(tmp_path, "hyperband", state={"tuner": "random"})


def test_choices_kt_cannot_hold_as_they_are_go_through_an_index():
    hp = keras_tuner.HyperParameters()
    suggester = KerasTunerSuggester(hp)
    assert suggester.suggest_choice("mixed", [1, 1.5, "x"]) == 1
    assert suggester.suggest_choice("flags", [True, False]) is True
    hp.values.update({"mixed": 2, "flags": 1})
    again = KerasTunerSuggester(hp)
    assert again.suggest_choice("mixed", [1, 1.5, "x"]) == "x"
    assert again.suggest_choice("flags", [True, False]) is False
    assert again.params == {"mixed": "x", "flags": False}


# ---------------------------------------------------------------------------- end to end
def check_run(run: Path, trials: int) -> None:
    import keras

    frame = pd.read_csv(run / "trials.csv")
    assert list(frame["number"]) == list(range(trials))
    assert set(frame["state"]) <= {"complete", "pruned", "failed"} and "complete" in set(frame["state"])
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["settings"]["backend"] == "kerastuner"
    project = run / "kerastuner"
    assert (project / "oracle.json").is_file()
    assert {f"trial_{n}" for n in range(trials)} <= {p.name for p in project.iterdir()}
    models = sorted((run / "models").glob("trial_*.keras"))
    assert 1 <= len(models) <= 3
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    for path in models:
        assert keras.saving.load_model(path).predict(x, verbose=0).shape == (4, 10)


def small_search(tmp_path: Path, tuner: str, **overrides: Any) -> SearchSettings:
    fields = dict(
        dataset="digits",
        space="cnn",
        backend="kerastuner",
        tuner=tuner,
        trials=2,
        epochs=2,
        subset=300,
        out=str(tmp_path),
        name="kt",
    )
    return SearchSettings(**{**fields, **overrides})


@pytest.mark.parametrize("tuner", TUNERS)
def test_search_digits_with_each_tuner(tmp_path, tuner):
    from autodl.search import run_search

    search = run_search(small_search(tmp_path, tuner))
    check_run(search.path, 2)


def test_search_then_resume_to_more_trials(tmp_path):
    from autodl.search import resume_search, run_search

    first = run_search(small_search(tmp_path, "random", space="mlp"))
    check_run(first.path, 2)
    resumed = resume_search(first.path, trials=3)
    check_run(resumed.path, 3)
    oracle = json.loads((resumed.path / "kerastuner" / "oracle.json").read_text())
    assert len(oracle["end_order"]) == 3


def test_ctrl_c_in_a_real_search_then_resume(tmp_path):
    from autodl.search import SearchCallback, SearchInterrupted, resume_search, run_search

    class CtrlC(SearchCallback):
        def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
            if number == 1:
                raise KeyboardInterrupt

    with pytest.raises(SearchInterrupted):
        run_search(small_search(tmp_path, "random", space="mlp"), callbacks=[CtrlC()])
    run = tmp_path / "kt"
    assert list(pd.read_csv(run / "trials.csv")["state"]) == ["complete", "interrupted"]

    resumed = resume_search(run)
    assert [(r.number, r.state.value) for r in resumed.records] == [
        (0, "complete"),
        (1, "interrupted"),
        (2, "complete"),
    ]
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_diverging_trials_fail_and_the_search_goes_on(tmp_path):
    from autodl.search import run_search

    space = tmp_path / "exploding.yaml"
    space.write_text(
        "name: exploding\ndense: {layers: 1, units: [32, 48]}\noptimizer:\n"
        "  sgd: {learning_rate: {type: choice, values: [1.0e+12, 0.05]}}\n"
        "training: {batch_size: 64, max_epochs: 2}\n"
    )
    search = run_search(small_search(tmp_path, "random", space=str(space), trials=4, subset=None))
    records = {r.number: r for r in search.records}
    assert sorted(records) == [0, 1, 2, 3]
    by_lr = {r.params["optimizer.sgd.learning_rate"] for r in records.values()}
    assert by_lr == {1e12, 0.05}, "the seed should draw both learning rates"
    for record in records.values():
        exploded = record.params["optimizer.sgd.learning_rate"] == 1e12
        assert record.state == (TrialState.FAILED if exploded else TrialState.COMPLETE)


def test_a_small_space_ends_the_search_when_kt_finds_no_new_point(tmp_path):
    space = space_from_dict({"name": "two", "dense": {"layers": 1, "units": [8, 16]}})
    backend = make_backend(tmp_path, "random", space)
    runner = FakeRunner(space)
    optimize(backend, runner, 5)
    assert runner.numbers == [0, 1]


def test_search_through_the_cli(tmp_path):
    from click.testing import CliRunner

    from autodl.cli.main import cli

    result = CliRunner().invoke(
        cli,
        [
            "search",
            "digits",
            "--backend",
            "kerastuner",
            "--tuner",
            "hyperband",
            "--trials",
            "2",
            "--epochs",
            "2",
            "--subset",
            "300",
            "--out",
            str(tmp_path),
            "--name",
            "cli",
            "--quiet",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    check_run(tmp_path / "cli", 2)
    assert "Reloading" not in result.output and "Search: Running Trial" not in result.output
