"""A formula against the simulation: :func:`check`.

A formula for the average test loss, written in the paper's symbols (a
string, parsed safely), a sympy expression or a callable of a
:class:`~linmeta.Problem`, is evaluated on every cell of a grid and compared
with the per-run losses of :func:`linmeta.simulate` (cells differing only in
``alpha_t``, or else ``alpha_r``, share their draws; every other cell uses the
same seed, hence common random numbers wherever the field allows; the means
and standard errors are those of :func:`linmeta.sweep`, bit for bit).

Write ``f`` for the formula at a cell, ``mu`` for the cell's expected loss,
``mean`` and ``se`` for its Monte Carlo estimate and standard error, ``n`` for
the runs, ``band = rtol |f|`` and ``T(mu0) = (mean - mu0)/se`` for the
studentised mean at a hypothesised ``mu0``.

**Skewness.**  The per-run loss is a quadratic form in Gaussian draws with an
inverse-Wishart factor: strongly right-skewed (skewness 2-4 at small sizes,
with a heavy tail).  Then ``T`` is not standard normal at a few hundred runs:
its Edgeworth expansion ``P(T <= t) = Phi(t) + n^(-1/2) g (2 t^2 + 1) phi(t)/6
+ O(1/n)`` (``g`` the skewness) has a heavier lower tail, so the normal rule
certifies a formula exactly ``rtol`` too low too often (measured: 7.5 % at
level 5 %, 400 runs, skewness 3.4).  Every one-sided probability below is
therefore taken of Hall's (1992) transformation ``H(t) = t + a (t^2 + 1/2) +
a^2 t^3/3``, ``a = g/(3 sqrt(n))``, with ``g`` the sample skewness of the
cell's per-run losses: Johnson's (1978) correction of the ``n^(-1/2)`` term
plus a cubic that makes it increasing (``H' = (1 + a t)^2``), so ``H(T)`` is
standard normal up to ``O(1/n)`` and a one-sided p-value is largest at the
edge of its null.  It is deterministic (the seed fixes every number) and
reduces to the normal rule at ``g = 0``.  The studentised bootstrap has the
same order of accuracy and on the same runs did no better (999 resamples:
7.7 %, 7.3 % and 5.0 % at the upper edge at 100, 200 and 400 runs), so the
closed form is used.  The remaining ``O(1/n)`` error, which grows with the
tail of the loss, is why a few hundred runs is the least: with skewness 3.4
and excess kurtosis 30 the corrected rule certified 5.0 % (upper edge) and
4.9 % (lower edge) of the samples of seeds 0-999 at 400 runs and level 5 %
(normal rule: 7.5 % and 3.6 %), but 7.4 % at 200 runs and 7.7 % at 100
(normal rule: 9.3 % and 10.6 %).

* ``rtol = 0`` (z-test mode; the formula claims to be exact): cell ``i`` has the
  two-sided p-value ``1 - Phi(H(|z_i|)) + Phi(H(-|z_i|))``, ``z_i = T_i(f_i)``
  (``2 Phi(-|z_i|)`` without skewness); the cells are combined by Holm's
  step-down correction (family-wise error rate at most ``level``).  The formula
  **passes** when no cell is rejected, else it is **rejected**.
* ``rtol > 0`` (tolerance mode, an equivalence test; for leading-order results at
  finite sizes), three outcomes:

  - **equivalent** within ``rtol`` (certified): every cell passes the two one-sided
    tests (TOST) of ``H0: |mu_i/f_i - 1| >= rtol`` at level ``level``:
    ``H0: mu >= f + band`` has the p-value ``Phi(H(T(f + band)))`` and
    ``H0: mu <= f - band`` the p-value ``1 - Phi(H(T(f - band)))``; ``p_equiv`` is
    the larger (``Phi((|mean - f| - band)/se)`` without skewness).
    Intersection-union: the grid is certified only when every cell is, so the
    chance of certifying a formula that is ``rtol`` or more off at some cell is at
    most ``level``, with no correction for the number of cells.
  - **differs** (rejected): the difference test shows ``|mu_i/f_i - 1| > rtol`` at
    some cell: the null ``|mu_i - f_i| <= band_i`` of each cell has as p-value the
    probability that the estimate lands at least ``|mean - f|`` from ``f`` (either
    side, each tail through ``H``) at the edge ``mu0 = f +- band`` where it is
    larger (without skewness ``Phi(-d/se) + Phi(-(d + 2 band)/se)``,
    ``d = |mean - f| - band``; the z-test's p-value at ``rtol = 0``), and Holm's
    correction over the cells keeps the chance of this verdict for a formula
    within ``rtol`` everywhere at most ``level``.  (For ``level < 0.5`` a cell
    cannot be both certified and shown to differ; otherwise "differs" takes
    precedence.)
  - **inconclusive**: neither.  The result estimates the runs per cell that would
    settle it, recomputing the p-values with the observed deviations and
    skewnesses held and standard errors scaling like ``1/sqrt(n_runs)``.

A verdict holds on the grid only: the result names the parameters the formula
uses that the grid holds fixed.

References
----------
N. J. Johnson (1978), Modified t tests and confidence intervals for asymmetrical
populations, J. Amer. Statist. Assoc. 73, 536-544.
P. Hall (1992), On the removal of skewness by transformation, J. R. Statist.
Soc. B 54, 221-228.

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
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from linmeta import _check_stats as stats
from linmeta._formulas import evaluation, grammar
from linmeta._formulas.symbols import SYMBOL_NAMES, problem_values, undefined_reason
from linmeta._sim.rng import check_seed
from linmeta._validation import check_int
from linmeta.estimate import METHODS, finite_estimate, losses_over_runs
from linmeta.inner_maps import check_curve_field
from linmeta.moments import warn_if_infinite_moments
from linmeta.problem import Problem
from linmeta.sweeping.grid import cells_of, curve_tasks

if TYPE_CHECKING:
    import sympy as sp

__all__ = ["check", "CheckResult", "CORRECTION", "SKEW_CORRECTION", "VERDICTS"]

CORRECTION = "holm"
# every one-sided probability of the studentised mean goes through Hall's (1992) transformation
SKEW_CORRECTION = "hall"
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
    skewness : tuple of float
        The sample skewness of the per-run losses of each cell, in table order (also
        ``table.attrs["skewness"]``); it enters every p-value through Hall's transformation.
    skew_correction : str
        ``"hall"``: the skewness correction of the tests (see :mod:`linmeta._check`).
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
    skewness: tuple = ()
    skew_correction: str = SKEW_CORRECTION

    def _scope(self):
        if not self.fixed:
            return "on this grid"
        held = ", ".join(f"{name}={value:g}" for name, value in self.fixed.items())
        return f"on this grid only, with {held} held fixed"

    def _worst(self, key):
        size = self.table["z"].abs() if self.mode == "z-test" else self.table["rel_dev"].abs()
        order = np.lexsort((-size.to_numpy(), key))
        return self.table.iloc[order[0]]

    def summary(self) -> str:
        """One line: the verdict, the mode, the correction, the worst cell and the parameters held fixed."""
        n = len(self.table)
        runs = f"{self.n_runs} runs, seed {self.seed}, method {self.method}"
        if self.mode == "z-test":
            worst = self._worst(self.table["p_value"].to_numpy())
            n_bad = int((~self.table["passed"]).sum())
            return (f"{self.verdict.upper()}: {n_bad} of {n} cells rejected (z-test, rtol=0, skewness-corrected; "
                    f"level {self.level:g}, {self.correction.capitalize()} correction over {n} cells; {runs}); "
                    f"worst cell z = {worst['z']:+.2f}, rel. deviation = {worst['rel_dev']:+.2%}; {self._scope()}")
        outcome = self.table["outcome"]
        n_eq, n_diff = int((outcome == "equivalent").sum()), int((outcome == "differs").sum())
        tests = (f"two one-sided tests per cell at level {self.level:g}, skewness-corrected, intersection-union "
                 f"over {n} cells; difference test {self.correction.capitalize()}-corrected; {runs}")
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
        tree = grammar.parse(formula)
        names = grammar.names(tree)

        def evaluate(prob):
            values = problem_values(prob)
            missing = [name for name in SYMBOL_NAMES if name in names and name not in values]
            if missing:
                raise ValueError(f"formula: {undefined_reason(prob, missing[0])}")
            return evaluation.evaluate(tree, values)

        return formula, evaluate, grammar.names(tree)
    if _is_sympy(formula):
        import linmeta.symbolic as ls  # sympy only when the user passed a sympy object

        used = {sym.name for sym in getattr(formula, "free_symbols", ())}
        return str(formula), ls.to_callable(formula), used
    if callable(formula):   # it may read any field
        return getattr(formula, "__name__", repr(formula)), formula, set(SYMBOL_NAMES)
    raise ValueError(f"formula must be a string, a sympy expression or a callable taking a Problem; "
                     f"got {type(formula).__name__}")


def _simulated(prob, cells, names, n_runs, seed, method):
    """Per-run losses of every cell, in grid order (draws shared along ``alpha_t``, else ``alpha_r``).

    The numbers of :func:`linmeta.sweep` and :func:`linmeta.simulate` bit for bit; refuses a cell
    without a finite mean or standard error (:class:`~linmeta.NonFiniteResultError`).
    """
    curve, tasks = curve_tasks(cells, names)
    for _, cell, _ in cells:
        warn_if_infinite_moments(cell, stacklevel=4)
    losses = [None] * len(cells)
    for task in tasks:
        base = cells[task[0]][1]
        alpha_ts, alpha_rs = [base.alpha_t], [base.alpha_r]
        if curve:
            rates = [getattr(cells[i][1], curve) for i in task]
            check_curve_field(base, curve, rates)
            alpha_ts, alpha_rs = (rates, alpha_rs) if curve == "alpha_t" else (alpha_ts, rates)
        runs = losses_over_runs(base, n_runs, seed, alpha_ts, alpha_rs, method, 100, 50, None, False, "check")
        for j, i in enumerate(task):
            values = runs[:, j, 0] if curve != "alpha_r" else runs[:, 0, j]
            cell = cells[i][1]
            finite_estimate(values, seed, method, cell, cell.alpha_t, cell.alpha_r)
            losses[i] = values
    return losses


def _fixed(cells, used):
    """``{symbol: value}`` of the symbols in ``used`` that take one value over all cells, in symbol order."""
    values = [problem_values(cell) for _, cell, _ in cells]
    fixed = {}
    for name in SYMBOL_NAMES:
        if name in used and all(name in v and v[name] == values[0][name] for v in values):
            value = values[0][name]
            fixed[name] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return fixed


def check(formula: str | sp.Expr | Callable[[Problem], float], prob: Problem, grid: Mapping[str, Sequence],
          n_runs: int = 4000, seed: int = 0, rtol: float = 0.0, level: float = 0.01,
          method: str = "exact") -> CheckResult:
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
        a formula that is ``rtol`` or more off at some cell (intersection-union).  The
        tests correct for the skewness of the per-run losses (Hall's transformation, see
        :mod:`linmeta._check`); they hold ``level`` up to an ``O(1/n_runs)`` error that is
        small from a few hundred runs at moderate skewness and needs more with a heavy
        tail (at skewness 3.4, 400 runs hold it, 200 give 7 % for a nominal 5 %).
    method : {"exact", "protocol"}, default="exact"
        Simulation method (:func:`linmeta.simulate`).

    Returns
    -------
    CheckResult
        ``.passed``, ``.verdict``, ``.table`` (one row per cell), ``.mode``, ``.correction``,
        ``.fixed`` (the formula's parameters the grid holds fixed: the verdict covers the
        grid only), ``.runs_needed`` and ``.skewness`` (of each cell's per-run losses).
        ``linmeta check`` exits with status 0 (passed or equivalent), 1 (rejected or
        differs), 3 (inconclusive) or 2 (bad input).

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
    ('inconclusive', False, 610)
    >>> lm.check(exact, prob, {"m": [1, 2]}, n_runs=610, rtol=0.05).verdict
    'equivalent'
    >>> lm.check("__import__('os')", prob, {"m": [2]})
    Traceback (most recent call last):
        ...
    ValueError: formula: unknown name '__import__' at position 0; allowed symbols: p, m, n_t, n_v, n_r, sigma, nu,
    alpha_t, alpha_r, dist0, ...; functions: sqrt, exp, log, Abs
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

    names = list(grid)
    losses = _simulated(prob, cells, names, n_runs, seed, method)
    table = pd.DataFrame({name: [changes[name] for changes, _, _ in cells] for name in names})
    table["formula"] = values
    table["mean"] = [float(x.mean()) for x in losses]
    table["stderr"] = [float(x.std(ddof=1) / np.sqrt(n_runs)) for x in losses]
    skewness = tuple(stats.skewness(x) for x in losses)
    diff = table["mean"] - table["formula"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["z"] = np.where(diff == 0, 0.0, diff / table["stderr"])
        table["rel_dev"] = diff / table["formula"]
    rtol, level = float(rtol), float(level)
    columns = list(zip(table["mean"], table["stderr"], table["formula"], skewness, strict=True))
    p_values = np.array([stats.p_value(m, s, f, rtol, g, n_runs) for m, s, f, g in columns])
    table["p_value"] = p_values
    rejected = stats.holm(p_values, level)
    runs_needed = None
    if rtol == 0:
        mode = "z-test"
        table["passed"] = ~rejected
        table["mode"] = mode
        verdict = "rejected" if rejected.any() else "passed"
    else:
        mode = "tolerance"
        table["p_equiv"] = [stats.p_equivalence(m, s, f, rtol, g, n_runs) for m, s, f, g in columns]
        certified = (table["p_equiv"].to_numpy() <= level) & ~rejected
        table["outcome"] = np.where(rejected, "differs", np.where(certified, "equivalent", "open"))
        table["passed"] = certified
        table["mode"] = f"tolerance (rtol={rtol:g})"
        verdict = "differs" if rejected.any() else "equivalent" if certified.all() else "inconclusive"
        if verdict == "inconclusive":
            runs_needed = stats.runs_needed(table, skewness, n_runs, rtol, level)
    fixed = _fixed(cells, used)
    table.attrs.update(formula=label, mode=mode, correction=CORRECTION, rtol=rtol, level=level, n_runs=n_runs,
                       seed=seed, method=method, verdict=verdict, fixed=fixed, runs_needed=runs_needed,
                       skewness=skewness, skew_correction=SKEW_CORRECTION)
    return CheckResult(passed=verdict in ("passed", "equivalent"), table=table, formula=label, mode=mode,
                       correction=CORRECTION, rtol=rtol, level=level, n_runs=n_runs, seed=seed, method=method,
                       verdict=verdict, fixed=fixed, runs_needed=runs_needed, skewness=skewness)
