"""The registry walk: every registered part, and a user's part of every kind given as
``module:attribute``, runs through every command line that accepts it, on a tiny input.

The cases are generated from the registries themselves, so a new part is walked the moment it is
registered; :func:`test_every_registry_is_walked` fails when a registry or a codec family appears
that no command line here takes. (Each CLI's own tests check its flags, errors and numbers; here
the question is only whether every part gets through every door.)
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import contracts
import estimators
import ibflow
import synthetic
from analysis import jscc, mi_bench, rd_gap
from estimators import ESTIMATORS
from estimators.__main__ import main as estimators_main
from ibflow import CHANNELS, CODECS, get_channel
from ibflow.channel import linear_to_db
from synthetic import SAMPLERS, SOURCES, get_sampler
from tests.estimators.test_cli import save_correlated_pair

# the parts every registry is walked with besides its own: a user's, found only by path
USER_SOURCE = "tests.synthetic.toy_parts:UniformSource"
USER_CODEC = "examples.user_parts:ScalarQuantizer"
USER_ESTIMATOR = "examples.user_parts:GaussianMI"
USER_SAMPLER = "tests.analysis.user_parts:NoisyCopySampler"
USER_CHANNEL = "tests.analysis.user_parts:PlainAWGN"

# parameters for the sources that have no defaults to build from (gaussian-vector takes exactly one
# of variances or covariance); every other source must build from its options' defaults
SOURCE_PARAMS: dict[str, dict[str, Any]] = {"gaussian-vector": {"variances": [2.0, 0.5]}}

# a few training steps on few samples: the path through the CLI, not the codec's quality
TINY_RD = ["--betas", "0.5", "--steps", "3", "--batch-size", "64", "--eval-samples", "8192", "--jobs", "1", "--no-progress"]
TINY_BENCH = ["--mis", "3", "--repeats", "1", "--ksg-samples", "400", "--samples", "1280", "--steps", "20",
              "--jobs", "1", "--no-progress"]
TINY_JSCC = ["--steps", "20", "--adapt-steps", "5", "--separation-steps", "20", "--separation-rounds", "1",
             "--eval-samples", "4096", "--hidden", "8", "--decoder-hidden", "16", "--decoder-depth", "1",
             "--snr-db", "10", "--no-progress"]


# ---- one runner per command line: run the part, assert what holds for every part of its kind ----


def _rd_gap(tmp_path: Path, *argv: str) -> dict[str, Any]:
    path = tmp_path / "rd.json"
    code = rd_gap.main([*argv, *TINY_RD, "--json", str(path)])
    report = json.loads(path.read_text())
    (point,) = report["points"]
    assert code == (1 if point["violations"] else 0)
    assert not point["violations"], point["violations"]  # three steps cannot reach below R(D)
    assert report["unit"] == "bits" and point["rd_lower"] <= point["rd_upper"]
    assert point["distortion"] > 0 and math.isfinite(point["gap"])
    return report


def run_source_through_rd_gap(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = SOURCE_PARAMS.get(name, {})
    report = _rd_gap(tmp_path, "--source", name, *(["--params", json.dumps(params)] if params else []))
    assert report["source"] == name
    # the reported parameters rebuild the same source
    rebuilt = synthetic.get_source(name, **report["params"]) if name in SOURCES else None
    if rebuilt is not None:
        assert rebuilt.dim == report["dim"]


def run_codec_through_rd_gap(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _rd_gap(tmp_path, "--codec", name)
    (point,) = report["points"]
    assert point["codec"] == name
    # a FlowCodec is measured every way; any other codec through the contract, by its real bytes
    if name == "flowcodec":
        assert point["decoded_exactly"] is True and point["rate_coded"] > 0
    else:
        assert point["bytes"] > 0 and point["rate_operational"] == pytest.approx(8 * point["bytes"] / point["samples"])
        assert point["decoded_exactly"] is not False


def _small_flags(name: str) -> list[str]:
    """Few training steps of a small model, for the flags the method has."""
    options = ESTIMATORS.get(name).options
    fields = {f.name for f in dataclasses.fields(options)} if options is not None else set()
    small = {"steps": "20", "hidden": "16", "batch_size": "32"}
    return [arg for k, v in small.items() if k in fields for arg in ("--" + k.replace("_", "-"), v)]


def run_estimator_through_estimators_cli(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = save_correlated_pair(tmp_path)
    path = tmp_path / "r.json"
    code = estimators_main(["--x", x, "--y", y, "--method", name, *_small_flags(name), "--json", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(path.read_text())
    assert out.startswith("I(X;Y) = ") and f"{result['value']:.4f} nats" in out
    assert result["unit"] == "nats" and math.isfinite(result["value"])
    assert result["method"] == (name if name in ESTIMATORS.names() else "gaussian-plug-in")


def _bench(tmp_path: Path, *argv: str) -> dict[str, Any]:
    path = tmp_path / "mi.json"
    # argv after the tiny settings, so that a part's runner may override one of them (the last flag wins)
    assert mi_bench.main([*TINY_BENCH, *argv, "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["unit"] == "nats"
    return report


def run_estimator_through_mi_bench(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _bench(tmp_path, "--methods", name)
    (cell,) = report["cells"]
    assert cell["method"] == name and math.isfinite(cell["mean"])
    assert cell["bias"] == pytest.approx(cell["mean"] - cell["true_mi"], abs=1e-12)


def run_sampler_through_mi_bench(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1 nat: within reach of every sampler (a mixture of K = 4 clusters stays below log 4)
    report = _bench(tmp_path, "--source", name, "--methods", "ksg", "--mis", "1")
    assert report["source"] == name
    (cell,) = report["cells"]
    # the report's true MI is the sampler's own (a registered sampler's, or the user's closed form), rebuilt
    # from the options the report says it was built with
    sampler = get_sampler(name, mi=1.0, **report["settings"]["source_options"])
    assert cell["true_mi"] == pytest.approx(sampler.mutual_information, rel=1e-12)
    assert cell["bias"] == pytest.approx(cell["mean"] - cell["true_mi"], abs=1e-12)
    assert report["settings"]["dim"] == sampler.dim_x


def run_channel_through_jscc(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "jscc.json"
    code = jscc.main(["--channel", name, *TINY_JSCC, "--json", str(path)])
    report = json.loads(path.read_text())
    assert report["channel"] == name
    assert code == (1 if report["violations"] else 0)
    assert not report["violations"], report["violations"]
    (point,) = report["points"]
    bound = get_channel(name, 10.0, **report["channel_params"]).distortion_ratio_lower_bound(1, 1)
    assert point["opta_db"] == pytest.approx(linear_to_db(bound), abs=1e-12)
    if name in CHANNELS.names():
        # the report names every option the channel was built with, defaults included
        assert set(report["channel_params"]) == {f for f in get_channel(name, 10.0).config if f != "snr_db"}
        assert (report["separation_codec"] is not None) == (name == "awgn")


# ---- the walk ----

Runner = Callable[[str, Path, pytest.CaptureFixture[str]], None]


def cases() -> Iterator[tuple[str, str, str, Runner]]:
    """(command line, kind, part, runner) for every registered part and one user part of each kind."""
    for name in [*SOURCES.names(), USER_SOURCE]:
        yield "rd_gap", "source", name, run_source_through_rd_gap
    for name in [*CODECS.tagged("vector"), USER_CODEC]:
        yield "rd_gap", "codec", name, run_codec_through_rd_gap
    for name in [*ESTIMATORS.names(), USER_ESTIMATOR]:
        yield "estimators", "estimator", name, run_estimator_through_estimators_cli
        yield "mi_bench", "estimator", name, run_estimator_through_mi_bench
    for name in [*SAMPLERS.names(), USER_SAMPLER]:
        yield "mi_bench", "sampler", name, run_sampler_through_mi_bench
    for name in [*CHANNELS.names(), USER_CHANNEL]:
        yield "jscc", "channel", name, run_channel_through_jscc


CASES = list(cases())


@pytest.mark.parametrize(("cli", "kind", "name", "runner"), CASES, ids=[f"{c}-{k}-{n}" for c, k, n, _ in CASES])
def test_part_runs_through_cli(cli: str, kind: str, name: str, runner: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner(name, tmp_path, capsys)


def _registries() -> dict[str, contracts.Registry[Any]]:
    """Every Registry object the packages expose at their top level."""
    found = {}
    for package in (synthetic, estimators, ibflow):
        for attr in dir(package):
            value = getattr(package, attr)
            if isinstance(value, contracts.Registry):
                found[f"{package.__name__}.{attr}"] = value
    return found


def test_every_registry_is_walked() -> None:
    walked_kinds = {kind for _, kind, _, _ in CASES}
    registries = _registries()
    assert {r.kind for r in registries.values()} <= walked_kinds, registries
    assert set(registries) == {"synthetic.SOURCES", "synthetic.SAMPLERS", "estimators.ESTIMATORS", "ibflow.CODECS", "ibflow.CHANNELS"}
    # every codec belongs to a family some command line takes: vector codecs are walked above;
    # the image codecs are what analysis.image_rd trains (tests/analysis/test_image_rd.py runs it),
    # and the JSCC codec is what analysis.jscc trains (walked above with every channel). The distributed
    # codecs (batches [x, y] or [x1, x2]) are what analysis.distributed trains: tests/analysis/test_distributed.py
    # runs every one of them through it by name and by module:attribute. The video codec is what analysis.video_rd
    # trains (tests/analysis/test_video_rd.py runs it)
    for entry in CODECS:
        assert entry.tags & {"vector", "image", "jscc", "distributed", "video"}, f"codec {entry.name!r} has no family"
    assert CODECS.tagged("video") == ["videoflow"]
    assert set(CODECS.tagged("distributed")) == {"flowcodec-wyner-ziv", "flowcodec-two-terminal"}
    assert set(CODECS.tagged("image")) == {"imageflow", "quantized-image"}
    assert CODECS.tagged("jscc") == ["jscc"]
