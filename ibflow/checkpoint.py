"""One checkpoint format for every codec: its registered name, config, weights and meta, loaded with ``weights_only=True``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contracts import UnknownPartError
from ibflow.registry import CODECS, part_name

__all__ = ["CHECKPOINT_FORMAT", "codec_state", "codec_from_state", "save_checkpoint", "load_checkpoint", "adopt_buffer_shapes"]

CHECKPOINT_FORMAT = "ibflow.codec/1"


def codec_state(codec: nn.Module, **meta: float | int | str) -> dict[str, Any]:
    """``{"format", "codec", "config", "state_dict", "meta"}``: everything :func:`codec_from_state`
    needs, in types that ``torch.load(..., weights_only=True)`` accepts. ``codec`` is the registered
    name (or the ``module:attribute`` path of an unregistered class) and ``config`` the codec's
    ``config`` dict, the keyword arguments that rebuild it."""
    config = getattr(codec, "config", None)
    if not isinstance(config, Mapping):
        raise TypeError(f"{type(codec).__name__} has no config dict: a checkpoint needs the arguments that rebuild it")
    return {
        "format": CHECKPOINT_FORMAT,
        "codec": part_name(codec),
        "config": dict(config),
        "state_dict": codec.state_dict(),
        "meta": dict(meta),
    }


def codec_from_state(state: Mapping[str, Any], where: str = "checkpoint") -> nn.Module:
    """Rebuild the codec of a :func:`codec_state` blob (on the CPU)."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{where} is not an ibflow codec checkpoint (format {state.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    name = state["codec"]
    try:
        entry = CODECS.get(name)
    except UnknownPartError as e:
        raise UnknownPartError(f"{where} holds codec {name!r}, which is not registered here: {e}") from None
    if not (isinstance(entry.obj, type) and issubclass(entry.obj, nn.Module)):
        # a checkpoint is data: it may name a codec class, never an arbitrary callable to run
        raise UnknownPartError(f"{where} names {name!r}, which is not a codec class (a torch.nn.Module subclass)")
    codec = entry.obj(**state["config"])
    codec.load_state_dict(state["state_dict"])
    return codec


def save_checkpoint(codec: nn.Module, path: str | Path, **meta: float | int | str) -> None:
    """Save the codec's name, config and weights (and ``meta``); loads with
    ``torch.load(path, weights_only=True)``. The write is atomic: a crash mid-write never leaves a
    broken checkpoint behind.

    Example:
        >>> import tempfile, ibflow
        >>> codec = ibflow.FlowCodec(2, hidden=8)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     save_checkpoint(codec, f"{tmp}/c.pt", step=3)
        ...     type(load_checkpoint(f"{tmp}/c.pt")).__name__
        'FlowCodec'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(codec_state(codec, **meta), tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> Any:
    """Rebuild any registered codec saved by :func:`save_checkpoint`; a checkpoint naming a codec
    that is not registered is refused with :class:`contracts.UnknownPartError`."""
    blob = torch.load(Path(path), weights_only=True, map_location="cpu")
    return codec_from_state(blob, where=f"checkpoint {str(path)!r}")


def adopt_buffer_shapes(module: nn.Module, state_dict: Mapping[str, Any], prefix: str, names: tuple[str, ...]) -> None:
    """Resize ``module``'s buffers ``names`` to the checkpoint's shapes before they are loaded: a fitted
    quantizer's tables (an ECVQ codebook of K' <= K codewords, a scalar quantizer's cells) are as large
    as the fit made them. Call it from ``_load_from_state_dict`` (CompressAI resizes its entropy
    bottleneck's tables the same way)."""
    for name in names:
        incoming = state_dict.get(prefix + name)
        if incoming is not None and incoming.shape != module._buffers[name].shape:
            module._buffers[name] = torch.empty_like(incoming, device=module._buffers[name].device)
