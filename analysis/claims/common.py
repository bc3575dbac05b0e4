"""Shared pieces of the claims audit: verdicts, settings, result type, the trained codecs."""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from analysis.parallel import run_tasks
from analysis.rd_gap import SweepSettings, run_point
from ibflow import FlowCodec, TrainConfig, load_checkpoint
from synthetic import get_source


HOLDS = "holds"
CONDITIONAL = "holds under stated conditions"
FAILS = "does not hold"
VERDICTS = (HOLDS, CONDITIONAL, FAILS)

BITS = 1.0 / math.log(2)
# Tolerances are "k standard errors": 5 SE keeps the false-alarm rate of each check below 1e-6 under a
# normal approximation, so a failed check is a real effect, not Monte Carlo noise.
K_SE = 5.0

CLAIMS = {
    1: "q(z|x) = N(f(x), sigma^2 I) * |det df/dx|^-1 is the conditional density of the latent",
    2: "I(x;z) = E[log q(z|x)/p(z)] with p the prior",
    3: "R(beta) = sup_x (beta*KL(q(z|x)||p(z)) + Dist(x, x_hat)) bounds the achievable rate",
    4: "H(z) ~ n/2 log(2 pi sigma^2) + ||eps||^2/(2 sigma^2) - log|det df/dx| is the entropy of z",
    5: "binning at width Delta gives R ~ (n/d) log2(1/Delta) + beta*KL",
    6: "beta sets the slope of the R-D trade-off (dR/dD = -1/beta at the optimum) and so the MI retained",
    7: "without quantization the forward pass is faster than a quantized codec's",
    8: "FlowCodec achieves better rate-distortion than quantization-based codecs",
}

SHORT = {
    1: "q(z|x) = N(f(x),s^2 I)|det df/dx|^-1",
    2: "I(X;Z) = E log q(z|x)/p(z)",
    3: "R = sup_x (beta KL_x + Dist)",
    4: "H(z) ~ -log q(z|x) - log|det df/dx|",
    5: "R ~ (n/d) log2(1/Delta) + beta KL",
    6: "dR/dD = -1/beta sets the MI",
    7: "no quantization => faster",
    8: "better R-D than quantized codecs",
}


@dataclass
class ClaimResult:
    """One claim: its verdict, the numbers behind it (JSON-ready), the corrected statement and the
    symbolic checks. ``headline`` names the evidence entries the table shows, as (label, key, format)."""

    number: int
    claim: str
    verdict: str
    evidence: dict[str, Any]
    corrected: str
    symbolic: dict[str, Any] = field(default_factory=dict)
    headline: list[tuple[str, str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["headline"] = [list(h) for h in self.headline]
        return d


@dataclass
class ClaimsSettings:
    """Sizes of every check. ``quick()`` gives the small set used by ``--quick`` and the notebooks."""

    steps: int = 800
    n_eval: int = 2**18
    variance: float = 1.0
    betas: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.4, 0.8, 1.2, 2.5])
    main_beta: float = 0.4
    vector_variances: list[float] = field(default_factory=lambda: [4.0, 1.0, 0.25, 0.0625])
    vector_beta: float = 0.5
    vector_steps: int = 400
    vector_eval: int = 2**16
    mc_samples: int = 200_000
    density_points: list[float] = field(default_factory=lambda: [-2.0, -0.5, 0.5, 2.0])
    sup_samples: int = 2**17
    bin_samples: int = 2**16
    deltas: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25, 0.1])
    timing_samples: int = 2**16
    timing_repeats: int = 7
    quant_steps: int = 300
    seed: int = 0
    jobs: int = 2
    quick: bool = False

    @staticmethod
    def quick_settings(**overrides: Any) -> "ClaimsSettings":
        """The ``--quick`` sizes (about half a minute on 2 shared cores), with ``overrides`` applied."""
        base = dict(
            steps=200, n_eval=2**14, betas=[0.2, 0.4, 0.8], vector_steps=100, vector_eval=2**13,
            mc_samples=50_000, sup_samples=2**13, bin_samples=2**14, deltas=[0.5, 0.1], timing_samples=2**13,
            timing_repeats=5, quant_steps=100, quick=True,
        )
        base.update(overrides)
        return ClaimsSettings(**base)


# --------------------------------------------------------------------------------------------- training


@dataclass
class TrainedCodecs:
    """Codecs trained for the audit and their :func:`analysis.measure.measure_point` reports (bits)."""

    source: Any
    codecs: dict[float, FlowCodec]
    points: dict[float, dict[str, Any]]
    vector_source: Any
    vector_codec: FlowCodec
    vector_point: dict[str, Any]
    seconds: float
    main_beta: float = 0.4

    @property
    def main(self) -> FlowCodec:
        """The 1-D codec at ``main_beta``, the one claims 1-5 are checked on."""
        return self.codecs[min(self.codecs, key=lambda b: abs(b - self.main_beta))]


def train_codecs(settings: ClaimsSettings, progress: bool = False) -> TrainedCodecs:
    """Train (with :func:`analysis.rd_gap.run_point`, checkpoints in a temporary folder) one 1-D Gaussian
    codec per beta and one 4-D Gaussian-vector codec; points run in ``settings.jobs`` processes."""
    betas = sorted(set(settings.betas) | {settings.main_beta})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ibflow_claims_") as tmp:
        cfg = TrainConfig(steps=settings.steps, seed=settings.seed)
        gauss = SweepSettings(source="gaussian", params={"variance": settings.variance}, betas=betas, train=cfg,
                              n_eval=settings.n_eval, checkpoint_dir=tmp)
        vcfg = TrainConfig(steps=settings.vector_steps, seed=settings.seed)
        vec = SweepSettings(source="gaussian-vector", params={"variances": list(settings.vector_variances)},
                            betas=[settings.vector_beta], train=vcfg, n_eval=settings.vector_eval, checkpoint_dir=tmp)
        # the slow vector point first, so two workers finish together
        tasks = [(vec, settings.vector_beta)] + [(gauss, b) for b in betas]
        threads = torch.get_num_threads()
        results, interrupted = run_tasks(run_point, tasks, max(1, settings.jobs), progress, desc="claims: training")
        torch.set_num_threads(threads)  # run_point pins the calling process to one thread when jobs == 1
        if interrupted:
            raise KeyboardInterrupt
        bad = [r for r in results if "error" in r]
        if bad:
            raise RuntimeError(f"training failed: {bad[0]['error']}")
        vec_point = next(r for r in results if r.get("rate_per_dim") is not None)
        points = {r["beta"]: r for r in results if r is not vec_point}
        codecs = {b: load_checkpoint(Path(tmp) / f"gaussian_beta{b:g}.pt").eval() for b in betas}
        vcodec = load_checkpoint(Path(tmp) / f"gaussian-vector_beta{settings.vector_beta:g}.pt").eval()
    out = TrainedCodecs(
        source=get_source("gaussian", variance=settings.variance),
        codecs=codecs,
        points=points,
        vector_source=get_source("gaussian-vector", variances=list(settings.vector_variances)),
        vector_codec=vcodec,
        vector_point=vec_point,
        seconds=time.perf_counter() - start,
        main_beta=settings.main_beta,
    )
    return out
