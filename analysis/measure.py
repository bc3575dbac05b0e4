"""Measure one trained FlowCodec on a source every way ibflow can, against R(D) (nats in, bits out)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from contracts.stats import Z_95
from ibflow import FlowCodec
from ibflow.vector import batch_measurement, measure_binned, measure_channel, sandwich_terms
from synthetic import GaussianSource, Source

__all__ = ["measure_point", "BITS"]

BITS = 1.0 / math.log(2)  # nats -> bits


def _rd_slope(source: Source, D: float) -> float:
    """dR/dD at D (nats per unit distortion) by a central difference of the bracket's midpoint."""
    h = 1e-3 * D
    return (source.rate_distortion(D + h).mid - source.rate_distortion(D - h).mid) / (2 * h)


@dataclass(frozen=True)
class _Axes:
    matrix: np.ndarray | None
    variances: np.ndarray | None


def _per_dim_axes(source: Source) -> _Axes:
    """Axes along which per-dimension rates are reported: a Gaussian vector's coordinates when its
    covariance is diagonal, else its principal axes; none for other sources."""
    if not isinstance(source, GaussianSource) or source.dim == 1:
        return _Axes(None, None)
    if source.is_diagonal:
        return _Axes(None, source.variance())
    return _Axes(source.principal_axes, source.eigenvalues)


@torch.no_grad()
def measure_point(
    codec: FlowCodec,
    source: Source,
    beta: float,
    n_eval: int = 262_144,
    seed: int = 0,
    delta: float | None = None,
    mi_samples: int = 32_768,
) -> dict[str, Any]:
    """All measurements of one codec, in **bits** per sample, with the violations found.

    Every rate is compared with R(D) at its own distortion. A rate is a violation (a bug somewhere)
    when even the top of its 95 % interval lies below the lower bound on R(D) evaluated at the top of
    the distortion's 95 % interval (the conservative direction: larger D, smaller R(D)).
    The gap E KL - R(D) is split at the midpoint of the I(X; Z) sandwich into prior mismatch
    E KL - I(X; Z) (estimated paired on the same samples) and test-channel loss I(X; Z) - R(D)
    (DESIGN.md); the two add up to the gap.
    """
    codec.eval()
    x = source.sample(n_eval, seed=seed + 1_000_003)
    axes = _per_dim_axes(source)
    ch = measure_channel(codec, x, seed=seed, axes=axes.matrix)
    # The sandwich's width shrinks like exp(I) / K: take K = 200 exp(E KL) rounded up to a power of
    # two, within [2048, 8192], and at least 4 batches. It reuses the channel's own (x, z) pairs, so
    # the prior mismatch E KL - I(X;Z) is estimated paired, without the noise of log q(z_i|x_i).
    K = int(min(8192, max(2048, 2 ** math.ceil(math.log2(200 * math.exp(min(ch.rate_kl.value, 20)))))))
    m = min(len(x) // K * K, max(mi_samples, 4 * K))
    lo_t, up_t = sandwich_terms(ch.latent_mean[:m], ch.latent[:m], float(codec.sigma), K)
    mi_lo, mi_up = batch_measurement(lo_t, K), batch_measurement(up_t, K)
    prior_mismatch = batch_measurement(ch.per_sample_kl[:m] - 0.5 * (lo_t + up_t), K)
    binned = measure_binned(codec, x, delta=delta)

    D = ch.distortion.value
    rd = source.rate_distortion(D)
    D_hi = ch.distortion.ci[1]
    # paired delta-method SE of E KL - R(D): per-sample KL_i - R'(D) d_i, plus half the R(D) bracket
    slope = _rd_slope(source, D) if rd.mid > 0 else 0.0
    paired = ch.per_sample_kl - slope * ch.per_sample_distortion
    gap_se = float(paired.std() / math.sqrt(len(paired)))
    gap = ch.rate_kl.value - rd.mid
    gap_half = Z_95 * gap_se + 0.5 * (rd.upper - rd.lower)

    violations: list[str] = []

    def below_rd(name: str, rate_hi: float, dist_hi: float) -> None:
        bound = source.rate_distortion(dist_hi).lower
        if rate_hi < bound:
            violations.append(f"{name} {rate_hi * BITS:.4f} bits < R(D) lower bound {bound * BITS:.4f} bits")

    below_rd("E KL", ch.rate_kl.ci[1], D_hi)
    below_rd("I(X;Z) upper bound", mi_up.ci[1], D_hi)
    if ch.rate_kl.ci[1] < mi_lo.ci[0]:
        violations.append("E KL below the I(X;Z) lower bound (KL >= I must hold)")
    below_rd("binned rate", binned.rate_binned.ci[1], binned.distortion_binned.ci[1])
    # the bitstream rate carries the ideal code length's standard error
    below_rd("bitstream rate", binned.rate_coded + Z_95 * binned.rate_binned.se, binned.distortion_binned.ci[1])
    if not binned.decoded_exactly:
        violations.append("bitstream did not decode to the encoded symbols")

    rate_per_dim = rate_per_dim_theory = None
    if axes.variances is not None:
        v = axes.variances
        # R_i(D_i) = max(0, 1/2 log(s2_i / D_i)): the Gaussian R(D) of component i at the distortion
        # the codec reaches on it, a lower bound on I(X_i; Z) (R_i(D_i) <= I(X_i; X_hat_i) <= I(X_i; Z)).
        rate_per_dim = (np.maximum(0.0, 0.5 * np.log(v / ch.distortion_per_dim)) * BITS).tolist()
        wf = source.water_filling(D)
        rate_per_dim_theory = (wf.rates * BITS).tolist()

    d_theory = source.optimal_distortion(beta)
    return {
        "beta": beta,
        "distortion": D,
        "distortion_ci": list(ch.distortion.ci),
        "distortion_theory": d_theory,
        "rd_lower": rd.lower * BITS,
        "rd_upper": rd.upper * BITS,
        "rate_kl": ch.rate_kl.value * BITS,
        "rate_kl_ci": [c * BITS for c in ch.rate_kl.ci],
        "mi_lower": mi_lo.value * BITS,
        "mi_lower_ci": [c * BITS for c in mi_lo.ci],
        "mi_upper": mi_up.value * BITS,
        "mi_upper_ci": [c * BITS for c in mi_up.ci],
        "rate_binned": binned.rate_binned.value * BITS,
        # R(D) bounds at the binned/coded distortion, the ones the binned and coded rates face
        "rd_lower_binned": source.rate_distortion(binned.distortion_binned.value).lower * BITS,
        "distortion_binned": binned.distortion_binned.value,
        "rate_coded": binned.rate_coded * BITS,
        "distortion_coded": binned.distortion_coded,
        "bin_width": binned.delta,
        "decoded_exactly": binned.decoded_exactly,
        "gap": gap * BITS,
        "gap_ci": [(gap - gap_half) * BITS, (gap + gap_half) * BITS],
        "gap_prior": prior_mismatch.value * BITS,
        # paired Monte-Carlo interval widened by half the sandwich width (where I(X;Z) lies in it)
        "gap_prior_ci": [
            (prior_mismatch.ci[0] - 0.5 * (mi_up.value - mi_lo.value)) * BITS,
            (prior_mismatch.ci[1] + 0.5 * (mi_up.value - mi_lo.value)) * BITS,
        ],
        "gap_channel": (gap - prior_mismatch.value) * BITS,
        "mi_batch": K,
        "rate_per_dim": rate_per_dim,
        "rate_per_dim_theory": rate_per_dim_theory,
        "distortion_per_dim": ch.distortion_per_dim.tolist() if axes.variances is not None else None,
        "violations": violations,
    }
