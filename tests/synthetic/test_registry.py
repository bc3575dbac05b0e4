"""synthetic.SOURCES and synthetic.SAMPLERS: every part builds from its options, keeps its contract,
round-trips its parameters; names, paths and entry points resolve; bad names and parameters are refused."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import synthetic.registry as registry_module
from contracts.interface import KnownMISampler, Source, TabulatedSource
from contracts.options import option_specs
from contracts.registry import Registry
from estimators.closed_form import gaussian_mi_from_correlations
from synthetic import SAMPLERS, SOURCES, get_sampler, get_source
from synthetic.samplers import rho_for_mi, student_t_mi_correction

BUILT_IN_SOURCES = ["gaussian", "gaussian-vector", "laplace", "mixture"]
BUILT_IN_SAMPLERS = ["staircase", "student-t", "transformed"]
# gaussian-vector has no default spectrum: its options' defaults (neither variances nor covariance)
# are refused, so it is built here from the smallest parameters it takes
REQUIRED = {"gaussian-vector": {"variances": [4.0, 1.0]}}


def test_built_in_parts_are_registered():
    assert set(BUILT_IN_SOURCES) <= set(SOURCES.names())
    assert set(BUILT_IN_SAMPLERS) <= set(SAMPLERS.names())
    for name in BUILT_IN_SOURCES + BUILT_IN_SAMPLERS:
        entry = SOURCES.get(name) if name in BUILT_IN_SOURCES else SAMPLERS.get(name)
        assert dataclasses.is_dataclass(entry.options) and entry.summary


@pytest.mark.parametrize("name", BUILT_IN_SOURCES)
def test_options_are_exactly_the_parameters(name):
    """The options dataclass carries a default and help for every parameter, so a CLI can offer
    one flag per field; nested lists are parsed from JSON."""
    specs = option_specs(SOURCES.get(name).options)
    assert specs and all(s.help for s in specs) and all(s.default is not dataclasses.MISSING for s in specs)
    for s in specs:
        if s.name in ("covariance", "means", "covariances"):
            assert s.parse is not None and s.parse("[[1.0]]") == [[1.0]]


@pytest.mark.parametrize("name", BUILT_IN_SOURCES)
def test_every_source_builds_keeps_the_contract_and_round_trips(name):
    src = get_source(name, **REQUIRED.get(name, {}))
    assert isinstance(src, Source)
    x = src.sample(64, seed=3)
    assert x.shape == (64, src.dim) and torch.equal(x, src.sample(64, seed=3))
    assert src.log_prob(x).shape == (64,)
    bound = src.rate_distortion(0.25 * float(src.variance().sum()))
    assert 0.0 <= bound.lower <= bound.upper
    again = get_source(src.name, **src.params())
    assert again.params() == src.params() and type(again) is type(src)


def test_gaussian_vector_refuses_its_defaults_by_name():
    with pytest.raises(ValueError, match="exactly one of variances= or covariance="):
        get_source("gaussian-vector")


@pytest.mark.parametrize("name", ["laplace", "mixture"])
def test_tabulated_sources_give_box_and_numpy_density(name):
    src = get_source(name)
    assert isinstance(src, TabulatedSource)
    lo, hi = src.support_box(1e-9)
    assert lo.shape == hi.shape == (src.dim,) and np.all(lo < hi)
    x = src.sample(256, seed=0, dtype=torch.float64)
    np.testing.assert_allclose(src.log_density_np(x.numpy()), src.log_prob(x).numpy(), rtol=1e-12)
    # a smaller tail never gives a smaller box
    lo2, hi2 = src.support_box(1e-20)
    assert np.all(lo2 <= lo) and np.all(hi2 >= hi)


def test_tabulated_boxes_of_the_shipped_tables():
    """The boxes the shipped tables were built on: Laplace(0, 1) on [-24, 24], the default mixture
    on 12 standard deviations around each component mean."""
    from synthetic.sources.laplace import LAPLACE_TABLE_TAIL
    from synthetic.sources.mixture import MIXTURE_BOX_TAIL

    lo, hi = get_source("laplace").support_box(LAPLACE_TABLE_TAIL)
    assert lo.tolist() == [-24.0] and hi.tolist() == [24.0]
    lo, hi = get_source("mixture").support_box(MIXTURE_BOX_TAIL)
    assert lo.tolist() == [-1.5 - 12 * 0.5] and hi.tolist() == [1.5 + 12 * 0.5]


@pytest.mark.parametrize("tail", [1e-3, 1e-9, 1e-15])
def test_laplace_box_leaves_out_at_most_tail(tail):
    src = get_source("laplace", scale=0.7, dim=3)
    lo, hi = src.support_box(tail)
    # P(some |X_i| > t) <= dim * exp(-t / b)
    assert src.dim * math.exp(-hi[0] / src.scale) <= tail
    assert np.allclose(-lo, hi)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.floats(0.05, 20.0),
    st.integers(1, 4),
    st.lists(st.floats(0.05, 10.0), min_size=1, max_size=4),
)
def test_params_round_trip_property(variance, dim, variances):
    for name, params in [
        ("gaussian", {"variance": variance, "dim": dim}),
        ("laplace", {"scale": variance, "dim": dim}),
        ("gaussian-vector", {"variances": variances}),
    ]:
        src = get_source(name, **params)
        again = get_source(src.name, **src.params())
        assert again.params() == src.params()
        assert again.rate_distortion(0.5).upper == src.rate_distortion(0.5).upper


def test_unknown_source_names_the_choices():
    with pytest.raises(ValueError, match="gaussian, gaussian-vector, laplace, mixture") as e:
        get_source("nope")
    assert "'nope'" in str(e.value)


@pytest.mark.parametrize(
    "name, params, allowed",
    [
        ("gaussian", {"variances": [1.0]}, "variance, dim"),
        ("laplace", {"scale": 1.0, "width": 2.0}, "scale, dim"),
        ("mixture", {"weight": [1.0]}, "weights, means, covariances"),
        ("gaussian-vector", {"variance": 1.0}, "variances, covariance"),
    ],
)
def test_unknown_parameter_names_the_source_and_its_options(name, params, allowed):
    with pytest.raises(ValueError, match=f"source '{name}'.*its options: {allowed}"):
        get_source(name, **params)


def test_source_by_module_attribute_path():
    src = get_source("tests.synthetic.toy_parts:UniformSource", width=2.0, dim=2)
    assert isinstance(src, Source) and not isinstance(src, TabulatedSource)
    assert src.params() == {"width": 2.0, "dim": 2}
    assert float(src.sample(100, seed=1).max()) <= 2.0
    with pytest.raises(ValueError, match="takes no parameter 'scale' .*its parameters: width, dim"):
        get_source("tests.synthetic.toy_parts:UniformSource", scale=2.0)


def test_path_to_a_non_source_is_refused():
    with pytest.raises(TypeError, match="not|lacks"):
        get_source("tests.synthetic.toy_parts:independent_pair", mi=1.0)


def test_path_to_a_missing_module_is_refused():
    with pytest.raises(ValueError, match="cannot import"):
        get_source("tests.synthetic.no_such_module:Thing")


def _fake_entry_points(group: str, value: str):
    def entry_points(**kwargs):
        if kwargs.get("group") == group:
            return [importlib.metadata.EntryPoint(name="toy", value=value, group=group)]
        return []

    return entry_points


def test_source_from_an_installed_entry_point(monkeypatch):
    """An installed package's ``ibflow.sources`` entry point is found by its name (a fresh
    registry, so that entry points are read again with the simulated installation)."""
    fresh: Registry = Registry("source", group="ibflow.sources")
    monkeypatch.setattr(
        importlib.metadata, "entry_points", _fake_entry_points("ibflow.sources", "tests.synthetic.toy_parts:UniformSource")
    )
    monkeypatch.setattr(registry_module, "SOURCES", fresh)
    assert "toy" in fresh.names()
    src = registry_module.get_source("toy", width=3.0)
    assert src.params() == {"width": 3.0, "dim": 1}
    assert fresh.get("toy").origin == "entry point"


def test_sampler_from_an_installed_entry_point(monkeypatch):
    fresh: Registry = Registry("sampler", group="ibflow.samplers")
    monkeypatch.setattr(
        importlib.metadata, "entry_points", _fake_entry_points("ibflow.samplers", "tests.synthetic.toy_parts:GaussianChannelPair")
    )
    monkeypatch.setattr(registry_module, "SAMPLERS", fresh)
    s = registry_module.get_sampler("toy", mi=1.5, dim=3)
    assert isinstance(s, KnownMISampler) and s.mutual_information == pytest.approx(1.5, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# samplers


def _expected_mi(name: str, mi: float, params: dict) -> float:
    """The true MI from the closed forms the samplers are built on, independently of the sampler."""
    dim = params.get("dim", 20)
    if name == "student-t":
        c = student_t_mi_correction(params.get("df", 5.0), dim, dim)
        return gaussian_mi_from_correlations(np.full(dim, rho_for_mi(mi - c, dim))) + c
    return gaussian_mi_from_correlations(np.full(dim, rho_for_mi(mi, dim)))


@pytest.mark.parametrize("name", BUILT_IN_SAMPLERS)
@pytest.mark.parametrize("mi", [1.0, 4.0, 10.0])
def test_every_sampler_knows_its_mi(name, mi):
    s = get_sampler(name, mi=mi)
    assert isinstance(s, KnownMISampler)
    assert s.mutual_information == pytest.approx(mi, rel=1e-12)
    assert s.mutual_information == pytest.approx(_expected_mi(name, mi, {}), rel=1e-14)
    x, y = s.sample(32, seed=5)
    assert x.shape == (32, s.dim_x) and y.shape == (32, s.dim_y)
    x2, y2 = s.sample(32, seed=5)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


@pytest.mark.parametrize(
    "name, params",
    [("staircase", {"dim": 5}), ("student-t", {"df": 3.0, "dim": 2}), ("transformed", {"dim": 3, "fx": "sinh", "fy": "identity"})],
)
def test_sampler_options_are_used(name, params):
    s = get_sampler(name, mi=2.0, **params)
    assert s.dim_x == s.dim_y == params["dim"]
    assert s.mutual_information == pytest.approx(_expected_mi(name, 2.0, params), rel=1e-14)


def test_staircase_seeded_samples_are_those_of_the_old_factory():
    """``get_sampler("staircase", mi)`` draws what ``make_sampler("staircase", mi)`` drew: the
    correlated pair of rho_for_mi(mi, dim) from numpy's default_rng(seed)."""
    x, y = get_sampler("staircase", mi=4.0).sample(10, seed=7)
    rng = np.random.default_rng(7)
    rho = rho_for_mi(4.0, 20)
    x0 = rng.standard_normal((10, 20))
    y0 = rho * x0 + math.sqrt(1.0 - rho**2) * rng.standard_normal((10, 20))
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_unknown_sampler_and_parameters_are_refused():
    with pytest.raises(ValueError, match="staircase, student-t, transformed"):
        get_sampler("nope", mi=1.0)
    with pytest.raises(ValueError, match="sampler 'staircase'.*its options: dim"):
        get_sampler("staircase", mi=1.0, df=5.0)
    with pytest.raises(TypeError, match="lacks"):
        get_sampler("tests.synthetic.toy_parts:independent_pair", mi=1.0)


def test_sampler_by_module_attribute_path():
    s = get_sampler("tests.synthetic.toy_parts:GaussianChannelPair", mi=0.7, dim=4)
    assert isinstance(s, KnownMISampler) and s.mutual_information == pytest.approx(0.7, rel=1e-12)
