"""The Wyner-Ziv FlowCodec: an encoder that sees x only, a decoder and a conditional prior that see the side information y."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from contracts import BitstreamError, CodecLoss
from ibflow.checks import check_int
from ibflow.distortion import get_distortion
from ibflow.flows.base import Flow, FlowSequential, standard_normal_log_prob
from ibflow.flows.conditional import ConditionalAffine
from ibflow.flows.coupling import ConditionalAffineCoupling
from ibflow.flows.linear import ActNorm, LULinear
from ibflow.flows.vector import build_vector_flow
from ibflow.noisy import NoisyLatentModule, check_sigma, fit_affine
from ibflow.registry import part_name, register_codec
from ibflow.vector.binning import (
    CosetCode,
    Scorer,
    conditional_scorer,
    decode_coset,
    decode_stream,
    encode_stream,
)
from ibflow.vector.codec import FlowLatentOptions, LearnedDecoder

__all__ = ["WynerZivFlowCodec", "WynerZivOptions", "build_conditional_prior", "fit_conditional_prior"]


def build_conditional_prior(features: int, context_features: int, depth: int = 2, hidden: int = 32) -> FlowSequential:
    """The flow h_y of the conditional prior p(z|y) = N(h_y(z); 0, I) |det dh_y/dz|, y the context.

    First a :class:`ibflow.flows.ConditionalAffine` u = (z - mu(y)) exp(-s(y)), exact for a jointly
    Gaussian (z, y) with diagonal conditional covariance; for ``features == 1`` that is the whole flow
    (so the 1-D prior is conditionally Gaussian, with a mean and a scale that are any function of y:
    a conditional spline is not built yet). For ``features >= 2`` then ``depth`` blocks of
    :class:`ActNorm` -> :class:`LULinear` -> :class:`ConditionalAffineCoupling` (context y), the
    coupling masks alternating, as in :func:`ibflow.flows.build_vector_flow`.

    Example:
        >>> [type(f).__name__ for f in build_conditional_prior(2, 1, depth=1)]
        ['ConditionalAffine', 'ActNorm', 'LULinear', 'ConditionalAffineCoupling']
    """
    features = check_int("features", features, 1)
    context_features = check_int("context_features", context_features, 1)
    depth = check_int("depth", depth, 1)
    flows: list[Flow] = [ConditionalAffine(features, context_features, hidden=hidden)]
    if features >= 2:
        mask = torch.arange(features) < features // 2
        for block in range(depth):
            flows += [
                ActNorm(features),
                LULinear(features),
                ConditionalAffineCoupling(features, context_features, hidden=hidden, mask=mask if block % 2 == 0 else ~mask),
            ]
    return FlowSequential(*flows)


@torch.no_grad()
def fit_conditional_prior(prior: Flow, z: Tensor, context: Tensor) -> None:
    """Set the first layer of a :func:`build_conditional_prior` flow to the linear-Gaussian fit of z given the
    context: mean by least squares of z on the context (:func:`ibflow.noisy.fit_affine`), log-scale the log
    residual standard deviation per dimension. For a jointly Gaussian (z, context) with a diagonal
    conditional covariance that is already the exact conditional law; otherwise training starts from it.

    Example:
        >>> c = torch.randn(4096, 1)
        >>> z = 2 * c + 0.5 * torch.randn(4096, 1)
        >>> prior = build_conditional_prior(1, 1)
        >>> fit_conditional_prior(prior, z, c)
        >>> u, _ = prior(z, c)  # standardised: the residual of z given c, divided by its deviation
        >>> round(u.std().item(), 3)
        1.0
    """
    first = prior[0] if isinstance(prior, FlowSequential) else None
    if not isinstance(first, ConditionalAffine):
        raise TypeError("the prior's first layer is not a ConditionalAffine")
    weight, bias = fit_affine(context, z)
    residual = z.double() - context.double() @ weight.T - bias
    log_std = residual.std(dim=0, unbiased=False).clamp_min(1e-6).log()
    first.set_affine(weight, bias, log_std)


@dataclass
class WynerZivOptions(FlowLatentOptions):
    """Options of :class:`WynerZivFlowCodec` (its ``dim`` and ``side_dim`` come from the source); the
    prior's flow is conditioned on y."""


@register_codec(
    "flowcodec-wyner-ziv",
    options=WynerZivOptions,
    tags=("distributed",),
    summary="FlowCodec with side information y at the decoder only: encoder f(x), prior p(z|y), decoder x_hat(z, y).",
)
class WynerZivFlowCodec(NoisyLatentModule):
    """A FlowCodec for source coding with side information at the decoder (Wyner & Ziv 1976; Wyner 1978).

    Encoder: a flow f of x alone (:func:`ibflow.flows.build_vector_flow`), z = f(x) + sigma * eps with
    eps ~ N(0, I), so q(z|x) = N(f(x), sigma^2 I). Prior: p(z|y) = N(h_y(z); 0, I) |det dh_y/dz| with a
    flow conditioned on y (:func:`build_conditional_prior`). Decoder: x_hat(z, y) = A [z, y] + c +
    MLP([z, y]) (:class:`ibflow.vector.LearnedDecoder` with ``dim + side_dim`` inputs), its affine part
    set by least squares in :meth:`data_init`.

    The rate term is E_{x,y} KL(q(z|x) || p(z|y)) = -h(q(z|x)) + E[-log p(z|y)], in nats per sample, the
    entropy exact and the cross-entropy estimated by Monte Carlo with the reparameterised z. Because q
    depends on x only, Z - X - Y is a Markov chain by construction, and the mean KL bounds
    I(X; Z | Y) = E KL(q(z|x) || p(z|y)) - E KL(p(z|y)_true || p(z|y)) from above: the conditional form of
    the variational bound of Alemi et al. (2018, eq. 6). With the decoder a function of (Z, Y), that
    I(X; Z | Y) is in turn at least the Wyner-Ziv function R_WZ(D) at the distortion D reached
    (Wyner & Ziv 1976, Theorem 1; Wyner 1978 for Gaussian sources), so E KL >= R_WZ(D) whatever is learned.

    Training takes the pair as one tensor, so that :func:`ibflow.training.train` works unchanged: every
    ``batch`` is (n, dim + side_dim), x in the first ``dim`` columns and y in the last ``side_dim``
    (:meth:`split`), e.g. the samples of :class:`synthetic.sources.GaussianSideInformation`. The rate
    measurements of :mod:`ibflow.vector.rates` assume an unconditional prior and do not apply.

    The bitstream bins (:mod:`ibflow.vector.binning`): :meth:`compress` sees x only and sends the dithered
    index of f(x) modulo M under the codec's :class:`~ibflow.vector.binning.CosetCode` (set by
    :meth:`set_coset_code`, fitted by :func:`fit_wyner_ziv_coding`); :meth:`decompress` takes y too and
    picks the index of that coset where p(z|y) is highest. A wrong pick is a decoding error that the
    distortion then includes (:func:`measure_wyner_ziv_coding`).

    Arguments:
        dim: dimension of x (and of z), >= 1.
        side_dim: dimension of y, >= 1.
        sigma: initial latent noise scale (> 0).
        learn_sigma: whether sigma is trained (as log sigma).
        depth, hidden: blocks and width of the encoder flow and the conditional prior (and the
            decoder MLP's width).
        spline_bins: the encoder's spline bins (``None``: an affine encoder).
        distortion: name of the per-sample distortion (:data:`ibflow.distortion.DISTORTIONS`).

    Example:
        >>> codec = WynerZivFlowCodec(dim=1, side_dim=1)
        >>> batch = torch.randn(256, 2)  # [x, y]
        >>> codec.data_init(batch)
        >>> parts = codec.loss(batch, beta=0.5)
        >>> parts.total.shape, sorted(codec(batch)), codec(batch)["x_hat"].shape
        (torch.Size([]), ['rate', 'x_hat'], torch.Size([256, 1]))
    """

    decoder: LearnedDecoder

    def __init__(
        self,
        dim: int,
        side_dim: int,
        sigma: float = 1.0,
        learn_sigma: bool = False,
        depth: int = 2,
        hidden: int = 32,
        spline_bins: int | None = 8,
        distortion: str = "mse",
    ):
        super().__init__()
        dim = check_int("dim", dim, 1)
        side_dim = check_int("side_dim", side_dim, 1)
        sigma = check_sigma(sigma)
        self.config: dict[str, Any] = dict(
            dim=dim, side_dim=side_dim, sigma=sigma, learn_sigma=bool(learn_sigma), depth=depth, hidden=hidden,
            spline_bins=spline_bins, distortion=distortion,
        )
        self.distortion = get_distortion(distortion)
        self.dim = self.latent_dims = dim
        self.side_dim = side_dim
        self.encoder: Flow = build_vector_flow(dim, depth=depth, hidden=hidden, spline_bins=spline_bins)
        self.prior: Flow = build_conditional_prior(dim, side_dim, depth=depth, hidden=hidden)
        self.decoder = LearnedDecoder(dim, hidden=hidden, in_features=dim + side_dim)
        self.init_sigma(sigma, learn_sigma)
        self._coset: CosetCode | None = None

    # ------------------------------------------------------------------ bitstream (binning)

    def get_extra_state(self) -> dict[str, Any]:
        return {} if self._coset is None else self._coset.state()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self._coset = CosetCode.from_state(state) if state else None

    @property
    def coset_code(self) -> CosetCode | None:
        """The bitstream's code (None until :meth:`set_coset_code`)."""
        return self._coset

    def set_coset_code(self, code: CosetCode | None) -> None:
        if code is not None and not isinstance(code, CosetCode):
            raise TypeError(f"code must be a CosetCode or None, got {type(code).__name__}")
        self._coset = code

    def _code(self) -> CosetCode:
        if self._coset is None:
            raise ValueError("no coset code is set: call set_coset_code (or fit_wyner_ziv_coding) before coding")
        return self._coset

    @torch.no_grad()
    def latent_mean(self, x: Tensor) -> Tensor:
        """f(x), the noise-free latent the bitstream quantizes, float64 on the CPU."""
        return self.encode(x).double().cpu()

    def side_scorer(self, y: Tensor) -> Scorer:
        """The decoder's score of candidate latents: log p(z | y) of each row's y
        (:data:`ibflow.vector.binning.Scorer`)."""
        return conditional_scorer(self.prior_log_prob, y, self.log_sigma)

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """``{"strings": [container], "shape": (n,)}`` from x (n, dim) alone: the symbols (k - low) mod M of
        the dithered indices k of f(x), ANS-coded under the code's pmf, the code's digest as side
        information (so that a stream of another code is refused; :func:`ibflow.vector.binning.encode_stream`)."""
        code = self._code()
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"compress takes x of shape (n, {self.dim}) (the encoder sees x only), got {tuple(x.shape)}")
        return {"strings": [encode_stream(part_name(self), self.config, code, self.latent_mean(x))], "shape": (int(x.shape[0]),)}

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The symbols (n, dim) :meth:`compress` sent; a stream that is not an intact one of this codec,
        config, code and ``shape`` raises :class:`contracts.BitstreamError`."""
        if isinstance(strings, (bytes, bytearray, str)) or len(strings) != 1:
            raise BitstreamError("a Wyner-Ziv stream is one string")
        return decode_stream(strings[0], part_name(self), self.config, self._code(), shape, self.dim)

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int], y: Tensor) -> dict[str, Tensor]:
        """``{"x_hat", "index"}``: the rows decoded with the side information y (n, side_dim), and the
        latent indices the decoder found likeliest. x_hat is the decoder's posterior mean over the likeliest
        members of each coset (:func:`ibflow.vector.binning.decode_coset`), not only the best one's."""
        code = self._code()
        s = self.decompress_symbols(strings, shape)
        if y.dim() != 2 or y.shape != (len(s), self.side_dim):
            raise ValueError(f"y must have shape (n, side_dim) = ({len(s)}, {self.side_dim}), got {tuple(y.shape)}")
        x_hat, index = decode_coset(code, s, self.side_scorer(y), self.decode_at, y)
        return {"x_hat": x_hat, "index": index}

    def decode_at(self, z: Tensor, y: Tensor) -> Tensor:
        """x_hat(z, y) with z and y cast to the codec's dtype and device (the bitstream's latents are float64)."""
        return self.decode(z.to(self.log_sigma), y.to(self.log_sigma))

    def split(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """(x, y) from a batch (n, dim + side_dim) holding [x, y]; any other shape raises a ValueError."""
        width = self.dim + self.side_dim
        if batch.dim() != 2 or batch.shape[1] != width:
            raise ValueError(
                f"batch must have shape (n, dim + side_dim) = (n, {width}), [x, y] concatenated; got {tuple(batch.shape)}"
            )
        return batch[:, : self.dim], batch[:, self.dim :]

    def decode(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]  # the decoder sees y
        """x_hat(z, y) (not clamped)."""
        return self.decoder(torch.cat([z, y], dim=1))

    def prior_log_prob(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """log p(z|y) = log N(h_y(z); 0, I) + log|det dh_y/dz| per sample (nats)."""
        u, logdet = self.prior(z, y)
        return standard_normal_log_prob(u) + logdet

    def kl_per_sample(self, z: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        """One-sample Monte-Carlo estimate of KL(q(z|x) || p(z|y)) per row, nats: -h(q) - log p(z|y)."""
        return -self.posterior_entropy() - self.prior_log_prob(z, y)

    def distortion_per_sample(self, x: Tensor, x_hat: Tensor) -> Tensor:
        return self.distortion(x, x_hat)

    def forward(self, batch: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:  # type: ignore[override]
        """Through the training-time channel: ``{"x_hat": x_hat(z, y) (n, dim), "rate": KL estimate per sample (nats)}``."""
        x, y = self.split(batch)
        _, z = self.sample_latent(x, generator)
        return {"x_hat": self.decode(z, y), "rate": self.kl_per_sample(z, y)}

    def loss(self, batch: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:  # type: ignore[override]
        """``distortion + beta * rate`` with its parts (:class:`contracts.CodecLoss`, batch means; the rate
        E KL(q(z|x) || p(z|y)) in nats per sample), for a ``batch`` [x, y] (:meth:`split`)."""
        out = self(batch, generator)
        x, _ = self.split(batch)
        distortion = self.distortion_per_sample(x, out["x_hat"]).mean()
        rate = out["rate"].mean()
        return CodecLoss(distortion + beta * rate, distortion, rate)

    def fit_decoder(self, x: Tensor, z: Tensor, y: Tensor) -> None:  # type: ignore[override]
        """Set the decoder's affine part to the least-squares regression of x on [z, y]."""
        self.decoder.fit_affine(torch.cat([z, y], dim=1), x)

    @torch.no_grad()
    def fit_prior(self, z: Tensor, y: Tensor) -> None:
        """Set the prior's first layer to the linear-Gaussian fit of z given y (:func:`fit_conditional_prior`)."""
        fit_conditional_prior(self.prior, z, y)

    @torch.no_grad()
    def data_init(self, batch: Tensor, generator: torch.Generator | None = None) -> None:  # type: ignore[override]
        """Data-dependent initialisation on one batch [x, y]: the encoder's ActNorms standardise x (Kingma &
        Dhariwal 2018), the prior's first layer is fitted to z given y (:meth:`fit_prior`) and its later
        ActNorms initialise on what that leaves, and the decoder's affine part is set to the least-squares
        regression of x on [z, y], the linear MMSE decoder of the initial channel (see
        :meth:`ibflow.noisy.NoisyLatentModule.data_init` for why it matters)."""
        was_training = self.training
        self.train()
        x, y = self.split(batch)
        _, z = self.sample_latent(x, generator)
        self.fit_prior(z, y)
        self.prior(z, y)
        self.fit_decoder(x, z, y)
        self.train(was_training)
