"""FlowCodec: flow encoder, additive Gaussian latent noise, flow prior, a decoder (no quantization), and its bitstream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from contracts import BitstreamError
from ibflow.checks import check_choice
from ibflow.distortion import DISTORTIONS, get_distortion
from ibflow.entropy.bins import StandardNormalBins
from ibflow.entropy.bitstream import bytes_to_words, words_to_bytes
from ibflow.entropy.container import pack, unpack_strings
from ibflow.flows.base import Flow
from ibflow.flows.coupling import zero_output_mlp
from ibflow.flows.vector import build_vector_flow
from ibflow.noisy import NoisyLatentModule, check_sigma, fit_affine
from ibflow.registry import part_name, register_codec

__all__ = ["FlowCodec", "FlowCodecOptions", "FlowLatentOptions", "LearnedDecoder"]

DecoderKind = Literal["learned", "inverse"]


class LearnedDecoder(nn.Module):
    """x_hat = A z + c + MLP(z). The MLP's last layer starts at zero, so the decoder starts affine; with
    as many inputs as outputs the affine path starts as the identity (the inverse-free linear decoder,
    already MMSE-optimal for Gaussians), otherwise (``in_features`` != ``dim``, e.g. channel symbols
    in :mod:`ibflow.channel.jscc`) at PyTorch's default and is set by the caller's least-squares fit."""

    def __init__(self, dim: int, hidden: int = 64, depth: int = 2, in_features: int | None = None):
        super().__init__()
        in_features = dim if in_features is None else in_features
        self.affine = nn.Linear(in_features, dim)
        if in_features == dim:
            nn.init.eye_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)
        self.mlp = zero_output_mlp(in_features, hidden, depth, dim, nn.SiLU)

    def forward(self, z: Tensor) -> Tensor:
        return self.affine(z) + self.mlp(z)

    @torch.no_grad()
    def fit_affine(self, z: Tensor, x: Tensor) -> None:
        """Set A and c to the least-squares regression of x - MLP(z) on z (:func:`ibflow.noisy.fit_affine`)."""
        weight, bias = fit_affine(z, x.double() - self.mlp(z).double())
        self.affine.weight.copy_(weight)
        self.affine.bias.copy_(bias)


@dataclass
class FlowLatentOptions:
    """Options every FlowCodec-like codec shares: the latent noise, the flows, the distortion."""

    sigma: float = field(default=1.0, metadata={"help": "initial latent noise scale"})
    learn_sigma: bool = field(default=False, metadata={"help": "train sigma (as log sigma)"})
    depth: int = field(default=2, metadata={"help": "flow blocks of the encoder and the prior"})
    hidden: int = field(default=32, metadata={"help": "width of the flows' conditioners"})
    spline_bins: int | None = field(default=8, metadata={"help": "bins per spline (none: affine flows)"})
    distortion: str = field(default="mse", metadata={"help": "per-sample distortion", "choices": tuple(DISTORTIONS)})


@dataclass
class FlowCodecOptions(FlowLatentOptions):
    """Options of :class:`FlowCodec` (its ``dim`` comes from the source)."""

    decoder: DecoderKind = field(default="learned", metadata={"help": "learned decoder or the encoder's inverse"})


@register_codec(
    "flowcodec",
    options=FlowCodecOptions,
    tags=("vector",),
    summary="Flow encoder, Gaussian latent noise, flow prior; trained on D + beta E KL without quantization.",
)
class FlowCodec(NoisyLatentModule):
    """A codec trained without quantization (DESIGN.md, "the chain every report shows").

    Encoder: a flow f, latent z = f(x) + sigma * eps with eps ~ N(0, I), so q(z|x) = N(f(x), sigma^2 I).
    Prior: p(z) = N(h(z); 0, I) |det dh/dz| with a flow h (h = g^-1 of the issue's notation).
    Decoder: ``"inverse"`` (x_hat = f^-1(z)) or ``"learned"`` (:class:`LearnedDecoder`).

    The rate term is E_x KL(q(z|x) || p(z)) = -h(q(z|x)) + E_q[-log p(z)], an upper bound on I(X; Z)
    (Alemi et al. 2018, eq. 6) with the entropy h(q(z|x)) = d/2 log(2 pi e sigma^2) exact and the
    cross-entropy estimated by Monte Carlo with the reparameterised z (:class:`ibflow.noisy.NoisyLatentModule`).
    Distortion is squared error summed over dimensions, rate in nats per sample.

    The bitstream (:meth:`compress`) bins u = h(f(x)) in the prior's base space, where the prior is
    exactly N(0, I): rotated to v = u Q, binned at the widths :attr:`bin_width` (one per column) in the
    columns marked :attr:`coded_dims`, and ANS-coded. By default Q = I, every column is coded and the
    widths are 1; :meth:`set_base_coding` sets all three, :func:`ibflow.vector.rates.fit_base_coding`
    fits them to data (the analogue of CompressAI's ``update()``).

    Arguments:
        dim: dimension of x (and of z).
        decoder: ``"learned"`` or ``"inverse"``.
        sigma: initial latent noise scale (> 0).
        learn_sigma: whether sigma is trained (as log sigma).
        depth, hidden, spline_bins: passed to :func:`ibflow.flows.build_vector_flow` for f and h.
        distortion: name of the per-sample distortion (:data:`ibflow.distortion.DISTORTIONS`).

    Example:
        >>> codec = FlowCodec(dim=1)
        >>> parts = codec.loss(torch.randn(256, 1), beta=0.5)
        >>> parts.total.shape, sorted(codec(torch.randn(8, 1)))
        (torch.Size([]), ['rate', 'x_hat'])
    """

    bin_width: Tensor
    base_rotation: Tensor
    coded_dims: Tensor

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
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        check_choice("decoder", decoder, ("learned", "inverse"))
        sigma = check_sigma(sigma)
        self.config: dict[str, Any] = dict(
            dim=dim, decoder=decoder, sigma=sigma, learn_sigma=bool(learn_sigma), depth=depth, hidden=hidden,
            spline_bins=spline_bins, distortion=distortion,
        )
        self.distortion = get_distortion(distortion)
        self.dim = self.latent_dims = dim
        self.decoder_kind: DecoderKind = decoder
        self.encoder: Flow = build_vector_flow(dim, depth=depth, hidden=hidden, spline_bins=spline_bins)
        self.prior: Flow = build_vector_flow(dim, depth=depth, hidden=hidden, spline_bins=spline_bins)
        self.decoder = LearnedDecoder(dim, hidden=hidden) if decoder == "learned" else None
        self.init_sigma(sigma, learn_sigma)
        # float64, so that a width given as a Python float is kept exactly
        self.register_buffer("bin_width", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("base_rotation", torch.eye(dim, dtype=torch.float64))
        self.register_buffer("coded_dims", torch.ones(dim, dtype=torch.bool))

    def distortion_per_sample(self, x: Tensor, x_hat: Tensor) -> Tensor:
        return self.distortion(x, x_hat)

    def fit_decoder(self, x: Tensor, z: Tensor) -> None:
        assert isinstance(self.decoder, LearnedDecoder)
        self.decoder.fit_affine(z, x)

    # ------------------------------------------------------------------ bitstream (base-space bins)

    def set_bin_width(self, delta: float | Sequence[float] | Tensor) -> None:
        """Bin width in the prior's base space, one for every dimension or one per dimension (of the
        rotated base space, see :meth:`set_base_coding`)."""
        bins = StandardNormalBins(delta)  # checks it
        self.bin_width.copy_(torch.broadcast_to(torch.as_tensor(bins.delta), (self.dim,)))

    def set_base_coding(
        self,
        rotation: Tensor | None = None,
        delta: float | Sequence[float] | Tensor = 1.0,
        coded: Sequence[bool] | Tensor | None = None,
    ) -> None:
        """How the bitstream codes the base space: v = u Q for an orthogonal ``rotation`` Q (default the
        identity), bins of width ``delta`` along each column of Q, and only the columns marked ``coded``
        (default all); the others are not sent and decode to 0, the prior's mean.

        Any orthogonal Q keeps the prior exactly N(0, I), so the code lengths stay exact; what Q buys is
        that the information the encoder spread over many coordinates of u can be gathered into a few
        columns (:func:`ibflow.vector.rates.fit_base_coding`). Nothing here goes into the stream: like the
        widths, the rotation and the mask are the codec's state, known to both ends.
        """
        q = torch.eye(self.dim, dtype=torch.float64) if rotation is None else torch.as_tensor(rotation, dtype=torch.float64)
        if q.shape != (self.dim, self.dim):
            raise ValueError(f"rotation must have shape ({self.dim}, {self.dim}), got {tuple(q.shape)}")
        err = float((q.T @ q - torch.eye(self.dim, dtype=torch.float64)).abs().max())
        # 1e-6 admits a float32 rotation (orthogonal to ~1e-7); the code lengths assume v ~ N(0, I) exactly
        if not err < 1e-6:
            raise ValueError(f"rotation must be orthogonal (Q^T Q = I), off by {err:.3g}")
        mask = torch.ones(self.dim, dtype=torch.bool) if coded is None else torch.as_tensor(coded, dtype=torch.bool)
        if mask.shape != (self.dim,):
            raise ValueError(f"coded must name each of the {self.dim} dimensions, got shape {tuple(mask.shape)}")
        self.set_bin_width(delta)
        self.base_rotation.copy_(q)
        self.coded_dims.copy_(mask)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # checkpoints written before the rotation existed code every coordinate of u as it is
        defaults = {"base_rotation": torch.eye(self.dim, dtype=torch.float64), "coded_dims": torch.ones(self.dim, dtype=torch.bool)}
        for name, default in defaults.items():
            state_dict.setdefault(prefix + name, default)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def coded_count(self) -> int:
        """How many columns of the rotated base space the bitstream carries."""
        return int(self.coded_dims.sum())

    @property
    def bins(self) -> StandardNormalBins:
        """The bitstream's bins at :attr:`bin_width`, for the coded columns."""
        if self.coded_count == 0:
            raise ValueError("no dimension is coded: the stream carries no symbols")
        return StandardNormalBins(self.bin_width.cpu()[self.coded_dims.cpu()])

    @torch.no_grad()
    def base_latent(self, x: Tensor) -> Tensor:
        """u = h(f(x)), the noise-free latent in the prior's N(0, I) base space, float64 on the CPU."""
        return self.prior(self.encode(x))[0].double().cpu()

    @torch.no_grad()
    def coded_latent(self, x: Tensor) -> Tensor:
        """The coded columns of v = u Q, float64 (n, :attr:`coded_count`)."""
        return (self.base_latent(x) @ self.base_rotation.cpu())[:, self.coded_dims.cpu()]

    def bin_index(self, v: Tensor) -> Tensor:
        """The bin indices (int64) of values v (n, :attr:`coded_count`) of the coded columns."""
        return self.bins.index(v) if self.coded_count else v.to(torch.int64)

    def code_length(self, k: Tensor) -> Tensor:
        """-log P(k) in nats per row (n,) of bin indices k (n, :attr:`coded_count`), float64: the ideal code
        length of the stream's symbols under the N(0, I) base."""
        if not self.coded_count:
            return torch.zeros(len(k), dtype=torch.float64)
        return -self.bins.log_pmf(k).sum(-1)

    @torch.no_grad()
    def symbols(self, x: Tensor) -> Tensor:
        """The bin indices of the coded columns of v = h(f(x)) Q, int64 (n, :attr:`coded_count`)."""
        return self.bin_index(self.coded_latent(x))

    @torch.no_grad()
    def reconstruct(self, k: Tensor) -> Tensor:
        """x_hat = decoder(h^-1(v Q^T)), v the bin centres in the coded columns and 0 elsewhere."""
        v = torch.zeros(len(k), self.dim, dtype=torch.float64)
        if self.coded_count:
            v[:, self.coded_dims.cpu()] = self.bins.center(k)
        u = (v @ self.base_rotation.cpu().T).to(self.log_sigma.dtype).to(self.log_sigma.device)
        return self.decode(self.prior.inverse(u))

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """``{"strings": [container], "shape": (n,)}``: the bins of every row of x (n, dim) coded under
        their exact N(0, 1) masses (:class:`ibflow.entropy.StandardNormalBins`), in one
        :mod:`ibflow.entropy.container` (one string, as CompressAI keeps one per latent) with no side
        information: the bin widths are the codec's state, which the config hash does not cover.

        Example:
            >>> codec = FlowCodec(dim=2)
            >>> stream = codec.compress(torch.randn(5, 2))
            >>> len(stream["strings"]), stream["shape"], codec.decompress(**stream)["x_hat"].shape
            (1, (5,), torch.Size([5, 2]))
        """
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"compress takes x of shape (n, {self.dim}), got {tuple(x.shape)}")
        k = self.symbols(x)
        payload = words_to_bytes(self.bins.encode(k)) if self.coded_count else b""
        shape = (int(x.shape[0]),)
        return {"strings": [pack(part_name(self), self.config, shape, k.numel(), payload)], "shape": shape}

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The bin indices (n, dim) that :meth:`compress` coded; a stream that is not an intact one of this
        codec, config and ``shape`` raises :class:`contracts.BitstreamError`."""
        stream = unpack_strings(strings, part_name(self), self.config, shape)
        m = self.coded_count
        if len(stream.shape) != 1 or stream.symbols != stream.shape[0] * m or stream.side or (m == 0 and stream.payload):
            raise BitstreamError(
                f"a FlowCodec stream has shape (n,), n * {m} symbols (the coded dimensions) and no side information, "
                f"got shape {stream.shape}, {stream.symbols} symbols, {len(stream.side)} side bytes"
            )
        if m == 0:
            return torch.zeros(stream.shape[0], 0, dtype=torch.int64)
        return self.bins.decode(bytes_to_words(stream.payload), (stream.shape[0], m))

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat": decoded rows}`` from what :meth:`compress` returned."""
        return {"x_hat": self.reconstruct(self.decompress_symbols(strings, shape))}
