"""analysis.channel_family: the grid's I and D against the closed form of a linear Gaussian channel, the
solver reaching R(D) on a Gaussian source (where a linear channel is optimal), and its CLI's refusals."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from analysis import channel_family
from analysis.channel_family import ChannelGrid, best_channel, channel_terms
from synthetic import get_source


@given(st.floats(0.2, 3.0), st.floats(0.5, 2.0))
def test_grid_terms_match_a_linear_gaussian_channel(a, variance):
    # Z = a X + N(0, 1), X ~ N(0, s^2): I = 1/2 log(1 + a^2 s^2), D = s^2 / (1 + a^2 s^2); the default grid's
    # error is the spacing's (x: 0.034 sd, z: ~0.03 noise sd), far below 1e-3 of either
    grid = ChannelGrid.for_source(get_source("gaussian", variance=variance))
    information, distortion = channel_terms(grid, a * grid.x, torch.zeros_like(grid.x))
    snr = a**2 * variance
    assert float(information) == pytest.approx(0.5 * math.log1p(snr), rel=1e-3)
    assert float(distortion) == pytest.approx(variance / (1 + snr), rel=1e-3)


def test_a_heteroscedastic_channel_is_the_same_channel_rescaled():
    # Z' = Z / sigma is the same channel as Z = f(X) / sigma + N(0, 1): sigma constant changes nothing
    grid = ChannelGrid.for_source(get_source("laplace"), points=301, nz=400)
    f = torch.tanh(grid.x)
    plain = channel_terms(grid, f / 0.5, torch.zeros_like(f))
    scaled = channel_terms(grid, f, torch.full_like(f, math.log(0.5)))
    for one, other in zip(plain, scaled):
        assert float(one) == pytest.approx(float(other), rel=1e-9)


@pytest.mark.parametrize("beta", [0.5, 1.5])
def test_the_solver_reaches_r_of_d_on_a_gaussian_source(beta):
    # minimising D + beta I over linear channels: D = beta / 2 and I = R(D) = 1/2 log(1 / D) (nats)
    source = get_source("gaussian")
    grid = ChannelGrid.for_source(source, points=301, nz=300)
    found = best_channel(grid, beta, steps=400, starts=("identity",))
    assert found.distortion == pytest.approx(beta / 2, abs=5e-3)
    loss_bits = (found.information - source.rate_distortion(found.distortion).upper) / math.log(2)
    assert abs(loss_bits) < 2e-3


def test_bad_arguments_are_refused_before_any_work(capsys):
    for argv, needle in ((["--source", "gaussian-vector"], "--source"), (["--source", "banana"], "is 1-D"),
                         (["--betas", "0"], "--betas"),
                         (["--steps", "0"], "--steps"), (["--source", "nothing"], "--source")):
        with pytest.raises(SystemExit) as exit_info:
            channel_family.main(argv)
        assert exit_info.value.code == 2
        assert needle in capsys.readouterr().err
    with pytest.raises(ValueError, match="start must be one of"):
        best_channel(ChannelGrid.for_source(get_source("gaussian"), points=64, nz=64), 1.0, starts=("random",))
