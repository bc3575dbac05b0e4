"""Image flow layers: squeeze/unsqueeze, inverse(forward(x)) == x, log-determinants against autograd (float64)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.autograd.functional import jacobian

from ibflow.flows import (
    ConvAffineCoupling,
    Flow,
    MultiScaleGlow,
    SplitPrior,
    Squeeze,
    glow_step,
    squeeze,
    unsqueeze,
)

SETTINGS = settings(deadline=None)
seeds = st.integers(0, 2**31 - 1)


def perturb(module: torch.nn.Module, seed: int, std: float = 0.3) -> None:
    """Moves every parameter away from its identity initialisation."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(std * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))


def check_flow(flow: Flow, x: Tensor) -> None:
    """Round trip to 1e-9, per-image log|det J| against autograd to 1e-8, output independent of the batch."""
    y, logdet = flow(x)
    assert y.shape[0] == x.shape[0] and y[0].numel() == x[0].numel() and logdet.shape == (x.shape[0],)
    torch.testing.assert_close(flow.inverse(y), x, atol=1e-9, rtol=0)
    size = x[0].numel()
    for i in range(x.shape[0]):
        single = lambda xi: flow(xi.unsqueeze(0))[0].reshape(-1)  # noqa: E731
        torch.testing.assert_close(single(x[i]), y[i].reshape(-1), atol=1e-12, rtol=1e-12)
        sign, log_abs_det = torch.linalg.slogdet(jacobian(single, x[i]).reshape(size, size))
        assert sign != 0
        torch.testing.assert_close(logdet[i], log_abs_det, atol=1e-8, rtol=1e-8)


def prepared(make: Callable[[], Flow], shape: tuple[int, ...], seed: int, std: float = 0.3) -> tuple[Flow, Tensor]:
    """Built under ``seed`` in float64, ActNorm initialised on a training batch, parameters perturbed;
    returns the flow and a test batch."""
    torch.manual_seed(seed)
    flow = make().double().train()
    flow(1 + 2 * torch.randn(shape, dtype=torch.float64))
    perturb(flow, seed, std)
    return flow.eval(), torch.randn(shape, dtype=torch.float64)


@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 4), w=st.integers(1, 4), f=st.integers(1, 3))
@SETTINGS
def test_squeeze_unsqueeze_are_inverse_permutations(n, c, h, w, f):
    x = torch.randn(n, c, h * f, w * f)
    y = squeeze(x, f)
    assert y.shape == (n, c * f * f, h, w)
    assert torch.equal(unsqueeze(y, f), x)
    assert torch.equal(y.flatten().sort().values, x.flatten().sort().values)


def test_squeeze_moves_a_2x2_block_into_channels():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert squeeze(x)[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    y, logdet = Squeeze()(x)
    assert torch.equal(Squeeze().inverse(y), x) and torch.equal(logdet, torch.zeros(1))


@given(c=st.integers(2, 5), hw=st.integers(1, 3), seed=seeds)
@SETTINGS
def test_conv_affine_coupling(c, hw, seed):
    check_flow(*prepared(lambda: ConvAffineCoupling(c, hidden=4), (2, c, hw, hw + 1), seed))


def test_conv_affine_coupling_starts_as_identity():
    x = torch.randn(2, 4, 3, 3)
    y, logdet = ConvAffineCoupling(4, hidden=8)(x)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(2))


@given(c=st.integers(2, 6), seed=seeds)
@SETTINGS
def test_split_prior(c, seed):
    check_flow(*prepared(lambda: SplitPrior(c), (2, c, 2, 3), seed))


@given(c=st.integers(2, 4), seed=seeds)
@SETTINGS
def test_glow_step(c, seed):
    check_flow(*prepared(lambda: glow_step(c, hidden=4), (2, c, 2, 2), seed))


@given(levels=st.integers(1, 2), steps=st.integers(1, 2), channels=st.integers(1, 3), seed=seeds)
@SETTINGS
def test_multiscale_glow(levels, steps, channels, seed):
    side = 2**levels
    # A small perturbation: larger ones make the LU factors of the 16 x 16 convolutions ill-conditioned.
    make = lambda: MultiScaleGlow(channels, levels, steps, hidden=4)  # noqa: E731
    check_flow(*prepared(make, (2, channels, side, side), seed, std=0.1))


def test_multiscale_glow_three_levels_round_trip_and_latent_types():
    # Perturbing the LU factors of the 192 x 192 convolution would make it ill-conditioned (random
    # triangular matrices are, exponentially in the size), so only the couplings and split priors move.
    flow, x = prepared(lambda: MultiScaleGlow(3, levels=3, steps=1, hidden=4), (2, 3, 16, 8), seed=1, std=0.0)
    for module in flow.modules():
        if isinstance(module, (ConvAffineCoupling, SplitPrior)):
            perturb(module, seed=2)
    y, _ = flow(x)
    torch.testing.assert_close(flow.inverse(y), x, atol=1e-9, rtol=0)
    types = flow.latent_types(y)
    assert types.shape == (2, 3 * 64, 2, 1)
    assert torch.equal(flow.from_latent_types(types), y)


@pytest.mark.parametrize("shape, match", [((1, 3, 6, 8), "multiples of 4"), ((1, 2, 8, 8), r"\(N, 3, H, W\)")])
def test_multiscale_glow_rejects_bad_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        MultiScaleGlow(3, levels=2, steps=1, hidden=4)(torch.randn(shape))


def test_image_codec_bitstream_round_trip_and_checkpoint(tmp_path):
    from ibflow import load_checkpoint, save_checkpoint
    from ibflow.entropy import IMAGE_SIDE_BYTES, overhead_bytes, stream_bytes, unpack
    from ibflow.image import ImageFlowCodec

    torch.manual_seed(0)
    codec = ImageFlowCodec(levels=2, steps=1, hidden=8, sigma=0.1)
    crops = torch.rand(8, 3, 16, 16)
    codec.data_init(crops)
    parts = codec.loss(crops, beta=1e-3)
    assert parts.total.shape == () and torch.isfinite(parts.total)
    codec.eval()
    codec.calibrate_bins(crops)
    codec.fit_entropy_model(crops, steps=5)
    x = torch.rand(1, 3, 16, 32)
    stream = codec.compress(x)
    k = codec.symbols(x)
    payload = unpack(stream["strings"][0], "imageflow", codec.config, stream["shape"]).payload
    assert k.shape == (1, 48, 4, 8) and len(stream["strings"]) == 1
    assert stream_bytes(stream["strings"]) == overhead_bytes("imageflow", 2, IMAGE_SIDE_BYTES) + len(payload) == 53 + len(payload)
    assert torch.equal(codec.decompress_symbols(stream["strings"], stream["shape"]), k)
    x_hat = codec.decompress(stream["strings"], stream["shape"])["x_hat"]
    assert x_hat.shape == x.shape and bool((x_hat >= 0).all() and (x_hat <= 1).all())
    length, x_binned = codec.binned(x)
    assert torch.isfinite(length) and x_binned.shape == x.shape
    # dithered quantization: the decoder's input (k + d) is within half a grid cell of f(x) / step
    d = codec.dither(k.shape)
    assert float((k + d - codec.scaled_latent(x).detach()).abs().max()) <= 0.5 + 1e-5
    assert torch.equal(codec.dither(k.shape), d)  # shared: the decoder draws the same

    save_checkpoint(codec, tmp_path / "codec.pt")
    loaded = load_checkpoint(tmp_path / "codec.pt")
    assert isinstance(loaded, ImageFlowCodec)
    loaded.eval()
    assert torch.equal(loaded.decompress(stream["strings"], stream["shape"])["x_hat"], x_hat)
    with pytest.raises(ValueError, match="ms-ssim"):
        ImageFlowCodec(levels=1, steps=1, hidden=4, distortion="ms-ssim").loss(torch.rand(2, 3, 32, 32), 1e-3)


def test_bitstream_finetuning_lowers_the_bitstream_loss():
    from ibflow.image import ImageFlowCodec

    torch.manual_seed(0)
    codec = ImageFlowCodec(levels=2, steps=1, hidden=8, sigma=0.1)
    data = torch.rand(64, 3, 16, 16)
    sample = lambda n, seed: data[torch.randint(len(data), (n,), generator=torch.Generator().manual_seed(seed))]  # noqa: E731
    codec.data_init(data[:8])
    codec.fit_entropy_model(data, steps=5)
    prior_before = [p.detach().clone() for p in codec.prior.parameters()]
    sigma = float(codec.sigma)

    def loss() -> float:
        with torch.no_grad():
            return float(codec.bitstream_loss(data, 1e-2, torch.Generator().manual_seed(1)).total)

    before = loss()
    history = codec.finetune_bitstream(sample, beta=1e-2, steps=30, batch_size=8, lr=3e-3)
    assert len(history) == 30 and all(math.isfinite(h) for h in history)
    assert loss() < before
    assert float(codec.sigma) == sigma  # the grid does not move
    assert any(not torch.equal(a, b) for a, b in zip(prior_before, codec.prior.parameters()))  # h refitted
    parts = codec.bitstream_loss(data[:4], 1e-2)
    assert parts.total.shape == () and float(parts.rate.detach()) > 0


def _trained_tiny_codec(entropy: str = "context"):
    from ibflow.image import ImageFlowCodec

    torch.manual_seed(0)
    codec = ImageFlowCodec(levels=2, steps=1, hidden=8, sigma=0.1, entropy=entropy)
    crops = torch.rand(32, 3, 16, 16)
    codec.data_init(crops[:8])
    codec.fit_entropy_model(crops, steps=20)
    return codec.eval(), crops


def test_types_left_out_of_the_bitstream_carry_nothing():
    """With some types not coded: the stream decodes exactly, and moving the image along an uncoded
    latent type (x' = f^-1(f(x) + delta on that type)) changes neither the bytes nor the decoded image."""
    codec, _ = _trained_tiny_codec()
    with torch.no_grad():
        codec.coded[1::2] = False
        codec.off_mean.normal_()
    x = torch.rand(1, 3, 16, 32)
    stream = codec.compress(x)
    k = codec.symbols(x)
    assert k.shape == (1, 24, 4, 8) and torch.equal(codec.decompress_symbols(stream["strings"], stream["shape"]), k)
    with torch.no_grad():
        types = codec.encoder.latent_types(codec.encode(x))
        types[:, 1] += 0.5 * codec.step * torch.randn(types[:, 1].shape)  # type 1 is not coded
        moved = codec.encoder.inverse(codec.encoder.from_latent_types(types))
    stream2 = codec.compress(moved)
    k2 = codec.symbols(moved)
    assert torch.equal(k2, k) and stream2["strings"] == stream["strings"]
    assert torch.equal(codec.decompress(stream2["strings"], stream2["shape"])["x_hat"], codec.decompress(stream["strings"], stream["shape"])["x_hat"])
    codec.coded[1] = True  # coded, the same move does change the symbols
    assert not torch.equal(codec.symbols(moved), codec.symbols(x))


@pytest.mark.parametrize("entropy", ["factorized", "context"])
def test_selecting_coded_types_by_the_bitstream_lagrangian(entropy):
    """The reported loss is D + beta R of the mask it sets (same dither draw; each type's rate is the one
    it has with every type coded, under the context model as context of the others too); a rate price
    far above any distortion switches every type off: a header-only stream that decodes exactly at zero rate."""
    from ibflow.entropy import IMAGE_SIDE_BYTES, overhead_bytes, stream_bytes

    codec, crops = _trained_tiny_codec(entropy)
    result = codec.select_coded_types(crops, beta=1e-2, seed=3)
    assert result["loss"] <= result["loss_all_coded"] and result["coded"] == int(codec.coded.sum())
    with torch.no_grad():
        y = codec.scaled_latent(crops)
        u = torch.rand(y.shape, generator=torch.Generator().manual_seed(3)) - 0.5
        x_hat = codec.decode(codec._decoder_input(y + u, u))
        if entropy == "factorized":
            per_element = -codec.latent_model.likelihood(y + u).log()
        else:
            every = torch.ones_like(codec.coded)
            per_element = -codec.context.likelihood(y + u, every, codec.latent_model.likelihood).log()
        nats = per_element[:, codec.coded].sum() / (len(crops) * 16 * 16)
        recomputed = float((crops - x_hat).pow(2).mean() + 1e-2 * nats)
    assert recomputed == pytest.approx(result["loss"], rel=1e-5)
    assert torch.allclose(codec.off_mean, y.mean(dim=(0, 2, 3)))

    result = codec.select_coded_types(crops, beta=1e6)
    assert result["coded"] == 0 and not bool(codec.coded.any())
    x = torch.rand(1, 3, 16, 16)
    stream = codec.compress(x)
    k = codec.symbols(x)
    assert k.shape == (1, 0, 4, 4) and stream_bytes(stream["strings"]) == overhead_bytes("imageflow", 2, IMAGE_SIDE_BYTES)
    assert codec.decompress_symbols(stream["strings"], stream["shape"]).shape == k.shape
    assert float(codec.bitstream_loss(crops, 1.0).rate.detach()) == 0.0
    with pytest.raises(ValueError, match="beta must be"):
        codec.select_coded_types(crops, beta=-1.0)


def test_the_dither_prices_a_weak_dimension_linearly_the_gaussian_channel_quadratically():
    """The claim behind select_coded_types, by quadrature: for y ~ N(0, s^2) in grid steps, the dithered
    code of y costs I(y; y + U) = h(y + U) (h(U) = 0), about 2.6 s bits, while the Gaussian channel with the
    same noise variance 1/12 carries 1/2 log2(1 + 12 s^2), about 8.7 s^2 bits. The quadrature error is
    below 1e-6 bits here, so the tolerances only round the quoted figures."""
    from scipy.stats import norm

    def dithered_bits(s: float) -> float:
        t = np.linspace(-0.5 - 10 * s, 0.5 + 10 * s, 400_001)
        p = norm.cdf((t + 0.5) / s) - norm.cdf((t - 0.5) / s)  # density of y + U
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum() * (t[1] - t[0]))

    for s in (0.01, 0.03):
        gaussian = 0.5 * math.log2(1 + 12 * s * s)
        assert dithered_bits(s) == pytest.approx(2.6 * s, rel=0.01)
        assert gaussian == pytest.approx(8.66 * s * s, rel=0.01)
    assert dithered_bits(0.03) == pytest.approx(0.078, abs=5e-4)
    assert 0.5 * math.log2(1 + 12 * 0.03**2) == pytest.approx(0.0077, abs=5e-5)


@given(count=st.integers(1, 7), seed=seeds)
@SETTINGS
def test_subset_search_returns_a_one_flip_local_optimum_no_worse_than_all_or_none(count, seed):
    """On random set functions (modular rates plus pairwise interactions): the returned loss is the
    mask's loss, no worse than coding all or none, and, run to convergence, no single flip improves it."""
    from ibflow.image import search_subset

    generator = torch.Generator().manual_seed(seed)
    rate = torch.rand(count, generator=generator, dtype=torch.float64)
    pair = torch.randn(count, count, generator=generator, dtype=torch.float64)

    def loss(mask: Tensor) -> float:
        m = mask.double()
        return float(rate @ m + m @ pair @ m + 2.0 * (1 - m).prod())

    mask, best = search_subset(loss, count, sweeps=10_000)
    assert best == loss(mask)
    assert best <= loss(torch.ones(count, dtype=torch.bool)) and best <= loss(torch.zeros(count, dtype=torch.bool))
    for t in range(count):
        flipped = mask.clone()
        flipped[t] = ~flipped[t]
        assert loss(flipped) >= best


def test_subset_search_keeps_one_of_several_redundant_strong_items():
    """Four redundant strong items (any one of them removes a unit distortion, each costs 0.1) and four
    weak ones (each saves 0.001 and costs 0.05): each strong item alone looks removable, all together
    are not; the optimum is one strong item, loss 0.104, which switching off in order of single gains
    misses (its best prefix keeps one strong and all weak items, 0.3)."""
    from ibflow.image import search_subset

    def loss(mask: Tensor) -> float:
        strong, weak = int(mask[:4].sum()), int(mask[4:].sum())
        return (1.0 if strong == 0 else 0.0) + 0.001 * (4 - weak) + 0.1 * strong + 0.05 * weak

    mask, best = search_subset(loss, 8, sweeps=0)
    assert best == pytest.approx(0.104) and int(mask[:4].sum()) == 1 and not bool(mask[4:].any())
