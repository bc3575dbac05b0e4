"""Reference answers for distributed source coding (nats): Wyner-Ziv and the quadratic Gaussian two-terminal problem.

Split by concern: :mod:`~synthetic.distributed.wyner_ziv_gaussian` (Gaussian source, Gaussian
side information at the decoder), :mod:`~synthetic.distributed.two_terminal` (two encoders, one
decoder, per-source MSE; Berger-Tung test channels and a brute-force check),
:mod:`~synthetic.distributed.wyner_ziv_binary` (doubly symmetric binary source, the closed form of
Wyner & Ziv 1976) and :mod:`~synthetic.distributed.wyner_ziv_ba` (an alternating-minimisation
algorithm for Wyner-Ziv on finite alphabets, after Dupuis, Yu & Willems 2004).
"""

from synthetic.distributed.two_terminal import (
    BergerTungPoint,
    SumRateSearch,
    berger_tung_gaussian,
    centralized_gaussian_rd,
    two_terminal_noise_variances,
    two_terminal_regime,
    two_terminal_sum_rate,
    two_terminal_sum_rate_search,
)
from synthetic.distributed.wyner_ziv_ba import WynerZivPoint, wyner_ziv_blahut_arimoto
from synthetic.distributed.wyner_ziv_binary import (
    binary_conditional_rd,
    wyner_ziv_binary_critical_distortion,
    wyner_ziv_binary_g,
    wyner_ziv_binary_rd,
    wyner_ziv_binary_tangent_point,
)
from synthetic.distributed.wyner_ziv_gaussian import (
    conditional_variance,
    gaussian_rd_without_side_information,
    wyner_ziv_gaussian_rd,
    wz_gaussian_estimator_weights,
    wz_gaussian_test_channel,
)

__all__ = [
    "BergerTungPoint",
    "SumRateSearch",
    "WynerZivPoint",
    "berger_tung_gaussian",
    "binary_conditional_rd",
    "centralized_gaussian_rd",
    "conditional_variance",
    "gaussian_rd_without_side_information",
    "two_terminal_noise_variances",
    "two_terminal_regime",
    "two_terminal_sum_rate",
    "two_terminal_sum_rate_search",
    "wyner_ziv_binary_critical_distortion",
    "wyner_ziv_binary_g",
    "wyner_ziv_binary_rd",
    "wyner_ziv_binary_tangent_point",
    "wyner_ziv_blahut_arimoto",
    "wyner_ziv_gaussian_rd",
    "wz_gaussian_estimator_weights",
    "wz_gaussian_test_channel",
]
