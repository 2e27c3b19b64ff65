"""``--precision``: what ``auto`` picks, and that a policy survives the clean-up between trials."""

from __future__ import annotations

import keras
import pytest

from autodl.training import free_memory, precision


@pytest.fixture()
def float32_after():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16", "float32"])
def test_free_memory_keeps_the_global_policy(policy, float32_after):
    # clear_session() alone resets the policy to float32: every trial after the first
    # would silently train in float32 under --precision mixed_bfloat16 or auto.
    keras.mixed_precision.set_global_policy(policy)
    free_memory()
    assert keras.mixed_precision.global_policy().name == policy


@pytest.mark.parametrize(
    "kinds, expected",
    [
        ([("gpu", (9, 0))], "mixed_bfloat16"),  # H100
        ([("gpu", (8, 0)), ("gpu", (8, 6))], "mixed_bfloat16"),  # A100, A10
        ([("gpu", (7, 5))], "mixed_float16"),  # T4
        ([("gpu", (9, 0)), ("gpu", (7, 0))], "mixed_float16"),  # mixed machine: the weakest decides
        ([("gpu", None)], "mixed_float16"),  # capability unknown
        ([("tpu", None)], "mixed_bfloat16"),
    ],
)
def test_auto_on_accelerators(monkeypatch, kinds, expected):
    monkeypatch.setattr(precision, "accelerator_kinds", lambda: kinds)
    assert precision.explain_auto()[0] == expected


@pytest.mark.parametrize(
    "bf16, backend, expected",
    [
        (True, "tensorflow", "mixed_bfloat16"),
        (True, "jax", "float32"),  # XLA on CPUs: bfloat16 measured slower
        (False, "tensorflow", "float32"),
    ],
)
def test_auto_on_cpus(monkeypatch, bf16, backend, expected):
    monkeypatch.setattr(precision, "accelerator_kinds", lambda: [])
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: bf16)
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    policy, reason = precision.explain_auto()
    assert policy == expected and reason


def test_resolve_policy_and_auto_agree():
    assert precision.resolve_policy("auto") == precision.auto_policy() in precision.POLICIES
    assert precision.resolve_policy("mixed_float16") == "mixed_float16"


@pytest.mark.parametrize(
    "value, expected", [("9.0", (9, 0)), ((8, 6), (8, 6)), ("7", (7, 0)), (None, None), ("n/a", None)]
)
def test_compute_capability_parsing(value, expected):
    assert precision._capability(value) == expected


def test_a_search_trains_in_its_policy_records_it_and_gives_the_callers_back(tmp_path, float32_after):
    import json

    import autodl

    keras.mixed_precision.set_global_policy("float32")
    search = autodl.run_search(
        dataset="digits",
        subset=200,
        trials=2,
        epochs=1,
        pruner="none",
        precision="mixed_bfloat16",
        out=str(tmp_path),
        name="bf16",
    )
    assert keras.mixed_precision.global_policy().name == "float32"  # the caller's policy is back
    assert json.loads((search.path / "run.json").read_text())["precision_policy"] == "mixed_bfloat16"
    models = search.best_models(2)
    assert len(models) == 2  # the second trial too trained in bfloat16, after the clean-up
    assert all(m.layers[1].dtype_policy.name == "mixed_bfloat16" for m in models)


def test_auto_is_the_default_and_is_resolved_for_the_run(tmp_path, float32_after):
    import json

    import autodl

    search = autodl.run_search(dataset="digits", subset=200, trials=1, epochs=1, out=str(tmp_path), name="auto")
    run = json.loads((search.path / "run.json").read_text())
    assert run["settings"]["precision"] == "auto"
    assert run["precision_policy"] == precision.resolve_policy("auto") != "auto"
