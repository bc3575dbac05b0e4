"""Per-point result logs: each finished sweep point as one JSON line, so a run that fails or is
interrupted keeps its finished points and a rerun with ``--resume`` continues from them.

A line is ``{"key": KEY, "settings_hash": HASH, "point": POINT}``: ``KEY`` names the task the point
answers (rd_gap: its beta; mi_bench: ``[mi, method, seed]``), ``HASH`` is :func:`settings_hash` of
every setting that determines a point (not output paths, jobs, progress or the list of tasks), so a
resume never mixes points of different settings. Each line is flushed and fsynced as it is
written; a line torn by a crash mid-write is skipped on reading, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from analysis.report import json_default

__all__ = [
    "POINTS_LOG_SUFFIX", "points_log_path", "settings_hash", "PointsLog", "LoggedPoints", "SettingsMismatch",
    "open_points_log", "open_study_log",
]

POINTS_LOG_SUFFIX = ".points.jsonl"


class SettingsMismatch(ValueError):
    """A points log holds points of other settings than the run that would resume from it."""


def points_log_path(json_path: str | Path | None, checkpoint_dir: str | Path | None = None) -> Path | None:
    """Where a study logs its points: ``<json>.points.jsonl`` beside the ``--json`` target, else
    ``<checkpoint-dir>/points.jsonl``, else nowhere (None).

    Example:
        >>> str(points_log_path("out/r.json", "ckpt")), str(points_log_path(None, "ckpt")), points_log_path(None)
        ('out/r.json.points.jsonl', 'ckpt/points.jsonl', None)
    """
    if json_path is not None:
        return Path(f"{json_path}{POINTS_LOG_SUFFIX}")
    if checkpoint_dir is not None:
        return Path(checkpoint_dir) / POINTS_LOG_SUFFIX.lstrip(".")
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=json_default)


def settings_hash(study: str, settings: Mapping[str, Any]) -> str:
    """A short hash of a study's name and the settings that determine its points (key order does
    not matter; floats hash by their exact repr).

    Example:
        >>> settings_hash("rd_gap", {"steps": 3, "lr": 0.02}) == settings_hash("rd_gap", {"lr": 0.02, "steps": 3})
        True
        >>> settings_hash("rd_gap", {"steps": 3}) == settings_hash("rd_gap", {"steps": 4})
        False
    """
    return hashlib.sha256(_canonical({"study": study, "settings": settings}).encode()).hexdigest()[:16]


class LoggedPoints:
    """The points read from a log, by task key; :meth:`take` hands each logged point out once (so a
    task listed twice is answered by two logged points, or run again)."""

    def __init__(self, by_key: dict[str, list[Any]]):
        self._by_key = by_key

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def take(self, key: Any) -> Any | None:
        """The next logged point of task ``key``, or None if there is none left."""
        points = self._by_key.get(_canonical(key))
        return points.pop(0) if points else None


class PointsLog:
    """An append-only JSON-lines log of finished points, all of one settings hash.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     log = PointsLog(Path(tmp) / "r.json.points.jsonl", "abc")
        ...     log.start()
        ...     log.append(0.5, {"beta": 0.5, "rate": 1.25})
        ...     log.resume().take(0.5)
        {'beta': 0.5, 'rate': 1.25}
    """

    def __init__(self, path: str | Path, settings_hash: str):
        self.path = Path(path)
        self.settings_hash = settings_hash

    def start(self) -> None:
        """Begin a new log (a run without ``--resume``): an old log here is replaced, as the run's
        report will be; its folder is made now, so an unwritable place fails before any work."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def append(self, key: Any, point: Mapping[str, Any]) -> None:
        """Write one finished point as a line, and make it durable before returning (flush + fsync):
        a crash afterwards cannot lose it, a crash during the write tears this line alone."""
        # the point keeps its field order, so a report built from logged points reads as the original
        line = json.dumps({"key": key, "settings_hash": self.settings_hash, "point": point}, default=json_default)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _lines(self) -> Iterable[tuple[int, dict[str, Any]]]:
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or not {"key", "settings_hash", "point"} <= set(entry):
                    raise ValueError("not a points-log entry")
            except ValueError:
                if number == len(lines):  # no newline after it: the write was cut short by a crash
                    warnings.warn(f"{self.path}: line {number} was cut short (a crash mid-write?); ignored it",
                                  RuntimeWarning, stacklevel=3)
                    continue
                raise ValueError(f"{self.path}: line {number} is not a points-log entry") from None
            yield number, entry

    def resume(self) -> LoggedPoints:
        """:meth:`read`, then cut a torn last line off the file, so the lines appended next start clean."""
        logged = self.read()
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
                    f.flush()
                    os.fsync(f.fileno())
        return logged

    def read(self) -> LoggedPoints:
        """The logged points (none if there is no log). Raises :class:`SettingsMismatch` if any line
        was written under other settings: resuming from it would mix two runs."""
        if not self.path.exists():
            return LoggedPoints({})
        by_key: dict[str, list[Any]] = {}
        other = 0
        for _, entry in self._lines():
            if entry["settings_hash"] != self.settings_hash:
                other += 1
                continue
            by_key.setdefault(_canonical(entry["key"]), []).append(entry["point"])
        if other:
            raise SettingsMismatch(
                f"{self.path} holds {other} point(s) written with other settings than these (settings hash "
                f"{self.settings_hash}); rerun with the arguments that wrote it, or without --resume to start over"
            )
        return LoggedPoints(by_key)


def open_points_log(path: Path | None, settings_hash: str, resume: bool) -> tuple[PointsLog | None, LoggedPoints]:
    """The log a study run writes its points to, and the points an earlier run logged there.

    Without ``resume`` a new log is begun (an old one at ``path`` is replaced); with it, the log is
    read (a missing log: every point runs; this is said on stderr) and its points are handed back.
    ``path`` None (no ``--json`` or checkpoint directory): no log, nothing to resume from.

    Raises:
        SettingsMismatch: with ``resume``, the log holds points of other settings.
        ValueError: with ``resume``, a line before the last is not a log entry.
    """
    if path is None:
        return None, LoggedPoints({})
    log = PointsLog(path, settings_hash)
    if not resume:
        log.start()
        return log, LoggedPoints({})
    if not path.exists():
        print(f"--resume: no points log at {path}; running every point", file=sys.stderr)
        return log, LoggedPoints({})
    logged = log.resume()
    print(f"--resume: {len(logged)} finished point(s) read from {path}", file=sys.stderr)
    return log, logged


def open_study_log(
    parser: Any, path: Path | None, settings_hash: str, resume: bool, where: str
) -> tuple[PointsLog | None, LoggedPoints]:
    """:func:`open_points_log` for a command line, before any work: ``--resume`` without a place for
    the log (``where`` names the flags that give one), a log of other settings, or a log that cannot
    be written is a usage error (``parser.error``: one line, exit 2)."""
    if resume and path is None:
        parser.error(f"--resume needs {where}: the points log it continues from lives beside it")
    try:
        return open_points_log(path, settings_hash, resume=resume)
    except ValueError as e:
        parser.error(f"--resume: {e}")
    except OSError as e:  # before any work: an unwritable log would lose every point
        parser.error(f"cannot write the points log {path}: {e}")
    raise AssertionError("parser.error returns only by raising SystemExit")
