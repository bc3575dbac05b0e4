"""The video study's references: H.264 (x264), H.265 (x265) and AV1 (SVT-AV1) through ffmpeg, and the per-frame
metrics PSNR, MS-SSIM and VMAF.

Every baseline codes the same RGB frames the learned codec codes, as 8-bit 4:2:0 (what these codecs are used
with), in the low-delay setting of the learned codec: one intra frame per ``gop`` frames and only P frames after
it (x264 and x265 without B frames, SVT-AV1 with its low-delay prediction structure), constant-quality rate
control (CRF) on a ladder, or searched to the bitrate of a learned-codec point (:func:`match_bitrate`). The
rate is the size of the raw elementary stream (Annex B for H.264 / H.265, OBU for AV1): parameter sets and
sequence headers included, no container, and without the encoders' informational SEI (their option strings).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from analysis.ffmpeg import FFmpegError, require_encoders, run_ffmpeg

__all__ = ["BASELINES", "Baseline", "encode_baseline", "match_bitrate", "psnr_per_frame", "ms_ssim_per_frame",
           "vmaf_per_frame", "ms_ssim_window", "crf_ladder", "to_uint8", "from_uint8", "VMAF_MODEL"]

VMAF_MODEL = "vmaf_v0.6.1"  # libvmaf's built-in default model (Li et al. 2016, Netflix), luma only


@dataclass(frozen=True)
class Baseline:
    """One ffmpeg encoder with its low-delay options, raw-stream format and CRF range (low = best quality)."""

    name: str
    encoder: str
    muxer: str
    crf_range: tuple[float, float]
    integer_crf: bool

    def options(self, gop: int) -> list[str]:
        # x264 and x265 write their whole option string into an SEI message (about 0.6 and 2.3 kB): not needed
        # to decode, and on a short clip a large share of the rate, so it is left out of the stream
        if self.encoder == "libx264":
            return ["-preset", "medium", "-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
                    "-bsf:v", "filter_units=remove_types=6"]
        if self.encoder == "libx265":
            return ["-preset", "medium", "-x265-params",
                    f"bframes=0:keyint={gop}:min-keyint={gop}:scenecut=0:info=0:log-level=error"]
        return ["-preset", "8", "-g", str(gop), "-svtav1-params", "pred-struct=1:scd=0"]


BASELINES = {
    "h264": Baseline("h264", "libx264", "h264", (0.0, 51.0), False),
    "h265": Baseline("h265", "libx265", "hevc", (0.0, 51.0), False),
    "av1": Baseline("av1", "libsvtav1", "obu", (1.0, 63.0), True),
}


def to_uint8(frames: Tensor) -> np.ndarray:
    """(T, 3, H, W) in [0, 1] -> (T, H, W, 3) uint8, rounded."""
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def from_uint8(array: np.ndarray) -> Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.array(array, copy=True)).permute(0, 3, 1, 2).float().div(255)


def _raw_input(width: int, height: int, fps: float) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}"]


def encode_baseline(baseline: Baseline, frames: np.ndarray, fps: float, crf: float, gop: int) -> tuple[int, np.ndarray]:
    """(bits of the raw stream, decoded frames (T, H, W, 3) uint8) of ``frames`` (T, H, W, 3) uint8 coded by
    ``baseline`` at ``crf``. Raises :class:`FFmpegError` if ffmpeg fails or the decoded frame count differs."""
    require_encoders([baseline.encoder])
    count, height, width, _ = frames.shape
    crf_text = f"{int(round(crf))}" if baseline.integer_crf else f"{crf:.3f}"
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / f"stream.{baseline.muxer}"
        run_ffmpeg([*_raw_input(width, height, fps), "-i", "-", "-c:v", baseline.encoder, *baseline.options(gop),
                    "-pix_fmt", "yuv420p", "-crf", crf_text, "-f", baseline.muxer, "-y", str(stream)], stdin=frames.tobytes())
        bits = 8 * stream.stat().st_size
        raw = run_ffmpeg(["-i", str(stream), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    decoded = np.frombuffer(raw, dtype=np.uint8)
    if decoded.size != frames.size:
        raise FFmpegError(f"{baseline.name} at crf {crf_text}: decoded {decoded.size // (height * width * 3)} frames of {count}")
    return bits, decoded.reshape(frames.shape)


def match_bitrate(
    baseline: Baseline, frames: np.ndarray, fps: float, target_bits: float, gop: int, iterations: int = 10
) -> tuple[float, int, np.ndarray]:
    """(crf, bits, decoded frames) of the setting whose stream size is closest to ``target_bits``: bisection on
    the CRF (the size falls as the CRF grows), on integers for SVT-AV1. A target outside what the CRF range
    reaches gets the range's end."""
    low, high = baseline.crf_range
    best: tuple[float, int, np.ndarray] | None = None
    for _ in range(iterations):
        crf = round((low + high) / 2) if baseline.integer_crf else (low + high) / 2
        bits, decoded = encode_baseline(baseline, frames, fps, crf, gop)
        if best is None or abs(math.log(bits / target_bits)) < abs(math.log(best[1] / target_bits)):
            best = (crf, bits, decoded)
        if bits > target_bits:
            low = crf
        else:
            high = crf
        if high - low <= (1 if baseline.integer_crf else 0.05):
            break
    if baseline.integer_crf:  # the two integers around the crossing: keep the closer
        for crf in {int(math.floor(low)), int(math.ceil(high))}:
            bits, decoded = encode_baseline(baseline, frames, fps, crf, gop)
            if abs(math.log(bits / target_bits)) < abs(math.log(best[1] / target_bits)):
                best = (crf, bits, decoded)
    assert best is not None
    return best


def psnr_per_frame(reference: Tensor, decoded: Tensor) -> list[float]:
    """PSNR (dB) of each RGB frame, peak 1, MSE over all pixels and channels."""
    mse = (reference.double() - decoded.double()).pow(2).flatten(1).mean(1)
    return [math.inf if m == 0 else 10 * math.log10(1 / float(m)) for m in mse]


def ms_ssim_window(height: int, width: int) -> int:
    """The Gaussian window MS-SSIM can use on frames of this size: 11 (Wang et al. 2003) where the smaller side
    exceeds 160 px, as its 5 scales need; else 7 (QCIF's 144 px), recorded in every report."""
    return 11 if min(height, width) > 160 else 7


def ms_ssim_per_frame(reference: Tensor, decoded: Tensor) -> list[float]:
    """MS-SSIM (Wang et al. 2003, 5 scales) of each RGB frame, with the window of :func:`ms_ssim_window`."""
    from pytorch_msssim import ms_ssim

    win = ms_ssim_window(*reference.shape[-2:])
    return [float(v) for v in ms_ssim(reference.float(), decoded.float(), data_range=1.0, win_size=win, size_average=False)]


def vmaf_per_frame(reference: np.ndarray, decoded: np.ndarray, fps: float, threads: int = 2) -> list[float]:
    """VMAF (model :data:`VMAF_MODEL`, libvmaf inside the shipped ffmpeg) of each frame of ``decoded`` against
    ``reference``, both (T, H, W, 3) uint8, compared as 4:2:0 (VMAF reads luma)."""
    count, height, width, _ = reference.shape
    with tempfile.TemporaryDirectory() as tmp:
        ref, dist, log = Path(tmp) / "ref.rgb", Path(tmp) / "dist.rgb", Path(tmp) / "vmaf.json"
        ref.write_bytes(reference.tobytes())
        dist.write_bytes(decoded.tobytes())
        graph = (f"[0:v]format=yuv420p[d];[1:v]format=yuv420p[r];[d][r]libvmaf=model=version={VMAF_MODEL}:"
                 f"log_fmt=json:log_path={log}:n_threads={threads}")
        run_ffmpeg([*_raw_input(width, height, fps), "-i", str(dist), *_raw_input(width, height, fps), "-i", str(ref),
                    "-lavfi", graph, "-f", "null", "-"])
        frames = json.loads(log.read_text())["frames"]
    if len(frames) != count:
        raise FFmpegError(f"libvmaf scored {len(frames)} frames of {count}")
    return [float(f["metrics"]["vmaf"]) for f in frames]


def crf_ladder(baseline: Baseline, points: int = 7) -> Sequence[float]:
    """CRF values spread over the range that matters at the learned codec's rates (low to high quality)."""
    low, high = (18, 45) if baseline.name != "av1" else (20, 63)
    return [round(high - i * (high - low) / (points - 1)) for i in range(points)]
