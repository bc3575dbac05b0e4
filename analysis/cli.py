"""What every analysis command does before its study runs: parse, validate, refuse bad arguments with exit 2."""

from __future__ import annotations

import argparse
from typing import Callable, Sequence, TypeVar

from analysis.plots import check_figure_path

__all__ = ["parse_study_args"]

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
