"""Student-t intervals from replicate values: disjoint-block estimates or per-sample held-out terms."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["student_t_interval", "fit_bracket_interval"]


def student_t_interval(center: float, values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """``center -+ t sd(values) / sqrt(m)`` from m replicate values, t the Student-t quantile at ``level``.

    The values are treated as independent replicates whose mean is ``center`` (or estimates the
    same quantity): disjoint-block estimates (KSG, test minibatches of a critic) or the per-sample
    terms of a held-out average (DoE). Their standard error of the mean stands in for the standard
    error of ``center``: the interval covers sampling noise, not estimator bias.

    Arguments:
        center: the estimate the interval is centred on.
        values: the m replicates, m >= 2; fewer give ``(nan, nan)``.
        level: two-sided coverage in (0, 1).

    Returns:
        ``(low, high)``.

    Example:
        >>> low, high = student_t_interval(1.0, np.array([0.9, 1.0, 1.1]))
        >>> round(high - 1.0, 4)  # t_{0.975, 2} = 4.3027, sd = 0.1
        0.2484
    """
    b = np.asarray(values, dtype=np.float64)
    if b.size < 2:
        return (float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + level / 2, b.size - 1) * b.std(ddof=1) / np.sqrt(b.size))
    return (center - half, center + half)


def fit_bracket_interval(in_sample: float, held_out: float, held_out_terms: np.ndarray,
                         level: float = 0.95) -> tuple[float, float]:
    r"""An interval for a plug-in estimate of a fitted model: from the in-sample to the held-out value, widened by sampling noise.

    A model fitted by maximum likelihood scores itself too well on its training rows and too
    badly on fresh ones. For a regular model with p parameters fitted to n rows both gaps are
    p / 2n nats per row to first order (Akaike 1974; Konishi & Kitagawa 2008, "Information
    criteria and statistical modeling", sec. 3.4: the bias of the log-likelihood is tr(I J^{-1}) / n,
    split evenly between the two sides), and a pointwise MI is a difference of such
    log-likelihoods. So the in-sample and held-out means of the model's per-row terms bracket
    the value of the best model of the family, and their midpoint is first-order unbiased for it.
    The interval spans the two, widened on each side by the Student-t half-width of the
    held-out mean (:func:`student_t_interval`). It covers sampling and fitting noise; not the
    misspecification of the family (the best model's error), which nothing computed from the
    model itself can reveal.

    Arguments:
        in_sample: the mean of the terms over the training rows.
        held_out: the mean over held-out rows.
        held_out_terms: the held-out per-row terms (m >= 2).
        level: two-sided coverage of the sampling part.

    Returns:
        ``(low, high)``.

    Example:
        >>> low, high = fit_bracket_interval(1.2, 1.0, np.array([0.9, 1.0, 1.1]))
        >>> round(low, 4), round(high, 4)  # [1.0 - 0.2484, 1.2 + 0.2484]
        (0.7516, 1.4484)
    """
    low, high = student_t_interval(0.0, held_out_terms, level)
    return (min(in_sample, held_out) + low, max(in_sample, held_out) + high)
