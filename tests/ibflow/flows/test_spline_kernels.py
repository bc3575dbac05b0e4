"""The fused spline kernels (ibflow.flows.spline_kernels) against the PyTorch reference
(rational_quadratic_spline) and against finite differences: the same map, log-derivative, inverse and
gradients, in the tails, on knots and on the boundary too."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from ibflow.flows import ElementwiseSpline
from ibflow.flows import spline_kernels
from ibflow.flows.spline import rational_quadratic_knots, rational_quadratic_spline

SETTINGS = settings(deadline=None)
seeds = st.integers(0, 2**31 - 1)



@pytest.fixture(autouse=True)
def kernels_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernels on whatever IBFLOW_FUSED_SPLINE says: with them off every comparison below would set the
    reference against itself. numba is a dependency, so a missing one fails here rather than skipping."""
    monkeypatch.setattr(spline_kernels, "_ENABLED", True)


def test_the_layer_runs_the_kernels_on_the_cpu() -> None:
    y, log_derivative = ElementwiseSpline(2).elementwise(torch.randn(8, 2, requires_grad=True))
    assert type(y.grad_fn).__name__ == type(log_derivative.grad_fn).__name__ == "_FusedSplineBackward"


def random_layer(features: int, bins: int, bound: float, std: float, seed: int, dtype: torch.dtype) -> ElementwiseSpline:
    layer = ElementwiseSpline(features, bins=bins, bound=bound).to(dtype)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(std * torch.randn(p.shape, generator=generator, dtype=torch.float64))
    return layer


def points(layer: ElementwiseSpline, n: int, seed: int, dtype: torch.dtype) -> Tensor:
    """Random points, a third in the tails, plus every knot and both boundaries of each feature."""
    generator = torch.Generator().manual_seed(seed + 1)
    x = 1.5 * layer.bound * (2 * torch.rand(n, layer.features, generator=generator, dtype=torch.float64) - 1)
    with torch.no_grad():
        knots = rational_quadratic_knots(layer.widths.double(), layer.heights.double(), layer.derivatives.double(), layer.bound)[0]
    return torch.cat([x, knots.T]).to(dtype)


def reference(layer: ElementwiseSpline, x: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
    return rational_quadratic_spline(x, layer.widths, layer.heights, layer.derivatives, layer.bound, inverse=inverse,
                                     min_bin_width=layer.min_bin_width, min_bin_height=layer.min_bin_height,
                                     min_derivative=layer.min_derivative)


@SETTINGS
@given(features=st.integers(1, 4), bins=st.integers(2, 12), bound=st.floats(0.5, 6.0), std=st.floats(0.0, 3.0),
       seed=seeds)
def test_fused_forward_and_gradients_match_the_reference(features: int, bins: int, bound: float, std: float, seed: int) -> None:
    """float64: y and log dy/dx to 1e-12 (on knots and boundaries 1e-9), every gradient (points and the
    three parameter tensors, under a random upstream gradient on both outputs) to 1e-9 relative to its
    scale: the kernels compute the same function, differentiated by hand. Gradients are compared off the
    knots: the spline is only C^1, so d log y'/dx jumps there, and which side a point exactly on a knot
    takes depends on the last bit of the knot (the kernels sum the bin widths in their own order)."""
    layer = random_layer(features, bins, bound, std, seed, torch.float64)
    x = points(layer, 64, seed, torch.float64)
    with torch.no_grad():
        y1, l1 = layer.elementwise(x)
        y2, l2 = reference(layer, x)
    torch.testing.assert_close(y1[:64], y2[:64], atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(l1[:64], l2[:64], atol=1e-12, rtol=1e-12)
    # on a knot the two sides agree in exact arithmetic; in float64 xi lands within an ulp of 0 or 1, which
    # the bin's slopes amplify (measured over 1200 random splines: 1.5e-11 relative at most)
    torch.testing.assert_close(y1[64:], y2[64:], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(l1[64:], l2[64:], atol=1e-9, rtol=1e-9)
    x = x[:64].clone().requires_grad_()
    generator = torch.Generator().manual_seed(seed + 2)
    gy, gl = torch.randn(2, *x.shape, generator=generator, dtype=torch.float64)
    results = []
    for fused in (True, False):
        y, log_derivative = layer.elementwise(x) if fused else reference(layer, x)
        results.append(torch.autograd.grad((y * gy).sum() + (log_derivative * gl).sum(), [x, *layer.parameters()]))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-9 * (1 + float(b.abs().max())), rtol=0)


@SETTINGS
@given(features=st.integers(1, 3), bins=st.integers(2, 10), bound=st.floats(0.5, 5.0), std=st.floats(0.0, 1.5), seed=seeds)
def test_fused_backward_passes_gradcheck(features: int, bins: int, bound: float, std: float, seed: int) -> None:
    """The hand-written backward against central finite differences (torch.autograd.gradcheck), points
    kept off the knots, where the map is smooth."""
    layer = random_layer(features, bins, bound, std, seed, torch.float64)
    generator = torch.Generator().manual_seed(seed + 3)
    x = (1.3 * bound * (2 * torch.rand(6, features, generator=generator, dtype=torch.float64) - 1)).requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    floors = (layer.min_bin_width, layer.min_bin_height, layer.min_derivative)

    def fused(x: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor) -> tuple[Tensor, Tensor]:
        return spline_kernels.spline_forward(x, widths, heights, derivatives, bound, floors)

    assert torch.autograd.gradcheck(fused, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4)


@SETTINGS
@given(features=st.integers(1, 4), bins=st.integers(2, 12), bound=st.floats(0.5, 6.0), std=st.floats(0.0, 2.0), seed=seeds)
def test_fused_inverse_matches_the_reference_without_gradients(features: int, bins: int, bound: float, std: float, seed: int) -> None:
    layer = random_layer(features, bins, bound, std, seed, torch.float64)
    with torch.no_grad():
        y = layer.elementwise(points(layer, 64, seed, torch.float64))[0]
        x1, l1 = layer._spline(y, inverse=True)
        x2, l2 = reference(layer, y, inverse=True)
    torch.testing.assert_close(x1, x2, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(l1, l2, atol=1e-9, rtol=1e-9)


@SETTINGS
@given(bins=st.integers(2, 12), bound=st.floats(0.5, 6.0), std=st.floats(0.0, 2.0), seed=seeds)
def test_float32_is_rounded_once_from_float64_arithmetic(bins: int, bound: float, std: float, seed: int) -> None:
    """float32 tensors: the kernels compute in float64 and round the result once, so y is within one
    float32 rounding of the float64 reference on the same parameter values."""
    layer = random_layer(3, bins, bound, std, seed, torch.float32)
    x = points(layer, 64, seed, torch.float32)
    y32, l32 = layer.elementwise(x)
    y64, l64 = reference(random_layer(3, bins, bound, std, seed, torch.float32).double(), x.double())
    eps = torch.finfo(torch.float32).eps
    # one rounding to nearest (eps / 2 relative) of a float64 result that itself differs from the
    # reference's by a few float64 roundings (the 1e-12 absolute term, for values near 0)
    assert ((y32.double() - y64).abs() <= eps / 2 * y64.abs() + 1e-12 * bound).all()
    assert ((l32.double() - l64).abs() <= eps / 2 * l64.abs() + 1e-12).all()


def test_a_second_derivative_is_refused_not_wrong() -> None:
    layer = random_layer(1, 4, 2.0, 0.5, 0, torch.float64)
    x = torch.linspace(-1.5, 1.5, 5, dtype=torch.float64).reshape(-1, 1).requires_grad_()
    y, _ = layer.elementwise(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    # the gradient comes back without a graph of its own: a second backward through it fails loudly
    with pytest.raises(RuntimeError, match="does not require grad"):
        g.sum().backward()


def test_turned_off_the_layer_runs_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = random_layer(2, 6, 3.0, 1.0, 1, torch.float64)
    x = points(layer, 32, 1, torch.float64)
    monkeypatch.setattr(spline_kernels, "_ENABLED", False)
    assert not spline_kernels.available(x)
    y, log_derivative = layer.elementwise(x)
    y_ref, l_ref = reference(layer, x)
    assert torch.equal(y, y_ref) and torch.equal(log_derivative, l_ref)


def test_nan_points_come_out_nan() -> None:
    layer = random_layer(1, 4, 2.0, 0.5, 0, torch.float32)
    y, log_derivative = layer.elementwise(torch.tensor([[float("nan")], [0.5]]))
    assert torch.isnan(y[0]).all() and torch.isfinite(y[1]).all() and torch.isfinite(log_derivative[1]).all()
