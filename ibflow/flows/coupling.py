r"""Coupling layers: affine (RealNVP), plain and conditioned on a context, and rational-quadratic spline couplings."""

from __future__ import annotations

__all__ = ['AffineCoupling', 'ConditionalAffineCoupling', 'SplineCoupling', 'zero_output_mlp']

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ibflow.checks import check_int, check_positive
from ibflow.flows.base import Flow, check_features
from ibflow.flows.spline import rational_quadratic_spline


def _as_mask(mask: Tensor | Sequence[bool] | None, features: int) -> Tensor:
    if mask is None:
        return torch.arange(features) < features // 2
    mask = torch.as_tensor(mask)
    if mask.shape != (features,) or mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a boolean sequence of length features={features}, got "
            f"dtype {mask.dtype} and shape {tuple(mask.shape)}"
        )
    return mask.clone()


def zero_output_mlp(width: int, hidden: int, depth: int, outputs: int,
                    activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """An MLP with ``depth`` hidden layers of ``hidden`` units (``activation`` after each) whose last layer
    is zero: it outputs 0 at initialisation, which every coupling here reads as the identity map (and a
    residual correction, such as :class:`~ibflow.vector.codec.LearnedDecoder`'s, as no correction)."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), activation()]
        width = hidden
    last = nn.Linear(width, outputs)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


class _AffineCouplingBase(Flow):
    kept: Tensor
    transformed: Tensor

    def __init__(
        self,
        features: int,
        context_features: int,
        hidden: int,
        depth: int,
        mask: Tensor | Sequence[bool] | None,
        scale_bound: float,
    ):
        super().__init__()
        self.features = features
        self.context_features = context_features
        hidden = check_int("hidden", hidden, 1)
        depth = check_int("depth", depth, 1)
        self.scale_bound = check_positive("scale_bound", scale_bound)

        mask = _as_mask(mask, features)
        self.register_buffer("kept", torch.nonzero(mask).flatten())
        self.register_buffer("transformed", torch.nonzero(~mask).flatten())
        if len(self.transformed) == 0:
            raise ValueError("mask must leave at least one feature False (transformed)")
        if len(self.kept) + context_features == 0:
            raise ValueError(
                "mask must keep at least one feature True (the conditioner needs an input)"
            )

        # Zero output layer: log-scale and shift start at 0, so the coupling is the identity.
        self.conditioner = zero_output_mlp(len(self.kept) + context_features, hidden, depth, 2 * len(self.transformed))

    def _log_scale_and_shift(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        inputs = [x.index_select(1, self.kept)]
        if self.context_features > 0:
            if context is None:
                raise ValueError(f"{type(self).__name__} needs a context tensor, got None")
            if context.shape != (x.shape[0], self.context_features):
                raise ValueError(
                    f"expected context of shape ({x.shape[0]}, {self.context_features}), "
                    f"got {tuple(context.shape)}"
                )
            inputs.append(context)
        raw, shift = self.conditioner(torch.cat(inputs, dim=1)).chunk(2, dim=1)
        # A soft clamp of the log-scale: the slope is 1 at 0 (so the zero-initialised net still
        # gives the identity) and |log_scale| < scale_bound, so one coupling can scale by at most
        # exp(scale_bound). This stops exp() overflowing early in training and bounds the
        # condition number of both the forward map and the inverse (which divides by the scale).
        log_scale = self.scale_bound * torch.tanh(raw / self.scale_bound)
        return log_scale, shift

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_features(x, self.features, images=False)
        log_scale, shift = self._log_scale_and_shift(x, context)
        moved = x.index_select(1, self.transformed) * log_scale.exp() + shift
        return x.index_copy(1, self.transformed, moved), log_scale.sum(dim=1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        check_features(y, self.features, images=False)
        # The kept features are unchanged, so the conditioner sees the same input as forward.
        log_scale, shift = self._log_scale_and_shift(y, context)
        moved = (y.index_select(1, self.transformed) - shift) * (-log_scale).exp()
        return y.index_copy(1, self.transformed, moved)


class AffineCoupling(_AffineCouplingBase):
    r"""Creates an affine coupling layer (RealNVP).

    With a boolean mask :math:`m` (``True`` = kept),

    .. math:: y_m = x_m, \quad y_{\bar m} = x_{\bar m} \odot \exp(s(x_m)) + t(x_m)

    where :math:`(s, t)` come from an MLP conditioner (Dinh et al. 2017, eqs. 4-5) and the
    log-determinant is :math:`\sum s`. The conditioner's last layer is zero-initialised, so the
    layer starts as the identity. The log-scale is soft-clamped,
    :math:`s = B \tanh(\tilde s / B)` with :math:`B` = ``scale_bound``: this keeps training stable
    (no overflow of :math:`\exp s` from a large early step) and keeps the inverse well conditioned
    (each coupling scales by a factor in :math:`[e^{-B}, e^{B}]`).

    A coupling needs at least 2 features: one to condition on and one to transform. For a 1-D
    flow use :class:`ElementwiseSpline` (or :class:`ConditionalAffineCoupling` with a context).

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803

    Arguments:
        features: The number of features, at least 2.
        hidden: The width of the conditioner's hidden layers, at least 1.
        depth: The number of hidden layers of the conditioner, at least 1.
        mask: A boolean sequence of length ``features``, ``True`` for the features that are kept
            (and condition the others); at least one ``True`` and one ``False``. Defaults to
            keeping the first ``features // 2`` features.
        scale_bound: The bound :math:`B > 0` on the absolute log-scale.

    Example:
        >>> layer = AffineCoupling(4, hidden=16)
        >>> x = torch.randn(8, 4)
        >>> y, logdet = layer(x)
        >>> torch.equal(y, x), torch.equal(logdet, torch.zeros(8))  # identity at initialisation
        (True, True)
    """

    def __init__(
        self,
        features: int,
        hidden: int = 64,
        depth: int = 2,
        mask: Tensor | Sequence[bool] | None = None,
        scale_bound: float = 3.0,
    ):
        features = check_int("features", features, 1)
        if features < 2:
            raise ValueError(
                "features must be >= 2 for AffineCoupling: a coupling needs at least 2 features "
                "(one to condition on, one to transform); use ElementwiseSpline for 1-D flows"
            )
        super().__init__(features, 0, hidden, depth, mask, scale_bound)


class ConditionalAffineCoupling(_AffineCouplingBase):
    r"""Creates an affine coupling layer whose conditioner also sees a context vector.

    .. math:: y_m = x_m, \quad y_{\bar m} = x_{\bar m} \odot \exp(s(x_m, c)) + t(x_m, c)

    As :class:`AffineCoupling` (Dinh et al. 2017), with the context :math:`c` of shape
    ``(batch, context_features)`` concatenated to the conditioner's input. Because the context
    alone can drive the conditioner, the mask may keep no feature at all: with ``features == 1``
    (the default mask there) the single feature is transformed, conditioned on the context only.

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803

    Arguments:
        features: The number of features, at least 1.
        context_features: The number of context features, at least 1.
        hidden: The width of the conditioner's hidden layers, at least 1.
        depth: The number of hidden layers of the conditioner, at least 1.
        mask: A boolean sequence of length ``features``, ``True`` for the kept features; at
            least one ``False``. Defaults to keeping the first ``features // 2`` features.
        scale_bound: The bound :math:`B > 0` on the absolute log-scale.

    Example:
        >>> layer = ConditionalAffineCoupling(1, context_features=2, hidden=16)
        >>> x, c = torch.randn(8, 1), torch.randn(8, 2)
        >>> y, logdet = layer(x, c)
        >>> torch.equal(layer.inverse(y, c), x)
        True
    """

    def __init__(
        self,
        features: int,
        context_features: int,
        hidden: int = 64,
        depth: int = 2,
        mask: Tensor | Sequence[bool] | None = None,
        scale_bound: float = 3.0,
    ):
        super().__init__(
            check_int("features", features, 1),
            check_int("context_features", context_features, 1),
            hidden,
            depth,
            mask,
            scale_bound,
        )


class SplineCoupling(Flow):
    r"""Creates a rational-quadratic spline coupling layer (Durkan et al. 2019, "RQ-NSF (C)").

    With a boolean mask :math:`m` (``True`` = kept), :math:`y_m = x_m` and each transformed feature
    goes through its own monotone rational-quadratic spline on :math:`[-B, B]` (identity outside)
    whose bin widths, heights and knot slopes an MLP computes from :math:`x_m`
    (:func:`~ibflow.flows.spline.rational_quadratic_spline`). Far more flexible than an affine
    coupling per layer: the map of a transformed feature may bend differently for every value of
    the kept ones. The log-determinant is the sum of the splines' log-derivatives. The
    conditioner's last layer is zero-initialised, which is the identity spline
    (:func:`~ibflow.flows.spline.rational_quadratic_knots`), so the layer starts as the identity.

    References:
        | Neural Spline Flows (Durkan et al., 2019), sec. 3.3 (coupling transforms)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        features: The number of features, at least 2.
        hidden: The width of the conditioner's hidden layers, at least 1.
        depth: The number of hidden layers of the conditioner, at least 1.
        mask: As for :class:`AffineCoupling`.
        bins: The number of spline bins :math:`K`, at least 2.
        bound: The half-width :math:`B > 0` of the interval where the splines act.

    Example:
        >>> layer = SplineCoupling(4, hidden=16, bins=6)
        >>> x = torch.randn(8, 4)
        >>> y, logdet = layer(x)
        >>> bool((y - x).abs().max() < 1e-5), bool(logdet.abs().max() < 1e-5)  # identity at initialisation
        (True, True)
    """

    kept: Tensor
    transformed: Tensor

    def __init__(
        self,
        features: int,
        hidden: int = 64,
        depth: int = 2,
        mask: Tensor | Sequence[bool] | None = None,
        bins: int = 8,
        bound: float = 4.0,
    ):
        super().__init__()
        self.features = check_int("features", features, 1)
        if features < 2:
            raise ValueError("features must be >= 2 for SplineCoupling (one to condition on, one to transform); "
                             "use ElementwiseSpline for 1-D flows")
        hidden = check_int("hidden", hidden, 1)
        depth = check_int("depth", depth, 1)
        self.bins = check_int("bins", bins, 2)
        self.bound = check_positive("bound", bound)
        mask = _as_mask(mask, features)
        self.register_buffer("kept", torch.nonzero(mask).flatten())
        self.register_buffer("transformed", torch.nonzero(~mask).flatten())
        if len(self.transformed) == 0 or len(self.kept) == 0:
            raise ValueError("mask must keep at least one feature True and leave at least one False")
        self.conditioner = zero_output_mlp(len(self.kept), hidden, depth, len(self.transformed) * (3 * bins - 1))

    def _spline(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        check_features(x, self.features, images=False)
        k = self.bins
        raw = self.conditioner(x.index_select(1, self.kept)).view(x.shape[0], len(self.transformed), 3 * k - 1)
        moved, log_derivative = rational_quadratic_spline(
            x.index_select(1, self.transformed), raw[..., :k], raw[..., k : 2 * k], raw[..., 2 * k :], self.bound,
            inverse=inverse,
        )
        return x.index_copy(1, self.transformed, moved), log_derivative.sum(dim=1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._spline(x, inverse=False)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        # the kept features are unchanged, so the conditioner sees the same input as forward
        return self._spline(y, inverse=True)[0]
