"""The audit of any codec through analysis.rd_gap: factories given beta, fit(x, beta), --steps 0, the
operational fields of every point, and a violation (exit 1) for a codec whose bytes are too few."""

from __future__ import annotations

import json
import math

import pytest

from analysis import rd_gap
from analysis.measure import OPERATIONAL_FIELDS
from tests.analysis import audit_parts

QUICK = ["--source", "gaussian", "--jobs", "1", "--no-progress", "--eval-samples", "4096"]


@pytest.fixture(autouse=True)
def _fresh_calls():
    audit_parts.CALLS.clear()


def _points(path):
    return json.loads(path.read_text())["points"]


def test_fit_is_called_with_training_samples_and_beta(tmp_path):
    out = tmp_path / "r.json"
    rc = rd_gap.main(QUICK + ["--codec", "tests.analysis.audit_parts:FittedRounding", "--betas", "0.02", "0.5",
                              "--fit-samples", "1000", "--json", str(out)])
    assert rc == 0
    fits = [args for name, args in audit_parts.CALLS if name == "fit"]
    assert sorted(fits, key=lambda a: a[1]) == [((1000, 1), 0.02), ((1000, 1), 0.5)]
    for p in _points(out):
        assert set(OPERATIONAL_FIELDS) <= set(p)
        # raw int16 per sample: 16 bits, whatever the step; the decoded distortion is that of the step
        assert p["rate_operational"] == pytest.approx(16.0)
        assert p["distortion"] == pytest.approx(6 * p["beta"] / 12, rel=0.1)  # step^2 / 12; 4096 samples
        assert p["decoded_exactly"] is True


def test_steps_0_measures_a_factory_codec_as_given_and_passes_beta(tmp_path):
    out = tmp_path / "r.json"
    rc = rd_gap.main(QUICK + ["--codec", "tests.analysis.audit_parts:rounding_for_beta", "--betas", "0.1",
                              "--steps", "0", "--json", str(out)])
    assert rc == 0
    assert [c for c in audit_parts.CALLS if c[0] == "factory"][-1] == ("factory", 0.1)
    # --steps 0: no fitting (FittedRounding.fit would have appended a call)
    assert not [c for c in audit_parts.CALLS if c[0] == "fit"]
    (p,) = _points(out)
    assert p["distortion"] == pytest.approx(0.6 / 12, rel=0.1)


def test_steps_0_refuses_a_registered_codec(capsys):
    with pytest.raises(SystemExit) as e:
        rd_gap.main(QUICK + ["--codec", "flowcodec", "--steps", "0"])
    assert e.value.code == 2
    assert "--steps" in capsys.readouterr().err


def test_too_few_bytes_are_a_violation(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = rd_gap.main(QUICK + ["--codec", "tests.analysis.audit_parts:CheatingCodec", "--betas", "0.01",
                              "--json", str(out)])
    assert rc == 1
    assert "VIOLATION" in capsys.readouterr().err
    (p,) = _points(out)
    # 1 byte for 4096 samples at D = 0.005: R(D) = 1/2 log2(1 / 0.005) = 3.8 bits
    assert p["rate_operational"] == pytest.approx(8 / 4096)
    assert p["violations"] and p["gap_operational"] < -3


def test_flowcodec_points_carry_the_operational_fields(tmp_path):
    out = tmp_path / "r.json"
    rc = rd_gap.main(["--source", "gaussian", "--betas", "0.5", "--steps", "30", "--eval-samples", "8192",
                      "--jobs", "1", "--no-progress", "--json", str(out)])
    assert rc in (0, 1)
    (p,) = _points(out)
    assert set(OPERATIONAL_FIELDS) | {"rate_model", "codec"} <= set(p)
    assert p["rate_operational"] == p["rate_coded"] and p["rate_model"] == p["rate_kl"]
    assert p["bytes"] * 8 / p["samples"] == pytest.approx(p["rate_operational"])
    assert p["gap_operational"] == pytest.approx(p["rate_operational"] - p["rd_lower_operational"], abs=1e-12)
    assert math.isfinite(p["gap"])
