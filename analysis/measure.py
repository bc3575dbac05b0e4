"""Measure one trained codec on a source against R(D) (nats in, bits out): a FlowCodec every way
ibflow can, any other codec through the codec contract alone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from torch import Tensor, nn

from contracts import SplitSource
from contracts.stats import Z_95
from ibflow import FlowCodec
from ibflow.entropy import stream_bytes
from ibflow.training import rate_per_sample
from ibflow.vector import Measurement, batch_measurement, measure_binned, measure_channel, sandwich_terms
from synthetic import GaussianSource, Source

__all__ = [
    "measure_point",
    "measure_operational",
    "draw",
    "source_variances",
    "optimal_distortion",
    "source_parameters",
    "BITS",
    "OPERATIONAL_FIELDS",
]

BITS = 1.0 / math.log(2)  # nats -> bits
DESIGN_SAMPLES = 32_768  # training samples the FlowCodec bitstream's coding is fitted on (fit_base_coding)

OPERATIONAL_FIELDS = (
    "rate_operational", "rate_operational_se", "distortion_operational", "rd_lower_operational", "gap_operational", "bytes", "samples",
    "decoded_exactly",
)
"""The fields of a point that come from a codec's own bitstream (every codec's points have them)."""


# A source need only keep the contract (contracts.Source: dim, sample, log_prob, rate_distortion).
# The four helpers below give what the studies read from ibflow's own sources, with a fallback for
# any other one.

def draw(source: Source, n: int, seed: int, split: str = "train") -> Tensor:
    """``n`` samples as float32, the codecs' dtype (a user's source may sample in float64).

    A source of finite data (:class:`contracts.SplitSource`) gives its test rows for
    ``split="test"`` (at most all of them) and training rows otherwise; any other source draws
    fresh samples, the seed keeping test and training samples apart."""
    if split == "test" and isinstance(source, SplitSource):
        return torch.as_tensor(source.sample_split(n, seed=seed, split="test")).to(torch.float32)
    return torch.as_tensor(source.sample(n, seed=seed)).to(torch.float32)


def source_variances(source: Source, n: int = 65_536) -> np.ndarray:
    """Per-dimension variances: the source's own ``variance()``, else estimated from ``n`` seeded samples."""
    if callable(getattr(source, "variance", None)):
        return np.asarray(source.variance(), dtype=np.float64)
    return draw(source, n, seed=0).double().var(0).numpy()


def optimal_distortion(source: Source, beta: float) -> float | None:
    """The D minimising D + beta R(D) where the source knows it, else ``None``."""
    known = getattr(source, "optimal_distortion", None)
    return known(beta) if callable(known) else None


def source_parameters(source: Source) -> dict[str, Any]:
    """The parameters that rebuild the source (its ``params()``), or ``{}`` for a source without them."""
    params = getattr(source, "params", None)
    return dict(params()) if callable(params) else {}


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
    x = draw(source, n_eval, seed=seed + 1_000_003, split="test")
    axes = _per_dim_axes(source)
    ch = measure_channel(codec, x, seed=seed, axes=axes.matrix)
    # The sandwich's width shrinks like exp(I) / K: take K = 200 exp(E KL) rounded up to a power of
    # two, within [2048, 8192], and at least 4 batches. It reuses the channel's own (x, z) pairs, so
    # the prior mismatch E KL - I(X;Z) is estimated paired, without the noise of log q(z_i|x_i).
    K = int(min(8192, max(2048, 2 ** math.ceil(math.log2(200 * math.exp(min(ch.rate_kl.value, 20)))))))
    # a finite test set (898 digits) has fewer rows than 4 such batches: take the largest power of two
    # that still gives 4 batches; the lower bound is then capped at log K, the interval says how loose
    K = min(K, max(2, 2 ** int(math.log2(max(len(x) // 4, 2)))))
    m = min(len(x) // K * K, max(mi_samples, 4 * K))
    lo_t, up_t = sandwich_terms(ch.latent_mean[:m], ch.latent[:m], float(codec.sigma), K)
    mi_lo, mi_up = batch_measurement(lo_t, K), batch_measurement(up_t, K)
    prior_mismatch = batch_measurement(ch.per_sample_kl[:m] - 0.5 * (lo_t + up_t), K)
    # the bitstream's coding (rotation, widths, coded columns) is fitted on training samples, by the
    # codec's own objective D + beta R, and measured on the test samples
    design = draw(source, min(n_eval, DESIGN_SAMPLES), seed=seed + 2_000_003)
    binned = measure_binned(codec, x, delta=delta, design=design, beta=beta)

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

    d_theory = optimal_distortion(source, beta)
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
        # the audit's fields, shared with every codec (measure_operational): the real bytes of the binned
        # bitstream at its decoded distortion, and the model's own rate (E KL)
        "rate_operational": binned.rate_coded * BITS,
        "rate_operational_se": binned.rate_binned.se * BITS,  # that of the ideal code length it tracks
        "distortion_operational": binned.distortion_coded,
        "rd_lower_operational": source.rate_distortion(binned.distortion_coded).lower * BITS,
        "gap_operational": (binned.rate_coded - source.rate_distortion(binned.distortion_coded).mid) * BITS,
        "rate_model": ch.rate_kl.value * BITS,
        "bytes": binned.n_bytes,
        "samples": len(x),
        "bin_width": binned.delta,
        "coded_dims": binned.coded_dims,
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


@torch.no_grad()
def measure_operational(codec: nn.Module, source: Source, beta: float, n_eval: int = 262_144, seed: int = 0) -> dict[str, Any]:
    """Measure any codec that keeps the codec contract (DESIGN.md): ``compress`` the test samples,
    ``decompress`` them, and compare the real bytes per sample with R(D) at the decoded distortion.

    Reported in **bits** per sample: D (squared error summed over dims) from the decoded output,
    ``rate_operational`` = 8 bytes / n of the whole stream, ``rate_model`` from ``forward``
    (:func:`ibflow.training.rate_per_sample`), the gap ``rate_operational - R(D)`` and ``decoded_exactly``
    (decoding reproduces ``forward``'s x_hat, where ``forward`` is deterministic; ``None`` where it
    is not). The operational rate is a mean over the test samples: it carries the model rate's
    standard error, the only per-sample code length the contract exposes. It is a violation when
    even its top lies below the lower bound on R(D) at the top of D's 95 % interval.
    """
    codec.eval()
    x = draw(source, n_eval, seed=seed + 1_000_003, split="test")
    n = len(x)
    stream = codec.compress(x)
    n_bytes = stream_bytes(stream["strings"])
    x_hat = codec.decompress(stream["strings"], stream["shape"])["x_hat"]
    if tuple(x_hat.shape) != tuple(x.shape):
        raise ValueError(f"decompress returned x_hat of shape {tuple(x_hat.shape)} for x of shape {tuple(x.shape)}")
    distortion = Measurement.of(((x.double() - x_hat.double()) ** 2).sum(1))
    out = codec(x)
    deterministic = torch.equal(out["x_hat"], codec(x)["x_hat"])
    decoded_exactly = bool(torch.equal(out["x_hat"], x_hat)) if deterministic else None
    model = rate_per_sample(out, n)
    rate_model = Measurement.of(model.double()) if model is not None else None
    rate_operational = 8 * n_bytes / n * math.log(2)  # nats per sample

    D = distortion.value
    rd = source.rate_distortion(D)
    violations: list[str] = []
    rate_se = rate_model.se if rate_model is not None else 0.0
    bound = source.rate_distortion(distortion.ci[1]).lower
    if rate_operational + Z_95 * rate_se < bound:
        violations.append(
            f"operational rate {rate_operational * BITS:.4f} bits < R(D) lower bound {bound * BITS:.4f} bits"
        )
    if decoded_exactly is False:
        violations.append("decompress did not reproduce forward's x_hat")
    return {
        "beta": beta,
        "distortion": D,
        "distortion_ci": list(distortion.ci),
        "distortion_theory": optimal_distortion(source, beta),
        "rd_lower": rd.lower * BITS,
        "rd_upper": rd.upper * BITS,
        "rate_operational": rate_operational * BITS,
        "rate_operational_se": rate_se * BITS,
        "rate_model": None if rate_model is None else rate_model.value * BITS,
        "rate_model_ci": None if rate_model is None else [c * BITS for c in rate_model.ci],
        "bytes": n_bytes,
        "samples": n,
        "decoded_exactly": decoded_exactly,
        "gap": (rate_operational - rd.mid) * BITS,
        # the names FlowCodec points use for the same numbers (analysis.codec_compare reads these)
        "distortion_operational": D,
        "rd_lower_operational": rd.lower * BITS,
        "gap_operational": (rate_operational - rd.mid) * BITS,
        "violations": violations,
    }
