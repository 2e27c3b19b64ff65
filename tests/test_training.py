"""Batch shapes of a fit: few distinct shapes, so JAX compiles each step as few times as possible."""

from __future__ import annotations

import math

import pytest

from autodl.training.trainer import MAX_DROPPED_SHARE, even_batch_size, train_size


@pytest.mark.parametrize("n, batch", [(54000, 32), (54000, 64), (54000, 128), (2700, 128)])
def test_jax_drops_a_small_partial_batch(n, batch):
    kept = train_size(n, batch, "jax")
    assert kept % batch == 0 and n - kept < batch and n - kept <= MAX_DROPPED_SHARE * n


@pytest.mark.parametrize("n, batch", [(1437, 128), (100, 128), (54000, 100)])
def test_jax_keeps_everything_when_the_remainder_is_large_or_zero(n, batch):
    assert train_size(n, batch, "jax") == n


def test_other_backends_train_on_everything():
    assert train_size(54000, 128, "tensorflow") == 54000
    assert train_size(54000, 128, "torch") == 54000


@pytest.mark.parametrize("n, expected", [(6000, 1000), (5000, 1000), (144, 144), (1024, 1024), (1200, 600)])
def test_even_evaluation_batches(n, expected):
    size = even_batch_size(n)
    assert size == expected and size <= 1024
    assert math.ceil(n / size) == math.ceil(n / 1024)  # never more batches than with 1024
