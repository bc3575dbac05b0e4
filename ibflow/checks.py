"""Argument checks shared by every ibflow module: one wording for every bad-argument message."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

__all__ = ["check_int", "check_positive", "check_choice"]


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, refusing bools, non-integers and values below ``minimum``.

    Example:
        >>> check_int("depth", 3, 1)
        3
        >>> check_int("depth", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: depth must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float, refusing anything not finite and > 0.

    Example:
        >>> check_positive("bound", 4)
        4.0
    """
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError naming them.

    Example:
        >>> check_choice("decoder", "learned", ("learned", "inverse"))
        'learned'
    """
    if value not in choices:
        raise ValueError(f"{name} must be {' or '.join(repr(c) for c in choices)}, got {value!r}")
    return value
