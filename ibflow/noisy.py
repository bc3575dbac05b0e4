"""The one noisy-latent codec core: z = f(x) + sigma eps, q(z|x) = N(f(x), sigma^2 I), and its KL to a flow prior."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from contracts import CodecLoss
from ibflow.flows.base import Flow, standard_normal_log_prob

__all__ = ["add_latent_noise", "add_uniform_noise", "fit_affine", "check_sigma", "NoisyLatentModule"]


def add_latent_noise(mean: Tensor, sigma: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
    """z = mean + sigma * eps, eps ~ N(0, I), the noise drawn on the generator's device (a CPU generator
    cannot fill a CUDA tensor) and then moved to the mean's.

    Example:
        >>> z = add_latent_noise(torch.zeros(4, 2), 0.5, torch.Generator().manual_seed(0))
        >>> z.shape
        torch.Size([4, 2])
    """
    device = generator.device if generator is not None else mean.device
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=device).to(mean.device)
    return mean + sigma * eps


def add_uniform_noise(y: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """(y + u, u) with u ~ U(-1/2, 1/2) elementwise, drawn on the generator's device: the training
    stand-in for rounding (Ballé et al. 2017, sec. 2) and the dither of universal quantization.

    Example:
        >>> y_tilde, u = add_uniform_noise(torch.zeros(3), torch.Generator().manual_seed(0))
        >>> bool(torch.all(u.abs() <= 0.5)), torch.equal(y_tilde, u)
        (True, True)
    """
    device = generator.device if generator is not None else y.device
    u = torch.rand(y.shape, generator=generator, dtype=y.dtype, device=device).to(y.device) - 0.5
    return y + u, u


def fit_affine(inputs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Least squares in float64 of ``target`` (n, m) on ``inputs`` (n, k) with an intercept: the
    (weight (m, k), bias (m,)) of the linear MMSE map on these samples. Decoders start from it (see
    :meth:`NoisyLatentModule.data_init`).

    Example:
        >>> x = torch.randn(64, 2, dtype=torch.float64)
        >>> w, b = fit_affine(x, 3 * x + 1)
        >>> torch.allclose(w, 3 * torch.eye(2, dtype=w.dtype)), torch.allclose(b, torch.ones(2, dtype=b.dtype))
        (True, True)
    """
    ones = torch.ones(len(inputs), 1, dtype=inputs.dtype, device=inputs.device)
    design = torch.cat([inputs, ones], 1).double()
    solution = torch.linalg.lstsq(design, target.double()).solution
    return solution[:-1].T, solution[-1]


def check_sigma(sigma: Any) -> float:
    """sigma as a float, refusing anything not finite and > 0 (the message every codec gives)."""
    if not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    return float(sigma)


class NoisyLatentModule(nn.Module):
    """The core every noisy-latent codec shares (FlowCodec, ImageFlowCodec): an encoder flow f, the
    latent z = f(x) + sigma eps with eps ~ N(0, I), so q(z|x) = N(f(x), sigma^2 I), a prior
    p(z) = N(h(z); 0, I) |det dh/dz| with a flow h, and a decoder (``None``: x_hat = f^-1(z)).

    The rate is the one-sample estimate of KL(q(z|x) || p(z)) = -h(q(z|x)) - E_q log p(z), with the
    posterior entropy h(q) = D/2 log(2 pi e sigma^2) over all D latent dimensions exact; its mean over
    x bounds I(X; Z) from above (Alemi et al. 2018, eq. 6). ``forward`` keeps the codec contract
    (``{"x_hat", "rate"}``, rate per sample in nats) and ``loss`` the trainable one.

    Subclasses build ``encoder``, ``prior`` and ``decoder``, call :meth:`init_sigma`, and define
    :meth:`distortion_per_sample`, :meth:`rate_unit` and :meth:`fit_decoder`.
    """

    encoder: Flow
    prior: Flow
    decoder: nn.Module | None
    log_sigma: Tensor
    latent_dims: int | None = None  # D when every latent has the same size (vectors), else None

    def init_sigma(self, sigma: float, learn_sigma: bool) -> None:
        """Hold log sigma as a parameter (trained) or a buffer (fixed)."""
        log_sigma = torch.tensor(math.log(check_sigma(sigma)))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @property
    def sigma(self) -> Tensor:
        return self.log_sigma.exp()

    def encode(self, x: Tensor) -> Tensor:
        """The latent mean f(x), shape of x."""
        return self.encoder(x)[0]

    def sample_latent(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(f(x), z = f(x) + sigma * eps)."""
        mean = self.encode(x)
        return mean, add_latent_noise(mean, self.sigma, generator)

    def decode(self, z: Tensor) -> Tensor:
        """x_hat from a latent z (not clamped)."""
        return self.encoder.inverse(z) if self.decoder is None else self.decoder(z)

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = log N(h(z); 0, I) + log|det dh/dz| per sample (nats)."""
        u, logdet = self.prior(z)
        return standard_normal_log_prob(u) + logdet

    def posterior_entropy(self, dims: int | None = None) -> Tensor:
        """h(q(z|x)) = D/2 log(2 pi e sigma^2) for D = ``dims`` latent dimensions (default
        :attr:`latent_dims`), the same for every x."""
        dims = self.latent_dims if dims is None else dims
        if dims is None:
            raise ValueError("this codec's latent size depends on the input: pass dims")
        return 0.5 * dims * (math.log(2 * math.pi * math.e) + 2 * self.log_sigma)

    def kl_per_sample(self, z: Tensor) -> Tensor:
        """One-sample Monte-Carlo estimate of KL(q(z|x) || p(z)) per row, nats: -h(q) - log p(z)."""
        return -self.posterior_entropy(z[0].numel()) - self.prior_log_prob(z)

    def distortion_per_sample(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """The training distortion per sample, in the codec's own unit."""
        raise NotImplementedError

    def rate_unit(self, x: Tensor) -> int:
        """What :meth:`loss` reports the rate per: 1 (per sample) or the pixels of an image."""
        return 1

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Through the training-time channel: ``{"x_hat": decoder(z), "rate": KL estimate per sample (nats)}``."""
        _, z = self.sample_latent(x, generator)
        x_hat = self.decode(z)
        return {"x_hat": x_hat, "rate": self.kl_per_sample(z)}

    def loss(self, x: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """``distortion + beta * rate`` with its parts (:class:`contracts.CodecLoss`, batch means; rate
        in nats per :meth:`rate_unit`)."""
        _, z = self.sample_latent(x, generator)
        x_hat = self.decode(z)
        distortion = self.distortion_per_sample(x, x_hat).mean()
        rate = self.kl_per_sample(z).mean() / self.rate_unit(x)
        return CodecLoss(distortion + beta * rate, distortion, rate)

    def fit_decoder(self, x: Tensor, z: Tensor) -> None:
        """Set the decoder's affine part by least squares of x on z (:func:`fit_affine`)."""
        raise NotImplementedError

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
            self.fit_decoder(x, z)
        self.train(was_training)
