"""``autodl export``: each format's artifact, run by its own runtime, classifies raw uint8 images
as ``autodl predict`` does the same images saved as files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from autodl.cli.main import cli

N_IMAGES = 200


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished digits search in float32 that keeps 2 models (an ensemble can be exported)."""
    import autodl

    out = tmp_path_factory.mktemp("runs")
    autodl.run_search(
        dataset="digits", trials=2, epochs=2, subset=400, top_k=2, precision="float32", out=str(out), name="digits"
    )
    return out / "digits"


@pytest.fixture(scope="module")
def images(run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[Path]]:
    """200 test images as uint8 arrays and as PNG files of the same pixels."""
    from PIL import Image

    from autodl.data import load_splits

    x = load_splits("digits", subset=400).x_test[:N_IMAGES]
    pixels = np.round(x * 255).astype(np.uint8)
    folder = tmp_path_factory.mktemp("images")
    files = []
    for i, image in enumerate(pixels):
        files.append(folder / f"{i:03d}.png")
        Image.fromarray(image[:, :, 0]).save(files[-1])
    return pixels, files


def _predicted(search, files: list[Path], **kwargs) -> np.ndarray:
    """``autodl predict``'s probabilities, one column per class."""
    frame = search.predict(files, top=10, **kwargs)
    proba = np.zeros((len(frame), 10))
    names = [str(c) for c in search.dataset["class_names"]]
    for rank in range(1, 11):
        suffix = "" if rank == 1 else f"_{rank}"
        for row, (name, p) in enumerate(zip(frame[f"class{suffix}"], frame[f"probability{suffix}"])):
            proba[row, names.index(str(name))] = p
    return proba


@pytest.mark.parametrize("format", ["keras", "tf_saved_model", "onnx", "litert"])
def test_each_format_matches_predict(run: Path, images, format: str, tmp_path: Path) -> None:
    import autodl
    from autodl.export import export_run, get_format

    pixels, files = images
    search = autodl.load(run)
    result = export_run(search, format, out=tmp_path / format, latency=format == "onnx")
    assert result.artifact.exists() and result.artifact.parent == tmp_path / format
    metadata = json.loads((tmp_path / format / "metadata.json").read_text())
    assert metadata["classes"] == [str(c) for c in range(10)] and metadata["input"]["dtype"] == "uint8"
    card = (tmp_path / format / "MODEL_CARD.md").read_text()
    assert "## Test metrics" in card and "| 9 |" in card and "parameters" in card and "keras 3" in card
    stored = json.loads((run / "run.json").read_text())  # the final model is what predict and export use
    members = stored["final"]["members"]  # the ensemble's members trained again, with its weights
    assert metadata["source"]["final"] and metadata["source"]["trials"] == [m["trial"] for m in members]
    assert metadata["source"]["weights"] == pytest.approx([m["weight"] for m in members])
    assert metadata["test_metrics"]["accuracy"] == pytest.approx(stored["final"]["test_metrics"]["accuracy"])
    # The artifact, reloaded by its own runtime (TensorFlow, ONNX Runtime, LiteRT's interpreter).
    served = get_format(format).runner(result.artifact)(pixels)
    expected = _predicted(search, files)
    np.testing.assert_allclose(served, expected, atol=1e-4)
    assert list(served.argmax(axis=1)) == list(expected.argmax(axis=1))
    if format == "onnx":
        assert set(metadata["latency"]) == {"1", "256"} and "batch 256" in card
    # Any size the format allows: the model resizes inside.
    assert get_format(format).runner(result.artifact)(np.zeros((3, 20, 13, 1), np.uint8)).shape == (3, 10)


def test_an_ensemble_exports_as_one_model_that_weighs_its_members(run: Path, images, tmp_path: Path) -> None:
    import shutil

    import autodl
    from autodl.export import export_run, get_format

    pixels, files = images
    # Greedy selection may give one member all the weight; give both some, as run.json records it.
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    info = json.loads((copy / "run.json").read_text())
    first, second = info["ensemble"]["trials"]
    info["ensemble"]["weights"] = {str(first): 0.3, str(second): 0.7}
    (copy / "run.json").write_text(json.dumps(info))
    search = autodl.load(copy, trust=True)
    result = export_run(search, "onnx", ensemble=True, out=tmp_path / "e", latency=False)
    assert result.info["source"]["ensemble"] and result.info["source"]["trials"] == [first, second]
    assert result.info["source"]["weights"] == [0.3, 0.7]
    served = get_format("onnx").runner(result.artifact)(pixels)
    np.testing.assert_allclose(served, _predicted(search, files, ensemble=True), atol=1e-4)
    assert "the ensemble of trials" in (tmp_path / "e" / "MODEL_CARD.md").read_text()


def test_the_command_writes_the_folder_and_refuses_bad_requests(run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(run), "--format", "litert", "--no-latency"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert {p.name for p in (run / "exports" / "litert").iterdir()} == {
        "model.tflite",
        "metadata.json",
        "MODEL_CARD.md",
    }
    assert "model card:" in result.output
    missing = CliRunner().invoke(cli, ["export", str(run), "--trial", "7"])
    assert missing.exit_code == 2 and "no trial 7" not in missing.output and "trial 7" in missing.output
    both = CliRunner().invoke(cli, ["export", str(run), "--trial", "0", "--ensemble"])
    assert both.exit_code == 2 and "takes no --trial" in both.output
