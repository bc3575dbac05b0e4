"""The dual lower bound on R(D) from samples (Csiszar 1974; Yang & Mandt 2022, sec. 3-4).

For squared error, a slope lambda >= 0 and any positive function u on the data space,

    R(D) >= E_X[-log u(X)] - lambda D - log sup_y c(y),    c(y) = E_X[e^{-lambda |X - y|^2} / u(X)]

(Csiszar 1974, Thm 2.3, with the constraint sup_y c(y) <= 1 met by rescaling u; Yang & Mandt 2022,
eq. 7-8). For each lambda this is a line in D: a supporting line of R(D) when u is the optimal
u_{m*}(x) = E_{Y~m*} e^{-lambda |x - Y|^2}, for which c(y) = 1 on the support of the optimal
reproduction m* (Blahut 1972, Thm 1). Here u = u_m for the reproduction m fitted for the upper
bound at the same lambda (:mod:`estimators.rd.upper`), so the two bounds at one slope differ by
``log sup_y c(y)`` plus the rate the channel loses to m's misfit.

From a finite sample both expectations are held-out means. Candidate peaks of c are located on
other samples (the training split); the few best are measured on the held-out ones and the highest
is kept (a small maximum: it leans to the safe side without adding the noise's maximum over many
points). A line whose peak rests on fewer than ``MIN_EFFECTIVE_SAMPLES`` effective samples is not
used (:attr:`DualLine.reliable`): its height would mostly be underestimated, the mean of a
heavy-tailed variable usually falling below its expectation. What the interval covers
(normal approximation, delta method): the sampling error of ``mean(-log u)`` and of the held-out
mean that estimates c at that peak, jointly. What it does not cover:

- the search: sup_y is sought by a local ascent from many starts (the component means and channel
  outputs); a higher peak it misses would make the bound too high. With a u near the optimum c is
  flat (= 1) on the outputs' support, so the choice of the point matters little there;
- the heavy right tail of ``e^{-lambda |x - y|^2} / u(x)`` when the rate is high: its relative
  variance grows like e^{R} (the samples a distribution-free lower bound needs grow exponentially
  in the rate, as for mutual information: McAllester & Stratos 2020), so a few samples decide the
  mean, and the normal interval is then too narrow. :func:`dual_line` reports the effective sample
  size of the terms at the peak so that a reader can see when this happens.

Yang & Mandt (sec. 4) take the maximum over y of the sample mean on the same samples instead; that
estimate of sup c is biased upwards by the noise's maximum over y (a spike of height
e^{-log u(x_j)} / n sits at every sample point x_j), which at moderate rates in 16 dimensions cost
their bound, and ours in a first version, more than the bracket's whole width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from estimators.rd.reproduction import MixtureReproduction

__all__ = ["MIN_EFFECTIVE_SAMPLES", "DualLine", "dual_line", "log_c"]

MIN_EFFECTIVE_SAMPLES = 100.0
"""The fewest effective samples (sum w)^2 / sum w^2 of the terms at the peak for a line to be used."""


@dataclass(frozen=True)
class DualLine:
    """The line R(D) >= intercept - lam * D (nats) from one u, with the standard error of its intercept."""

    lam: float
    intercept: float
    intercept_se: float
    log_sup_c: float
    peak: tuple[float, ...]
    effective_samples: float
    n: int

    @property
    def reliable(self) -> bool:
        """Whether the peak's height rests on at least MIN_EFFECTIVE_SAMPLES effective samples."""
        return self.effective_samples >= MIN_EFFECTIVE_SAMPLES

    def at(self, D: float, z: float = 0.0) -> float:
        """The line at D, moved by z standard errors."""
        return self.intercept + z * self.intercept_se - self.lam * D


def log_c(x: Tensor, a: Tensor, y: Tensor, lam: float, cells: int = 1 << 23) -> Tensor:
    """log c(y) = log mean_i exp(-lam |x_i - y|^2 + a_i), a_i = -log u(x_i); y (m, d) -> (m,).

    Computed in blocks of y so that no block's distance matrix exceeds ``cells`` entries.
    """
    rows = max(1, cells // max(1, len(x)))
    parts = [torch.logsumexp(a[None] - lam * torch.cdist(b, x).square(), 1) for b in y.split(rows)]
    return torch.cat(parts) - math.log(len(x))


def _confident_log_c(x: Tensor, a: Tensor, y: Tensor, lam: float, z: float) -> Tensor:
    """log c(y) estimated on x less ``z`` relative standard errors (z / sqrt(ESS), ESS the effective
    sample size of the terms): what the ascent climbs, so that it favours peaks that many samples
    support over the spike of one sample in the tails."""
    log_t = a[None] - lam * torch.cdist(y, x).square()  # (m, n)
    lse = torch.logsumexp(log_t, 1)
    ess = torch.exp(2 * lse - torch.logsumexp(2 * log_t, 1))
    return lse - math.log(len(x)) - z / ess.sqrt()


def _starts(model: MixtureReproduction, x: Tensor, lam: float, count: int, generator: torch.Generator) -> Tensor:
    """Where the ascent starts: the component means (at most ``count``) and ``count`` channel outputs
    y ~ q_m(.|x) for samples x, which lie where the outputs do (c <= 1 there is what the optimal u achieves)."""
    pick = x[torch.randperm(len(x), generator=generator)[:count]]
    means = model.means.detach()
    if len(means) > count:  # many atoms or components: as many of them as there are output starts
        means = means[torch.randperm(len(means), generator=generator)[:count]]
    return torch.cat([means, model.sample_channel(pick, lam, generator)])


def dual_line(
    model: MixtureReproduction,
    x: Tensor,
    lam: float,
    *,
    search: Tensor,
    starts: int = 256,
    steps: int = 30,
    search_samples: int = 16384,
    search_z: float = 2.0,
    finalists: int = 8,
    seed: int = 0,
) -> DualLine:
    """The lower-bound line at slope ``lam`` with u = u_m, on held-out samples x (n, d).

    The peak of c is searched on other samples, ``search`` (the training split): a local ascent,
    at most one kernel width from each start, on the lower confidence value of their c estimate (a
    subsample of ``search_samples``), from the component means and ``starts`` channel outputs.
    The ``finalists`` best starts and end points by that value are measured on x and the highest is
    kept. Two splits, because on one sample the empirical
    c has a spike at every sample point x_j of height at least e^{-log u(x_j)} / n (its own term):
    an ascent on the evaluation sample finds those, and the bound would measure the largest
    -log u(x_j) of the sample rather than the peak of c.
    """
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"lam must be finite and > 0, got {lam!r}")
    g = torch.Generator().manual_seed(seed)
    x = x.double()
    search = search.double()
    with torch.no_grad():
        a = -model.log_u(x, lam)
        sub = search[torch.randperm(len(search), generator=g)[:search_samples]]
        a_sub = -model.log_u(sub, lam)
    y0 = _starts(model, search, lam, starts, g)
    # a local refinement only: each point moves at most one kernel width 1/sqrt(2 lam) from its start
    radius = 1.0 / math.sqrt(2.0 * lam)
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=0.1 * radius)
    for _ in range(steps):
        loss = -_confident_log_c(sub, a_sub, y, lam, z=search_z).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            step = y - y0
            norm = step.norm(dim=1, keepdim=True).clamp_min(1e-300)
            y.copy_(y0 + step * (radius / norm).clamp(max=1.0))
    with torch.no_grad():
        cand = torch.cat([y0, y.detach()])
        # The finalists are chosen on the search split; their heights are measured on x and the largest
        # is kept. Few finalists: the maximum of many noisy heights would add the noise's maximum, and
        # one alone, measured where its terms are heavy-tailed, would usually come out too low.
        scores = torch.cat([_confident_log_c(sub, a_sub, b, lam, z=search_z) for b in cand.split(256)])
        finalists = cand[torch.topk(scores, min(finalists, len(cand))).indices]
        peak = finalists[int(torch.argmax(log_c(x, a, finalists, lam)))]
        log_w = a - lam * (x - peak).square().sum(1)  # log of the terms whose mean is c(peak)
        lsc = float(torch.logsumexp(log_w, 0) - math.log(len(x)))
        w = torch.exp(log_w - lsc)  # terms / c: mean 1
        influence = a - w  # per-sample influence on mean(a) - log mean(terms)
        ess = float(w.sum() ** 2 / w.square().sum())
    n = len(x)
    return DualLine(
        lam=float(lam),
        intercept=float(a.mean()) - lsc,
        intercept_se=float(influence.std() / math.sqrt(n)),
        log_sup_c=lsc,
        peak=tuple(float(v) for v in peak),
        effective_samples=ess,
        n=n,
    )
