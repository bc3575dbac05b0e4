r"""Fused CPU kernels of the elementwise rational-quadratic spline (Durkan et al. 2019, eqs. 4-7 and
Appendix A): one compiled loop over the points instead of some forty tensor operations.

Why. A 1-D FlowCodec trains on batches of a few thousand scalars, where each PyTorch operation costs
its dispatch, not its arithmetic: a spline layer's forward and backward were about forty operations
and an autograd node each, two thirds of a training step (issue 18's profile). Here the forward pass
computes y and log dy/dx per point, and the backward pass the gradients with respect to the point and
to its bin's six entries (x_k, w_k, y_k, h_k, delta_k, delta_k+1), accumulated per bin, from the
closed-form partial derivatives below, then through the knots (cumulative sums of floored softmaxes,
floored softplus slopes; :func:`ibflow.flows.spline.rational_quadratic_knots`) to the parameters.

With :math:`s = h/w`, :math:`\xi = (x - x_k)/w`, :math:`t = \xi(1-\xi)`,
:math:`c = \delta_1 + \delta_0 - 2s`, :math:`q = s + ct`, :math:`N = s\xi^2 + \delta_0 t` and
:math:`A = \delta_1\xi^2 + 2st + \delta_0(1-\xi)^2`:

.. math:: y = y_k + h N / q, \qquad \log y' = 2\log s + \log A - 2\log q,

and every gradient follows by the chain rule through :math:`(s, \xi, \delta_0, \delta_1, h)`. The
arithmetic is float64 whatever the dtype of the tensors (the results are rounded once, to it), and
the loops are serial, so a result does not depend on the thread count.

The kernels are compiled by numba on first use and cached beside this file. Without numba, or for
tensors that are not on the CPU, :func:`available` is false and the spline runs as PyTorch operations
(:func:`ibflow.flows.spline.rational_quadratic_spline`), the reference these kernels are tested against.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ibflow.jit import NUMBA, LazyKernels

__all__ = ["available", "spline_forward", "spline_inverse"]

# numba is a dependency; where it cannot be imported (an unsupported platform) the kernels are off and
# only speed is lost. It is imported, and the kernels compiled or loaded from their cache, on first use,
# so that importing ibflow does not pay for it. IBFLOW_FUSED_SPLINE=0 turns them off (the PyTorch
# reference everywhere), e.g. to compare the two.
_ENABLED = NUMBA and os.environ.get("IBFLOW_FUSED_SPLINE", "1") != "0"


def available(x: Tensor) -> bool:
    """Whether the fused kernels serve a spline of the points ``x``: numba present, not turned off,
    and a CPU tensor of float32 or float64."""
    return _ENABLED and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _find_bin(knots: np.ndarray, value: float) -> int:  # pragma: no cover - compiled
    # right-sided search: the number of knots <= value, less one, clamped to the K bins
    lo, hi = 0, knots.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if knots[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return min(max(lo - 1, 0), knots.shape[0] - 2)


def _log_derivative(s: float, xi: float, d0: float, d1: float) -> float:  # pragma: no cover - compiled
    # log y' = 2 log s + log A - 2 log q at xi in a bin of slope s and knot slopes d0, d1, in one log
    t = xi * (1.0 - xi)
    q = s + (d1 + d0 - 2.0 * s) * t
    a = d1 * xi * xi + 2.0 * s * t + d0 * (1.0 - xi) * (1.0 - xi)
    return math.log(s * s * a / (q * q))


# np.float64(...), not float(...): numba keeps float() of a float32 in float32, and the arithmetic is meant
# in float64 whatever the tensors' dtype
def _forward_kernel(x, search, table, bound, y, log_derivative, bins):  # pragma: no cover - compiled
    n, features = x.shape
    for i in range(n):
        for f in range(features):
            v = np.float64(x[i, f])
            if v < -bound or v > bound:  # the identity tails (a NaN goes on and comes out NaN)
                y[i, f] = v
                log_derivative[i, f] = 0.0
                bins[i, f] = -1
                continue
            k = _find_bin(search[f], v)
            bins[i, f] = k
            xl, w, yl, h, d0, d1 = table[f, k, 0], table[f, k, 1], table[f, k, 2], table[f, k, 3], table[f, k, 4], table[f, k, 5]
            s = h / w
            xi = (v - xl) / w
            t = xi * (1.0 - xi)
            q = s + (d1 + d0 - 2.0 * s) * t
            y[i, f] = yl + h * (s * xi * xi + d0 * t) / q
            log_derivative[i, f] = _log_derivative(s, xi, d0, d1)


def _backward_kernel(x, table, bins, grad_y, grad_log, grad_x, grad_table):  # pragma: no cover - compiled
    n, features = x.shape
    for i in range(n):
        for f in range(features):
            gy = np.float64(grad_y[i, f])
            k = bins[i, f]
            if k < 0:  # identity tail: dy/dx = 1, no parameter involved
                grad_x[i, f] = gy
                continue
            gl = np.float64(grad_log[i, f])
            v = np.float64(x[i, f])
            xl, w, h, d0, d1 = table[f, k, 0], table[f, k, 1], table[f, k, 3], table[f, k, 4], table[f, k, 5]
            s = h / w
            xi = (v - xl) / w
            t = xi * (1.0 - xi)
            c = d1 + d0 - 2.0 * s
            q = s + c * t
            big_n = s * xi * xi + d0 * t
            a = d1 * xi * xi + 2.0 * s * t + d0 * (1.0 - xi) * (1.0 - xi)
            hq = h / q  # dy/dN
            r = hq * big_n / q  # -dy/dq
            dq_ds = 1.0 - 2.0 * t
            dq_dxi = c * (1.0 - 2.0 * xi)
            g_s = gy * (hq * xi * xi - r * dq_ds) + gl * (2.0 / s + 2.0 * t / a - 2.0 * dq_ds / q)
            g_xi = gy * (hq * (2.0 * s * xi + d0 * (1.0 - 2.0 * xi)) - r * dq_dxi) + gl * (
                (2.0 * d1 * xi + 2.0 * s * (1.0 - 2.0 * xi) - 2.0 * d0 * (1.0 - xi)) / a - 2.0 * dq_dxi / q
            )
            g_d0 = gy * (hq - r) * t + gl * ((1.0 - xi) * (1.0 - xi) / a - 2.0 * t / q)
            g_d1 = -gy * r * t + gl * (xi * xi / a - 2.0 * t / q)
            grad_x[i, f] = g_xi / w
            grad_table[f, k, 0] -= g_xi / w
            grad_table[f, k, 1] -= (g_s * s + g_xi * xi) / w
            grad_table[f, k, 2] += gy
            grad_table[f, k, 3] += gy * big_n / q + g_s / w
            grad_table[f, k, 4] += g_d0
            grad_table[f, k, 5] += g_d1


def _inverse_kernel(v_in, search, table, bound, out, log_derivative):  # pragma: no cover - compiled
    n, features = v_in.shape
    for i in range(n):
        for f in range(features):
            v = np.float64(v_in[i, f])
            if v < -bound or v > bound:
                out[i, f] = v
                log_derivative[i, f] = 0.0
                continue
            k = _find_bin(search[f], v)
            xl, w, yl, h, d0, d1 = table[f, k, 0], table[f, k, 1], table[f, k, 2], table[f, k, 3], table[f, k, 4], table[f, k, 5]
            s = h / w
            c = d1 + d0 - 2.0 * s
            offset = v - yl
            qa = h * (s - d0) + offset * c
            qb = h * d0 - offset * c
            qc = -s * offset
            root = math.sqrt(max(qb * qb - 4.0 * qa * qc, 0.0))
            # the form that adds numbers of one sign (see rational_quadratic_spline)
            xi = 2.0 * qc / (-qb - root) if qb >= 0 else (root - qb) / (2.0 * qa)
            out[i, f] = xl + xi * w
            log_derivative[i, f] = -_log_derivative(s, xi, d0, d1)


def _knots_kernel(widths, heights, derivatives, bound, min_width, min_height, min_derivative):  # pragma: no cover
    # rational_quadratic_knots in float64, one spline per row; also the two softmaxes (for the backward)
    features, k = widths.shape
    x_knots = np.empty((features, k + 1))
    y_knots = np.empty((features, k + 1))
    slopes = np.empty((features, k + 1))
    p_width = np.empty((features, k))
    p_height = np.empty((features, k))
    for f in range(features):
        for raw, floor, p, knots in ((widths, min_width, p_width, x_knots), (heights, min_height, p_height, y_knots)):
            top = -np.inf
            for j in range(k):
                top = max(top, np.float64(raw[f, j]))
            total = 0.0
            for j in range(k):
                p[f, j] = math.exp(np.float64(raw[f, j]) - top)
                total += p[f, j]
            knots[f, 0] = -bound
            cumulative = 0.0
            for j in range(k):
                p[f, j] /= total
                if j < k - 1:
                    cumulative += floor + (1.0 - floor * k) * p[f, j]
                    knots[f, j + 1] = 2.0 * bound * cumulative - bound
            knots[f, k] = bound
        slopes[f, 0] = 1.0
        slopes[f, k] = 1.0
        for j in range(k - 1):
            u = np.float64(derivatives[f, j])
            softplus = u if u > 20.0 else math.log1p(math.exp(u))  # torch's softplus threshold
            slopes[f, j + 1] = min_derivative + (1.0 - min_derivative) * softplus / math.log(2.0)
    # per bin (x_k, w_k, y_k, h_k, d_k, d_k+1): what a point needs of its bin
    table = np.empty((features, k, 6))
    for f in range(features):
        for j in range(k):
            table[f, j, 0] = x_knots[f, j]
            table[f, j, 1] = x_knots[f, j + 1] - x_knots[f, j]
            table[f, j, 2] = y_knots[f, j]
            table[f, j, 3] = y_knots[f, j + 1] - y_knots[f, j]
            table[f, j, 4] = slopes[f, j]
            table[f, j, 5] = slopes[f, j + 1]
    return x_knots, y_knots, table, p_width, p_height


def _knots_backward_kernel(grad_table, p_width, p_height, derivatives, bound, min_width, min_height, min_derivative,
                           grad_widths, grad_heights, grad_derivatives):  # pragma: no cover - compiled
    # through bin = (x_k, x_k+1 - x_k, y_k, y_k+1 - y_k, d_k, d_k+1), the knots' cumulative sums and the softmaxes
    features, k = p_width.shape
    grad_knots = np.empty(k + 1)
    grad_fraction = np.empty(k)
    for f in range(features):
        for column, floor, p, out in ((0, min_width, p_width, grad_widths), (2, min_height, p_height, grad_heights)):
            grad_knots[:] = 0.0
            for j in range(k):
                grad_knots[j] += grad_table[f, j, column] - grad_table[f, j, column + 1]
                grad_knots[j + 1] += grad_table[f, j, column + 1]
            # knot j (1 <= j <= k - 1) = 2B sum_{i<j} fraction_i - B; the end knots are fixed
            tail = 0.0
            for i in range(k - 1, -1, -1):
                grad_fraction[i] = 2.0 * bound * tail
                if i >= 1:
                    tail += grad_knots[i]
            dot = 0.0
            for j in range(k):
                dot += p[f, j] * (1.0 - floor * k) * grad_fraction[j]
            for j in range(k):
                out[f, j] = p[f, j] * ((1.0 - floor * k) * grad_fraction[j] - dot)
        for j in range(k - 1):
            # slope j + 1 is the right slope of bin j and the left slope of bin j + 1
            g = grad_table[f, j, 5] + grad_table[f, j + 1, 4]
            u = np.float64(derivatives[f, j])
            sigmoid = 1.0 if u > 20.0 else 1.0 / (1.0 + math.exp(-u))
            grad_derivatives[f, j] = g * (1.0 - min_derivative) * sigmoid / math.log(2.0)


_kernel = LazyKernels(
    globals(),
    kernels=("_forward_kernel", "_backward_kernel", "_inverse_kernel", "_knots_kernel", "_knots_backward_kernel"),
    helpers=("_find_bin", "_log_derivative"),
)


def _as_rows(x: Tensor, features: int) -> np.ndarray:
    return x.detach().reshape(-1, features).contiguous().numpy()


def _parameters(widths: Tensor, heights: Tensor, derivatives: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(t.detach().contiguous().numpy() for t in (widths, heights, derivatives))


class _FusedSpline(torch.autograd.Function):
    """(y, log dy/dx) of points (..., F) under one spline per feature; gradients for the points and the
    three parameter tensors."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor,  # type: ignore[override]
                floors: tuple[float, float, float], bound: float) -> tuple[Tensor, Tensor]:
        features = widths.shape[0]
        w, h, d = _parameters(widths, heights, derivatives)
        x_knots, _, table, p_width, p_height = _kernel["_knots_kernel"](w, h, d, float(bound), *floors)
        xs = _as_rows(x, features)
        y = np.empty_like(xs)
        log_derivative = np.empty_like(xs)
        bins = np.empty(xs.shape, dtype=np.int64)
        _kernel["_forward_kernel"](xs, x_knots, table, float(bound), y, log_derivative, bins)
        ctx.save_for_backward(x)
        # the backward differentiates the spline of this pass: its tables are fresh arrays, and the slopes'
        # raw parameters are copied (d is a view of the parameter, which an optimiser may update in place)
        ctx.state = (table, bins, p_width, p_height, d.copy(), floors, float(bound), widths.dtype)
        return torch.from_numpy(y).reshape(x.shape), torch.from_numpy(log_derivative).reshape(x.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: Tensor, grad_log: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        table, bins, p_width, p_height, d, floors, bound, dtype = ctx.state
        features = table.shape[0]
        xs = _as_rows(x, features)
        grad_x = np.empty_like(xs)
        grad_table = np.zeros(table.shape)
        _kernel["_backward_kernel"](xs, table, bins, _as_rows(grad_y.to(x.dtype), features), _as_rows(grad_log.to(x.dtype), features),
                         grad_x, grad_table)
        grads = [np.empty(p_width.shape), np.empty(p_height.shape), np.empty(d.shape)]
        _kernel["_knots_backward_kernel"](grad_table, p_width, p_height, d, bound, *floors, *grads)
        return (torch.from_numpy(grad_x).reshape(x.shape), *(torch.from_numpy(g).to(dtype) for g in grads), None, None)


def spline_forward(x: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor, bound: float,
                   floors: tuple[float, float, float]) -> tuple[Tensor, Tensor]:
    """(y, log dy/dx) of the points ``x`` (..., F) under one spline per feature with unnormalised
    parameters ``widths``, ``heights`` (F, K) and ``derivatives`` (F, K - 1) and ``floors`` = (min bin
    width, min bin height, min derivative), as :func:`ibflow.flows.spline.rational_quadratic_spline`
    with the identity outside [-bound, bound]. Differentiable once in ``x`` and the parameters."""
    return _FusedSpline.apply(x, widths, heights, derivatives, floors, bound)


@torch.no_grad()
def spline_inverse(y: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor, bound: float,
                   floors: tuple[float, float, float]) -> tuple[Tensor, Tensor]:
    """(x, log dx/dy) of the points ``y`` (..., F), the inverse of :func:`spline_forward`; not
    differentiable (what measurement and decoding need)."""
    features = widths.shape[0]
    _, y_knots, table, _, _ = _kernel["_knots_kernel"](*_parameters(widths, heights, derivatives), float(bound), *floors)
    ys = _as_rows(y, features)
    out = np.empty_like(ys)
    log_derivative = np.empty_like(ys)
    _kernel["_inverse_kernel"](ys, y_knots, table, float(bound), out, log_derivative)
    return torch.from_numpy(out).reshape(y.shape), torch.from_numpy(log_derivative).reshape(y.shape)
