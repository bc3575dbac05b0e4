"""ECVQCodec: entropy-constrained vector quantization (Chou, Lookabaugh & Gray 1989), its index ANS-coded.

The generalized Lloyd algorithm of Chou, Lookabaugh & Gray (1989, IEEE Trans. ASSP 37(1), sec. III)
minimises the Lagrangian J = E ||x - c_k||^2 + beta E[-log p_k] (nats; distortion summed over the
dimensions, as everywhere in ibflow) over a codebook c and its index pmf p by alternating

(a) the encoder: each x goes to argmin_k ||x - c_k||^2 - beta log p_k (their eq. 9, with the
    length function l_k = -log p_k);
(b) the decoder and the code: c_k = the centroid of the x sent to k, p_k = their fraction; a
    codeword that receives no x is dropped (its length is infinite).

Each half-step minimises J with the other half fixed, so J never increases (tested).

Example:
    >>> x = torch.randn(4096, 1, generator=torch.Generator().manual_seed(0))
    >>> codec = ECVQCodec(1, codewords=64)
    >>> codec.fit(x, beta=0.5)
    >>> out = codec(x[:5])
    >>> torch.equal(codec.decompress(**codec.compress(x[:5]))["x_hat"], out["x_hat"])
    True
    >>> len(codec.codebook) < 64  # the Lagrangian drops codewords that do not pay for their rate
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from contracts import BitstreamError
from ibflow.entropy.bitstream import bytes_to_words, words_to_bytes
from ibflow.entropy.categorical import coded_log_pmf, decode_categorical, encode_categorical, table_digest
from ibflow.entropy.container import pack, unpack_strings
from ibflow.checkpoint import adopt_buffer_shapes
from ibflow.registry import part_name, register_codec
from ibflow.vector.lagrangian import lagrangian_assign
from ibflow.vector.scalar_fit import cell_numbers, check_beta, check_input, fit_scalar_quantizer

__all__ = ["ECVQCodec", "ECVQOptions", "LloydResult", "ecvq_lloyd", "product_start"]

Init = Literal["product", "subset"]
PRODUCT_LIMIT = 2**20  # most product cells formed before the most probable ones are kept


def _check_int(value: int, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


class LloydResult(NamedTuple):
    """What :func:`ecvq_lloyd` returns: the codewords that kept some mass (K', dim) and their pmf (K',),
    float64; J after every iteration (nats, nonincreasing); the iterations run; whether J's relative
    decrease fell below the tolerance (else the iteration limit stopped it)."""

    codebook: Tensor
    pmf: Tensor
    objective: list[float]
    iterations: int
    converged: bool


def ecvq_lloyd(
    x: Tensor, beta: float, codebook: Tensor, iterations: int = 500, tolerance: float = 1e-7, pmf: Tensor | None = None
) -> LloydResult:
    """The generalized Lloyd algorithm on J = E ||x - c_k||^2 + beta E[-log p_k] from ``codebook`` (K, dim)
    and ``pmf`` (K,) (default: uniform) (Chou, Lookabaugh & Gray 1989, sec. III; the module docstring
    has the two steps). Stops when (J_prev - J) <= tolerance * J or after ``iterations`` iterations.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [0.3], [1.0], [1.1], [1.2]], dtype=torch.float64)
        >>> result = ecvq_lloyd(x, 0.1, x[[0, 2, 3, 5]])  # four codewords to start, two pay for their rate
        >>> [round(c, 4) for c in result.codebook.flatten().tolist()], result.pmf.tolist(), result.converged
        ([0.1333, 1.1], [0.5, 0.5], True)
    """
    beta = check_beta(beta)
    x = x.detach().to(torch.float64)
    c = codebook.detach().to(torch.float64).clone()
    n = len(x)
    if pmf is None:
        lengths = torch.full((len(c),), math.log(len(c)), dtype=torch.float64)
    else:
        if pmf.shape != (len(c),) or not bool((pmf > 0).all()):
            raise ValueError(f"pmf must hold {len(c)} positive masses, one per codeword")
        lengths = -torch.log(pmf.detach().to(torch.float64) / pmf.sum())
    objective: list[float] = []
    converged = False
    for _ in range(iterations):
        k = lagrangian_assign(x, c, lengths, beta)
        counts = torch.bincount(k, minlength=len(c)).to(torch.float64)
        sums = torch.zeros_like(c).index_add_(0, k, x)
        kept = counts > 0
        remap = torch.cumsum(kept.to(torch.int64), 0) - 1
        c, counts, k = sums[kept] / counts[kept, None], counts[kept], remap[k]
        pmf = counts / n
        lengths = -torch.log(pmf)
        distortion = float(((x - c[k]) ** 2).sum(1).mean())
        objective.append(distortion + beta * float((pmf * lengths).sum()))
        if len(objective) > 1 and objective[-2] - objective[-1] <= tolerance * abs(objective[-1]):
            converged = True
            break
    if not objective:  # iterations == 0 is refused by the codec; keep the function total anyway
        return LloydResult(c, torch.full((len(c),), 1.0 / len(c), dtype=torch.float64), [], 0, False)
    return LloydResult(c, pmf, objective, len(objective), converged)


def product_start(x: Tensor, beta: float, limit: int) -> tuple[Tensor, Tensor] | None:
    """A starting codebook and pmf for :func:`ecvq_lloyd`: the product of the best dead-zone scalar
    quantizers of the coordinates at the same ``beta`` (:func:`~ibflow.vector.scalar_fit.fit_scalar_quantizer`
    about each coordinate's mean, training centroids and masses), its ``limit`` most probable cells
    (masses renormalised); ``None`` if the product would have more than 2^20 cells.

    Lloyd's algorithm only descends, so from this start it ends no worse than the product scalar
    quantizer on the training data (with every cell kept), and in 2-D it moves the square cells
    towards the hexagonal ones (Gersho 1979), where a random start can settle in a worse local minimum.

    Example:
        >>> x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
        >>> codebook, pmf = product_start(x, 0.5, limit=64)
        >>> codebook.shape[1], len(codebook) == len(pmf) <= 64, round(float(pmf.sum()), 12)
        (2, True, 1.0)
    """
    y = x.detach().to(torch.float64).cpu().numpy()
    points, masses = [], []
    for column in y.T:
        mean = column.mean()
        fit = fit_scalar_quantizer(column - mean, beta)
        _, k, counts = np.unique(cell_numbers(column - mean, fit.step, fit.zone), return_inverse=True, return_counts=True)
        points.append(torch.from_numpy(np.bincount(k, weights=column) / counts))
        masses.append(torch.from_numpy(counts / len(column)))
    if math.prod(len(p) for p in points) > PRODUCT_LIMIT:
        return None
    grid = torch.cartesian_prod(*points).reshape(-1, len(points))
    pmf = torch.cartesian_prod(*masses).reshape(-1, len(points)).prod(1)
    top = torch.argsort(pmf, descending=True, stable=True)[:limit]
    return grid[top], pmf[top] / pmf[top].sum()


@dataclass
class ECVQOptions:
    """Options of :class:`ECVQCodec` (its ``dim`` comes from the source)."""

    codewords: int = field(default=1024, metadata={"help": "most codewords to start from, 1..65536"})
    init: Init = field(default="product", metadata={"help": "start from the product scalar quantizer or a random subset of the data"})
    iterations: int = field(default=500, metadata={"help": "most generalized-Lloyd iterations in fit"})
    tolerance: float = field(default=1e-7, metadata={"help": "stop when J's relative decrease is below this"})
    init_seed: int = field(default=0, metadata={"help": "seed of the initial codebook (the random subset of the training data)"})


@register_codec(
    "ecvq",
    options=ECVQOptions,
    tags=("vector",),
    summary="Entropy-constrained vector quantization (Chou, Lookabaugh & Gray 1989), fitted by generalized Lloyd, ANS-coded.",
)
class ECVQCodec(nn.Module):
    """Entropy-constrained VQ of (n, dim) vectors: :meth:`fit` runs :func:`ecvq_lloyd` on the training
    samples from at most ``codewords`` codewords; encoding is the same Lagrangian rule :func:`lagrangian_assign` with the code
    lengths -log q_k of the pmf *as coded* (:func:`ibflow.entropy.coded_log_pmf`) and the fitted beta,
    decoding a codebook look-up. The bitstream is the index under the categorical ANS model
    (:func:`ibflow.entropy.encode_categorical`) in one container, whose side information is
    :func:`ibflow.entropy.table_digest` of the codebook, pmf and beta, so that a stream of another
    fit is refused.

    The start matters: Lloyd's algorithm finds a local minimum, and from a random subset of 2-D Laplace
    samples it ends above the product scalar quantizer (+0.014 and +0.054 bit per dimension at
    beta = 0.1 and 0.05, benchmarks/bench_quantizers.py), so the default start is that product quantizer
    (:func:`product_start`), which Lloyd can only improve on (on the training data). In 2-D the design
    also overfits its samples more than a scalar quantizer does: fitted on 2^17 Gaussian samples, its
    distortion on fresh ones is 1.4 % higher (1.044, 1.024, 1.014, 1.009 times at n = 2^15 ... 2^18).

    No trainable parameters: the codebook (K', dim), its pmf (K',) and beta are buffers (``state_dict``
    carries them; loading resizes them to the checkpoint's K'). Before :meth:`fit`: ``codewords``
    seeded N(0, I) codewords, the uniform pmf and beta = 0 (nearest neighbour).

    Arguments:
        dim: the dimension of the vectors.
        codewords: the most codewords to start from, 1 to 65536 (default 1024: 10 bits, far more cells
            than the Lagrangian keeps at the rates studied).
        init: ``"product"`` (the product scalar quantizer's most probable ``codewords`` cells) or
            ``"subset"`` (``codewords`` random training samples, uniform pmf).
        iterations: the most Lloyd iterations; tolerance: the stopping rule's relative decrease of J.
        init_seed: the seed of the initial codebook (and of the pre-fit one).

    Example:
        >>> codec = ECVQCodec(2, codewords=16)
        >>> out = codec(torch.randn(5, 2))
        >>> out["x_hat"].shape, out["likelihoods"]["index"].shape
        (torch.Size([5, 2]), torch.Size([5]))
    """

    codebook: Tensor
    pmf: Tensor
    beta: Tensor

    def __init__(
        self, dim: int, codewords: int = 1024, init: Init = "product", iterations: int = 500, tolerance: float = 1e-7, init_seed: int = 0
    ):
        super().__init__()
        _check_int(dim, "dim", 1, 2**16)
        _check_int(codewords, "codewords", 1, 2**16)
        if init not in ("product", "subset"):
            raise ValueError(f"init must be 'product' or 'subset', got {init!r}")
        _check_int(iterations, "iterations", 1, 10**6)
        _check_int(init_seed, "init_seed", 0, 2**63 - 1)
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
            raise ValueError(f"tolerance must be a number in [0, 1), got {tolerance!r}")
        self.config: dict[str, Any] = dict(
            dim=dim, codewords=codewords, init=init, iterations=iterations, tolerance=tolerance, init_seed=init_seed
        )
        self.dim = dim
        generator = torch.Generator().manual_seed(init_seed)
        self.register_buffer("codebook", torch.randn(codewords, dim, generator=generator, dtype=torch.float64))
        self.register_buffer("pmf", torch.full((codewords,), 1.0 / codewords, dtype=torch.float64))
        self.register_buffer("beta", torch.zeros((), dtype=torch.float64))
        self.history: list[float] = []

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        adopt_buffer_shapes(self, state_dict, prefix, ("codebook", "pmf"))  # a fitted codebook keeps K' <= K codewords
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def fit(self, x: Tensor, beta: float) -> None:
        """Fit codebook and pmf to the training samples ``x`` (n, dim) at Lagrange multiplier ``beta`` > 0
        (nats): :func:`ecvq_lloyd` from :func:`product_start` (``init="product"``; a random subset where the
        product would exceed 2^20 cells) or from ``min(codewords, n)`` random training samples
        (``"subset"``). J after each iteration is kept in ``self.history``."""
        x = check_input(x, self.dim)
        beta = check_beta(beta)
        if len(x) == 0:
            raise ValueError("x must hold at least one training sample")
        limit = self.config["codewords"]
        start = product_start(x, beta, limit) if self.config["init"] == "product" else None
        if start is None:
            generator = torch.Generator().manual_seed(self.config["init_seed"])
            start = (x[torch.randperm(len(x), generator=generator)[:limit]].to(torch.float64), None)
        result = ecvq_lloyd(x, beta, start[0], self.config["iterations"], self.config["tolerance"], pmf=start[1])
        device = self.codebook.device
        self.codebook = result.codebook.to(device)
        self.pmf = result.pmf.to(device)
        self.beta = torch.tensor(beta, dtype=torch.float64, device=device)
        self.history = list(result.objective)

    def _tables(self) -> tuple[np.ndarray, Tensor]:
        """(pmf as float64 numpy, the coded code lengths -log q_k as a float64 tensor)."""
        pmf = self.pmf.detach().cpu().numpy()
        return pmf, torch.from_numpy(-coded_log_pmf(pmf)).to(self.codebook.device)

    @torch.no_grad()
    def symbols(self, x: Tensor) -> Tensor:
        """The coded index of each row of ``x`` (n, dim): int64 (n,)."""
        x = check_input(x, self.dim)
        _, lengths = self._tables()
        return lagrangian_assign(x.to(self.codebook.device), self.codebook, lengths, float(self.beta))

    def reconstruct(self, k: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """The codewords of the indices ``k``, as ``dtype``."""
        return self.codebook[k].to(dtype)

    @torch.no_grad()
    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Any]:
        """``{"x_hat", "likelihoods": {"index": q_k}}``: the chosen codeword and the coded probability of its
        index (so -log of it is the ideal code length). Deterministic: ``generator`` is not used."""
        k = self.symbols(x)
        _, lengths = self._tables()
        return {"x_hat": self.reconstruct(k, x.dtype), "likelihoods": {"index": torch.exp(-lengths[k]).to(x.dtype)}}

    def _side(self) -> bytes:
        return table_digest(self.codebook.cpu().numpy(), self.pmf.cpu().numpy(), self.beta.cpu().numpy())

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """``{"strings": [container], "shape": (n,)}``: the indices under the categorical ANS model."""
        k = self.symbols(x)
        pmf, _ = self._tables()
        words = encode_categorical(k.cpu().numpy(), pmf)
        shape = (int(x.shape[0]),)
        return {"strings": [pack(part_name(self), self.config, shape, len(k), words_to_bytes(words), self._side())], "shape": shape}

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The indices (n,) that :meth:`compress` coded; a stream that is not an intact one of this codec,
        config, fitted model and ``shape`` raises :class:`contracts.BitstreamError`."""
        stream = unpack_strings(strings, part_name(self), self.config, shape)
        if len(stream.shape) != 1 or stream.symbols != stream.shape[0]:
            raise BitstreamError(f"an ecvq stream has shape (n,) and n symbols, got {stream.shape} and {stream.symbols}")
        if stream.side != self._side():
            raise BitstreamError(
                "model mismatch: the side information names another codebook or pmf (another fit) than this codec's"
            )
        pmf, _ = self._tables()
        k = decode_categorical(bytes_to_words(stream.payload), pmf, stream.shape[0])
        return torch.from_numpy(k).to(self.codebook.device)

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat"}`` (float32) from what :meth:`compress` returned."""
        return {"x_hat": self.reconstruct(self.decompress_symbols(strings, shape))}
