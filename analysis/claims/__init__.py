"""python -m analysis.claims: check FlowCodec's stated design claims with numbers, and give a verdict for each.

Eight claims from the FlowCodec design (issue 6; the eighth from issue 15) are checked on trained codecs (a 1-D Gaussian source swept
over beta and a 4-D Gaussian vector), with Monte Carlo, 1-D quadrature, the critic-free I(X;Z) sandwich,
real ANS bitstreams and timings, plus symbolic (sympy) checks of units, normalisation and scaling. Each
claim gets one of three verdicts, decided by the measured numbers against tolerances built from their
standard errors: ``holds``, ``holds under stated conditions`` or ``does not hold``, with the evidence and
the corrected statement.

Everything is computed in nats; the table and JSON report rates and entropies in **bits** (keys end in
``_bits``) and say so; slopes dR/dD are in nats per unit of distortion (keys end in ``_nats``) because
-1/beta is defined with the rate in nats. Distortion is squared error per sample summed over dimensions.

Claim 8 compares FlowCodec's real bitstreams with quantization-based peers (uniform, ntc, ecvq) at matched
distortion (:mod:`analysis.codec_compare`). Claim 7 needs a quantized codec of the same size (rounding + factorized entropy model, Balle et al. 2018).
The codec, its entropy model and its ANS coding are :class:`ibflow.vector.NTCCodec` (nonlinear transform coding).
"""

from __future__ import annotations

from analysis.claims.common import HOLDS, CONDITIONAL, FAILS, VERDICTS, ClaimResult, ClaimsSettings, TrainedCodecs, train_codecs, CLAIMS
from analysis.claims.density import pushforward_density_check, stated_latent_density, corrected_latent_density, latent_density_check, latent_quadrature, gaussian_channel_terms, check_claim1, check_claim2, check_claim4
from analysis.claims.lagrangian import check_claim3, check_claim6
from analysis.claims.coding import check_claim5, check_claim7
from analysis.claims.operational import check_claim8
from analysis.claims.symbolic import symbolic_checks
from analysis.claims.report import run_claims, claims_report, format_table, build_parser, main, CHECKS

__all__ = [
    "HOLDS",
    "CONDITIONAL",
    "FAILS",
    "VERDICTS",
    "ClaimResult",
    "ClaimsSettings",
    "TrainedCodecs",
    "train_codecs",
    "pushforward_density_check",
    "stated_latent_density",
    "corrected_latent_density",
    "latent_density_check",
    "latent_quadrature",
    "gaussian_channel_terms",
    "check_claim1",
    "check_claim2",
    "check_claim3",
    "check_claim4",
    "check_claim5",
    "check_claim6",
    "check_claim7",
    "check_claim8",
    "symbolic_checks",
    "run_claims",
    "claims_report",
    "format_table",
    "build_parser",
    "main",
    "CHECKS",
    "CLAIMS",
]
