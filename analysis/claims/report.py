"""The audit's driver: run the eight checks, print the table, write JSON (python -m analysis.claims)."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import sys
import textwrap
import time
from dataclasses import asdict
from typing import Any, Callable, Sequence

import torch

from analysis.claims.common import ClaimResult, ClaimsSettings, SHORT, TrainedCodecs, VERDICTS, train_codecs
from analysis.claims.density import check_claim1, check_claim2, check_claim4
from analysis.claims.lagrangian import check_claim3, check_claim6
from analysis.claims.coding import check_claim5, check_claim7
from analysis.claims.operational import check_claim8
from analysis.claims.symbolic import symbolic_checks
from analysis.cli import parse_study_args, require_at_least, require_seed
from analysis.report import study_report, write_report


# --------------------------------------------------------------------------------------------- driver


CHECKS: dict[int, Callable[[TrainedCodecs, ClaimsSettings], ClaimResult]] = {
    1: check_claim1, 2: check_claim2, 3: check_claim3, 4: check_claim4, 5: check_claim5, 6: check_claim6, 7: check_claim7,
    8: check_claim8,
}


def run_claims(
    settings: ClaimsSettings, progress: bool = False, trained: TrainedCodecs | None = None
) -> tuple[list[ClaimResult], TrainedCodecs]:
    """Train the codecs (unless given), run the eight checks and attach the symbolic checks."""
    torch.manual_seed(settings.seed)
    threads = torch.get_num_threads()
    # one thread: the development machine has 2 shared cores, and every number here is reproducible
    # for a given thread count
    torch.set_num_threads(1)
    try:
        tc = trained or train_codecs(settings, progress=progress)
        sym = symbolic_checks()
        results = []
        for number, check in CHECKS.items():
            res = check(tc, settings)
            res.symbolic = {str(k): v for k, v in sym.get(number, {}).items()}
            sym_ok = all(v for k, v in res.symbolic.items() if k.startswith("passes_"))
            res.evidence["symbolic_checks_pass"] = sym_ok
            results.append(res)
    finally:
        torch.set_num_threads(threads)
    return results, tc


def _fmt_value(v: Any, fmt: str) -> str:
    if fmt == "raw":
        return str(v)
    if fmt == "d":
        return f"{v:d}"
    if fmt.startswith("list"):
        digits = int(fmt[4:])
        return "[" + ", ".join(f"{float(e):.{digits}f}" for e in v) + "]"
    if fmt.startswith("dict"):
        digits = int(fmt[4:])
        return "{" + ", ".join(f"{k}: {float(e):.{digits}f}" for k, e in v.items()) + "}"
    return format(v, fmt)


def format_table(results: Sequence[ClaimResult], width: int = 118) -> str:
    """Claim, verdict, headline evidence and corrected statement; rates in bits (see each key)."""
    head = f"{'#':>2}  {'claim':<38} {'verdict':<30} evidence"
    lines = [head, "-" * width]
    for r in results:
        ev = "; ".join(f"{label} {_fmt_value(r.evidence[key], fmt)}" for label, key, fmt in r.headline)
        ev_lines = textwrap.wrap(ev, width - 73) or [""]
        lines.append(f"{r.number:>2}  {SHORT[r.number]:<38} {r.verdict:<30} {ev_lines[0]}")
        for e in ev_lines[1:]:
            lines.append(f"{'':>2}  {'':<38} {'':<30} {e}")
        for c in textwrap.wrap("corrected: " + r.corrected, width - 4):
            lines.append(f"    {c}")
        lines.append("")
    return "\n".join(lines)


def claims_report(
    settings: ClaimsSettings, results: Sequence[ClaimResult], trained: TrainedCodecs, runtime_s: float
) -> dict[str, Any]:
    """The JSON report of the audit (bits; the fields of ``benchmarks/results/claims.json``)."""
    return study_report({
        "unit": "bits",
        "units_note": "rates and entropies in bits (keys end in _bits); slopes in nats per unit distortion; "
                      "distortion is squared error per sample summed over dimensions; times in microseconds",
        "runtime_s": runtime_s,
        "training_s": trained.seconds,
        "machine": platform.platform(),
        "cpu_count": mp.cpu_count(),
        "settings": asdict(settings),
        "verdict_set": list(VERDICTS),
        "claims": [r.as_dict() for r in results],
    })


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.claims",
        description="Audit FlowCodec's stated design claims: train small codecs on Gaussian sources, measure, "
        "and print a verdict per claim with the evidence (rates in bits) and the corrected statement.",
    )
    p.add_argument("--json", type=str, default=None, help="write verdicts and numbers as JSON here")
    p.add_argument("--quick", action="store_true", help="small settings (about half a minute)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="training processes (default: CPU count, max 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _settings(args: argparse.Namespace) -> ClaimsSettings:
    jobs = args.jobs if args.jobs is not None else min(2, mp.cpu_count())
    require_at_least("--jobs", jobs, 1)
    require_seed("--seed", args.seed)
    return ClaimsSettings.quick_settings(seed=args.seed, jobs=jobs) if args.quick else ClaimsSettings(seed=args.seed, jobs=jobs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the audit; exit status 0 (verdicts printed, whatever they are), 1 if a symbolic check fails
    (a bug in the audit itself), 2 on bad arguments, 130 if interrupted."""
    args, settings = parse_study_args(build_parser(), argv, _settings)
    jobs = settings.jobs
    start = time.perf_counter()
    try:
        results, tc = run_claims(settings, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    runtime = time.perf_counter() - start
    print(f"\nFlowCodec claims audit  (rates in bits per sample; D squared error summed over dims; "
          f"slopes in nats per unit distortion)  {'quick settings' if settings.quick else 'default settings'}")
    print(format_table(results))
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    print("verdicts: " + ", ".join(f"{k}: {n}" for k, n in counts.items())
          + f"; runtime {runtime:.1f} s (training {tc.seconds:.1f} s, {jobs} process(es))")
    sym_fail = [r.number for r in results if not r.evidence["symbolic_checks_pass"]]
    if sym_fail:
        print(f"SYMBOLIC CHECK FAILED for claims {sym_fail}", file=sys.stderr)
    if args.json:
        write_report(args.json, claims_report(settings, results, tc, runtime))
    return 1 if sym_fail else 0

