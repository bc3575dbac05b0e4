"""The one figure style of the analysis commands and notebooks, and the one way a figure is written."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

# matplotlib and seaborn are imported inside the functions: the commands import this module at the top,
# and their worker processes (which never draw) should not pay for it. No matplotlib.use() anywhere:
# notebooks keep their inline backend, and without a display matplotlib falls back to Agg by itself.

__all__ = ["FIGURE_FORMATS", "DPI", "figure_style", "palette", "styled_figure", "check_figure_path", "save_figure"]

FIGURE_FORMATS = (".png", ".pdf", ".svg")
"""File types a figure is written as (from the path's suffix)."""
DPI = 130


@contextmanager
def figure_style() -> Iterator[None]:
    """Seaborn's white grid at paper scale, for the figures made inside the block; matplotlib's
    settings are restored afterwards, so a notebook's own figures keep their look.

    Example:
        >>> import matplotlib as mpl
        >>> before = mpl.rcParams["axes.grid"]
        >>> with figure_style():
        ...     mpl.rcParams["axes.grid"]
        True
        >>> mpl.rcParams["axes.grid"] == before
        True
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    with plt.rc_context():
        sns.set_theme(style="whitegrid", context="paper")
        yield


def palette(n: int | None = None, name: str = "deep") -> list[tuple[float, float, float]]:
    """The colours the figures use: seaborn's "deep" for distinct things (``n`` of them, default its
    ten), or a sequential map such as "viridis" for an ordered family (one colour per beta)."""
    import seaborn as sns

    colors: list[tuple[float, float, float]] = list(sns.color_palette(name, n))
    return colors


def check_figure_path(path: str | Path) -> Path:
    """``path`` as a Path if its suffix is one of :data:`FIGURE_FORMATS`; a ValueError otherwise, so a
    command can refuse a bad ``--plot`` before it trains anything.

    Example:
        >>> check_figure_path("out/fig.PDF").name
        'fig.PDF'
        >>> check_figure_path("fig.jpeg")
        Traceback (most recent call last):
        ...
        ValueError: a figure is written as .png, .pdf or .svg, not 'fig.jpeg'
    """
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise ValueError(f"a figure is written as .png, .pdf or .svg, not {str(path)!r}")
    return path


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (folders made as needed; format from the suffix, one of
    :data:`FIGURE_FORMATS`), close it; returns the path."""
    import matplotlib.pyplot as plt

    try:
        path = check_figure_path(path)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


@contextmanager
def styled_figure(path: str | Path, nrows: int = 1, ncols: int = 1, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """A figure in :func:`figure_style`, written to ``path`` by :func:`save_figure` when the block ends
    (closed unwritten if the block raises).

    Arguments:
        path: where the figure goes (.png, .pdf or .svg); checked before the figure is made.
        nrows, ncols, subplots: passed to :func:`matplotlib.pyplot.subplots` (``figsize``, ``squeeze``...).

    Returns:
        (figure, axes) inside the ``with`` block.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     with styled_figure(Path(tmp) / "f.png", figsize=(2, 2)) as (fig, ax):
        ...         _ = ax.plot([0, 1], [1, 0])
        ...     (Path(tmp) / "f.png").stat().st_size > 0
        True
    """
    import matplotlib.pyplot as plt

    path = check_figure_path(path)
    with figure_style():
        fig, axes = plt.subplots(nrows, ncols, **subplots)
        try:
            yield fig, axes
        except BaseException:
            plt.close(fig)
            raise
        save_figure(fig, path)
