"""The registries of synthetic: sources with known R(D) and samplers with known mutual information.

A part is registered with its options dataclass (its parameters: types, defaults, help), found by
name, by an installed package's entry point (groups ``ibflow.sources`` and ``ibflow.samplers``)
or by a ``package.module:attribute`` path, and built with its parameters checked against the
options. This module imports none of the parts: they register themselves when imported.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from contracts.interface import KnownMISampler, Source
from contracts.options import make_options
from contracts.registry import Entry, Registry, is_attribute_path

__all__ = ["SAMPLERS", "SOURCES", "get_sampler", "get_source", "register_sampler", "register_source"]

SOURCES: Registry[Callable[..., Source]] = Registry("source", group="ibflow.sources")
"""Sources by name: the built-ins ``gaussian``, ``gaussian-vector``, ``laplace``, ``mixture``."""

SAMPLERS: Registry[Callable[..., KnownMISampler]] = Registry("sampler", group="ibflow.samplers")
"""Known-MI samplers by name: ``staircase``, ``student-t``, ``transformed``; each is built for a true MI."""


def register_source(name: str | None = None, *, options: type | None = None, summary: str | None = None) -> Callable[[Any], Any]:
    """Decorator: register a class or factory building a :class:`contracts.Source` under ``name``.

    ``options`` is a dataclass whose fields are exactly its parameters, so that
    :func:`get_source` can check them and a CLI can offer one flag per field.

    Example:
        >>> {"gaussian", "gaussian-vector", "laplace", "mixture"} <= set(SOURCES.names())
        True
    """
    return SOURCES.register(name, options=options, summary=summary)


def register_sampler(name: str | None = None, *, options: type | None = None, summary: str | None = None) -> Callable[[Any], Any]:
    """Decorator: register a factory ``(mi, **options) -> KnownMISampler`` under ``name``; ``options``
    is the dataclass of its parameters other than the true MI ``mi`` (nats)."""
    return SAMPLERS.register(name, options=options, summary=summary)


def _checked_parameters(entry: Entry[Any], params: Mapping[str, Any], owner: str, reserved: tuple[str, ...] = ()) -> dict[str, Any]:
    """``params`` checked against the entry's options dataclass (all fields, defaults filled in),
    or, for a part found by path without one, against the names its signature accepts (less the
    ``reserved`` ones the caller passes itself, such as a sampler's ``mi``)."""
    if entry.options is not None:
        options = make_options(entry.options, params, owner=owner)
        return {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.init}
    signature = inspect.signature(entry.obj)
    kinds = {p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return dict(params)
    allowed = [
        n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in reserved
    ]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"{owner} takes no parameter {', '.join(map(repr, unknown))} (its parameters: {', '.join(allowed) or 'none'})")
    return dict(params)


def _entry(registry: Registry[Any], spec: str) -> Entry[Any]:
    if not isinstance(spec, str) or not (spec in registry or is_attribute_path(spec)):
        raise ValueError(
            f"name must be one of {', '.join(registry.names())} (or a 'package.module:attribute' path), got {spec!r}"
        )
    return registry.get(spec)


def get_source(spec: str, **params: Any) -> Source:
    """Build a source by registered name, entry point or ``module:attribute`` path.

    The built-ins: ``gaussian`` (variance, dim), ``gaussian-vector`` (variances or covariance),
    ``mixture`` (weights, means, covariances), ``laplace`` (scale, dim); ``source.params()``
    rebuilds the same source with ``get_source(source.name, **source.params())``.

    Arguments:
        spec: a name of :data:`SOURCES`, ``package.module:attribute`` (a class or factory), or
            ``data:NAME`` for finite data (``digits``, ``patches`` or a .npy path; see
            :mod:`synthetic.sources.empirical`).
        params: the source's parameters, checked against its options dataclass.

    Returns:
        The source (anything satisfying :class:`contracts.Source`).

    Example:
        >>> get_source("gaussian", variance=2.0).rate_distortion(0.5).lower  # 1/2 log 4
        0.6931471805599453
        >>> get_source("gaussian", variances=[1.0])
        Traceback (most recent call last):
        ...
        ValueError: bad parameters for source 'gaussian': it takes no option 'variances' (its options: variance, dim)
    """
    if isinstance(spec, str) and spec.startswith("data:"):
        # finite data, bounded from its samples (synthetic.sources.empirical), not a registered part
        from synthetic.sources.empirical import data_source

        unknown = sorted(set(params) - {"test_fraction", "split_seed"})
        if unknown:
            raise ValueError(f"bad parameters for source {spec!r}: it takes no option {', '.join(map(repr, unknown))} "
                             "(its options: test_fraction, split_seed)")
        return data_source(spec[len("data:"):], **params)
    entry = _entry(SOURCES, spec)
    kwargs = _checked_parameters(entry, params, f"bad parameters for source {entry.name!r}: it")
    source = entry.obj(**kwargs)
    if not isinstance(source, Source):
        raise TypeError(f"source {spec!r} built a {type(source).__name__}, which lacks dim, sample, log_prob or rate_distortion")
    return source


def get_sampler(spec: str, *, mi: float, **params: Any) -> KnownMISampler:
    """Build the known-MI sampler ``spec`` whose true mutual information is ``mi`` nats.

    Arguments:
        spec: a name of :data:`SAMPLERS` or ``package.module:attribute`` (a factory ``(mi, **options)``).
        mi: the true I(X; Y) wanted, nats.
        params: the sampler's other parameters, checked against its options dataclass.

    Example:
        >>> round(get_sampler("staircase", mi=4.0, dim=20).mutual_information, 12)
        4.0
    """
    entry = _entry(SAMPLERS, spec)
    kwargs = _checked_parameters(entry, params, f"bad parameters for sampler {entry.name!r}: it", reserved=("mi",))
    sampler = entry.obj(mi=mi, **kwargs)
    if not isinstance(sampler, KnownMISampler):
        raise TypeError(f"sampler {spec!r} built a {type(sampler).__name__}, which lacks dim_x, dim_y, mutual_information or sample")
    return sampler
