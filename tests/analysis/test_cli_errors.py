"""Every bad invocation of the issue (and the checks added for it) is refused before any work: exit
status 2, one line on stderr naming the option, no traceback, within a few seconds, nothing written."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest
import torch

from analysis import image_rd, jscc, mi_bench, rd_gap
from analysis.claims import report as claims
from estimators.__main__ import main as estimators_main

# settings that would make each run short if a check let it through: the bound below is on refusing
TINY_RD = ["--betas", "0.5", "--steps", "3", "--batch-size", "64", "--eval-samples", "8192", "--jobs", "1", "--no-progress"]
TINY_JSCC = ["--steps", "3", "--adapt-steps", "2", "--separation-steps", "3", "--separation-rounds", "1", "--hidden", "8",
             "--decoder-hidden", "16", "--decoder-depth", "1", "--snr-db", "10", "--no-progress"]
TINY_BENCH = ["--methods", "ksg", "--ksg-samples", "400", "--jobs", "1", "--no-progress"]
REFUSE_WITHIN_S = 5.0  # generous: a refusal does no work; a run that started training would take longer


def refused(main: Callable[[Sequence[str]], int | None], argv: Sequence[str], option: str,
            capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``main(argv)`` in-process; assert exit 2, a last stderr line naming ``option``, no traceback,
    and that it returned within :data:`REFUSE_WITHIN_S`. Returns that line."""
    start = time.perf_counter()
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines, "no message"
    assert option in lines[-1], lines[-1]
    assert "Traceback" not in err
    assert seconds < REFUSE_WITHIN_S, f"refusing took {seconds:.1f} s: work started before the check"
    return lines[-1]


def test_rd_gap_output_paths_refused_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    for extra, option in (
        (["--plot", str(tmp_path / "out.xyz")], "--plot"),
        (["--json", "/proc/nope/a.json"], "--json"),
        (["--json", str(folder)], "--json"),
        (["--checkpoint-dir", "/proc/nope"], "--checkpoint-dir"),
        (["--plot", "/proc/nope/fig.png"], "--plot"),
        (["--json", str(tmp_path / "ok.json"), "--checkpoint-dir", "/proc/nope"], "--checkpoint-dir"),
    ):
        refused(rd_gap.main, [*TINY_RD, *extra], option, capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_folder"]  # no JSON, plot or checkpoint written
    assert not any(folder.iterdir())


def test_rd_gap_bad_numbers_refused(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(rd_gap.main, [*TINY_RD, "--eval-samples", "2047"], "--eval-samples", capsys)
    assert "8192" in line and "2047" in line
    refused(rd_gap.main, [*TINY_RD, "--eval-samples", "8191"], "--eval-samples", capsys)
    for extra, option in (
        (["--depth", "0"], "depth"), (["--hidden", "0"], "hidden"), (["--params", "[1,2]"], "--params"),
        (["--betas", "0"], "--betas"), (["--steps", "0"], "--steps"), (["--batch-size", "1"], "--batch-size"),
        (["--lr", "0"], "--lr"), (["--lr", "nan"], "--lr"), (["--jobs", "0"], "--jobs"), (["--seed", "-1"], "--seed"),
        (["--delta", "0"], "--delta"),
    ):
        refused(rd_gap.main, [*TINY_RD, *extra], option, capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the check is for a machine without CUDA")
def test_cuda_without_cuda_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(rd_gap.main, [*TINY_RD, "--device", "cuda"], "--device", capsys)
    refused(image_rd.main, ["--device", "cuda", "--no-progress"], "--device", capsys)


def test_jscc_bad_invocations_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    line = refused(jscc.main, [*TINY_JSCC, "--eval-samples", "4"], "--eval-samples", capsys)
    assert "75" in line  # 2 * 64 ln 2 / C(10 dB) rounded up
    for extra, option in (
        (["--eval-samples", "74"], "--eval-samples"), (["--snr-db", "99"], "--snr-db"), (["--rho", "0"], "--rho"),
        (["--steps", "0"], "--steps"), (["--seed", "-3"], "--seed"), (["--lr", "-1"], "--lr"),
        (["--plot", str(tmp_path / "f.xyz")], "--plot"), (["--json", "/proc/nope/a.json"], "--json"),
    ):
        refused(jscc.main, [*TINY_JSCC, *extra], option, capsys)
    # --json without PATH writes to benchmarks/results/...: that default path is checked too
    monkeypatch.chdir(tmp_path)
    (tmp_path / "benchmarks").write_text("a file where the folder would go")
    refused(jscc.main, [*TINY_JSCC, "--json"], "--json", capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["benchmarks"]


def test_mi_bench_bad_invocations_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(mi_bench.main, [*TINY_BENCH, "--mis", "2", "--seeds", "-1"], "--seeds", capsys)
    line = refused(mi_bench.main, [*TINY_BENCH, "--repeats", "1", "--mis", "1000", "--dim", "2"], "--mis", capsys)
    assert "--dim" in line
    for extra, option in (
        (["--repeats", "0"], "--repeats"), (["--jobs", "0"], "--jobs"), (["--mis", "-1"], "--mis"),
        (["--methods", "nwj", "--samples", "100"], "--samples"), (["--plot", str(tmp_path / "a.jpeg")], "--plot"),
        (["--json", str(tmp_path)], "--json"),
    ):
        refused(mi_bench.main, [*TINY_BENCH, "--mis", "2", "--repeats", "1", *extra], option, capsys)
    assert not any(tmp_path.iterdir())


def test_image_rd_bad_invocations_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for extra, option in (
        (["--steps", "0"], "--steps"), (["--finetune-steps", "-1"], "--finetune-steps"), (["--betas", "-1"], "--betas"),
        (["--max-side", "100"], "--max-side"), (["--data", str(tmp_path / "none")], "--data"),
        (["--data", str(empty)], "--data"), (["--checkpoint", "/proc/nope/m.pt"], "--checkpoint"),
        (["--checkpoint", str(empty)], "--checkpoint"),
    ):
        refused(image_rd.main, ["--no-progress", *extra], option, capsys)


def _bad_checkpoints(folder: Path) -> dict[str, Path]:
    """Files that are not image_rd checkpoints, each a different way."""
    files = {name: folder / f"{name}.pt" for name in ("random", "text", "truncated", "foreign", "wrong-format", "empty")}
    files["random"].write_bytes(np.random.default_rng(0).bytes(3000))
    files["text"].write_text("hello\n")
    buffer = io.BytesIO()
    torch.save({"config": {}, "flowcodec": {}, "quantized": {}}, buffer)
    files["truncated"].write_bytes(buffer.getvalue()[:200])
    torch.save({"weights": torch.zeros(2)}, files["foreign"])
    torch.save({"config": {}, "flowcodec": {"0.1": {"format": "other/1"}}, "quantized": {}}, files["wrong-format"])
    files["empty"].write_bytes(b"")
    return files


def test_image_rd_unreadable_checkpoints_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, path in _bad_checkpoints(tmp_path).items():
        line = refused(image_rd.main, ["--checkpoint", str(path), "--no-progress"], "--checkpoint", capsys)
        assert str(path) in line, (name, line)


def test_claims_bad_invocations_refused(capsys: pytest.CaptureFixture[str]) -> None:
    refused(claims.main, ["--jobs", "0", "--no-progress"], "--jobs", capsys)
    refused(claims.main, ["--seed", "-1", "--no-progress"], "--seed", capsys)
    refused(claims.main, ["--json", "/proc/nope/c.json", "--no-progress"], "--json", capsys)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x + rng.normal(size=x.shape))
    return str(tmp_path / "x.npy"), str(tmp_path / "y.npy")


def test_estimators_cli_refuses_every_input_error(pair: tuple[str, str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    x, y = pair
    data = ["--x", x, "--y", y]
    for extra, option in (
        (["--method", "nwj", "--steps", "0"], "--steps"), (["--method", "infonce", "--batch-size", "1"], "--batch-size"),
        (["--method", "dv", "--lr", "0"], "--lr"), (["--method", "ksg", "--k", "0"], "--k"),
        (["--method", "doe", "--options", '{"split": [0.5, 0.6]}'], "split"), (["--method", "nope"], "nope"),
        (["--json", "/proc/nope/a.json"], "--json"), (["--json", str(tmp_path)], "--json"),
    ):
        refused(estimators_main, [*data, *extra], option, capsys)
    refused(estimators_main, ["--x", str(tmp_path / "missing.npy"), "--y", y], "--x", capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


def test_check_helpers_leave_nothing_behind(tmp_path: Path) -> None:
    from analysis.cli import check_checkpoint_file, check_output_dir, check_output_file, check_plot_path

    check_output_file("--json", tmp_path / "new" / "deeper" / "a.json")
    check_plot_path(tmp_path / "fig.svg")
    check_output_dir("--checkpoint-dir", tmp_path / "ckpt")
    check_checkpoint_file("--checkpoint", tmp_path / "m.pt")
    assert not any(tmp_path.iterdir())
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--checkpoint-dir .* not a folder"):
        check_output_dir("--checkpoint-dir", tmp_path / "file")
    with pytest.raises(ValueError, match="--json .* not a folder"):
        check_output_file("--json", tmp_path / "file" / "a.json")
