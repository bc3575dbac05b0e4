r"""A compiled loop for the I(X; Z) sandwich of a Gaussian channel (:func:`ibflow.vector.rates.sandwich_terms`).

Why. The sandwich's K x K matrix of log q(z_i | x_j) is the largest single cost of measuring a sweep
point: PyTorch forms it (``cdist``, ``pow``), then reduces it twice with ``logsumexp`` (once with the
diagonal, once without), each pass writing and reading K^2 floats. Here one row is formed at a time,
in float64, and both bounds come from one sum of exponentials:

.. math:: \ell_{ij} = -\frac{\lVert z_i - \mu_j \rVert^2}{2\sigma^2}, \qquad
          L^{\setminus}_i = \log \sum_{j \neq i} e^{\ell_{ij}}, \qquad
          L_i = \log\left(e^{L^{\setminus}_i} + e^{\ell_{ii}}\right),

   \text{lower}_i = \ell_{ii} - L_i + \log K, \qquad \text{upper}_i = \ell_{ii} - L^{\setminus}_i + \log (K - 1)

(Poole et al. 2019, eqs. 12-13). The off-diagonal sum is taken about its own maximum, so it stays exact
when the diagonal term dominates (the high-rate points, where log q(z_i | x_i) exceeds every other term
by hundreds of nats and a sum about the row's maximum would round every other term to zero). Off-diagonal
terms more than 46 nats below the largest are skipped: together they are below float64's rounding of
the sum. The loops are serial: the result does not depend on the thread count.
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from ibflow.jit import NUMBA, LazyKernels

__all__ = ["available", "sandwich_rows"]


def available(z: Tensor) -> bool:
    """Whether the compiled loop serves latents ``z``: numba present and a CPU tensor."""
    return NUMBA and z.device.type == "cpu"


# Off-diagonal terms this far (in nats) below the largest one add less than K e^-46 < 1e-16 of it to the
# sum when K < 10^4: below float64's rounding of the sum, so they are skipped and the sum is unchanged
# to float64 precision. At high rate almost every pair is that far below, and its exp is never taken.
_NEGLIGIBLE = 46.0


def _sandwich_kernel(z, mean, inv_two_var, lower, upper):  # pragma: no cover - compiled
    k, d = z.shape
    row = np.empty(k)
    log_k, log_k1 = math.log(k), math.log(k - 1)
    for i in range(k):
        for j in range(k):
            acc = 0.0
            for c in range(d):
                diff = np.float64(z[i, c]) - np.float64(mean[j, c])
                acc += diff * diff
            row[j] = -acc * inv_two_var
        diag = row[i]
        row[i] = -np.inf  # out of the off-diagonal maximum and sum
        top = -np.inf
        for j in range(k):
            top = max(top, row[j])
        floor = top - _NEGLIGIBLE
        total = 0.0
        for j in range(k):
            if row[j] > floor:
                total += math.exp(row[j] - top)
        off = top + math.log(total)
        both = max(off, diag)
        lower[i] = diag - (both + math.log(math.exp(off - both) + math.exp(diag - both))) + log_k
        upper[i] = diag - off + log_k1


_kernel = LazyKernels(globals(), kernels=("_sandwich_kernel",))


def sandwich_rows(z: Tensor, mean: Tensor, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The per-sample lower and upper terms (float64, (K,) each) of one batch of K latents ``z`` (K, d)
    with their means ``mean`` (K, d), for q(z|x) = N(mean, sigma^2 I); see the module's equations."""
    zs = np.ascontiguousarray(z.detach().numpy())
    ms = np.ascontiguousarray(mean.detach().numpy())
    lower, upper = np.empty(len(zs)), np.empty(len(zs))
    _kernel["_sandwich_kernel"](zs, ms, 1.0 / (2.0 * float(sigma) ** 2), lower, upper)
    return lower, upper
