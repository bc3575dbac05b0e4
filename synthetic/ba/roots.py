"""Brent's root finder as an ask/tell loop, so a caller can stop it between evaluations without exceptions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

__all__ = ["BrentRoot", "BrentStatus", "brent_root"]

BrentStatus = Literal["running", "converged", "sign", "nan", "maxiter"]

_MIN_RTOL = 4 * 2.220446049250313e-16  # 4 eps, the smallest rtol Brent's stopping test can meet


class BrentRoot:
    """Brent's method (Brent 1973, *Algorithms for Minimization without Derivatives*, Ch. 4) on [a, b].

    The steps are those of ``scipy.optimize.brentq`` (Charles Harris' ``brentq.c``): the same
    points are asked for in the same order, so a search driven through this class evaluates
    exactly what ``brentq`` would. Unlike ``brentq`` it never calls the function itself: the
    caller asks for the next point, evaluates it, and may stop at any evaluation (a target reached,
    a jump detected) by simply not telling the value, with no exception to unwind.

    ``status`` is ``"running"`` while a value is wanted; then ``"converged"`` (``root`` set),
    ``"sign"`` (f(a) and f(b) have the same sign), ``"nan"`` (a value was nan) or ``"maxiter"``
    (``root`` is the last estimate).

    Arguments:
        a, b: the ends of the bracket, asked for first (a, then b).
        xtol, rtol: stop when the bracket is narrower than ``xtol + rtol |x|`` (xtol > 0, rtol >= 4 eps).
        maxiter: most iterations after the two end evaluations.

    Example:
        >>> search = BrentRoot(0.0, 2.0, xtol=1e-12, rtol=1e-12)
        >>> while search.status == "running":
        ...     x = search.ask()
        ...     search.tell(x * x - 2.0)
        >>> search.status, round(search.root, 10)
        ('converged', 1.4142135624)
    """

    def __init__(self, a: float, b: float, *, xtol: float = 2e-12, rtol: float = _MIN_RTOL, maxiter: int = 100) -> None:
        if not xtol > 0:
            raise ValueError(f"xtol must be > 0, got {xtol!r}")
        if not rtol >= _MIN_RTOL:
            raise ValueError(f"rtol must be >= 4 eps = {_MIN_RTOL:g}, got {rtol!r}")
        if isinstance(maxiter, bool) or int(maxiter) != maxiter or maxiter < 0:
            raise ValueError(f"maxiter must be an int >= 0, got {maxiter!r}")
        self.xtol, self.rtol, self.maxiter = float(xtol), float(rtol), int(maxiter)
        self.status: BrentStatus = "running"
        self.root: float | None = None
        self.iterations = 0
        self.evaluations = 0
        self._xpre, self._xcur = float(a), float(b)
        self._fpre = self._fcur = 0.0
        self._xblk = self._fblk = self._spre = self._scur = 0.0
        self._stage = 0  # 0: f(a) wanted, 1: f(b) wanted, 2: f at the new estimate wanted

    def ask(self) -> float:
        """The point whose value is wanted next (only while ``status == "running"``)."""
        if self.status != "running":
            raise RuntimeError(f"the search has stopped ({self.status}); nothing to evaluate")
        return self._xpre if self._stage == 0 else self._xcur

    def tell(self, fx: float) -> None:
        """The function's value at the point :meth:`ask` gave."""
        if self.status != "running":
            raise RuntimeError(f"the search has stopped ({self.status}); no value is wanted")
        fx = float(fx)
        self.evaluations += 1
        if math.isnan(fx):
            self.status = "nan"
            return
        if self._stage == 0:
            self._fpre, self._stage = fx, 1
            return
        self._fcur = fx
        if self._stage == 1:
            self._stage = 2
            if self._fpre == 0:
                self._finish("converged", self._xpre)
                return
            if self._fcur == 0:
                self._finish("converged", self._xcur)
                return
            if math.copysign(1.0, self._fpre) == math.copysign(1.0, self._fcur):
                self.status = "sign"
                return
        self._step()

    def _finish(self, status: BrentStatus, root: float) -> None:
        self.status, self.root = status, root

    def _step(self) -> None:
        """One iteration from the newest value: either stop, or move to the next estimate."""
        if self.iterations >= self.maxiter:
            self._finish("maxiter", self._xcur)
            return
        self.iterations += 1
        xpre, xcur, xblk = self._xpre, self._xcur, self._xblk
        fpre, fcur, fblk = self._fpre, self._fcur, self._fblk
        spre, scur = self._spre, self._scur
        if fpre != 0 and fcur != 0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            # the root lies between the two newest estimates: the older one becomes the far end
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (self.xtol + self.rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            self._xpre, self._xcur, self._xblk = xpre, xcur, xblk
            self._fpre, self._fcur, self._fblk = fpre, fcur, fblk
            self._finish("converged", xcur)
            return
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:  # secant (linear interpolation)
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # inverse quadratic extrapolation through the three points
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):
                spre, scur = scur, stry  # a good short step
            else:
                spre = scur = sbis
        else:
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        self._xpre, self._xcur, self._xblk = xpre, xcur, xblk
        self._fpre, self._fcur, self._fblk = fpre, fcur, fblk
        self._spre, self._scur = spre, scur


def brent_root(
    f: Callable[[float], float], a: float, b: float, *, xtol: float = 2e-12, rtol: float = _MIN_RTOL, maxiter: int = 100
) -> BrentRoot:
    """Run :class:`BrentRoot` on ``f`` to the end and return it (``status``, ``root``, counts).

    Example:
        >>> found = brent_root(lambda x: x**3 - 8.0, 0.0, 5.0)
        >>> found.status, round(found.root, 12)
        ('converged', 2.0)
    """
    search = BrentRoot(a, b, xtol=xtol, rtol=rtol, maxiter=maxiter)
    while search.status == "running":
        search.tell(f(search.ask()))
    return search
