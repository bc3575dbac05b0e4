"""analysis.image_rd in-process: the smoke config end to end (bitstreams decode exactly, JSON fields), and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import image_rd

POINT_FIELDS = {"codec", "setting", "bpp", "psnr", "ms_ssim", "decoded_exactly"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("image_rd")
    argv = ["--data", "skimage", "--config", "smoke", "--device", "cpu", "--json", str(out / "r.json"),
            "--plot", str(out / "r.png"), "--checkpoint", str(out / "models.pt"), "--no-progress"]
    code = image_rd.main(argv)
    return code, json.loads((out / "r.json").read_text()), out, argv


@pytest.mark.slow
def test_smoke_every_bitstream_decodes_and_json_is_complete(smoke):
    code, report, out, _ = smoke
    assert code == 0
    assert report["config"] == "smoke" and report["device"] == "cpu" and report["unit"] == "bits"
    assert report["images"] == ["skimage:chelsea", "sklearn:china", "sklearn:flower"]
    assert (out / "r.png").stat().st_size > 10_000
    codecs = {p["codec"] for p in report["points"]}
    assert codecs == {"flowcodec", "quantized", "jpeg", "webp"}
    for p in report["points"]:
        assert POINT_FIELDS <= set(p)
        assert p["bpp"] > 0 and np.isfinite(p["psnr"]) and 0 < p["ms_ssim"] <= 1
        if p["codec"] in ("flowcodec", "quantized"):
            assert p["decoded_exactly"] is True  # checked symbol for symbol, every image
            assert all(row["decoded_exactly"] for row in p["per_image"])
            # the bitstream costs its ideal code length under the coder's tables, plus a little (the ANS
            # words and the header; constriction's fixed-point probabilities can round either way)
            assert 0.999 * p["bpp_ideal"] <= p["bpp"] <= 1.05 * p["bpp_ideal"] + 0.01
        else:
            assert p["decoded_exactly"] is None
    assert set(report["bd_rate"]) == {"jpeg", "webp", "quantized"}
    for name in ("flowcodec", "quantized"):
        assert report["latency_ms"][name]["encode"] > 0 and report["latency_ms"][name]["decode"] > 0


@pytest.mark.slow
def test_checkpoint_reloads_the_same_models(smoke, tmp_path):
    _, report, out, argv = smoke
    argv = list(argv)
    argv[argv.index("--json") + 1] = str(tmp_path / "again.json")
    argv[argv.index("--plot") + 1] = str(tmp_path / "again.png")
    assert image_rd.main(argv) == 0
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["train_seconds"] == {}  # loaded, not trained
    first = {(p["codec"], p["setting"]): p["bpp"] for p in report["points"]}
    for p in again["points"]:
        assert p["bpp"] == first[(p["codec"], p["setting"])]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--steps", "0"], "--steps must be >= 1"),
        (["--finetune-steps", "-1"], "--finetune-steps must be >= 0"),
        (["--betas", "-1"], "--betas must all be finite and > 0"),
        (["--max-side", "100"], "--max-side must be >= 161"),
        (["--config", "huge"], "invalid choice"),
    ],
)
def test_bad_arguments_name_the_argument(extra, message, capsys):
    with pytest.raises(SystemExit) as e:
        image_rd.main(["--no-progress", *extra])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_data_folder_errors(tmp_path, capsys):
    missing = tmp_path / "nope"
    with pytest.raises(SystemExit):
        image_rd.main(["--data", str(missing)])
    assert "is not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(SystemExit):
        image_rd.main(["--data", str(empty)])
    assert "holds no PNG or JPEG files" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"this is not a png")
    with pytest.raises(SystemExit):
        image_rd.main(["--data", str(broken)])
    err = capsys.readouterr().err
    assert "cannot read" in err and "a.png" in err


def test_data_folder_loads_pngs_and_jpegs(tmp_path):
    from PIL import Image

    from ibflow.image.data import load_folder

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (170, 180, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 256, (200, 170), dtype=np.uint8)).save(tmp_path / "b.JPG")
    images = load_folder(tmp_path, min_side=161)
    assert list(images) == ["a.png", "b.JPG"]
    assert images["a.png"].shape == (3, 170, 180) and images["b.JPG"].shape == (3, 200, 170)
    Image.fromarray(rng.integers(0, 256, (100, 170, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    with pytest.raises(ValueError, match="short side >= 161"):
        load_folder(tmp_path, min_side=161)


def test_builtin_split_is_by_image_and_crops_are_reproducible():
    import torch

    from ibflow.image.data import EVAL_IMAGES, TRAIN_IMAGES, CropSampler, center_crop, load_builtin

    assert not set(TRAIN_IMAGES) & set(EVAL_IMAGES)
    assert "skimage:cat" not in TRAIN_IMAGES  # the same photo as the held-out chelsea
    chelsea = load_builtin("skimage:chelsea")
    assert chelsea.shape == (3, 300, 451) and 0 <= float(chelsea.min()) and float(chelsea.max()) <= 1
    assert center_crop(chelsea, 16).shape == (3, 288, 448)
    assert center_crop(chelsea, 16, 192).shape == (3, 192, 192)
    sampler = CropSampler({"c": chelsea, "g": load_builtin("skimage:camera")}, 32)
    assert torch.equal(sampler(4, 1), sampler(4, 1)) and sampler(4, 1).shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="no sample image"):
        load_builtin("skimage:not_an_image")


def test_augmented_crops_are_symmetries_of_windows_of_the_photos_or_their_half_sizes():
    """Every augmented crop is one of the 8 flips and quarter turns of a window of a training image or
    of its 2 x 2-averaged half; all 8 occur; the same seed gives the same crops; the training set holds
    every shipped photo the held-out ones leave (the stereo pair loads from skimage's own file)."""
    import torch

    from ibflow.image.data import TRAIN_IMAGES, CropSampler, half_size, load_builtin

    assert {"skimage:motorcycle_left", "skimage:motorcycle_right", "skimage:text", "skimage:page"} <= set(TRAIN_IMAGES)
    assert load_builtin("skimage:motorcycle_right").shape == (3, 500, 741)
    image = torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(0))
    sampler = CropSampler([image], 4, augment=True)
    assert len(sampler.images) == 2 and torch.allclose(sampler.images[1], half_size(image))
    assert torch.allclose(half_size(image)[:, 0, 0], image[:, :2, :2].mean(dim=(1, 2)))
    crops = sampler(400, 3)
    assert torch.equal(crops, sampler(400, 3))

    def symmetries(window: torch.Tensor) -> list[torch.Tensor]:
        return [torch.rot90(window.flip(-1) if t >= 4 else window, t % 4, dims=(-2, -1)) for t in range(8)]

    seen = set()
    for crop in crops:
        found = None
        for source in sampler.images:
            for top in range(source.shape[-2] - 3):
                for left in range(source.shape[-1] - 3):
                    for t, view in enumerate(symmetries(source[:, top : top + 4, left : left + 4])):
                        if torch.equal(view, crop):
                            found = t
        assert found is not None
        seen.add(found)
    assert seen == set(range(8))
