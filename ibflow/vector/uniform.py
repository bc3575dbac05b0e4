"""UniformScalarCodec: an entropy-coded uniform scalar quantizer per coordinate, after an optional PCA
rotation, with dead zone, step and centroid reconstruction fitted to D + beta R.

The classic baseline. Per coordinate y_i of y = (x - mean) V (V orthogonal: the PCA axes, or the
identity), thresholds at +-(z_i / 2 + m Delta_i), m = 0, 1, ...: ``z_i`` is the width of the central
cell (0: midrise, Delta_i: midtread, wider: a dead zone, the optimal shape for a Laplace source,
Sullivan 1996, IEEE Trans. IT 42(5)). A rotation keeps squared error, and coordinates are coded
independently, so D + beta R separates into one problem per coordinate, D_i + beta R_i, each solved by a
search over (Delta_i, z_i / Delta_i) on the training data. At high rate the quantizer loses
1/2 log2(pi e / 6) = 0.254 bit per coordinate to R(D) (Gish & Pierce 1968).

Example:
    >>> x = torch.randn(8192, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([2.0, 0.5])
    >>> codec = UniformScalarCodec(2)
    >>> codec.fit(x, beta=0.1)
    >>> stream = codec.compress(x[:10])
    >>> torch.equal(codec.decompress(**stream)["x_hat"], codec(x[:10])["x_hat"])
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from contracts import BitstreamError
from ibflow.entropy.bitstream import bytes_to_words, words_to_bytes
from ibflow.entropy.categorical import coded_log_pmf, decode_categorical_rows, encode_categorical_rows, table_digest
from ibflow.entropy.container import pack, unpack_strings
from ibflow.checkpoint import adopt_buffer_shapes
from ibflow.registry import part_name, register_codec
from ibflow.vector.scalar_fit import ScalarFit, cell_numbers, check_beta, check_input, fit_scalar_quantizer

__all__ = ["UniformScalarCodec", "UniformScalarOptions"]

Transform = Literal["pca", "none"]


@dataclass
class UniformScalarOptions:
    """Options of :class:`UniformScalarCodec` (its ``dim`` comes from the source)."""

    transform: Transform = field(default="pca", metadata={"help": "rotate onto the training data's principal axes first, or not"})
    dead_zone: bool = field(default=True, metadata={"help": "fit the central cell's width (else midtread: as wide as a step)"})
    max_cells: int = field(default=65536, metadata={"help": "most cells per coordinate (values beyond the outer ones are clamped)"})


def _midpoints(j: np.ndarray, step: float, zone: float) -> np.ndarray:
    """The middle of cell j (0 for the central cell)."""
    return np.sign(j) * (zone / 2 + (np.abs(j) - 0.5) * step) * (j != 0)


@register_codec(
    "uniform",
    options=UniformScalarOptions,
    tags=("vector",),
    summary="Entropy-coded uniform scalar quantizer per (PCA) coordinate, dead zone, step and centroids fitted to D + beta R.",
)
class UniformScalarCodec(nn.Module):
    """Entropy-coded uniform scalar quantization of (n, dim) vectors, coordinate by coordinate (see the
    module docstring). :meth:`fit` chooses the rotation, then per coordinate (step, zone) by
    :func:`fit_scalar_quantizer`, the reconstruction points (each cell's training centroid, the cell's
    middle for a cell no training value reached) and the pmf (training frequencies; a cell no training
    value reached keeps the coder's floor, 2^-24). The coded cells run from the training range's ends
    out by half that range again on each side; values beyond the outer cells are clamped into them.
    The bitstream: one categorical ANS row per coordinate (:func:`ibflow.entropy.encode_categorical_rows`)
    in one container, side information :func:`ibflow.entropy.table_digest` of the fitted tables.

    No trainable parameters: mean, rotation, steps, zones, the cell range and the tables (dim, M) are
    buffers (``state_dict`` carries them; loading resizes the tables to the checkpoint's M). Before
    :meth:`fit`: the identity, midtread step 1 and 33 equally likely cells -16..16 per coordinate.

    Arguments:
        dim: the dimension of the vectors.
        transform: ``"pca"`` (rotate onto the training covariance's eigenvectors) or ``"none"``;
            either way the coordinates are centred on the training mean.
        dead_zone: search the central cell's width (else it is one step: the midtread quantizer).
        max_cells: the most cells per coordinate, 2 to 2^20.

    Example:
        >>> codec = UniformScalarCodec(3)
        >>> out = codec(torch.randn(5, 3))
        >>> out["x_hat"].shape, out["likelihoods"]["index"].shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    mean: Tensor
    rotation: Tensor
    step: Tensor
    zone: Tensor
    first: Tensor
    cells: Tensor
    points: Tensor
    pmf: Tensor

    def __init__(self, dim: int, transform: Transform = "pca", dead_zone: bool = True, max_cells: int = 65536):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 2**16:
            raise ValueError(f"dim must be an integer in [1, 65536], got {dim!r}")
        if transform not in ("pca", "none"):
            raise ValueError(f"transform must be 'pca' or 'none', got {transform!r}")
        if not isinstance(dead_zone, bool):
            raise ValueError(f"dead_zone must be True or False, got {dead_zone!r}")
        if isinstance(max_cells, bool) or not isinstance(max_cells, int) or not 2 <= max_cells <= 2**20:
            raise ValueError(f"max_cells must be an integer in [2, {2**20}], got {max_cells!r}")
        self.config: dict[str, Any] = dict(dim=dim, transform=transform, dead_zone=dead_zone, max_cells=max_cells)
        self.dim = dim
        f64 = torch.float64
        j = torch.arange(-16, 17, dtype=f64)
        self.register_buffer("mean", torch.zeros(dim, dtype=f64))
        self.register_buffer("rotation", torch.eye(dim, dtype=f64))
        self.register_buffer("step", torch.ones(dim, dtype=f64))
        self.register_buffer("zone", torch.ones(dim, dtype=f64))
        self.register_buffer("first", torch.full((dim,), -16, dtype=torch.int64))
        self.register_buffer("cells", torch.full((dim,), len(j), dtype=torch.int64))
        self.register_buffer("points", j.repeat(dim, 1))
        self.register_buffer("pmf", torch.full((dim, len(j)), 1.0 / len(j), dtype=f64))
        self.fits: list[ScalarFit] = []

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        adopt_buffer_shapes(self, state_dict, prefix, ("points", "pmf"))  # the tables are as wide as the fitted coordinate with the most cells
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _rotate(self, x: Tensor) -> np.ndarray:
        """y = (x - mean) V as float64 numpy (n, dim)."""
        x = check_input(x, self.dim).detach().to(torch.float64).cpu()
        return ((x - self.mean.cpu()) @ self.rotation.cpu()).numpy()

    @torch.no_grad()
    def fit(self, x: Tensor, beta: float) -> None:
        """Fit rotation, (step, zone), reconstruction points and pmf per coordinate to the training
        samples ``x`` (n, dim) at Lagrange multiplier ``beta`` > 0 (nats). Each coordinate's
        :class:`ScalarFit` is kept in ``self.fits``."""
        x = check_input(x, self.dim).detach().to(torch.float64).cpu()
        beta = check_beta(beta)
        if len(x) < 2:
            raise ValueError(f"x must hold at least 2 training samples, got {len(x)}")
        mean = x.mean(0)
        rotation = torch.eye(self.dim, dtype=torch.float64)
        if self.config["transform"] == "pca":
            centred = x - mean
            _, vectors = torch.linalg.eigh(centred.T @ centred / (len(x) - 1))
            vectors = vectors.flip(1)  # largest variance first
            # a sign per axis that does not depend on the solver: the largest entry of each axis positive
            signs = torch.sign(vectors.gather(0, vectors.abs().argmax(0, keepdim=True)))
            rotation = vectors * torch.where(signs == 0, 1.0, signs)
        y = ((x - mean) @ rotation).numpy()
        self.fits = [fit_scalar_quantizer(y[:, i], beta, self.config["dead_zone"]) for i in range(self.dim)]
        tables = [self._tables_of(y[:, i], fit.step, fit.zone) for i, fit in enumerate(self.fits)]
        width = max(len(t[1]) for t in tables)
        points, pmf = np.zeros((self.dim, width)), np.zeros((self.dim, width))
        for i, (_, p, q) in enumerate(tables):
            points[i, : len(p)], pmf[i, : len(q)] = p, q
        device = self.mean.device
        as_tensor = lambda a, dtype=torch.float64: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
        self.mean, self.rotation = mean.to(device), rotation.to(device)
        self.step = as_tensor([fit.step for fit in self.fits])
        self.zone = as_tensor([fit.zone for fit in self.fits])
        self.first = as_tensor([t[0] for t in tables], torch.int64)
        self.cells = as_tensor([len(t[1]) for t in tables], torch.int64)
        self.points, self.pmf = as_tensor(points), as_tensor(pmf)

    def _tables_of(self, y: np.ndarray, step: float, zone: float) -> tuple[int, np.ndarray, np.ndarray]:
        """(first cell, reconstruction points, pmf) of one coordinate's training values."""
        j = cell_numbers(y, step, zone)
        low, high = int(j.min()), int(j.max())
        margin = max(1, (high - low + 1) // 2)
        low, high = low - margin, high + margin
        excess = (high - low + 1) - self.config["max_cells"]
        if excess > 0:  # trim the margins (then the training range) evenly to max_cells
            low, high = low + excess // 2, high - (excess - excess // 2)
        k = np.clip(j, low, high) - low
        cells = high - low + 1
        counts = np.bincount(k, minlength=cells).astype(np.float64)
        sums = np.bincount(k, weights=y, minlength=cells)
        middle = _midpoints(np.arange(low, high + 1), step, zone)
        points = np.where(counts > 0, sums / np.maximum(counts, 1.0), middle)
        return low, points, counts / len(y)

    def _coded_tables(self) -> list[np.ndarray]:
        """Each coordinate's pmf over its cells (float64): what the coder quantizes."""
        return [self.pmf[i, : int(self.cells[i])].cpu().numpy() for i in range(self.dim)]

    @torch.no_grad()
    def symbols(self, x: Tensor) -> Tensor:
        """The coded cell index of every coordinate, int64 (dim, n) (rows as the coder takes them)."""
        y = self._rotate(x)
        out = np.empty((self.dim, len(y)), dtype=np.int64)
        for i in range(self.dim):
            j = cell_numbers(y[:, i], float(self.step[i]), float(self.zone[i]))
            out[i] = np.clip(j - int(self.first[i]), 0, int(self.cells[i]) - 1)
        return torch.from_numpy(out).to(self.mean.device)

    def reconstruct(self, k: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """x_hat = mean + y_hat V^T from the cell indices ``k`` (dim, n)."""
        y_hat = self.points.gather(1, k).T
        return (self.mean + y_hat @ self.rotation.T).to(dtype)

    @torch.no_grad()
    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Any]:
        """``{"x_hat", "likelihoods": {"index": q}}`` with q (n, dim) the coded probability of each
        coordinate's cell. Deterministic: ``generator`` is not used."""
        k = self.symbols(x)
        logs = [torch.from_numpy(coded_log_pmf(p)).to(k.device)[k[i]] for i, p in enumerate(self._coded_tables())]
        likelihood = torch.exp(torch.stack(logs, 1)).to(x.dtype)
        return {"x_hat": self.reconstruct(k, x.dtype), "likelihoods": {"index": likelihood}}

    def _side(self) -> bytes:
        names = ("mean", "rotation", "step", "zone", "first", "cells", "points", "pmf")
        return table_digest(*(getattr(self, name).cpu().numpy() for name in names))

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """``{"strings": [container], "shape": (n,)}``: dim rows of cell indices under their pmfs."""
        k = self.symbols(x).cpu().numpy()
        words = encode_categorical_rows(list(k), self._coded_tables())
        shape = (int(x.shape[0]),)
        return {"strings": [pack(part_name(self), self.config, shape, k.size, words_to_bytes(words), self._side())], "shape": shape}

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The cell indices (dim, n) that :meth:`compress` coded; a stream that is not an intact one of this
        codec, config, fitted tables and ``shape`` raises :class:`contracts.BitstreamError`."""
        stream = unpack_strings(strings, part_name(self), self.config, shape)
        if len(stream.shape) != 1 or stream.symbols != stream.shape[0] * self.dim:
            raise BitstreamError(f"a uniform stream has shape (n,) and n * {self.dim} symbols, got {stream.shape} and {stream.symbols}")
        if stream.side != self._side():
            raise BitstreamError("model mismatch: the side information names other tables (another fit) than this codec's")
        rows = decode_categorical_rows(bytes_to_words(stream.payload), self._coded_tables(), stream.shape[0])
        return torch.from_numpy(np.stack(rows) if rows else np.zeros((0, stream.shape[0]), np.int64)).to(self.mean.device)

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat"}`` (float32) from what :meth:`compress` returned."""
        return {"x_hat": self.reconstruct(self.decompress_symbols(strings, shape))}
