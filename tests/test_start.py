"""Start configurations: a space's ``start:`` list, validated, tried first, never lost.

Optuna runs them as enqueued trials before its sampler draws; a start trial that does not
count (Ctrl-C, a killed process) goes back to the queue, so a resumed search still tries it.
"""

from __future__ import annotations

import dataclasses
import logging
import textwrap
from pathlib import Path

import pytest

import autodl
from autodl.exceptions import SpaceError
from autodl.records import SearchSettings
from autodl.search import run_search
from autodl.search.search import SearchInterrupted
from autodl.space import load_space, parse_space, space_from_dict
from autodl.space.compare import searched

SEED = 3
MLP = textwrap.dedent("""\
    name: mlp-start
    normalization: {type: choice, values: [none, batch]}
    dense:
      layers: {type: int, min: 1, max: 3}
      units: {type: int, min: 64, max: 512, step: 64}
      dropout: {type: float, min: 0.0, max: 0.5, step: 0.05}
    optimizer:
      adam: {learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}}
      sgd: {learning_rate: {type: float, min: 1.0e-3, max: 1.0e-1, log: true}, nesterov: {type: bool}}
    training: {batch_size: {type: choice, values: [32, 64]}, max_epochs: 2, patience: 0}
    """)
FULL = {
    "normalization": "batch",
    "dense.layers": 2,
    "dense.0.units": 192,
    "dense.0.dropout": 0.1,
    "dense.1.units": 64,
    "dense.1.dropout": 0.0,
    "optimizer.name": "sgd",
    "optimizer.sgd.learning_rate": 0.05,
    "optimizer.sgd.nesterov": True,
    "training.batch_size": 32,
}
PARTIAL = {"dense.layers": 1, "optimizer.name": "adam"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AUTODL_OFFLINE", "1")


def space_file(folder: Path, start: str) -> Path:
    path = folder / "mlp-start.yaml"
    path.write_text(MLP + start, encoding="utf-8")
    return path


def start_yaml(*configs: dict) -> str:
    import yaml

    return yaml.safe_dump({"start": list(configs)}, sort_keys=False)


def settings(tmp_path: Path, name: str, space: Path, **overrides) -> SearchSettings:
    base = SearchSettings(
        dataset="digits", space=str(space), trials=3, subset=300, seed=SEED, out=str(tmp_path), name=name, pruner="none"
    )
    return dataclasses.replace(base, **overrides)


def error_of(start: str) -> str:
    with pytest.raises(SpaceError) as info:
        parse_space(MLP + textwrap.dedent(start), source="my.yaml")
    return str(info.value)


# ---------------------------------------------------------------------------- the file
def test_start_values_are_checked_and_normalised():
    space = parse_space(
        MLP + "start:\n  - {dense.layers: 2.0, dense.0.dropout: 0.1, optimizer.sgd.nesterov: true}\n"
        "  - {training.batch_size: 64}\n"
    )
    assert space.start == [
        {"dense.layers": 2, "dense.0.dropout": 0.1, "optimizer.sgd.nesterov": True},
        {"training.batch_size": 64},
    ]
    assert type(space.start[0]["dense.layers"]) is int
    again = space_from_dict(space.to_dict())
    assert again == space and again.start == space.start
    without = parse_space(MLP)
    assert "start" not in without.to_dict()
    assert searched(space) == searched(without), "start points are not part of what a run searches"


@pytest.mark.parametrize(
    "start, path, words",
    [
        ("start: {dense.layers: 2}\n", "start", "expected a list of configurations"),
        ("start:\n  - {}\n", "start.0", "expected a mapping"),
        ("start:\n  - dense.layers\n", "start.0", "expected a mapping"),
        ("start:\n  - {dense.layer: 2}\n", "start.0.dense.layer", "did you mean 'dense.layers'"),
        ("start:\n  - {training.max_epochs: 3}\n", "start.0.training.max_epochs", "not a searched parameter"),
        ("start:\n  - {dense.layers: 4}\n", "start.0.dense.layers", "an integer in [1, 3], got 4"),
        ("start:\n  - {dense.layers: 1.5}\n", "start.0.dense.layers", "an integer in [1, 3]"),
        ("start:\n  - {dense.0.units: 100}\n", "start.0.dense.0.units", "in steps of 64 from 64"),
        ("start:\n  - {dense.0.dropout: 0.12}\n", "start.0.dense.0.dropout", "in steps of 0.05"),
        ("start:\n  - {optimizer.name: rmsprop}\n", "start.0.optimizer.name", "one of adam, sgd"),
        ("start:\n  - {optimizer.sgd.nesterov: 1}\n", "start.0.optimizer.sgd.nesterov", "one of false, true, got 1"),
        ("start:\n  - {training.batch_size: true}\n", "start.0.training.batch_size", "one of 32, 64, got true"),
        (
            "start:\n  - {optimizer.adam.learning_rate: 1.0}\n",
            "start.0.optimizer.adam.learning_rate",
            "a number in [0.0001, 0.01]",
        ),
        ("start:\n  - {dense.layers: 2}\n  - {dense.layers: 2.0}\n", "start.1", "repeats an earlier configuration"),
    ],
)
def test_bad_start_names_the_entry_key_and_fix(start, path, words):
    message = error_of(start)
    assert message.startswith(f"my.yaml: {path}: "), message
    assert words in message, message


def test_bundled_cnn_starts_from_a_known_good_network():
    space = load_space("cnn")
    assert len(space.start) >= 1
    domains = space.domains()
    for config in space.start:
        assert set(config) == {n for n in domains if not _inactive(n, config)}, (
            "the bundled start points fix every parameter their network uses"
        )


def _inactive(name: str, config: dict) -> bool:
    """Parameters of dense layers or optimizers the configuration does not have."""
    parts = name.split(".")
    if parts[0] == "dense" and parts[1].isdigit():
        return int(parts[1]) >= config["dense.layers"]
    return parts[0] == "optimizer" and parts[1] != "name" and parts[1] != config["optimizer.name"]


# ---------------------------------------------------------------------------- the search
def test_optuna_tries_start_configurations_first(tmp_path):
    space = space_file(tmp_path, start_yaml(FULL, PARTIAL))
    search = run_search(settings(tmp_path, "s", space, trials=4))
    params = [r.params for r in search.records]
    assert params[0] == FULL
    assert {k: params[1][k] for k in PARTIAL} == PARTIAL
    assert "optimizer.adam.learning_rate" in params[1], "what a start point leaves out is sampled"
    assert params[2] not in (params[0], params[1])
    assert [r.start for r in search.records] == [0, 1, None, None]

    import pandas as pd

    run = tmp_path / "s"
    csv = pd.read_csv(run / "trials.csv")
    assert csv["start"].tolist()[:2] == [0, 1] and csv["start"].isna().tolist() == [False, False, True, True]
    html = (run / "report.html").read_text(encoding="utf-8")
    assert html.count('class="badge origin-start"') == 2 and ">start 1</span>" in html

    bare = tmp_path / "bare"
    bare.mkdir()
    plain = run_search(settings(tmp_path, "p", space_file(bare, ""), trials=1))
    assert plain.records[0].params != FULL, "without start points the same seed samples"


def test_an_interrupted_start_trial_runs_again_on_resume(tmp_path, monkeypatch):
    import autodl.training as training

    space = space_file(tmp_path, start_yaml(FULL))
    reference = [r.params for r in run_search(settings(tmp_path, "ref", space)).records]
    assert reference[0] == FULL

    fit, calls = training.fit_model, []

    def stop_in_the_first_trial(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return fit(*args, **kwargs)

    monkeypatch.setattr(training, "fit_model", stop_in_the_first_trial)
    with pytest.raises(SearchInterrupted):
        run_search(settings(tmp_path, "cut", space))
    run = tmp_path / "cut"
    assert [r.state.value for r in autodl.load(run).records] == ["interrupted"]
    resumed = autodl.load(run).resume()
    counted = [r for r in resumed.records if r.state.value != "interrupted"]
    assert [r.params for r in counted] == reference, "the start point re-ran first, then the same draws"
    assert [r.number for r in counted] == [1, 2, 3]


def test_a_start_trial_left_running_by_a_killed_process_is_queued_again(tmp_path):
    import optuna

    from autodl.backends.optuna import OptunaBackend
    from autodl.runs import RunStore

    space = load_space(space_file(tmp_path, start_yaml(FULL)))
    store = RunStore.create(tmp_path, "killed")
    opts = settings(tmp_path, "killed", Path(space.source))
    backend = OptunaBackend(opts, space, store)
    trial = backend.study.ask()  # what a process killed mid-trial leaves: a RUNNING start trial
    assert trial.params == {} and trial.user_attrs["autodl_start"] == 0
    state = backend.state()
    backend.close()

    again = OptunaBackend(opts, space, store, state=state)
    assert again.recover([]) == [trial.number]
    waiting = again.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    assert [t.user_attrs["autodl_start"] for t in waiting] == [0]
    again.close()


def test_a_dead_workers_start_trial_is_queued_again_once_by_the_heartbeat(tmp_path, monkeypatch):
    """Shared storage: the worker that fails a stale start trial queues its configuration again."""
    import time

    import optuna

    from autodl.backends import optuna_storage
    from autodl.backends.optuna import OptunaBackend
    from autodl.runs import RunStore

    monkeypatch.setattr(optuna_storage, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(optuna_storage, "GRACE_SECONDS", 1)
    space = load_space(space_file(tmp_path, start_yaml(FULL, PARTIAL)))
    opts = settings(tmp_path, "shared", Path(space.source), storage=f"sqlite:///{tmp_path / 'shared.db'}")
    dead = OptunaBackend(opts, space, RunStore.create(tmp_path, "a"))
    trial = dead.study.ask()  # the first start configuration, then the worker is killed
    dead.study._storage.record_heartbeat(trial._trial_id)
    assert trial.user_attrs["autodl_start"] == 0
    time.sleep(2.5)  # past the grace period

    workers = [OptunaBackend(opts, space, RunStore.create(tmp_path, name)) for name in ("b", "c")]
    for worker in workers:  # every worker looks before it asks; one of them fails the trial
        optuna_storage.fail_stale(worker.study)
    trials = workers[0].study.get_trials(deepcopy=False)
    assert trials[trial.number].state == optuna.trial.TrialState.FAIL
    waiting = [t.user_attrs["autodl_start"] for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert waiting == [1, 0], "queued again once, behind the start configuration not yet run"
    assert workers[1].study.ask().params == {}  # a fresh ask takes the queue, so it runs start 1
    again = [
        t
        for t in workers[0].study.get_trials(deepcopy=False)
        if t.user_attrs.get("autodl_start") == 0 and t.state == optuna.trial.TrialState.WAITING
    ]
    assert len(again) == 1
    for backend in (dead, *workers):
        backend.close()


def test_keras_tuner_says_it_does_not_use_start_points(tmp_path, caplog):
    space = space_file(tmp_path, start_yaml(FULL))
    with caplog.at_level(logging.WARNING):
        search = run_search(settings(tmp_path, "kt", space, backend="kerastuner", tuner="random", trials=1))
    assert len(search.records) == 1
    assert any(
        "start configurations are tried first by --backend optuna only" in r.getMessage() for r in caplog.records
    )


# ---------------------------------------------------------------------------- the pruner's bar
@pytest.mark.parametrize("warmup, stopped", [(None, 2), (0, 1), (2, 3), (3, None)])
def test_the_pruner_judges_a_trial_only_against_four_peers_at_the_same_epoch(tmp_path, warmup, stopped):
    """A bad trial with two peers goes on (two start networks made a noisy bar that killed
    80% of new trials); once four trials reported an epoch, a worse one stops after its 2nd
    epoch, or after the space's training.pruning_warmup (0: its 1st; 3: never, in 3 epochs)."""
    from autodl.backends.optuna import OptunaBackend
    from autodl.exceptions import TrialPruned
    from autodl.records import TrialRecord, TrialState
    from autodl.runs import RunStore

    path = space_file(tmp_path, "")
    if warmup is not None:
        path.write_text(MLP.replace("patience: 0}", f"patience: 0, pruning_warmup: {warmup}}}"), encoding="utf-8")
    space = load_space(path)
    assert space.pruning_warmup == (1 if warmup is None else warmup)
    store = RunStore.create(tmp_path, "bar")
    backend = OptunaBackend(settings(tmp_path, "bar", Path(space.source), pruner="median"), space, store)
    curves = [
        [0.5, 0.8, 0.9],
        [0.5, 0.7, 0.8],
        [0.1, 0.2, 0.3],
        [0.6, 0.8, 0.9],
        [0.5, 0.78, 0.88],
        [0.1, 0.2, 0.3],
        [0.1, 0.2, 0.3],
    ]
    stopped_after = []

    def run_trial(ctx):
        space.sample(ctx.suggester)
        curve = curves[ctx.number]
        for epoch, value in enumerate(curve):
            try:
                for report in ctx.reporters:
                    report(epoch, {"val_accuracy": value})
            except TrialPruned:
                stopped_after.append((ctx.number, epoch + 1))
                return TrialRecord(ctx.number, TrialState.PRUNED, dict(ctx.suggester.params), epochs=epoch + 1)
        return TrialRecord(
            ctx.number, TrialState.COMPLETE, dict(ctx.suggester.params), value=max(curve), epochs=len(curve)
        )

    backend.optimize(run_trial, n_trials=7)
    backend.close()
    assert stopped_after == ([(5, stopped), (6, stopped)] if stopped else []), "judged once four peers reported"
