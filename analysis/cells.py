"""Quantization cells of any 2-D codec, through its bitstream, drawn over the source density (the
pictures of Ballé et al. 2021, "Nonlinear Transform Coding", IEEE JSTSP 15(2), figs. 3-6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.measure import draw
from contracts import Source

__all__ = ["Cells", "view_box", "quantization_cells", "plot_cells"]


@dataclass(frozen=True)
class Cells:
    """Decision regions on a grid: ``labels[i, j]`` is the cell of the point (xs[j], ys[i]), one label per
    distinct reconstruction; ``codewords[k]`` is cell k's reconstruction; ``box`` = (x0, x1, y0, y1)."""

    labels: np.ndarray
    codewords: np.ndarray
    box: tuple[float, float, float, float]

    @property
    def count(self) -> int:
        """Cells that meet the grid."""
        return len(self.codewords)


def view_box(source: Source, n: int = 65_536, coverage: float = 0.995) -> tuple[float, float, float, float]:
    """A box holding the central ``coverage`` of each coordinate's samples, widened by 10 % each side."""
    x = draw(source, n, seed=7).double().numpy()
    lo, hi = np.quantile(x, [(1 - coverage) / 2, (1 + coverage) / 2], axis=0)
    pad = 0.1 * (hi - lo)
    return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])


@torch.no_grad()
def quantization_cells(
    codec: Any, box: tuple[float, float, float, float], resolution: int = 240, chunk: int = 16_384
) -> Cells | None:
    """The cells of a deterministic 2-D codec: every grid point is compressed and decompressed (the
    codec contract only), and points with the same reconstruction share a cell. None where a point's
    reconstruction depends on where it sits in the stream (checked by coding the grid shuffled): a
    trellis-coded quantizer's follows the path through the samples before it, a dithered one's the
    dither of its position, so neither has fixed cells to draw.

    Example:
        >>> class Rounding:  # a codec whose "bitstream" is the rounded input
        ...     def compress(self, x): return {"strings": [x.round()], "shape": x.shape}
        ...     def decompress(self, strings, shape): return {"x_hat": strings[0]}
        >>> cells = quantization_cells(Rounding(), (-1.4, 1.4, -0.4, 0.4), resolution=64)
        >>> cells.count  # x rounds to -1, 0, 1; y to 0
        3
    """
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    x0, x1, y0, y1 = box
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    grid = torch.from_numpy(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)).to(torch.float32)
    decoded = []
    for part in torch.split(grid, chunk):
        stream = codec.compress(part)
        decoded.append(torch.as_tensor(codec.decompress(stream["strings"], stream["shape"])["x_hat"]))
    x_hat = torch.cat(decoded).double().numpy()
    # a partition only if each point's reconstruction is its own: a trellis quantizer's depends on the
    # path through the samples before it, a dithered one's on the dither of its position
    order = torch.randperm(min(len(grid), chunk), generator=torch.Generator().manual_seed(0))
    stream = codec.compress(grid[order])
    again = torch.as_tensor(codec.decompress(stream["strings"], stream["shape"])["x_hat"]).double().numpy()
    if not np.allclose(again, x_hat[order.numpy()], atol=1e-5):
        return None
    # reconstructions equal to float32 precision are one codeword
    codewords, labels = np.unique(np.round(x_hat, 5), axis=0, return_inverse=True)
    return Cells(labels.reshape(resolution, resolution).astype(np.int32), codewords, (x0, x1, y0, y1))


def plot_cells(panels: Sequence[tuple[str, Cells]], source: Source, path: str | Path, title: str = "") -> None:
    """One panel per codec: its cells (random pastel colours, black boundaries), the source's log-density
    contours and the reconstruction points."""
    from analysis.plots import styled_figure

    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    with styled_figure(path, rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False) as (fig, axes):
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for ax, (name, cells) in zip(axes.flat, panels):
            x0, x1, y0, y1 = cells.box
            rng = np.random.default_rng(0)
            colours = 0.55 + 0.45 * rng.random((cells.count, 3))  # pastel, so the contours stay visible
            image = colours[cells.labels]
            edge = np.zeros(cells.labels.shape, bool)
            edge[:, 1:] |= cells.labels[:, 1:] != cells.labels[:, :-1]
            edge[1:, :] |= cells.labels[1:, :] != cells.labels[:-1, :]
            image[edge] = 0.0
            ax.imshow(image, origin="lower", extent=(x0, x1, y0, y1), interpolation="nearest", aspect="auto")
            xs, ys = np.linspace(x0, x1, 160), np.linspace(y0, y1, 160)
            mesh = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
            logp = np.asarray(source.log_prob(torch.from_numpy(mesh)), dtype=np.float64).reshape(160, 160)
            top = float(logp.max())
            ax.contour(xs, ys, logp, levels=[top - 8, top - 6, top - 4, top - 2], colors="0.25", linewidths=0.7)
            inside = ((cells.codewords[:, 0] >= x0) & (cells.codewords[:, 0] <= x1)
                      & (cells.codewords[:, 1] >= y0) & (cells.codewords[:, 1] <= y1))
            ax.plot(cells.codewords[inside, 0], cells.codewords[inside, 1], ".", color="black", ms=3)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_title(f"{name} ({cells.count} cells in view)", fontsize=9)
        if title:
            fig.suptitle(title)
