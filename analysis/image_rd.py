"""python -m analysis.image_rd: FlowCodec on real photographs against JPEG, WebP and a quantized learned codec."""

from __future__ import annotations

import argparse
import io
import math
import pickle
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from analysis.bd_rate import bd_rate
from ibflow import ImageFlowCodec, QuantizedImageCodec, TrainConfig, TrainingDiverged, train
from ibflow.checkpoint import codec_from_state, codec_state
from ibflow.entropy import stream_bytes
from ibflow.image import MS_SSIM_MIN_SIDE
from ibflow.image.data import EVAL_IMAGES, TRAIN_IMAGES, CropSampler, center_crop, load_builtin_set, load_folder
from analysis.cli import parse_study_args
from analysis.plots import palette, styled_figure
from analysis.report import ruled_table, study_report, write_report

__all__ = [
    "ImageRDConfig", "CONFIGS", "build_parser", "main", "evaluate_codec", "evaluate_pillow", "format_table",
    "plot_image_rd", "run_image_rd", "train_models", "save_models", "load_models",
]

LN2 = math.log(2)
BLOCK = 16  # evaluation crops are multiples of 16 px, so both learned codecs take them unpadded


@dataclass(frozen=True)
class ImageRDConfig:
    """One study: model sizes, training (the same for both learned codecs), evaluation and baselines."""

    name: str
    betas: tuple[float, ...]
    steps: int
    batch_size: int
    crop: int
    lr: float = 1e-3
    levels: int = 2
    flow_steps: int = 2
    hidden: int = 32
    sigma: float = 0.1
    entropy_fit_steps: int = 300
    finetune_steps: int = 0  # FlowCodec only: quantization-aware fine-tuning after training (0: none)
    eval_max_side: int | None = None
    augment: bool = True  # training crops also from half-size photos, under the 8 flips and turns of the square
    entropy: str = "context"  # the FlowCodec bitstream's entropy model: "context" or "factorized"
    jpeg_qualities: tuple[int, ...] = (1, 3, 5, 10, 20, 30, 50, 70, 85, 95)
    webp_qualities: tuple[int, ...] = (0, 5, 10, 20, 30, 50, 70, 85, 95)
    latency_repeats: int = 3
    seed: int = 0


CONFIGS: dict[str, ImageRDConfig] = {
    # CI: two betas, a tiny model, 192 px crops of the held-out photos (MS-SSIM needs > 160 px).
    "smoke": ImageRDConfig(
        name="smoke", betas=(3e-3, 3e-4), steps=30, batch_size=8, crop=32, levels=2, flow_steps=1, hidden=16,
        entropy_fit_steps=40, finetune_steps=20, eval_max_side=192, jpeg_qualities=(10, 30, 50, 70, 90),
        webp_qualities=(10, 30, 50, 70, 90), latency_repeats=1,
    ),
    # The full protocol (whole held-out photos, every baseline) on a 2-core CPU budget: a small model
    # trained for about 25 minutes (2-core CPU, 2026-12), with augmented crops of every shipped photo
    # that is not held out.
    "reduced": ImageRDConfig(
        name="reduced", betas=(1e-2, 3e-3, 1e-3), steps=12_000, batch_size=16, crop=32, levels=2, flow_steps=2,
        hidden=32, entropy_fit_steps=300, finetune_steps=3000, latency_repeats=10,
    ),
    # The real-data check at full size, for a long GPU run: whole held-out photos.
    "full": ImageRDConfig(
        name="full", betas=(1e-2, 3e-3, 1e-3, 3e-4), steps=20_000, batch_size=16, crop=64, levels=3, flow_steps=4,
        hidden=64, entropy_fit_steps=1000, finetune_steps=5000, latency_repeats=10,
    ),
    # The full-size models on a short GPU lease (benchmarks/gpu_image_rd.sh): every beta in one process,
    # sized for <= 8 minutes of training on one H200 (an estimate: no GPU has run it yet).
    "gpu": ImageRDConfig(
        name="gpu", betas=(1e-2, 3e-3, 1e-3, 3e-4), steps=4000, batch_size=32, crop=64, levels=3, flow_steps=4,
        hidden=64, entropy_fit_steps=500, finetune_steps=1000, latency_repeats=3,
    ),
}


def _psnr(x: Tensor, x_hat: Tensor) -> float:
    mse = float((x - x_hat).double().pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _ms_ssim(x: Tensor, x_hat: Tensor) -> float:
    from pytorch_msssim import ms_ssim

    return float(ms_ssim(x.float().cpu(), x_hat.float().cpu(), data_range=1.0))


def _as_8bit(x: Tensor) -> Tensor:
    """What a real decoder writes out: [0, 1] rounded to 8-bit levels."""
    return (x.clamp(0, 1) * 255).round() / 255


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[..., Any], device: torch.device, *args: Any) -> tuple[Any, float]:
    _sync(device)
    start = time.perf_counter()
    out = fn(*args)
    _sync(device)
    return out, time.perf_counter() - start


@torch.no_grad()
def evaluate_codec(
    codec: ImageFlowCodec | QuantizedImageCodec, images: dict[str, Tensor], device: torch.device, repeats: int
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per image: bitstream bits per pixel (from the bytes of the whole stream, container included), PSNR and MS-SSIM of the
    decoded 8-bit image, whether the decoded symbols equal the encoded ones; and the median encode and
    decode times in ms (image -> bytes, bytes -> image; entropy coding runs on the CPU)."""
    codec.eval()
    rows, enc_ms, dec_ms = [], [], []
    for name, image in images.items():
        x = image.unsqueeze(0).to(device)
        pixels = x.shape[-1] * x.shape[-2]
        stream, _ = _timed(codec.compress, device, x)  # warm-up
        t_enc = [_timed(codec.compress, device, x)[1] for _ in range(repeats)]
        strings, shape = stream["strings"], stream["shape"]
        k = codec.symbols(x)
        decoded = codec.decompress_symbols(strings, shape)
        t_dec = [_timed(codec.decompress, device, strings, shape)[1] for _ in range(repeats)]
        exact = bool(torch.equal(decoded.cpu(), k.cpu()))
        x_hat = _as_8bit(codec.decompress(strings, shape)["x_hat"])
        row = {
            "image": name, "bpp": 8 * stream_bytes(strings) / pixels, "psnr": _psnr(x, x_hat), "ms_ssim": _ms_ssim(x, x_hat),
            "decoded_exactly": exact, "bpp_ideal": float(codec.code_length(k.cpu())) / LN2 / pixels,
        }
        if isinstance(codec, ImageFlowCodec):
            _, z = codec.sample_latent(x, torch.Generator(device=device).manual_seed(0))
            row["kl_bpp"] = float(codec.kl_per_sample(z)[0]) / LN2 / pixels
            row["channel_psnr"] = _psnr(x, _as_8bit(codec.decode(z)))
            length, x_binned = codec.binned(x)
            row["binned_bpp"] = float(length) / LN2 / pixels
            row["binned_psnr"] = _psnr(x, _as_8bit(x_binned))
        rows.append(row)
        enc_ms.append(1e3 * statistics.median(t_enc))
        dec_ms.append(1e3 * statistics.median(t_dec))
    return rows, {"encode": float(np.mean(enc_ms)), "decode": float(np.mean(dec_ms))}


def evaluate_pillow(fmt: str, quality: int, images: dict[str, Tensor]) -> list[dict[str, Any]]:
    """JPEG or WebP through Pillow at one quality: bits per pixel of the file, PSNR, MS-SSIM."""
    from PIL import Image

    rows = []
    for name, image in images.items():
        array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        buffer = io.BytesIO()
        options = {"quality": quality} if fmt == "JPEG" else {"quality": quality, "method": 6}
        Image.fromarray(array).save(buffer, fmt, **options)
        with Image.open(io.BytesIO(buffer.getvalue())) as im:
            decoded = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float().div(255).unsqueeze(0)
        x = image.unsqueeze(0)
        rows.append({"image": name, "bpp": 8 * len(buffer.getvalue()) / (array.shape[0] * array.shape[1]),
                     "psnr": _psnr(x, decoded), "ms_ssim": _ms_ssim(x, decoded), "decoded_exactly": None})
    return rows


def _point(codec: str, setting: float, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over images (bpp, PSNR in dB, MS-SSIM), and every per-image row."""
    point: dict[str, Any] = {"codec": codec, "setting": setting}
    for key in rows[0]:
        if key in ("image", "decoded_exactly"):
            continue
        point[key] = float(np.mean([r[key] for r in rows]))
    flags = [r["decoded_exactly"] for r in rows]
    point["decoded_exactly"] = None if flags[0] is None else all(flags)
    point["per_image"] = rows
    return point


def _matched_quantized(flow: ImageFlowCodec, cfg: ImageRDConfig) -> QuantizedImageCodec:
    """The quantized codec whose parameter count is closest to the FlowCodec's (width = latent channels)."""
    target = sum(p.numel() for p in flow.parameters())
    count = lambda w: sum(p.numel() for p in QuantizedImageCodec(hidden=w, latent=w).parameters())  # noqa: E731
    width = min(range(4, 257, 4), key=lambda w: abs(count(w) - target))
    return QuantizedImageCodec(hidden=width, latent=width)


def train_models(
    cfg: ImageRDConfig, device: torch.device, progress: bool
) -> tuple[dict[float, ImageFlowCodec], dict[float, QuantizedImageCodec], dict[str, float]]:
    """Both learned codecs at every beta, the same data and optimiser settings; the FlowCodec's entropy
    model is then fitted and the FlowCodec fine-tuned for its bitstream (``cfg.finetune_steps`` more
    steps, :meth:`ImageFlowCodec.finetune_bitstream`), with the latent types its bitstream carries chosen
    half-way (:meth:`ImageFlowCodec.select_coded_types`), and its base-space bins are calibrated. The quantized
    codec trains for ``steps + finetune_steps``, so both get the same number of gradient steps."""
    if device.type == "cuda":
        # Mixed precision where it is safe: TF32 tensor-core products in the convolutions and matrix products
        # (10-bit mantissas, fp32 accumulation). Not bf16 autocast: the flows' log-determinants and the entropy
        # models' differences of cumulatives lose their meaning at 8-bit mantissas.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    sampler = CropSampler(load_builtin_set(TRAIN_IMAGES), cfg.crop, device, augment=cfg.augment)
    tcfg = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                       checkpoint_every=max(1, min(100, cfg.steps)))
    qcfg = replace(tcfg, steps=cfg.steps + cfg.finetune_steps)
    flows, quants, seconds = {}, {}, {"flowcodec": 0.0, "quantized": 0.0}
    for beta in tqdm(cfg.betas, desc="betas", disable=not progress):
        torch.manual_seed(cfg.seed)
        flow = ImageFlowCodec(levels=cfg.levels, steps=cfg.flow_steps, hidden=cfg.hidden, sigma=cfg.sigma,
                              entropy=cfg.entropy).to(device)
        quant = _matched_quantized(flow, cfg).to(device)
        for name, codec, store, config in (("flowcodec", flow, flows, tcfg), ("quantized", quant, quants, qcfg)):
            start = time.perf_counter()
            train(codec, sampler, beta, config, progress=progress)
            seconds[name] += time.perf_counter() - start
            store[beta] = codec
        start = time.perf_counter()
        calib = sampler(256, cfg.seed + 7)
        flow.fit_entropy_model(calib, steps=cfg.entropy_fit_steps)
        # fine-tune for the bitstream, choose the coded types half-way, then adapt to that choice
        half = cfg.finetune_steps // 2
        flow.finetune_bitstream(sampler, beta, half, cfg.batch_size, cfg.lr, cfg.seed)
        flow.select_coded_types(calib, beta, seed=cfg.seed)
        flow.finetune_bitstream(sampler, beta, cfg.finetune_steps - half, cfg.batch_size, cfg.lr, cfg.seed + 1)
        flow.calibrate_bins(calib, torch.Generator(device=device).manual_seed(cfg.seed))
        seconds["flowcodec"] += time.perf_counter() - start
    return flows, quants, seconds


def save_models(path: str | Path, cfg: ImageRDConfig, flows: dict, quants: dict) -> None:
    """One file for every model; loads with ``torch.load(path, weights_only=True)``."""
    blob = {"config": asdict(cfg), "flowcodec": {repr(b): codec_state(c) for b, c in flows.items()},
            "quantized": {repr(b): codec_state(c) for b, c in quants.items()}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, path)


def load_models(path: str | Path, device: torch.device) -> tuple[dict[str, Any], dict, dict]:
    """The (config, FlowCodecs, quantized codecs) that :func:`save_models` wrote to ``path``, each codec
    keyed by its beta. Raises ValueError naming ``--checkpoint`` and the reason for a file that cannot
    be read, is not a torch file (corrupt, truncated) or does not hold this study's models."""
    try:
        blob = torch.load(Path(path), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:  # what weights_only=True says of any pickle that is not plain tensors and containers
        raise ValueError(f"--checkpoint {str(path)!r}: not a torch checkpoint of tensors (weights-only loading "
                         "refused it: corrupt, or not written by this tool)") from None
    except Exception as e:  # noqa: BLE001 - bad bytes reach torch.load's readers as RuntimeError, KeyError, EOFError, OSError...
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ValueError(f"--checkpoint {str(path)!r}: cannot be read as a torch checkpoint "
                         f"({type(e).__name__}: {reason})") from None
    if not isinstance(blob, dict) or not all(k in blob for k in ("config", "flowcodec", "quantized")):
        found = sorted(blob) if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"--checkpoint {str(path)!r} is not an image_rd checkpoint (expected the keys config, "
                         f"flowcodec and quantized; found {found})")
    out = []
    for key, cls in (("flowcodec", ImageFlowCodec), ("quantized", QuantizedImageCodec)):
        models = {}
        for beta, state in blob[key].items():
            where = f"--checkpoint {str(path)!r} ({key}, beta {beta})"
            try:
                codec = codec_from_state(state, where=where)
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
                # ValueError covers the format check and an unregistered codec; RuntimeError a state dict
                # that does not fit; KeyError/TypeError/AttributeError a blob of the wrong shape
                message = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ValueError(message if message.startswith(where) else f"{where}: {message}") from None
            if not isinstance(codec, cls):
                raise ValueError(f"--checkpoint {str(path)!r}: the {key} models must be {cls.__name__}, got {type(codec).__name__}")
            models[float(beta)] = codec.to(device).eval()
        out.append(models)
    return blob["config"], out[0], out[1]


def _bd(points: list[dict[str, Any]], test: str, anchor: str, quality: str) -> float | None:
    def curve(codec: str) -> tuple[list[float], list[float]]:
        pts = [p for p in points if p["codec"] == codec]
        q = [p[quality] if quality == "psnr" else -10 * math.log10(max(1 - p[quality], 1e-12)) for p in pts]
        return [p["bpp"] for p in pts], q

    value = bd_rate(*curve(anchor), *curve(test))
    return None if math.isnan(value) else value


def format_table(points: Sequence[dict[str, Any]]) -> str:
    """The printed table (bits per pixel; PSNR in dB on 8-bit output; MS-SSIM in [0, 1]; the latent types
    the FlowCodec's bitstream codes, of all)."""
    head = (f"{'codec':>10} {'setting':>8} {'bpp':>7} {'PSNR':>7} {'MS-SSIM':>8} {'exact':>6} {'E KL bpp':>9} "
            f"{'chan PSNR':>9} {'coded':>7}")
    lines = []
    for p in points:
        exact = "-" if p["decoded_exactly"] is None else ("yes" if p["decoded_exactly"] else "NO")
        kl = f"{p['kl_bpp']:9.3f}" if "kl_bpp" in p else f"{'-':>9}"
        ch = f"{p['channel_psnr']:9.2f}" if "channel_psnr" in p else f"{'-':>9}"
        coded = "/".join(map(str, p["coded_types"])) if "coded_types" in p else "-"
        lines.append(f"{p['codec']:>10} {p['setting']:>8g} {p['bpp']:7.3f} {p['psnr']:7.2f} {p['ms_ssim']:8.4f} "
                     f"{exact:>6} {kl} {ch} {coded:>7}")
    return ruled_table(head, lines)


def plot_image_rd(points: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """PSNR and MS-SSIM (in dB, -10 log10(1 - MS-SSIM)) against bits per pixel for every codec; the
    FlowCodec's E KL through its training channel is drawn as open circles (a bound, not a bitstream)."""
    import matplotlib.ticker

    pal = palette()
    with styled_figure(path, 1, 2, figsize=(11, 4.2)) as (fig, axes):
        styles = {"flowcodec": (pal[0], "o-"), "quantized": (pal[1], "s-"), "jpeg": (pal[2], "^--"), "webp": (pal[3], "v--")}
        for ax, key in zip(axes, ("psnr", "ms_ssim")):
            to_y = (lambda v: v) if key == "psnr" else (lambda v: -10 * math.log10(max(1 - v, 1e-12)))
            for codec, (color, style) in styles.items():
                pts = sorted((p for p in points if p["codec"] == codec), key=lambda p: p["bpp"])
                if pts:
                    ax.plot([p["bpp"] for p in pts], [to_y(p[key]) for p in pts], style, color=color, ms=5,
                            label=f"{codec} (bitstream)" if codec in ("flowcodec", "quantized") else codec)
            if key == "psnr":
                flow = sorted((p for p in points if p["codec"] == "flowcodec"), key=lambda p: p["kl_bpp"])
                ax.plot([p["kl_bpp"] for p in flow], [p["channel_psnr"] for p in flow], "o:", mfc="none", color=pal[0],
                        label="flowcodec E KL through the noisy channel (no bitstream)")
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("bits per pixel")
            ax.set_ylabel("PSNR (dB)" if key == "psnr" else "MS-SSIM (dB)")
            ax.legend(fontsize=7)
        fig.suptitle(title or "image rate-distortion")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.image_rd",
        description="Train an image FlowCodec and a quantized learned codec of the same size on photos shipped "
        "with scikit-image, code held-out photos into real bitstreams, decode them, and compare PSNR and "
        "MS-SSIM against bits per pixel with JPEG and WebP (Pillow). Rates in bits per pixel.",
    )
    p.add_argument("--data", default="skimage", help="'skimage' (held-out shipped photos) or a folder of PNG/JPEG "
                   "files to evaluate on (training always uses the shipped photos)")
    p.add_argument("--config", choices=sorted(CONFIGS), default="smoke")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--steps", type=int, help="override the config's training steps (>= 1)")
    p.add_argument("--finetune-steps", type=int, help="override the config's FlowCodec bitstream fine-tuning steps (>= 0)")
    p.add_argument("--betas", type=float, nargs="+", help="override the config's betas (> 0)")
    p.add_argument("--max-side", type=int, help="centre-crop evaluation images to at most this many px (>= 161)")
    p.add_argument("--checkpoint", help="load the models from this file if it exists, else train and save them there")
    p.add_argument("--json", help="write the numbers here")
    p.add_argument("--plot", help="write PSNR and MS-SSIM against bpp here (.png, .pdf or .svg)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _config(args: argparse.Namespace) -> ImageRDConfig:
    cfg = CONFIGS[args.config]
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {args.steps}")
        cfg = replace(cfg, steps=args.steps)
    if args.finetune_steps is not None:
        if args.finetune_steps < 0:
            raise ValueError(f"--finetune-steps must be >= 0, got {args.finetune_steps}")
        cfg = replace(cfg, finetune_steps=args.finetune_steps)
    if args.betas is not None:
        if any(not (b > 0 and math.isfinite(b)) for b in args.betas):
            raise ValueError(f"--betas must all be finite and > 0, got {args.betas}")
        cfg = replace(cfg, betas=tuple(sorted(set(args.betas), reverse=True)))
    if args.max_side is not None:
        if args.max_side < MS_SSIM_MIN_SIDE:
            raise ValueError(f"--max-side must be >= {MS_SSIM_MIN_SIDE} (MS-SSIM's 5 scales), got {args.max_side}")
        cfg = replace(cfg, eval_max_side=args.max_side)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return cfg


def _eval_images(data: str, cfg: ImageRDConfig) -> dict[str, Tensor]:
    if data == "skimage":
        images = load_builtin_set(EVAL_IMAGES)
    else:
        images = load_folder(data, min_side=MS_SSIM_MIN_SIDE)
    return {name: center_crop(im, BLOCK, cfg.eval_max_side) for name, im in images.items()}


def _config_and_images(args: argparse.Namespace) -> tuple[ImageRDConfig, dict[str, Tensor]]:
    cfg = _config(args)
    if args.checkpoint and Path(args.checkpoint).exists():
        load_models(args.checkpoint, torch.device("cpu"))  # a bad file is refused now, not after the images load
    return cfg, _eval_images(args.data, cfg)


def run_image_rd(
    cfg: ImageRDConfig, images: dict[str, Tensor], device: torch.device, progress: bool = True,
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """The study: train both learned codecs (or load them from ``checkpoint`` where that file exists;
    where it does not, the trained models are saved there), code ``images`` with them and with JPEG and
    WebP, and return the report (bits per pixel; the fields of ``benchmarks/results/image_rd_*.json``).
    Raises :class:`ibflow.train.TrainingDiverged` if training diverged."""
    start = time.perf_counter()
    train_seconds: dict[str, float] = {}
    loaded = bool(checkpoint and Path(checkpoint).exists())
    if loaded:
        saved, flows, quants = load_models(checkpoint, device)
        cfg = replace(cfg, betas=tuple(sorted(flows, reverse=True)), steps=saved["steps"],
                      finetune_steps=saved.get("finetune_steps", 0))
    else:
        flows, quants, train_seconds = train_models(cfg, device, progress)
        if checkpoint:
            save_models(checkpoint, cfg, flows, quants)
    points: list[dict[str, Any]] = []
    latency: dict[str, dict[str, float]] = {}
    for name, models in (("flowcodec", flows), ("quantized", quants)):
        times = []
        for beta, codec in tqdm(models.items(), desc=f"evaluate {name}", disable=not progress):
            rows, t = evaluate_codec(codec, images, device, cfg.latency_repeats)
            points.append(_point(name, beta, rows))
            if isinstance(codec, ImageFlowCodec):
                points[-1]["coded_types"] = [int(codec.coded.sum()), len(codec.coded)]
            times.append(t)
        latency[name] = {k: float(np.mean([t[k] for t in times])) for k in ("encode", "decode")}
    latency["ratio_flowcodec_over_quantized"] = {
        k: latency["flowcodec"][k] / latency["quantized"][k] for k in ("encode", "decode")}
    latency_cpu = None
    if device.type != "cpu":  # the same models timed on the CPU too, in the same run
        cpu = torch.device("cpu")
        latency_cpu = {}
        for name, models in (("flowcodec", flows), ("quantized", quants)):
            times = [evaluate_codec(c.to(cpu), images, cpu, cfg.latency_repeats)[1] for c in models.values()]
            latency_cpu[name] = {k: float(np.mean([t[k] for t in times])) for k in ("encode", "decode")}
        latency_cpu["ratio_flowcodec_over_quantized"] = {
            k: latency_cpu["flowcodec"][k] / latency_cpu["quantized"][k] for k in ("encode", "decode")}
    for fmt, qualities in (("jpeg", cfg.jpeg_qualities), ("webp", cfg.webp_qualities)):
        for q in qualities:
            points.append(_point(fmt, q, evaluate_pillow(fmt.upper(), q, images)))
    return study_report({
        "config": cfg.name,
        "device": device.type,
        "unit": "bits",
        "images": list(images),
        "image_sizes": {n: list(im.shape[-2:]) for n, im in images.items()},
        "points": points,
        "bd_rate": {a: _bd(points, "flowcodec", a, "psnr") for a in ("jpeg", "webp", "quantized")},
        "bd_rate_ms_ssim": {a: _bd(points, "flowcodec", a, "ms_ssim") for a in ("jpeg", "webp", "quantized")},
        "bd_rate_quantized": {a: _bd(points, "quantized", a, "psnr") for a in ("jpeg", "webp")},
        "latency_ms": latency,
        "latency_ms_cpu": latency_cpu if latency_cpu is not None else latency,
        "train_seconds": train_seconds,
        "loaded_from_checkpoint": loaded,
        "runtime_s": time.perf_counter() - start,
        "settings": asdict(cfg),
        "torch_threads": torch.get_num_threads(),
    })


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study. Exit status 0; 1 if a bitstream did not decode exactly or training diverged;
    2 on bad arguments."""
    args, (cfg, images) = parse_study_args(build_parser(), argv, _config_and_images)
    try:
        report = run_image_rd(cfg, images, torch.device(args.device), not args.no_progress, args.checkpoint)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    points, latency = report["points"], report["latency_ms"]
    print(f"\nconfig {report['config']} on {args.device}; {len(images)} images {list(images)}; bits per pixel, "
          "PSNR (dB) and MS-SSIM of the decoded 8-bit images")
    print(format_table(points))
    fmt_bd = lambda d: ", ".join(f"{k} {'n/a' if v is None else f'{v:+.1f} %'}" for k, v in d.items())  # noqa: E731
    print(f"\nBD-rate of FlowCodec (PSNR; negative = fewer bits): {fmt_bd(report['bd_rate'])}")
    print(f"BD-rate of FlowCodec (MS-SSIM dB): {fmt_bd(report['bd_rate_ms_ssim'])}")
    print(f"BD-rate of the quantized codec (PSNR): {fmt_bd(report['bd_rate_quantized'])}")
    print("latency per image (ms): " + "; ".join(
        f"{k} encode {v['encode']:.1f} decode {v['decode']:.1f}" for k, v in latency.items() if "ratio" not in k)
        + f"; FlowCodec / quantized: encode x{latency['ratio_flowcodec_over_quantized']['encode']:.2f}, "
        f"decode x{latency['ratio_flowcodec_over_quantized']['decode']:.2f}")
    print(f"runtime {report['runtime_s']:.1f} s")
    bad = [p for p in points if p["decoded_exactly"] is False]
    for p in bad:
        print(f"ERROR: a {p['codec']} bitstream at setting {p['setting']:g} did not decode exactly", file=sys.stderr)
    if args.json:
        write_report(args.json, report)
    if args.plot:
        plot_image_rd(points, args.plot, title=f"{report['config']} config, {args.device}, {len(images)} held-out images")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
