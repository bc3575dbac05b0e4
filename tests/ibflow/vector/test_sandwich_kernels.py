"""The compiled I(X; Z) sandwich (ibflow.vector.sandwich_kernels) against the PyTorch reference of
:func:`ibflow.vector.rates.sandwich_terms` run in float64, where both compute the same sums exactly
up to rounding (the kernel skips only terms below float64's rounding of the sum)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ibflow.jit import NUMBA
from ibflow.vector import sandwich_kernels
from ibflow.vector.rates import sandwich_terms

pytestmark = pytest.mark.skipif(not NUMBA, reason="numba is a dependency; without it the reference alone runs")


def _latents(n: int, d: int, sigma: float, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mean = spread * torch.randn(n, d, generator=g, dtype=torch.float64)
    return mean, mean + sigma * torch.randn(n, d, generator=g, dtype=torch.float64)


@given(st.integers(1, 4), st.integers(2, 48), st.integers(1, 3), st.floats(-2.0, 1.5), st.integers(0, 2**16))
def test_kernel_matches_the_float64_reference(d, k, batches, log10_sigma, seed):
    # sigma from 0.01 (the diagonal term dominates every row by up to ~10^4 nats) to ~30 (all terms alike)
    sigma = 10.0**log10_sigma
    mean, z = _latents(k * batches + 1, d, sigma, 1.0, seed)  # + 1: a trailing partial batch is dropped
    lo, up = sandwich_terms(mean, z, sigma, k, compiled=True)
    ref_lo, ref_up = sandwich_terms(mean, z, sigma, k, compiled=False)
    assert lo.dtype == up.dtype == torch.float64 and lo.shape == (k * batches,)
    # terms of magnitude up to ~1e4 nats: 1e-12 relative is a few ulps of the sums
    torch.testing.assert_close(lo, ref_lo, rtol=1e-12, atol=1e-11)
    torch.testing.assert_close(up, ref_up, rtol=1e-12, atol=1e-11)


@given(st.integers(2, 40), st.integers(0, 2**16))
def test_lower_terms_never_exceed_log_k(k, seed):
    # lower_i = log K - log(1 + sum_{j != i} q_ij / q_ii) <= log K: the minibatch bound's cap
    mean, z = _latents(k, 2, 0.05, 1.0, seed)
    lo, _ = sandwich_terms(mean, z, 0.05, k, compiled=True)
    assert bool((lo <= math.log(k) + 1e-12).all())


def test_float32_latents_are_summed_in_float64():
    # the same float32 inputs, upcast: the kernel's terms equal the float64 reference on them, which the
    # float32 reference (its K x K matrix rounded to float32) meets only to ~1e-6
    mean, z = _latents(256, 1, 0.3, 1.0, 0)
    mean32, z32 = mean.float(), z.float()
    lo, up = sandwich_terms(mean32, z32, 0.3, 128, compiled=True)
    ref_lo, ref_up = sandwich_terms(mean32.double(), z32.double(), 0.3, 128, compiled=False)
    torch.testing.assert_close(lo, ref_lo, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(up, ref_up, rtol=1e-12, atol=1e-12)
    f32_lo, _ = sandwich_terms(mean32, z32, 0.3, 128, compiled=False)
    assert float((f32_lo - lo).abs().max()) < 1e-4


def test_default_is_the_kernel_on_the_cpu_and_the_reference_without_numba(monkeypatch):
    mean, z = _latents(64, 1, 0.5, 1.0, 1)
    assert sandwich_kernels.available(z)
    torch.testing.assert_close(sandwich_terms(mean, z, 0.5, 32)[0], sandwich_terms(mean, z, 0.5, 32, compiled=True)[0],
                               rtol=0, atol=0)
    monkeypatch.setattr(sandwich_kernels, "NUMBA", False)
    assert not sandwich_kernels.available(z)
    torch.testing.assert_close(sandwich_terms(mean, z, 0.5, 32)[0], sandwich_terms(mean, z, 0.5, 32, compiled=False)[0],
                               rtol=0, atol=0)
    with pytest.raises(ValueError, match="compiled=True needs numba"):
        sandwich_terms(mean, z, 0.5, 32, compiled=True)
