"""Offline photographs (scikit-image and scikit-learn wheels) split by image, random crops, and user folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "TRAIN_IMAGES",
    "EVAL_IMAGES",
    "IMAGE_SUFFIXES",
    "load_builtin",
    "load_builtin_set",
    "load_folder",
    "to_tensor",
    "image_to_tensor",
    "center_crop",
    "half_size",
    "CropSampler",
]

# Every photo that ships inside the scikit-image wheel (REFERENCES.md: the others are fetched by pooch and
# fail offline) except the held-out ones; grey ones are repeated to RGB. skimage's "cat" is the same photo
# as "chelsea", so it is left out of training. Left out as not photographs: the synthetic phantom,
# chessboards and binary blobs, the binary horse, the logo and the colour wheel; and microaneurysms
# (102 px) and the 25 px lfw faces, smaller than a training crop.
TRAIN_IMAGES: tuple[str, ...] = (
    "skimage:astronaut", "skimage:coffee", "skimage:rocket", "skimage:hubble_deep_field", "skimage:retina",
    "skimage:immunohistochemistry", "skimage:camera", "skimage:brick", "skimage:grass", "skimage:gravel",
    "skimage:moon", "skimage:coins", "skimage:clock", "skimage:cell", "skimage:motorcycle_left",
    "skimage:motorcycle_right", "skimage:text", "skimage:page",
)
# Held out: never cropped for training. Every short side is >= 300 px, above MS-SSIM's 161.
EVAL_IMAGES: tuple[str, ...] = ("skimage:chelsea", "sklearn:china", "sklearn:flower")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def to_tensor(array: np.ndarray) -> Tensor:
    """uint8 (H, W), (H, W, 3) or (H, W, 4) -> float32 (3, H, W) in [0, 1] (grey repeated, alpha dropped)."""
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    return torch.from_numpy(np.array(a[:, :, :3], copy=True)).permute(2, 0, 1).float() / 255


def load_builtin(name: str) -> Tensor:
    """One shipped photo, ``"skimage:NAME"`` or ``"sklearn:china"`` / ``"sklearn:flower"``, as (3, H, W)."""
    source, _, image = name.partition(":")
    if source == "skimage" and image in ("motorcycle_left", "motorcycle_right"):
        from skimage import data

        return to_tensor(data.stereo_motorcycle()[0 if image == "motorcycle_left" else 1])
    if source == "skimage":
        from skimage import data

        if not hasattr(data, image):
            raise ValueError(f"scikit-image has no sample image {image!r}")
        return to_tensor(getattr(data, image)())
    if source == "sklearn" and image in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return to_tensor(load_sample_image(f"{image}.jpg"))
    raise ValueError(f"unknown built-in image {name!r}: use 'skimage:NAME' or 'sklearn:china' / 'sklearn:flower'")


def load_builtin_set(names: tuple[str, ...]) -> dict[str, Tensor]:
    return {name: load_builtin(name) for name in names}


def load_folder(path: str | Path, min_side: int = 1) -> dict[str, Tensor]:
    """Every PNG/JPEG file directly in ``path`` as (3, H, W) in [0, 1], keyed by file name.

    Raises:
        ValueError: the folder does not exist, holds no PNG/JPEG files, a file cannot be read as an
            image, or an image's short side is below ``min_side``.
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"--data {str(path)!r} is not a folder (give 'skimage' or a folder of PNG/JPEG files)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"--data {str(path)!r} holds no PNG or JPEG files ({', '.join(IMAGE_SUFFIXES)})")
    images: dict[str, Tensor] = {}
    for file in files:
        try:
            with Image.open(file) as im:
                image = image_to_tensor(im)
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"--data: cannot read {str(file)!r} as an image: {e}") from e
        except ValueError as e:
            raise ValueError(f"--data: {file.name}: {e}") from None
        if min(image.shape[-2:]) < min_side:
            size = f"{image.shape[-1]}x{image.shape[-2]}"
            raise ValueError(f"--data: {file.name} is {size} px; need a short side >= {min_side}")
        images[file.name] = image
    return images


# PIL modes of one channel of integers wider than 8 bits, by the largest value they hold. Pillow opens a
# 16-bit grey PNG as "I;16" (older versions: "I"), and its convert("RGB") clips every value above 255
# to white, so these are scaled here by their own maximum instead.
_WIDE_GREY_MAX = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535}
# modes whose range is not fixed by the mode: "I" is 16-bit when it comes from a PNG (the format's
# widest grey), "F" and other "I" have no known maximum and are refused rather than guessed
_PNG_FORMATS = ("PNG",)


def image_to_tensor(im: Any) -> Tensor:
    """A PIL image as float32 (3, H, W) in [0, 1]: 8-bit modes (grey, palette, RGB, RGBA, CMYK, ...)
    through ``convert("RGB")`` / 255, 16-bit grey (``I;16``, a PNG's ``I``) / 65535, grey repeated to
    RGB. Raises ValueError for a mode whose range is unknown (float, 32-bit integer) instead of clipping.

    Example:
        >>> from PIL import Image
        >>> im = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
        >>> im.mode, image_to_tensor(im)[0].tolist()
        ('I;16', [[0.0, 0.5000076293945312, 1.0]])
    """
    mode = im.mode
    peak = _WIDE_GREY_MAX.get(mode)
    if peak is None and mode == "I" and getattr(im, "format", None) in _PNG_FORMATS:
        peak = 65535
    if peak is not None:
        grey = np.asarray(im, dtype=np.float64)  # "I;16B" and friends: numpy reads their byte order
        if grey.ndim != 2 or grey.min() < 0 or grey.max() > peak:
            raise ValueError(f"PIL mode {mode} image holds values outside [0, {peak}]")
        scaled = torch.from_numpy(grey / peak).float()
        return scaled.unsqueeze(0).repeat(3, 1, 1)
    if mode in ("I", "F") or mode.startswith("I;"):
        raise ValueError(f"PIL mode {mode!r} (32-bit integer or float pixels) has no known white level; "
                         "save the image as 8- or 16-bit PNG or as JPEG")
    return to_tensor(np.asarray(im.convert("RGB")))


def center_crop(image: Tensor, multiple: int, max_side: int | None = None) -> Tensor:
    """The central crop of (C, H, W) with sides multiples of ``multiple`` (and at most ``max_side``)."""
    h, w = image.shape[-2:]
    th, tw = (min(s, max_side) if max_side else s for s in (h, w))
    th, tw = th - th % multiple, tw - tw % multiple
    if th == 0 or tw == 0:
        raise ValueError(f"image of size {h}x{w} is smaller than one {multiple}-px block")
    top, left = (h - th) // 2, (w - tw) // 2
    return image[..., top : top + th, left : left + tw]


def half_size(image: Tensor) -> Tensor:
    """(C, H, W) -> (C, H // 2, W // 2) by averaging 2 x 2 pixel blocks: the photo as a camera with half the
    resolution would see it, so a training set of a few photos also holds their structure at the next scale."""
    h, w = image.shape[-2] // 2 * 2, image.shape[-1] // 2 * 2
    return torch.nn.functional.avg_pool2d(image[None, :, :h, :w], 2)[0]


class CropSampler:
    """``sampler(n, seed) -> (n, 3, size, size)``: uniform random crops (random image, position and
    horizontal flip), reproducible from ``seed``; the sampler interface of :func:`ibflow.train`. With
    ``augment``, every image also enters at half size (:func:`half_size`, where that still holds a crop)
    and every crop gets one of the 8 flips and quarter turns of the square, uniformly."""

    def __init__(
        self, images: dict[str, Tensor] | list[Tensor], size: int, device: str | torch.device = "cpu",
        augment: bool = False,
    ):
        self.images = list(images.values()) if isinstance(images, dict) else list(images)
        self.augment = augment
        if not self.images:
            raise ValueError("CropSampler needs at least one image")
        small = [tuple(im.shape[-2:]) for im in self.images if min(im.shape[-2:]) < size]
        if small:
            raise ValueError(f"crop size {size} exceeds the short side of images of size {small}")
        self.size = size
        self.device = torch.device(device)
        if augment:
            halves = [half_size(im) for im in self.images]
            self.images += [im for im in halves if min(im.shape[-2:]) >= size]

    def __call__(self, n: int, seed: int) -> Tensor:
        rng = np.random.default_rng(seed)
        crops = []
        for _ in range(n):
            im = self.images[rng.integers(len(self.images))]
            top = rng.integers(im.shape[-2] - self.size + 1)
            left = rng.integers(im.shape[-1] - self.size + 1)
            crop = im[:, top : top + self.size, left : left + self.size]
            if self.augment:
                turn = int(rng.integers(8))  # the dihedral group of the square: 4 quarter turns, with or without a flip
                crop = torch.rot90(crop.flip(-1) if turn >= 4 else crop, turn % 4, dims=(-2, -1))
            elif rng.random() < 0.5:
                crop = crop.flip(-1)
            crops.append(crop)
        return torch.stack(crops).to(self.device)

