"""The two-terminal FlowCodec: two encoders that each see one source, one decoder, and the Berger-Tung sum rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from contracts import BitstreamError, CodecLoss
from ibflow.checks import check_int
from ibflow.distortion import get_distortion
from ibflow.flows.base import FlowSequential, standard_normal_log_prob
from ibflow.flows.block import BlockDiagonal
from ibflow.flows.vector import build_vector_flow
from ibflow.noisy import NoisyLatentModule, check_sigma
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
from ibflow.vector.wyner_ziv import build_conditional_prior, fit_conditional_prior

__all__ = ["TwoTerminalFlowCodec", "TwoTerminalOptions"]


@dataclass
class TwoTerminalOptions(FlowLatentOptions):
    """Options of :class:`TwoTerminalFlowCodec` (its ``dim1`` and ``dim2`` come from the source); the second
    prior's flow is conditioned on z1."""


@register_codec(
    "flowcodec-two-terminal",
    options=TwoTerminalOptions,
    tags=("distributed",),
    summary="FlowCodec for two separately encoded sources: encoders f1(x1), f2(x2), prior p(z1) p(z2|z1), joint decoder.",
)
class TwoTerminalFlowCodec(NoisyLatentModule):
    """A FlowCodec for the two-terminal source coding problem: X1 and X2 encoded separately, decoded jointly.

    Encoders: flows f1 of x1 alone and f2 of x2 alone (:func:`ibflow.flows.build_vector_flow` each), held as
    one block-diagonal flow f(x) = [f1(x1), f2(x2)] (:class:`ibflow.flows.BlockDiagonal`), and
    z = f(x) + sigma * eps with eps ~ N(0, I): q(z|x) = q(z1|x1) q(z2|x2), each N(f_i(x_i), sigma^2 I).
    There is no coordination: z2 is a function of x2 and its own noise only, so Z1 - X1 - X2 - Z2 is a
    Markov chain by construction. Prior: p(z1, z2) = p(z1) p(z2 | z1), p(z1) an unconditional flow (as
    :class:`ibflow.vector.FlowCodec`'s prior) and p(z2 | z1) a flow conditioned on z1
    (:func:`ibflow.vector.build_conditional_prior`). Decoder: one joint x_hat = (x1_hat, x2_hat) = g(z1, z2)
    (:class:`ibflow.vector.LearnedDecoder`, its affine part set by least squares in :meth:`data_init`).

    **Rates** (nats per sample, one-sample Monte-Carlo estimates with the reparameterised z,
    :meth:`rates_per_sample`): r1 = -h(q(z1|x1)) - log p(z1) and r2 = -h(q(z2|x2)) - log p(z2|z1). Their
    means bound, from above and with equality when the prior is the true law of z,

    - E r1 >= I(X1; Z1), the variational bound of Alemi et al. (2018, eq. 6), and
    - E r2 >= h(Z2 | Z1) - h(Z2 | X2) = I(X2; Z2 | Z1), since E[-log p(z2|z1)] >= h(Z2 | Z1) (cross-entropy)
      and h(q(z2|x2)) = h(Z2 | X2) = h(Z2 | X2, Z1) by the Markov chain;

    so E(r1 + r2) >= I(X1; Z1) + I(X2; Z2 | Z1) = I(X1, X2; Z1, Z2), the chain rule with
    I(X1, X2; Z1) = I(X1; Z1) and I(X1, X2; Z2 | Z1) = I(X2; Z2 | Z1), both from the Markov chain. That is the
    sum rate of the Berger-Tung inner bound with auxiliaries U_i = Z_i (Berger 1978; Tung 1978), split at the
    corner point where Z1 is decoded first: encoder 1 at I(X1; Z1), encoder 2 at I(X2; Z2 | Z1), a Wyner-Ziv
    rate with the decoded Z1 as side information (binned in the bitstream). The other corner swaps
    the roles; time sharing fills the segment between, all at the same sum rate. For jointly Gaussian
    sources under mean squared error the Berger-Tung bound with Gaussian test channels is tight (Wagner,
    Tavildar & Viswanath 2008, Thm 1), so with the decoder any function of (Z1, Z2) the mean sum rate is at
    least the optimum :func:`synthetic.distributed.two_terminal_sum_rate` at the (D1, D2) reached, whatever
    is learned; the linear-Gaussian optimum lies inside the model (affine encoders, a Gaussian p(z1), a
    conditional affine p(z2|z1), an affine decoder).

    Training takes the pair as one tensor, so that :func:`ibflow.training.train` works unchanged: every
    ``batch`` is (n, dim1 + dim2), x1 in the first ``dim1`` columns and x2 in the last ``dim2``
    (:meth:`split`), e.g. the samples of :class:`synthetic.sources.GaussianSideInformation`. The objective is
    D1 + D2 + beta (R1 + R2) (:meth:`loss`, whose ``extra`` logs the four parts). The rate measurements of
    :mod:`ibflow.vector.rates` assume an unconditional prior and do not apply.

    The bitstreams (:meth:`compress`, one string per encoder, each from its own source alone): encoder 1
    sends its dithered latent index whole, encoder 2 its index modulo M (:mod:`ibflow.vector.binning`);
    the decoder reconstructs z1 first and resolves encoder 2's coset with p(z2 | z1_hat), the corner
    point made operational. :func:`ibflow.vector.fit_two_terminal_coding` fits both codes.

    Arguments:
        dim1: dimension of x1 (and of z1), >= 1.
        dim2: dimension of x2 (and of z2), >= 1.
        sigma: initial latent noise scale (> 0), the same for both encoders.
        learn_sigma: whether sigma is trained (as log sigma).
        depth, hidden: blocks and width of the encoder flows and the priors (and the decoder MLP's width).
        spline_bins: the encoders' and p(z1)'s spline bins (``None``: affine flows).
        distortion: name of the per-sample distortion of each source (:data:`ibflow.distortion.DISTORTIONS`).

    Example:
        >>> codec = TwoTerminalFlowCodec(dim1=1, dim2=1)
        >>> batch = torch.randn(256, 2)  # [x1, x2]
        >>> codec.data_init(batch)
        >>> parts = codec.loss(batch, beta=0.5)
        >>> parts.total.shape, sorted(parts.extra), codec(batch)["x_hat"].shape
        (torch.Size([]), ['distortion_1', 'distortion_2', 'rate_1', 'rate_2'], torch.Size([256, 2]))
    """

    encoder: BlockDiagonal
    decoder: LearnedDecoder

    def __init__(
        self,
        dim1: int,
        dim2: int,
        sigma: float = 1.0,
        learn_sigma: bool = False,
        depth: int = 2,
        hidden: int = 32,
        spline_bins: int | None = 8,
        distortion: str = "mse",
    ):
        super().__init__()
        dim1 = check_int("dim1", dim1, 1)
        dim2 = check_int("dim2", dim2, 1)
        sigma = check_sigma(sigma)
        self.config: dict[str, Any] = dict(
            dim1=dim1, dim2=dim2, sigma=sigma, learn_sigma=bool(learn_sigma), depth=depth, hidden=hidden,
            spline_bins=spline_bins, distortion=distortion,
        )
        self.distortion = get_distortion(distortion)
        self.dim1, self.dim2 = dim1, dim2
        # dim: what the decoder reconstructs and the latent's size, both sources together
        self.dim = self.latent_dims = dim1 + dim2
        self.encoder = BlockDiagonal(
            [build_vector_flow(d, depth=depth, hidden=hidden, spline_bins=spline_bins) for d in (dim1, dim2)],
            sizes=[dim1, dim2],
        )
        self.first_prior: FlowSequential = build_vector_flow(dim1, depth=depth, hidden=hidden, spline_bins=spline_bins)
        self.second_prior: FlowSequential = build_conditional_prior(dim2, dim1, depth=depth, hidden=hidden)
        self.decoder = LearnedDecoder(dim1 + dim2, hidden=hidden)
        self.init_sigma(sigma, learn_sigma)
        self._codes: tuple[CosetCode, CosetCode] | None = None

    # ------------------------------------------------------------------ bitstreams (one per encoder)

    def get_extra_state(self) -> dict[str, Any]:
        return {} if self._codes is None else {"first": self._codes[0].state(), "second": self._codes[1].state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self._codes = (CosetCode.from_state(state["first"]), CosetCode.from_state(state["second"])) if state else None

    @property
    def codes(self) -> tuple[CosetCode, CosetCode] | None:
        """(encoder 1's code, encoder 2's code), None until :meth:`set_codes`."""
        return self._codes

    def set_codes(self, first: CosetCode, second: CosetCode) -> None:
        """Encoder 1 sends its dithered index whole (``first.modulus`` None: the decoder has nothing to resolve
        it with); encoder 2 sends its index modulo ``second.modulus``, resolved with p(z2 | z1_hat). Their
        dither seeds must differ, so that the two quantization errors are independent."""
        if not (isinstance(first, CosetCode) and isinstance(second, CosetCode)):
            raise TypeError("both codes must be CosetCodes")
        if first.modulus is not None:
            raise ValueError("encoder 1's code sends the whole index (modulus None): the decoder has no side information for it")
        if first.seed == second.seed:
            raise ValueError("the two codes need different dither seeds")
        self._codes = (first, second)

    def _checked_codes(self) -> tuple[CosetCode, CosetCode]:
        if self._codes is None:
            raise ValueError("no codes are set: call set_codes (or fit_two_terminal_coding) before coding")
        return self._codes

    @torch.no_grad()
    def latent_means(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """(f1(x1), f2(x2)), the noise-free latents the bitstreams quantize, float64 on the CPU."""
        e1, e2 = self.split(self.encode(batch))
        return e1.double().cpu(), e2.double().cpu()

    def side_scorer(self, z1_hat: Tensor) -> Scorer:
        """The decoder's score of encoder 2's candidate latents: log p(z2 | z1_hat) of each row."""
        return conditional_scorer(self.second_prior_log_prob, z1_hat, self.log_sigma)

    @torch.no_grad()
    def compress(self, batch: Tensor) -> dict[str, Any]:
        """``{"strings": [encoder 1's container, encoder 2's container], "shape": (n,)}``: each encoder codes its
        own columns of ``batch`` [x1, x2] alone (no coordination), under its code, with the code's digest as
        side information (:func:`ibflow.vector.binning.encode_stream`)."""
        first, second = self._checked_codes()
        e1, e2 = self.latent_means(batch)
        name = part_name(self)
        return {"strings": [encode_stream(name, self.config, first, e1), encode_stream(name, self.config, second, e2)],
                "shape": (len(batch),)}

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Any]:
        """``{"x_hat": (n, dim1 + dim2), "index": (k1, k2)}``: encoder 1's index read whole, z1_hat
        reconstructed, encoder 2's coset resolved with p(z2 | z1_hat) (x_hat the posterior mean over its likeliest
        members, :func:`ibflow.vector.binning.decode_coset`), both decoded jointly. Streams that are
        not intact ones of this codec, its codes and ``shape`` raise :class:`contracts.BitstreamError`."""
        first, second = self._checked_codes()
        if isinstance(strings, (bytes, bytearray, str)) or len(strings) != 2:
            raise BitstreamError("a two-terminal stream is two strings, one per encoder")
        s1 = decode_stream(strings[0], part_name(self), self.config, first, shape, self.dim1)
        s2 = decode_stream(strings[1], part_name(self), self.config, second, shape, self.dim2)
        if len(s1) != len(s2):
            raise BitstreamError(f"the encoders' streams hold {len(s1)} and {len(s2)} rows")
        k1 = s1 + first.low
        z1 = first.reconstruct(k1, first.dither(len(s1), self.dim1))
        x_hat, k2 = decode_coset(second, s2, self.side_scorer(z1), self.decode_at, z1)
        return {"x_hat": x_hat, "index": (k1, k2)}

    def decode_at(self, z2: Tensor, z1: Tensor) -> Tensor:
        """g(z1, z2) with the (float64) bitstream latents cast to the codec's dtype and device."""
        return self.decode(torch.cat([z1, z2], dim=1).to(self.log_sigma))

    def split(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """(x1, x2) from a batch (n, dim1 + dim2) holding [x1, x2] (or (z1, z2) from a latent, (x1_hat, x2_hat)
        from a reconstruction); any other shape raises a ValueError."""
        width = self.dim1 + self.dim2
        if batch.dim() != 2 or batch.shape[1] != width:
            raise ValueError(
                f"batch must have shape (n, dim1 + dim2) = (n, {width}), [x1, x2] concatenated; got {tuple(batch.shape)}"
            )
        return batch[:, : self.dim1], batch[:, self.dim1 :]

    def first_prior_log_prob(self, z1: Tensor) -> Tensor:
        """log p(z1) = log N(h1(z1); 0, I) + log|det dh1/dz1| per row (nats)."""
        u: Tensor
        logdet: Tensor
        u, logdet = self.first_prior(z1)
        return standard_normal_log_prob(u) + logdet

    def second_prior_log_prob(self, z2: Tensor, z1: Tensor) -> Tensor:
        """log p(z2|z1) = log N(h_{z1}(z2); 0, I) + log|det dh_{z1}/dz2| per row (nats)."""
        u: Tensor
        logdet: Tensor
        u, logdet = self.second_prior(z2, z1)
        return standard_normal_log_prob(u) + logdet

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log p(z1, z2) = log p(z1) + log p(z2|z1) per row (nats), z = [z1, z2]."""
        z1, z2 = self.split(z)
        return self.first_prior_log_prob(z1) + self.second_prior_log_prob(z2, z1)

    def rates_per_sample(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(r1, r2) per row, nats: r1 = -h(q(z1|x1)) - log p(z1), r2 = -h(q(z2|x2)) - log p(z2|z1), one-sample
        estimates whose means bound I(X1; Z1) and I(X2; Z2 | Z1) (class docstring)."""
        z1, z2 = self.split(z)
        r1 = -self.posterior_entropy(self.dim1) - self.first_prior_log_prob(z1)
        r2 = -self.posterior_entropy(self.dim2) - self.second_prior_log_prob(z2, z1)
        return r1, r2

    def distortion_parts(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """(D1, D2) per sample, shape (n, 2): the distortion of x1_hat from x1 and of x2_hat from x2 (for
        ``"mse"`` the squared error summed over each source's coordinates)."""
        x1, x2 = self.split(x)
        x1_hat, x2_hat = self.split(x_hat)
        return torch.stack([self.distortion(x1, x1_hat), self.distortion(x2, x2_hat)], dim=1)

    def distortion_per_sample(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """D1 + D2 per sample."""
        return self.distortion_parts(x, x_hat).sum(1)

    def forward(self, batch: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Through the training-time channel: ``{"x_hat": g(z1, z2) (n, dim1 + dim2), "rate": r1 + r2 per sample
        (nats)}``."""
        self.split(batch)  # refuse a batch of the wrong width before any flow sees it
        _, z = self.sample_latent(batch, generator)
        r1, r2 = self.rates_per_sample(z)
        return {"x_hat": self.decode(z), "rate": r1 + r2}

    def loss(self, batch: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """``D1 + D2 + beta * (R1 + R2)`` with its parts (:class:`contracts.CodecLoss`, batch means): distortion
        D1 + D2, rate the sum rate R1 + R2 in nats per sample, and ``extra`` the four terms
        ``distortion_1``, ``distortion_2``, ``rate_1``, ``rate_2``, for a ``batch`` [x1, x2] (:meth:`split`)."""
        self.split(batch)
        _, z = self.sample_latent(batch, generator)
        r1, r2 = self.rates_per_sample(z)
        d1, d2 = self.distortion_parts(batch, self.decode(z)).mean(0).unbind()
        rate_1, rate_2 = r1.mean(), r2.mean()
        distortion, rate = d1 + d2, rate_1 + rate_2
        extra = {"distortion_1": d1, "distortion_2": d2, "rate_1": rate_1, "rate_2": rate_2}
        return CodecLoss(distortion + beta * rate, distortion, rate, extra)

    def fit_decoder(self, x: Tensor, z: Tensor) -> None:
        """Set the decoder's affine part to the least-squares regression of [x1, x2] on [z1, z2]."""
        self.decoder.fit_affine(z, x)

    @torch.no_grad()
    def data_init(self, batch: Tensor, generator: torch.Generator | None = None) -> None:
        """Data-dependent initialisation on one batch [x1, x2]: the encoders' ActNorms standardise x1 and x2
        (Kingma & Dhariwal 2018), p(z2|z1)'s first layer is fitted to z2 given z1
        (:func:`ibflow.vector.wyner_ziv.fit_conditional_prior`) and its later ActNorms initialise on what
        that leaves, p(z1)'s ActNorms standardise z1, and the decoder's affine part is set to the
        least-squares regression of [x1, x2] on [z1, z2], the linear MMSE decoder of the initial channel
        (see :meth:`ibflow.noisy.NoisyLatentModule.data_init` for why it matters)."""
        self.split(batch)
        was_training = self.training
        self.train()
        _, z = self.sample_latent(batch, generator)
        z1, z2 = self.split(z)
        fit_conditional_prior(self.second_prior, z2, z1)
        self.second_prior(z2, z1)
        self.first_prior(z1)
        self.fit_decoder(batch, z)
        self.train(was_training)
