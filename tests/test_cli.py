"""The real CLI, end to end: what a user types and what they get back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from autodl.cli.main import cli

RUN_FILES = {"run.json", "trials.json", "trials.csv", "search.pkl", "study.db", "evaluation.npz", "models"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AUTODL_OFFLINE", "1")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check_run_folder(run: Path, trials: int) -> None:
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    frame = pd.read_csv(run / "trials.csv")
    assert len(frame) == trials
    assert list(frame["number"]) == list(range(trials))
    assert set(frame["state"]) <= {"complete", "pruned", "failed"}
    assert {"normalization", "conv_blocks.count", "optimizer.name"} <= set(frame.columns)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished"
    assert info["settings"]["trials"] == trials and info["dataset"]["name"] == "digits"
    assert info["versions"]["keras"] and info["hardware"]["cpu_count"] >= 1
    assert 0.0 <= info["test_metrics"]["accuracy"] <= 1.0
    best = info["best"]
    complete = frame[frame["state"] == "complete"]
    assert best["value"] == pytest.approx(complete["value"].max())
    models = sorted(p.name for p in (run / "models").glob("trial_*.keras"))
    assert f"trial_{best['number']:04d}.keras" in models
    assert len(models) == min(3, len(complete))
    final = info["final"]  # the ensemble's members trained again on train + validation, the winner first
    weights = (info["ensemble"] or {}).get("weights") or {str(best["number"]): 1.0}
    assert [m["trial"] for m in final["members"]][0] == final["trial"] and (run / final["model_path"]).is_file()
    assert final["trial"] == best["number"] or weights.get(str(best["number"])) == 0
    assert {m["trial"] for m in final["members"]} == {int(n) for n, w in weights.items() if w > 0}
    assert final["n_train"] == info["dataset"]["n_train"] + info["dataset"]["n_val"]
    assert 0.0 <= final["test_metrics"]["accuracy"] <= 1.0

    import keras

    model = keras.saving.load_model(run / best["model_path"])
    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    proba = model.predict(x, verbose=0)
    assert proba.shape == (5, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-4)


def test_search_digits_through_click(tmp_path):
    result = invoke("search", "digits", "--trials", "3", "--epochs", "2", "--out", str(tmp_path), "--name", "e2e")
    assert result.exit_code == 0, result.output
    check_run_folder(tmp_path / "e2e", 3)
    assert "top 10 of 3 trials" in result.output and str(tmp_path / "e2e") in result.output
    assert result.output.startswith("loading digits\nautodl digits (")  # a slow load is not a silent one

    ensemble = json.loads((tmp_path / "e2e" / "run.json").read_text())["ensemble"]
    kept = sorted(p.name for p in (tmp_path / "e2e" / "models").glob("trial_*.keras"))
    assert (ensemble is None) == (len(kept) < 2)
    if ensemble:
        assert sorted(f"trial_{n:04d}.keras" for n in ensemble["trials"]) == kept
        assert f"top-{len(kept)} ensemble (trials " in result.output.replace("\n", " ")
    listed = invoke("runs", "--out", str(tmp_path))
    assert "e2e" in listed.output and "digits" in listed.output
    shown = invoke("show", "e2e", "--out", str(tmp_path))
    assert shown.exit_code == 0 and "best trial" in shown.output and "accuracy" in shown.output

    import autodl

    search = autodl.load(tmp_path / "e2e")
    front = search.pareto_front()  # smallest first, each better than every smaller trial
    assert front and [r.n_params for r in front] == sorted({r.n_params for r in front})
    assert [r.value for r in front] == sorted({r.value for r in front})
    assert all(not (r.n_params <= f.n_params and r.value > f.value) for f in front for r in search.ranked())
    best = search.best_trial  # show lists the front's models of at most 80% of the best's size
    listed = [r for r in front if r.number == best.number or r.n_params <= 0.8 * best.n_params]
    if len(listed) > 1:
        table = shown.output[shown.output.index("(Pareto front)") :]
        assert all(f"{r.n_params:,}" in table for r in listed)
        assert not any(f"{r.n_params:,}" in table for r in front if r not in listed)
    else:
        assert "Pareto front" not in shown.output
    for record in search.records:  # every trial in full: outcome, hyperparameters, each epoch
        one = invoke("show", "e2e", "--out", str(tmp_path), "--trial", str(record.number))
        assert one.exit_code == 0, one.output
        lines = one.output.splitlines()
        assert lines[0].startswith(f"trial {record.number}: {record.state.value}")
        assert all(f"{key} " in one.output for key in record.params)
        scores = record.history["val_accuracy"]
        rows = [line for line in lines if line.startswith("│") and line.split("│")[1].strip().rstrip(" *").isdigit()]
        assert len(rows) == record.epochs == len(scores)
        starred = [i for i, row in enumerate(rows) if "*" in row.split("│")[1]]
        assert starred == [scores.index(max(scores))]
        if record.number == search.best_trial.number:
            assert "(rank 1 of" in lines[0] and f"trial_{record.number:04d}.keras" in one.output
        if record.state.value == "pruned":
            assert (
                "why: pruned after epoch" in one.output and "model: none (only complete trials keep one)" in one.output
            )
    missing = invoke("show", "e2e", "--out", str(tmp_path), "--trial", "7")
    assert missing.exit_code == 2 and "has no trial 7 (it has trials 0-2)" in missing.output


@pytest.mark.slow
def test_search_digits_as_subprocess(tmp_path):
    env = {**os.environ, "AUTODL_CONFIG_DIR": str(tmp_path / "config"), "AUTODL_OFFLINE": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # autodl's own default, not a log level the caller chose
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--trials",
            "3",
            "--epochs",
            "2",
            "--out",
            str(tmp_path),
            "--name",
            "sub",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    check_run_folder(tmp_path / "sub", 3)
    # TensorFlow's start-up chatter is silenced; --quiet prints only the summary.
    assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower()
    assert "trial   0" not in proc.stdout and "top 10 of 3 trials" in proc.stdout


def test_nan_learning_rate_records_failed_trials_and_finishes(tmp_path):
    space = tmp_path / "exploding.yaml"
    space.write_text(
        textwrap.dedent("""
        name: exploding
        dense: {layers: 1, units: 32}
        optimizer:
          sgd: {learning_rate: {type: choice, values: [1.0e+12, 0.05]}}
        training: {batch_size: 64, max_epochs: 2}
        """)
    )
    result = invoke(
        "search",
        "digits",
        "--space",
        str(space),
        "--trials",
        "4",
        "--sampler",
        "random",
        "--seed",
        "0",
        "--out",
        str(tmp_path),
        "--name",
        "nan",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    records = json.loads((tmp_path / "nan" / "trials.json").read_text())["trials"]
    assert len(records) == 4
    by_lr = {r["params"]["optimizer.sgd.learning_rate"]: r for r in records}
    assert set(by_lr) == {1e12, 0.05}, "the seed should draw both learning rates"
    failed = [r for r in records if r["params"]["optimizer.sgd.learning_rate"] == 1e12]
    assert all(r["state"] == "failed" and "diverged" in r["error"] for r in failed)
    assert all(r["state"] == "complete" for r in records if r not in failed)
    info = json.loads((tmp_path / "nan" / "run.json").read_text())
    assert info["status"] == "finished" and info["counts"]["failed"] == len(failed)


def test_a_size_budget_prunes_larger_models_untrained_and_a_cosine_schedule_shows_its_rates(tmp_path):
    """training.max_params: a model over the budget is pruned before its first batch, Optuna
    hears it was pruned, and it keeps no model; the trial within it trains on a cosine schedule."""
    import optuna

    space = tmp_path / "small.yaml"
    space.write_text(
        textwrap.dedent("""
        name: small
        conv_blocks: {count: 1, filters: {type: choice, values: [4, 64]}}
        dense: {layers: 0}
        optimizer: {adam: {learning_rate: 0.002}}
        training: {max_epochs: 3, patience: 0, lr_schedule: cosine, max_params: 100}
        start:
          - {conv_blocks.filters: 64}
          - {conv_blocks.filters: 4}
        """)
    )
    # --max-params overrides the space's budget (100, which no network here fits).
    result = invoke(
        "search",
        "digits",
        "--space",
        str(space),
        "--trials",
        "2",
        "--subset",
        "200",
        "--max-params",
        "5k",
        "--out",
        str(tmp_path),
        "--name",
        "budget",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "budget"
    big, small = json.loads((run / "trials.json").read_text())["trials"]
    assert big["state"] == "pruned" and big["epochs"] == 0 and big["history"] == {}
    assert big["n_params"] > 5000 and f"{big['n_params']:,} parameters, more than --max-params (5,000)" in big["error"]
    assert big["model_path"] is None
    assert small["state"] == "complete" and small["n_params"] <= 5000 and small["epochs"] == 3
    assert small["history"]["learning_rate"] == pytest.approx([0.002, 0.0015, 0.0005], rel=1e-5)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{run / 'study.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert "<dt>parameter budget</dt><dd>5,000</dd>" in (run / "report.html").read_text()
    assert json.loads((run / "run.json").read_text())["ensemble"] is None  # one kept model: no ensemble
    alone = invoke("predict", str(run), str(tmp_path / "any.png"), "--ensemble")
    assert alone.exit_code == 2 and "an ensemble needs 2 or more" in alone.output
    shown = invoke("show", str(run), "--trial", "0").output
    assert "why: " in shown and "--max-params (5,000)" in shown
    assert "model: none (only complete trials keep one)" in shown and "no epoch trained" in shown
    shown = invoke("show", str(run), "--trial", "1").output
    assert "learning_rate" in shown and "2.00e-03" in shown and "5.00e-04" in shown


def test_a_budget_no_network_fits_prunes_every_trial_and_says_so(tmp_path):
    import autodl

    space = tmp_path / "tiny.yaml"
    space.write_text("dense: {layers: 1, units: {type: choice, values: [8, 16]}}\ntraining: {max_params: 100}\n")
    result = invoke(
        "search",
        "digits",
        "--space",
        str(space),
        "--trials",
        "2",
        "--subset",
        "100",
        "--out",
        str(tmp_path),
        "--name",
        "none",
    )
    assert result.exit_code == 0, result.output
    assert "no trial completed: `autodl show" in result.output and "--trial 0` says why" in result.output
    assert "top 10" not in result.output  # no empty leaderboard
    search = autodl.load(tmp_path / "none")
    assert [r.state.value for r in search.records] == ["pruned", "pruned"]
    assert all("more than the space's training.max_params (100)" in r.error for r in search.records)
    assert search.test_metrics is None and not list((tmp_path / "none" / "models").glob("*.keras"))
    assert "<dt>parameter budget</dt><dd>100</dd>" in (tmp_path / "none" / "report.html").read_text()


def test_a_space_with_nothing_to_search_says_so_and_zero_prints_as_a_score(tmp_path):
    """A fixed space is a valid baseline: the summary says its best trial has no hyperparameters."""
    from autodl.cli.console import fmt

    space = tmp_path / "fixed.yaml"
    space.write_text("dense: {layers: 1, units: 16}\ntraining: {max_epochs: 1}\n")
    result = invoke(
        "search",
        "digits",
        "--space",
        str(space),
        "--trials",
        "1",
        "--subset",
        "100",
        "--out",
        str(tmp_path),
        "--name",
        "fixed",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "best trial 0: the space fixes every hyperparameter" in result.output
    assert "hyperparameters" not in result.output.replace("every hyperparameter", "")
    assert [fmt(0.0), fmt(0.5), fmt(0.0002), fmt(float("nan"))] == ["0.0000", "0.5000", "0.0002", "-"]


def test_an_image_folder_of_mixed_sizes_is_searched_and_resumed_with_image_size(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for shade, name in ((0, "cat"), (200, "dog")):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(12):
            width, height = (int(side) for side in rng.integers(6, 20, 2))
            Image.fromarray(np.full((height, width, 3), shade, np.uint8)).save(tmp_path / "photos" / name / f"{i}.png")
    space = tmp_path / "s.yaml"
    space.write_text("dense: {layers: 1, units: {type: choice, values: [8, 16]}}\ntraining: {max_epochs: 1}\n")
    photos, run = str(tmp_path / "photos"), tmp_path / "p"

    refused = invoke("search", photos, "--space", str(space), "--out", str(tmp_path))
    assert refused.exit_code == 2 and "--image-size WIDTHxHEIGHT" in refused.output
    result = invoke(
        "search",
        photos,
        "--image-size",
        "8x6",
        "--space",
        str(space),
        "--trials",
        "1",
        "--out",
        str(tmp_path),
        "--name",
        "p",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    info = json.loads((run / "run.json").read_text())
    assert info["dataset"]["input_shape"] == [6, 8, 3] and info["settings"]["image_size"] == "8x6"
    again = invoke("resume", str(run), "--trials", "2", "--quiet")  # reloads the photos at 8x6
    assert again.exit_code == 0, again.output
    records = json.loads((run / "trials.json").read_text())["trials"]
    assert [r["state"] for r in records] == ["complete", "complete"]
    assert "<dt>resized on load</dt><dd>--image-size 8x6</dd>" in (run / "report.html").read_text()

    import autodl

    class Events(autodl.SearchCallback):
        def __init__(self) -> None:
            self.seen: list[tuple] = []

        def on_status(self, message: str) -> None:
            self.seen.append(("status", message))

        def on_load_progress(self, done: int, total: int) -> None:
            self.seen.append(("read", done, total))

        def on_search_start(self, search) -> None:
            self.seen.append(("start",))

    loading = [("status", f"loading {photos}"), *[("read", i, 24) for i in range(1, 25)], ("start",)]
    resumed, started = Events(), Events()
    autodl.load(run).resume(trials=3, callbacks=resumed)
    autodl.run_search(
        callbacks=started, dataset=photos, image_size="8x6", space=str(space), trials=1, out=str(tmp_path), name="q"
    )
    assert resumed.seen[:26] == loading and started.seen[:26] == loading


def test_reading_images_shows_a_bar_in_a_terminal_that_goes_away_and_nothing_in_a_pipe(monkeypatch):
    import io

    from rich.console import Console

    from autodl.cli import console as console_module

    for terminal in (True, False):
        out = io.StringIO()
        monkeypatch.setattr(console_module, "console", Console(file=out, force_terminal=terminal, width=100))
        progress = console_module.RichProgress()
        progress.on_load_progress(1, 3)
        assert (progress.loading is not None) is terminal
        progress.on_load_progress(3, 3)
        assert progress.loading is None  # read: the bar is gone before the search's header
        if terminal:
            assert "reading images" in out.getvalue() and "3/3" in out.getvalue()
            assert out.getvalue().endswith("\x1b[1A\x1b[2K")  # the bar's line is erased
        else:
            assert out.getvalue() == ""  # no blank line either
    quiet = console_module.RichProgress(quiet=True)
    quiet.on_load_progress(1, 3)
    assert quiet.loading is None


def test_predict_classifies_image_files_as_the_test_evaluation_did(tmp_path):
    """`autodl predict` prepares files as training did: the test files get the same probabilities
    as the run's own evaluation of its best model on the test split. The model augments its
    training images, which neither the evaluation nor predict may do."""
    from PIL import Image

    import autodl

    rng = np.random.default_rng(1)
    for part, n in (("train", 12), ("test", 3)):
        for shade, name in ((40, "cat"), (210, "dog")):
            (tmp_path / "set" / part / name).mkdir(parents=True)
            for i in range(n):
                width, height = (int(side) for side in rng.integers(6, 14, 2))
                pixels = np.clip(rng.normal(shade, 30, (height, width)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(tmp_path / "set" / part / name / f"{i}.png")
    space = tmp_path / "s.yaml"
    space.write_text(
        "augmentation: {flip: horizontal, translation: 0.2, zoom: 0.2}\n"
        "dense: {layers: 1, units: 8}\ntraining: {max_epochs: 2}\n"
    )
    # --no-refit: predict then uses the validation-chosen model that evaluation.npz describes
    result = invoke(
        "search",
        str(tmp_path / "set"),
        "--image-size",
        "7x5",
        "--space",
        str(space),
        "--trials",
        "2",
        "--out",
        str(tmp_path),
        "--name",
        "p",
        "--quiet",
        "--no-refit",
    )
    assert result.exit_code == 0, result.output
    run, test = tmp_path / "p", tmp_path / "set" / "test"
    (best_model,) = autodl.load(run).best_models(1)
    assert {"aug_flip", "aug_translation", "aug_zoom"} <= {layer.name for layer in best_model.layers}

    proba = np.load(run / "evaluation.npz")["proba"]  # the test split, in file order
    read = []
    frame = autodl.load(run).predict([test], top=2, progress=lambda done, total: read.append((done, total)))
    assert read == [(i, 6) for i in range(1, 7)]  # what the command line's bar shows
    assert list(frame["file"]) == [str(p) for p in sorted(test.rglob("*.png"))]
    assert list(frame["class"]) == [["cat", "dog"][i] for i in proba.argmax(axis=1)]
    np.testing.assert_allclose(frame["probability"], proba.max(axis=1), rtol=1e-4)
    np.testing.assert_allclose(frame["probability"] + frame["probability_2"], 1.0, rtol=1e-4)

    shown = invoke("predict", str(run), str(test / "dog" / "0.png"), str(test / "cat"), "--top", "2")
    assert shown.exit_code == 0, shown.output
    assert "4 images" in shown.output and "then" in shown.output and "0.png" in shown.output
    written = invoke("predict", str(run), str(test), "--top", "2", "--csv", str(tmp_path / "p.csv"))
    assert written.exit_code == 0 and f"6 predictions written to {tmp_path / 'p.csv'}" in written.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "p.csv"), frame, check_dtype=False)
    unwritable = invoke("predict", str(run), str(test), "--csv", str(tmp_path / "no" / "p.csv"))
    assert unwritable.exit_code == 2 and "Give --csv a path in a folder that exists" in unwritable.output
    missing = invoke("predict", str(run), str(tmp_path / "nope.png"))
    assert missing.exit_code == 2 and "nope.png' does not exist" in missing.output
    no_model = invoke("predict", str(run), str(test), "--trial", "5")
    assert no_model.exit_code == 2 and "no saved model for trial 5" in no_model.output

    # A phone's way of storing the same picture: turned a quarter, with EXIF orientation 6 to show it upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(test / "dog" / "0.png").transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.png", exif=exif)
    turned = autodl.load(run).predict([tmp_path / "turned.png"], top=2)
    original = frame[frame["file"] == str(test / "dog" / "0.png")]
    assert list(turned["class"]) == list(original["class"])
    np.testing.assert_allclose(turned["probability"], original["probability"], rtol=1e-6)

    # The two kept models together: predict --ensemble weighs their probabilities as greedy
    # selection on validation did, and the search's own test evaluation agrees with that mix.
    ensemble = json.loads((run / "run.json").read_text())["ensemble"]
    assert sorted(ensemble["trials"]) == [0, 1] and ensemble["trials"][0] == autodl.load(run).best_trial.number
    second = autodl.load(run).predict([test], top=2, trial=ensemble["trials"][1])

    def by_class(predicted: pd.DataFrame) -> np.ndarray:
        return np.array(
            [
                [row["probability"] if row["class"] == name else row["probability_2"] for name in ("cat", "dog")]
                for _, row in predicted.iterrows()
            ]
        )

    weights = [ensemble["weights"][str(n)] for n in ensemble["trials"]]
    assert sum(weights) == pytest.approx(1.0)
    mean = weights[0] * by_class(frame) + weights[1] * by_class(second)
    np.testing.assert_allclose(by_class(autodl.load(run).predict([test], top=2, ensemble=True)), mean, rtol=1e-5)
    y_true = np.load(run / "evaluation.npz")["y_true"]
    assert ensemble["accuracy"] == pytest.approx(np.mean(mean.argmax(axis=1) == y_true))
    assert ensemble["best_accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == y_true))
    assert 0.0 <= ensemble["val_accuracy"] <= 1.0 and ensemble["loss"] > 0
    shown = invoke("predict", str(run), str(test), "--ensemble")
    assert shown.exit_code == 0 and "6 images" in shown.output
    both = invoke("predict", str(run), str(test), "--ensemble", "--trial", "0")
    assert both.exit_code == 2 and "an ensemble averages the kept models, so it takes no --trial" in both.output
    assert 'id="ensemble"' in (run / "report.html").read_text()


@pytest.mark.parametrize(
    "args, words",
    [
        (["search", "digits", "--space", "{space}"], ["bad.yaml: conv_blocks.filters.max:", "greater than max"]),
        (["search", "no-such-set"], ["no-such-set", "digits"]),
        (["search", "digits", "--space", "cnm"], ["unknown search space 'cnm'", "Did you mean 'cnn'"]),
        (["search", "digits", "--trials", "0"], ["--trials must be at least 1"]),
        (["resume", "{tmp}/nowhere"], ["does not exist"]),
        (["spaces", "show", "nope"], ["unknown search space 'nope'"]),
        (["worker", "--storage", "journal://{tmp}/s.log", "--name", "n", "--wait", "-5"], ["--wait", "x>=0"]),
        (["predict", "{tmp}/nowhere", "a.png"], ["does not exist"]),
        (["predict", "{tmp}/nowhere", "a.png", "--top", "0"], ["--top", "x>=1"]),
        (["search", "digits", "--image-size", "16"], ["--image-size resizes", "'digits' is stored as arrays"]),
        (["search", "digits", "--image-size", "16x0"], ["--image-size must be WIDTHxHEIGHT", "'16x0'"]),
        (["search", "digits", "--max-params", "1.5"], ["--max-params", "100000, 100k or 1.5M, got '1.5'"]),
        (["search", "digits", "--seed", "-1"], ["--seed must be a whole number from 0 to 4294967295, got -1"]),
        (["search", "digits", "--image-size", "60000"], ["--image-size 60000x60000", "at most 1024 pixels a side"]),
    ],
)
def test_bad_input_is_one_clean_error_with_exit_2(tmp_path, args, words):
    bad = tmp_path / "bad.yaml"
    bad.write_text("conv_blocks:\n  filters: {type: int, min: 64, max: 16}\n")
    args = [a.format(space=bad, tmp=tmp_path) for a in args] + (["--out", str(tmp_path)] if args[0] == "search" else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output
    assert not any(p.is_dir() and (p / "run.json").exists() for p in tmp_path.iterdir()), "no run folder"


def test_unwritable_output_folder_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["search", "digits", "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "Cannot create the run folder" in result.output and "--out" in result.output


def test_runs_table_leaves_out_columns_rather_than_cut_names_and_scores():
    import io

    from rich.console import Console

    from autodl.cli.console import runs_table

    rows = [
        {
            "run": "fashion-cnn-long-name-x",
            "status": "interrupted",
            "dataset": "fashion_mnist",
            "space": "digit-recognition",
            "backend": "kerastuner",
            "trials": 12,
            "best": 0.91234,
            "test": 0.9,
            "created": "2026-12-04T04:24:37+00:00",
        }
    ]
    for width, left_out in ((200, []), (130, ["created"]), (80, ["created", "backend", "space", "dataset"])):
        table, hidden = runs_table(rows, width)
        assert hidden == left_out
        screen = Console(width=width, file=io.StringIO())
        screen.print(table)
        text = screen.file.getvalue()
        assert "fashion-cnn-long-name-x" in text and "interrupted" in text and "0.9123" in text
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
        if not hidden:  # the creation time to the minute, in this machine's time zone
            assert re.search(r"│ 2026-12-0[345] \d\d:\d\d │", text) and "04:24:37" not in text


def test_listing_commands():
    spaces = invoke("spaces")
    assert all(name in spaces.output for name in ("cnn", "mlp", "lenet", "digit-recognition"))
    shown = invoke("spaces", "show", "digit-recognition")
    assert "min: 64, max: 128, step: 32" in shown.output
    datasets = invoke("datasets")
    assert all(name in datasets.output for name in ("digits", "mnist", "fashion_mnist", "cifar10"))


def test_help_does_not_import_tensorflow():
    code = "import sys; from autodl.cli.main import cli; import autodl; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_messages_with_square_brackets_print_as_written(tmp_path):
    """A message is text, not rich markup: `[/x]` once crashed the printing, `[final]` vanished."""
    space = tmp_path / "brackets.yaml"
    space.write_text('normalization: "[/x]"\n')
    result = CliRunner().invoke(cli, ["search", "digits", "--space", str(space), "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert (
        "Traceback" not in result.output
        and "normalization: expected one of none, batch, layer, got '[/x]'" in result.output
    )
    result = CliRunner().invoke(cli, ["search", str(tmp_path / "data[final].npz"), "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "data[final].npz" in result.output


def test_table_cells_and_progress_lines_show_brackets_as_written():
    import io

    from rich.console import Console

    from autodl.cli.console import fmt, runs_table

    table, _ = runs_table([{"run": "try[final]", "status": "[bold]done", "dataset": "d[/x]", "best": 0.5}], 200)
    screen = Console(width=200, file=io.StringIO())
    screen.print(table)
    text = screen.file.getvalue()
    assert "try[final]" in text and "[bold]done" in text and "d[/x]" in text
    assert fmt("[red]x") != "[red]x" and fmt(0.5) == "0.5000"


def test_runs_lists_the_good_runs_when_a_run_json_is_not_autodl_s(tmp_path):
    for name, text in (
        ("list", "[]"),
        ("number", "0"),
        ("odd", '{"settings": 5, "counts": {"complete": "x"}}'),
        ("good", '{"status": "finished", "created": "2026-01-01T00:00:00+00:00"}'),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(text)
    result = CliRunner().invoke(cli, ["runs", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "good" in result.output and "odd" in result.output
