"""The ffmpeg binary that imageio-ffmpeg's wheel ships, and one way to run it: the baselines of the video and
speech studies (H.264, H.265, AV1, Opus) and the VMAF metric go through here.

Why the wheel's binary and not a system ffmpeg: it is installed by pip from the project's own files, on any
machine, with libx264, libx265, libsvtav1, libopus and libvmaf built in (checked by :func:`require_encoders`).
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence

__all__ = ["FFmpegError", "ffmpeg_exe", "ffmpeg_version", "encoders", "filters", "require_encoders", "run_ffmpeg"]


class FFmpegError(RuntimeError):
    """ffmpeg is missing, lacks an encoder or filter, or a run of it failed (the message ends with its stderr)."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of imageio-ffmpeg's bundled ffmpeg. Raises :class:`FFmpegError` if imageio-ffmpeg is not installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FFmpegError("imageio-ffmpeg is not installed: pip install 'ibflow[media]' (its wheel ships ffmpeg)") from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.cache
def ffmpeg_version() -> str:
    """ffmpeg's version line, e.g. ``ffmpeg version n9.0.2...`` (reports record which build coded the baselines)."""
    return run_ffmpeg(["-version"]).decode(errors="replace").splitlines()[0]


def _listing(flag: str) -> frozenset[str]:
    names = set()
    for line in run_ffmpeg(["-hide_banner", flag]).decode(errors="replace").splitlines():
        parts = line.split()
        # listing rows are "<flags> <name> <description>"; the flag column is letters and dots only
        if len(parts) >= 2 and set(parts[0]) <= set("VASFXBDTC.|"):
            names.add(parts[1])
    return frozenset(names)


@functools.cache
def encoders() -> frozenset[str]:
    """Names of the encoders this ffmpeg has (``libx264``, ``libopus``, ...)."""
    return _listing("-encoders")


@functools.cache
def filters() -> frozenset[str]:
    """Names of the filters this ffmpeg has (``libvmaf``, ``psnr``, ...)."""
    return _listing("-filters")


def require_encoders(names: Sequence[str]) -> None:
    """Raise :class:`FFmpegError` naming every encoder of ``names`` this ffmpeg lacks (before any work)."""
    missing = [n for n in names if n not in encoders()]
    if missing:
        raise FFmpegError(f"the ffmpeg at {ffmpeg_exe()} lacks the encoder(s) {missing}")


def run_ffmpeg(args: Sequence[str], stdin: bytes | None = None, timeout: float = 600.0) -> bytes:
    """Run ``ffmpeg args`` (no banner, errors only, never asking) and return its stdout. Raises
    :class:`FFmpegError` with the command's last stderr lines if it exits non-zero.

    Example:
        >>> run_ffmpeg(["-version"]).startswith(b"ffmpeg version")
        True
    """
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", *args]
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.decode(errors="replace").strip().splitlines()[-8:])
        raise FFmpegError(f"ffmpeg exited {done.returncode}: {' '.join(command[4:])[:300]}\n{tail}")
    return done.stdout
