"""Flow layers: inverse(forward(x)) == x, and log-determinants against autograd Jacobians."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.autograd.functional import jacobian

from ibflow.flows import (
    ActNorm,
    AffineCoupling,
    ConditionalAffine,
    ConditionalAffineCoupling,
    ElementwiseSpline,
    Flow,
    FlowSequential,
    InvConv1x1,
    LULinear,
    Permutation,
    Reverse,
    SplineCoupling,
    build_vector_flow,
)
from ibflow.flows.spline import rational_quadratic_knots, rational_quadratic_spline

# The example count comes from the project's hypothesis profile (tests/conftest.py: 25, and
# HYPOTHESIS_PROFILE can raise it for a thorough run); the Jacobian checks need no deadline.
SETTINGS = settings(deadline=None)
seeds = st.integers(0, 2**31 - 1)
features_st = st.integers(1, 6)
batches = st.integers(1, 4)


def perturb(module: torch.nn.Module, seed: int, std: float = 0.3) -> None:
    """Adds N(0, std^2) noise to every parameter, moving the layer away from its identity init."""

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.add_(std * noise.to(parameter.dtype))


def check_flow(flow: Flow, x: Tensor, context: Tensor | None = None) -> None:
    """Round trip to 1e-10 and per-sample log|det J| against autograd to 1e-8 (float64)."""

    assert x.dtype == torch.float64
    y, logdet = flow(x, context)
    assert y.shape == x.shape
    assert logdet.shape == (x.shape[0],)
    torch.testing.assert_close(flow.inverse(y, context), x, atol=1e-10, rtol=0)

    size = x[0].numel()
    for i in range(x.shape[0]):
        sample_context = None if context is None else context[i : i + 1]

        def single(xi: Tensor, sample_context: Tensor | None = sample_context) -> Tensor:
            return flow(xi.unsqueeze(0), sample_context)[0].reshape(-1)

        # The batched output must not depend on the other samples of the batch.
        torch.testing.assert_close(single(x[i]), y[i].reshape(-1), atol=1e-12, rtol=0)
        sign, log_abs_det = torch.linalg.slogdet(jacobian(single, x[i]).reshape(size, size))
        assert sign != 0
        torch.testing.assert_close(logdet[i], log_abs_det, atol=1e-8, rtol=1e-8)


def initialised(flow: Flow, shape: tuple[int, ...], context: Tensor | None = None) -> Flow:
    """Runs one training batch through the flow (ActNorm's data-dependent init)."""

    flow.train()
    flow(3 + 2 * torch.randn(shape, dtype=torch.float64), context)
    return flow


# --- ActNorm -------------------------------------------------------------------------------


@SETTINGS
@given(features=features_st, batch=batches, seed=seeds)
def test_actnorm_vector(features: int, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    layer = initialised(ActNorm(features).double(), (16, features))
    perturb(layer, seed)
    check_flow(layer, torch.randn(batch, features, dtype=torch.float64))


@SETTINGS
@given(
    channels=st.integers(1, 3),
    height=st.integers(1, 3),
    width=st.integers(1, 3),
    batch=st.integers(1, 3),
    seed=seeds,
)
def test_actnorm_image(channels: int, height: int, width: int, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    layer = initialised(ActNorm(channels).double(), (4, channels, height, width))
    perturb(layer, seed)
    x = torch.randn(batch, channels, height, width, dtype=torch.float64)
    check_flow(layer, x)
    _, logdet = layer(x)
    torch.testing.assert_close(logdet, layer.log_scale.sum().expand(batch) * height * width)


@SETTINGS
@given(shape=st.sampled_from([(64, 3), (2, 1), (5, 2, 3, 4), (1, 3, 2, 2)]), seed=seeds)
def test_actnorm_data_dependent_init(shape: tuple[int, ...], seed: int) -> None:
    torch.manual_seed(seed)
    channels = shape[1]
    loc = 10 * torch.randn(channels, dtype=torch.float64)
    scale = torch.rand(channels, dtype=torch.float64) * 5 + 0.1
    view = (1, channels) + (1,) * (len(shape) - 2)
    x = loc.view(view) + scale.view(view) * torch.randn(shape, dtype=torch.float64)
    layer = ActNorm(channels).double()
    assert not layer.initialized
    y, _ = layer(x)
    assert layer.initialized
    per_channel = y.transpose(0, 1).reshape(channels, -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros_like(loc), atol=1e-10, rtol=0)
    torch.testing.assert_close(
        per_channel.var(1, unbiased=False), torch.ones_like(loc), atol=1e-10, rtol=0
    )


def test_actnorm_state_dict_round_trip_does_not_reinitialise() -> None:
    torch.manual_seed(0)
    layer = ActNorm(3)
    layer(5 + 3 * torch.randn(100, 3))
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)

    fresh = ActNorm(3)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.initialized
    fresh.train()
    other = -7 + 0.1 * torch.randn(50, 3)  # statistics far from the init batch
    y_fresh, logdet_fresh = fresh(other)
    y_orig, logdet_orig = layer(other)
    torch.testing.assert_close(fresh.bias, layer.bias)
    torch.testing.assert_close(fresh.log_scale, layer.log_scale)
    torch.testing.assert_close(y_fresh, y_orig)
    torch.testing.assert_close(logdet_fresh, logdet_orig)


def test_actnorm_refuses_to_run_uninitialised() -> None:
    layer = ActNorm(2)
    with pytest.raises(RuntimeError, match="initiali"):
        layer.inverse(torch.randn(4, 2))
    layer.eval()
    with pytest.raises(RuntimeError, match="initiali"):
        layer(torch.randn(4, 2))
    assert not layer.initialized
    layer.train()
    with pytest.raises(ValueError, match="at least 2 values"):
        layer(torch.randn(1, 2))
    layer.initialize(torch.randn(8, 2))  # the explicit route works in any mode
    layer.eval()
    layer(torch.randn(4, 2))


# --- LULinear / InvConv1x1 -----------------------------------------------------------------


@SETTINGS
@given(cls=st.sampled_from([LULinear, InvConv1x1]), features=features_st, batch=batches, seed=seeds)
def test_lu_vector(cls: type[Flow], features: int, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    layer = cls(features).double()
    perturb(layer, seed)
    check_flow(layer, torch.randn(batch, features, dtype=torch.float64))


@SETTINGS
@given(
    channels=st.integers(1, 3),
    height=st.integers(1, 3),
    width=st.integers(1, 3),
    batch=st.integers(1, 3),
    seed=seeds,
)
def test_invconv1x1_image(channels: int, height: int, width: int, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    layer = InvConv1x1(channels).double()
    perturb(layer, seed)
    x = torch.randn(batch, channels, height, width, dtype=torch.float64)
    check_flow(layer, x)
    y, logdet = layer(x)
    torch.testing.assert_close(logdet, layer.log_s.sum().expand(batch) * height * width)
    # It is a 1x1 convolution, i.e. the vector map applied at every pixel.
    torch.testing.assert_close(y, F.conv2d(x, layer.weight()[:, :, None, None]))
    pixels = x.permute(0, 2, 3, 1).reshape(-1, channels)
    y_pixels, _ = layer(pixels)
    torch.testing.assert_close(y.permute(0, 2, 3, 1).reshape(-1, channels), y_pixels)


@SETTINGS
@given(features=features_st, seed=seeds)
def test_lu_init_is_seeded_random_orthogonal(features: int, seed: int) -> None:
    torch.manual_seed(seed)
    linear = LULinear(features).double()
    torch.manual_seed(seed)
    conv = InvConv1x1(features).double()
    weight = linear.weight()
    torch.testing.assert_close(weight, conv.weight())
    # The factors are stored in float32 (the default dtype): float32-level tolerances.
    eye = torch.eye(features, dtype=torch.float64)
    torch.testing.assert_close(weight @ weight.T, eye, atol=1e-6, rtol=0)
    log_det = linear.log_s.sum()
    torch.testing.assert_close(log_det, torch.zeros_like(log_det), atol=1e-6, rtol=0)
    # The inverse is exact for the stored factors, orthogonal or not.
    torch.testing.assert_close(linear.inverse_weight() @ weight, eye, atol=1e-12, rtol=0)


# --- couplings -----------------------------------------------------------------------------


@st.composite
def masks(draw: st.DrawFn, features: int, allow_all_false: bool = False) -> list[bool]:
    mask = draw(st.lists(st.booleans(), min_size=features, max_size=features))
    if all(mask):
        mask[draw(st.integers(0, features - 1))] = False
    if not any(mask) and not allow_all_false:
        mask[draw(st.integers(0, features - 1))] = True
    return mask


@SETTINGS
@given(
    features=st.integers(2, 6),
    hidden=st.integers(1, 16),
    depth=st.integers(1, 3),
    batch=batches,
    seed=seeds,
    data=st.data(),
)
def test_affine_coupling(
    features: int, hidden: int, depth: int, batch: int, seed: int, data: st.DataObject
) -> None:
    torch.manual_seed(seed)
    mask = data.draw(masks(features))
    layer = AffineCoupling(features, hidden=hidden, depth=depth, mask=mask).double()
    x = torch.randn(batch, features, dtype=torch.float64)
    y, logdet = layer(x)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(batch, dtype=torch.float64))
    perturb(layer, seed)
    check_flow(layer, x)
    y, _ = layer(x)
    kept = torch.tensor(mask)
    assert torch.equal(y[:, kept], x[:, kept])


@SETTINGS
@given(
    features=st.integers(2, 6),
    hidden=st.integers(1, 16),
    bins=st.integers(2, 8),
    batch=batches,
    seed=seeds,
    data=st.data(),
)
def test_spline_coupling(features: int, hidden: int, bins: int, batch: int, seed: int, data: st.DataObject) -> None:
    torch.manual_seed(seed)
    mask = data.draw(masks(features))
    layer = SplineCoupling(features, hidden=hidden, mask=mask, bins=bins, bound=3.0).double()
    x = 2 * torch.randn(batch, features, dtype=torch.float64)  # some points in the identity tails
    y, logdet = layer(x)
    torch.testing.assert_close(y, x, atol=1e-12, rtol=0)  # the identity spline at initialisation
    torch.testing.assert_close(logdet, torch.zeros(batch, dtype=torch.float64), atol=1e-12, rtol=0)
    # the perturbation of the other composite flows here: the conditioner's outputs, the spline's
    # parameters, then spread by about one unit (a std of 0.5 gives bins 1e4 times steeper than others,
    # where a float64 round trip is good to 1e-10 times that slope, as rational_quadratic_spline says)
    perturb(layer, seed, std=0.2)
    check_flow(layer, x)
    y, _ = layer(x)
    kept = torch.tensor(mask)
    assert torch.equal(y[:, kept], x[:, kept])


def check_context_flow(layer: Flow, features: int, context_features: int, batch: int, seed: int) -> None:
    """A conditional layer starts as the identity, passes :func:`check_flow` once perturbed, and depends on
    its context."""
    x = torch.randn(batch, features, dtype=torch.float64)
    context = torch.randn(batch, context_features, dtype=torch.float64)
    y, logdet = layer(x, context)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(batch, dtype=torch.float64))
    perturb(layer, seed)
    check_flow(layer, x, context)
    y_other, _ = layer(x, context + 1)
    assert not torch.allclose(y_other, layer(x, context)[0])  # the context matters


@SETTINGS
@given(
    features=st.integers(1, 4),
    context_features=st.integers(1, 3),
    batch=batches,
    seed=seeds,
    data=st.data(),
)
def test_conditional_affine_coupling(
    features: int, context_features: int, batch: int, seed: int, data: st.DataObject
) -> None:
    torch.manual_seed(seed)
    mask = data.draw(masks(features, allow_all_false=True))
    check_context_flow(ConditionalAffineCoupling(features, context_features, hidden=8, mask=mask).double(),
                       features, context_features, batch, seed)


@SETTINGS
@given(features=st.integers(1, 4), context_features=st.integers(1, 3), batch=batches, seed=seeds)
def test_conditional_affine(features: int, context_features: int, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    check_context_flow(ConditionalAffine(features, context_features, hidden=8).double(), features, context_features, batch, seed)


def test_conditional_affine_set_affine_is_the_linear_gaussian_whitening() -> None:
    layer = ConditionalAffine(1, 1).double()
    layer.set_affine(torch.tensor([[0.5]]), torch.tensor([1.0]), torch.tensor([math.log(2.0)]))
    z, c = torch.tensor([[3.0]], dtype=torch.float64), torch.tensor([[2.0]], dtype=torch.float64)
    u, logdet = layer(z, c)
    assert u.item() == pytest.approx((3.0 - 0.5 * 2.0 - 1.0) / 2.0) and logdet.item() == pytest.approx(-math.log(2.0))


def test_conditional_affine_needs_a_context_of_the_right_shape() -> None:
    layer = ConditionalAffine(2, context_features=1)
    with pytest.raises(ValueError, match="needs a context"):
        layer(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"expected context of shape \(3, 1\)"):
        layer(torch.zeros(3, 2), torch.zeros(3, 2))


def test_coupling_scale_is_bounded() -> None:
    torch.manual_seed(0)
    layer = AffineCoupling(2, hidden=4, scale_bound=1.5)
    perturb(layer, 0, std=100.0)
    _, logdet = layer(100 * torch.randn(256, 2))
    assert logdet.abs().max() <= 1.5  # tanh saturates to exactly 1 in float32


def test_coupling_needs_two_features_and_conditional_needs_context() -> None:
    with pytest.raises(ValueError, match="features.*ElementwiseSpline"):
        AffineCoupling(1)
    layer = ConditionalAffineCoupling(1, 2)
    assert layer(torch.zeros(3, 1), torch.zeros(3, 2))[0].shape == (3, 1)
    with pytest.raises(ValueError, match="context"):
        layer(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="context"):
        layer(torch.zeros(3, 1), torch.zeros(3, 5))


# --- permutations --------------------------------------------------------------------------


@SETTINGS
@given(features=features_st, batch=batches, seed=seeds, image=st.booleans())
def test_permutations(features: int, batch: int, seed: int, image: bool) -> None:
    shape = (batch, features, 2, 3) if image else (batch, features)
    x = torch.randn(shape, dtype=torch.float64)
    for layer in (Permutation(features, seed=seed), Reverse(features)):
        check_flow(layer, x)
        assert sorted(layer.permutation.tolist()) == list(range(features))
    assert torch.equal(Permutation(features, seed=seed).permutation,
                       Permutation(features, seed=seed).permutation)
    assert torch.equal(Reverse(features)(x)[0], x.flip(1))


# --- ElementwiseSpline ---------------------------------------------------------------------


@SETTINGS
@given(
    features=features_st,
    bins=st.integers(2, 12),
    bound=st.floats(0.5, 6.0),
    std=st.floats(0.1, 1.0),
    batch=batches,
    seed=seeds,
)
def test_spline(
    features: int, bins: int, bound: float, std: float, batch: int, seed: int
) -> None:
    torch.manual_seed(seed)
    layer = ElementwiseSpline(features, bins=bins, bound=bound).double()
    perturb(layer, seed, std=std)
    # About a third of the points fall in the identity tails. The perturbation stays moderate
    # here: steeper splines amplify rounding in x beyond 1e-10 however the inverse is computed,
    # which test_spline_inverse_is_backward_stable measures with a condition-aware bound.
    check_flow(layer, bound * torch.randn(batch, features, dtype=torch.float64))


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_spline_is_identity_at_init(dtype: torch.dtype, tolerance: float) -> None:
    torch.manual_seed(0)
    for bins, bound in [(2, 1.0), (8, 4.0), (32, 10.0)]:
        layer = ElementwiseSpline(3, bins=bins, bound=bound).to(dtype)
        grid = torch.linspace(-2 * bound, 2 * bound, 997, dtype=dtype)
        x = torch.cat([grid, torch.tensor([bound, -bound], dtype=dtype)]).view(-1, 3)
        y, logdet = layer(x)
        torch.testing.assert_close(y, x, atol=tolerance, rtol=0)
        torch.testing.assert_close(logdet, torch.zeros_like(logdet), atol=tolerance, rtol=0)
        torch.testing.assert_close(layer.inverse(x), x, atol=tolerance, rtol=0)


@SETTINGS
@given(features=st.integers(1, 3), bins=st.integers(2, 16), std=st.floats(0.1, 5.0), seed=seeds)
def test_spline_is_strictly_increasing(features: int, bins: int, std: float, seed: int) -> None:
    bound = 3.0
    layer = ElementwiseSpline(features, bins=bins, bound=bound).double()
    perturb(layer, seed, std=std)
    grid = torch.linspace(-2 * bound, 2 * bound, 4001, dtype=torch.float64)
    y, _ = layer(grid.unsqueeze(1).expand(-1, features).contiguous())
    assert (y.diff(dim=0) > 0).all()
    per_point_log_derivative = torch.stack(
        [layer(grid[i : i + 1].expand(1, features))[1] for i in range(0, 4001, 400)]
    )
    assert torch.isfinite(per_point_log_derivative).all()


@SETTINGS
@given(features=st.integers(1, 3), bins=st.integers(2, 16), std=st.floats(0.1, 6.0), seed=seeds)
def test_spline_inverse_is_stable_on_knots_and_boundaries(
    features: int, bins: int, std: float, seed: int
) -> None:
    bound = 2.5
    layer = ElementwiseSpline(features, bins=bins, bound=bound).double()
    perturb(layer, seed, std=std)
    x_knots, y_knots, _ = rational_quadratic_knots(
        layer.widths, layer.heights, layer.derivatives, bound
    )
    # Every knot (boundaries included), one feature per column: rows are (K + 1) points.
    y, _ = layer(x_knots.T.contiguous())
    torch.testing.assert_close(y, y_knots.T, atol=1e-12, rtol=0)
    x = layer.inverse(y_knots.T.contiguous())
    torch.testing.assert_close(x, x_knots.T, atol=1e-12, rtol=0)
    assert torch.isfinite(layer(x_knots.T.contiguous())[1]).all()

    # The edges are knots. At -B (xi = 0) both directions are exact. At +B (xi = 1) the forward
    # map rounds once in y^(K-1) + h, and the inverse root carries the rounding of the quadratic's
    # coefficients times |curvature| / slope: measured at most 2.4 and 17 ulps of B over 3000
    # random splines, so 64 ulps leaves a margin while still catching any real error.
    edges = torch.tensor([-bound, bound], dtype=torch.float64).unsqueeze(1).expand(-1, features)
    ulps = torch.finfo(torch.float64).eps * bound
    torch.testing.assert_close(layer(edges)[0], edges, atol=8 * ulps, rtol=0)
    torch.testing.assert_close(layer.inverse(edges), edges, atol=64 * ulps, rtol=0)
    assert torch.equal(layer(edges[:1])[0], edges[:1])
    assert torch.equal(layer.inverse(edges[:1]), edges[:1])
    eps = 1e-12
    near = torch.tensor(
        [-bound - eps, -bound + eps, bound - eps, bound + eps], dtype=torch.float64
    ).unsqueeze(1).expand(-1, features)
    torch.testing.assert_close(layer(near)[0], near, atol=1e-9, rtol=0)
    torch.testing.assert_close(layer.inverse(near), near, atol=1e-9, rtol=0)


@SETTINGS
@given(
    dtype=st.sampled_from([torch.float32, torch.float64]),
    bins=st.integers(2, 16),
    bound=st.floats(0.5, 6.0),
    std=st.floats(0.1, 6.0),
    seed=seeds,
)
def test_spline_inverse_is_backward_stable(
    dtype: torch.dtype, bins: int, bound: float, std: float, seed: int
) -> None:
    """x = inverse(y) is the exact preimage of a point within a few ulps of y.

    For steep or flat splines the error in x alone is dominated by conditioning (dx/dy up to
    ~1e5), so the residual |f(x) - y| is compared with eps * B * (1 + f'(x)): the rounding of y
    plus the rounding of x carried through the slope. The reference f runs in float64 on the same
    parameter values. Measured worst ratio over 1000 random steep splines: about 12.
    """

    torch.manual_seed(seed)
    layer = ElementwiseSpline(4, bins=bins, bound=bound).to(dtype)
    perturb(layer, seed, std=std)
    reference = copy.deepcopy(layer).double()
    y = 1.2 * bound * (2 * torch.rand(64, 4, dtype=torch.float64) - 1)
    x = layer.inverse(y.to(dtype)).double()
    fx, log_derivative = rational_quadratic_spline(
        x, reference.widths, reference.heights, reference.derivatives, bound
    )
    scale = torch.finfo(dtype).eps * bound * (1 + log_derivative.exp())
    assert ((fx - y.to(dtype).double()).abs() / scale).max() < 64


def test_spline_gradients_are_finite_in_the_tails() -> None:
    layer = ElementwiseSpline(1, bins=4, bound=1.0)
    x = torch.tensor([[-5.0], [-1.0], [0.3], [1.0], [7.0]])
    y, logdet = layer(x)
    (y.sum() + logdet.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
    z = layer.inverse(x)
    z.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


# --- FlowSequential / build_vector_flow ----------------------------------------------------


@SETTINGS
@given(features=st.integers(2, 4), context_features=st.integers(1, 2), batch=batches, seed=seeds)
def test_flow_sequential(features: int, context_features: int, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    flow = FlowSequential(
        ActNorm(features),
        LULinear(features),
        AffineCoupling(features, hidden=8),
        Permutation(features, seed=seed),
        ElementwiseSpline(features, bins=5),
        ConditionalAffineCoupling(features, context_features, hidden=8),
        Reverse(features),
        InvConv1x1(features),
    ).double()
    context = torch.randn(batch, context_features, dtype=torch.float64)
    initialised(flow, (batch + 1, features), torch.randn(batch + 1, context_features).double())
    perturb(flow, seed)
    x = torch.randn(batch, features, dtype=torch.float64)
    check_flow(flow, x, context)

    _, logdet = flow(x, context)
    total, h = torch.zeros(batch, dtype=torch.float64), x
    for layer in flow:
        h, part = layer(h, context)
        total = total + part
    torch.testing.assert_close(logdet, total)
    assert len(flow) == 8 and isinstance(flow[0], ActNorm)


def test_flow_sequential_rejects_non_flows_and_empty_is_identity() -> None:
    with pytest.raises(TypeError, match="Flow"):
        FlowSequential(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    x = torch.randn(3, 2)
    y, logdet = FlowSequential()(x)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(3))


@SETTINGS
@given(
    features=st.integers(1, 4),
    depth=st.integers(1, 3),
    spline_bins=st.none() | st.integers(2, 8),
    batch=batches,
    seed=seeds,
)
def test_build_vector_flow(
    features: int, depth: int, spline_bins: int | None, batch: int, seed: int
) -> None:
    torch.manual_seed(seed)
    flow = build_vector_flow(features, depth=depth, hidden=8, spline_bins=spline_bins).double()
    names = [type(layer).__name__ for layer in flow]
    if features == 1:
        assert "AffineCoupling" not in names and "LULinear" not in names
        assert names.count("ElementwiseSpline") == (0 if spline_bins is None else depth)
    else:
        assert names.count("AffineCoupling") == depth
        assert names.count("ElementwiseSpline") == (0 if spline_bins is None else depth)
    initialised(flow, (32, features))
    perturb(flow, seed, std=0.2)
    check_flow(flow, torch.randn(batch, features, dtype=torch.float64))


@SETTINGS
@given(features=st.integers(2, 5), depth=st.integers(1, 3), batch=batches, seed=seeds)
def test_build_vector_flow_with_spline_couplings(features: int, depth: int, batch: int, seed: int) -> None:
    torch.manual_seed(seed)
    flow = build_vector_flow(features, depth=depth, hidden=8, spline_bins=4, coupling="spline").double()
    names = [type(layer).__name__ for layer in flow]
    assert names.count("SplineCoupling") == depth and "AffineCoupling" not in names
    initialised(flow, (32, features))
    perturb(flow, seed, std=0.2)
    check_flow(flow, torch.randn(batch, features, dtype=torch.float64))


def test_build_vector_flow_alternates_masks() -> None:
    flow = build_vector_flow(5, depth=3, spline_bins=None)
    couplings = [layer for layer in flow if isinstance(layer, AffineCoupling)]
    assert [c.transformed.tolist() for c in couplings] == [[2, 3, 4], [0, 1], [2, 3, 4]]


# --- argument checking ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: ActNorm(0), "features"),
        (lambda: ActNorm(2.5), "features"),  # type: ignore[arg-type]
        (lambda: LULinear(0), "features"),
        (lambda: InvConv1x1(0), "channels"),
        (lambda: AffineCoupling(0), "features"),
        (lambda: SplineCoupling(1), "features"),
        (lambda: SplineCoupling(3, bins=1), "bins"),
        (lambda: SplineCoupling(3, bound=0.0), "bound"),
        (lambda: build_vector_flow(3, coupling="glow"), "coupling"),
        (lambda: AffineCoupling(1), "features"),
        (lambda: AffineCoupling(4, hidden=0), "hidden"),
        (lambda: AffineCoupling(4, depth=0), "depth"),
        (lambda: AffineCoupling(4, scale_bound=0.0), "scale_bound"),
        (lambda: AffineCoupling(3, mask=[True, False]), "mask"),
        (lambda: AffineCoupling(2, mask=[True, True]), "mask"),
        (lambda: AffineCoupling(2, mask=[False, False]), "mask"),
        (lambda: ConditionalAffineCoupling(0, 2), "features"),
        (lambda: ConditionalAffineCoupling(2, 0), "context_features"),
        (lambda: ConditionalAffineCoupling(2, 2, hidden=0), "hidden"),
        (lambda: ConditionalAffine(0, 2), "features"),
        (lambda: ConditionalAffine(2, 0), "context_features"),
        (lambda: ConditionalAffine(2, 2, depth=0), "depth"),
        (lambda: Permutation(0), "features"),
        (lambda: Reverse(0), "features"),
        (lambda: ElementwiseSpline(0), "features"),
        (lambda: ElementwiseSpline(2, bins=1), "bins"),
        (lambda: ElementwiseSpline(2, bound=0.0), "bound"),
        (lambda: ElementwiseSpline(2, bound=-1.0), "bound"),
        (lambda: ElementwiseSpline(2, bound=math.inf), "bound"),
        (lambda: ElementwiseSpline(2, bins=2000), "bins.*min_bin_width"),
        (lambda: ElementwiseSpline(2, min_derivative=1.0), "min_derivative"),
        (lambda: build_vector_flow(0), "features"),
        (lambda: build_vector_flow(2, depth=0), "depth"),
        (lambda: build_vector_flow(2, hidden=0), "hidden"),
        (lambda: build_vector_flow(2, spline_bins=1), "spline_bins"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(make, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (ActNorm(3), (4, 2)),
        (LULinear(3), (3,)),
        (AffineCoupling(3), (4, 3, 2, 2)),
        (ElementwiseSpline(3), (4, 4)),
        (Permutation(3), (4, 2)),
    ],
)
def test_wrong_input_shape_raises(layer: Flow, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected input of shape"):
        layer(torch.randn(shape))
    with pytest.raises(ValueError, match="expected input of shape"):
        layer.inverse(torch.randn(shape))
