"""Mutual-information estimators: KSG (kNN) and trained variational bounds (DV/MINE, NWJ, InfoNCE, JS, SMILE, BA)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma
from scipy.stats import rankdata
from torch import Tensor, nn

from .bounds import BOUNDS, interpolated_bound, js_critic_objective, mine_surrogate, smile_bound
from .critics import make_critic, mlp
from .densities import GaussianConditional
from .doe import difference_of_entropies
from .estimate import Estimate, MIEstimator, block_interval
from .training import as_float_array, paired_arrays, split_indices, train_critic

__all__ = [
    "Estimate",
    "MIEstimator",
    "MIEstimatorFor",
    "METHODS",
    "estimate_mi",
    "ksg",
    "kl_entropy",
    "warn_infonce_cap",
    "neural_mi",
    "barber_agakov",
]

METHODS = ("ksg", "dv", "nwj", "infonce", "js", "smile", "interpolated", "ba", "doe")
NEURAL = ("dv", "nwj", "infonce", "js", "smile", "interpolated")


class _BaselineShift(nn.Module):
    """Scores T(x_i, y_j) - a(y_j) with a learned MLP baseline a.

    I_alpha(T, a) = I_alpha(T - a, 0) (both numerator and mixture scale by e^{-a(y)}), so a
    learned baseline is a learned shift of the critic evaluated with a zero baseline.
    """

    def __init__(self, critic: nn.Module, dim_y: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.critic = critic
        self.baseline = mlp(dim_y, 1, hidden, layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.critic(x, y) - self.baseline(y).squeeze(-1)[None, :]


def _copula(a: np.ndarray) -> np.ndarray:
    # per-column ranks scaled to (0, 1): invariant under any strictly increasing map of a coordinate
    return rankdata(a, axis=0, method="average") / (a.shape[0] + 1)


def _standardize(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _ksg_value(x: np.ndarray, y: np.ndarray, k: int, variant: int, workers: int) -> float:
    n = x.shape[0]
    z = np.hstack([x, y])
    dist, idx = cKDTree(z).query(z, k=k + 1, p=np.inf, workers=workers)
    tx, ty = cKDTree(x), cKDTree(y)
    if variant == 1:
        # Kraskov et al. 2004, eq. 8: n_x counts points strictly inside the joint eps ball.
        eps = np.nextafter(dist[:, k], 0.0)
        nx = tx.query_ball_point(x, eps, p=np.inf, return_length=True, workers=workers) - 1
        ny = ty.query_ball_point(y, eps, p=np.inf, return_length=True, workers=workers) - 1
        return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))
    # Kraskov et al. 2004, eq. 9: eps_x, eps_y are the marginal extents of the k nearest joint neighbours.
    nb = idx[:, 1:]
    eps_x = np.max(np.abs(x[nb] - x[:, None, :]).max(axis=2), axis=1)
    eps_y = np.max(np.abs(y[nb] - y[:, None, :]).max(axis=2), axis=1)
    nx = tx.query_ball_point(x, eps_x, p=np.inf, return_length=True, workers=workers) - 1
    ny = ty.query_ball_point(y, eps_y, p=np.inf, return_length=True, workers=workers) - 1
    return float(digamma(k) - 1.0 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny)))


def _jitter_duplicates(a: np.ndarray, rng: np.random.Generator, name: str, extra: dict[str, Any]) -> np.ndarray:
    n_unique = np.unique(a, axis=0).shape[0]
    if n_unique == a.shape[0]:
        return a
    scale = 1e-10 * max(float(np.abs(a).max()), 1.0)
    extra[f"duplicates_{name}"] = a.shape[0] - n_unique
    extra[f"jitter_{name}"] = scale
    return a + scale * rng.standard_normal(a.shape)


def ksg(
    x: Any,
    y: Any,
    k: int = 3,
    variant: int = 1,
    copula: bool = False,
    standardize: bool = True,
    blocks: int = 10,
    seed: int = 0,
    workers: int = 1,
) -> Estimate:
    r"""Kraskov-Stoegbauer-Grassberger kNN estimate of I(X; Y) (Kraskov et al. 2004, eqs. 8 and 9), max-norm.

    Arguments:
        x, y: arrays (n, d_x), (n, d_y).
        k: neighbours (default 3).
        variant: 1 (eq. 8) or 2 (eq. 9).
        copula: rank-transform each coordinate of x and y first (empirical copula); the estimate is
            then exactly invariant under strictly monotone maps of each coordinate.
        standardize: scale each coordinate to unit variance (max-norm distances mix coordinates).
        blocks: the interval is bootstrap-free: the data are cut into ``blocks`` disjoint blocks,
            KSG is run on each, and value +- t sd/sqrt(B) is returned (sampling noise only; KSG's
            bias, which grows with MI and dimension, is not covered). ``blocks < 2`` gives no interval.
        seed: seeds the tiny jitter added when x or y has duplicate rows (reported in ``extra``).

    Example:
        >>> rng = np.random.default_rng(0); x = rng.standard_normal((2000, 1))
        >>> e = ksg(x, x + rng.standard_normal((2000, 1)))  # true I = log(2)/2 = 0.347
    """
    x, y = paired_arrays(x, y)
    n = x.shape[0]
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    if n <= k + 1:
        raise ValueError(f"k must be smaller than the number of samples minus one; got k={k}, n={n}")
    if variant not in (1, 2):
        raise ValueError(f"variant must be 1 or 2, got {variant}")
    extra: dict[str, Any] = {"k": int(k), "variant": variant, "copula": copula, "n": n}
    if copula:
        x, y = _copula(x), _copula(y)
    if standardize:
        x, y = _standardize(x), _standardize(y)
    rng = np.random.default_rng(seed)
    x = _jitter_duplicates(x, rng, "x", extra)
    y = _jitter_duplicates(y, rng, "y", extra)
    value = _ksg_value(x, y, int(k), variant, workers)
    ci = None
    m = n // blocks if blocks >= 2 else 0
    if m > k + 1:
        perm = np.random.default_rng(seed + 1).permutation(n)
        vals = np.array([_ksg_value(x[perm[b * m : (b + 1) * m]], y[perm[b * m : (b + 1) * m]], int(k), variant, workers) for b in range(blocks)])
        ci = block_interval(value, vals)
        extra.update(interval=f"t interval from {blocks} disjoint blocks of {m}", block_values=vals.tolist())
    return Estimate(value=value, ci=ci, method="ksg", extra=extra)


def kl_entropy(x: Any, k: int = 3) -> float:
    r"""Kozachenko-Leonenko kNN differential entropy in nats, max-norm (Kraskov et al. 2004, eq. 20).

    h = psi(n) - psi(k) + d log 2 + d/n sum_i log r_i, r_i the max-norm distance to the k-th neighbour.
    """
    x = as_float_array(x, "x")
    n, d = x.shape
    if n <= k + 1:
        raise ValueError(f"k must be smaller than the number of samples minus one; got k={k}, n={n}")
    dist, _ = cKDTree(x).query(x, k=k + 1, p=np.inf)
    r = dist[:, k]
    if np.any(r <= 0):
        raise ValueError("x has duplicate rows; the kNN entropy is undefined")
    return float(digamma(n) - digamma(k) + d * math.log(2.0) + d * np.mean(np.log(r)))


def warn_infonce_cap(value: float, batch_size: int, margin: float = 0.1) -> bool:
    """Warn (and return True) when an InfoNCE value is within ``margin`` nats of its cap log K.

    InfoNCE <= log K for any critic (REFERENCES.md, MI facts), so near the cap it says only
    that I(X; Y) is at least about log K.
    """
    cap = math.log(batch_size)
    if value > cap - margin:
        warnings.warn(
            f"InfoNCE estimate {value:.3f} is within {margin} nats of its cap log K = {cap:.3f}; "
            "the true MI may be much larger (use a larger batch_size or another method)",
            stacklevel=3,
        )
        return True
    return False


def _tensors(x: np.ndarray, y: np.ndarray, split: tuple[float, float], seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    tr, va, te = split_indices(x.shape[0], split, seed)
    # standardise with training statistics only, so the held-out splits stay untouched
    mx, sx = x[tr].mean(0), np.where(x[tr].std(0) > 0, x[tr].std(0), 1.0)
    my, sy = y[tr].mean(0), np.where(y[tr].std(0) > 0, y[tr].std(0), 1.0)
    out = {}
    for name, i in (("train", tr), ("val", va), ("test", te)):
        out[name] = (
            torch.as_tensor((x[i] - mx) / sx, dtype=torch.float32),
            torch.as_tensor((y[i] - my) / sy, dtype=torch.float32),
        )
    return out


def _batched_bound(critic: nn.Module, xs: Tensor, ys: Tensor, batch: int, readout: Any) -> np.ndarray:
    # disjoint held-out minibatches of the training batch size: InfoNCE's cap log K depends on K
    nb = xs.shape[0] // batch
    with torch.no_grad():
        return np.array(
            [float(readout(critic(xs[b * batch : (b + 1) * batch], ys[b * batch : (b + 1) * batch]).double())) for b in range(nb)]
        )


def neural_mi(
    x: Any,
    y: Any,
    method: str = "nwj",
    critic: str = "separable",
    hidden: int = 256,
    layers: int = 2,
    embed: int = 32,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 5e-4,
    tau: float = 5.0,
    alpha: float = 0.01,
    ema_rate: float = 0.01,
    split: tuple[float, float] = (0.2, 0.2),
    eval_every: int = 50,
    patience: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> Estimate:
    r"""Train a critic on a variational lower bound and report the bound on a held-out test split.

    Methods (scores on a minibatch of K pairs; see :mod:`estimators.bounds`):
      - ``dv``: MINE (Belghazi et al. 2018). The gradient of log E_Q[e^T] is replaced by
        grad E_Q[e^T] / EMA(E_Q[e^T]) (eq. 12), the moving average at rate ``ema_rate``.
      - ``nwj``: Nguyen-Wainwright-Jordan / f-GAN KL.
      - ``infonce``: van den Oord et al. 2018; capped at log K (warns within 0.1 nats of it).
      - ``js``: critic trained on the f-GAN JS objective, MI read out as NWJ with T = 1 + critic
        (Poole et al. 2019).
      - ``smile``: Song & Ermon 2020: critic trained on the JS objective, read out as DV with the
        partition term's critic clipped to [-tau, tau] (tau = inf gives DV).
      - ``interpolated``: Poole et al. 2019 I_alpha (``alpha``, default 0.01) with a learned MLP
        baseline a(y).

    Data are split into train / validation / test (``split`` = validation and test fractions).
    Early stopping keeps the critic with the best validation bound; the value is the mean bound
    over disjoint test minibatches of ``batch_size`` pairs, the interval a t interval across them.
    Seeded: the same inputs and seed give the same estimate.
    """
    if method not in NEURAL:
        raise ValueError(f"method must be one of {NEURAL}, got {method!r}")
    x, y = paired_arrays(x, y)
    data = _tensors(x, y, split, seed)
    n_test = data["test"][0].shape[0]
    if data["train"][0].shape[0] < batch_size or n_test < 2 * batch_size or data["val"][0].shape[0] < batch_size:
        raise ValueError(
            f"x has too few rows ({x.shape[0]}) for batch_size={batch_size}: validation needs one and test two full batches"
        )
    torch.manual_seed(seed)
    net = make_critic(critic, x.shape[1], y.shape[1], hidden, layers, embed)
    if method == "interpolated":
        net = _BaselineShift(net, y.shape[1], hidden, layers)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = data["train"]

    if method == "smile":
        readout = lambda s: smile_bound(s, tau)  # noqa: E731
    elif method == "interpolated":
        readout = lambda s: interpolated_bound(s, torch.zeros(s.shape[1], dtype=s.dtype), alpha)  # noqa: E731
    else:
        readout = BOUNDS[method]
    state = {"log_ema": None}

    def loss_step(_: int) -> tuple[Tensor, float]:
        i = torch.randperm(xt.shape[0], generator=gen)[:batch_size]
        s = net(xt[i], yt[i])
        value = readout(s)
        if method in ("js", "smile"):
            # SMILE trains the critic on the JS objective and only reads out the clipped DV
            # (Song & Ermon 2020, sec. 4 and their reference code): maximising the clipped DV itself
            # is unbounded, since only the partition term is clipped.
            loss = -js_critic_objective(s)
        elif method == "dv":
            off = s[~torch.eye(s.shape[0], dtype=torch.bool)]
            m = (torch.logsumexp(off, 0) - math.log(off.numel())).detach()
            le = state["log_ema"]
            # the moving average is kept in log space so that large critics do not overflow
            le = m if le is None else torch.logaddexp(le + math.log1p(-ema_rate), m + math.log(ema_rate))
            state["log_ema"] = le
            loss = -mine_surrogate(s, le)
        else:
            loss = -value
        return loss, float(value.detach())

    def validate() -> float:
        return float(_batched_bound(net, *data["val"], batch_size, readout).mean())

    curve, val_curve, best_step = train_critic(
        net, loss_step, validate, steps, lr, eval_every, patience, progress, desc=f"mi[{method}]"
    )
    vals = _batched_bound(net, *data["test"], batch_size, readout)
    value = float(vals.mean())
    extra: dict[str, Any] = {
        "critic": critic,
        "batch_size": batch_size,
        "validation_curve": val_curve,
        "best_step": best_step,
        "steps_run": len(curve),
        "interval": f"t interval across {len(vals)} disjoint test minibatches of {batch_size}",
    }
    if method == "infonce":
        cap = math.log(batch_size)
        extra["cap"] = cap
        extra["near_cap"] = warn_infonce_cap(value, batch_size)
    if method == "smile":
        extra["tau"] = tau
    if method == "interpolated":
        extra["alpha"] = alpha
    return Estimate(value=value, ci=block_interval(value, vals), method=method, curve=curve, extra=extra)


def barber_agakov(
    x: Any,
    y: Any,
    entropy_x: float | None = None,
    k: int = 3,
    hidden: int = 256,
    layers: int = 2,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 5e-4,
    split: tuple[float, float] = (0.2, 0.2),
    eval_every: int = 50,
    patience: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> Estimate:
    r"""Barber-Agakov bound I(X; Y) >= h(X) + E[log q(x|y)] (Barber & Agakov 2003; Poole et al. 2019).

    q(x|y) is Gaussian with a linear-plus-MLP mean and a full learned covariance
    (:class:`~estimators.densities.GaussianConditional`, started at least squares), fit by maximum likelihood
    on the training split; E[log q] is measured on the test split. ``entropy_x`` is h(X) in nats
    if known, and then the value is a true lower bound up to sampling noise. If ``None`` it is
    estimated by the Kozachenko-Leonenko kNN estimator (:func:`kl_entropy`) on all of x, and the
    result is no longer a certified bound (``extra["entropy_source"]`` says which). The interval
    covers only the noise of the E[log q] term. Data are not standardised (h(X) refers to x as given).
    """
    x, y = paired_arrays(x, y)
    if entropy_x is None:
        h, source = kl_entropy(x, k), f"kozachenko-leonenko (k={k})"
    else:
        if not math.isfinite(entropy_x):
            raise ValueError("entropy_x must be finite")
        h, source = float(entropy_x), "given"
    tr, va, te = split_indices(x.shape[0], split, seed)
    if len(tr) < batch_size:
        raise ValueError(f"x has too few rows ({x.shape[0]}) for batch_size={batch_size}")
    # centre y only (the bound does not depend on how y is parametrised); x must stay as given
    my, sy = y[tr].mean(0), np.where(y[tr].std(0) > 0, y[tr].std(0), 1.0)
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    xt, yt = t(x[tr]), t((y[tr] - my) / sy)
    xv, yv = t(x[va]), t((y[va] - my) / sy)
    xe, ye = t(x[te]), t((y[te] - my) / sy)
    torch.manual_seed(seed)
    q = GaussianConditional(x.shape[1], y.shape[1], hidden, layers)
    q.init_least_squares(xt, yt)
    gen = torch.Generator().manual_seed(seed)

    def loss_step(_: int) -> tuple[Tensor, float]:
        i = torch.randperm(xt.shape[0], generator=gen)[:batch_size]
        ll = q.log_prob(xt[i], yt[i]).mean()
        return -ll, h + float(ll.detach())

    def validate() -> float:
        return h + float(q.log_prob(xv, yv).mean())

    curve, val_curve, best_step = train_critic(q, loss_step, validate, steps, lr, eval_every, patience, progress, desc="mi[ba]")
    with torch.no_grad():
        ll = q.log_prob(xe, ye).double().numpy()
    value = h + float(ll.mean())
    se = float(ll.std(ddof=1) / math.sqrt(len(ll)))
    return Estimate(
        value=value,
        ci=(value - 1.96 * se, value + 1.96 * se),
        method="ba",
        curve=curve,
        extra={
            "entropy_x": h,
            "entropy_source": source,
            "validation_curve": val_curve,
            "best_step": best_step,
            "interval": "normal, SE of the test log q(x|y) terms only",
        },
    )


def estimate_mi(x: Any, y: Any, method: str = "ksg", **options: Any) -> Estimate:
    r"""Estimate I(X; Y) in nats.

    Arguments:
        x, y: arrays or tensors of shape (n, d_x), (n, d_y) (1-D arrays are read as one column).
        method: ``ksg`` (:func:`ksg`), ``dv``, ``nwj``, ``infonce``, ``js``, ``smile``,
            ``interpolated`` (:func:`neural_mi`), ``ba`` (:func:`barber_agakov`) or ``doe``
            (:func:`~estimators.doe.difference_of_entropies`).
        options: passed to the method's function.

    Example:
        >>> rng = np.random.default_rng(0); x = rng.standard_normal((1000, 2))
        >>> est = estimate_mi(x, x + rng.standard_normal((1000, 2)), method="ksg")  # truth log 2 = 0.693
        >>> round(est.value, 1)
        0.7
    """
    if method == "ksg":
        return ksg(x, y, **options)
    if method in NEURAL:
        return neural_mi(x, y, method=method, **options)
    if method == "ba":
        return barber_agakov(x, y, **options)
    if method == "doe":
        return difference_of_entropies(x, y, **options)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


class MIEstimatorFor:
    """An :class:`MIEstimator` bound to one method and its options: ``MIEstimatorFor("ksg", k=5).estimate(x, y)``."""

    def __init__(self, method: str, **options: Any) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method
        self.options = options

    def estimate(self, x: Any, y: Any) -> Estimate:
        return estimate_mi(x, y, method=self.method, **self.options)
