r"""Linear flow layers: ActNorm, LU-parametrised linear maps and 1x1 convolutions, fixed permutations."""

from __future__ import annotations

__all__ = ['ActNorm', 'LULinear', 'InvConv1x1', 'Permutation', 'Reverse']

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ibflow.checks import check_int
from ibflow.flows.base import Flow, check_features


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
        self.features = check_int("features", features, 1)
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

        check_features(x, self.features, images=True)
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
        check_features(x, self.features, images=True)
        if not self.initialized:
            if not self.training:
                self._require_initialized("forward in eval mode")
            self.initialize(x)
        y = (x + self._view(self.bias, x)) * self._view(self.log_scale, x).exp()
        pixels = math.prod(x.shape[2:])
        logdet = (self.log_scale.sum() * pixels).repeat(x.shape[0])
        return y, logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        check_features(y, self.features, images=True)
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
        check_features(x, self.features, images=True)
        pixels = math.prod(x.shape[2:])
        logdet = (self.log_s.sum() * pixels).repeat(x.shape[0])
        return self._mix(x, self.weight()), logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        check_features(y, self.features, images=True)
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
        super().__init__(check_int("features", features, 1))


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
        super().__init__(check_int("channels", channels, 1))


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
        check_features(x, self.features, images=True)
        return x[:, self.permutation], x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        check_features(y, self.features, images=True)
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
        features = check_int("features", features, 1)
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
        features = check_int("features", features, 1)
        super().__init__(torch.arange(features - 1, -1, -1))
