"""Fitting and measuring the bitstreams of the distributed codecs: the coset code of a Wyner-Ziv FlowCodec
(:class:`ibflow.vector.WynerZivFlowCodec`) and the two codes of a two-terminal one
(:class:`ibflow.vector.TwoTerminalFlowCodec`), chosen on design rows and measured on test rows through
their real streams (:mod:`ibflow.vector.binning` holds the code itself)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ibflow.entropy.bitstream import stream_bytes
from ibflow.vector.binning import (
    CosetCode,
    CosetMeasurement,
    CosetTrial,
    Distortion,
    MATCHED_WIDTH,
    code_length,
    code_rows,
    design_coset_code,
    fit_coset_code,
    measure_code,
    mix_decoded,
    no_side_information,
    trial_of,
)
from ibflow.vector.two_terminal import TwoTerminalFlowCodec
from ibflow.vector.wyner_ziv import WynerZivFlowCodec

__all__ = [
    "fit_wyner_ziv_coding",
    "measure_wyner_ziv_coding",
    "encoder_is_monotone",
    "TwoTerminalCodingMeasurement",
    "fit_two_terminal_coding",
    "measure_two_terminal_coding",
    "rate_without_binning",
]

WIDTHS = (0.5, 0.71, 1.0, 1.41, 2.0)
MODULI: tuple[int | None, ...] = tuple(range(1, 33)) + (None,)


def _distortion_of(codec: WynerZivFlowCodec | TwoTerminalFlowCodec, target: Tensor, side: Tensor) -> Distortion:
    """The :data:`ibflow.vector.binning.Distortion` of a codec's decoder: the distortion from ``target`` of
    the decoder's posterior-mean reconstruction with each row's ``side`` information (y, or z1_hat)."""

    @torch.no_grad()
    def distortion_of(z: Tensor, weights: Tensor) -> Tensor:
        x_hat = mix_decoded(codec.decode_at, z, weights, side)
        return codec.distortion_per_sample(target.to(x_hat), x_hat).double().cpu()

    return distortion_of


@torch.no_grad()
def fit_wyner_ziv_coding(
    codec: WynerZivFlowCodec,
    batch: Tensor,
    beta: float,
    widths: Sequence[float] = WIDTHS,
    moduli: Sequence[int | None] = MODULI,
    seed: int = 0,
) -> tuple[CosetCode, list[CosetTrial]]:
    """Choose and set the codec's coset code: the width (``widths`` x sigma sqrt(12)) and modulus that
    minimise D + beta R on the design rows ``batch`` [x, y], with the rate the symbols' code length and
    the distortion that of the really decoded rows, wrong cosets included (:func:`ibflow.vector.binning.fit_coset_code`).
    Returns the code and every trial."""
    x, y = codec.split(batch)
    e = codec.latent_mean(x)
    score = codec.side_scorer(y)
    code, trials = fit_coset_code(
        e, trial_of(e, score, _distortion_of(codec, x, y)), beta, float(codec.sigma), widths, moduli, seed
    )
    codec.set_coset_code(code)
    return code, trials


@torch.no_grad()
def measure_wyner_ziv_coding(codec: WynerZivFlowCodec, batch: Tensor) -> CosetMeasurement:
    """The codec's coset code on test rows [x, y]: x through :meth:`~WynerZivFlowCodec.compress`, the
    stream through :meth:`~WynerZivFlowCodec.decompress` with y, its bytes counted; rates, decoding
    errors and distortion as :class:`ibflow.vector.binning.CosetMeasurement` states."""
    code = codec.coset_code
    if code is None:
        raise ValueError("the codec has no coset code: fit_wyner_ziv_coding first")
    x, y = codec.split(batch)
    stream = codec.compress(x)
    decoded = codec.decompress(stream["strings"], stream["shape"], y)
    score = codec.side_scorer(y)
    rows = code_rows(code, codec.latent_mean(x), score)
    exact = torch.equal(decoded["index"], rows.k_hat)
    distortion = codec.distortion_per_sample(x.to(decoded["x_hat"]), decoded["x_hat"])  # of what the stream decoded
    return measure_code(code, rows, distortion, score, stream_bytes(stream["strings"]), exact)


@torch.no_grad()
def encoder_is_monotone(codec: WynerZivFlowCodec, x: Tensor) -> bool:
    """Whether f maps the sorted values of a 1-D x to sorted latents. A monotone encoder cannot put
    far-apart x in one bin, i.e. cannot learn binning (Ozyilkan, Balle & Erkip 2023): ours is a flow,
    invertible by construction, so binning has to be the explicit coset code."""
    if codec.dim != 1:
        raise ValueError("encoder_is_monotone is for dim == 1")
    xs = torch.sort(x[:, 0]).values[:, None]
    e = codec.latent_mean(xs.to(codec.log_sigma))[:, 0]
    diffs = e[1:] - e[:-1]
    return bool((diffs >= 0).all() or (diffs <= 0).all())


@dataclass(frozen=True)
class TwoTerminalCodingMeasurement:
    """The two encoders' streams on test rows (nats per pair): rates from the bytes of each stream and as
    ideal code lengths, the fraction of rows whose encoder-2 index was resolved wrong, (D1, D2) of the
    decoded rows with those errors included, and whether the streams decoded to the resolved indices."""

    rates_operational: tuple[float, float]
    rates_code: tuple[float, float]
    error_rate: float
    distortion: tuple[float, float]
    distortion_se: tuple[float, float]
    n_bytes: tuple[int, int]
    clipped: int
    decoded_exactly: bool


@torch.no_grad()
def fit_two_terminal_coding(
    codec: TwoTerminalFlowCodec,
    batch: Tensor,
    beta: float,
    widths: Sequence[float] = WIDTHS,
    moduli: Sequence[int | None] = MODULI,
) -> tuple[tuple[CosetCode, CosetCode], list[CosetTrial]]:
    """Choose and set both codes on the design rows ``batch`` [x1, x2]: for every width of encoder 1's
    code (``widths`` x sigma sqrt(12), index sent whole) the best width and modulus of encoder 2's by
    :func:`ibflow.vector.binning.fit_coset_code`, minimising D1 + D2 + beta (R1 + R2) with the real
    decoding (wrong cosets included). Returns the codes and encoder 2's trials of the chosen width."""
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    sigma = float(codec.sigma)
    e1, e2 = codec.latent_means(batch)
    best: tuple[float, CosetCode, CosetCode, list[CosetTrial]] | None = None
    for w in widths:
        first = design_coset_code(e1, w * MATCHED_WIDTH * sigma, None, seed=0)
        rows1 = code_rows(first, e1, no_side_information)
        rate1 = float(code_length(first, rows1.symbols).mean())
        z1 = rows1.z_hat
        second, trials = fit_coset_code(e2, trial_of(e2, codec.side_scorer(z1), _distortion_of(codec, batch, z1)),
                                        beta, sigma, widths, moduli, seed=1)
        objective = min(tr.objective for tr in trials) + beta * rate1
        if best is None or objective < best[0]:
            best = (objective, first, second, trials)
    assert best is not None
    codec.set_codes(best[1], best[2])
    return (best[1], best[2]), best[3]


@torch.no_grad()
def measure_two_terminal_coding(codec: TwoTerminalFlowCodec, batch: Tensor) -> TwoTerminalCodingMeasurement:
    """Both streams through :meth:`~TwoTerminalFlowCodec.compress` and :meth:`~TwoTerminalFlowCodec.decompress`
    on test rows [x1, x2], their bytes counted, the decoded rows' (D1, D2) measured."""
    codes = codec.codes
    if codes is None:
        raise ValueError("the codec has no codes: fit_two_terminal_coding first")
    first, second = codes
    stream = codec.compress(batch)
    decoded = codec.decompress(stream["strings"], stream["shape"])
    e1, e2 = codec.latent_means(batch)
    rows1 = code_rows(first, e1, no_side_information)  # sent whole
    rows2 = code_rows(second, e2, codec.side_scorer(rows1.z_hat))
    exact = torch.equal(decoded["index"][0], rows1.k) and torch.equal(decoded["index"][1], rows2.k_hat)
    parts = codec.distortion_parts(batch.to(codec.log_sigma), decoded["x_hat"]).double().cpu()
    n = len(batch)
    nbytes = (len(stream["strings"][0]), len(stream["strings"][1]))
    return TwoTerminalCodingMeasurement(
        rates_operational=(8 * nbytes[0] * math.log(2) / n, 8 * nbytes[1] * math.log(2) / n),
        rates_code=(float(code_length(first, rows1.symbols).mean()), float(code_length(second, rows2.symbols).mean())),
        error_rate=float((rows2.k_hat != rows2.k).any(dim=1).double().mean()),
        distortion=(float(parts[:, 0].mean()), float(parts[:, 1].mean())),
        distortion_se=(float(parts[:, 0].std() / math.sqrt(n)), float(parts[:, 1].std() / math.sqrt(n))),
        n_bytes=nbytes,
        clipped=rows1.clipped + rows2.clipped,
        decoded_exactly=exact,
    )


def rate_without_binning(code: CosetCode, e_design: Tensor, e_test: Tensor) -> float:
    """What the same quantizer costs with its index sent whole (no binning, no side information used): the
    mean ideal code length in nats of the test latents' indices at ``code``'s width and dither, under the
    pmf of the design latents' indices. Binning pays off where the coset code's rate is below this."""
    whole = design_coset_code(e_design, code.delta, None, code.seed)
    rows = code_rows(whole, e_test, no_side_information)
    return float(code_length(whole, rows.symbols).mean())
