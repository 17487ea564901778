"""A formula against the simulation: :func:`check`.

A formula for the average test loss, written in the paper's symbols (a
string, parsed safely), a sympy expression or a callable of a
:class:`~linmeta.Problem`, is evaluated on every cell of a grid and compared
with :func:`linmeta.simulate` (through :func:`linmeta.sweep`: cells differing
only in ``alpha_t``, or else ``alpha_r``, share their draws; every other cell
uses the same seed, hence common random numbers wherever the field allows).

Write ``f`` for the formula at a cell, ``mu`` for the cell's expected loss,
``mean`` and ``se`` for its Monte Carlo estimate and standard error, and
``r = mu/f - 1`` for the relative deviation, estimated by ``(mean - f)/|f|``
with standard error ``se/|f|``.

* ``rtol = 0`` (z-test mode; the formula claims to be exact): cell ``i`` has the
  two-sided p-value ``2 Phi(-|z_i|)``, ``z_i = (mean_i - f_i)/se_i``; the cells are
  combined by Holm's step-down correction (family-wise error rate at most
  ``level``).  The formula **passes** when no cell is rejected, else it is
  **rejected**.
* ``rtol > 0`` (tolerance mode, an equivalence test; for leading-order results at
  finite sizes), three outcomes:

  - **equivalent** within ``rtol`` (certified): every cell passes the two one-sided
    tests (TOST) of ``H0: |r_i| >= rtol`` at level ``level``, that is
    ``|mean_i - f_i| + z_{1-level} se_i < rtol |f_i|`` (p-value
    ``p_equiv = Phi((|mean - f| - rtol |f|)/se)``).  Intersection-union: the grid is
    certified only when every cell is, so the chance of certifying a formula that
    is ``rtol`` or more off at some cell is at most ``level``, with no correction
    for the number of cells.
  - **differs** (rejected): the difference test shows ``|r_i| > rtol`` at some cell:
    the null ``|mu_i - f_i| <= rtol |f_i|`` of each cell has the p-value
    ``Phi(-d/se) + Phi(-(d + 2 rtol |f|)/se)``, ``d = |mean - f| - rtol |f|`` (the
    largest rejection probability over that interval, attained at an edge; the
    z-test's p-value at ``rtol = 0``), and Holm's correction over the cells keeps
    the chance of this verdict for a formula within ``rtol`` everywhere at most
    ``level``.  (For ``level < 0.5`` a cell cannot be both certified and shown to
    differ; otherwise "differs" takes precedence.)
  - **inconclusive**: neither.  The result estimates the runs per cell that would
    settle it, from the observed deviations and standard errors scaling like
    ``1/sqrt(n_runs)``.

The statistics assume the mean over ``n_runs`` runs is normal (central limit
theorem); use a few thousand runs.  A verdict holds on the grid only: the
result names the parameters the formula uses that the grid holds fixed.

Examples
--------
>>> import linmeta as lm
>>> prob = lm.Problem(p=10, m=2, n_t=5, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)
>>> exact = ("sigma^2/2*(1 + alpha_r^2*p/n_r) + ((1-alpha_r)^2 + alpha_r^2*(p+1)/n_r)/2"
...          " * (nu^2 + nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) + sigma^2*n_v*m/(p-n_v*m-1))")
>>> res = lm.check(exact, prob, {"m": [1, 2, 3]}, n_runs=2000, seed=0)
>>> res.passed, res.verdict, list(res.table.columns[:4])
(True, 'passed', ['m', 'formula', 'mean', 'stderr'])
>>> res.fixed
{'p': 10, 'n_v': 2, 'n_r': 5, 'sigma': 0.5, 'nu': 0.5, 'alpha_r': 0.2}
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from statistics import NormalDist

import numpy as np
import pandas as pd

from linmeta import _formula
from linmeta._checks import check_int
from linmeta._sim.rng import check_seed
from linmeta.estimate import METHODS
from linmeta.problem import Problem
from linmeta.sweeping import cells_of, sweep

__all__ = ["check", "CheckResult", "CORRECTION", "VERDICTS"]

CORRECTION = "holm"
# z-test mode: passed / rejected; tolerance mode: equivalent / differs / inconclusive
VERDICTS = ("passed", "rejected", "equivalent", "differs", "inconclusive")


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check`.

    Attributes
    ----------
    passed : bool
        The verdict over the whole grid: no cell rejected (z-test mode), every cell
        certified within ``rtol`` (tolerance mode; ``False`` when the formula differs
        and when the check is inconclusive).
    table : pandas.DataFrame
        One row per cell: the grid fields, ``formula``, ``mean``, ``stderr``, ``z``,
        ``rel_dev`` (``(mean - formula) / formula``), ``p_value``, ``passed`` and ``mode``;
        in tolerance mode also ``p_equiv`` (the two one-sided tests' p-value) and
        ``outcome`` (``"equivalent"``, ``"differs"`` or ``"open"``), and ``passed`` means
        the cell is certified.
    formula : str
        The formula as given (or the callable's name).
    mode : str
        ``"z-test"`` (``rtol = 0``) or ``"tolerance"`` (``rtol > 0``).
    correction : str
        The multiplicity correction of the difference test over the grid cells (``"holm"``).
    rtol, level : float
    n_runs, seed : int
    method : str
    verdict : str
        ``"passed"`` or ``"rejected"`` (z-test mode); ``"equivalent"``, ``"differs"`` or
        ``"inconclusive"`` (tolerance mode).
    fixed : dict
        ``{symbol: value}``: the parameters the formula uses (for a callable: all of the
        paper's symbols) that take one value on the whole grid; the verdict says nothing
        about other values of them.
    runs_needed : int or None
        For an inconclusive verdict, roughly the runs per cell that would settle it
        (``None`` otherwise, or when the observed deviation sits on the edge ``rtol``).
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
    verdict: str = ""
    fixed: dict = dataclasses.field(default_factory=dict)
    runs_needed: int | None = None

    def _scope(self):
        if not self.fixed:
            return "on this grid"
        held = ", ".join(f"{name}={value:g}" for name, value in self.fixed.items())
        return f"on this grid only, with {held} held fixed"

    def _worst(self, key):
        size = self.table["z"].abs() if self.mode == "z-test" else self.table["rel_dev"].abs()
        order = np.lexsort((-size.to_numpy(), key))
        return self.table.iloc[order[0]]

    def summary(self):
        """One line: the verdict, the mode, the correction, the worst cell and the parameters held fixed."""
        n = len(self.table)
        runs = f"{self.n_runs} runs, seed {self.seed}, method {self.method}"
        if self.mode == "z-test":
            worst = self._worst(self.table["p_value"].to_numpy())
            n_bad = int((~self.table["passed"]).sum())
            return (f"{self.verdict.upper()}: {n_bad} of {n} cells rejected (z-test, rtol=0; level {self.level:g}, "
                    f"{self.correction.capitalize()} correction over {n} cells; {runs}); worst cell "
                    f"z = {worst['z']:+.2f}, rel. deviation = {worst['rel_dev']:+.2%}; {self._scope()}")
        outcome = self.table["outcome"]
        n_eq, n_diff = int((outcome == "equivalent").sum()), int((outcome == "differs").sum())
        tests = (f"two one-sided tests per cell at level {self.level:g}, intersection-union over {n} cells; "
                 f"difference test {self.correction.capitalize()}-corrected; {runs}")
        if self.verdict == "differs":
            worst = self._worst(self.table["p_value"].to_numpy())
            head = f"DIFFERS from the simulation by more than rtol={self.rtol:g}: {n_diff} of {n} cells ({tests})"
        else:
            worst = self._worst(-self.table["p_equiv"].to_numpy())
            if self.verdict == "equivalent":
                head = f"EQUIVALENT within rtol={self.rtol:g}: {n} of {n} cells certified ({tests})"
            else:
                settle = (f"about {self.runs_needed} runs per cell would settle it" if self.runs_needed is not None
                          else "no run count settles it: the deviation sits on the edge rtol")
                head = (f"INCONCLUSIVE at rtol={self.rtol:g}: {n_eq} of {n} cells certified, none shown to differ "
                        f"({tests}); {settle}")
        rel_se = worst["stderr"] / abs(worst["formula"]) if worst["formula"] != 0 else math.inf
        return (f"{head}; worst cell rel. deviation = {worst['rel_dev']:+.2%} +- {rel_se:.2%} (1 SE); "
                f"{self._scope()}")

    def __str__(self):
        return self.table.to_string(index=False) + "\n" + self.summary()


def _is_sympy(obj):
    return type(obj).__module__.split(".")[0] == "sympy"


def _evaluator(formula):
    """``(label, function of a Problem, symbol names used)`` for a string, a sympy expression or a callable."""
    if isinstance(formula, str):
        tree = _formula.parse(formula)

        def evaluate(prob):
            return _formula.evaluate(tree, _formula.problem_values(prob))

        return formula, evaluate, _formula.names(tree)
    if _is_sympy(formula):
        import linmeta.symbolic as ls  # sympy only when the user passed a sympy object

        used = {sym.name for sym in getattr(formula, "free_symbols", ())}
        return str(formula), ls.to_callable(formula), used
    if callable(formula):   # it may read any field
        return getattr(formula, "__name__", repr(formula)), formula, set(_formula.SYMBOLS)
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


def _p_equivalence(mean, stderr, value, rtol):
    """p-value of the two one-sided tests of ``|mu/value - 1| >= rtol``: ``Phi((|mean - value| - band)/stderr)``."""
    d = abs(mean - value) - rtol * abs(value)
    if stderr == 0:
        return 0.0 if d < 0 else 1.0
    return _sf(-d / stderr)


def _runs_needed(table, n_runs, rtol, level):
    """Roughly the runs per cell that settle an inconclusive tolerance check, ``None`` if none would.

    With standard errors scaling like ``1/sqrt(n)`` and the observed relative deviations held
    fixed: if some cell's estimate lies outside ``rtol``, the fewest runs that make one such
    cell differ at the Bonferroni level ``level/K`` (Holm's first step); otherwise the runs
    that certify every cell (each at ``level``).
    """
    dev = np.abs(table["mean"].to_numpy() - table["formula"].to_numpy())
    band = rtol * np.abs(table["formula"].to_numpy())
    se = table["stderr"].to_numpy()
    z_cert, z_diff = NormalDist().inv_cdf(1 - level), NormalDist().inv_cdf(1 - level / len(table))
    with np.errstate(divide="ignore", invalid="ignore"):
        outside = dev > band
        if outside.any():
            need = n_runs * (z_diff * se[outside] / (dev[outside] - band[outside])) ** 2
            need = need.min()
        else:
            need = (n_runs * (z_cert * se / (band - dev)) ** 2).max()
    if not math.isfinite(need) or need > 1e15:
        return None
    need = max(math.ceil(need), n_runs + 1)
    digits = max(0, len(str(need)) - 2)        # two significant figures, rounded up
    return math.ceil(need / 10**digits) * 10**digits


def _fixed(cells, used):
    """``{symbol: value}`` of the symbols in ``used`` that take one value over all cells, in symbol order."""
    values = [_formula.problem_values(cell) for _, cell, _ in cells]
    fixed = {}
    for name in _formula.SYMBOLS:
        if name in used and all(v[name] == values[0][name] for v in values):
            value = values[0][name]
            fixed[name] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return fixed


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
        ``0``: z-test mode (the formula must be exact; passed or rejected).  ``> 0``:
        tolerance mode, an equivalence test with three outcomes: ``"equivalent"``
        (every cell certified within ``|E[loss]/formula - 1| < rtol`` by two one-sided
        tests; ``passed`` is ``True``), ``"differs"`` (some cell shown to be off by more
        than ``rtol``) or ``"inconclusive"`` (neither; ``runs_needed`` says roughly how
        many runs per cell would settle it).
    level : float, default=0.01
        In ``(0, 1)``.  Family-wise error rate of rejection (``"rejected"``, ``"differs"``)
        over the grid (Holm correction); in tolerance mode also the chance of certifying
        a formula that is ``rtol`` or more off at some cell (intersection-union).
    method : {"exact", "protocol"}, default="exact"
        Simulation method (:func:`linmeta.simulate`).

    Returns
    -------
    CheckResult
        ``.passed``, ``.verdict``, ``.table`` (one row per cell), ``.mode``, ``.correction``,
        ``.fixed`` (the formula's parameters the grid holds fixed: the verdict covers the
        grid only) and ``.runs_needed``.  ``linmeta check`` exits with status 0 (passed or
        equivalent), 1 (rejected or differs), 3 (inconclusive) or 2 (bad input).

    Raises
    ------
    ValueError
        A refused formula string (also one too long or too deeply nested), a formula
        that is not a finite real number at a cell, a grid cell at the interpolation
        threshold ``p == n_v m``, or an invalid argument.

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.Problem(p=10, m=2, n_t=5, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.0)
    >>> wrong = "sigma^2/2 + (nu^2 + nu^2*n_v*m/p + sigma^2*n_v*m/p)/2"
    >>> lm.check(wrong, prob, {"m": [2, 3]}, n_runs=2000).passed
    False
    >>> exact = "sigma^2/2 + (nu^2 + nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) + sigma^2*n_v*m/(p-n_v*m-1))/2"
    >>> few = lm.check(exact, prob, {"m": [1, 2]}, n_runs=200, rtol=0.05)
    >>> few.verdict, few.passed, few.runs_needed
    ('inconclusive', False, 490)
    >>> lm.check(exact, prob, {"m": [1, 2]}, n_runs=500, rtol=0.05).verdict
    'equivalent'
    >>> lm.check("__import__('os')", prob, {"m": [2]})
    Traceback (most recent call last):
        ...
    ValueError: formula: unknown name '__import__' at position 0; allowed symbols: p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r, dist0; functions: sqrt, exp, log, Abs
    """
    label, evaluate, used = _evaluator(formula)
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
    rtol, level = float(rtol), float(level)
    columns = list(zip(table["mean"], table["stderr"], table["formula"]))
    p_values = np.array([_p_value(m, s, f, rtol) for m, s, f in columns])
    table["p_value"] = p_values
    rejected = _holm(p_values, level)
    runs_needed = None
    if rtol == 0:
        mode = "z-test"
        table["passed"] = ~rejected
        table["mode"] = mode
        verdict = "rejected" if rejected.any() else "passed"
    else:
        mode = "tolerance"
        table["p_equiv"] = [_p_equivalence(m, s, f, rtol) for m, s, f in columns]
        certified = (table["p_equiv"].to_numpy() <= level) & ~rejected
        table["outcome"] = np.where(rejected, "differs", np.where(certified, "equivalent", "open"))
        table["passed"] = certified
        table["mode"] = f"tolerance (rtol={rtol:g})"
        verdict = "differs" if rejected.any() else "equivalent" if certified.all() else "inconclusive"
        if verdict == "inconclusive":
            runs_needed = _runs_needed(table, n_runs, rtol, level)
    fixed = _fixed(cells, used)
    table.attrs.update(formula=label, mode=mode, correction=CORRECTION, rtol=rtol, level=level, n_runs=n_runs,
                       seed=seed, method=method, verdict=verdict, fixed=fixed, runs_needed=runs_needed)
    return CheckResult(passed=verdict in ("passed", "equivalent"), table=table, formula=label, mode=mode,
                       correction=CORRECTION, rtol=rtol, level=level, n_runs=n_runs, seed=seed, method=method,
                       verdict=verdict, fixed=fixed, runs_needed=runs_needed)
