"""Separate source and channel coding: the baseline a JSCC codec is measured against (a FlowCodec bitstream
sized for a capacity-achieving channel code)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from contracts import Sampler
from contracts.stats import Z_95
from ibflow.channel.channels import awgn_capacity
from ibflow.entropy.bins import StandardNormalBins
from ibflow.entropy.container import overhead_bytes
from ibflow.training import TrainConfig, train
from ibflow.vector.codec import FlowCodec
from ibflow.vector.rates import BinnedMeasurement, matched_bin_width, measure_binned

__all__ = ["separation_distortion", "SeparationCodec", "fit_bin_width", "train_separation_codec"]


def separation_distortion(
    variance: float, snr: float, design_snr: float, rho: float, source_distortion: float | None = None
) -> float:
    """Separate source and channel coding designed for ``design_snr`` (linear), used at ``snr``.

    The channel code carries R = rho C(design SNR) nats per source sample; an ideal (capacity-achieving,
    infinite block length) code decodes without error when SNR >= design SNR and fails completely
    below (the cliff; the decoder then outputs the source mean, D = s^2). Above the cliff the distortion
    is that of the source code at rate R: ``source_distortion`` if given (e.g. the measured distortion of
    a real bitstream of at most R nats per sample, :func:`train_separation_codec`), else the ideal
    Gaussian one, D(R) = s^2 e^{-2R} (Cover & Thomas 2nd ed., Thm 10.3.2): an optimistic baseline, at
    the design SNR it equals OPTA.
    """
    if snr < design_snr:
        return variance
    if source_distortion is not None:
        return source_distortion
    rate = rho * awgn_capacity(design_snr)
    return variance * math.exp(-2.0 * rate)


@dataclass
class SeparationCodec:
    """The source half of a separation baseline: a trained :class:`ibflow.FlowCodec` whose real ANS
    bitstream (:func:`ibflow.vector.rates.measure_binned`) fits a channel code of ``rate_limit`` nats per sample.

    ``rate`` (nats per sample, from the byte length of the test bitstream) and ``distortion`` (squared
    error per sample of the reconstruction from the decoded symbols, with its standard error and 95 %
    interval over the i.i.d. test samples) are measured on ``n_test`` fresh samples that neither training
    nor the choice of beta and bin width saw. ``rounds`` records each training: beta, the design-set rate
    at the matched bin width, the fitted bin width and the design-set rate and distortion with it.
    """

    codec: FlowCodec
    beta: float
    rate_limit: float
    bin_width: float
    rate: float
    distortion: float
    distortion_se: float
    distortion_ci: tuple[float, float]
    decoded_exactly: bool
    n_bytes: int
    n_test: int
    train_seconds: float
    rounds: list[dict[str, float]]


@torch.no_grad()
def fit_bin_width(codec: FlowCodec, x: Tensor, rate_limit: float, iterations: int = 40) -> float:
    """The narrowest bin width (one for all latent dimensions) in the prior's base space at which the
    ideal code length -log P(bins) of ``x`` (nats per sample, :class:`ibflow.entropy.StandardNormalBins`)
    is at most ``rate_limit``: bisection in log width (the code length falls as the bins widen)."""
    u = codec.prior(codec.encode(x))[0].double()

    def rate(delta: float) -> float:
        bins = StandardNormalBins(delta)
        return float(-bins.log_pmf(bins.index(u)).sum(-1).mean())

    lo, hi = math.log(1e-4), math.log(1e3)  # rates about 9 nats per dim and 0
    if rate(math.exp(hi)) > rate_limit:
        raise ValueError(f"rate_limit {rate_limit:.4g} nats is below the rate of the widest bins")
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rate(math.exp(mid)) > rate_limit else (lo, mid)
    return math.exp(hi)


def train_separation_codec(
    sample: Sampler,
    variance: float,
    rate_limit: float,
    config: TrainConfig | None = None,
    max_rounds: int = 3,
    n_design: int = 2**18,
    n_test: int = 2**18,
    seed: int = 0,
    depth: int = 2,
    hidden: int = 32,
    progress: bool = False,
) -> SeparationCodec:
    """Train a :class:`ibflow.FlowCodec` on a scalar source (``sample(n, seed) -> (n, 1)``, variance
    ``variance``) whose real bitstream carries at most ``rate_limit`` nats per sample: the source code of
    separate source-channel coding over a channel code of that rate.

    The first beta is the Gaussian theory's, beta = 2 D(R) = 2 s^2 e^{-2R} at R = ``rate_limit``; a
    trained codec's bitstream at the matched bin width (:func:`ibflow.vector.rates.matched_bin_width`) is longer
    than its KL rate by the loss of binning, so beta is raised by the Gaussian slope,
    beta <- beta e^{2 (rate - rate_limit)}, and the codec retrained, up to ``max_rounds`` trainings
    (stopping once the matched rate is within 0.01 nats of the limit). In every round the bin width
    is then fitted (:func:`fit_bin_width`) so that the design-set code length is the limit less a margin:
    3 standard errors of the difference of two sample means of the code length, plus 64 bits of
    coder overhead and the container (:mod:`ibflow.entropy.container`) per test stream; the round with the least design-set distortion is kept. Finally the
    kept codec is measured on ``n_test`` fresh samples: the bytes of a real constriction ANS stream,
    decoded and checked symbol for symbol (:func:`ibflow.vector.rates.measure_binned`).

    Raises ValueError if the test bitstream still exceeds ``rate_limit`` (improbable: the margin is
    3 standard errors) or training cannot reach a rate that low.
    """
    if not (variance > 0 and rate_limit > 0 and max_rounds >= 1):
        raise ValueError(
            f"need variance > 0, rate_limit > 0, max_rounds >= 1; got {variance}, {rate_limit}, {max_rounds}"
        )
    cfg = config or TrainConfig()
    x_design = sample(n_design, seed * 1_000_003 + 2**20 + 1)
    x_test = sample(n_test, seed * 1_000_003 + 2**20 + 2)
    # ANS: the final state and the last 32-bit word; and the stream's container, a constant per stream
    overhead = (64 + 8 * overhead_bytes(FlowCodec.registered_name, 1)) * math.log(2) / n_test
    beta = 2.0 * variance * math.exp(-2.0 * rate_limit)
    best: tuple[float, FlowCodec, float, float] | None = None
    rounds: list[dict[str, float]] = []
    seconds = 0.0
    for _ in range(max_rounds):
        torch.manual_seed(cfg.seed)
        codec = FlowCodec(1, depth=depth, hidden=hidden)
        seconds += train(codec, sample, beta, cfg, progress=progress).seconds
        codec.eval()
        matched = measure_binned(codec, x_design, delta=matched_bin_width(codec, x_design, seed=seed))
        se = matched.rate_binned.se
        target = rate_limit - 3.0 * math.sqrt(2.0) * se - overhead
        delta = fit_bin_width(codec, x_design, target)
        fitted = measure_binned(codec, x_design, delta=delta)
        rounds.append({
            "beta": beta, "rate_matched": matched.rate_binned.value, "bin_width": delta,
            "rate": fitted.rate_binned.value, "distortion": fitted.distortion_binned.value,
        })
        if best is None or fitted.distortion_binned.value < best[0]:
            best = (fitted.distortion_binned.value, codec, beta, delta)
        excess = matched.rate_binned.value - rate_limit
        if abs(excess) < 0.01:
            break
        beta *= math.exp(2.0 * excess)
    assert best is not None
    _, codec, beta, delta = best
    test: BinnedMeasurement = measure_binned(codec, x_test, delta=delta)
    if test.rate_coded > rate_limit:
        raise ValueError(f"the test bitstream has {test.rate_coded:.5f} nats per sample, above the limit "
                         f"{rate_limit:.5f}; increase n_design")
    d = test.distortion_binned  # decoding the received symbols gives the same bins when decoded exactly
    return SeparationCodec(
        codec=codec, beta=beta, rate_limit=rate_limit, bin_width=delta, rate=test.rate_coded,
        distortion=test.distortion_coded if test.decoded_exactly else math.nan,
        distortion_se=d.se, distortion_ci=(test.distortion_coded - Z_95 * d.se, test.distortion_coded + Z_95 * d.se),
        decoded_exactly=test.decoded_exactly, n_bytes=test.n_bytes, n_test=n_test, train_seconds=seconds,
        rounds=rounds,
    )
