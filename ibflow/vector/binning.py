"""Binning for decoder side information: a dithered scalar quantizer of the latent whose index is sent
modulo M (its coset), and the decoder's choice of the index in that coset that its side information
makes likeliest.

Why: with side information y at the decoder only, the Wyner-Ziv rate I(X; Z | Y) is below I(X; Z),
but the encoder does not know y and so cannot code under p(z|y). Binning (Wyner & Ziv 1976; Slepian
& Wolf 1973 for the index) lets it pay for only the part of the index that y does not tell: the
quantizer index k is sent as s = k mod M, and the decoder resolves k = argmax over {k' = s (mod M)}
of p(z_hat(k') | y). A scalar coset code is the simplest nested lattice (Zamir, Shamai & Erez 2002):
the fine lattice delta Z quantizes, the coarse lattice M delta Z bins. It is not capacity-achieving:
a wrong coset is decoded whenever |z - E[z | y]| crosses about M delta / 2, and the error is then
large (a whole coarse cell), which is why the rate, the decoding-error rate and the distortion *with
the errors included* are reported together (:class:`CosetMeasurement`).

The quantizer is subtractively dithered (Ziv 1985; Zamir & Feder 1992): k = round(e / delta + t)
with t ~ U(-1/2, 1/2) drawn from a seed both ends know, and z_hat = (k - t) delta, so the
reconstruction error z_hat - e is uniform on [-delta/2, delta/2] and independent of e: the
operational channel matches the training channel z = e + sigma eps in its first two moments when
delta = sigma sqrt(12) (:data:`MATCHED_WIDTH`).

The code is state both ends hold (:class:`CosetCode`: width, modulus, index range, the pmf the
sent symbol is coded under, the dither seed); a stream carries a digest of it, so a stream from
another code is refused, never decoded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from contracts import BitstreamError
from ibflow.entropy.bitstream import bytes_to_words, words_to_bytes
from ibflow.entropy.categorical import coded_log_pmf, decode_categorical, encode_categorical, table_digest
from ibflow.entropy.container import pack, unpack

__all__ = [
    "MATCHED_WIDTH",
    "MAX_CANDIDATES",
    "CosetCode",
    "CosetTrial",
    "CosetMeasurement",
    "CodedRows",
    "code_rows",
    "code_length",
    "design_coset_code",
    "fit_coset_code",
    "measure_code",
    "trial_of",
    "index_log_posterior",
    "resolve",
    "resolve_soft",
    "decode_coset",
    "no_side_information",
    "conditional_scorer",
    "encode_stream",
    "decode_stream",
    "mix_decoded",
    "SOFT_CANDIDATES",
    "symbol_pmf",
    "index_range",
]

MATCHED_WIDTH = math.sqrt(12.0)
"""delta / sigma at which the uniform dither error has the training noise's variance sigma^2."""

MAX_CANDIDATES = 4096
"""Most indices the decoder scores per row (the coset's members in the index range, over all coded
coordinates jointly): beyond it a code is refused as too costly to decode."""

SOFT_CANDIDATES = 4
"""Candidates the decoder averages its reconstruction over (:func:`resolve_soft`)."""

_ROWS_PER_CHUNK_ELEMENTS = 2**21  # rows x candidates scored at once (memory: ~16 MB per float64 array)


@dataclass(frozen=True)
class CosetCode:
    """A dithered scalar quantizer of width ``delta`` on every latent coordinate, its index clipped to
    [``low``, ``high``] and sent as ``(k - low) mod modulus`` (``modulus=None``: sent whole, as k - low),
    each symbol coded under ``pmf`` (length :attr:`alphabet`); the dither comes from ``seed``.

    Example:
        >>> code = CosetCode(delta=0.5, modulus=4, low=-10, high=10, pmf=(0.25, 0.25, 0.25, 0.25))
        >>> k = torch.tensor([[-3], [1], [5]])
        >>> code.symbol(k).tolist(), code.alphabet
        ([[3], [3], [3]], 4)
        >>> s = torch.tensor([[3]])
        >>> code.candidates(s)[0, :, 0].tolist(), code.candidates_valid(s)[0].tolist()  # every index = 3 (mod 4)
        ([-7, -3, 1, 5, 9, 9], [True, True, True, True, True, False])
    """

    delta: float
    modulus: int | None
    low: int
    high: int
    pmf: tuple[float, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.delta) and self.delta > 0):
            raise ValueError(f"delta must be finite and > 0, got {self.delta!r}")
        if not (isinstance(self.low, int) and isinstance(self.high, int) and self.low < self.high):
            raise ValueError(f"the index range needs integers low < high, got [{self.low!r}, {self.high!r}]")
        if self.modulus is not None and not (isinstance(self.modulus, int) and 1 <= self.modulus <= self.high - self.low):
            raise ValueError(f"modulus must be an integer in [1, high - low = {self.high - self.low}] or None, got {self.modulus!r}")
        p = np.asarray(self.pmf, dtype=np.float64)
        if p.shape != (self.alphabet,) or not (np.isfinite(p).all() and (p > 0).all()):
            raise ValueError(f"pmf must hold {self.alphabet} finite positive entries (one per symbol), got shape {p.shape}")

    @property
    def alphabet(self) -> int:
        """How many symbols a coordinate can send: the modulus, or the whole index range."""
        return self.modulus if self.modulus is not None else self.high - self.low + 1

    @property
    def pmf_array(self) -> np.ndarray:
        return np.asarray(self.pmf, dtype=np.float64)

    def digest(self) -> bytes:
        """8 bytes identifying the code (:func:`ibflow.entropy.categorical.table_digest`): a stream's side information."""
        ints = np.array([self.low, self.high, self.modulus or 0, self.seed], dtype=np.int64)
        return table_digest(self.pmf_array, np.array([self.delta]), ints)

    def dither(self, n: int, dims: int) -> Tensor:
        """t ~ U(-1/2, 1/2), (n, dims) float64, the same at both ends for the same n."""
        return torch.rand(n, dims, generator=torch.Generator().manual_seed(self.seed), dtype=torch.float64) - 0.5

    def quantize(self, e: Tensor, t: Tensor) -> tuple[Tensor, int]:
        """(k, clipped): k = round(e / delta + t) clipped to the range (int64), and how many were clipped."""
        raw = torch.round(e.double() / self.delta + t)
        k = raw.clamp(self.low, self.high)
        return k.to(torch.int64), int((raw != k).sum())

    def reconstruct(self, k: Tensor, t: Tensor) -> Tensor:
        """z_hat = (k - t) delta (float64)."""
        return (k.double() - t) * self.delta

    def symbol(self, k: Tensor) -> Tensor:
        """What is sent for index k: (k - low) mod M, or k - low."""
        s = k - self.low
        return s % self.modulus if self.modulus is not None else s

    def _members(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Per coordinate, the coset members s + low + M j for j < ceil(range / M), (n, dims, per), with
        the ones past ``high`` replaced by the last member in range, and which of them are true members."""
        assert self.modulus is not None
        per = -(-(self.high - self.low + 1) // self.modulus)  # members of a coset in range, at most
        if per ** s.shape[1] > MAX_CANDIDATES:
            raise ValueError(
                f"the coset code has {per} members per coordinate in range, {per ** s.shape[1]} over {s.shape[1]} "
                f"coordinates: more than MAX_CANDIDATES = {MAX_CANDIDATES} to score per row; use a larger modulus or "
                "fewer coordinates"
            )
        raw = s[:, :, None] + self.low + self.modulus * torch.arange(per)
        last = s + self.low + self.modulus * ((self.high - self.low - s) // self.modulus)
        return torch.minimum(raw, last[:, :, None]), raw <= self.high

    @staticmethod
    def _joint(per_coordinate: Tensor) -> Tensor:
        """(n, dims, per) -> (n, per^dims, dims): every combination of one entry per coordinate."""
        dims, per = per_coordinate.shape[1:]
        grids = torch.meshgrid(*[torch.arange(per)] * dims, indexing="ij")
        combo = torch.stack([g.reshape(-1) for g in grids], dim=1)  # (C, dims)
        return torch.stack([per_coordinate[:, c, combo[:, c]] for c in range(dims)], dim=2)

    def candidates(self, s: Tensor) -> Tensor:
        """Every index in range that sends symbol s, over all coordinates jointly: (n, C, dims) int64,
        C the product of the per-coordinate counts (padded, where a coordinate has fewer members in
        range, with repeats of its last member, which the decoder scores the same)."""
        if self.modulus is None:
            return (s + self.low)[:, None, :]
        return self._joint(self._members(s)[0])

    def candidates_valid(self, s: Tensor) -> Tensor:
        """(n, C) bool: which of :meth:`candidates` are true members, not padding repeats."""
        if self.modulus is None:
            return torch.ones(len(s), 1, dtype=torch.bool)
        return self._joint(self._members(s)[1]).all(dim=2)

    def state(self) -> dict[str, Any]:
        """The code as types ``torch.load(weights_only=True)`` accepts (a module's extra state)."""
        return {
            "delta": float(self.delta), "modulus": -1 if self.modulus is None else int(self.modulus),
            "low": int(self.low), "high": int(self.high), "pmf": torch.tensor(self.pmf, dtype=torch.float64),
            "seed": int(self.seed),
        }

    @staticmethod
    def from_state(state: dict[str, Any]) -> CosetCode:
        modulus = int(state["modulus"])
        return CosetCode(
            delta=float(state["delta"]), modulus=None if modulus < 0 else modulus, low=int(state["low"]),
            high=int(state["high"]), pmf=tuple(float(p) for p in state["pmf"]), seed=int(state["seed"]),
        )


Scorer = Callable[[Tensor, slice], Tensor]
"""score(z (m, C, dims) float64 candidates for rows ``rows``, rows) -> (m, C) log-density of each
candidate given the side information of those rows (up to a per-row constant)."""


def resolve_soft(code: CosetCode, s: Tensor, t: Tensor, score: Scorer, top: int = SOFT_CANDIDATES) -> tuple[Tensor, Tensor]:
    """The decoder's belief over the indices of symbol s: its ``top`` highest-scoring members (n, T, dims),
    best first, and their posterior weights (n, T), softmax of the scores over those T (the mass of the
    others is negligible wherever the decoder is not already lost). Padding repeats never count twice."""
    n = len(s)
    if code.modulus is None:
        return (s + code.low)[:, None, :], torch.ones(n, 1, dtype=torch.float64)
    per_row = code.candidates(s[:1]).shape[1]
    step = max(1, _ROWS_PER_CHUNK_ELEMENTS // per_row)
    cands_out, weights_out = [], []
    for i in range(0, n, step):
        rows = slice(i, min(n, i + step))
        members, valid = code._members(s[rows])
        cands = code._joint(members)  # (m, C, dims)
        z = code.reconstruct(cands, t[rows][:, None, :])
        scores = score(z, rows).masked_fill(~code._joint(valid).all(dim=2), -math.inf)
        values, best = scores.topk(min(top, per_row), dim=1)
        cands_out.append(cands.gather(1, best[:, :, None].expand(-1, -1, cands.shape[2])))
        weights_out.append(torch.softmax(values, dim=1).nan_to_num(0.0))
    if not cands_out:
        return s[:, None, :] + code.low, torch.ones(0, 1, dtype=torch.float64)
    return torch.cat(cands_out), torch.cat(weights_out)


def resolve(code: CosetCode, s: Tensor, t: Tensor, score: Scorer) -> Tensor:
    """The decoder's index: among the indices of symbol s, the one whose z_hat scores highest (int64 (n, dims))."""
    return resolve_soft(code, s, t, score, top=1)[0][:, 0]


def mix_decoded(decode: Callable[[Tensor, Tensor], Tensor], z: Tensor, weights: Tensor, side: Tensor) -> Tensor:
    """The decoder's reconstruction sum_j w_j decode(z_j, side) over the candidates z (n, T, d) with weights
    (n, T): the posterior mean of x_hat under the decoder's belief, the MSE-optimal use of it (MAP when
    T = 1). ``side`` (n, ...) is each row's side information, repeated for its candidates."""
    n, count, d = z.shape
    decoded = decode(z.reshape(n * count, d), side.repeat_interleave(count, dim=0)).reshape(n, count, -1)
    return (weights.to(decoded)[..., None] * decoded).sum(1)


def no_side_information(z: Tensor, rows: slice) -> Tensor:
    """The :data:`Scorer` of a decoder with no side information: every candidate alike (for a code that
    sends its index whole, whose decoder never scores)."""
    return torch.zeros(z.shape[:2], dtype=torch.float64)


def decode_coset(
    code: CosetCode, s: Tensor, score: Scorer, decode: Callable[[Tensor, Tensor], Tensor], side: Tensor
) -> tuple[Tensor, Tensor]:
    """(x_hat, the likeliest index) from the received symbols s (n, dims): the dither regenerated, the
    coset resolved with ``score``, x_hat the posterior mean of ``decode(z, side)`` over the likeliest
    members (:func:`mix_decoded`): what a decoder does with a stream."""
    t = code.dither(len(s), s.shape[1])
    cands, weights = resolve_soft(code, s, t, score)
    return mix_decoded(decode, code.reconstruct(cands, t[:, None, :]), weights, side), cands[:, 0]


def index_log_posterior(code: CosetCode, k: Tensor, t: Tensor, score: Scorer) -> Tensor:
    """log P(k | side information) (nats per row, float64) for 1-D latents, with P(k | y) the decoder's
    model p(z_hat(k) | y) normalised over every index in range: the Slepian-Wolf rate H(K | Y) of this
    quantizer is about E[-log P(k | y)] (Slepian & Wolf 1973), what ideal binning of long blocks would pay."""
    if k.shape[1] != 1:
        raise ValueError("index_log_posterior is for one coded coordinate")
    every = torch.arange(code.low, code.high + 1)
    n = len(k)
    step = max(1, _ROWS_PER_CHUNK_ELEMENTS // len(every))
    out = []
    for i in range(0, n, step):
        rows = slice(i, min(n, i + step))
        z = code.reconstruct(every[None, :, None].expand(rows.stop - rows.start, -1, 1), t[rows][:, None, :])
        logp = torch.log_softmax(score(z, rows), dim=1)
        out.append(logp.gather(1, (k[rows] - code.low)).squeeze(1))
    return torch.cat(out)


def index_range(k: Tensor, margin: float = 0.25) -> tuple[int, int]:
    """[low, high] covering the design indices k with a margin of ``margin`` times their span (at least
    2 indices) on each side, so that a test row rarely clips."""
    lo, hi = int(k.min()), int(k.max())
    pad = max(2, math.ceil(margin * (hi - lo)))
    return lo - pad, hi + pad


def symbol_pmf(symbols: Tensor, alphabet: int) -> tuple[float, ...]:
    """The pmf a symbol is coded under, from design symbols: counts + 1/2 (the Krichevsky-Trofimov
    estimate, so that every symbol stays codable), normalised."""
    counts = torch.bincount(symbols.reshape(-1), minlength=alphabet).double() + 0.5
    return tuple((counts / counts.sum()).tolist())


@dataclass(frozen=True)
class CosetTrial:
    """One code tried on the design samples: its rate (ideal code length, nats per row), distortion
    with the decoding errors included, and the fraction of rows decoded to a wrong index."""

    delta: float
    modulus: int | None
    rate: float
    distortion: float
    error_rate: float
    objective: float


@dataclass(frozen=True)
class CosetMeasurement:
    """A coset code measured on test rows (rates in nats per row; ``rate_operational`` from the bytes).

    ``rate_code`` is the ideal code length of the sent symbols under the code's pmf; ``rate_operational``
    8 x bytes of the real stream / rows (in nats); ``rate_slepian_wolf`` E[-log P(k | y)], the rate ideal
    binning of the same quantizer would approach (None for more than one coded coordinate);
    ``error_rate`` the fraction of rows whose index was decoded wrong; ``distortion`` the distortion of
    the decoded rows, errors included, and ``distortion_correct`` that of the rows decoded right.
    """

    rate_code: float
    rate_operational: float
    rate_slepian_wolf: float | None
    error_rate: float
    distortion: float
    distortion_se: float
    distortion_correct: float
    clipped: int
    n_bytes: int
    decoded_exactly: bool


def code_length(code: CosetCode, s: Tensor) -> Tensor:
    """-log q(s) per row (nats, float64) under the coder's quantized pmf (what the ANS words approach)."""
    log_q = torch.as_tensor(coded_log_pmf(code.pmf_array))
    return -log_q[s].sum(dim=1)


def design_coset_code(e: Tensor, delta: float, modulus: int | None, seed: int = 0) -> CosetCode:
    """The code of width ``delta`` and ``modulus`` for design latents e (n, dims): the index range
    (:func:`index_range`) and the symbol pmf (:func:`symbol_pmf`) of their dithered indices."""
    probe = CosetCode(delta, None, 0, 1, (0.5, 0.5), seed)
    raw = torch.round(e.double() / delta + probe.dither(len(e), e.shape[1])).to(torch.int64)
    low, high = index_range(raw)
    whole = CosetCode(delta, None, low, high, (1.0,) * (high - low + 1), seed)
    alphabet = modulus if modulus is not None else whole.alphabet
    if modulus is not None and not 1 <= modulus <= high - low:
        raise ValueError(f"modulus {modulus} outside [1, {high - low}] for this index range")
    symbols = CosetCode(delta, modulus, low, high, (1.0,) * alphabet, seed).symbol(raw.clamp(low, high))
    return CosetCode(delta, modulus, low, high, symbol_pmf(symbols, alphabet), seed)


class CodedRows(NamedTuple):
    """What one pass of a code over rows gives: the true and decoded (best) indices, the sent symbols,
    the dither, the decoded latent of the best index, how many indices were clipped to the range, and
    the decoder's candidate latents (n, T, dims) with their weights (n, T) (:func:`resolve_soft`)."""

    k: Tensor
    k_hat: Tensor
    symbols: Tensor
    dither: Tensor
    z_hat: Tensor
    clipped: int
    z_candidates: Tensor
    weights: Tensor


def code_rows(code: CosetCode, e: Tensor, score: Scorer) -> CodedRows:
    """Quantize the latents e (n, dims), form the symbols, and resolve them with ``score`` (the decoder's
    side information) as the decoder does."""
    t = code.dither(len(e), e.shape[1])
    k, clipped = code.quantize(e, t)
    s = code.symbol(k)
    cands, weights = resolve_soft(code, s, t, score)
    k_hat = cands[:, 0]
    return CodedRows(k, k_hat, s, t, code.reconstruct(k_hat, t), clipped, code.reconstruct(cands, t[:, None, :]), weights)


def fit_coset_code(
    e: Tensor,
    trial: Callable[[CosetCode], tuple[float, float, float]],
    beta: float,
    sigma: float,
    widths: Sequence[float] = (0.5, 0.71, 1.0, 1.41, 2.0),
    moduli: Sequence[int | None] = tuple(range(1, 33)) + (None,),
    seed: int = 0,
) -> tuple[CosetCode, list[CosetTrial]]:
    """The code that minimises D + beta R on design latents e, over bin widths ``widths`` x the matched
    width sigma sqrt(12) and the ``moduli`` (None: no binning, the index sent whole; 1: nothing sent, the
    decoder takes the likeliest index given its side information alone, rate 0).

    Each code is built by :func:`design_coset_code` and ``trial(code)`` returns its (rate in nats,
    distortion with errors, error rate) on the design rows, decoded the real way. Codes the decoder
    cannot afford (:data:`MAX_CANDIDATES`) or whose modulus exceeds the index range are skipped.
    """
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    trials: list[CosetTrial] = []
    best: tuple[float, CosetCode] | None = None
    for w in widths:
        delta = w * MATCHED_WIDTH * sigma
        for m in moduli:
            try:
                code = design_coset_code(e, delta, m, seed)
                rate, distortion, errors = trial(code)
            except ValueError:
                continue  # modulus beyond the index range, or too many candidates
            objective = distortion + beta * rate
            trials.append(CosetTrial(delta, m, rate, distortion, errors, objective))
            if best is None or objective < best[0]:
                best = (objective, code)
    if best is None:
        raise ValueError("no coset code could be built on the design samples")
    return best[1], trials


Distortion = Callable[[Tensor, Tensor], Tensor]
"""distortion_of(z_candidates (n, T, d), weights (n, T)) -> (n,) distortion of each row decoded from the
decoder's belief (:func:`mix_decoded`)."""


def trial_of(e: Tensor, score: Scorer, distortion_of: Distortion) -> Callable[[CosetCode], tuple[float, float, float]]:
    """The ``trial`` of :func:`fit_coset_code` for design latents e: code them, resolve with ``score``, and
    return (mean code length in nats, mean distortion per row, fraction of wrong best indices)."""

    def trial(code: CosetCode) -> tuple[float, float, float]:
        rows = code_rows(code, e, score)
        wrong = (rows.k_hat != rows.k).any(dim=1).double().mean()
        distortion = distortion_of(rows.z_candidates, rows.weights)
        return float(code_length(code, rows.symbols).mean()), float(distortion.mean()), float(wrong)

    return trial


def measure_code(
    code: CosetCode,
    rows: CodedRows,
    distortion: Tensor,
    score: Scorer,
    n_bytes: int,
    decoded_exactly: bool,
) -> CosetMeasurement:
    """A :class:`CosetMeasurement` of ``code`` from its pass over the test rows (:func:`code_rows`), the
    per-row ``distortion`` of what the real stream decoded, the stream's ``n_bytes``, and whether it decoded
    to the indices of ``rows`` (``decoded_exactly``); ``score`` gives the Slepian-Wolf rate (1-D latents)."""
    wrong = (rows.k_hat != rows.k).any(dim=1)
    d = distortion.double()
    right = d[~wrong]
    sw = None
    if rows.k.shape[1] == 1:
        sw = float(-index_log_posterior(code, rows.k, rows.dither, score).mean())
    n = len(d)
    return CosetMeasurement(
        rate_code=float(code_length(code, rows.symbols).mean()),
        rate_operational=8 * n_bytes * math.log(2) / n,
        rate_slepian_wolf=sw,
        error_rate=float(wrong.double().mean()),
        distortion=float(d.mean()),
        distortion_se=float(d.std() / math.sqrt(n)),
        distortion_correct=float(right.mean()) if len(right) else math.nan,
        clipped=rows.clipped,
        n_bytes=n_bytes,
        decoded_exactly=decoded_exactly,
    )


def conditional_scorer(log_prob: Callable[[Tensor, Tensor], Tensor], context: Tensor, like: Tensor) -> Scorer:
    """The :data:`Scorer` of a conditional prior: log_prob(z, context) of every candidate z of each row,
    that row's ``context`` repeated for its candidates, both cast to ``like``'s dtype and device (a
    codec's parameter)."""

    @torch.no_grad()
    def score(z: Tensor, rows: slice) -> Tensor:
        m, count, d = z.shape
        ctx = context[rows].repeat_interleave(count, dim=0).to(like)
        return log_prob(z.reshape(m * count, d).to(like), ctx).double().cpu().reshape(m, count)

    return score


def encode_stream(codec_name: str, config: Mapping[str, Any], code: CosetCode, e: Tensor) -> bytes:
    """One container (:mod:`ibflow.entropy.container`) of the symbols of latents e (n, dims) under ``code``:
    the dithered indices' symbols ANS-coded under the code's pmf, the code's digest as side information."""
    k, _ = code.quantize(e, code.dither(len(e), e.shape[1]))
    s = code.symbol(k).reshape(-1).numpy()
    payload = words_to_bytes(encode_categorical(s, code.pmf_array))
    return pack(codec_name, config, (len(e),), s.size, payload, code.digest())


def decode_stream(
    data: bytes, codec_name: str, config: Mapping[str, Any], code: CosetCode, shape: Sequence[int] | None, dims: int
) -> Tensor:
    """The symbols (n, dims) that :func:`encode_stream` wrote; a container that is not an intact one of this
    codec, config, ``shape`` and code raises :class:`contracts.BitstreamError`."""
    stream = unpack(data, codec_name, config, shape)
    if stream.side != code.digest():
        raise BitstreamError("the stream was coded with another coset code (its digest differs)")
    if len(stream.shape) != 1 or stream.symbols != stream.shape[0] * dims:
        raise BitstreamError(f"a coset stream has shape (n,) and n * {dims} symbols, got {stream.shape}, {stream.symbols}")
    n = stream.shape[0]
    return torch.from_numpy(decode_categorical(bytes_to_words(stream.payload), code.pmf_array, n * dims)).reshape(n, dims)
