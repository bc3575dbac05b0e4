"""The estimator registry: every MI estimator by name, entry point or ``module:attribute``, built from its options.

What a registered estimator is (benchmark-mi's shape): a class whose ``__init__`` takes the
estimator's options as keywords and whose ``estimate(x, y)`` returns an
:class:`~contracts.interface.Estimate` in nats. The built-in ones derive from
:class:`ConfiguredEstimator`, which keeps the options in the dataclass they were registered with.
A user's part needs neither the base class nor registration: ``estimate_mi`` also accepts, by
``module:attribute`` path or entry point (group ``ibflow.estimators``), any class of that shape,
an instance with ``estimate(x, y)``, or a plain function ``(x, y, **options) -> Estimate``.

An installed package adds its estimators to every CLI by declaring them in its ``pyproject.toml``::

    [project.entry-points."ibflow.estimators"]
    gaussian = "my_pkg.mod:GaussianMI"

and its module may call :func:`register_estimator` itself, so that its options get flags and checks.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from contracts.interface import Estimate, MIEstimator
from contracts.options import make_options
from contracts.registry import Entry, Registry, UnknownPartError

__all__ = [
    "ESTIMATORS",
    "register_estimator",
    "ConfiguredEstimator",
    "option_values",
    "build_estimator",
    "declared_options",
    "estimate_mi",
]

ESTIMATORS: Registry[Any] = Registry("estimator", group="ibflow.estimators")
"""Every MI estimator, by name (``ksg``, ``nwj``, ...); installed packages add theirs through the
entry-point group ``ibflow.estimators``."""

T = TypeVar("T")


def option_values(options: Any) -> dict[str, Any]:
    """The fields of an options dataclass instance as keywords (no deep copy, unlike ``asdict``).

    Example:
        >>> @dataclasses.dataclass
        ... class Opts:
        ...     k: int = 3
        >>> option_values(Opts())
        {'k': 3}
    """
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}


class ConfiguredEstimator:
    """An MI estimator whose options live in a frozen dataclass (``self.options``).

    Subclasses are registered with :func:`register_estimator`, which binds the method name and the
    options dataclass to the class, and implement :meth:`estimate`. Options are given either as
    keywords or as an instance of the dataclass (then keywords override its fields); an unknown
    name is refused with the list of the allowed ones.
    """

    method: ClassVar[str] = ""
    Options: ClassVar[type[Any]]

    def __init__(self, options: Any = None, /, **overrides: Any) -> None:
        owner = f"method {self.method!r}"
        if options is None:
            self.options = make_options(self.Options, overrides, owner=owner)
            return
        if not isinstance(options, self.Options):
            raise TypeError(f"{owner} takes its options as {self.Options.__name__}, got {type(options).__name__}")
        make_options(self.Options, overrides, owner=owner)  # refuses unknown names
        self.options = dataclasses.replace(options, **overrides)

    def estimate(self, x: Any, y: Any) -> Estimate:
        """I(X; Y) in nats from paired samples x (n, d_x), y (n, d_y)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"


def register_estimator(
    name: str, *, options: type | None = None, summary: str | None = None, tags: Iterable[str] = ()
) -> Callable[[T], T]:
    """Decorator: register an MI estimator under ``name`` with the dataclass of its options.

    On a :class:`ConfiguredEstimator` subclass it also sets the class's ``method`` (the name its
    estimates carry) and ``Options``. The summary shown by ``python -m estimators --help`` is the
    first line of the docstring unless ``summary`` is given.

    Example (how :mod:`estimators.knn` registers KSG; a doctest would leave a part behind in the
    registry every CLI lists)::

        @register_estimator("ksg", options=KSGOptions, tags=("knn",))
        class KSG(ConfiguredEstimator):
            "Kraskov-Stoegbauer-Grassberger kNN estimate of I(X; Y) (Kraskov et al. 2004), max-norm."

            def estimate(self, x, y):
                return ksg(x, y, **option_values(self.options))
    """

    def decorate(obj: T) -> T:
        if isinstance(obj, type) and issubclass(obj, ConfiguredEstimator):
            if options is None:
                raise TypeError(f"estimator {name!r}: a ConfiguredEstimator needs its options dataclass")
            obj.method = name
            obj.Options = options
        return ESTIMATORS.register(name, options=options, summary=summary, tags=tags)(obj)

    return decorate


class _FunctionEstimator:
    """A plain function ``(x, y, **options) -> Estimate`` bound to its options."""

    def __init__(self, function: Callable[..., Estimate], options: dict[str, Any]) -> None:
        self.function = function
        self.options = options

    def estimate(self, x: Any, y: Any) -> Estimate:
        return self.function(x, y, **self.options)


def _check_signature(entry: Entry[Any], call: Callable[..., Any], *args: Any, **options: Any) -> None:
    # a path part has no options dataclass: its own signature says what it takes, so a wrong
    # option fails here as a ValueError naming the method instead of as a TypeError mid-run
    try:
        signature = inspect.signature(call)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    try:
        signature.bind(*args, **options)
    except TypeError as e:
        raise ValueError(f"method {entry.name!r} does not take these options ({e}); its signature: {signature}") from None


def build_estimator(method: str, **options: Any) -> MIEstimator:
    """The estimator ``method`` names, built with ``options``.

    Arguments:
        method: a registered name (``ESTIMATORS.names()``), an installed entry point of the group
            ``ibflow.estimators``, or a ``package.module:attribute`` path to a class, an instance
            with ``estimate(x, y)`` or a function ``(x, y, **options) -> Estimate``.
        options: the method's options; for a registered method they are checked against its
            options dataclass, and every field not given takes its default.

    Returns:
        An object with ``estimate(x, y) -> Estimate``.

    Raises:
        ValueError: an unknown method (naming the registered ones), or an option the method does
            not take (naming the ones it does).

    Example:
        >>> build_estimator("ksg", k=5)
        KSG(KSGOptions(k=5, variant=1, copula=False, standardize=True, blocks=10, seed=0, workers=1))
    """
    try:
        entry = ESTIMATORS.get(method)
    except UnknownPartError as e:
        raise UnknownPartError(f"method: {e}") from None
    obj = entry.obj
    if entry.options is not None:
        values = option_values(make_options(entry.options, options, owner=f"method {entry.name!r}"))
        if isinstance(obj, type) and issubclass(obj, ConfiguredEstimator):
            return obj(entry.options(**values))
        options = values
    if isinstance(obj, type):
        _check_signature(entry, obj, **options)
        built = obj(**options)
        if not callable(getattr(built, "estimate", None)):
            raise TypeError(f"method {entry.name!r}: {obj.__name__} instances have no estimate(x, y)")
        return built
    if callable(getattr(obj, "estimate", None)):
        if options:
            raise ValueError(f"method {entry.name!r} is an estimator instance and takes no options; got {', '.join(sorted(options))}")
        return obj
    if callable(obj):
        _check_signature(entry, obj, None, None, **options)
        return _FunctionEstimator(obj, options)
    raise TypeError(f"method {entry.name!r} is neither a class, an object with estimate(x, y), nor a function")


def declared_options(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``options`` that ``method``'s options dataclass declares: how a study hands its shared
    settings (seed, steps, ...) to any estimator, a user's included, without passing one it does not take.
    A part registered without an options dataclass gets none.

    Example:
        >>> declared_options("ksg", {"k": 5, "steps": 100})
        {'k': 5}
    """
    declared = ESTIMATORS.get(method).options
    names = {f.name for f in dataclasses.fields(declared)} if declared is not None else set()
    return {k: v for k, v in options.items() if k in names}


def estimate_mi(x: Any, y: Any, method: str = "ksg", **options: Any) -> Estimate:
    r"""Estimate I(X; Y) in nats.

    Arguments:
        x, y: arrays or tensors of shape (n, d_x), (n, d_y) (1-D arrays are read as one column).
        method: ``ksg`` (:class:`~estimators.knn.KSG`); the critic bounds ``dv``, ``nwj``,
            ``infonce``, ``js``, ``smile``, ``interpolated`` (:mod:`estimators.variational`);
            ``ba`` (:class:`~estimators.ba.BarberAgakov`); ``doe``
            (:class:`~estimators.doe.DifferenceOfEntropies`); an installed entry point; or a
            ``package.module:attribute`` path (see :func:`build_estimator`).
        options: the method's options (its options dataclass lists them, with their defaults).

    Returns:
        The :class:`~contracts.interface.Estimate` of the method: value, interval, method name.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0); x = rng.standard_normal((1000, 2))
        >>> est = estimate_mi(x, x + rng.standard_normal((1000, 2)), method="ksg")  # truth log 2 = 0.693
        >>> round(est.value, 1)
        0.7
    """
    result = build_estimator(method, **options).estimate(x, y)
    if not isinstance(result, Estimate):
        raise TypeError(f"method {method!r} returned {type(result).__name__}, not an Estimate")
    return result
