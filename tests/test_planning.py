"""The search's planning: the time budget (fake clock, fake costs), neighbours of good trials,
warm starts from other runs, the final training on train + validation, greedy ensembles and
the accounting of where the time went. No timed asserts: every clock here is a fake one.
"""

from __future__ import annotations

import dataclasses
import json
import random
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autodl.exceptions import UsageError
from autodl.records import SearchSettings, TrialRecord, TrialState
from autodl.search._accounting import accounting, phase
from autodl.search._budget import (
    END_SECONDS,
    MAX_SHARE,
    MEMBER_SECONDS,
    MIN_USEFUL_EPOCHS,
    REFIT_SHARE,
    REPORT_SECONDS,
    Planner,
    parse_duration,
    useful_epochs,
)
from autodl.search.evaluation import greedy_weights
from autodl.space import FixedSuggester, bundled_spaces, load_space
from autodl.space.neighbours import fitting, neighbour, recipe_names


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AUTODL_OFFLINE", "1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trial(
    number: int,
    *,
    value: float | None = 0.9,
    epochs: int = 10,
    seconds: float = 100.0,
    flops: int | None = 1_000_000,
    state: TrialState = TrialState.COMPLETE,
    history: list[float] | None = None,
    params: dict | None = None,
    **fields,
) -> TrialRecord:
    curve = history if history is not None else [0.5] * (epochs - 1) + [value or 0.5]
    return TrialRecord(
        number,
        state,
        params or {},
        value=value,
        epochs=epochs,
        seconds=seconds,
        flops=flops,
        history={"val_accuracy": curve},
        **fields,
    )


# ---------------------------------------------------------------------------- the budget
def test_without_a_timeout_every_trial_gets_its_epochs_and_nothing_is_skipped():
    planner = Planner(None, clock=Clock())
    admitted = planner.admit(10**12, 15, [trial(0)])
    assert (admitted.epochs, admitted.skip) == (15, None) and not planner.over([trial(0)])


def test_the_first_trials_train_in_full_and_set_the_rate():
    clock = Clock()
    planner = Planner(900, clock=clock)
    assert planner.admit(10**9, 15, []).epochs == 15, "nothing measured yet: no estimate, no cut"
    measured = [trial(0, flops=1_000_000, seconds=100.0, epochs=10)]  # 10 s per epoch
    assert planner.seconds_per_epoch(3_000_000, measured) == pytest.approx(30.0)


def test_the_rate_comes_from_measured_trials_with_the_same_activation_and_batch_size():
    """FLOPs miss elementwise activations: a measured GELU network of the start network's FLOPs
    took 2.1x its time, so a GELU candidate is priced by the GELU trials measured."""
    planner = Planner(900, clock=Clock())
    relu = {"conv_blocks.activation": "relu", "training.batch_size": 64, "dense.0.units": 128}
    gelu = {**relu, "conv_blocks.activation": "gelu"}
    measured = [
        trial(0, flops=1_000_000, seconds=100.0, epochs=10, params=relu),  # 10 s per epoch
        trial(1, flops=1_000_000, seconds=210.0, epochs=10, params=gelu),  # 21 s per epoch
        trial(2, flops=1_000_000, seconds=120.0, epochs=10, params={**relu, "dense.0.units": 64}),  # 12 s
    ]
    assert planner.seconds_per_epoch(2_000_000, measured, {**gelu, "dense.0.units": 256}) == pytest.approx(42.0)
    assert planner.seconds_per_epoch(2_000_000, measured, relu) == pytest.approx(22.0), "median of 10 and 12 s"
    swish = {**relu, "conv_blocks.activation": "swish"}
    assert planner.seconds_per_epoch(1_000_000, measured, swish) == pytest.approx(12.0), "none alike: all of them"
    assert planner.seconds_per_epoch(1_000_000, measured) == pytest.approx(12.0)
    small_batch = {**relu, "training.batch_size": 32}
    admitted = planner.admit(
        1_000_000, 15, [*measured, trial(3, seconds=300.0, epochs=10, params=small_batch)], params=small_batch
    )
    assert admitted.seconds_per_epoch == pytest.approx(30.0)


def test_a_candidate_too_slow_for_the_time_left_is_skipped_and_one_that_fits_gets_the_epochs_that_fit():
    clock = Clock()
    planner = Planner(900, refit=False, clock=clock)
    measured = [trial(0, flops=1_000_000, seconds=100.0, epochs=10)]  # 10 s per epoch
    clock.now += 500  # 400 s left, minus the end's reserve
    left = 400 - END_SECONDS
    same = planner.admit(1_000_000, 30, measured)
    assert same.skip is None and same.epochs == int(MAX_SHARE * left // 10)
    assert planner.admit(1_000_000, 5, measured).epochs == 5, "never more than the trial asks for"
    slow = planner.admit(20_000_000, 15, measured)  # 200 s per epoch: 3 epochs would take 600 s
    assert slow.epochs == 0 and slow.skip.startswith("skipped for cost") and "200 s per epoch" in slow.skip
    assert MIN_USEFUL_EPOCHS * 200 > MAX_SHARE * left
    # 19 epochs of 10 s fit: a trial that asks for 40 would get under half of them, and is not started.
    late = planner.admit(1_000_000, 40, measured)
    assert late.epochs == 0 and "20 epochs would take" in late.skip
    assert planner.admit(1_000_000, 38, measured).epochs == 19, "half of 38 fits: it trains the 19 that fit"
    assert [useful_epochs(n) for n in (1, 2, 3, 5, 6, 7, 15, 40)] == [1, 2, 3, 3, 3, 4, 8, 20]


def test_the_search_ends_once_no_trial_could_train_half_of_its_epochs():
    clock = Clock()
    measured = [trial(0, flops=1_000_000, seconds=100.0, epochs=10)]  # 10 s per epoch
    planner = Planner(900, refit=False, max_epochs=15, clock=clock)
    clock.now += 900 - END_SECONDS - 161  # 161 s left: 8 epochs (of 15) fit in half of it
    assert not planner.over(measured)
    clock.now += 2
    assert planner.over(measured), "8 epochs no longer fit"
    assert not Planner(900, refit=False, clock=clock, started=planner.started).over(measured), (
        "with no max_epochs known, 3 epochs is the bar"
    )


def test_a_short_budget_keeps_a_tenth_for_the_end_so_a_30_second_search_still_trains():
    planner = Planner(30, refit=False, clock=Clock())
    assert planner.end_seconds == pytest.approx(3.0) and planner.admit(None, 15, []).epochs == 15


def test_the_end_is_reserved_so_the_search_stops_early_enough_for_the_final_training():
    clock = Clock()
    best = trial(
        0, flops=1_000_000, seconds=100.0, epochs=10, history=[0.5, 0.6, 0.9, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    )
    planner = Planner(600, n_train=1000, n_val=500, clock=clock)  # refit on 1.5x the data, to epoch 3
    # A search epoch trained 1000 images; a final one trains 1500, and the member costs its overhead.
    refit = MEMBER_SECONDS + 10.0 * 1.5 * 3
    assert planner.refit_seconds([best]) == pytest.approx(refit)
    assert planner.reserve([best]) == pytest.approx(refit + END_SECONDS)
    assert Planner(600, refit=False, clock=clock).reserve([best]) == END_SECONDS
    clock.now += 600 - refit - END_SECONDS - 61  # 61 s of search time left: 3 epochs of 10 s fit in half of it
    assert not planner.over([best])
    clock.now += 2
    assert planner.over([best]), "not even the fastest trial measured could train 3 epochs: no new trial"
    clock.now += 60
    assert planner.over([best]) and planner.admit(1_000_000, 15, [best]).skip == "the time budget is spent"


def test_a_final_member_trains_the_epochs_that_fit_if_half_of_its_own_do():
    clock = Clock()
    member = trial(0, seconds=48.0, epochs=12, history=[0.5] * 9 + [0.9, 0.8, 0.8])  # kept epoch 10, 4 s each
    planner = Planner(200, n_train=1000, n_val=500, clock=clock)  # a final epoch: 6 s
    assert Planner(None, n_train=1000, n_val=500).final_epochs(member) == 10, "no budget: the epochs it kept"
    room = lambda epochs: REPORT_SECONDS + MEMBER_SECONDS + 6.0 * epochs  # noqa: E731
    clock.now = planner.deadline - room(10)
    assert planner.final_epochs(member) == 10, "all of them fit"
    clock.now += 1.0
    assert planner.final_epochs(member) == 9, "one fewer fits"
    clock.now = planner.deadline - room(useful_epochs(10))
    assert planner.final_epochs(member) == useful_epochs(10) == 5
    clock.now += 1.0
    assert planner.final_epochs(member) == 0, "fewer than half of them: not worth training"
    clock.now = planner.deadline + 5.0
    assert planner.final_epochs(member) == 0


def test_the_reserve_covers_the_final_ensemble_up_to_a_share_of_the_budget():
    clock = Clock()
    ranked = [trial(n, value=0.9 - n / 100, seconds=30.0 * (n + 1), epochs=10) for n in range(4)]  # 30, 60, 90, 120 s
    planner = Planner(1000, n_train=1000, clock=clock, members=3)
    assert planner.refit_seconds(ranked) == pytest.approx(30 + 60 + 90 + 3 * MEMBER_SECONDS), (
        "the 3 best; the 4th is no member"
    )
    assert REFIT_SHARE * 500 < 180
    assert Planner(500, n_train=1000, clock=clock, members=3).refit_seconds(ranked) == pytest.approx(
        REFIT_SHARE * 500
    ), "capped at a share of the budget"
    assert Planner(500, n_train=1000, clock=clock, members=1).refit_seconds(ranked) == pytest.approx(
        30.0 + MEMBER_SECONDS
    )
    resumed = Planner(250, n_train=1000, clock=clock, members=3, spent=250.0)  # recycled with 250 s of 500 left
    assert resumed.refit_seconds(ranked) == pytest.approx(REFIT_SHARE * 500), (
        "a share of the whole budget, not of what was left"
    )
    slow_best = [trial(0, seconds=400.0, epochs=10), *ranked[1:]]
    assert Planner(500, n_train=1000, clock=clock, members=3).refit_seconds(slow_best) == pytest.approx(
        400.0 + MEMBER_SECONDS
    ), "the best trial's own final training is always kept back"
    assert Planner(None, n_train=1000, clock=clock, members=3).refit_seconds(ranked) == pytest.approx(
        180.0 + 3 * MEMBER_SECONDS
    )


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("900", 900),
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1h30m", 5400),
        (" 15m ", 900),
        ("1.5h", 5400),
        (45.5, 45.5),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15x", "m", "-5", "0", "inf", "nan", "10 10", "1h30", "1e3"])
def test_bad_durations_say_the_forms(text):
    with pytest.raises(UsageError, match="900.*15m"):
        parse_duration(text)


# ---------------------------------------------------------------------------- neighbours
@pytest.mark.parametrize("name", sorted(bundled_spaces()))
def test_a_neighbour_is_a_valid_configuration_one_or_two_values_away(name):
    space = load_space(name)
    rng = random.Random(0)
    from autodl.space import RandomSuggester

    for seed in range(15):
        suggester = RandomSuggester(seed)
        space.sample(suggester)
        parent = suggester.params
        if not parent:
            continue
        for changes in (1, 2):
            child = neighbour(space, parent, rng, changes=changes)
            assert child is not None and child != parent
            assert fitting(space, child) == child, "every value the space asks for, within its domain"
            moved = {k for k in parent if k in child and child[k] != parent[k]}
            assert 1 <= len(moved) <= changes or set(child) != set(parent)


def test_recipe_neighbours_change_how_the_network_trains_and_not_what_it_computes():
    space = load_space("cnn")
    recipe = recipe_names(space)
    assert {"training.lr_schedule", "optimizer.name", "optimizer.adam.learning_rate", "conv_blocks.dropout"} <= set(
        recipe
    )
    assert not {"conv_blocks.filters", "conv_blocks.activation", "training.batch_size", "normalization"} & set(recipe)
    start = dict(space.start[0])
    rng = random.Random(0)

    def layers(params: dict) -> list:
        arch = space.sample(FixedSuggester(params))
        return [block["layers"] for block in arch["blocks"]] + [unit["units"] for unit in arch["dense"]]

    for _ in range(30):
        child = neighbour(space, start, rng, changes=2, only=recipe)
        assert child is not None and fitting(space, child) == child
        moved = {k for k in set(start) | set(child) if start.get(k) != child.get(k)}
        assert moved and moved <= set(recipe), moved  # an optimizer's own rates come and go with its name
        assert layers(child) == layers(start) and child["training.batch_size"] == start["training.batch_size"]
    assert neighbour(space, start, rng, only=["no.such.name"]) is None


def test_fitting_keeps_what_the_space_asks_for_and_refuses_what_it_does_not_allow():
    space = load_space("cnn")
    start = dict(space.start[0])
    assert fitting(space, {**start, "unused.key": 3}) == start
    assert fitting(space, {**start, "conv_blocks.filters": 512}) is None, "outside 16..64"
    missing = dict(start)
    del missing["optimizer.adam.learning_rate"]
    assert fitting(space, missing) is None


def test_exploitation_plans_a_neighbour_of_a_top_trial_the_same_way_for_the_same_slot():
    import optuna

    from autodl.backends import optuna_policy
    from autodl.backends.optuna import OptunaSuggester
    from autodl.backends.optuna_storage import RECORD_ATTR

    space = load_space("cnn")
    study = optuna.create_study(direction="maximize")
    for value in (0.8, 0.9):
        study.enqueue_trial(space.start[0])
        t = study.ask()
        space.sample(OptunaSuggester(t))
        t.set_user_attr(RECORD_ATTR, {"number": t.number})  # as the backend's tell leaves a counted trial
        study.tell(t, value)
    plans = [optuna_policy.plan_neighbour(study, space, seed) for seed in range(40)]
    made = [p for p in plans if p is not None]
    assert 0 < len(made) < 40, "about half of the slots exploit"
    assert all(origin.startswith("neighbour of ") and fitting(space, params) == params for params, origin in made)
    recipe, start = set(recipe_names(space)), dict(space.start[0])
    recipe_only = [p for p, _ in made if {k for k in set(p) | set(start) if p.get(k) != start.get(k)} <= recipe]
    assert len(recipe_only) >= len(made) * optuna_policy.RECIPE_SHARE, "half change only the training recipe"
    assert len(recipe_only) < len(made), "the others may change the network"
    assert optuna_policy.plan_neighbour(study, space, 7) == optuna_policy.plan_neighbour(study, space, 7)
    study.enqueue_trial(space.start[1])
    assert optuna_policy.plan_neighbour(study, space, 7) is None, "a queued configuration goes first"


# ---------------------------------------------------------------------------- ensembles, accounting
def test_greedy_selection_weighs_models_by_what_they_add_on_validation():
    y = np.array([0, 1, 0, 1, 0, 1])
    right = np.eye(2)[y] * 0.8 + 0.1
    wrong_half = right.copy()
    wrong_half[:3] = right[:3][:, ::-1]
    assert greedy_weights([right, wrong_half], y) == [1.0, 0.0]
    assert greedy_weights([wrong_half, right], y) == [0.0, 1.0], "the better one, wherever it stands"
    a, b = right.copy(), right.copy()
    a[0], b[1] = [0.45, 0.55], [0.55, 0.45]  # each gets one wrong that the other gets right
    weights = greedy_weights([a, b], y)
    assert weights[0] > 0 and weights[1] > 0 and sum(weights) == pytest.approx(1.0)


def test_the_accounting_puts_the_best_start_against_the_best_searched_trial():
    records = [
        trial(0, value=0.90, start=0, origin="start", seconds=50),
        trial(1, value=0.88, start=1, seconds=40),
        trial(2, value=0.92, origin="neighbour of 0", seconds=30),
        trial(3, value=0.85, seconds=20),
        trial(
            4,
            value=None,
            epochs=0,
            seconds=1,
            state=TrialState.PRUNED,
            history=[],
            error="skipped for cost: ~200 s per epoch ...",
        ),
        trial(
            5,
            value=None,
            epochs=2,
            seconds=5,
            state=TrialState.PRUNED,
            history=[0.1, 0.2],
            origin="warm-start fm1 trial 3",
        ),
    ]
    assert [phase(r) for r in records] == [
        "start networks",
        "start networks",
        "exploitation",
        "exploration",
        "exploration",
        "warm start",
    ]
    result = accounting(records, "maximize", 15, final_seconds=12.0, test={0: 0.89, 2: 0.91})
    assert result["best_start"] == {"trial": 0, "value": 0.90, "phase": "start networks", "test_accuracy": 0.89}
    assert result["best_searched"]["trial"] == 2 and result["best_searched"]["test_accuracy"] == 0.91
    assert result["searched_beats_start"] is True
    assert result["seconds"] == {
        "start networks": 90.0,
        "warm start": 5.0,
        "exploration": 21.0,
        "exploitation": 30.0,
        "final training and evaluation": 12.0,
    }
    assert result["epochs"] == {"trained": 42, "saved_by_early_stopping": 4 * 5, "saved_by_pruning": 13}
    assert [s["trial"] for s in result["skipped_for_cost"]] == [4]


# ---------------------------------------------------------------------------- whole searches
MLP = textwrap.dedent("""\
    name: mlp-small
    dense:
      layers: {type: int, min: 1, max: 2}
      units: {type: int, min: 16, max: 64, step: 16}
    optimizer:
      adam: {learning_rate: {type: float, min: 1.0e-3, max: 1.0e-2, log: true}}
    training: {batch_size: 64, max_epochs: 2, patience: 0}
    """)


def settings(tmp_path: Path, name: str, space: Path | str, **overrides) -> SearchSettings:
    base = SearchSettings(
        dataset="digits", space=str(space), trials=3, subset=300, seed=0, out=str(tmp_path), name=name, pruner="none"
    )
    return dataclasses.replace(base, **overrides)


def test_warm_start_queues_only_the_configurations_that_fit_this_space(tmp_path):
    from autodl.search import run_search

    first_space = tmp_path / "first.yaml"
    first_space.write_text(MLP)
    first = run_search(settings(tmp_path, "first", first_space, trials=4))
    ranked = [r for r in first.ranked()]
    # The second space allows 16 and 32 units only: configurations with 48 or 64 do not fit.
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(
        MLP.replace(
            "units: {type: int, min: 16, max: 64, step: 16}", "units: {type: int, min: 16, max: 32, step: 16}"
        ).replace("mlp-small", "narrow")
    )
    space = load_space(narrow)
    fits = [r.number for r in ranked if fitting(space, r.params) is not None][:3]
    second = run_search(settings(tmp_path, "second", narrow, warm_start=str(tmp_path / "first"), trials=len(fits) + 1))
    warm = [r for r in second.records if (r.origin or "").startswith("warm-start")]
    assert [r.origin for r in warm] == [f"warm-start first trial {n}" for n in fits]
    assert [r.params for r in warm] == [fitting(space, first.trial(n).params) for n in fits]
    assert [r.number for r in warm] == list(range(len(fits))), "queued first"


def test_warm_start_from_nowhere_or_with_keras_tuner_is_refused_before_anything_runs(tmp_path):
    from autodl.search import run_search

    with pytest.raises(UsageError, match="no such run folder"):
        run_search(settings(tmp_path, "w", "mlp", warm_start=str(tmp_path / "missing")))
    with pytest.raises(UsageError, match="--backend optuna"):
        run_search(settings(tmp_path, "w", "mlp", warm_start=str(tmp_path), backend="kerastuner"))
    assert not (tmp_path / "w").exists()


def test_refit_trains_on_train_and_the_npz_validation_split_and_predict_uses_it(tmp_path):
    import keras

    from autodl.search import run_search

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (160, 6, 6, 1), dtype=np.uint8)
    y = (x.reshape(160, -1).mean(axis=1) > 127).astype(np.int64)
    np.savez(
        tmp_path / "own.npz",
        x_train=x[:80],
        y_train=y[:80],
        x_val=x[80:120],
        y_val=y[80:120],
        x_test=x[120:],
        y_test=y[120:],
    )
    space = tmp_path / "s.yaml"
    space.write_text(MLP)
    search = run_search(settings(tmp_path, "refit", space, dataset=str(tmp_path / "own.npz"), subset=None, top_k=1))
    final = search.final
    best = search.best_trial
    assert final["trial"] == best.number and final["n_train"] == 120, "80 train + the npz's own 40 validation"
    assert final["epochs"] == max(range(best.epochs), key=lambda e: (best.history["val_accuracy"][e], -e)) + 1
    stored = json.loads((tmp_path / "refit" / "run.json").read_text())
    assert stored["final"] == final and stored["test_metrics"]["accuracy"] is not None
    assert [(f.path, f.weight, f.final) for f in search.model_files()] == [(search.store.final_model, 1.0, True)]
    model = keras.saving.load_model(search.store.final_model)
    images = tmp_path / "img"
    images.mkdir()
    from PIL import Image

    Image.fromarray(x[120, :, :, 0]).save(images / "a.png")
    predicted = search.predict([images])
    expected = model.predict(x[120:121].astype("float32") / 255.0, verbose=0)[0]
    assert predicted["probability"][0] == pytest.approx(float(expected.max()), rel=1e-5)
    skipped = run_search(
        settings(tmp_path, "norefit", space, dataset=str(tmp_path / "own.npz"), subset=None, refit=False)
    )
    # Two members: predict averages the trained-again models with the ensemble's weights.
    from autodl.search._refit import refit_final

    first, second = skipped.ranked()[:2]
    skipped.ensemble = {"weights": {str(first.number): 0.75, str(second.number): 0.25}}
    skipped.settings = dataclasses.replace(skipped.settings, refit=True)
    skipped.final = refit_final(skipped)
    files = skipped.model_files()
    assert [(f.path, f.record.number, f.weight, f.final) for f in files] == [
        (skipped.store.final_model, first.number, 0.75, True),
        (skipped.store.final_member(second.number), second.number, 0.25, True),
    ]
    models = [keras.saving.load_model(f.path) for f in files]
    probe = x[120:121].astype("float32") / 255.0
    mixed = 0.75 * models[0].predict(probe, verbose=0)[0] + 0.25 * models[1].predict(probe, verbose=0)[0]
    assert skipped.predict([images])["probability"][0] == pytest.approx(float(mixed.max()), rel=1e-5)
    test_mix = sum(w * m.predict(x[120:].astype("float32") / 255.0, verbose=0) for w, m in zip((0.75, 0.25), models))
    assert skipped.final["test_metrics"]["accuracy"] == pytest.approx(float(np.mean(test_mix.argmax(1) == y[120:])))
    skipped = run_search(
        settings(tmp_path, "norefit2", space, dataset=str(tmp_path / "own.npz"), subset=None, refit=False)
    )
    assert skipped.final is None and not skipped.store.final_model.exists()
    assert [(f.path, f.final) for f in skipped.model_files()] == [
        (skipped.path / str(skipped.best_trial.model_path), False)
    ]


def test_the_final_training_is_skipped_when_the_budget_has_no_room_for_it(tmp_path):
    from autodl.runs import RunStore
    from autodl.search._refit import refit_final

    best = trial(3, seconds=100.0, epochs=10)
    store = RunStore.create(tmp_path, "skipped")
    store.models_dir.mkdir(parents=True, exist_ok=True)
    store.final_member(1).write_bytes(b"an earlier end's member")

    class FakeSearch:
        best_trial = best
        ensemble = None
        settings = SearchSettings(refit=True)
        space = load_space("mlp")
        clock = Clock()
        planner = Planner(60, n_train=1000, n_val=0, clock=clock)

        def ranked(self):
            return [best]

    FakeSearch.store = store
    result = refit_final(FakeSearch())  # ~110 s needed, 60 s left: 4 of its 10 epochs would fit, not 5
    assert result["trial"] == 3 and f"needs ~{100 + MEMBER_SECONDS:.0f} s" in result["skipped"]
    assert "5 of its 10 epochs" in result["skipped"], "what the least worth training would have needed"
    assert not store.final_member(1).exists(), "no final model this time: no member of an earlier one either"
    FakeSearch.settings = SearchSettings(refit=False)
    assert refit_final(FakeSearch()) is None


def test_the_final_ensemble_trains_its_members_best_weight_first_while_the_budget_allows(tmp_path, monkeypatch):
    """Members train in order of ensemble weight; one that no longer fits is passed over (a
    later, cheaper one may still fit), and the weights are renormalized over the members trained."""
    from types import SimpleNamespace

    from autodl.runs import RunStore
    from autodl.search import _refit

    records = [trial(n, value=v, seconds=40.0) for n, v in enumerate((0.95, 0.93, 0.9))]
    clock = Clock()
    y_test = np.array([0, 1, 1, 0])
    trained = []

    def fake_train(search, record, epochs, path):
        trained.append(record.number)
        clock.now += 40.0  # 10 epochs of 4 s
        path.write_bytes(b"model")
        return 40.0, np.eye(2)[y_test if record.number == 2 else 1 - y_test]

    monkeypatch.setattr(_refit, "_train_one", fake_train)
    store = RunStore.create(tmp_path, "final")
    store.models_dir.mkdir(parents=True, exist_ok=True)
    stale = store.final_member(7)
    stale.write_bytes(b"an earlier end's member")

    class FakeSearch:
        path = store.root
        ensemble = {"weights": {"0": 0.3, "1": 0.0, "2": 0.5, "7": 0.2}}  # trial 7 is not a complete trial
        settings = SearchSettings(refit=True)
        space = load_space("mlp")
        splits = SimpleNamespace(y_train=np.zeros(1000), y_val=np.zeros(0), y_test=y_test)
        planner = Planner(100, n_train=1000, n_val=0, clock=clock)
        best_trial = records[0]

        def ranked(self):
            return records

        def trial(self, number):
            return records[number]

    search = FakeSearch()
    search.store = store
    assert [(r.number, w) for r, w in _refit.members(search)] == [(0, 0.3), (2, 0.5)], "the winner first"
    final = _refit.refit_final(search)  # 100 s: the first member (~50 s) fits, then ~60 s are left for ~50 s
    assert trained == [0, 2] and [m["weight"] for m in final["members"]] == pytest.approx([0.3 / 0.8, 0.5 / 0.8])
    assert final["trial"] == 0 and final["test_metrics"]["accuracy"] == 1.0, "0.625 of the right answers wins"
    assert store.final_model.is_file() and store.final_member(2).is_file() and not stale.exists()
    final_before = final
    trained.clear()
    clock.now = FakeSearch.planner.started + 50.0  # 50 s left: 8 of the first member's 10 epochs fit
    final = _refit.refit_final(search)
    assert trained == [0] and [(m["trial"], m["weight"]) for m in final["members"]] == [(0, 1.0)]
    assert (final["members"][0]["epochs"], final["members"][0]["shortened_from"]) == (8, 10)
    assert "shortened_from" not in final_before["members"][1], "a member that trained its epochs says nothing"
    assert final["test_metrics"]["accuracy"] == 0.0, "trial 0 alone gets every answer wrong"
    assert not store.final_member(2).exists(), "a member of the earlier end is not part of this final model"
    FakeSearch.ensemble = {"weights": {"1": 0.6, "2": 0.4}}  # the winner is no member: by weight
    assert [(r.number, w) for r, w in _refit.members(search)] == [(1, 0.6), (2, 0.4)]
    # The second member (12 s per epoch) cannot train half of its epochs in the 60 s left after the
    # first; the third (4 s per epoch) trains all of its.
    records[2] = trial(2, value=0.9, seconds=120.0)
    FakeSearch.ensemble = {"weights": {"0": 0.5, "1": 0.2, "2": 0.3}}
    trained.clear()
    clock.now = FakeSearch.planner.started
    final = _refit.refit_final(search)
    assert trained == [0, 1] and [(m["trial"], m["weight"]) for m in final["members"]] == [
        (0, pytest.approx(0.5 / 0.7)),
        (1, pytest.approx(0.2 / 0.7)),
    ]
    assert store.final_member(1).is_file() and not store.final_member(2).exists()


def test_the_fair_median_counts_every_peer_at_the_epoch_not_only_the_survivors():
    """Optuna's median pruner compares with complete trials only: in a short search those are
    the survivors of earlier pruning, and its bar rises with every trial it prunes."""
    import optuna
    from optuna.trial import TrialState as OptunaState

    from autodl.backends.optuna_policy import FairPruner

    def study_with(pruner) -> optuna.Study:
        study = optuna.create_study(direction="maximize", pruner=pruner)
        for values, state in [([0.5, 0.9], OptunaState.COMPLETE)] * 2 + [([0.3, 0.6], OptunaState.PRUNED)] * 3:
            t = study.ask()
            for epoch, value in enumerate(values):
                t.report(value, epoch)
            study.tell(t, values[-1] if state == OptunaState.COMPLETE else None, state=state)
        return study

    def judged(study: optuna.Study, second_epoch: float) -> bool:
        t = study.ask()
        t.report(0.5, 0)
        t.report(second_epoch, 1)
        return t.should_prune()

    fair = study_with(FairPruner(None, 4))
    assert not judged(fair, 0.7), "0.7 beats the median (0.6) of the five trials that reached epoch 2"
    assert judged(fair, 0.55), "below it, pruned"
    survivors = study_with(optuna.pruners.MedianPruner(n_startup_trials=2, n_min_trials=2))
    assert judged(survivors, 0.7), "the median of the two complete trials (0.9) would prune it"
    assert not judged(study_with(FairPruner(None, 6)), 0.1), "fewer than 6 peers: not judged"
