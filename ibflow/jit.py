"""Numba kernels compiled on first use: the one place that knows how the package's compiled loops are made.

Why lazily. Importing numba and loading a kernel from its cache costs about half a second; a process that
never runs a kernel (most of the package) should not pay it. The kernels are plain Python functions of
their module, compiled with ``numba.njit(cache=True, nogil=True)`` the first time one is asked for, their
machine code kept by numba beside the module, so each checkout compiles once and later processes load it.
Where numba cannot be imported (an unsupported platform) :data:`NUMBA` is false and the callers run their
PyTorch reference instead: only speed is lost.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

__all__ = ["NUMBA", "LazyKernels"]

NUMBA: bool = importlib.util.find_spec("numba") is not None
"""Whether numba can be imported here."""


class LazyKernels:
    """The compiled versions of the functions ``kernels`` of a module's ``namespace`` (its ``globals()``),
    compiled together on the first lookup. ``helpers`` are functions the kernels call: they are compiled
    first and put back into the namespace, because a kernel calls whatever the module global is when the
    kernel compiles.

    Example (nothing compiles until a kernel is asked for, so a wrong name costs nothing):
        >>> def _double(x):
        ...     return 2.0 * x
        >>> kernels = LazyKernels(globals(), kernels=("_double",))
        >>> kernels["_triple"]
        Traceback (most recent call last):
        ...
        KeyError: "no kernel '_triple'; the kernels are _double"
    """

    def __init__(self, namespace: dict[str, Any], kernels: Sequence[str], helpers: Sequence[str] = ()):
        missing = [name for name in (*kernels, *helpers) if not callable(namespace.get(name))]
        if missing:
            raise ValueError(f"LazyKernels: no function {', '.join(missing)} in the namespace")
        self._namespace = namespace
        self._kernels = tuple(kernels)
        self._helpers = tuple(helpers)
        self._compiled: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._kernels:
            raise KeyError(f"no kernel {name!r}; the kernels are {', '.join(self._kernels)}")
        if not self._compiled:
            import numba

            jit = numba.njit(cache=True, nogil=True)
            for helper in self._helpers:
                self._namespace[helper] = jit(self._namespace[helper])
            self._compiled.update({k: jit(self._namespace[k]) for k in self._kernels})
        return self._compiled[name]
