"""Image files of every bit depth load at their real scale: a 16-bit PNG is divided by 65535, never clipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ibflow.image.data import image_to_tensor, load_folder


def test_16_bit_grey_png_loads_as_content_over_65535(tmp_path: Path) -> None:
    content = np.random.default_rng(0).integers(0, 65536, size=(20, 30), dtype=np.uint16)
    content[0, :3] = (0, 255, 65535)  # black, the old clipping edge, white
    Image.fromarray(content).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")  # the file really is 16-bit
    image = load_folder(tmp_path)["deep.png"]
    assert image.shape == (3, 20, 30)
    expected = content / 65535.0
    for channel in image:
        np.testing.assert_allclose(channel.double().numpy(), expected, atol=1e-7)
    assert float(image.max()) == 1.0 and (image < 1).float().mean() > 0.9  # not clipped to white


def test_8_bit_images_unchanged(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, size=(12, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "grey.png")
    images = load_folder(tmp_path)
    np.testing.assert_allclose(images["rgb.png"].permute(1, 2, 0).numpy(), rgb / 255.0, atol=1e-7)
    np.testing.assert_allclose(images["grey.png"][1].numpy(), rgb[:, :, 0] / 255.0, atol=1e-7)


def test_float_and_32_bit_images_are_refused_not_guessed() -> None:
    for im in (Image.fromarray(np.ones((4, 4), dtype=np.float32)), Image.fromarray(np.ones((4, 4), dtype=np.int32))):
        with pytest.raises(ValueError, match="no known white level"):
            image_to_tensor(im)

