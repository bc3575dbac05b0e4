r"""Invertible flow layers with exact log-determinants, for vectors and (where noted) images."""

from __future__ import annotations

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "ConditionalAffineCoupling",
    "ElementwiseSpline",
    "Flow",
    "FlowSequential",
    "InvConv1x1",
    "LULinear",
    "Permutation",
    "Reverse",
    "build_vector_flow",
]

import math
import numbers
from collections.abc import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .spline import (
    DEFAULT_MIN_BIN_HEIGHT,
    DEFAULT_MIN_BIN_WIDTH,
    DEFAULT_MIN_DERIVATIVE,
    rational_quadratic_spline,
)


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def _check_input(x: Tensor, features: int, images: bool) -> None:
    if x.dim() == 2 or (images and x.dim() > 2):
        if x.shape[1] == features:
            return
    expected = f"(batch, {features}" + (", ...)" if images else ")")
    raise ValueError(f"expected input of shape {expected}, got {tuple(x.shape)}")


class Flow(nn.Module):
    r"""Base class of invertible layers :math:`y = f(x; c)` with a tractable Jacobian.

    Subclasses implement :meth:`forward`, returning the output together with
    :math:`\log |\det \partial y / \partial x|` per sample, and :meth:`inverse`. Every layer
    accepts an optional ``context`` tensor :math:`c` of shape ``(batch, context_features)``;
    layers that are not conditional ignore it.
    """

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""
        Arguments:
            x: The input, with shape ``(batch, features)`` (or ``(batch, C, H, W)`` for layers
                that support images).
            context: The context, with shape ``(batch, context_features)``, or ``None``.

        Returns:
            The output :math:`y`, same shape as ``x``, and :math:`\log |\det \partial y / \partial
            x|` per sample, with shape ``(batch,)``.
        """

        raise NotImplementedError

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        r"""
        Arguments:
            y: The output of :meth:`forward`.
            context: The context that was passed to :meth:`forward`, or ``None``.

        Returns:
            The input :math:`x = f^{-1}(y; c)`.
        """

        raise NotImplementedError


class ActNorm(Flow):
    r"""Creates a per-feature affine layer with data-dependent initialisation (Glow ActNorm).

    .. math:: y = (x + b) \odot \exp(s)

    On the first :meth:`forward` call in training mode the layer sets :math:`b = -\mu` and
    :math:`s = -\log \sigma` from the batch's per-feature mean and (biased) standard deviation, so
    that this batch comes out with zero mean and unit variance per feature (Kingma & Dhariwal 2018,
    sec. 3.1). For images ``(batch, C, H, W)`` the statistics are taken over batch and pixels and
    the log-determinant is :math:`H W \sum_c s_c`.

    Whether the layer is initialised is the boolean buffer ``initialized``, which is part of the
    ``state_dict``: a loaded layer does not initialise again.

    An uninitialised layer refuses to run rather than act as the identity: :meth:`inverse`, and
    :meth:`forward` in evaluation mode, raise a :class:`RuntimeError`. Run one forward pass in
    training mode on real data first, or call :meth:`initialize` explicitly.

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma et al., 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        features: The number of features (channels for images), at least 1.

    Example:
        >>> layer = ActNorm(3)
        >>> x = 5 + 2 * torch.randn(256, 3)
        >>> y, logdet = layer(x)
        >>> torch.allclose(y.mean(0), torch.zeros(3), atol=1e-5), logdet.shape
        (True, torch.Size([256]))
        >>> torch.allclose(layer.inverse(y), x, atol=1e-5)
        True
    """

    initialized: Tensor

    def __init__(self, features: int):
        super().__init__()
        self.features = _check_int("features", features, 1)
        self.bias = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialized", torch.tensor(False))

    def _view(self, parameter: Tensor, x: Tensor) -> Tensor:
        return parameter.view(1, -1, *([1] * (x.dim() - 2)))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        r"""Sets bias and scale so that ``x`` maps to zero mean and unit variance per feature.

        Arguments:
            x: A batch, with shape ``(batch, features)`` or ``(batch, features, H, W)``, holding
                at least two values per feature.
        """

        _check_input(x, self.features, images=True)
        values = x.detach().transpose(0, 1).reshape(self.features, -1)
        if values.shape[1] < 2:
            raise ValueError(
                "ActNorm's data-dependent initialisation needs at least 2 values per feature "
                f"(batch size times pixels), got input of shape {tuple(x.shape)}"
            )
        mean = values.mean(dim=1)
        # The floor only matters for a constant feature, where any finite scale will do.
        std = values.std(dim=1, unbiased=False).clamp_min(1e-6)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-std.log())
        self.initialized.fill_(True)

    def _require_initialized(self, action: str) -> None:
        if not self.initialized:
            raise RuntimeError(
                f"ActNorm {action} before data-dependent initialisation: run one forward pass in "
                "training mode on a data batch, or call .initialize(x), first"
            )

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_input(x, self.features, images=True)
        if not self.initialized:
            if not self.training:
                self._require_initialized("forward in eval mode")
            self.initialize(x)
        y = (x + self._view(self.bias, x)) * self._view(self.log_scale, x).exp()
        pixels = math.prod(x.shape[2:])
        logdet = (self.log_scale.sum() * pixels).repeat(x.shape[0])
        return y, logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        _check_input(y, self.features, images=True)
        self._require_initialized("inverse")
        return y * self._view(-self.log_scale, y).exp() - self._view(self.bias, y)


class _LUDecomposedLinear(Flow):
    r"""The shared LU parameterisation of :class:`LULinear` and :class:`InvConv1x1`."""

    permutation: Tensor
    sign: Tensor

    def __init__(self, features: int):
        super().__init__()
        self.features = features
        # A Haar-random orthogonal matrix (QR with the sign of diag(R) fixed), then W = P L U.
        # Factorised in float64, so W is orthogonal to the precision of the stored dtype.
        q, r = torch.linalg.qr(torch.randn(features, features, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        p, lower, upper = (
            factor.to(torch.get_default_dtype()) for factor in torch.linalg.lu(q)
        )
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", p)
        self.register_buffer("sign", torch.sign(diagonal))
        self.lower = nn.Parameter(torch.tril(lower, -1))
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(diagonal.abs().log())

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.features, dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * self.log_s.exp())
        return lower, upper

    def weight(self) -> Tensor:
        r"""The weight :math:`W = P L (U + \operatorname{diag}(\operatorname{sign} e^{\log s}))`."""

        lower, upper = self._factors()
        return self.permutation @ lower @ upper

    def inverse_weight(self) -> Tensor:
        r"""The inverse weight :math:`W^{-1}`, by two triangular solves (no general inverse)."""

        lower, upper = self._factors()
        w = torch.linalg.solve_triangular(
            lower, self.permutation.T, upper=False, unitriangular=True
        )
        return torch.linalg.solve_triangular(upper, w, upper=True)

    @staticmethod
    def _mix(x: Tensor, weight: Tensor) -> Tensor:
        # W acting on dimension 1 at every other index: a linear map on vectors, a 1x1
        # convolution on images. Written as a matmul rather than F.conv2d because cuDNN
        # convolutions may run in TF32 on Ampere+ GPUs by default (torch.backends.cudnn.allow_tf32),
        # which would cost the float32 round trip about 3 decimal digits; matmuls do not.
        return torch.movedim(F.linear(torch.movedim(x, 1, -1), weight), -1, 1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_input(x, self.features, images=True)
        pixels = math.prod(x.shape[2:])
        logdet = (self.log_s.sum() * pixels).repeat(x.shape[0])
        return self._mix(x, self.weight()), logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        _check_input(y, self.features, images=True)
        return self._mix(y, self.inverse_weight())


class LULinear(_LUDecomposedLinear):
    r"""Creates an invertible linear layer :math:`y = W x` in LU-decomposed form.

    .. math:: W = P L (U + \operatorname{diag}(\operatorname{sign} \cdot \exp(\log s)))

    with a fixed permutation :math:`P`, a unit-lower-triangular :math:`L`, a strictly upper
    triangular :math:`U` and fixed signs, so :math:`\log |\det W| = \sum \log s` (Kingma &
    Dhariwal 2018, sec. 3.2). :math:`W` starts as a random orthogonal matrix drawn with torch's
    global random number generator. On images ``(batch, C, H, W)`` the map acts on channels at
    every pixel (exactly :class:`InvConv1x1`) and the log-determinant is :math:`H W \sum \log s`.

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma et al., 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        features: The number of features, at least 1.

    Example:
        >>> layer = LULinear(4)
        >>> x = torch.randn(8, 4)
        >>> y, logdet = layer(x)
        >>> torch.allclose(layer.inverse(y), x, atol=1e-5)
        True
    """

    def __init__(self, features: int):
        super().__init__(_check_int("features", features, 1))


class InvConv1x1(_LUDecomposedLinear):
    r"""Creates an invertible 1x1 convolution over channels in LU-decomposed form (Glow).

    This is :class:`LULinear` under its Glow name: the same parameterisation and the same code,
    applied to images ``(batch, C, H, W)`` as a 1x1 convolution (and to ``(batch, C)`` vectors as
    a linear map). The log-determinant is :math:`H W \sum \log s`. The convolution is computed
    as a matrix product over channels, which keeps full float32 precision on GPUs where cuDNN
    would use TF32.

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma et al., 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        channels: The number of channels, at least 1.

    Example:
        >>> layer = InvConv1x1(3)
        >>> x = torch.randn(2, 3, 5, 5)
        >>> y, logdet = layer(x)
        >>> y.shape, logdet.shape
        (torch.Size([2, 3, 5, 5]), torch.Size([2]))
    """

    def __init__(self, channels: int):
        super().__init__(_check_int("channels", channels, 1))


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
        hidden = _check_int("hidden", hidden, 1)
        depth = _check_int("depth", depth, 1)
        self.scale_bound = _check_positive("scale_bound", scale_bound)

        mask = _as_mask(mask, features)
        self.register_buffer("kept", torch.nonzero(mask).flatten())
        self.register_buffer("transformed", torch.nonzero(~mask).flatten())
        if len(self.transformed) == 0:
            raise ValueError("mask must leave at least one feature False (transformed)")
        if len(self.kept) + context_features == 0:
            raise ValueError(
                "mask must keep at least one feature True (the conditioner needs an input)"
            )

        layers: list[nn.Module] = []
        width = len(self.kept) + context_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        last = nn.Linear(width, 2 * len(self.transformed))
        # Zero output layer: log-scale and shift start at 0, so the coupling is the identity.
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.conditioner = nn.Sequential(*layers, last)

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
        _check_input(x, self.features, images=False)
        log_scale, shift = self._log_scale_and_shift(x, context)
        moved = x.index_select(1, self.transformed) * log_scale.exp() + shift
        return x.index_copy(1, self.transformed, moved), log_scale.sum(dim=1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        _check_input(y, self.features, images=False)
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
        features = _check_int("features", features, 1)
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
            _check_int("features", features, 1),
            _check_int("context_features", context_features, 1),
            hidden,
            depth,
            mask,
            scale_bound,
        )


class _FixedPermutation(Flow):
    permutation: Tensor
    inverse_permutation: Tensor

    def __init__(self, permutation: Tensor):
        super().__init__()
        self.features = len(permutation)
        # Buffers, so the permutation is saved in (and restored from) the state_dict.
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_input(x, self.features, images=True)
        return x[:, self.permutation], x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        _check_input(y, self.features, images=True)
        return y[:, self.inverse_permutation]


class Permutation(_FixedPermutation):
    r"""Creates a fixed random permutation of the features (dimension 1); log-determinant 0.

    Arguments:
        features: The number of features (channels for images), at least 1.
        seed: The seed of the random permutation; ``None`` draws it from torch's global
            random number generator.

    Example:
        >>> layer = Permutation(5, seed=0)
        >>> x = torch.randn(2, 5)
        >>> torch.equal(layer.inverse(layer(x)[0]), x)
        True
    """

    def __init__(self, features: int, seed: int | None = None):
        features = _check_int("features", features, 1)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        super().__init__(torch.randperm(features, generator=generator))


class Reverse(_FixedPermutation):
    r"""Creates the permutation that reverses the order of the features; log-determinant 0.

    Arguments:
        features: The number of features (channels for images), at least 1.

    Example:
        >>> Reverse(3)(torch.tensor([[1.0, 2.0, 3.0]]))[0]
        tensor([[3., 2., 1.]])
    """

    def __init__(self, features: int):
        features = _check_int("features", features, 1)
        super().__init__(torch.arange(features - 1, -1, -1))


class ElementwiseSpline(Flow):
    r"""Creates a learned monotone rational-quadratic spline applied to each feature.

    Each feature has its own spline with ``bins`` bins on :math:`[-B, B]` (the same interval in
    x and y) and the identity outside, joined with slope 1 (linear tails; Durkan et al. 2019,
    eqs. 4-7, with the analytic inverse of Appendix A). The parameters are free (not conditioned
    on anything), so this is the layer that makes a 1-D flow nonlinear.

    At initialisation all bins are equal and all knot slopes are 1, which makes the spline the
    identity exactly in exact arithmetic; in floating point :math:`|y - x|` and the
    log-determinant are within a few ulps of :math:`B` (below 1e-5 in float32, 1e-12 in float64).

    References:
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        features: The number of features, at least 1.
        bins: The number of bins :math:`K`, at least 2 (and below ``1 / min_bin_width``).
        bound: The half-width :math:`B > 0` of the interval where the spline acts.
        min_bin_width: Floor on a bin's width as a fraction of :math:`2B`.
        min_bin_height: Floor on a bin's height as a fraction of :math:`2B`.
        min_derivative: Floor on an interior knot slope.

    Example:
        >>> layer = ElementwiseSpline(2, bins=8, bound=4.0)
        >>> x = torch.randn(16, 2)
        >>> y, logdet = layer(x)
        >>> torch.allclose(y, x, atol=1e-5)  # identity at initialisation
        True
    """

    def __init__(
        self,
        features: int,
        bins: int = 8,
        bound: float = 4.0,
        min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
        min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
        min_derivative: float = DEFAULT_MIN_DERIVATIVE,
    ):
        super().__init__()
        self.features = _check_int("features", features, 1)
        bins = _check_int("bins", bins, 2)
        self.bound = _check_positive("bound", bound)
        for name, floor in (("min_bin_width", min_bin_width), ("min_bin_height", min_bin_height)):
            if not (0 <= floor and floor * bins < 1):
                raise ValueError(
                    f"bins * {name} must be < 1 and {name} >= 0 (the floors must fit in the "
                    f"interval), got bins={bins}, {name}={floor}"
                )
        if not 0 <= min_derivative < 1:
            raise ValueError(f"min_derivative must be in [0, 1), got {min_derivative}")
        self.bins = bins
        self.min_bin_width = min_bin_width
        self.min_bin_height = min_bin_height
        self.min_derivative = min_derivative
        self.widths = nn.Parameter(torch.zeros(features, bins))
        self.heights = nn.Parameter(torch.zeros(features, bins))
        # All-zero parameters are the identity spline (see rational_quadratic_knots).
        self.derivatives = nn.Parameter(torch.zeros(features, bins - 1))

    def _spline(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        _check_input(x, self.features, images=False)
        return rational_quadratic_spline(
            x,
            self.widths,
            self.heights,
            self.derivatives,
            self.bound,
            inverse=inverse,
            min_bin_width=self.min_bin_width,
            min_bin_height=self.min_bin_height,
            min_derivative=self.min_derivative,
        )

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y, log_derivative = self._spline(x, inverse=False)
        return y, log_derivative.sum(dim=1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return self._spline(y, inverse=True)[0]


class FlowSequential(Flow):
    r"""Creates the composition of flows, applied in the given order.

    The log-determinants add up; :meth:`inverse` applies the inverses in reverse order. The
    ``context`` is passed to every layer; layers that are not conditional ignore it.

    Arguments:
        flows: The layers, each a :class:`Flow`.

    Example:
        >>> flow = FlowSequential(ActNorm(2), LULinear(2), AffineCoupling(2, hidden=8))
        >>> x = torch.randn(32, 2)
        >>> z, logdet = flow(x)
        >>> torch.allclose(flow.inverse(z), x, atol=1e-5)
        True
    """

    def __init__(self, *flows: Flow):
        super().__init__()
        for index, flow in enumerate(flows):
            if not isinstance(flow, Flow):
                raise TypeError(f"flows[{index}] must be a Flow, got {type(flow).__name__}")
        self.flows = nn.ModuleList(flows)

    def __len__(self) -> int:
        return len(self.flows)

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows)

    def __getitem__(self, index: int) -> Flow:
        return self.flows[index]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for flow in self.flows:
            x, flow_logdet = flow(x, context)
            logdet = logdet + flow_logdet
        return x, logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        for flow in reversed(self.flows):
            y = flow.inverse(y, context)
        return y


def build_vector_flow(
    features: int,
    depth: int = 4,
    hidden: int = 64,
    spline_bins: int | None = 8,
) -> FlowSequential:
    r"""Builds a default flow for small vectors of shape ``(batch, features)``.

    - ``features == 1``: ``depth`` blocks of :class:`ActNorm` -> :class:`ElementwiseSpline`,
      then a final :class:`ActNorm` that sets the output scale (the spline is the identity outside
      its interval). The ActNorm in front puts the data inside the spline's interval
      :math:`[-4, 4]` at initialisation. With ``spline_bins=None`` the flow is a single
      :class:`ActNorm`, i.e. affine (optimal for a Gaussian source; more depth would add nothing).
    - ``features >= 2``: ``depth`` Glow-like blocks of :class:`ActNorm` ->
      [:class:`ElementwiseSpline`] -> :class:`LULinear` -> :class:`AffineCoupling`, the
      coupling masks alternating between the first and the second half of the features. The
      spline is left out when ``spline_bins`` is ``None``.

    Every ActNorm initialises on the first forward pass in training mode, so run one training
    batch through the flow before calling :meth:`Flow.inverse` or evaluating it.

    Arguments:
        features: The number of features, at least 1.
        depth: The number of blocks, at least 1.
        hidden: The width of the coupling conditioners' hidden layers, at least 1.
        spline_bins: The number of bins of each :class:`ElementwiseSpline` (at least 2), or
            ``None`` for no splines.

    Returns:
        The flow, initialised close to the identity (up to the random orthogonal LULinear maps).

    Example:
        >>> flow = build_vector_flow(1, depth=2)
        >>> [type(f).__name__ for f in flow]
        ['ActNorm', 'ElementwiseSpline', 'ActNorm', 'ElementwiseSpline', 'ActNorm']
        >>> z, logdet = flow(torch.randn(64, 1))
    """

    features = _check_int("features", features, 1)
    depth = _check_int("depth", depth, 1)
    hidden = _check_int("hidden", hidden, 1)
    if spline_bins is not None:
        spline_bins = _check_int("spline_bins", spline_bins, 2)

    flows: list[Flow] = []
    if features == 1:
        if spline_bins is None:
            return FlowSequential(ActNorm(1))
        for _ in range(depth):
            flows += [ActNorm(1), ElementwiseSpline(1, bins=spline_bins)]
        flows.append(ActNorm(1))
        return FlowSequential(*flows)

    mask = torch.arange(features) < features // 2
    for block in range(depth):
        flows.append(ActNorm(features))
        if spline_bins is not None:
            flows.append(ElementwiseSpline(features, bins=spline_bins))
        flows.append(LULinear(features))
        block_mask = mask if block % 2 == 0 else ~mask
        flows.append(AffineCoupling(features, hidden=hidden, mask=block_mask))
    return FlowSequential(*flows)
