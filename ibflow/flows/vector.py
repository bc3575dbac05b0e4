r"""The default flow for small vectors: ActNorm, splines, LU linear maps and couplings."""

from __future__ import annotations

__all__ = ['build_vector_flow']

import torch

from ibflow.checks import check_int
from ibflow.flows.base import Flow, FlowSequential
from ibflow.flows.coupling import AffineCoupling, SplineCoupling
from ibflow.flows.linear import ActNorm, LULinear
from ibflow.flows.spline import ElementwiseSpline


def build_vector_flow(
    features: int,
    depth: int = 4,
    hidden: int = 64,
    spline_bins: int | None = 8,
    coupling: str = "affine",
) -> FlowSequential:
    r"""Builds a default flow for small vectors of shape ``(batch, features)``.

    - ``features == 1``: ``depth`` blocks of :class:`ActNorm` -> :class:`ElementwiseSpline`,
      then a final :class:`ActNorm` that sets the output scale (the spline is the identity outside
      its interval). The ActNorm in front puts the data inside the spline's interval
      :math:`[-4, 4]` at initialisation. With ``spline_bins=None`` the flow is a single
      :class:`ActNorm`, i.e. affine (optimal for a Gaussian source; more depth would add nothing).
    - ``features >= 2``: ``depth`` Glow-like blocks of :class:`ActNorm` ->
      [:class:`ElementwiseSpline`] -> :class:`LULinear` -> :class:`AffineCoupling`, the
      coupling masks alternating between the first and the second half of the features. The
      spline is left out when ``spline_bins`` is ``None``. With ``coupling="spline"`` each
      coupling is a :class:`SplineCoupling` (a rational-quadratic spline per transformed feature,
      its knots computed from the kept ones; ``spline_bins`` bins, 8 where it is ``None``).

    Every ActNorm initialises on the first forward pass in training mode, so run one training
    batch through the flow before calling :meth:`Flow.inverse` or evaluating it.

    Arguments:
        features: The number of features, at least 1.
        depth: The number of blocks, at least 1.
        hidden: The width of the coupling conditioners' hidden layers, at least 1.
        spline_bins: The number of bins of each :class:`ElementwiseSpline` (at least 2), or
            ``None`` for no splines.
        coupling: ``"affine"`` (RealNVP) or ``"spline"`` (:class:`SplineCoupling`).

    Returns:
        The flow, initialised close to the identity (up to the random orthogonal LULinear maps).

    Example:
        >>> flow = build_vector_flow(1, depth=2)
        >>> [type(f).__name__ for f in flow]
        ['ActNorm', 'ElementwiseSpline', 'ActNorm', 'ElementwiseSpline', 'ActNorm']
        >>> z, logdet = flow(torch.randn(64, 1))
    """

    features = check_int("features", features, 1)
    depth = check_int("depth", depth, 1)
    hidden = check_int("hidden", hidden, 1)
    if spline_bins is not None:
        spline_bins = check_int("spline_bins", spline_bins, 2)
    if coupling not in ("affine", "spline"):
        raise ValueError(f"coupling must be 'affine' or 'spline', got {coupling!r}")

    flows: list[Flow] = []
    if features == 1:
        if spline_bins is None:
            return FlowSequential(ActNorm(1))
        for _ in range(depth):
            flows += [ActNorm(1), ElementwiseSpline(1, bins=spline_bins)]
        flows.append(ActNorm(1))
        return FlowSequential(*flows)

    mask = torch.arange(features) < features // 2
    for block in range(depth):
        flows.append(ActNorm(features))
        if spline_bins is not None:
            flows.append(ElementwiseSpline(features, bins=spline_bins))
        flows.append(LULinear(features))
        block_mask = mask if block % 2 == 0 else ~mask
        if coupling == "spline":
            flows.append(SplineCoupling(features, hidden=hidden, mask=block_mask, bins=spline_bins or 8))
        else:
            flows.append(AffineCoupling(features, hidden=hidden, mask=block_mask))
    return FlowSequential(*flows)
