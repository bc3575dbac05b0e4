"""The one report writer of the analysis commands: JSON reports that state their unit, and printed tables."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = [
    "UNITS",
    "study_report",
    "json_default",
    "write_report",
    "read_report",
    "format_number",
    "ruled_table",
    "save_table",
]

UNITS = ("bits", "nats", "dB")
"""What a report's ``"unit"`` may say: rates in bits (rd_gap, image_rd, claims), mutual information in
nats (mi_bench, as its published tables), distortion in dB re the source variance (jscc)."""


def study_report(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A study's JSON report: ``fields`` in the order given (the published files keep their layout),
    checked for the three fields every report carries.

    Arguments:
        fields: the report's fields, in order. ``unit`` must be one of :data:`UNITS`; ``runtime_s`` is the
            wall time in seconds; ``settings`` is the study's settings, a dataclass (turned into a dict)
            or a mapping.

    Returns:
        The report as a dict, ready for :func:`write_report`.

    Example:
        >>> study_report({"unit": "bits", "runtime_s": 1.5, "settings": {"steps": 3}, "points": []})
        {'unit': 'bits', 'runtime_s': 1.5, 'settings': {'steps': 3}, 'points': []}
        >>> study_report({"unit": "bit", "runtime_s": 1.0, "settings": {}})
        Traceback (most recent call last):
        ...
        ValueError: a report's unit must be one of ('bits', 'nats', 'dB'), got 'bit'
    """
    missing = [k for k in ("unit", "runtime_s", "settings") if k not in fields]
    if missing:
        raise ValueError(f"a report needs the fields {missing}")
    if fields["unit"] not in UNITS:
        raise ValueError(f"a report's unit must be one of {UNITS}, got {fields['unit']!r}")
    report = dict(fields)
    settings = report["settings"]
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        report["settings"] = dataclasses.asdict(settings)
    elif not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a dataclass or a mapping, got {type(settings).__name__}")
    return report


def json_default(o: Any) -> Any:
    """What :func:`json.dumps` cannot write by itself: numpy scalars and arrays become Python
    numbers and lists; anything else is refused.

    Example:
        >>> import numpy as np
        >>> json.dumps({"a": np.float64(0.5), "b": np.arange(2), "c": np.bool_(True)}, default=json_default)
        '{"a": 0.5, "b": [0, 1], "c": true}'
    """
    import numpy as np  # here, not at the top: this module stays light for the CLIs' worker processes

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_report(path: str | Path, report: Mapping[str, Any]) -> Path:
    """Write ``report`` as indented JSON to ``path``, making its folders; returns the path.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     p = write_report(Path(tmp) / "new" / "r.json", {"unit": "bits", "points": [1.5]})
        ...     read_report(p)
        {'unit': 'bits', 'points': [1.5]}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=json_default))
    return path


def read_report(path: str | Path) -> dict[str, Any]:
    """A report written by :func:`write_report` (or a committed ``benchmarks/results/*.json``)."""
    report: dict[str, Any] = json.loads(Path(path).read_text())
    return report


def format_number(
    value: float | None, digits: int = 4, *, sign: bool = False, blank_nonfinite: bool = False,
    exponent_from: float | None = None,
) -> str:
    """A table cell: ``value`` with ``digits`` decimals, ``"-"`` where there is no value.

    Arguments:
        value: the number, or None for a missing one.
        digits: decimals.
        sign: always print the sign.
        blank_nonfinite: print ``"-"`` for NaN and infinities too (else ``nan``/``inf``).
        exponent_from: from this magnitude on, exponent notation (diverged estimates keep the columns
            readable).

    Example:
        >>> format_number(0.123456), format_number(None), format_number(-0.5, 2, sign=True)
        ('0.1235', '-', '-0.50')
        >>> format_number(float("nan"), blank_nonfinite=True), format_number(3e5, 3, exponent_from=1e4)
        ('-', '3.00e+05')
    """
    if value is None or (blank_nonfinite and not math.isfinite(value)):
        return "-"
    spec = "+" if sign else ""
    if exponent_from is not None and abs(value) >= exponent_from:
        return f"{value:{spec}.2e}"
    return f"{value:{spec}.{digits}f}"


def ruled_table(head: str, rows: Sequence[str]) -> str:
    """The layout of every printed table: the header, a rule as wide as the header, the rows.

    Example:
        >>> print(ruled_table("  a   b", ["  1   2"]))
          a   b
        -------
          1   2
    """
    return "\n".join([head, "-" * len(head), *rows])


def save_table(path: str | Path, text: str) -> Path:
    """Write a printed table (or a whole printed report) to a text file, making its folders.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     save_table(Path(tmp) / "t" / "table.txt", "a b").read_text()
        'a b\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path
