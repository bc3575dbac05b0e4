"""ibflow.jit.LazyKernels: nothing compiles before a kernel is asked for, helpers compile first."""

from __future__ import annotations

import pytest

from ibflow.jit import LazyKernels


def test_unknown_names_are_refused_before_anything_compiles():
    with pytest.raises(ValueError, match="no function _absent"):
        LazyKernels({"_f": lambda x: x}, kernels=("_f", "_absent"))
    kernels = LazyKernels({"_f": lambda x: x}, kernels=("_f",))
    with pytest.raises(KeyError, match="the kernels are _f"):
        kernels["_g"]
