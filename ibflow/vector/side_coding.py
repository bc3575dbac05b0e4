"""Fitting and measuring the bitstreams of the distributed codecs: the coset code of a Wyner-Ziv FlowCodec
(:class:`ibflow.vector.WynerZivFlowCodec`), chosen on design rows and measured on test rows through its
real stream (:mod:`ibflow.vector.binning` holds the code itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ibflow.entropy.bitstream import stream_bytes
from ibflow.vector.binning import (
    CosetCode,
    CosetMeasurement,
    CosetTrial,
    code_rows,
    fit_coset_code,
    measure_code,
    trial_of,
)
from ibflow.vector.wyner_ziv import WynerZivFlowCodec

__all__ = ["fit_wyner_ziv_coding", "measure_wyner_ziv_coding", "encoder_is_monotone"]

WIDTHS = (0.5, 0.71, 1.0, 1.41, 2.0)
MODULI: tuple[int | None, ...] = tuple(range(1, 33)) + (None,)


def _distortion_of(codec: WynerZivFlowCodec, x: Tensor, y: Tensor) -> Callable[[Tensor], Tensor]:
    param = codec.log_sigma

    @torch.no_grad()
    def distortion_of(z_hat: Tensor) -> Tensor:
        yy = y.to(param)
        return codec.distortion_per_sample(x.to(param), codec.decode(z_hat.to(param), yy)).double().cpu()

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
    e = codec.latent_mean(x)
    score = codec.side_scorer(y)
    exact = torch.equal(decoded["index"], code_rows(code, e, score).k_hat)
    return measure_code(code, e, score, _distortion_of(codec, x, y), stream_bytes(stream["strings"]), exact)


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
