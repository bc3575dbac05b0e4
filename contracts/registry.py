"""Decorator registries: every part is registered under a name and found by that name, by an
installed package's entry point, or by a ``module:attribute`` path.

One :class:`Registry` per kind of part (sources, codecs, estimators, samplers, channels). A
registry knows nothing of the parts it holds; the packages create theirs and expose the decorator
(``synthetic.register_source``, ``ibflow.register_codec``, ``estimators.register_estimator``, ...).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, is_dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Entry", "Registry", "UnknownPartError", "load_attribute", "is_attribute_path"]

T = TypeVar("T")


class UnknownPartError(ValueError):
    """A name that is neither registered, nor an installed entry point, nor a ``module:attribute`` path."""


def is_attribute_path(spec: str) -> bool:
    """Whether ``spec`` looks like ``package.module:attribute``.

    Example:
        >>> is_attribute_path("my_pkg.mod:MyEstimator"), is_attribute_path("ksg")
        (True, False)
    """
    module, sep, attribute = spec.partition(":")
    return bool(sep and module and attribute) and all(part.isidentifier() for part in module.split(".") + attribute.split("."))


def load_attribute(spec: str) -> Any:
    """Import ``package.module:attribute`` (the attribute may be dotted) and return it.

    Example:
        >>> load_attribute("math:pi") > 3
        True
    """
    if not is_attribute_path(spec):
        raise UnknownPartError(f"expected 'package.module:attribute', got {spec!r}")
    module_name, _, attribute = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise UnknownPartError(f"cannot import module {module_name!r} of {spec!r}: {e}") from e
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UnknownPartError(f"module {module_name!r} has no attribute {attribute!r} (from {spec!r})") from None
    return obj


def _summary(obj: Any) -> str:
    """The docstring's first paragraph on one line (its first line alone may stop mid-sentence).

    Example:
        >>> def f(): ...
        >>> f.__doc__ = "y = h s + n: the real Rayleigh\\n    block-fading channel.\\n\\n    More."
        >>> _summary(f)
        'y = h s + n: the real Rayleigh block-fading channel.'
    """
    doc = (inspect.getdoc(obj) or "").strip()
    return " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered part: its ``name``, the object itself (a class or a factory), the dataclass of
    its options (or ``None``), a one-line ``summary``, ``tags`` that say where it fits (e.g. a
    codec's ``"vector"`` or ``"image"``) and where it came from (``"registered"``, ``"entry point"``
    or ``"path"``)."""

    name: str
    obj: T
    options: type | None = None
    summary: str = ""
    origin: str = "registered"
    tags: frozenset[str] = frozenset()


class Registry(Generic[T]):
    """Parts of one kind, by name.

    Arguments:
        kind: what the parts are, for messages (``"source"``, ``"codec"``, ...).
        group: the entry-point group through which installed packages add parts
            (``"ibflow.sources"``, ...); ``None`` for none.

    Example:
        >>> reg = Registry("widget")
        >>> @reg.register("square")
        ... def square(x: float) -> float:
        ...     "The square of x."
        ...     return x * x
        >>> reg.get("square").obj(3.0), reg.names(), reg.get("square").summary
        (9.0, ['square'], 'The square of x.')
        >>> reg.get("math:sqrt").obj(9.0)
        3.0
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry[T]] = {}
        self._lazy: dict[str, str] = {}
        self._entry_points_loaded = group is None

    def register(
        self,
        name: str | None = None,
        *,
        options: type | None = None,
        summary: str | None = None,
        tags: Iterable[str] = (),
    ) -> Callable[[T], T]:
        """Decorator: register a class or factory under ``name`` (default: its ``__name__``), with
        the dataclass of its options and its tags. Registering a second object under a taken name
        is an error."""
        if options is not None and not (isinstance(options, type) and is_dataclass(options)):
            raise TypeError(f"options of a {self.kind} must be a dataclass type, got {options!r}")

        def decorate(obj: T) -> T:
            key = name or getattr(obj, "__name__", None)
            if not key:
                raise TypeError(f"a {self.kind} needs a name: pass register(name=...)")
            old = self._entries.get(key)
            if old is not None and old.obj is not obj and _qualname(old.obj) != _qualname(obj):
                raise ValueError(f"{self.kind} {key!r} is already registered ({_qualname(old.obj)})")
            self._lazy.pop(key, None)
            self._entries[key] = Entry(key, obj, options, summary if summary is not None else _summary(obj), "registered", frozenset(tags))
            return obj

        return decorate

    def register_lazy(self, name: str, path: str) -> None:
        """Register ``name`` as the ``module:attribute`` at ``path``, imported on first use, so that a
        heavy part is listed without being imported. The module registers itself when imported."""
        if not is_attribute_path(path):
            raise ValueError(f"path must be 'package.module:attribute', got {path!r}")
        if name not in self._entries:
            self._lazy[name] = path

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or self.group is None:
            return
        self._entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=self.group):
            if ep.name not in self._entries and ep.name not in self._lazy:
                self._lazy[ep.name] = ep.value

    def names(self) -> list[str]:
        """Every name this registry answers to (registered, lazy and entry points), sorted."""
        self._load_entry_points()
        return sorted(set(self._entries) | set(self._lazy))

    def tagged(self, tag: str) -> list[str]:
        """The names whose entries carry ``tag`` (importing lazy entries to read their tags)."""
        return [entry.name for entry in self if tag in entry.tags]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[Entry[T]]:
        """Every entry, imported."""
        return (self.get(name) for name in self.names())

    def get(self, spec: str) -> Entry[T]:
        """The entry for a registered name, an installed entry point, or a ``module:attribute`` path.

        A path to an object that registered itself on import returns that registration (with its
        options); any other object is returned as it is, with no options."""
        if not isinstance(spec, str):
            raise UnknownPartError(f"a {self.kind} is named by a string, got {spec!r}")
        self._load_entry_points()
        if spec in self._entries:
            return self._entries[spec]
        if spec in self._lazy:
            path = self._lazy[spec]
            obj = load_attribute(path)
            if spec in self._entries:  # the module registered it while being imported
                return self._entries[spec]
            self._lazy.pop(spec)
            entry: Entry[T] = Entry(spec, obj, None, _summary(obj), "entry point")
            self._entries[spec] = entry
            return entry
        if is_attribute_path(spec):
            obj = load_attribute(spec)
            for known in self._entries.values():
                if known.obj is obj:
                    return known
            return Entry(spec, obj, None, _summary(obj), "path")
        raise UnknownPartError(
            f"unknown {self.kind} {spec!r}: choose one of {', '.join(self.names())}, or give 'package.module:attribute'"
        )


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
