"""Blahut-Arimoto with certified upper and lower bounds on R(D), in nats: discrete and continuous sources.

The subpackage is split by concern: :mod:`~synthetic.ba.checks` (argument checks),
:mod:`~synthetic.ba.operators` (the dense and FFT maps and their certificates),
:mod:`~synthetic.ba.squarem` (the accelerated iteration), :mod:`~synthetic.ba.solver` (points at
given slopes), :mod:`~synthetic.ba.roots` and :mod:`~synthetic.ba.target` (the target-D search
and time sharing), :mod:`~synthetic.ba.grid` and :mod:`~synthetic.ba.continuous` (continuous
sources and their certificates).
"""

from synthetic.ba.continuous import (
    ContinuousRDCertificate,
    certify_rd_continuous,
    rd_bounds_continuous,
)
from synthetic.ba.grid import GridSource, grid_source
from synthetic.ba.operators import GridSquaredError
from synthetic.ba.points import BAConvergenceWarning, BAPoint
from synthetic.ba.solver import blahut_arimoto
from synthetic.ba.target import blahut_arimoto_at_distortion

__all__ = [
    "BAConvergenceWarning",
    "BAPoint",
    "ContinuousRDCertificate",
    "GridSource",
    "GridSquaredError",
    "blahut_arimoto",
    "blahut_arimoto_at_distortion",
    "certify_rd_continuous",
    "grid_source",
    "rd_bounds_continuous",
]
