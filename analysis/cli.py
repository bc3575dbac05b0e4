"""What every analysis command does before its study runs: parse, validate, refuse bad arguments with
exit 2; and how a command reads the options of the parts (sources, codecs, samplers, channels) it takes."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence, TypeVar

from analysis.plots import check_figure_path
from contracts import Entry, Registry, json_object, options_from_flags

__all__ = ["parse_study_args", "json_object", "part_listing", "part_options"]  # json_object: contracts.options

S = TypeVar("S")


def parse_study_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, settings_from_args: Callable[[argparse.Namespace], S]
) -> tuple[argparse.Namespace, S]:
    """Parse ``argv``, build the study's settings and check the ``--plot`` path (if the parser has one),
    so that every bad argument is refused before anything is trained.

    Arguments:
        parser: the command's parser (its ``build_parser()``).
        argv: the arguments (None: ``sys.argv[1:]``).
        settings_from_args: builds the study's settings; raises ValueError naming the bad argument.

    Returns:
        (the parsed arguments, the settings). A ValueError becomes ``parser.error``: the message on
        stderr and exit status 2.

    Example:
        >>> p = argparse.ArgumentParser(prog="demo")
        >>> _ = p.add_argument("--steps", type=int, default=3)
        >>> _ = p.add_argument("--plot")
        >>> args, steps = parse_study_args(p, ["--steps", "5"], lambda a: a.steps)
        >>> steps
        5
    """
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        if getattr(args, "plot", None):
            check_figure_path(args.plot)
    except ValueError as e:  # json.JSONDecodeError is a ValueError too
        parser.error(str(e))
    return args, settings


def part_listing(entries: Sequence[Entry[Any]], sep: str = "; ") -> str:
    """``name: summary`` for each part, for a flag's help (argparse expands %-formats in help text, so
    a summary's own % is doubled to stay a literal).

    Example:
        >>> part_listing([Entry("awgn", object, summary="y = s + n.")])
        'awgn: y = s + n'
    """
    return sep.join(f"{e.name}: {e.summary.rstrip('.')}" for e in entries).replace("%", "%%")


def part_options(
    args: argparse.Namespace, registry: Registry[Any], spec: str, flags: dict[str, list[str]], from_json: dict[str, Any] | None,
    flag: str, json_flag: str,
) -> dict[str, Any]:
    """The options of the part ``spec`` names in ``registry``: those of its JSON flag, then the part's
    own flags given on the command line.

    Raises ``ValueError`` (exit 2 through :func:`parse_study_args`), naming ``flag``, for an unknown
    part; naming the flag for one the chosen part does not take; and for an option given both ways.
    """
    try:
        entry = registry.get(spec)  # a registered name, an entry point or package.module:attribute
    except ValueError as e:
        raise ValueError(f"{flag}: {e}") from None
    given = options_from_flags(args, entry.options, flags, f"{registry.kind} {entry.name!r}")
    from_json = dict(from_json or {})
    twice = sorted(set(given) & set(from_json))
    if twice:
        raise ValueError(f"{registry.kind} option {', '.join(twice)} given both as a flag and in {json_flag}")
    return {**from_json, **given}
