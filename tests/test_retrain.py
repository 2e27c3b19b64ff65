"""``autodl train``: a finished run's configuration trained again, on its own data or on other data
of another input shape (8x8 digits to 28x28 images and back), as a run folder of its own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from autodl.cli.main import cli

RUN_FILES = {"run.json", "trials.json", "trials.csv", "search.pkl", "evaluation.npz", "models", "report.html"}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run (8x8) and a run on 28x28 images (digits drawn 3x larger, padded), each 2 trials."""
    from sklearn.datasets import load_digits

    out = tmp_path_factory.mktemp("runs")
    digits = load_digits()
    big = np.pad(np.kron(digits.images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) * (255 / 16)
    big, labels = big.astype(np.uint8), digits.target
    np.savez(
        out / "big.npz", x_train=big[:1200], y_train=labels[:1200], x_test=big[1200:1500], y_test=labels[1200:1500]
    )
    for dataset, name in (("digits", "small"), (str(out / "big.npz"), "big")):
        result = invoke(
            "search",
            dataset,
            "--trials",
            "2",
            "--epochs",
            "2",
            "--subset",
            "300",
            "--top-k",
            "2",
            "--precision",
            "float32",
            "--out",
            str(out),
            "--name",
            name,
            "--quiet",
        )
        assert result.exit_code == 0, result.output
    return out


def _run(path: Path) -> dict:
    return json.loads((path / "run.json").read_text())


def test_train_on_the_runs_own_train_and_validation_data(runs: Path) -> None:
    import autodl

    source = autodl.load(runs / "small")
    result = invoke("train", str(runs / "small"), "--name", "again", "--quiet")
    assert result.exit_code == 0, result.output
    run = runs / "again"
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    info = _run(run)
    best = source.best_trial
    assert info["origin"]["run"] == str(source.path) and info["origin"]["trials"] == [best.number]
    assert info["status"] == "finished" and 0 <= info["test_metrics"]["accuracy"] <= 1
    assert info["dataset"]["n_train"] == source.dataset["n_train"] + source.dataset["n_val"]  # train + val...
    retrained = autodl.load(run)
    assert retrained.records[0].params == best.params
    history = best.history["val_accuracy"]
    assert retrained.records[0].epochs == history.index(max(history)) + 1  # ...trained as long as the trial needed
    assert len(retrained.predict([_png(runs)])) == 1  # an ordinary run: predict (and export) work on it


@pytest.mark.parametrize("source, dataset, shape", [("big", "digits", [8, 8, 1]), ("small", "big.npz", [28, 28, 1])])
def test_train_on_data_of_another_input_shape(runs: Path, source: str, dataset: str, shape: list[int]) -> None:
    import autodl

    target = dataset if dataset == "digits" else str(runs / dataset)
    name = f"{source}-to-{shape[0]}"
    result = invoke(
        "train", str(runs / source), target, "--ensemble", "--epochs", "1", "--subset", "200", "--name", name, "--quiet"
    )
    assert result.exit_code == 0, result.output
    info = _run(runs / name)
    assert info["dataset"]["input_shape"] == shape and info["origin"]["ensemble"]
    assert sorted(info["origin"]["trials"]) == [0, 1] and info["ensemble"]["trials"]
    retrained = autodl.load(runs / name)
    assert {r.epochs for r in retrained.records} == {1}
    assert [r.params for r in retrained.records] == [
        autodl.load(runs / source).trial(n).params for n in info["origin"]["trials"]
    ]
    (model,) = retrained.best_models(1)
    assert list(model.input_shape[1:]) == shape and model.output_shape[-1] == 10
    assert "report.html" in {p.name for p in (runs / name).iterdir()}


def test_bad_requests_are_one_clean_error(runs: Path) -> None:
    result = invoke("train", str(runs / "small"), "--trial", "9")
    assert result.exit_code == 2 and "has no trial 9" in result.output
    result = invoke("train", str(runs / "small"), "no-such-set")
    assert result.exit_code == 2 and "no-such-set" in result.output
    result = invoke("train", str(runs / "small"), "--epochs", "0")
    assert result.exit_code == 2 and "--epochs must be at least 1" in result.output


def _png(runs: Path) -> Path:
    from PIL import Image

    path = runs / "one.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    return path
