"""The VideoFlowCodec: its KL is the Gaussian KL it claims, its coder's Gaussian is the prior less the noise, its
bitstream decodes exactly in the closed loop at its ideal length, damaged streams are refused, and the training
clips are consecutive frames of the videos."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow.entropy import stream_bytes
from ibflow.entropy.gaussian_conditional import SCALE_BOUND
from ibflow.video import GREY, ClipSampler, VideoFlowCodec, crop_to_multiple
from ibflow.video.codec import SKIP_SCALE

SETTINGS = settings(deadline=None, max_examples=20)
seeds = st.integers(0, 2**31 - 1)


def _video(frames: int, seed: int, height: int = 16, width: int = 24) -> torch.Tensor:
    """A moving smooth pattern with noise: consecutive frames are alike, as in real video."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    phase = torch.rand(3, generator=g) * 6
    out = []
    for t in range(frames):
        base = torch.stack([0.5 + 0.3 * torch.sin((xx + 1.5 * t) / 4 + phase[c]) * torch.cos(yy / 5) for c in range(3)])
        out.append((base + 0.03 * torch.randn(base.shape, generator=g)).clamp(0, 1))
    return torch.stack(out)


def _codec(seed: int, intra_period: int = 0, perturb: float = 0.0) -> VideoFlowCodec:
    """A small codec initialised on clips of a test video (ActNorm and the least-squares decoder), its nets
    moved away from their zero start by ``perturb`` so the context matters."""
    torch.manual_seed(seed)
    codec = VideoFlowCodec(levels=2, steps=1, hidden=8, intra_period=intra_period)
    clips = ClipSampler([_video(8, seed)], 16)(4, seed)
    codec.train()
    codec.data_init(clips, generator=torch.Generator().manual_seed(seed))
    codec.loss(clips, 1e-3)  # the first forward in training mode initialises ActNorm
    with torch.no_grad():
        for p in list(codec.temporal_prior.net.parameters()) + list(codec.decoder.cnn.parameters()):
            p.add_(perturb * torch.randn(p.shape))
    return codec.eval()


@SETTINGS
@given(seeds, st.floats(0.02, 0.5))
def test_the_kl_is_the_gaussian_kl_to_the_conditional_prior(seed, sigma):
    codec = VideoFlowCodec(levels=1, steps=1, hidden=4, sigma=sigma)
    g = torch.Generator().manual_seed(seed)
    z, mean = torch.randn(3, 12, 2, 2, generator=g), torch.randn(3, 12, 2, 2, generator=g)
    log_scale = torch.randn(3, 12, 2, 2, generator=g) * 0.5 + math.log(sigma) + 0.5
    prior = torch.distributions.Normal(mean.double(), log_scale.double().exp())
    entropy = 0.5 * z[0].numel() * math.log(2 * math.pi * math.e * sigma**2)
    expected = -entropy - prior.log_prob(z.double()).flatten(1).sum(1)
    torch.testing.assert_close(codec.kl_per_sample(z, mean, log_scale).double(), expected, rtol=1e-5, atol=1e-3)


@SETTINGS
@given(seeds)
def test_the_coders_gaussian_is_the_prior_less_the_training_noise(seed):
    """scale^2 step^2 = s^2 - sigma^2 where that is above the bound: the bin mass adds the dither's variance back."""
    codec = _codec(seed % 1000, perturb=0.2)
    context = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(seed))
    mean, log_scale = codec.prior_params(context)
    b_mean, b_scale = codec.bitstream_params(context)
    torch.testing.assert_close(b_mean * codec.step, mean, rtol=1e-5, atol=1e-5)
    expected = ((2 * log_scale).exp() - codec.sigma**2).clamp_min(0).sqrt() / codec.step
    above = expected > SCALE_BOUND
    torch.testing.assert_close(b_scale[above], expected[above], rtol=1e-5, atol=1e-6)
    assert bool((b_scale[~above] == SCALE_BOUND).all())


@pytest.mark.parametrize("intra_period", [0, 2])
def test_the_stream_decodes_exactly_in_the_closed_loop_at_its_ideal_length(intra_period):
    codec = _codec(0, intra_period, perturb=0.2)
    video = _video(5, 1)
    stream = codec.compress(video)
    k = codec.symbols(video)
    decoded = codec.decompress_symbols(**stream)
    assert torch.equal(decoded, codec.coded_symbols(video))
    # exactly the elements whose predicted scale reaches SKIP_SCALE are coded; the others decode to the prediction
    _, masks, params = codec.closed_loop(k)
    assert all(bool((scale >= SKIP_SCALE).all()) for _, scale, _ in params)
    assert 0 < sum(int(m.sum()) for m in masks) < k.numel()  # this codec both codes and skips
    x_hat = codec.decompress(**stream)["x_hat"]
    assert x_hat.shape == video.shape
    assert torch.equal(x_hat, codec.closed_loop(k)[0])  # what the encoder used as contexts, the decoder outputs
    assert torch.equal(x_hat, (x_hat * 255).round() / 255) and 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1
    # each frame's ANS words hold its ideal length under the coded tables to within the coder's 64-bit state (two
    # words): rANS is not exact per symbol (its integer division rounds the state either way), so a payload can
    # also fall a few bits below the ideal length (seen here: -10 bits on a frame of 1152 symbols at ~21 bits each)
    ideal_bits = [n / math.log(2) for n in codec.code_length(k)]
    payload_bits = [8 * b for b in codec.frame_bytes(**stream)]
    for ideal, payload in zip(ideal_bits, payload_bits):
        assert abs(payload - ideal) <= 64
    # the rest is the container and the word counts: at most 64 bytes plus 4 per frame
    assert 0 < stream_bytes(stream["strings"]) - sum(payload_bits) / 8 <= 64 + 4 * len(video)


def test_an_intra_frame_is_coded_from_the_grey_frame_whatever_came_before():
    """With intra_period 2, frames 2 and 4 do not depend on the frames before them: changing frame 0 changes
    frame 1's reconstruction but not frame 2's."""
    codec = _codec(3, intra_period=2, perturb=0.2)
    video = _video(3, 4)
    other = video.clone()
    other[0] = 1 - other[0]
    a, b = codec.closed_loop(codec.symbols(video))[0], codec.closed_loop(codec.symbols(other))[0]
    assert not torch.equal(a[1], b[1])
    assert torch.equal(a[2], b[2])
    assert [codec.is_intra(t) for t in range(5)] == [True, False, True, False, True]
    assert GREY == 0.5


@settings(deadline=None, max_examples=25)
@given(st.data())
def test_a_damaged_stream_is_refused(data):
    codec = _codec(5, perturb=0.2)
    video = _video(3, 6)
    stream = codec.compress(video)
    blob = bytearray(stream["strings"][0])
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(BitstreamError):
        codec.decompress([bytes(blob)], stream["shape"])
    with pytest.raises(BitstreamError):
        codec.decompress([bytes(stream["strings"][0][:-1])], stream["shape"])
    with pytest.raises(BitstreamError):  # the shape is part of what the stream must match
        codec.decompress(stream["strings"], (stream["shape"][0] + 1, *stream["shape"][1:]))


def test_compress_refuses_what_is_not_one_video():
    codec = _codec(0)
    with pytest.raises(ValueError, match=r"one video \(T, 3, H, W\)"):
        codec.compress(torch.rand(2, 3, 3, 16, 16))
    with pytest.raises(ValueError, match="multiples of 4"):
        codec.compress(torch.rand(2, 3, 18, 16))
    with pytest.raises(ValueError, match=r"clips of 3 frames"):
        codec.loss(torch.rand(2, 3, 16, 16), 1e-3)


@SETTINGS
@given(seeds, st.integers(1, 3))
def test_clips_are_three_frames_of_one_video_at_the_stride_and_one_crop(seed, stride):
    videos = [torch.rand(9, 3, 12, 14, generator=torch.Generator().manual_seed(1)), torch.rand(11, 3, 10, 10)]
    sampler = ClipSampler(videos, 6, stride=stride)
    clips = sampler(5, seed)
    assert clips.shape == (5, 3, 3, 6, 6) and torch.equal(clips, sampler(5, seed))
    for clip in clips:
        found = False
        for video in videos:
            for t in range(len(video) - 2 * stride):
                for top in range(video.shape[-2] - 5):
                    for left in range(video.shape[-1] - 5):
                        window = video[t : t + 2 * stride + 1 : stride, :, top : top + 6, left : left + 6]
                        found |= torch.equal(window, clip) or torch.equal(window.flip(-1), clip)
        assert found


def test_crop_to_multiple_centres_and_refuses_a_video_too_small():
    video = torch.rand(2, 3, 37, 50)
    out = crop_to_multiple(video, 8, max_side=40)
    assert out.shape[-2:] == (32, 40) and torch.equal(out, video[..., 2:34, 5:45])
    with pytest.raises(ValueError, match="no crop of a multiple of 64"):
        crop_to_multiple(video, 64)


def test_training_lowers_the_rate_of_a_predictable_video():
    """A few dozen steps on a slowly moving pattern: the P frames' E KL falls below the intra frame's, because the
    prior sees the previous frame (a check that the conditioning is wired in, not a performance figure)."""
    from ibflow import TrainConfig, train

    torch.manual_seed(0)
    video = _video(12, 0)
    codec = VideoFlowCodec(levels=2, steps=1, hidden=16)
    train(codec, ClipSampler([video], 16), 1e-2, TrainConfig(steps=60, batch_size=8, lr=3e-3), progress=False)
    kl, _ = codec.channel_rates(_video(4, 9), torch.Generator().manual_seed(0))
    assert max(kl[1:]) < kl[0]
    assert np.isfinite(kl).all()
