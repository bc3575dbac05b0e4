"""Train the points of a sweep together: B one-dimensional FlowCodecs (one per beta) as one module whose
layers hold every codec's parameters side by side, so each optimiser step is one pass of each layer for
all of them instead of B.

Why this is exact. A 1-D FlowCodec's flows are elementwise (ActNorm and elementwise splines,
:func:`ibflow.flows.build_vector_flow` with one feature): a B-feature layer with the B codecs' parameters
in its columns computes each codec's output in its own column. The decoder becomes a grouped MLP
(:class:`GroupedDecoder`). The loss is sum_b D_b + beta_b R_b over disjoint parameters, so the gradient
of each codec's parameters is its own loss's gradient, and Adam is elementwise: the batched run follows
the B separate runs, seeded alike (same samples, the same noise broadcast to every column), up to the
rounding of batched arithmetic. :meth:`BatchedFlowCodec.unstack` returns the B trained FlowCodecs, which
every measurement then takes as they are.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from contracts import CodecLoss
from ibflow.flows.base import FlowSequential
from ibflow.flows.linear import ActNorm
from ibflow.flows.spline import ElementwiseSpline
from ibflow.noisy import add_latent_noise
from ibflow.vector.codec import FlowCodec, LearnedDecoder

__all__ = ["BatchedFlowCodec", "GroupedDecoder", "can_batch"]


def can_batch(codecs: Sequence[nn.Module]) -> bool:
    """Whether these codecs train together exactly: plain 1-D FlowCodecs with a learned decoder, fixed
    sigma, elementwise flows and one configuration."""
    if not codecs or any(type(c) is not FlowCodec for c in codecs):
        return False
    first = codecs[0]
    assert isinstance(first, FlowCodec)
    return (first.dim == 1 and first.config["decoder"] == "learned" and not first.config["learn_sigma"]
            and all(c.config == first.config for c in codecs)  # type: ignore[union-attr]
            and all(isinstance(f, (ActNorm, ElementwiseSpline)) for c in codecs for f in (*c.encoder, *c.prior)))


def _stack_flow(flows: Sequence[FlowSequential]) -> FlowSequential:
    """One B-feature FlowSequential whose column b is ``flows[b]`` (elementwise layers only)."""
    layers: list[nn.Module] = []
    for parts in zip(*flows):
        first = parts[0]
        if isinstance(first, ActNorm):
            layer: nn.Module = ActNorm(len(parts)).to(first.bias)
            with torch.no_grad():
                layer.bias.copy_(torch.cat([p.bias for p in parts]))
                layer.log_scale.copy_(torch.cat([p.log_scale for p in parts]))
                layer.initialized.fill_(bool(all(bool(p.initialized) for p in parts)))
        else:
            assert isinstance(first, ElementwiseSpline)
            layer = ElementwiseSpline(len(parts), bins=first.bins, bound=first.bound, min_bin_width=first.min_bin_width,
                                      min_bin_height=first.min_bin_height, min_derivative=first.min_derivative).to(first.widths)
            with torch.no_grad():
                for name in ("widths", "heights", "derivatives"):
                    getattr(layer, name).copy_(torch.cat([getattr(p, name) for p in parts]))
        layers.append(layer)
    return FlowSequential(*layers)


def _column_forward(flow: FlowSequential, x: Tensor) -> tuple[Tensor, Tensor]:
    """(y, log|dy/dx|) per column, both (n, B): the layers' own maps, their log-derivatives kept per
    feature (a layer's forward sums them over features, which would mix the codecs)."""
    logdet = torch.zeros_like(x)
    for layer in flow:
        if isinstance(layer, ActNorm):
            if not bool(layer.initialized):
                raise RuntimeError("BatchedFlowCodec: an ActNorm is not initialised (data_init first)")
            x = (x + layer.bias) * layer.log_scale.exp()
            logdet = logdet + layer.log_scale
        else:
            assert isinstance(layer, ElementwiseSpline)
            x, ld = layer.elementwise(x)
            logdet = logdet + ld
    return x, logdet


class GroupedDecoder(nn.Module):
    """B independent :class:`ibflow.vector.LearnedDecoder` s of one input and one output, x_hat_b =
    a_b z_b + c_b + MLP_b(z_b), their weights stacked so that all B run as batched matrix products."""

    def __init__(self, decoders: Sequence[LearnedDecoder]):
        super().__init__()
        self.affine_weight = nn.Parameter(torch.stack([d.affine.weight.detach().reshape(()) for d in decoders]).clone())
        self.affine_bias = nn.Parameter(torch.stack([d.affine.bias.detach().reshape(()) for d in decoders]).clone())
        linears = [[m for m in d.mlp if isinstance(m, nn.Linear)] for d in decoders]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].weight.detach() for ls in linears]).clone()) for i in range(len(linears[0]))])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].bias.detach() for ls in linears]).clone()) for i in range(len(linears[0]))])

    def forward(self, z: Tensor) -> Tensor:
        h = z[:, :, None]  # (n, B, 1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.einsum("nbi,boi->nbo", h, w) + b  # each codec's Linear on its own column
            if i < len(self.weights) - 1:
                h = F.silu(h)
        return z * self.affine_weight + self.affine_bias + h[:, :, 0]

    @torch.no_grad()
    def write_to(self, decoders: Sequence[LearnedDecoder]) -> None:
        """Copy column b's weights into ``decoders[b]``."""
        for b, d in enumerate(decoders):
            d.affine.weight.copy_(self.affine_weight[b].reshape(1, 1))
            d.affine.bias.copy_(self.affine_bias[b].reshape(1))
            for i, m in enumerate(m for m in d.mlp if isinstance(m, nn.Linear)):
                m.weight.copy_(self.weights[i][b])
                m.bias.copy_(self.biases[i][b])


class BatchedFlowCodec(nn.Module):
    """B 1-D FlowCodecs (:func:`can_batch`) trained as one on sum_b D_b + beta_b R_b.

    Train it with :func:`ibflow.train` at ``beta = 1``: the schedule's warm-up factor then scales every
    beta_b alike, as each separate run's schedule would. Batches are the source's (n, 1) samples; every
    codec sees them and the same latent noise.

    Example:
        >>> codecs = [FlowCodec(1, hidden=8) for _ in range(3)]
        >>> batched = BatchedFlowCodec(codecs, betas=[0.1, 0.5, 1.0])
        >>> batched.data_init(torch.randn(256, 1), generator=torch.Generator().manual_seed(0))
        >>> parts = batched.loss(torch.randn(64, 1), 1.0)
        >>> parts.total.shape, len(batched.unstack())
        (torch.Size([]), 3)
    """

    def __init__(self, codecs: Sequence[FlowCodec], betas: Sequence[float]):
        super().__init__()
        if not can_batch(codecs):
            raise ValueError("BatchedFlowCodec takes 1-D FlowCodecs of one configuration with a learned decoder, "
                             "fixed sigma and elementwise flows")
        if len(betas) != len(codecs):
            raise ValueError(f"one beta per codec: {len(codecs)} codecs, {len(betas)} betas")
        self.templates = [copy.deepcopy(c) for c in codecs]  # shells that unstack fills
        self.betas = [float(b) for b in betas]  # floats: made a tensor in the loss's own dtype
        self.register_buffer("log_sigma", codecs[0].log_sigma.detach().clone())
        self._stack(codecs)

    def _stack(self, codecs: Sequence[FlowCodec]) -> None:
        self.encoder = _stack_flow([c.encoder for c in codecs])  # type: ignore[misc]
        self.prior = _stack_flow([c.prior for c in codecs])  # type: ignore[misc]
        self.decoder = GroupedDecoder([c.decoder for c in codecs])  # type: ignore[misc]

    @property
    def size(self) -> int:
        return len(self.templates)

    def _latent(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        mean = _column_forward(self.encoder, x.expand(-1, self.size))[0]
        # one noise column, broadcast: each codec sees the noise its separate run would
        eps = add_latent_noise(torch.zeros_like(x), 1.0, generator)
        return mean + self.log_sigma.exp() * eps

    def loss(self, x: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """sum_b (D_b + beta * beta_b R_b), ``beta`` the schedule's factor; the parts are the sums over the
        codecs of their distortions and rates (batch means, nats)."""
        if x.dim() != 2 or x.shape[1] != 1:
            raise ValueError(f"a batched sweep trains on (n, 1) samples, got {tuple(x.shape)}")
        z = self._latent(x, generator)
        x_hat = self.decoder(z)
        distortion = ((x - x_hat) ** 2).mean(0)  # (B,)
        u, logdet = _column_forward(self.prior, z)
        entropy = 0.5 * (math.log(2 * math.pi * math.e) + 2 * self.log_sigma)  # h(q(z|x)) of one dimension
        log_prior = -0.5 * u**2 - 0.5 * math.log(2 * math.pi) + logdet  # log p_b(z_b), each column its own
        rate = (-entropy - log_prior).mean(0)
        total = (distortion + beta * torch.tensor(self.betas, dtype=rate.dtype, device=rate.device) * rate).sum()
        return CodecLoss(total, distortion.sum(), rate.sum())

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        z = self._latent(x, generator)
        return {"x_hat": self.decoder(z)}

    @torch.no_grad()
    def data_init(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """Each codec's own :meth:`FlowCodec.data_init` on the batch, each from the generator's current
        state (as each separate run starts from the same seed), the generator left where one run leaves it."""
        codecs = self.unstack()
        start = generator.get_state() if generator is not None else None
        for c in codecs:
            g = None
            if start is not None:
                g = torch.Generator().set_state(start)
            c.data_init(x, generator=g)
        if generator is not None and g is not None:
            generator.set_state(g.get_state())
        self._stack(codecs)

    @torch.no_grad()
    def unstack(self) -> list[FlowCodec]:
        """The B codecs, each a fresh FlowCodec holding its column's parameters."""
        out = []
        for b, shell in enumerate(self.templates):
            c = copy.deepcopy(shell)
            for mine, theirs in ((self.encoder, c.encoder), (self.prior, c.prior)):
                for big, small in zip(mine, theirs):
                    for name, value in small.named_parameters(recurse=False):
                        value.copy_(getattr(big, name)[b : b + 1])
                    if isinstance(small, ActNorm):
                        small.initialized.copy_(big.initialized)
            out.append(c)
        self.decoder.write_to([c.decoder for c in out])  # type: ignore[misc]
        return out
