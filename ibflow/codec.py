"""FlowCodec: flow encoder, additive Gaussian latent noise, flow prior, and a decoder (no quantization)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ibflow.distortion import get_distortion
from ibflow.layers import Flow, build_vector_flow

__all__ = ["FlowCodec", "CodecLoss", "LearnedDecoder", "add_latent_noise"]

DecoderKind = Literal["learned", "inverse"]


def add_latent_noise(mean: Tensor, sigma: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
    """z = mean + sigma * eps, eps ~ N(0, I), the noise drawn on the generator's device (a CPU generator
    cannot fill a CUDA tensor) and then moved to the mean's."""
    device = generator.device if generator is not None else mean.device
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=device).to(mean.device)
    return mean + sigma * eps


@dataclass
class CodecLoss:
    """Parts of the training objective, batch means: ``total = distortion + beta * rate``.

    ``distortion`` is squared error summed over dimensions; ``rate`` is E_x KL(q(z|x) || p(z)) in nats.
    """

    total: Tensor
    distortion: Tensor
    rate: Tensor


class LearnedDecoder(nn.Module):
    """x_hat = A z + c + MLP(z). The MLP's last layer starts at zero, so the decoder starts affine; with
    as many inputs as outputs the affine path starts as the identity (the inverse-free linear decoder,
    already MMSE-optimal for Gaussians), otherwise (``in_features`` != ``dim``, e.g. channel symbols
    in :mod:`ibflow.jscc`) at PyTorch's default and is set by the caller's least-squares fit."""

    def __init__(self, dim: int, hidden: int = 64, depth: int = 2, in_features: int | None = None):
        super().__init__()
        in_features = dim if in_features is None else in_features
        self.affine = nn.Linear(in_features, dim)
        if in_features == dim:
            nn.init.eye_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, dim)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(*layers, last)

    def forward(self, z: Tensor) -> Tensor:
        return self.affine(z) + self.mlp(z)


class FlowCodec(nn.Module):
    """A codec trained without quantization (DESIGN.md, "the chain every report shows").

    Encoder: a flow f, latent z = f(x) + sigma * eps with eps ~ N(0, I), so q(z|x) = N(f(x), sigma^2 I).
    Prior: p(z) = N(h(z); 0, I) |det dh/dz| with a flow h (h = g^-1 of the issue's notation).
    Decoder: ``"inverse"`` (x_hat = f^-1(z)) or ``"learned"`` (:class:`LearnedDecoder`).

    The rate term is E_x KL(q(z|x) || p(z)) = -h(q(z|x)) + E_q[-log p(z)], an upper bound on I(X; Z)
    (Alemi et al. 2018, eq. 6) with the entropy h(q(z|x)) = d/2 log(2 pi e sigma^2) exact and the
    cross-entropy estimated by Monte Carlo with the reparameterised z.

    Arguments:
        dim: dimension of x (and of z).
        decoder: ``"learned"`` or ``"inverse"``.
        sigma: initial latent noise scale (> 0).
        learn_sigma: whether sigma is trained (as log sigma).
        depth, hidden, spline_bins: passed to :func:`ibflow.layers.build_vector_flow` for f and h.
        distortion: name of the per-sample distortion (:data:`ibflow.distortion.DISTORTIONS`).

    Example:
        >>> codec = FlowCodec(dim=1)
        >>> parts = codec.loss(torch.randn(256, 1), beta=0.5)
        >>> parts.total.shape
        torch.Size([])
    """

    def __init__(
        self,
        dim: int,
        decoder: DecoderKind = "learned",
        sigma: float = 1.0,
        learn_sigma: bool = False,
        depth: int = 2,
        hidden: int = 32,
        spline_bins: int | None = 8,
        distortion: str = "mse",
    ):
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        if decoder not in ("learned", "inverse"):
            raise ValueError(f"decoder must be 'learned' or 'inverse', got {decoder!r}")
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
        self.config: dict[str, Any] = dict(
            dim=dim,
            decoder=decoder,
            sigma=float(sigma),
            learn_sigma=bool(learn_sigma),
            depth=depth,
            hidden=hidden,
            spline_bins=spline_bins,
            distortion=distortion,
        )
        self.distortion = get_distortion(distortion)
        self.dim = dim
        self.decoder_kind: DecoderKind = decoder
        self.encoder: Flow = build_vector_flow(dim, depth=depth, hidden=hidden, spline_bins=spline_bins)
        self.prior: Flow = build_vector_flow(dim, depth=depth, hidden=hidden, spline_bins=spline_bins)
        self.decoder = LearnedDecoder(dim, hidden=hidden) if decoder == "learned" else None
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @property
    def sigma(self) -> Tensor:
        return self.log_sigma.exp()

    def encode(self, x: Tensor) -> Tensor:
        """The latent mean f(x), shape (n, dim)."""
        return self.encoder(x)[0]

    def sample_latent(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(mean f(x), noisy z = f(x) + sigma * eps)."""
        mean = self.encode(x)
        return mean, add_latent_noise(mean, self.sigma, generator)

    def decode(self, z: Tensor) -> Tensor:
        """x_hat from a latent z."""
        if self.decoder is None:
            return self.encoder.inverse(z)
        return self.decoder(z)

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = log N(h(z); 0, I) + log|det dh/dz|, shape (n,)."""
        u, logdet = self.prior(z)
        return -0.5 * (u**2).sum(-1) - 0.5 * self.dim * math.log(2 * math.pi) + logdet

    def posterior_entropy(self) -> Tensor:
        """h(q(z|x)) = d/2 log(2 pi e sigma^2), the same for every x."""
        return 0.5 * self.dim * (math.log(2 * math.pi * math.e) + 2 * self.log_sigma)

    def kl_per_sample(self, z: Tensor) -> Tensor:
        """One-sample Monte-Carlo estimate of KL(q(z|x) || p(z)) for each row: -h(q) - log p(z)."""
        return -self.posterior_entropy() - self.prior_log_prob(z)

    def loss(self, x: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """``distortion + beta * rate`` with its parts (batch means; rate in nats)."""
        _, z = self.sample_latent(x, generator)
        x_hat = self.decode(z)
        distortion = self.distortion(x, x_hat).mean()
        rate = self.kl_per_sample(z).mean()
        return CodecLoss(distortion + beta * rate, distortion, rate)

    @torch.no_grad()
    def data_init(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """Data-dependent initialisation on one batch: the ActNorm layers of f and h standardise it
        (Kingma & Dhariwal 2018), then the learned decoder's affine part is set to the least-squares
        regression of x on z, the linear MMSE decoder of the initial channel. Without the latter,
        low-variance components whose initial decoder is far off are switched off by the rate term
        before the decoder learns to use them, and a = 0 is a stationary point they cannot leave."""
        was_training = self.training
        self.train()
        _, z = self.sample_latent(x, generator)
        self.prior(z)
        if self.decoder is not None:
            ones = torch.ones(len(z), 1, dtype=z.dtype, device=z.device)
            design = torch.cat([z, ones], 1).double()
            sol = torch.linalg.lstsq(design, x.double() - self.decoder.mlp(z).double()).solution
            self.decoder.affine.weight.copy_(sol[:-1].T)
            self.decoder.affine.bias.copy_(sol[-1])
        self.train(was_training)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction through the noisy channel (the training-time test channel)."""
        return self.decode(self.sample_latent(x)[1])
