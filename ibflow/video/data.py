"""Training clips from videos: random crops of three consecutive frames, the input of :meth:`VideoFlowCodec.loss`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ibflow.checks import check_int

__all__ = ["ClipSampler", "crop_to_multiple"]


def crop_to_multiple(video: Tensor, multiple: int, max_side: int | None = None) -> Tensor:
    """Centre crop of a video (T, C, H, W) to sides that are multiples of ``multiple`` (and at most ``max_side``)."""
    height, width = video.shape[-2:]
    h = min(height, max_side or height) // multiple * multiple
    w = min(width, max_side or width) // multiple * multiple
    if h < multiple or w < multiple:
        raise ValueError(f"a video of {height} x {width} px has no crop of a multiple of {multiple} px")
    top, left = (height - h) // 2, (width - w) // 2
    return video[..., top : top + h, left : left + w]


class ClipSampler:
    """``sampler(n, seed) -> (n, 3, C, crop, crop)``: n clips of three consecutive frames (every ``stride``-th
    frame), each from a video chosen in proportion to its usable frames, cropped at a random place and
    mirrored left-right with probability 1/2. Seeded: the same (n, seed) gives the same clips.

    Example:
        >>> sampler = ClipSampler([torch.rand(10, 3, 20, 24)], crop=8)
        >>> sampler(4, 0).shape
        torch.Size([4, 3, 3, 8, 8])
        >>> torch.equal(sampler(4, 1), sampler(4, 1))
        True
    """

    def __init__(self, videos: Sequence[Tensor], crop: int, device: torch.device | str = "cpu", stride: int = 1):
        self.crop = check_int("crop", crop, 1)
        self.stride = check_int("stride", stride, 1)
        self.videos = [v for v in videos if len(v) > 2 * self.stride and min(v.shape[-2:]) >= crop]
        if not self.videos:
            raise ValueError(f"no video has {2 * self.stride + 1} frames (stride {stride}) of at least {crop} px a side")
        self.device = torch.device(device)
        self.weights = torch.tensor([len(v) - 2 * self.stride for v in self.videos], dtype=torch.float64)

    def __call__(self, n: int, seed: int) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        picks = torch.multinomial(self.weights, n, replacement=True, generator=g).tolist()
        clips = []
        for i in picks:
            video = self.videos[i]
            t = int(torch.randint(len(video) - 2 * self.stride, (1,), generator=g))
            top = int(torch.randint(video.shape[-2] - self.crop + 1, (1,), generator=g))
            left = int(torch.randint(video.shape[-1] - self.crop + 1, (1,), generator=g))
            clip = video[t : t + 2 * self.stride + 1 : self.stride, :, top : top + self.crop, left : left + self.crop]
            if bool(torch.rand((), generator=g) < 0.5):
                clip = clip.flip(-1)
            clips.append(clip)
        return torch.stack(clips).to(self.device)
