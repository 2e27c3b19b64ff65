"""The GPU path stays alive: ``autodl search`` under ``KERAS_BACKEND=jax`` with no TensorFlow.

The GPU benchmark runs on machines with JAX and without TensorFlow. This test recreates that
on CPU: a subprocess makes ``import tensorflow`` fail as if it were not installed, runs the
real CLI on digits, reloads the best model and reports which code tried to import
TensorFlow. Keras' own optional look-ups (``keras.utils.set_random_seed`` seeds tf.data when
TensorFlow exists) are allowed; an import from autodl is not, nor is a failed trial.

Needs ``jax`` (``pip install -e ".[test,jax]"``): without it the test fails, unless
``AUTODL_SKIP_JAX=1`` says to skip it on purpose.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import json, sys, traceback
    from pathlib import Path

    attempts = []

    class NoTensorFlow:  # as on a machine where TensorFlow is not installed
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                frames = [f for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename]
                attempts.append(f"{frames[-1].filename}:{frames[-1].lineno}")
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTensorFlow())
    from autodl.cli.main import cli

    out = Path(sys.argv[1])
    try:
        cli(["search", "digits", "--trials", "2", "--epochs", "1", "--subset", "200", "--quiet",
             "--out", str(out), "--name", "jax"], prog_name="autodl")
    except SystemExit as exc:
        if exc.code:
            raise
    import keras
    import numpy as np

    run = json.loads((out / "jax" / "run.json").read_text())
    model = keras.saving.load_model(out / "jax" / run["best"]["model_path"])
    proba = model.predict(np.zeros((3, 8, 8, 1), "float32"), verbose=0)
    print(json.dumps({
        "backend": keras.backend.backend(), "counts": run["counts"], "keras_backend": run["versions"]["keras_backend"],
        "test_accuracy": (run["test_metrics"] or {}).get("accuracy"), "proba_shape": list(proba.shape),
        "attempts": attempts, "tensorflow_loaded": [m for m in sys.modules if m.split(".")[0] == "tensorflow"],
    }))
""")


@pytest.mark.slow
def test_search_runs_under_jax_without_tensorflow(tmp_path):
    if os.environ.get("AUTODL_SKIP_JAX") == "1":
        pytest.skip("AUTODL_SKIP_JAX=1: the JAX smoke test was skipped on purpose")
    if importlib.util.find_spec("jax") is None:
        pytest.fail(
            "jax is not installed, so the JAX (GPU) path is untested. Install it with "
            '`pip install -e ".[test,jax]"`, or set AUTODL_SKIP_JAX=1 to skip this test knowingly.'
        )
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "AUTODL_OFFLINE": "1",
        "AUTODL_CONFIG_DIR": str(tmp_path / "config"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(REPO),
    }  # the checkout under test, whatever is installed
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "reports")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["keras_backend"] == "jax"
    assert result["counts"]["complete"] == 2 and result["counts"]["failed"] == 0, result["counts"]
    assert result["test_accuracy"] is not None and result["proba_shape"] == [3, 10]
    assert result["tensorflow_loaded"] == []
    from_autodl = [a for a in result["attempts"] if f"{os.sep}autodl{os.sep}" in a]
    assert not from_autodl, f"autodl imports TensorFlow under KERAS_BACKEND=jax: {from_autodl}"


BLOCK_TENSORFLOW = textwrap.dedent("""
    import sys

    class NoTensorFlow:  # every process of the run, as on a machine where TensorFlow is not installed
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTensorFlow())
""")


@pytest.mark.slow
def test_workers_run_under_jax_without_tensorflow(tmp_path):
    """The GPU benchmark's shape on CPU: ``--workers 2`` under JAX, TensorFlow absent in every process."""
    if os.environ.get("AUTODL_SKIP_JAX") == "1":
        pytest.skip("AUTODL_SKIP_JAX=1: the JAX smoke test was skipped on purpose")
    if importlib.util.find_spec("jax") is None:
        pytest.fail('jax is not installed: `pip install -e ".[test,jax]"`, or AUTODL_SKIP_JAX=1 to skip knowingly.')
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "AUTODL_OFFLINE": "1",
        "AUTODL_CONFIG_DIR": str(tmp_path / "config"),
        "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
    }
    out = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--workers",
            "2",
            "--trials",
            "6",
            "--epochs",
            "2",
            "--subset",
            "300",
            "--space",
            "mlp",
            "--out",
            str(out),
            "--name",
            "jax",
            "--quiet",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    run = json.loads((out / "jax" / "run.json").read_text())
    assert run["versions"]["keras_backend"] == "jax"
    assert run["counts"]["failed"] == 0 and sum(run["counts"].values()) == 6, run["counts"]
    trials = json.loads((out / "jax" / "trials.json").read_text())["trials"]
    assert len({t["worker"] for t in trials}) == 2, "both JAX workers trained"
    assert run["test_metrics"]["accuracy"] > 0.1 and (out / "jax" / "report.html").is_file()
