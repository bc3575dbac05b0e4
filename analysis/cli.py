"""What every analysis command does before its study runs: parse, validate, refuse bad arguments with
exit 2; and how a command reads the options of the parts (sources, codecs, samplers, channels) it takes."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

from analysis.plots import check_figure_path
from contracts import Entry, Registry, json_object, options_from_flags

__all__ = [
    "parse_study_args", "json_object",  # json_object: contracts.options
    "part_listing", "part_options", "check_output_file", "check_plot_path",
    "check_output_dir", "check_checkpoint_file", "check_device", "check_outputs", "require_at_least",
    "require_positive", "require_seed",
]

S = TypeVar("S")


OutputPaths = Callable[[argparse.Namespace, Any], Mapping[str, "str | Path | None"]]


def parse_study_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, settings_from_args: Callable[[argparse.Namespace], S],
    output_paths: OutputPaths | None = None,
) -> tuple[argparse.Namespace, S]:
    """Parse ``argv``, build the study's settings and check the output paths and the device
    (:func:`check_outputs`), so that every bad argument is refused before anything is trained.

    Arguments:
        parser: the command's parser (its ``build_parser()``).
        argv: the arguments (None: ``sys.argv[1:]``).
        settings_from_args: builds the study's settings; raises ValueError naming the bad argument.
        output_paths: ``(args, settings) -> {"--json": path, "--plot": path, ...}``, the paths the
            study will write, for a command whose paths are not simply the flags' values (a default
            path when the flag is given without one); default: the values of ``--json``, ``--plot``,
            ``--checkpoint-dir`` and ``--checkpoint`` the parser has.

    Returns:
        (the parsed arguments, the settings). A ValueError becomes ``parser.error``: the message on
        stderr and exit status 2.

    Example:
        >>> p = argparse.ArgumentParser(prog="demo")
        >>> _ = p.add_argument("--steps", type=int, default=3)
        >>> _ = p.add_argument("--plot")
        >>> args, steps = parse_study_args(p, ["--steps", "5"], lambda a: a.steps)
        >>> steps
        5
    """
    args = parser.parse_args(argv)
    try:
        # the cheap checks first: a bad output path is refused before a settings step that loads data
        paths = _flag_paths(args) if output_paths is None else None
        if paths is not None:
            check_outputs(paths)
        check_device(getattr(args, "device", None))
        settings = settings_from_args(args)
        if output_paths is not None:
            check_outputs(output_paths(args, settings))
    except ValueError as e:  # json.JSONDecodeError is a ValueError too
        parser.error(str(e))
    return args, settings


def _flag_paths(args: argparse.Namespace) -> dict[str, Any]:
    return {flag: getattr(args, dest, None) for flag, dest in
            (("--json", "json"), ("--plot", "plot"), ("--checkpoint-dir", "checkpoint_dir"), ("--checkpoint", "checkpoint"))}


def check_outputs(paths: Mapping[str, "str | Path | None"]) -> None:
    """Check every output path a study will write, by its flag: ``--plot`` with :func:`check_plot_path`,
    ``--checkpoint-dir`` with :func:`check_output_dir`, ``--checkpoint`` with
    :func:`check_checkpoint_file`, any other (``--json``) with :func:`check_output_file`. None or ""
    (not given) is skipped. Raises ValueError naming the flag.

    Example:
        >>> check_outputs({"--json": None, "--plot": "fig.xyz"})
        Traceback (most recent call last):
        ...
        ValueError: --plot: a figure is written as .png, .pdf or .svg, not 'fig.xyz'
    """
    for flag, path in paths.items():
        if path is None or str(path) == "":
            continue
        if flag == "--plot":
            check_plot_path(path)
        elif flag == "--checkpoint-dir":
            check_output_dir(flag, path)
        elif flag == "--checkpoint":
            check_checkpoint_file(flag, path)
        else:
            check_output_file(flag, path)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the folder a missing path would be made under)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in ``folder``, tried for real with an anonymous temporary file that
    is gone when closed (``os.access`` says yes to root even on read-only and pseudo file systems)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _check_creatable(flag: str, path: Path, what: str) -> None:
    """``path`` does not exist yet: its nearest existing ancestor must be a folder we can write in."""
    base = _nearest_existing(path)
    if not base.is_dir():
        raise ValueError(f"{flag} {str(path)!r}: cannot create {what} there, {str(base)!r} is not a folder")
    if not _can_create_in(base):
        raise ValueError(f"{flag} {str(path)!r}: cannot create {what} there, {str(base)!r} is not writable")


def check_output_file(flag: str, path: str | Path) -> Path:
    """``path`` as a Path if a file can be written there: an existing writable file, or a new file
    whose folder exists or can be created. Nothing is left behind. Raises ValueError naming ``flag``.

    Example:
        >>> check_output_file("--json", "/proc/nope/a.json")
        Traceback (most recent call last):
        ...
        ValueError: --json '/proc/nope/a.json': cannot create a file there, '/proc' is not writable
        >>> check_output_file("--json", tempfile.gettempdir())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --json '...' is a folder; give a file path such as out/results.json
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {str(path)!r} is a folder; give a file path such as out/results.json")
    if path.exists():
        if not os.access(path, os.W_OK) or not _can_create_in(path.parent):
            raise ValueError(f"{flag} {str(path)!r}: the file exists and is not writable")
        return path
    _check_creatable(flag, path, "a file")
    return path


def check_plot_path(path: str | Path, flag: str = "--plot") -> Path:
    """``path`` as a Path if it has a figure suffix (:func:`analysis.plots.check_figure_path`) and
    :func:`check_output_file` accepts it; a ValueError naming ``flag`` otherwise."""
    try:
        check_figure_path(path)
    except ValueError as e:
        raise ValueError(f"{flag}: {e}") from None
    return check_output_file(flag, path)


def check_output_dir(flag: str, path: str | Path) -> Path:
    """``path`` as a Path if files can be written in it: an existing writable folder, or one that can
    be created (it is not created here). Raises ValueError naming ``flag``.

    Example:
        >>> check_output_dir("--checkpoint-dir", "/proc/nope")
        Traceback (most recent call last):
        ...
        ValueError: --checkpoint-dir '/proc/nope': cannot create a folder there, '/proc' is not writable
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{flag} {str(path)!r} exists and is not a folder")
        if not _can_create_in(path):
            raise ValueError(f"{flag} {str(path)!r}: the folder is not writable")
        return path
    _check_creatable(flag, path, "a folder")
    return path


def check_checkpoint_file(flag: str, path: str | Path) -> Path:
    """``path`` as a Path if it is an existing readable file (to load) or a new file that can be
    written (to save to). Whether an existing file holds a checkpoint is the loader's check."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {str(path)!r} is a folder; give a checkpoint file path such as out/models.pt")
    if path.exists():
        if not os.access(path, os.R_OK):
            raise ValueError(f"{flag} {str(path)!r}: the file is not readable")
        return path
    _check_creatable(flag, path, "a file")
    return path


def check_device(device: str | None, flag: str = "--device") -> None:
    """Refuse ``cuda`` (or ``cuda:N``) where torch sees no such CUDA device; anything else passes
    (argparse's choices restrict the names)."""
    if device is None or not str(device).startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ValueError(f"{flag} cuda was asked for but torch sees no CUDA device; use {flag} cpu")
    index = str(device).partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ValueError(f"{flag} {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")


def require_at_least(flag: str, value: int | float, low: int | float, why: str = "") -> None:
    """ValueError ``"{flag} must be >= {low} ({why}), got {value}"`` unless ``value >= low``.

    Example:
        >>> require_at_least("--eval-samples", 2047, 8192, "4 sandwich batches of 2048")
        Traceback (most recent call last):
        ...
        ValueError: --eval-samples must be >= 8192 (4 sandwich batches of 2048), got 2047
    """
    if not value >= low:
        raise ValueError(f"{flag} must be >= {low}{f' ({why})' if why else ''}, got {value}")


def require_positive(flag: str, value: float) -> None:
    """ValueError unless ``value`` is finite and > 0 (a learning rate, a variance).

    Example:
        >>> require_positive("--lr", 0.0)
        Traceback (most recent call last):
        ...
        ValueError: --lr must be finite and > 0, got 0.0
    """
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} must be finite and > 0, got {value}")


def require_seed(flag: str, values: int | Sequence[int]) -> None:
    """ValueError unless every seed is in [0, 2**32 - 1] (what numpy's generators and torch's
    ``manual_seed`` both take).

    Example:
        >>> require_seed("--seeds", [0, -1])
        Traceback (most recent call last):
        ...
        ValueError: --seeds must be in [0, 4294967295] (numpy and torch seeds), got -1
    """
    for v in [values] if isinstance(values, int) else values:
        if not 0 <= v < 2**32:
            raise ValueError(f"{flag} must be in [0, {2**32 - 1}] (numpy and torch seeds), got {v}")


def part_listing(entries: Sequence[Entry[Any]], sep: str = "; ") -> str:
    """``name: summary`` for each part, for a flag's help (argparse expands %-formats in help text, so
    a summary's own % is doubled to stay a literal).

    Example:
        >>> part_listing([Entry("awgn", object, summary="y = s + n.")])
        'awgn: y = s + n'
    """
    return sep.join(f"{e.name}: {e.summary.rstrip('.')}" for e in entries).replace("%", "%%")


def part_options(
    args: argparse.Namespace, registry: Registry[Any], spec: str, flags: dict[str, list[str]], from_json: dict[str, Any] | None,
    flag: str, json_flag: str,
) -> dict[str, Any]:
    """The options of the part ``spec`` names in ``registry``: those of its JSON flag, then the part's
    own flags given on the command line.

    Raises ``ValueError`` (exit 2 through :func:`parse_study_args`), naming ``flag``, for an unknown
    part; naming the flag for one the chosen part does not take; and for an option given both ways.
    """
    if registry.kind == "source" and spec.startswith("data:"):
        # finite data (synthetic.sources.empirical) is no registered part: only its split options, by JSON
        options_from_flags(args, None, flags, f"source {spec!r}")
        return dict(from_json or {})
    try:
        entry = registry.get(spec)  # a registered name, an entry point or package.module:attribute
    except ValueError as e:
        raise ValueError(f"{flag}: {e}") from None
    given = options_from_flags(args, entry.options, flags, f"{registry.kind} {entry.name!r}")
    from_json = dict(from_json or {})
    twice = sorted(set(given) & set(from_json))
    if twice:
        raise ValueError(f"{registry.kind} option {', '.join(twice)} given both as a flag and in {json_flag}")
    return {**from_json, **given}
