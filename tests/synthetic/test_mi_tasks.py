"""synthetic.mi_tasks, mi_maps, mi_mixtures: the known-MI task suite against its closed forms, the
exact pointwise MI, the maps' invertibility and a quadrature; bad options are refused by name.

Statistical checks use fixed seeds (so every run is the same) and tolerances of 4 standard errors,
the SE coming from the sample standard deviation of the PMI (combined with the sampler's own
``mutual_information_se`` where its MI is itself a Monte-Carlo mean): a correct sampler fails one
such check with probability about 6e-5.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.interface import KnownMISampler
from estimators.closed_form import gaussian_mi
from synthetic import MI_TASKS, SAMPLERS, TASK_FAMILIES, get_sampler, get_task, task_names
from synthetic.mi_maps import (
    Asinh,
    BendAndMix,
    HalfCube,
    MappedPair,
    NormalCDF,
    Spiral,
    Wiggly,
)
from synthetic.mi_mixtures import GaussianMixturePair, mixture_clusters
from synthetic.mi_tasks import MITask, MultinormalPair, multinormal_covariance
from synthetic.samplers import CorrelatedGaussian, TransformedPair

TASK_NAMES = task_names()
PMI_DRAWS = 20_000
PMI_SEED = 20240501


@lru_cache(maxsize=None)
def built(name: str) -> KnownMISampler:
    """Each task built once per test session (the mixtures' fits take a fraction of a second)."""
    return get_task(name).build()


def declared_dims(task: MITask) -> tuple[int, int]:
    o = task.options
    if "dim" in o:
        return o["dim"], o["dim"]
    return o.get("dim_x", 1 if task.sampler == "mixture-x" else 2), o.get("dim_y", 1 if task.sampler == "mixture-x" else 2)


def mi_se(sampler: KnownMISampler) -> float:
    return float(getattr(sampler, "mutual_information_se", 0.0))


# ---- the list ----


def test_the_task_list():
    assert len(MI_TASKS) >= 22
    assert len(set(TASK_NAMES)) == len(TASK_NAMES)
    assert TASK_FAMILIES == ("multinormal", "marginal", "spiral", "student-t", "mixture")
    assert {t.family for t in MI_TASKS} == set(TASK_FAMILIES)
    counts = {f: sum(t.family == f for t in MI_TASKS) for f in TASK_FAMILIES}
    assert counts["multinormal"] >= 5 and counts["marginal"] >= 4 and counts["spiral"] >= 3
    assert counts["student-t"] >= 4 and counts["mixture"] >= 3
    assert all(t.sampler in SAMPLERS for t in MI_TASKS)
    assert any(t.sampler == "multinormal" and t.options.get("structure") == "dense" and t.options.get("dim_x") == 25
               for t in MI_TASKS)
    assert all(get_task(n).name == n for n in TASK_NAMES)
    with pytest.raises(ValueError, match="name must be one of the tasks"):
        get_task("no-such-task")


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_builds_and_keeps_the_contract(name):
    task, s = get_task(name), built(name)
    assert isinstance(s, KnownMISampler)
    assert (s.dim_x, s.dim_y) == declared_dims(task)
    x, y = s.sample(257, seed=5)
    assert x.shape == (257, s.dim_x) and y.shape == (257, s.dim_y)
    assert x.dtype == y.dtype == np.float64 and np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    x2, y2 = s.sample(257, seed=5)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = s.sample(257, seed=6)
    assert not np.array_equal(x, x3)
    pmi = s.pmi(x, y)
    assert pmi.shape == (257,) and np.all(np.isfinite(pmi))
    assert math.isfinite(s.mutual_information) and s.mutual_information > 0
    assert isinstance(s.params(), dict)


@pytest.mark.parametrize("name", [t.name for t in MI_TASKS if t.family != "mixture"])
def test_closed_form_tasks_hit_their_target(name):
    task, s = get_task(name), built(name)
    assert abs(s.mutual_information - task.mi) <= 1e-10 * max(1.0, task.mi)
    assert mi_se(s) == 0.0
    base = s.base if isinstance(s, MappedPair) else s
    if isinstance(base, MultinormalPair):  # the determinant form agrees with the canonical correlations
        assert gaussian_mi(base.covariance, base.dim_x) == pytest.approx(task.mi, rel=1e-9)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_mean_pmi_is_the_mutual_information(name):
    """I = E pmi(X, Y) under the joint; 4 SE (the PMI's sd over sqrt(n), and the sampler's own SE for a
    mixture, whose MI is a Monte-Carlo mean of independent draws)."""
    s = built(name)
    pmi = s.pmi(*s.sample(PMI_DRAWS, seed=PMI_SEED))
    se = math.sqrt(pmi.var(ddof=1) / pmi.size + mi_se(s) ** 2)
    assert abs(pmi.mean() - s.mutual_information) < 4 * se, (pmi.mean(), s.mutual_information, se)


@pytest.mark.parametrize("name", [t.name for t in MI_TASKS if t.family == "mixture"])
def test_mixture_mi_is_near_its_target_and_carries_its_se(name):
    task, s = get_task(name), built(name)
    assert isinstance(s, GaussianMixturePair)
    # the fit's 20,000 common draws have an SE of about sqrt(10) times the 200,000-draw one
    assert 0 < s.mutual_information_se < 0.01
    assert abs(s.mutual_information - task.mi) < 4 * math.sqrt(11) * s.mutual_information_se


# ---- the multinormal ----


@pytest.mark.parametrize("structure", ["dense", "sparse"])
@pytest.mark.parametrize("dims", [(1, 1), (2, 3), (5, 5), (4, 1)])
def test_multinormal_structure(structure, dims):
    dx, dy = dims
    mi = 0.8
    s = get_sampler("multinormal", mi=mi, dim_x=dx, dim_y=dy, structure=structure)
    cov = s.covariance
    assert np.allclose(np.diag(cov), 1.0)
    cross = cov[:dx, dx:]
    within = 0.5 if structure == "dense" else 0.0
    assert np.allclose(cov[:dx, :dx][~np.eye(dx, dtype=bool)], within)
    if structure == "dense":
        assert np.allclose(cross, cross[0, 0]) and cross[0, 0] > 0
    else:
        k = min(2, dx, dy)
        assert np.count_nonzero(cross) == k and np.allclose(np.diag(cross)[:k], cross[0, 0])
    assert abs(s.mutual_information - mi) < 1e-12
    assert gaussian_mi(cov, dx) == pytest.approx(mi, rel=1e-10)


def test_multinormal_params_round_trip():
    s = built("multinormal-sparse-5x5")
    again = MultinormalPair(**s.params())
    assert np.array_equal(again.sample(10, seed=1)[0], s.sample(10, seed=1)[0])
    assert again.mutual_information == s.mutual_information


def test_the_new_pmi_of_the_samplers_module():
    """CorrelatedGaussian.pmi is the multinormal's at the same covariance; TransformedPair.pmi moves with its maps."""
    g = CorrelatedGaussian.from_mi(1.2, dim=3)
    eye = np.eye(3)
    m = MultinormalPair(np.block([[eye, g.rho * eye], [g.rho * eye, eye]]), dim_x=3)
    x, y = g.sample(500, seed=2)
    np.testing.assert_allclose(g.pmi(x, y), m.pmi(x, y), rtol=1e-10, atol=1e-10)
    t = TransformedPair(base=g, fx="cube", fy="sinh")
    np.testing.assert_allclose(t.pmi(*t.sample(500, seed=2)), g.pmi(x, y), rtol=1e-9, atol=1e-9)


# ---- the maps ----

dims = st.integers(min_value=1, max_value=6)
seeds = st.integers(min_value=0, max_value=2**31 - 1)
scales = st.floats(min_value=0.01, max_value=5.0)


def points(dim: int, seed: int, scale: float, n: int = 64) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal((n, dim))


def assert_round_trip(f, u: np.ndarray) -> None:
    np.testing.assert_allclose(f.inverse(f.forward(u)), u, rtol=1e-10, atol=1e-10)


@given(dim=dims, seed=seeds, scale=scales)
def test_coordinate_maps_are_invertible(dim, seed, scale):
    u = points(dim, seed, scale)
    assert_round_trip(HalfCube(), u)
    assert_round_trip(Asinh(), u)
    # Phi rounds to 1 in float64 past u ~ 8.3 and loses digits before: its inverse holds to 1e-10 on |u| <= 4
    assert_round_trip(NormalCDF(), np.clip(u, -4.0, 4.0))


@given(dim=dims, seed=seeds, scale=scales, product=st.floats(0.0, 0.99), frequency=st.floats(0.1, 10.0))
def test_wiggly_is_invertible(dim, seed, scale, product, frequency):
    assert_round_trip(Wiggly(product / frequency, frequency), points(dim, seed, scale))


@given(dim=dims, seed=seeds, scale=scales, speed=st.floats(0.01, 2.0))
def test_spiral_is_invertible_and_keeps_norms(dim, seed, scale, speed):
    u = points(dim, seed, scale)
    f = Spiral(speed)
    assert_round_trip(f, u)
    np.testing.assert_allclose(np.linalg.norm(f.forward(u), axis=1), np.linalg.norm(u, axis=1), rtol=1e-12)


@given(dim=dims, seed=seeds, scale=scales, mix_seed=st.integers(0, 1000))
def test_bend_and_mix_is_invertible(dim, seed, scale, mix_seed):
    assert_round_trip(BendAndMix(dim, seed=mix_seed), points(dim, seed, scale))


def test_normal_cdf_output_is_in_the_unit_interval():
    x, y = built("normal-cdf-2x2").sample(PMI_DRAWS, seed=3)
    assert np.all((x > 0) & (x < 1)) and np.all((y > 0) & (y < 1))


@pytest.mark.parametrize("amplitude,frequency", [(0.4, 2.0), (0.99, 1.0), (0.05, 19.0)])
def test_wiggly_is_strictly_increasing(amplitude, frequency):
    u = np.linspace(-20, 20, 200_001)[:, None]
    assert np.all(np.diff(Wiggly(amplitude, frequency).forward(u)[:, 0]) > 0)


def test_spiral_and_bend_and_mix_couple_coordinates():
    """Unlike a coordinate-wise map, their first output coordinate moves with the second input coordinate."""
    u = np.array([[0.7, -0.4, 1.1]])
    du = np.array([[0.0, 1e-6, 0.0]])
    for f in (Spiral(0.5), BendAndMix(3, seed=0)):
        assert abs((f.forward(u + du) - f.forward(u))[0, 0]) > 1e-8


@pytest.mark.parametrize("name", [t.name for t in MI_TASKS if t.sampler in (
    "half-cube", "asinh", "normal-cdf", "wiggly", "spiral", "bend-and-mix")])
def test_mapped_pmi_is_the_base_pmi(name):
    s = built(name)
    assert isinstance(s, MappedPair)
    x, y = s.sample(1000, seed=9)
    bx, by = s.base.sample(1000, seed=9)
    np.testing.assert_array_equal(x, s.map_x.forward(bx))
    np.testing.assert_allclose(s.pmi(x, y), s.base.pmi(bx, by), rtol=1e-8, atol=1e-8)
    assert s.mutual_information == s.base.mutual_information


# ---- the mixtures ----


@pytest.mark.parametrize("name", [t.name for t in MI_TASKS if t.sampler == "mixture-x"])
def test_mixture_x_mi_matches_quadrature(name):
    """The integral of p log(p / (p_x p_y)) by the midpoint rule on [-8, 8]^2, step 0.01 (the integrand is
    smooth and its tails beyond 8 are below 1e-13, so the rule is exact to far below the Monte-Carlo SE);
    the marginals are exactly N(0, 1)."""
    s = built(name)
    h = 0.01
    grid = np.arange(-8.0 + h / 2, 8.0, h)
    log_phi = -0.5 * grid**2 - 0.5 * math.log(2 * math.pi)
    total, mass = 0.0, 0.0
    for rows in np.array_split(np.arange(grid.size), 8):
        gx, gy = np.meshgrid(grid[rows], grid, indexing="ij")
        pmi = s.pmi(gx.reshape(-1, 1), gy.reshape(-1, 1))
        p = np.exp(pmi + log_phi[rows][:, None].repeat(grid.size, 1).reshape(-1) + np.tile(log_phi, rows.size))
        total += float(np.sum(p * pmi)) * h * h
        mass += float(np.sum(p)) * h * h
    assert mass == pytest.approx(1.0, abs=1e-8)
    assert abs(total - s.mutual_information) < 4 * s.mutual_information_se, (total, s.mutual_information)


def test_mixture_params_round_trip():
    s = built("mixture-clusters-2x2")
    again = GaussianMixturePair(**s.params())
    assert np.array_equal(again.sample(10, seed=1)[1], s.sample(10, seed=1)[1])
    assert again.mutual_information == s.mutual_information


def test_cluster_mi_falls_with_the_noise_and_stays_below_log_k():
    low, high = mixture_clusters(0.3, dim_x=1, dim_y=1), mixture_clusters(1.2, dim_x=1, dim_y=1)
    assert high.covariances[0, 0, 0] < low.covariances[0, 0, 0]
    assert high.mutual_information < math.log(4)


# ---- refusals ----


@pytest.mark.parametrize("sampler,mi,options,match", [
    ("mixture-clusters", 1.4, {"components": 4}, r"mi must be < log\(components\)"),
    ("mixture-clusters", 0.5, {"components": 1}, "components must be"),
    ("mixture-clusters", 0.5, {"means_seed": -1}, "means_seed must be"),
    ("mixture-x", -1.0, {}, "mi must be finite and > 0"),
    ("mixture-x", 1e-3, {}, "mi must be >= 0.01 nats for a mixture"),
    ("mixture-x", 40.0, {}, "mi=40.0 is out of reach"),
    ("wiggly", 1.0, {"amplitude": 0.5, "frequency": 2.0}, r"amplitude \* frequency must be < 1"),
    ("wiggly", 1.0, {"frequency": 0.0}, "frequency must be"),
    ("half-cube", 1.0, {"base": "laplace"}, "base must be 'multinormal' or 'student-t'"),
    ("asinh", 1.0, {"base": "student-t", "dim_x": 2, "dim_y": 3}, "dim_x == dim_y"),
    ("asinh", 1.0, {"base": "student-t", "structure": "sparse"}, "structure applies only to base 'multinormal'"),
    ("asinh", 1.0, {"df": 3.0}, "df applies only to base 'student-t'"),
    ("normal-cdf", 1.0, {"base": "student-t"}, "base must be 'multinormal' for normal-cdf"),
    ("spiral", 1.0, {"dim_x": 1, "dim_y": 1}, "dim_x must be >= 2"),
    ("spiral", 1.0, {"speed": -1.0}, "speed must be"),
    ("bend-and-mix", 1.0, {"mix_seed": -1}, "mix_seed must be"),
    ("multinormal", 1.0, {"within": 1.0}, r"within must lie in"),
    ("multinormal", 1.0, {"dim_x": 5, "within": -0.3}, r"within must lie in \(-0.25, 1\)"),
    ("multinormal", 1.0, {"structure": "sparse", "interacting": 3}, r"interacting must be an integer in \[1, 2\]"),
    ("multinormal", 1.0, {"structure": "dense", "interacting": 1}, "interacting applies only to structure 'sparse'"),
    ("multinormal", 1.0, {"structure": "banded"}, "structure must be 'dense' or 'sparse'"),
    ("multinormal", 50.0, {"dim_x": 1, "dim_y": 1}, "beyond what a positive-definite covariance"),
    ("multinormal", 0.0, {}, "mi must be finite and > 0"),
    ("multinormal", 1.0, {"dim_x": 0}, "dim_x must be an integer >= 1"),
])
def test_bad_options_are_refused_by_name(sampler, mi, options, match):
    with pytest.raises(ValueError, match=match):
        get_sampler(sampler, mi=mi, **options)


def test_unknown_options_are_refused_by_the_registry():
    with pytest.raises(ValueError, match="sampler 'mixture-x'.*takes no option 'dim_x'"):
        get_sampler("mixture-x", mi=0.5, dim_x=2)
    with pytest.raises(ValueError, match="takes no option 'speed'"):
        get_sampler("half-cube", mi=0.5, speed=1.0)


def test_multinormal_covariance_reaches_high_mi_in_many_pairs():
    cov = multinormal_covariance(20.0, 10, 10, "sparse", interacting=10)
    assert gaussian_mi(cov, 10) == pytest.approx(20.0, rel=1e-9)
