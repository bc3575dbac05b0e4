"""A part's options as a dataclass: checked construction from a mapping, and command-line flags
built from the fields, so that every CLI offers exactly the options its parts declare.

A field's help text and choices come from its metadata:
``k: int = field(default=3, metadata={"help": "neighbours"})``; ``"parse"`` names the function that
reads the flag's text (``json.loads`` for a nested list such as a covariance matrix).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

__all__ = ["OptionSpec", "option_specs", "make_options", "add_option_flags", "options_from_flags", "json_object"]


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One option: its field ``name``, the flag (``--batch-size``), the element type, whether it
    takes a list, the allowed ``choices`` (or ``None``), its default and help."""

    name: str
    flag: str
    type: type
    many: bool
    choices: tuple[Any, ...] | None
    default: Any
    help: str
    parse: Any = None


def _unwrap(tp: Any) -> tuple[type, bool, tuple[Any, ...] | None]:
    """(element type, takes a list, choices) of an annotation such as ``int``, ``float | None``,
    ``Literal["a", "b"]`` or ``tuple[float, ...]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"option annotation {tp!r}: only X | None unions are supported")
        return _unwrap(args[0])
    if origin is Literal:
        values = typing.get_args(tp)
        return type(values[0]), False, tuple(values)
    if origin in (tuple, list, typing.Sequence, Iterable):
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else str
        element, _, choices = _unwrap(inner)
        return element, True, choices
    if isinstance(tp, type):
        return tp, False, None
    raise TypeError(f"unsupported option annotation {tp!r}")


def option_specs(options: type) -> list[OptionSpec]:
    """The options of a dataclass type, in field order.

    Example:
        >>> @dataclasses.dataclass
        ... class Opts:
        ...     k: int = dataclasses.field(default=3, metadata={"help": "neighbours"})
        ...     copula: bool = False
        >>> [(s.flag, s.type.__name__, s.default) for s in option_specs(Opts)]
        [('--k', 'int', 3), ('--copula', 'bool', False)]
    """
    if not (isinstance(options, type) and dataclasses.is_dataclass(options)):
        raise TypeError(f"expected a dataclass type, got {options!r}")
    hints = typing.get_type_hints(options)
    specs = []
    for f in dataclasses.fields(options):
        if not f.init:
            continue
        element, many, choices = _unwrap(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        choices = tuple(f.metadata.get("choices", choices) or ()) or None
        parse = f.metadata.get("parse")
        specs.append(
            OptionSpec(f.name, "--" + f.name.replace("_", "-"), element, many and parse is None, choices, default, f.metadata.get("help", ""), parse)
        )
    return specs


def make_options(options: type, values: Mapping[str, Any] | None = None, *, owner: str = "") -> Any:
    """Build the options dataclass from a mapping, refusing names it does not have.

    Example:
        >>> @dataclasses.dataclass
        ... class Opts:
        ...     k: int = 3
        >>> make_options(Opts, {"k": 5})
        Opts(k=5)
        >>> make_options(Opts, {"steps": 5}, owner="method 'ksg'")
        Traceback (most recent call last):
        ...
        ValueError: method 'ksg' takes no option 'steps' (its options: k)
    """
    values = dict(values or {})
    names = [s.name for s in option_specs(options)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        who = owner or options.__name__
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(f"{who} takes no option{plural} {', '.join(repr(u) for u in unknown)} (its options: {', '.join(names) or 'none'})")
    return options(**values)


def add_option_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, owners: Mapping[str, type | None]) -> dict[str, list[str]]:
    """Add one flag per option name found in any of ``owners`` (part name -> options dataclass).

    Every flag defaults to ``None`` (not given), so that a flag can be checked against the part that
    was chosen; its help lists the parts that take it and their defaults. A flag whose name is
    already on the parser (a study's own ``--seed``, say) is left to its owner and not returned.
    Returns, per option name whose flag was added here, the parts that take it.

    Example:
        >>> @dataclasses.dataclass
        ... class Opts:
        ...     seed: int = 0
        ...     k: int = 3
        >>> p = argparse.ArgumentParser()
        >>> _ = p.add_argument("--seed", type=int)
        >>> add_option_flags(p.add_argument_group("method"), {"ksg": Opts})
        {'k': ['ksg']}
        >>> p.parse_args(["--k", "5"])
        Namespace(seed=None, k=5)
    """
    takers: dict[str, list[tuple[str, OptionSpec]]] = {}
    for owner, options in owners.items():
        for spec in option_specs(options) if options is not None else []:
            takers.setdefault(spec.name, []).append((owner, spec))
    # an argument group shares its parser's table of option strings: a flag the parser (or any group)
    # already has, such as a study's own --seed, is left to that owner
    existing = set(getattr(parser, "_option_string_actions", {}))
    added: dict[str, list[str]] = {}
    for name, specs in takers.items():
        first = specs[0][1]
        if first.flag in existing:
            continue
        added[name] = [o for o, _ in specs]
        where = ", ".join(f"{o} (default {s.default!r})" if s.default is not dataclasses.MISSING else o for o, s in specs)
        text = f"{first.help + '; ' if first.help else ''}for {where}"
        if first.type is bool:
            parser.add_argument(first.flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            parser.add_argument(
                first.flag,
                dest=name,
                type=first.parse or first.type,
                default=None,
                choices=first.choices,
                nargs="+" if first.many else None,
                help=text,
            )
    return added


def options_from_flags(args: argparse.Namespace, options: type | None, flags: Mapping[str, list[str]], owner: str) -> dict[str, Any]:
    """The options given on the command line for the chosen part ``owner``; a flag given that this
    part does not take raises ``ValueError`` naming the flag and the parts that do take it."""
    chosen = {s.name for s in option_specs(options)} if options is not None else set()
    values: dict[str, Any] = {}
    for name, parts in flags.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if name not in chosen:
            raise ValueError(f"--{name.replace('_', '-')} does not apply to {owner} (it is an option of {', '.join(parts)})")
        values[name] = tuple(value) if isinstance(value, list) else value
    return values


def json_object(text: str) -> dict[str, Any]:
    """An argparse type for a part's options given as one JSON object (``--options '{"k": 5}'``);
    anything else is a usage error naming the flag.

    Example:
        >>> json_object('{"k": 5}')
        {'k': 5}
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not JSON ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object such as '{{\"k\": 5}}', got {text!r}")
    return value
