"""Four independent rate measurements of a FlowCodec, each with its uncertainty (nats).

1. E_x KL(q(z|x) || p(z)): the variational upper bound on I(X; Z) (Alemi et al. 2018).
2. I(X; Z) sandwiched with no critic, since q(z|x) is known: the minibatch lower bound and the
   leave-one-out upper bound (Poole et al. 2019, eqs. 12 and 13; REFERENCES.md).
3. The binned rate: the noise-free latent f(x), mapped by the prior flow h to its base space where
   the prior is N(0, I), rotated so that the information gathers in few columns, binned at width
   delta (:func:`fit_base_coding`); ideal code length -log P(bin) and the distortion of decoding from
   bin centres.
4. A real bitstream: the same bins ANS-coded by constriction, decoded back, checked symbol for symbol,
   reconstructed from the decoded symbols; bits counted from the byte length.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from contracts.stats import Z_95
from ibflow.entropy.bitstream import stream_bytes
from ibflow.vector import sandwich_kernels
from ibflow.vector.codec import FlowCodec

__all__ = [
    "Measurement",
    "ChannelMeasurement",
    "BinnedMeasurement",
    "measure_channel",
    "mi_sandwich",
    "sandwich_terms",
    "conditional_sandwich_terms",
    "batch_measurement",
    "matched_bin_width",
    "binned_flowcodec",
    "BaseCoding",
    "fit_base_coding",
    "measure_binned",
]


@dataclass(frozen=True)
class Measurement:
    """A mean with its standard error and 95 % normal confidence interval (nats, or squared error)."""

    value: float
    se: float

    @property
    def ci(self) -> tuple[float, float]:
        return (self.value - Z_95 * self.se, self.value + Z_95 * self.se)

    @staticmethod
    def of(samples: Tensor | np.ndarray) -> Measurement:
        """Mean of i.i.d. per-sample values, SE = std / sqrt(n)."""
        s = torch.as_tensor(samples, dtype=torch.float64).reshape(-1)
        return Measurement(float(s.mean()), float(s.std() / math.sqrt(len(s))))


@dataclass(frozen=True)
class ChannelMeasurement:
    """Through the training-time channel z = f(x) + sigma eps: distortion (summed over dims, and per
    dim), E KL with its CI, and the per-sample values (for paired confidence intervals)."""

    distortion: Measurement
    rate_kl: Measurement
    distortion_per_dim: np.ndarray
    per_sample_distortion: Tensor = field(repr=False)
    per_sample_kl: Tensor = field(repr=False)
    latent_mean: Tensor = field(repr=False)
    latent: Tensor = field(repr=False)


@dataclass(frozen=True)
class BinnedMeasurement:
    """Binned (ideal code length) and coded (real bitstream) rates, with their distortions."""

    delta: list[float]
    rate_binned: Measurement
    distortion_binned: Measurement
    rate_coded: float
    distortion_coded: float
    n_bytes: int
    decoded_exactly: bool
    clipped: int
    coded_dims: int = 0


def _batches(x: Tensor, size: int):
    for i in range(0, len(x), size):
        yield x[i : i + size]


@torch.no_grad()
def measure_channel(
    codec: FlowCodec, x: Tensor, seed: int = 0, batch_size: int = 16384, axes: np.ndarray | None = None
) -> ChannelMeasurement:
    """Distortion and E KL through the noisy channel, one noise draw per sample (independent across
    samples, so the SE is the plain std / sqrt(n)). ``distortion_per_dim`` is along the columns of
    the orthonormal ``axes`` if given (e.g. a source's principal axes), else along the coordinates."""
    rot = None if axes is None else torch.as_tensor(axes, dtype=x.dtype)
    gen = torch.Generator().manual_seed(seed)
    d, kl, means, zs = [], [], [], []
    for xb in _batches(x, batch_size):
        mean, z = codec.sample_latent(xb, gen)
        err = xb - codec.decode(z)
        d.append((err if rot is None else err @ rot).double() ** 2)
        kl.append(codec.kl_per_sample(z).double())
        means.append(mean)
        zs.append(z)
    sq = torch.cat(d)
    kls = torch.cat(kl)
    dist = sq.sum(-1)
    return ChannelMeasurement(
        Measurement.of(dist), Measurement.of(kls), sq.mean(0).numpy(), dist, kls, torch.cat(means), torch.cat(zs)
    )


def sandwich_terms(
    mean: Tensor, z: Tensor, sigma: float, batch_size: int, compiled: bool | None = None
) -> tuple[Tensor, Tensor]:
    """Per-sample terms of the minibatch lower and leave-one-out upper bounds on I(X; Z)
    (Poole et al. 2019, eqs. 12-13) for latents z_i ~ q(z|x_i) = N(mean_i, sigma^2 I), over disjoint
    batches of K = ``batch_size`` (a trailing partial batch is dropped); shapes (n_used,) float64.

        lower_i = log q(z_i|x_i) - log(1/K sum_j q(z_i|x_j))
        upper_i = log q(z_i|x_i) - log(1/(K-1) sum_{j != i} q(z_i|x_j))

    ``compiled`` (default: where it is available, CPU tensors with numba) takes the compiled loop of
    :mod:`ibflow.vector.sandwich_kernels`, in float64 throughout. ``False`` takes the PyTorch reference:
    the K x K matrix formed in the latent's dtype (float32 by default: the bounds need ~1e-6 relative
    precision, far below their standard error) with exact pairwise differences (no |a|^2 + |b|^2 - 2ab
    cancellation), reduced by ``logsumexp``.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2, got {batch_size}")
    n = (len(z) // batch_size) * batch_size
    if n == 0:
        raise ValueError(f"need at least batch_size = {batch_size} samples, got {len(z)}")
    if compiled is None:
        compiled = sandwich_kernels.available(z)
    elif compiled and not sandwich_kernels.available(z):
        raise ValueError("compiled=True needs numba and CPU tensors")
    sigma2 = float(sigma) ** 2
    lowers, uppers = [], []
    for i in range(0, n, batch_size):
        m, zb = mean[i : i + batch_size], z[i : i + batch_size]
        if compiled:
            lo, up = sandwich_kernels.sandwich_rows(zb, m, float(sigma))
            lowers.append(torch.from_numpy(lo))
            uppers.append(torch.from_numpy(up))
            continue
        # log q(z_i | x_j) up to the normalising constant, which cancels in both bounds
        logq = -torch.cdist(zb, m, compute_mode="donot_use_mm_for_euclid_dist").pow(2) / (2 * sigma2)
        diag = -((zb - m) ** 2).sum(-1) / (2 * sigma2)
        lowers.append((diag - torch.logsumexp(logq, 1)).double() + math.log(batch_size))
        logq.fill_diagonal_(-math.inf)
        uppers.append((diag - torch.logsumexp(logq, 1)).double() + math.log(batch_size - 1))
    return torch.cat(lowers), torch.cat(uppers)


def conditional_sandwich_terms(mean: Tensor, z: Tensor, contrast: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """Per-sample lower and upper bounds on I(X; Z | Y) for z_i ~ q(z|x_i) = N(mean_i, sigma^2 I), with
    ``contrast`` (n, K - 1, d) the latent means f(x'_ij) of K - 1 draws x'_ij ~ p(x | y_i) per row: the
    bounds of :func:`sandwich_terms` with the conditional p(x | y_i) in place of p(x) (Poole et al. 2019,
    eqs. 12-13, conditioned on Y; Z - X - Y makes p(z | y) = E_{x|y} q(z|x)). Each row's terms use
    its own draws, so rows are independent and the SE is the plain one.

        lower_i = log q(z_i|x_i) - log(1/K [q(z_i|x_i) + sum_j q(z_i|x'_ij)])
        upper_i = log q(z_i|x_i) - log(1/(K-1) sum_j q(z_i|x'_ij))
    """
    if contrast.dim() != 3 or contrast.shape[0] != len(z) or contrast.shape[2] != z.shape[1] or contrast.shape[1] < 1:
        raise ValueError(f"contrast must have shape (n, K - 1 >= 1, d) = ({len(z)}, ., {z.shape[1]}), got {tuple(contrast.shape)}")
    sigma2 = float(sigma) ** 2
    diag = (-((z - mean) ** 2).sum(-1) / (2 * sigma2)).double()
    others = (-((z[:, None, :] - contrast) ** 2).sum(-1) / (2 * sigma2)).double()  # (n, K - 1)
    k = contrast.shape[1] + 1
    lower = diag - torch.logsumexp(torch.cat([diag[:, None], others], 1), 1) + math.log(k)
    upper = diag - torch.logsumexp(others, 1) + math.log(k - 1)
    return lower, upper


def batch_measurement(terms: Tensor, batch_size: int) -> Measurement:
    """Mean of per-sample terms that are dependent within batches of ``batch_size`` and independent
    across them: the standard error is taken across batch means."""
    means = terms.reshape(-1, batch_size).mean(1)
    se = float(means.std() / math.sqrt(len(means))) if len(means) > 1 else math.inf
    return Measurement(float(means.mean()), se)


@torch.no_grad()
def mi_sandwich(
    codec: FlowCodec, x: Tensor, batch_size: int = 2048, seed: int = 0
) -> tuple[Measurement, Measurement]:
    """Lower and upper bounds on I(X; Z) from q(z|x) = N(f(x), sigma^2 I) alone, with no trained
    critic (Poole et al. 2019; see :func:`sandwich_terms`); standard errors across batches."""
    mean, z = codec.sample_latent(x, torch.Generator().manual_seed(seed))
    lo, up = sandwich_terms(mean, z, float(codec.sigma), batch_size)
    return batch_measurement(lo, batch_size), batch_measurement(up, batch_size)


@torch.no_grad()
def matched_bin_width(codec: FlowCodec, x: Tensor, seed: int = 0) -> list[float]:
    """Per base-space dimension j, the bin width whose uniform quantisation noise (delta_j^2 / 12)
    has the variance of the training noise sigma eps as seen in the prior's base space:
    delta_j = sqrt(12 E[(h(f(x) + sigma eps) - h(f(x)))_j^2]). One width per dimension, because a
    dimension that carries no information sees the whole noise while an informative one sees little."""
    gen = torch.Generator().manual_seed(seed)
    mean, z = codec.sample_latent(x, gen)
    u0, u1 = codec.prior(mean)[0], codec.prior(z)[0]
    return torch.sqrt(12 * ((u1 - u0) ** 2).double().mean(0)).tolist()


@torch.no_grad()
def binned_flowcodec(codec: FlowCodec) -> FlowCodec:
    """``codec`` itself, or for a subclass that codes its own way (:class:`ibflow.vector.dithered.DitheredFlowCodec`)
    a plain FlowCodec with the same trained weights, so that measurements 3 and 4 are of the binned bitstream."""
    if type(codec) is FlowCodec:
        return codec
    names = inspect.signature(FlowCodec.__init__).parameters
    plain = FlowCodec(**{k: v for k, v in codec.config.items() if k in names})
    missing = plain.load_state_dict(codec.state_dict(), strict=False).missing_keys
    if missing:
        raise ValueError(f"{type(codec).__name__} lacks FlowCodec state {missing}: it cannot be coded by binning")
    return plain.to(codec.log_sigma.device).train(codec.training)


@dataclass(frozen=True)
class BaseCoding:
    """What :func:`fit_base_coding` chose: the rotation Q (its columns ordered by ``snr``), the matched
    width along each column, the columns coded, each column's signal-to-noise ratio s_j / n_j, and,
    where a beta was given, the design-set Lagrangian D + beta R (nats) for every number of columns
    coded (index m: the first m columns)."""

    rotation: Tensor = field(repr=False)
    delta: list[float]
    coded: list[bool]
    snr: list[float]
    lagrangian: list[float] | None = None


def _code_prefix(codec: FlowCodec, x: Tensor, v: Tensor, q: Tensor, delta: Tensor, m: int) -> tuple[float, float]:
    """(mean code length in nats, mean distortion) on x when the codec codes the first m columns of
    v = u Q (its own bins and :meth:`FlowCodec.reconstruct`; the caller sets the final coding after)."""
    codec.set_base_coding(q, delta, [j < m for j in range(codec.dim)])
    k = codec.bin_index(v[:, :m])
    x_hat = codec.reconstruct(k)
    return float(codec.code_length(k).mean()), float(((x - x_hat) ** 2).sum(-1).double().mean())


@torch.no_grad()
def fit_base_coding(
    codec: FlowCodec, x: Tensor, beta: float | None = None, seed: int = 0, select_samples: int = 8192
) -> BaseCoding:
    """Fit the bitstream's coding of the base space to the design samples ``x`` and set it on ``codec``
    (:meth:`FlowCodec.set_base_coding`), the analogue of CompressAI's ``update()``.

    The latent noise sigma eps is isotropic, so the encoder is free to spread what it transmits over
    every coordinate of u = h(f(x)); binning each coordinate then fails: in 64 dimensions each one
    carries a few hundredths of a bit, below what a scalar bin can resolve, and the stream pays
    ~0.13 bit per coordinate for bins that decode to the mean. Any orthogonal Q keeps the base
    distribution N(0, I), so the code lengths stay exact in v = u Q. Here Q holds the principal axes of
    the signal u0 = h(f(x)), ordered by their signal-to-noise ratio s_j / n_j, with s_j the variance of
    u0 along axis j and n_j that of the noise h(f(x) + sigma eps) - u0 (whose width sqrt(12 n_j) is the
    matched one of :func:`matched_bin_width`); each column's sign makes its largest entry positive, so
    in one dimension Q = 1 and nothing changes.

    With ``beta``, the bitstream codes the first m >= 1 columns, m chosen to minimise the codec's own
    objective D + beta R on the first ``select_samples`` rows of ``x`` (real bins, real decoder; every m
    from 0 to d is tried: d + 1 decodes, so the rows are capped), as transform coding drops the
    components that cost more rate than the distortion they save. Without it every column is coded.
    Fit on training samples, measure on others: the choice is a fit.
    """
    if beta is not None and not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be finite and > 0, got {beta}")
    if select_samples < 1:
        raise ValueError(f"select_samples must be >= 1, got {select_samples}")
    codec = binned_flowcodec(codec)
    gen = torch.Generator().manual_seed(seed)
    mean, z = codec.sample_latent(x, gen)
    u0, u1 = codec.prior(mean)[0].double().cpu(), codec.prior(z)[0].double().cpu()
    signal, axes = torch.linalg.eigh(torch.cov(u0.T).reshape(codec.dim, codec.dim))
    noise = (((u1 - u0) @ axes) ** 2).mean(0)
    snr = signal.clamp_min(0) / noise.clamp_min(1e-300)
    order = torch.argsort(snr, descending=True)
    q, snr, noise = axes[:, order], snr[order], noise[order]
    sign = torch.sign(q.gather(0, q.abs().argmax(0, keepdim=True))).reshape(-1)
    q = q * torch.where(sign == 0, 1.0, sign)
    delta = torch.sqrt(12 * noise).clamp_min(1e-12)
    m, lagrangian = codec.dim, None
    if beta is not None:
        xd = x[:select_samples].to(codec.log_sigma.device)
        v = u0[:select_samples] @ q
        lagrangian = []
        for j in range(codec.dim + 1):
            rate, dist = _code_prefix(codec, xd, v, q, delta, j)
            lagrangian.append(dist + beta * rate)
        # m >= 1: a stream that carries nothing measures nothing (the zero-rate point D = Var X needs no
        # codec); at low rate the matched width can lose to it, and lagrangian[0] records by how much
        m = 1 + int(np.argmin(lagrangian[1:]))
    coded = [j < m for j in range(codec.dim)]
    codec.set_base_coding(q, delta, coded)
    return BaseCoding(q, delta.tolist(), coded, snr.tolist(), lagrangian)


def measure_binned(
    codec: FlowCodec,
    x: Tensor,
    delta: float | list[float] | None = None,
    *,
    design: Tensor | None = None,
    beta: float | None = None,
) -> BinnedMeasurement:
    """Measurements 3 and 4 on the test samples ``x``: bin the base latent, rate = -log P(bins) under
    the N(0, I) base of the prior, and a real ANS bitstream of the same bins (:meth:`FlowCodec.compress`,
    decoded by :meth:`FlowCodec.decompress`). The codec's own coding state is restored after.

    How the base space is binned:
        - ``delta`` given (one width, or one per dimension): every coordinate of u = h(f(x)) as it is
          (Q = I), at that width.
        - else :func:`fit_base_coding` on ``design`` (default: ``x`` itself) with ``beta``: the
          rotation, matched widths and coded columns.

    The coded rate is 8 * bytes / n nats-converted (log 2 per bit), bytes of the whole stream: the ANS
    payload and its container (:mod:`ibflow.entropy.container`, 41 bytes for a FlowCodec); its uncertainty
    is that of the ideal code length (the coder adds at most 32 bits per stream, the container a constant)."""
    codec = binned_flowcodec(codec)
    saved = [b.clone() for b in (codec.base_rotation, codec.bin_width, codec.coded_dims)]
    try:
        if delta is None:
            fit_base_coding(codec, x if design is None else design, beta=beta)
        else:
            codec.set_base_coding(None, delta)  # the decoder must know the width: it is part of the codec's state
        v = codec.coded_latent(x)
        k = codec.bin_index(v)
        code_len = codec.code_length(k)
        clipped = 0
        if codec.coded_count:
            bins = codec.bins
            clipped = int((torch.round(v / bins.delta).abs() > bins.max_index).sum())
        dist_binned = ((x - codec.reconstruct(k)) ** 2).sum(-1)
        # measurement 4 through the codec contract: compress, decompress, count the bytes
        coded = codec.compress(x)
        decoded = codec.decompress_symbols(coded["strings"], coded["shape"])
        exact = bool(torch.equal(decoded, k))
        dist_coded = ((x - codec.decompress(coded["strings"], coded["shape"])["x_hat"]) ** 2).sum(-1)
        n_bytes = stream_bytes(coded["strings"])
        widths = codec.bin_width.tolist()
        coded_count = codec.coded_count
    finally:
        for buf, value in zip((codec.base_rotation, codec.bin_width, codec.coded_dims), saved):
            buf.copy_(value)
    return BinnedMeasurement(
        delta=widths,
        rate_binned=Measurement.of(code_len),
        distortion_binned=Measurement.of(dist_binned),
        rate_coded=8 * n_bytes * math.log(2) / len(x),
        distortion_coded=float(dist_coded.double().mean()),
        n_bytes=n_bytes,
        decoded_exactly=exact,
        clipped=clipped,
        coded_dims=coded_count,
    )
