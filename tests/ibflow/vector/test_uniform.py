"""UniformScalarCodec: the search is never worse than its grid, measured (D, R) agree with the quadrature of
the same quantizer, bitstreams decode to forward's output exactly, PCA is a rotation, bad options are named."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow import UniformScalarCodec, get_codec
from ibflow.entropy import OVERHEAD_BYTES, TABLE_DIGEST_BYTES, categorical_code_length, stream_bytes
from ibflow.vector.ecsq import DensityQuadrature, gaussian_ecsq
from ibflow.vector.scalar_fit import cell_numbers, fit_scalar_quantizer, scalar_objective
from synthetic import get_source

seeds = st.integers(0, 2**31 - 1)
GAUSSIAN = lambda t: -0.5 * t * t - 0.5 * math.log(2 * math.pi)  # noqa: E731


@functools.cache
def _gaussian_curve():
    return gaussian_ecsq(1.0, points=2**17, steps=200, ratios=31)


def _gaussian(n: int, seed: int, dim: int = 1) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def _objective_by_cells(y: np.ndarray, step: float, zone: float, beta: float) -> float:
    """D + beta H written out from the codec's own cell rule (the second implementation of the objective)."""
    j = cell_numbers(y, step, zone)
    _, k, counts = np.unique(j, return_inverse=True, return_counts=True)
    centroids = np.bincount(k, weights=y) / counts
    p = counts / len(y)
    return float(np.mean((y - centroids[k]) ** 2) - beta * np.sum(p * np.log(p)))


@given(seed=seeds, beta=st.floats(0.01, 2.0), step=st.floats(0.05, 5.0), ratio=st.floats(0.0, 3.0), laplace=st.booleans())
def test_the_searched_objective_is_the_codecs_cells(seed, beta, step, ratio, laplace):
    rng = np.random.default_rng(seed)
    y = np.sort(rng.laplace(size=3000) if laplace else rng.standard_normal(3000))
    sums = (np.concatenate([[0.0], np.cumsum(y)]), np.concatenate([[0.0], np.cumsum(y * y)]))
    assert scalar_objective(y, sums, step, ratio * step, beta) == pytest.approx(_objective_by_cells(y, step, ratio * step, beta), abs=1e-10)


@given(seed=seeds, beta=st.floats(0.02, 2.0), dead_zone=st.booleans())
@settings(max_examples=10)
def test_the_search_is_no_worse_than_its_grid(seed, beta, dead_zone):
    y = np.random.default_rng(seed).laplace(size=4000)
    fit = fit_scalar_quantizer(y, beta, dead_zone)
    assert fit.objective == pytest.approx(_objective_by_cells(y, fit.step, fit.zone, beta), abs=1e-10)
    i, j = np.unravel_index(int(np.argmin(fit.grid_objective)), fit.grid_objective.shape)
    neighbours = fit.grid_objective[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
    assert fit.objective <= neighbours.min() + 1e-12
    if not dead_zone:
        assert fit.zone == pytest.approx(fit.step)


@pytest.mark.parametrize("beta", [0.05, 0.3, 1.0])
def test_measured_distortion_and_rate_are_the_quadratures(beta):
    """Fit on 2^15 N(0, 1) samples, measure on 2^16 fresh ones, compare with the exact (D, H) of the
    same thresholds (DensityQuadrature). Tolerances: 4 standard errors of the per-sample means, plus the
    biases of fitting with K cells on n training samples: reconstruction points off the true centroids
    add about D K / n to D, the training pmf costs KL(P || q) ~ (K - 1) / 2n nats (each bounded here by
    twice that), and the coder's weights at most K / 2^24 relative."""
    n_train = 2**15
    codec = UniformScalarCodec(1, transform="none")
    codec.fit(_gaussian(n_train, seed=0), beta)
    fit = codec.fits[0]
    x = _gaussian(2**16, seed=1)
    out = codec(x)
    err = ((x - out["x_hat"]) ** 2).sum(1).double()
    rate = -out["likelihoods"]["index"].double().log().sum(1)
    D, H = DensityQuadrature(GAUSSIAN, (-12.0, 12.0), points=2**18).quantizer(fit.step, fit.zone, float(codec.mean[0]))
    K = int((np.bincount(codec.symbols(x)[0].numpy()) > 0).sum())
    se_d, se_r = float(err.std()) / math.sqrt(len(x)), float(rate.std()) / math.sqrt(len(x))
    assert abs(float(err.mean()) - D) <= 4 * se_d + 2 * D * K / n_train
    assert -4 * se_r <= float(rate.mean()) - H <= 4 * se_r + 2 * (K - 1) / (2 * n_train) + K / 2**24
    # and the fitted quantizer is (in truth, not only on its training data) the family's best, up to the
    # noise of choosing it on 2^15 samples: 4 standard errors of the per-sample Lagrangian there
    curve = _gaussian_curve()
    se_j = float((err + beta * rate).std()) / math.sqrt(n_train)
    assert D + beta * H <= float(np.min(curve.distortion + beta * curve.rate)) + 4 * se_j


@pytest.mark.parametrize(("dim", "transform"), [(1, "pca"), (2, "pca"), (3, "none")])
def test_round_trip_is_exact_and_the_bytes_are_the_code_length(dim, transform):
    codec = UniformScalarCodec(dim, transform=transform)
    codec.fit(get_source("laplace", dim=dim).sample(4000, seed=2), 0.2)
    x = get_source("laplace", dim=dim).sample(3000, seed=3) * 1.5  # wider than the training data: clamped cells
    stream = codec.compress(x)
    out = codec(x)
    assert torch.equal(codec.decompress(**stream)["x_hat"], out["x_hat"])
    k = codec.symbols(x)
    assert k.shape == (dim, len(x)) and torch.equal(codec.decompress_symbols(**stream), k)
    ideal = sum(categorical_code_length(k[i].numpy(), codec.pmf[i, : int(codec.cells[i])].numpy()) for i in range(dim))
    torch.testing.assert_close(-out["likelihoods"]["index"].double().log().sum(), torch.tensor(ideal, dtype=torch.float64), rtol=1e-6, atol=0)
    payload_bits = 8 * (stream_bytes(stream["strings"]) - OVERHEAD_BYTES - len("uniform") - 4 - TABLE_DIGEST_BYTES)
    assert ideal / math.log(2) - 1e-6 <= payload_bits + 32 and payload_bits <= ideal / math.log(2) + 64


def test_pca_is_a_rotation_onto_uncorrelated_coordinates():
    cov = torch.tensor([[2.0, 1.2, 0.0], [1.2, 1.0, 0.3], [0.0, 0.3, 0.5]], dtype=torch.float64)
    x = (torch.randn(20000, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64) @ torch.linalg.cholesky(cov).T).float()
    codec = UniformScalarCodec(3)
    codec.fit(x, 0.1)
    V = codec.rotation
    torch.testing.assert_close(V.T @ V, torch.eye(3, dtype=torch.float64), rtol=0, atol=1e-12)
    y = (x.double() - codec.mean) @ V
    c = torch.cov(y.T)
    torch.testing.assert_close(c - torch.diag(torch.diag(c)), torch.zeros(3, 3, dtype=torch.float64), rtol=0, atol=1e-10)
    assert bool((torch.diag(c)[:-1] >= torch.diag(c)[1:]).all())  # largest variance first
    none = UniformScalarCodec(3, transform="none")
    none.fit(x, 0.1)
    assert torch.equal(none.rotation, torch.eye(3, dtype=torch.float64))


def test_a_stream_of_another_fit_is_refused():
    a, b = UniformScalarCodec(2), UniformScalarCodec(2)
    a.fit(_gaussian(3000, 0, 2), 0.1)
    b.fit(_gaussian(3000, 0, 2), 0.2)
    stream = a.compress(_gaussian(20, 1, 2))
    with pytest.raises(BitstreamError, match="model mismatch"):
        b.decompress(**stream)


def test_fitted_state_survives_a_state_dict_into_a_fresh_codec():
    codec = UniformScalarCodec(2)
    codec.fit(get_source("laplace", dim=2).sample(5000, seed=5), 0.05)
    fresh = get_codec("uniform", 2)
    assert fresh.points.shape != codec.points.shape  # the fitted tables are wider; loading resizes them
    fresh.load_state_dict(codec.state_dict())
    x = get_source("laplace", dim=2).sample(100, seed=6)
    assert torch.equal(fresh(x)["x_hat"], codec(x)["x_hat"])
    assert fresh.compress(x)["strings"] == codec.compress(x)["strings"]


def test_max_cells_caps_the_alphabet():
    codec = UniformScalarCodec(1, max_cells=8)
    codec.fit(_gaussian(5000, 7), 0.01)
    assert int(codec.cells[0]) == 8
    x = _gaussian(100, 8) * 3
    assert torch.equal(codec.decompress(**codec.compress(x))["x_hat"], codec(x)["x_hat"])


def test_a_constant_coordinate_costs_nothing():
    x = torch.cat([_gaussian(500, 9), torch.full((500, 1), 2.5)], 1)
    codec = UniformScalarCodec(2, transform="none")
    codec.fit(x, 0.1)
    assert codec.fits[1].objective == 0.0
    out = codec(x)
    assert torch.equal(out["x_hat"][:, 1], x[:, 1]) and bool((out["likelihoods"]["index"][:, 1] > 0.999).all())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"transform": "dct"}, "transform must be 'pca' or 'none'"),
        ({"dead_zone": 1}, "dead_zone must be True or False"),
        ({"max_cells": 1}, r"max_cells must be an integer in \[2, 1048576\], got 1"),
    ],
)
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        UniformScalarCodec(2, **options)
    with pytest.raises(ValueError, match=r"dim must be an integer in \[1, 65536\]"):
        UniformScalarCodec(0)


def test_bad_fit_arguments_and_inputs_are_named():
    codec = UniformScalarCodec(2)
    for beta in (0.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match=r"beta must be a finite number > 0"):
            codec.fit(_gaussian(10, 0, 2), beta)
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(n, 2\), got \(10, 3\)"):
        codec.fit(_gaussian(10, 0, 3), 0.1)
    with pytest.raises(ValueError, match="at least 2 training samples"):
        codec.fit(_gaussian(1, 0, 2), 0.1)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        codec(torch.randn(3))
