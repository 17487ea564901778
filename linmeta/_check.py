"""A formula against the simulation: :func:`check`.

A formula for the average test loss, written in the paper's symbols (a
string, parsed safely), a sympy expression or a callable of a
:class:`~linmeta.Problem`, is evaluated on every cell of a grid and compared
with :func:`linmeta.simulate` (through :func:`linmeta.sweep`: cells differing
only in ``alpha_t``, or else ``alpha_r``, share their draws; every other cell
uses the same seed, hence common random numbers wherever the field allows).

The verdict is a multiple test over the grid cells with the Holm step-down
correction (family-wise error rate at most ``level``):

* ``rtol = 0`` (z-test mode): cell ``i`` has the two-sided p-value
  ``2 Phi(-|z_i|)``, ``z_i = (mean_i - formula_i) / stderr_i``;
* ``rtol > 0`` (tolerance mode, for leading-order results at finite sizes): the
  null hypothesis of cell ``i`` is ``|E[loss] - formula_i| <= rtol |formula_i|``;
  with ``d = |mean - formula| - rtol |formula|`` its p-value is the largest
  rejection probability over that interval,
  ``Phi(-d/stderr) + Phi(-(d + 2 rtol |formula|)/stderr)`` (attained at an
  edge), which is the z-test's p-value when ``rtol = 0``.

The formula passes when no cell is rejected.  The statistics assume the mean
over ``n_runs`` runs is normal (central limit theorem); use a few thousand runs.

Examples
--------
>>> import linmeta as lm
>>> prob = lm.Problem(p=10, m=2, n_t=5, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)
>>> exact = ("sigma^2/2*(1 + alpha_r^2*p/n_r) + ((1-alpha_r)^2 + alpha_r^2*(p+1)/n_r)/2"
...          " * (nu^2 + nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) + sigma^2*n_v*m/(p-n_v*m-1))")
>>> res = lm.check(exact, prob, {"m": [1, 2, 3]}, n_runs=2000, seed=0)
>>> res.passed, list(res.table.columns[:4])
(True, ['m', 'formula', 'mean', 'stderr'])
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np
import pandas as pd

from linmeta import _formula
from linmeta._checks import check_int
from linmeta._rng import check_seed
from linmeta.estimate import METHODS
from linmeta.problem import Problem
from linmeta.sweeping import cells_of, sweep

__all__ = ["check", "CheckResult", "CORRECTION"]

CORRECTION = "holm"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check`.

    Attributes
    ----------
    passed : bool
        The verdict over the whole grid.
    table : pandas.DataFrame
        One row per cell: the grid fields, ``formula``, ``mean``, ``stderr``, ``z``,
        ``rel_dev`` (``(mean - formula) / formula``), ``p_value``, ``passed`` and ``mode``.
    formula : str
        The formula as given (or the callable's name).
    mode : str
        ``"z-test"`` (``rtol = 0``) or ``"tolerance"`` (``rtol > 0``).
    correction : str
        The multiplicity correction over the grid cells (``"holm"``).
    rtol, level : float
    n_runs, seed : int
    method : str
    """

    passed: bool
    table: pd.DataFrame
    formula: str
    mode: str
    correction: str
    rtol: float
    level: float
    n_runs: int
    seed: int
    method: str

    def summary(self):
        """One line: the verdict, the mode, the correction and the worst cell."""
        verdict = "PASSED" if self.passed else "REJECTED"
        rule = ("z-test, rtol=0" if self.mode == "z-test" else f"tolerance |rel. deviation| <= {self.rtol:g}")
        size = self.table["z"].abs() if self.mode == "z-test" else self.table["rel_dev"].abs()
        order = np.lexsort((-size.to_numpy(), self.table["p_value"].to_numpy()))   # smallest p, then largest
        worst = self.table.iloc[order[0]]
        n_bad = int((~self.table["passed"]).sum())
        return (f"{verdict}: {n_bad} of {len(self.table)} cells rejected ({rule}; level {self.level:g}, "
                f"{self.correction.capitalize()} correction over {len(self.table)} cells; {self.n_runs} runs, "
                f"seed {self.seed}, method {self.method}); worst cell z = {worst['z']:+.2f}, "
                f"rel. deviation = {worst['rel_dev']:+.2%}")

    def __str__(self):
        return self.table.to_string(index=False) + "\n" + self.summary()


def _is_sympy(obj):
    return type(obj).__module__.split(".")[0] == "sympy"


def _evaluator(formula):
    """``(label, function of a Problem)`` for a string, a sympy expression or a callable."""
    if isinstance(formula, str):
        tree = _formula.parse(formula)

        def evaluate(prob):
            return _formula.evaluate(tree, _formula.problem_values(prob))

        return formula, evaluate
    if _is_sympy(formula):
        import linmeta.symbolic as ls  # sympy only when the user passed a sympy object

        return str(formula), ls.to_callable(formula)
    if callable(formula):
        return getattr(formula, "__name__", repr(formula)), formula
    raise ValueError(f"formula must be a string, a sympy expression or a callable taking a Problem; "
                     f"got {type(formula).__name__}")


def _sf(x):
    """Standard normal upper tail ``Phi(-x)``."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _p_value(mean, stderr, value, rtol):
    band = rtol * abs(value)
    d = abs(mean - value) - band
    if stderr == 0:
        return 0.0 if d > 0 else 1.0
    return min(1.0, _sf(d / stderr) + _sf((d + 2 * band) / stderr))


def _holm(p_values, level):
    """Rejections of Holm's step-down procedure at family-wise level ``level``."""
    order = np.argsort(p_values, kind="stable")
    reject = np.zeros(len(p_values), dtype=bool)
    for rank, i in enumerate(order):
        if p_values[i] > level / (len(p_values) - rank):
            break
        reject[i] = True
    return reject


def check(formula, prob, grid, n_runs=4000, seed=0, rtol=0.0, level=0.01, method="exact"):
    """Test a formula for the average test loss against simulation on a grid.

    Parameters
    ----------
    formula : str, sympy expression or callable
        A string in the symbols ``p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r,
        dist0`` (``dist0 = |omega0 - w0|``) with numbers, ``+ - * / ** ^ ( )`` and
        ``sqrt, exp, log, Abs`` only (anything else raises ``ValueError`` naming the
        token; the string is never evaluated as Python); a sympy expression in
        :data:`linmeta.symbolic.symbols`; or a callable ``f(prob) -> float``.
    prob : Problem
        Base problem; the grid values replace its fields.
    grid : dict
        ``{field: values}`` as in :func:`linmeta.sweep`; cells are the Cartesian product.
    n_runs : int, default=4000
        Monte Carlo runs per cell.
    seed : int, default=0
        Fixes every number.
    rtol : float, default=0.0
        ``0``: z-test mode (the formula must be exact).  ``> 0``: tolerance mode, the
        formula passes when every cell is consistent with ``|E[loss]/formula - 1| <= rtol``.
    level : float, default=0.01
        Family-wise error rate over the grid (Holm correction), in ``(0, 1)``.
    method : {"exact", "protocol"}, default="exact"
        Simulation method (:func:`linmeta.simulate`).

    Returns
    -------
    CheckResult
        ``.passed``, ``.table`` (one row per cell), ``.mode``, ``.correction``.

    Raises
    ------
    ValueError
        A refused formula string, a formula that is not finite at a cell, a grid
        cell at the interpolation threshold ``p == n_v m``, or an invalid argument.

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.Problem(p=10, m=2, n_t=5, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.0)
    >>> wrong = "sigma^2/2 + (nu^2 + nu^2*n_v*m/p + sigma^2*n_v*m/p)/2"
    >>> lm.check(wrong, prob, {"m": [2, 3]}, n_runs=2000).passed
    False
    >>> lm.check("__import__('os')", prob, {"m": [2]})
    Traceback (most recent call last):
        ...
    ValueError: formula: unknown name '__import__' at position 0; allowed symbols: p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r, dist0; functions: sqrt, exp, log, Abs
    """
    label, evaluate = _evaluator(formula)
    if not isinstance(prob, Problem):
        raise ValueError(f"prob must be a linmeta.Problem; got {type(prob).__name__}")
    n_runs = check_int(n_runs, "n_runs", min_val=2)
    seed = check_seed(seed)
    if not isinstance(rtol, numbers.Real) or not math.isfinite(rtol) or rtol < 0:
        raise ValueError(f"rtol must be a finite real number >= 0; got {rtol!r}")
    if not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")

    cells = cells_of(prob, grid)
    values = []
    for changes, cell, note in cells:
        if cell is None:
            raise ValueError(f"grid cell {changes}: {note}; remove it from the grid")
        try:
            v = float(evaluate(cell))
        except ZeroDivisionError:
            raise ValueError(f"formula: division by zero at grid cell {changes}") from None
        if not math.isfinite(v):
            raise ValueError(f"formula is not finite at grid cell {changes}: {v}")
        values.append(v)

    sim = sweep(prob, grid, n_runs=n_runs, seed=seed, method=method, progress=False)
    names = list(grid)
    table = sim[names].copy()
    table["formula"] = values
    table["mean"] = sim["mean"].to_numpy(dtype=float)
    table["stderr"] = sim["stderr"].to_numpy(dtype=float)
    diff = table["mean"] - table["formula"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["z"] = np.where(diff == 0, 0.0, diff / table["stderr"])
        table["rel_dev"] = diff / table["formula"]
    p_values = np.array([_p_value(m, s, f, float(rtol))
                         for m, s, f in zip(table["mean"], table["stderr"], table["formula"])])
    table["p_value"] = p_values
    table["passed"] = ~_holm(p_values, float(level))
    mode = "z-test" if rtol == 0 else "tolerance"
    table["mode"] = mode if rtol == 0 else f"tolerance (rtol={rtol:g})"
    table.attrs.update(formula=label, mode=mode, correction=CORRECTION, rtol=float(rtol), level=float(level),
                       n_runs=n_runs, seed=seed, method=method)
    return CheckResult(passed=bool(table["passed"].all()), table=table, formula=label, mode=mode,
                       correction=CORRECTION, rtol=float(rtol), level=float(level), n_runs=n_runs, seed=seed,
                       method=method)
