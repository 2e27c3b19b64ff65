"""``--precision``: what ``auto`` picks, and that a policy survives the clean-up between trials."""

from __future__ import annotations

import keras
import pytest

from autodl.training import free_memory
from autodl.training import precision


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


@pytest.mark.parametrize("kinds, expected", [
    ([("gpu", (9, 0))], "mixed_bfloat16"),                    # H100
    ([("gpu", (8, 0)), ("gpu", (8, 6))], "mixed_bfloat16"),   # A100, A10
    ([("gpu", (7, 5))], "mixed_float16"),                     # T4
    ([("gpu", (9, 0)), ("gpu", (7, 0))], "mixed_float16"),    # mixed machine: the weakest decides
    ([("gpu", None)], "mixed_float16"),                       # capability unknown
    ([("tpu", None)], "mixed_bfloat16"),
])
def test_auto_on_accelerators(monkeypatch, kinds, expected):
    monkeypatch.setattr(precision, "accelerator_kinds", lambda: kinds)
    assert precision.explain_auto()[0] == expected


@pytest.mark.parametrize("bf16, backend, expected", [
    (True, "tensorflow", "mixed_bfloat16"),
    (True, "jax", "float32"),  # XLA on CPUs: bfloat16 measured slower
    (False, "tensorflow", "float32"),
])
def test_auto_on_cpus(monkeypatch, bf16, backend, expected):
    monkeypatch.setattr(precision, "accelerator_kinds", lambda: [])
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: bf16)
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    policy, reason = precision.explain_auto()
    assert policy == expected and reason


def test_resolve_policy_and_auto_agree():
    assert precision.resolve_policy("auto") == precision.auto_policy() in precision.POLICIES
    assert precision.resolve_policy("mixed_float16") == "mixed_float16"


@pytest.mark.parametrize("value, expected", [("9.0", (9, 0)), ((8, 6), (8, 6)), ("7", (7, 0)), (None, None),
                                             ("n/a", None)])
def test_compute_capability_parsing(value, expected):
    assert precision._capability(value) == expected
