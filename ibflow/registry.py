"""The codec and channel registries: every part registered by a decorator, found by name, entry point or path."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from contracts import Registry, make_options

__all__ = [
    "CODECS", "CHANNELS", "register_codec", "register_channel", "get_codec", "get_channel", "build_part", "part_name",
    "accepts_keyword",
]

T = TypeVar("T")

CODECS: Registry[Any] = Registry("codec", group="ibflow.codecs")
"""Codecs by name; tags ``"vector"`` (inputs (n, dim), built as ``make(dim, **options)``), ``"image"``
(inputs (N, C, H, W), ``make(**options)``), ``"jscc"`` (analog codecs over a channel) and ``"distributed"``
(several sources coded apart: inputs the sources side by side, built as ``make(dim_a, dim_b, **options)``:
Wyner-Ziv [x, y] with y at the decoder only, two-terminal [x1, x2] with one encoder each; their
bitstreams need fitted coset codes, :mod:`ibflow.vector.side_coding`)."""

CHANNELS: Registry[Any] = Registry("channel", group="ibflow.channels")
"""Channels by name, built as ``make(snr_db, **options)``."""


def _named(registry: Registry[Any], name: str, options: type | None, summary: str | None, tags: Iterable[str]) -> Callable[[T], T]:
    register = registry.register(name, options=options, summary=summary, tags=tags)

    def decorate(obj: T) -> T:
        obj = register(obj)
        if isinstance(obj, type):  # a class knows how it was registered: checkpoints and configs read it
            obj.registered_name = name  # type: ignore[attr-defined]
            obj.options_type = options  # type: ignore[attr-defined]
        return obj

    return decorate


def register_codec(name: str, *, options: type | None = None, summary: str | None = None, tags: Iterable[str] = ()) -> Callable[[T], T]:
    """Decorator: register a codec class or factory under ``name`` with the dataclass of its options.

    A user's codec needs no registration to be used by path (``--codec my_pkg.mod:make_codec``);
    registering it adds its name, options and tags, and an installed package does the same through
    the entry-point group ``ibflow.codecs``.

    Example:
        >>> codec = get_codec("flowcodec", 2, hidden=16)
        >>> type(codec).__name__, codec.config["hidden"]
        ('FlowCodec', 16)
        >>> sorted(set(CODECS.names()) & {"flowcodec", "jscc"})
        ['flowcodec', 'jscc']
    """
    return _named(CODECS, name, options, summary, tags)


def register_channel(name: str, *, options: type | None = None, summary: str | None = None, tags: Iterable[str] = ()) -> Callable[[T], T]:
    """Decorator: register a channel class under ``name`` (built as ``cls(snr_db, **options)``)."""
    return _named(CHANNELS, name, options, summary, tags)


def accepts_keyword(obj: Callable[..., Any], name: str) -> bool:
    """Whether the class or factory ``obj`` names a parameter ``name`` (a ``**kwargs`` does not count).

    Example:
        >>> accepts_keyword(lambda dim, beta=1.0: None, "beta"), accepts_keyword(lambda dim, **kw: None, "beta")
        (True, False)
    """
    try:
        parameters = inspect.signature(obj).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    p = parameters.get(name)
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def build_part(
    registry: Registry[Any], spec: str, *inputs: Any, context: Mapping[str, Any] | None = None, **options: Any
) -> Any:
    """Resolve ``spec`` in ``registry`` and build it from the positional ``inputs`` and ``options``,
    which are checked against the part's options dataclass where it has one (unknown names refused).
    ``context`` holds keywords a study offers every part (a vector codec's ``beta``): each is passed
    only to a part that names it as a parameter, and is not one of its options."""
    entry = registry.get(spec)
    if entry.options is not None:
        opts = make_options(entry.options, options, owner=f"{registry.kind} {entry.name!r}")
        options = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts) if f.init}
    offered = {k: v for k, v in (context or {}).items() if v is not None and accepts_keyword(entry.obj, k)}
    return entry.obj(*inputs, **options, **offered)


def get_channel(spec: str, snr_db: float, **options: Any) -> Any:
    """The channel ``spec`` at ``snr_db``: ``get_channel("awgn", 10.0)``,
    ``get_channel("rayleigh", 10.0, coherence=None)``, ``get_channel("erasure", 10.0, erasure_prob=0.1)``."""
    return build_part(CHANNELS, spec, snr_db, **options)


def get_codec(spec: str, *inputs: Any, context: Mapping[str, Any] | None = None, **options: Any) -> Any:
    """The codec ``spec`` (a registered name, an entry point of ``ibflow.codecs``, or
    ``package.module:attribute``) built from ``inputs`` (e.g. a vector codec's ``dim``) and ``options``;
    ``context`` as in :func:`build_part` (``{"beta": beta}`` in the R-D studies)."""
    return build_part(CODECS, spec, *inputs, context=context, **options)


def part_name(obj: Any) -> str:
    """The name a checkpoint stores for ``obj``: its registered name, else the ``module:attribute``
    path of its class (which :meth:`contracts.Registry.get` resolves)."""
    cls = type(obj)
    registered = getattr(cls, "registered_name", None)
    if registered is not None and cls.__dict__.get("registered_name") == registered:
        return registered
    return f"{cls.__module__}:{cls.__qualname__}"


# Parts listed without importing them (scipy and the JSCC code stay out of ``import ibflow``); each
# module's own decorator replaces its lazy entry when it is imported.
CHANNELS.register_lazy("awgn", "ibflow.channel.channels:AWGNChannel")
CHANNELS.register_lazy("rayleigh", "ibflow.channel.channels:RayleighBlockFadingChannel")
CHANNELS.register_lazy("erasure", "ibflow.channel.channels:ErasureChannel")
CODECS.register_lazy("jscc", "ibflow.channel.jscc:JSCCCodec")
