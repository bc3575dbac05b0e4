"""The estimator registry: every registered estimator builds and runs; options are checked against their
dataclass; ``module:attribute`` parts (class, instance, function) and entry-point parts work through estimate_mi."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import math

import numpy as np
import pytest

import estimators
from contracts.interface import Estimate as ContractEstimate
from contracts.interface import MIEstimator as ContractMIEstimator
from contracts.registry import UnknownPartError
from estimators import ESTIMATORS, Estimate, MIEstimator, build_estimator, estimate_mi
from estimators.ba import barber_agakov
from estimators.closed_form import gaussian_mi_from_correlations
from estimators.doe import difference_of_entropies
from estimators.knn import ksg
from estimators.variational import CRITIC_BOUNDS, neural_mi

BUILT_IN = ("ksg", "dv", "nwj", "infonce", "js", "smile", "interpolated", "ba", "doe")
USER = "tests.estimators.user_estimators"
# the function each built-in estimator runs: its options dataclass must list that function's defaults
FUNCTION = {"ksg": ksg, "ba": barber_agakov, "doe": difference_of_entropies, **{m: neural_mi for m in CRITIC_BOUNDS}}


def gaussian_pair(n: int, rho: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1))
    return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, 1)), gaussian_mi_from_correlations([rho])


def small_options(options: type) -> dict[str, object]:
    """Few steps of a small model on a few hundred pairs, for the options the method has."""
    names = {f.name for f in dataclasses.fields(options)}
    small = {"steps": 20, "hidden": 16, "batch_size": 32, "progress": False}
    return {k: v for k, v in small.items() if k in names}


def test_contracts_are_the_one_definition() -> None:
    assert Estimate is ContractEstimate and MIEstimator is ContractMIEstimator


def test_built_in_estimators_registered_with_options_and_summary() -> None:
    assert set(BUILT_IN) <= set(ESTIMATORS.names())
    assert set(BUILT_IN) <= set(estimators.METHODS)
    for name in BUILT_IN:
        entry = ESTIMATORS.get(name)
        assert dataclasses.is_dataclass(entry.options), name
        assert entry.summary and entry.obj.method == name


@pytest.mark.parametrize("name", BUILT_IN)
def test_options_defaults_are_the_functions_defaults(name: str) -> None:
    # the dataclass lists only options the function takes, with the function's own defaults,
    # so registering changed no default and estimate_mi's results are unchanged
    params = inspect.signature(FUNCTION[name]).parameters
    for f in dataclasses.fields(ESTIMATORS.get(name).options):
        assert f.name in params, (name, f.name)
        assert f.default == params[f.name].default, (name, f.name)
        assert f.metadata.get("help"), (name, f.name)


@pytest.mark.parametrize("name", ESTIMATORS.names())
def test_every_estimator_builds_from_defaults_and_runs(name: str) -> None:
    entry = ESTIMATORS.get(name)
    default = entry.obj()
    assert isinstance(default, MIEstimator)
    assert default.options == entry.options()
    x, y, _ = gaussian_pair(400, 0.7)
    small = small_options(entry.options)
    est = entry.obj(**small).estimate(x, y)
    assert isinstance(est, Estimate) and est.method == name and math.isfinite(est.value)
    # estimate_mi runs the same estimator: same seed and options, same value, bit for bit
    assert estimate_mi(x, y, method=name, **small).value == est.value


@pytest.mark.parametrize("name", ESTIMATORS.names())
def test_every_option_accepted_and_unknown_refused(name: str) -> None:
    options = ESTIMATORS.get(name).options
    fields = dataclasses.fields(options)
    for f in fields:
        built = build_estimator(name, **{f.name: f.default})
        assert getattr(built.options, f.name) == f.default
    x, y, _ = gaussian_pair(50, 0.5)
    with pytest.raises(ValueError, match=rf"method '{name}' takes no option 'bogus' \(its options: {', '.join(f.name for f in fields)}\)"):
        estimate_mi(x, y, method=name, bogus=1)


def test_critic_bounds_take_only_their_own_extra_option() -> None:
    x, y, _ = gaussian_pair(50, 0.5)
    for method, option in (("nwj", "tau"), ("smile", "alpha"), ("infonce", "ema_rate"), ("ksg", "steps"), ("doe", "critic")):
        with pytest.raises(ValueError, match=f"takes no option '{option}'"):
            estimate_mi(x, y, method=method, **{option: 1})


def test_options_instance_and_overrides() -> None:
    entry = ESTIMATORS.get("ksg")
    est = entry.obj(entry.options(k=5), variant=2)
    assert (est.options.k, est.options.variant) == (5, 2)
    with pytest.raises(TypeError, match="KSGOptions"):
        entry.obj(ESTIMATORS.get("doe").options())


def test_unknown_method_names_the_registered_ones() -> None:
    with pytest.raises(UnknownPartError, match="method: unknown estimator 'magic': choose one of ba, doe"):
        estimate_mi(np.zeros((5, 1)), np.zeros((5, 1)), method="magic")


@pytest.mark.parametrize(
    "attribute,options,method",
    [("GaussianMI", {"ridge": 0.0}, "gaussian"), ("gaussian_mi", {}, "gaussian"), ("gaussian_mi_function", {"ridge": 0.0}, "gaussian-function")],
)
def test_module_attribute_estimators(attribute: str, options: dict[str, float], method: str) -> None:
    x, y, truth = gaussian_pair(2000, 0.7, seed=1)
    est = estimate_mi(x, y, method=f"{USER}:{attribute}", **options)
    assert est.method == method
    # the plug-in estimate's standard error is about rho / sqrt(n) = 0.016 nats (delta method): 4 SE
    assert abs(est.value - truth) < 4 * 0.7 / math.sqrt(2000)


def test_module_attribute_option_errors() -> None:
    x, y, _ = gaussian_pair(100, 0.5)
    with pytest.raises(ValueError, match="user_estimators:GaussianMI' does not take these options"):
        estimate_mi(x, y, method=f"{USER}:GaussianMI", k=3)
    with pytest.raises(ValueError, match="user_estimators:gaussian_mi_function' does not take these options"):
        estimate_mi(x, y, method=f"{USER}:gaussian_mi_function", k=3)
    with pytest.raises(ValueError, match="instance and takes no options; got ridge"):
        estimate_mi(x, y, method=f"{USER}:gaussian_mi", ridge=0.1)
    with pytest.raises(TypeError, match="returned float, not an Estimate"):
        estimate_mi(x, y, method=f"{USER}:not_an_estimate")
    with pytest.raises(UnknownPartError, match="no attribute"):
        estimate_mi(x, y, method=f"{USER}:Missing")


@pytest.fixture
def plugin_entry_point(monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed package's estimator, as ``importlib.metadata`` would list it; the registry is restored after."""
    name = "plugin-gaussian"
    point = importlib.metadata.EntryPoint(name=name, value=f"{USER}:GaussianMI", group="ibflow.estimators")

    def entry_points(**selection: str) -> list[importlib.metadata.EntryPoint]:
        return [point] if selection.get("group") == "ibflow.estimators" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    # a fresh look at the entry points, on copies of the registry's tables that monkeypatch puts back
    monkeypatch.setattr(ESTIMATORS, "_entries", dict(ESTIMATORS._entries))
    monkeypatch.setattr(ESTIMATORS, "_lazy", dict(ESTIMATORS._lazy))
    monkeypatch.setattr(ESTIMATORS, "_entry_points_loaded", False)
    return name


def test_entry_point_estimator_is_found(plugin_entry_point: str) -> None:
    assert plugin_entry_point in ESTIMATORS.names()
    assert plugin_entry_point in estimators.METHODS
    x, y, truth = gaussian_pair(2000, 0.7, seed=2)
    est = estimate_mi(x, y, method=plugin_entry_point, ridge=0.0)
    assert ESTIMATORS.get(plugin_entry_point).origin == "entry point"
    assert est.method == "gaussian" and abs(est.value - truth) < 4 * 0.7 / math.sqrt(2000)


# ---- every options dataclass refuses what its estimator cannot run with (estimate_mi and the CLI alike) ----

@pytest.mark.parametrize(
    ("method", "options", "named"),
    [
        ("nwj", {"steps": 0}, "steps"), ("dv", {"batch_size": 1}, "batch_size"), ("infonce", {"lr": 0.0}, "lr"),
        ("js", {"lr": float("nan")}, "lr"), ("smile", {"tau": 0.0}, "tau"), ("dv", {"ema_rate": 1.0}, "ema_rate"),
        ("interpolated", {"alpha": 1.5}, "alpha"), ("nwj", {"hidden": 0}, "hidden"), ("nwj", {"embed": 0}, "embed"),
        ("nwj", {"split": (0.5, 0.5)}, "split"), ("nwj", {"split": (0.0, 0.2)}, "split"), ("nwj", {"eval_every": 0}, "eval_every"),
        ("nwj", {"patience": 0}, "patience"), ("nwj", {"seed": -1}, "seed"), ("ksg", {"k": 0}, "k"),
        ("ksg", {"variant": 3}, "variant"), ("ksg", {"workers": 0}, "workers"), ("ba", {"k": 0}, "k"),
        ("ba", {"entropy_x": float("inf")}, "entropy_x"), ("doe", {"level": 1.0}, "level"), ("doe", {"steps": 0}, "steps"),
    ],
)
def test_out_of_range_options_refused_by_estimate_mi(method: str, options: dict, named: str) -> None:
    import numpy as np

    from estimators import estimate_mi

    x = np.random.default_rng(0).normal(size=(50, 1))
    with pytest.raises(ValueError, match=rf"^{named} must"):
        estimate_mi(x, x, method=method, **options)
