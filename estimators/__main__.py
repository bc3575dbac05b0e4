"""Command line: ``python -m estimators --x x.npy --y y.npy --method ksg`` prints I(X; Y) and its interval.

The methods, their one-line summaries and their flags all come from :data:`~estimators.ESTIMATORS`
and the options dataclasses, so a newly registered estimator (or an installed entry point) is on
the command line without editing this file. ``--method package.module:attribute`` runs a user's
estimator, with its options as ``--options '{"name": value}'``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from contracts.options import add_option_flags, json_object, make_options, option_specs, options_from_flags

from .registry import ESTIMATORS, estimate_mi
from .training import paired_arrays

__all__ = ["build_parser", "main"]

PROG = "python -m estimators"
# flags every method may use; each goes to the chosen method only if its options have that field
COMMON_OPTIONS = ("seed", "progress")


class _UsageError(Exception):
    """A mistake on the command line: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line, no usage block: the same form as every other usage error of this tool
        raise _UsageError(message)


def _parser_and_flags() -> tuple[argparse.ArgumentParser, dict[str, list[str]]]:
    entries = list(ESTIMATORS)
    width = max(len(e.name) for e in entries)
    listing = "\n".join(f"  {e.name:<{width}}  {e.summary}" for e in entries)
    p = _Parser(
        prog=PROG,
        description="Estimate I(X; Y) in nats (or bits with --bits) from two .npy arrays of shape (n, d).",
        epilog=f"methods:\n{listing}\n\nor package.module:attribute: a class, instance or function giving estimate(x, y) "
        "(options through --options).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--x", required=True, help="path to x.npy, shape (n, d_x)")
    p.add_argument("--y", required=True, help="path to y.npy, shape (n, d_y)")
    p.add_argument(
        "--method",
        default="ksg",
        metavar="METHOD",
        help=f"one of {', '.join(e.name for e in entries)} (listed below), or package.module:attribute (default: ksg)",
    )
    p.add_argument("--options", type=json_object, default=None, metavar="JSON", help="the method's options as a JSON object")
    p.add_argument("--bits", action="store_true", help="print bits instead of nats")
    p.add_argument("--json", default=None, help="also write the result to this JSON path")
    g = p.add_argument_group("method options", "each flag applies to the methods its help names; the method's own default otherwise")
    g.add_argument("--seed", dest="seed", type=int, default=None, help="seed, for every method that takes one (the built-in ones: default 0)")
    g.add_argument("--progress", dest="progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar of the trained methods (ignored by the others)")
    flags = add_option_flags(g, {e.name: e.options for e in entries})
    for name in COMMON_OPTIONS:
        flags.pop(name, None)
    return p, flags


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the estimators command line, built from the estimator registry."""
    return _parser_and_flags()[0]


def _load(path: str, name: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise _UsageError(f"--{name}: cannot read {path!r} as a .npy array ({e})") from None


def _check_output_file(flag: str, path: str) -> None:
    """Refuse ``path`` unless a file can be written there: not a folder, and an existing writable file
    or a new one in a folder that exists (or can be made under one) and takes a file, tried with an
    anonymous temporary file that leaves nothing behind (``os.access`` says yes to root everywhere)."""
    target = Path(os.path.abspath(path))
    if target.is_dir():
        raise _UsageError(f"{flag} {path!r} is a folder; give a file path such as result.json")
    base = target if target.exists() else target.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if target.exists() and not os.access(target, os.W_OK):
        raise _UsageError(f"{flag} {path!r}: the file exists and is not writable")
    if not base.is_dir():
        raise _UsageError(f"{flag} {path!r}: cannot create a file there, {str(base)!r} is not a folder")
    if target.exists():
        base = target.parent
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError:
        raise _UsageError(f"{flag} {path!r}: cannot create a file there, {str(base)!r} is not writable") from None


def _check_options(options_type: type, values: dict[str, Any], owner: str, from_json: set[str]) -> None:
    """Build the method's options dataclass (its ``__post_init__`` checks the ranges); an option's
    error is reported under the flag it came from (``--steps``), or ``--options`` for one given there."""
    try:
        make_options(options_type, values, owner=owner)
    except ValueError as e:
        name, _, rest = str(e).partition(" ")
        if name in values:
            where = f"--options {name}" if name in from_json else f"--{name.replace('_', '-')}"
            raise _UsageError(f"{where} {rest}") from None
        raise


def _method_options(args: argparse.Namespace, flags: dict[str, list[str]]) -> dict[str, Any]:
    entry = ESTIMATORS.get(args.method)
    owner = f"method {entry.name!r}"
    declared = {s.name for s in option_specs(entry.options)} if entry.options is not None else set()
    options = dict(args.options or {})
    given = options_from_flags(args, entry.options, flags, owner)
    if args.seed is not None:
        if "seed" not in declared:
            raise ValueError(f"--seed does not apply to {owner} (it has no seed option)")
        given["seed"] = args.seed
    if args.progress is not None and "progress" in declared:
        given["progress"] = args.progress
    twice = sorted(set(options) & set(given))
    if twice:
        raise ValueError(f"option {', '.join(twice)} given both as a flag and in --options")
    return {**options, **given}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a usage error)."""
    parser, flags = _parser_and_flags()
    try:
        args = parser.parse_args(argv)
        if args.json:
            _check_output_file("--json", args.json)
        options = _method_options(args, flags)
        entry = ESTIMATORS.get(args.method)
        if entry.options is not None:  # out-of-range options (steps=0, k=0, ...) refused before the data load
            _check_options(entry.options, options, f"method {entry.name!r}", set(args.options or {}))
        x, y = paired_arrays(_load(args.x, "x"), _load(args.y, "y"))
        est = estimate_mi(x, y, method=args.method, **options)
    except (_UsageError, ValueError) as e:  # ValueError: unknown method, bad option or bad data
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    scale, unit = (1 / math.log(2), "bits") if args.bits else (1.0, "nats")
    ci = None if est.ci is None else (est.ci[0] * scale, est.ci[1] * scale)
    ci_text = "no interval" if ci is None else f"95% interval [{ci[0]:.4f}, {ci[1]:.4f}]"
    print(f"I(X;Y) = {est.value * scale:.4f} {unit}  ({ci_text}; method {est.method}, n = {len(x)})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)  # checked creatable before the estimate
        with open(args.json, "w") as fh:
            json.dump({"method": est.method, "value": est.value * scale, "ci": ci, "unit": unit, "n": len(x)}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
