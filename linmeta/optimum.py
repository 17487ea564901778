"""The simulated optimal rate, with a standard error that means what it says.

:func:`simulate_optimum` minimises the Monte Carlo mean curve of the test loss
over ``alpha_t`` or ``alpha_r``.  Every point of the curve uses the same runs
(common random numbers), so the mean curve is a smooth function of the rate
and its minimiser a smooth function of ``n_runs`` sample means:

1. *locate*: the mean curve on a coarse grid over ``bracket``; a minimum at
   either end of the bracket is refused (``ValueError``);
2. *refine*: a fine grid (``n_fine`` points) between the neighbours of the
   coarse minimum, and, if the bootstrap below reaches beyond it, a second
   fine grid of width ``± 6 stderr`` around the estimate;
3. *estimate*: the minimiser of the cubic spline through the mean curve on
   the union of the grids (interpolation error ``O(h^4)`` with ``h`` the
   fine spacing, negligible against the standard error); this is the
   minimiser of the common-random-numbers mean curve, whose bias is
   ``O(1 / n_runs)`` against a standard error ``O(1 / sqrt(n_runs))``;
4. *standard error*: bootstrap over runs (resampling whole runs, every grid
   point together, and re-minimising); the interval is
   ``value ± z stderr``.

Examples
--------
>>> import linmeta as lm
>>> opt = lm.simulate_optimum(lm.presets.FIG3, "alpha_r", n_runs=200, seed=0)
>>> lo, hi = opt.ci
>>> bool(lo < opt.value < hi), opt.n_runs, opt.seed
(True, 200, 0)
>>> list(opt.curve.columns[-5:]), bool(opt.curve["alpha_r"].is_monotonic_increasing)
(['mean', 'stderr', 'n_runs', 'seed', 'method'], True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import interpolate, optimize, special

from linmeta._model import model_of
from linmeta._sim.rng import bootstrap_rng, check_seed
from linmeta._tidy import rate_curve_table
from linmeta._validation import check_int, check_real
from linmeta.estimate import check_method, losses_over_runs, non_finite_error
from linmeta.inner_maps import check_curve_field
from linmeta.loss import loss_from_distance
from linmeta.moments import warn_if_infinite_moments, worst_rate
from linmeta.problem import RATE_FIELDS

if TYPE_CHECKING:
    from linmeta.problem import Problem

__all__ = ["Optimum", "simulate_optimum", "DEFAULT_BRACKETS"]

#: default search intervals: the alpha_t optimum is negative in both regimes of the paper and above -2 at its
#: parameter sets; the alpha_r optimum lies in (0, 1 / (1 + (p + 1) / n_r)) (docs: theory, T0)
DEFAULT_BRACKETS = {"alpha_t": (-2.0, 1.0), "alpha_r": (-0.5, 1.0)}


@dataclass(frozen=True, eq=False)
class Optimum:
    """A simulated optimal rate.

    Attributes
    ----------
    param : str
        ``"alpha_t"`` or ``"alpha_r"``.
    value : float
        Minimiser of the common-random-numbers mean curve.
    stderr : float
        Bootstrap standard error over runs.
    ci : tuple of float
        ``(low, high)``, ``value ± z stderr`` at ``level``.
    loss : float
        Mean curve at ``value``.
    n_runs, seed : int
    method : str
    level : float
    n_boot : int
    bracket : tuple of float
    curve : pandas.DataFrame
        The mean curve it came from (the table layout of :func:`linmeta.simulate_curve`).
    """

    param: str
    value: float
    stderr: float
    ci: tuple
    loss: float
    n_runs: int
    seed: int
    method: str
    level: float
    n_boot: int
    bracket: tuple
    curve: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict:
        """Return the scalar attributes as a dict (``ci`` as ``ci_low``, ``ci_high``; no curve)."""
        return {"param": self.param, "value": self.value, "stderr": self.stderr, "ci_low": self.ci[0],
                "ci_high": self.ci[1], "loss": self.loss, "n_runs": self.n_runs, "seed": self.seed,
                "method": self.method, "level": self.level, "n_boot": self.n_boot}

    def __str__(self):
        """Return the optimum, its standard error and interval, on one line."""
        return (f"{self.param}* = {self.value:.4g} ± {self.stderr:.2g} (1 SE; {100 * self.level:g} % CI "
                f"[{self.ci[0]:.4g}, {self.ci[1]:.4g}]; {self.n_runs} runs, seed {self.seed}, {self.method})")


def _spline_min(x, y):
    """Minimiser and minimum of the cubic spline through ``(x, y)`` near the smallest sample."""
    spline = interpolate.CubicSpline(x, y)
    j = int(np.argmin(y))
    lo, hi = x[max(j - 1, 0)], x[min(j + 1, len(x) - 1)]
    res = optimize.minimize_scalar(spline, bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-12 * (1 + abs(x[j]))})
    if res.fun <= y[j]:
        return float(res.x), float(res.fun)
    return float(x[j]), float(y[j])


def _minimise_runs(evaluate, n_runs, seed, bracket, n_grid, n_fine, n_boot, level, grid=None):
    """Locate, refine and bootstrap the minimiser of the mean over runs of ``evaluate(xs)`` (R x G).

    The coarse grid is ``grid`` when given (its ends are ``bracket``), else ``n_grid`` points over ``bracket``.
    """
    lo, hi = bracket
    xs = np.linspace(lo, hi, n_grid) if grid is None else np.asarray(grid, dtype=float)
    losses = evaluate(xs)
    i = int(np.argmin(losses.mean(axis=0)))
    if i in (0, n_grid - 1):
        raise ValueError(f"the simulated minimum lies at the edge of bracket=({lo:g}, {hi:g}) (at {xs[i]:g}); "
                         "widen the bracket")
    rng = bootstrap_rng(seed)
    counts = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_boot).astype(float) / n_runs

    def add(new):
        nonlocal xs, losses
        # drop points within rounding of an existing one: a near-duplicate abscissa wrecks the spline
        new = new[np.min(np.abs(new[:, None] - xs[None, :]), axis=1) > 1e-9 * (hi - lo)]
        if new.size:
            xs = np.concatenate([xs, new])
            losses = np.concatenate([losses, evaluate(new)], axis=1)
            order = np.argsort(xs)
            xs, losses = xs[order], losses[:, order]

    def estimate():
        value, loss = _spline_min(xs, losses.mean(axis=0))
        boot = counts @ losses
        reps = np.array([_spline_min(xs, b)[0] for b in boot])
        return value, loss, reps

    fine = (xs[i - 1], xs[i + 1])
    add(np.linspace(fine[0], fine[1], n_fine))
    value, loss, reps = estimate()
    se = float(np.std(reps, ddof=1))
    if np.mean((reps < fine[0]) | (reps > fine[1])) > 0.01:
        add(np.linspace(max(lo, value - 6 * se), min(hi, value + 6 * se), n_fine))
        value, loss, reps = estimate()
        se = float(np.std(reps, ddof=1))
    z = float(special.ndtri(0.5 + level / 2))
    return value, se, (value - z * se, value + z * se), loss, xs, losses


def simulate_optimum(prob: Problem, param: str, n_runs: int = 1000, seed: int = 0,
                     bracket: tuple[float, float] | None = None, method: str = "exact", *, n_grid: int = 25,
                     n_fine: int = 21, n_boot: int = 400, level: float = 0.95, n_test_tasks: int = 100,
                     n_test_points: int = 50, progress: bool | None = None,
                     grid: ArrayLike | None = None) -> Optimum:
    """Simulate the optimal ``alpha_t`` or ``alpha_r``, with a bootstrap standard error and interval.

    Every rate is evaluated on the same runs (common random numbers); the
    estimate is the minimiser of the resulting mean curve, located on a coarse
    grid over ``bracket``, refined on a fine grid and interpolated by a cubic
    spline; the standard error comes from a bootstrap over runs
    (:mod:`linmeta.optimum`).

    Parameters
    ----------
    prob : Problem
        Every field but ``param`` is fixed.
    param : {"alpha_t", "alpha_r"}
    n_runs : int, default=1000
        At least 10.
    seed : int, default=0
        Fixes every number: the runs are those of :func:`linmeta.simulate`
        with this seed; the bootstrap has its own stream.
    bracket : tuple of float, optional
        ``(low, high)`` search interval; default :data:`DEFAULT_BRACKETS`.
    method : {"exact", "protocol"}, default="exact"
        As in :func:`linmeta.simulate`.
    n_grid, n_fine : int, default=25, 21
        Points of the coarse grid and of each fine grid.
    n_boot : int, default=400
        Bootstrap resamples of the runs.
    level : float, default=0.95
        Coverage of ``ci``.
    n_test_tasks, n_test_points : int, default=100, 50
        Protocol only, as in :func:`linmeta.simulate`.
    progress : bool, optional
        Progress bars.
    grid : array_like, optional
        The coarse grid itself (increasing, at least 5 values), in place of
        ``n_grid`` points over ``bracket``; ``bracket`` is then its ends.
        A curve already simulated on that grid with the same runs is
        ``curve`` restricted to it.

    Returns
    -------
    Optimum

    Raises
    ------
    ValueError
        Bad input, or the minimum of the mean curve lies at an end of
        ``bracket`` (widen it).
    NonFiniteResultError
        If the mean or standard error of the loss at a rate of the curve is
        not finite (e.g. the loss overflows double precision at that rate);
        the message names the rate and the cause.

    Warns
    -----
    InfiniteMomentWarning
        If the loss has an infinite mean or variance (:mod:`linmeta.moments`)
        anywhere on the searched curve: for ``param="alpha_t"`` the whole
        ``bracket`` is checked (the conditions depend on the sign of
        ``alpha_t``), not only ``prob.alpha_t``.

    Examples
    --------
    >>> import linmeta as lm
    >>> opt = lm.simulate_optimum(lm.presets.FIG2, "alpha_r", n_runs=100, seed=1)
    >>> bool(0 < opt.value < 0.3)
    True
    """
    if param not in RATE_FIELDS:
        raise ValueError(f"param must be one of {RATE_FIELDS}; got {param!r}")
    check_curve_field(prob, param)
    n_runs = check_int(n_runs, "n_runs", min_val=10)
    seed = check_seed(seed)
    method = check_method(method)
    n_grid = check_int(n_grid, "n_grid", min_val=5)
    n_fine = check_int(n_fine, "n_fine", min_val=5)
    n_boot = check_int(n_boot, "n_boot", min_val=10)
    level = check_real(level, "level", min_val=0, strict=True)
    if not level < 1:
        raise ValueError(f"level must be a real number in (0, 1); got {level!r}")
    if grid is not None:
        grid = np.asarray(grid, dtype=float)
        if grid.ndim != 1 or grid.size < 5 or not np.all(np.isfinite(grid)) or not np.all(np.diff(grid) > 0):
            raise ValueError(f"grid must be an increasing sequence of at least 5 finite values; got {grid!r}")
        if bracket is not None and tuple(bracket) != (grid[0], grid[-1]):
            raise ValueError(f"bracket must be the ends of grid ({grid[0]:g}, {grid[-1]:g}) or None; got {bracket!r}")
        bracket, n_grid = (grid[0], grid[-1]), grid.size
    if bracket is None:
        bracket = DEFAULT_BRACKETS[param]
    try:
        lo, hi = (check_real(b, "bracket") for b in bracket)
    except TypeError:
        raise ValueError(f"bracket must be a pair (low, high) of finite reals; got {bracket!r}") from None
    if not lo < hi:
        raise ValueError(f"bracket must be a pair (low, high) with low < high; got {bracket!r}")
    if param == "alpha_t":  # the curve covers the whole bracket, not prob.alpha_t
        worst = worst_rate(prob, param, lo, hi)
        warn_if_infinite_moments(worst, stacklevel=3, where=f"at alpha_t={worst.alpha_t:g} in the bracket "
                                                            f"({lo:g}, {hi:g}) searched")
    else:
        warn_if_infinite_moments(prob, stacklevel=3)

    cache = {}

    def losses_at(xs):
        if param == "alpha_r" and method == "exact" and not model_of(prob).exact_needs_omega:
            # the loss is affine in |omega* - w0|^2 given the run (T0): meta-train once, at alpha_r = 0
            if "d2" not in cache:
                l0 = losses_over_runs(prob, n_runs, seed, [prob.alpha_t], [0.0], method, n_test_tasks,
                                      n_test_points, None, progress, f"optimum {param}")[:, 0, :]
                cache["d2"] = 2 * l0 - prob.sigma**2 - prob.nu**2
            with np.errstate(over="ignore", invalid="ignore"):  # a loss beyond the largest double: refused below
                return loss_from_distance(cache["d2"], prob, np.asarray(xs, dtype=float)[None, :])
        a_t = xs if param == "alpha_t" else [prob.alpha_t]
        a_r = xs if param == "alpha_r" else [prob.alpha_r]
        out = losses_over_runs(prob, n_runs, seed, a_t, a_r, method, n_test_tasks, n_test_points, None, progress,
                                f"optimum {param}")
        return out[:, :, 0] if param == "alpha_t" else out[:, 0, :]

    def evaluate(xs):
        losses = losses_at(xs)
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(losses.mean(axis=0)) & np.isfinite(losses.std(axis=0, ddof=1))
        if not finite.all():
            j = int(np.argmin(finite))
            rates = {"alpha_t": prob.alpha_t, "alpha_r": prob.alpha_r, param: float(xs[j])}
            raise non_finite_error(losses[:, j], prob, rates["alpha_t"], rates["alpha_r"])
        return losses

    value, se, ci, loss, xs, losses = _minimise_runs(evaluate, n_runs, seed, (lo, hi), n_grid, n_fine, n_boot,
                                                    level, grid)
    curve = rate_curve_table(prob, param, [float(x) for x in xs], losses.mean(axis=0),
                             losses.std(axis=0, ddof=1) / np.sqrt(n_runs), n_runs, seed, method)
    return Optimum(param, value, se, ci, loss, n_runs, seed, method, level, n_boot, (lo, hi), curve)

