r"""Glow-style multi-scale flows on images (N, C, H, W), built from the vector layers where the logic is shared."""

from __future__ import annotations

__all__ = [
    "squeeze",
    "unsqueeze",
    "Squeeze",
    "ConvAffineCoupling",
    "SplitPrior",
    "MultiScaleGlow",
    "glow_step",
]


import torch
import torch.nn as nn
from torch import Tensor

# ActNorm and InvConv1x1 already act on (N, C, H, W) (statistics over batch and pixels; the LU
# weight as a 1x1 convolution), so the image flow uses them as they are.
from ibflow.checks import check_int, check_positive
from ibflow.flows.base import Flow, FlowSequential
from ibflow.flows.linear import ActNorm, InvConv1x1


def _check_image(x: Tensor, channels: int, multiple: int = 1) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"expected an image batch of shape (N, {channels}, H, W), got {tuple(x.shape)}")
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise ValueError(
            f"height and width must be multiples of {multiple} (2 ** levels), got {tuple(x.shape[2:])}; "
            "crop or pad the image first"
        )


def squeeze(x: Tensor, factor: int = 2) -> Tensor:
    r"""Space-to-depth: (N, C, H, W) -> (N, C f^2, H/f, W/f) (Dinh et al. 2017, sec. 3.6)."""

    n, c, h, w = x.shape
    x = x.reshape(n, c, h // factor, factor, w // factor, factor)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(n, c * factor * factor, h // factor, w // factor)


def unsqueeze(x: Tensor, factor: int = 2) -> Tensor:
    r"""Depth-to-space, the inverse of :func:`squeeze`."""

    n, c, h, w = x.shape
    x = x.reshape(n, c // (factor * factor), factor, factor, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(n, c // (factor * factor), h * factor, w * factor)


class Squeeze(Flow):
    r"""The volume-preserving :func:`squeeze` as a flow layer (log-determinant 0)."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = check_int("factor", factor, 1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return squeeze(x, self.factor), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return unsqueeze(y, self.factor)


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class ConvAffineCoupling(Flow):
    r"""Affine coupling over channels with a convolutional conditioner (Glow, Kingma & Dhariwal 2018, table 1).

    .. math:: y_a = x_a, \quad y_b = x_b \odot \exp(s(x_a)) + t(x_a)

    with :math:`x_a` the first ``channels // 2`` channels. The conditioner is conv3x3 -> ReLU ->
    conv1x1 -> ReLU -> zero-initialised conv3x3, so the layer starts as the identity. As in
    :class:`ibflow.flows.AffineCoupling`, the log-scale is soft-clamped,
    :math:`s = B \tanh(\tilde s / B)`. The log-determinant is :math:`\sum_{c,h,w} s`.

    Arguments:
        channels: The number of channels, at least 2.
        hidden: The conditioner's width, at least 1.
        scale_bound: The bound :math:`B > 0` on the absolute log-scale.

    Example:
        >>> layer = ConvAffineCoupling(4, hidden=8)
        >>> x = torch.randn(2, 4, 6, 6)
        >>> y, logdet = layer(x)
        >>> torch.equal(y, x), torch.equal(logdet, torch.zeros(2))
        (True, True)
    """

    def __init__(self, channels: int, hidden: int = 64, scale_bound: float = 3.0):
        super().__init__()
        self.channels = check_int("channels", channels, 2)
        hidden = check_int("hidden", hidden, 1)
        self.scale_bound = check_positive("scale_bound", scale_bound)
        self.kept = channels // 2
        moved = channels - self.kept
        self.conditioner = nn.Sequential(
            nn.Conv2d(self.kept, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            _zero_conv(hidden, 2 * moved),
        )

    def _log_scale_and_shift(self, kept: Tensor) -> tuple[Tensor, Tensor]:
        raw, shift = self.conditioner(kept).chunk(2, dim=1)
        return self.scale_bound * torch.tanh(raw / self.scale_bound), shift

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_image(x, self.channels)
        kept, moved = x[:, : self.kept], x[:, self.kept :]
        log_scale, shift = self._log_scale_and_shift(kept)
        y = torch.cat([kept, moved * log_scale.exp() + shift], dim=1)
        return y, log_scale.flatten(1).sum(1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        _check_image(y, self.channels)
        kept, moved = y[:, : self.kept], y[:, self.kept :]
        log_scale, shift = self._log_scale_and_shift(kept)
        return torch.cat([kept, (moved - shift) * (-log_scale).exp()], dim=1)


class SplitPrior(Flow):
    r"""Glow's split with a learned conditional prior on the factored-out half, written as a bijection.

    The second half :math:`x_b` gets the prior :math:`N(\mu(x_a), \operatorname{diag} e^{2 \ell(x_a)})`
    (Kingma & Dhariwal 2018, sec. 3.3 and code ``split2d``), with :math:`(\mu, \ell)` from a
    zero-initialised conv3x3 of the kept half :math:`x_a`. Standardising,
    :math:`u_b = (x_b - \mu) e^{-\ell}`, makes that prior :math:`N(0, I)`, so the layer is the
    bijection :math:`(x_a, x_b) \mapsto (x_a, u_b)` with log-determinant :math:`-\sum \ell`, and
    a flow ending in it has a standard-normal base like every other flow here.

    Arguments:
        channels: The number of channels, at least 2; the first ``channels // 2`` are kept.
        scale_bound: The bound on :math:`|\ell|` (soft clamp, as in the couplings).
    """

    def __init__(self, channels: int, scale_bound: float = 5.0):
        super().__init__()
        self.channels = check_int("channels", channels, 2)
        self.kept = channels // 2
        self.scale_bound = check_positive("scale_bound", scale_bound)
        self.prior = _zero_conv(self.kept, 2 * (channels - self.kept))

    def _mean_and_log_scale(self, kept: Tensor) -> tuple[Tensor, Tensor]:
        mean, raw = self.prior(kept).chunk(2, dim=1)
        return mean, self.scale_bound * torch.tanh(raw / self.scale_bound)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_image(x, self.channels)
        kept, factored = x[:, : self.kept], x[:, self.kept :]
        mean, log_scale = self._mean_and_log_scale(kept)
        u = (factored - mean) * (-log_scale).exp()
        return torch.cat([kept, u], dim=1), -log_scale.flatten(1).sum(1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        _check_image(y, self.channels)
        kept, u = y[:, : self.kept], y[:, self.kept :]
        mean, log_scale = self._mean_and_log_scale(kept)
        return torch.cat([kept, u * log_scale.exp() + mean], dim=1)


def glow_step(channels: int, hidden: int) -> FlowSequential:
    r"""One Glow step: ActNorm -> invertible 1x1 convolution (LU) -> affine coupling."""

    return FlowSequential(ActNorm(channels), InvConv1x1(channels), ConvAffineCoupling(channels, hidden))


class MultiScaleGlow(Flow):
    r"""Creates a multi-scale Glow (Kingma & Dhariwal 2018, fig. 2) mapping (N, C, H, W) to the same shape.

    Level :math:`l` squeezes, runs ``steps`` Glow steps (:func:`glow_step`) and, except at the last
    level, splits off half the channels through :class:`SplitPrior`; the kept half goes on to level
    :math:`l + 1`. The outputs are put back where they came from (unsqueezed), so the flow is a
    bijection of the image onto a tensor of its own shape whose base distribution is
    :math:`N(0, I)`: :math:`\log p(x) = \log N(f(x); 0, I) + \log |\det \partial f / \partial x|`.
    H and W must be multiples of :math:`2^L`.

    Arguments:
        channels: Image channels, at least 1.
        levels: The number of levels :math:`L`, at least 1.
        steps: Glow steps per level :math:`K`, at least 1.
        hidden: Width of the coupling conditioners.

    Example:
        >>> flow = MultiScaleGlow(3, levels=2, steps=1, hidden=8)
        >>> x = torch.randn(2, 3, 8, 8)
        >>> y, logdet = flow(x)
        >>> y.shape, torch.allclose(flow.inverse(y), x, atol=1e-5)
        (torch.Size([2, 3, 8, 8]), True)
    """

    def __init__(self, channels: int = 3, levels: int = 2, steps: int = 2, hidden: int = 64):
        super().__init__()
        self.channels = check_int("channels", channels, 1)
        self.levels = check_int("levels", levels, 1)
        steps = check_int("steps", steps, 1)
        hidden = check_int("hidden", hidden, 1)
        self.stages = nn.ModuleList()
        self.splits = nn.ModuleList()
        self.widths: list[int] = []
        width = channels
        for level in range(levels):
            width *= 4
            self.widths.append(width)
            self.stages.append(FlowSequential(*(glow_step(width, hidden) for _ in range(steps))))
            if level < levels - 1:
                self.splits.append(SplitPrior(width))
                width = width // 2

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this (``2 ** levels``)."""
        return 2**self.levels

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_image(x, self.channels, self.multiple)
        logdet = x.new_zeros(x.shape[0])
        factored: list[Tensor] = []
        for level, stage in enumerate(self.stages):
            x, ld = stage(squeeze(x))
            logdet = logdet + ld
            if level < self.levels - 1:
                x, ld = self.splits[level](x)
                logdet = logdet + ld
                kept = self.splits[level].kept
                x, u = x[:, :kept], x[:, kept:]
                factored.append(u)
        for u in reversed(factored):
            x = torch.cat([unsqueeze(x), u], dim=1)
        return unsqueeze(x), logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        _check_image(y, self.channels, self.multiple)
        factored: list[Tensor] = []
        y = squeeze(y)
        for level in range(self.levels - 1):
            kept = self.splits[level].kept
            factored.append(y[:, kept:])
            y = squeeze(y[:, :kept])
        for level in reversed(range(self.levels)):
            if level < self.levels - 1:
                y = self.splits[level].inverse(torch.cat([y, factored[level]], dim=1))
            y = unsqueeze(self.stages[level].inverse(y))
        return y

    def latent_types(self, y: Tensor) -> Tensor:
        r"""Rearranges an output (N, C, H, W) so that dimension 1 indexes the ``C 4^L`` latent types
        (position in the :math:`2^L \times 2^L` block times channel): shape (N, C 4^L, H/2^L, W/2^L)."""
        for _ in range(self.levels):
            y = squeeze(y)
        return y

    def from_latent_types(self, t: Tensor) -> Tensor:
        r"""The inverse of :meth:`latent_types`."""
        for _ in range(self.levels):
            t = unsqueeze(t)
        return t
