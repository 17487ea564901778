r"""Label-budget figure: how many tasks at a fixed number of labels ``b = m (n_t + n_v)``.

Every task gets the same split, ``n_t = n_v = n = b / (2m)``, so the admissible
numbers of tasks at budget ``b`` are exactly the divisors of ``b / 2``.  With this
split ``n_v m = b / 2`` does not depend on ``m``: the regime is fixed by the budget
alone, and no cell of a budget crosses the interpolation threshold ``p = n_v m``.
Every budget here has ``b / 2 > p + 3`` (under-parameterised, Theorem 2, with a
finite mean and variance).

At leading order (T2) ``D = E|omega* - w0|^2 = p B / (n_v m h_t^2)``, where
``B`` and ``h_t`` depend on ``n_t, n_v`` but not on ``m``; with ``n_v m = b/2``,
``D = (2p / b) G(n)``.  The budget is a prefactor: the best ``n`` does not depend
on ``b``, so the best number of tasks is ``m* = b / (2 n*)``, proportional to
``b`` (exponent 1), for any fixed ``alpha_t``.  The same holds for any split
``n_t != n_v`` (then ``D = (p / b) (n_t + n_v) / n_v B / h_t^2``).  With the
theory-optimal ``alpha_t`` of every cell, ``n* = 1``: the optimum is at the
boundary ``m = b / 2``.  Corrections to (T2) are of relative order ``p / (n_v m) =
2p / b``, so the exponent 1 is reached as ``b / p`` grows.

Panel a: ``L - L_inf`` against ``m`` at the simulated budgets (``L_inf``: the loss
at ``D = 0``, the limit ``b -> infinity``): leading-order and finite-size theory,
simulation with two standard errors.  Panel b: the best ``m`` against ``b``: the
leading order minimised over every admissible ``m`` (fixed ``alpha_t`` and
per-cell optimal ``alpha_t``), the finite-size theory and the simulation minimised
over the simulated cells, the range of the simulation's 95 % confidence set for the
argmin (:func:`confidence_set`: paired differences, Bonferroni), and reference
slopes 0, 1/2, 1.

Examples
--------
>>> from linmeta.figures import budget
>>> budget.admissible_tasks(60)
[1, 2, 3, 5, 6, 10, 15, 30]
>>> budget.cell(60, 6).n_t, budget.cell(60, 6).n_v
(5, 5)
"""
from __future__ import annotations

import math
import os
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from linmeta import theory
from linmeta._tidy import problem_columns
from linmeta.estimate import simulate
from linmeta.figures.base import COLUMNS, draw_table, read_csv, scaled_runs, stamp, theory_or_note
from linmeta.problem import Problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

__all__ = ["BUDGET_PROBLEM", "SIM_BUDGETS", "THEORY_BUDGETS", "PER_TASK", "BUDGET_RUNS", "confidence_set",
           "SERIES", "admissible_tasks", "cell", "compute_budget", "draw_budget", "budget_summary",
           "exponent_interval"]

#: The base problem (``m``, ``n_t``, ``n_v`` are replaced per cell): ``alpha_t < 0`` keeps every inner map
#: non-singular; the optimum ``n* = 5`` labels per split is interior.
BUDGET_PROBLEM = Problem(p=10, m=6, n_t=5, n_v=5, n_r=10, sigma=0.5, nu=0.5, alpha_t=-0.4, alpha_r=0.2)
#: Budgets simulated (``b / 2 = 30 * 4^j``, so that ``n = 1, ..., 6, 10, 15, 30`` divide it where ``m >= 2``).
SIM_BUDGETS = (60, 240, 960, 3840)
#: Budgets of the leading-order theory, every admissible ``m``.
THEORY_BUDGETS = tuple(60 * 4**j for j in range(7))
#: Labels per split ``n = n_t = n_v`` simulated at each budget (where ``n`` divides ``b / 2`` and ``m >= 2``).
PER_TASK = (1, 2, 3, 4, 5, 6, 10, 15, 30)
#: Runs per simulated cell, by budget (a run costs about ``b``; small budgets get more).
BUDGET_RUNS = {60: 3000, 240: 1500, 960: 600, 3840: 400}
#: The series columns, before linmeta's table columns.
SERIES = ("kind", "b", "rule", "m_low", "m_high", "loss_at_d0")


def admissible_tasks(b: int) -> list[int]:
    """Numbers of tasks ``m`` with ``n_t = n_v = b / (2m)`` a whole number: the divisors of ``b / 2``.

    Parameters
    ----------
    b : int
        Total number of labels, even and at least 2.

    Returns
    -------
    list of int

    Examples
    --------
    >>> admissible_tasks(24)
    [1, 2, 3, 4, 6, 12]
    """
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 2 or b % 2:
        raise ValueError(f"b must be an even integer >= 2; got {b!r}")
    half = int(b) // 2
    return [m for m in range(1, half + 1) if half % m == 0]


def cell(b: int, m: int, base: Problem = BUDGET_PROBLEM) -> Problem:
    """Return the problem of budget ``b`` split over ``m`` tasks: ``n_t = n_v = b / (2m)``.

    Examples
    --------
    >>> cell(240, 24).n_t
    5
    """
    if m not in admissible_tasks(b):
        raise ValueError(f"m must divide b/2 = {b // 2} (equal split n_t = n_v = b/(2m)); got m={m!r}")
    n = b // (2 * m)
    return base.replace(m=m, n_t=n, n_v=n)


def _row(kind, b, rule, prob, **values):
    return {"kind": kind, "b": b, "rule": rule, **problem_columns(prob), **values}


def _theory_rows(notes):
    """Leading-order theory at every admissible ``m`` of every theory budget, fixed and per-cell optimal ``alpha_t``."""
    rows = []
    for b in THEORY_BUDGETS:
        for m in admissible_tasks(b):
            prob = cell(b, m)
            floor = theory.test_loss(prob, approximation="population")
            lead = theory_or_note("test_loss", notes, prob)
            rows.append(_row("theory", b, "fixed", prob, theory_leading=lead, loss_at_d0=floor))
            best = prob.replace(alpha_t=float(theory_or_note("optimal_alpha_t", notes, prob)))
            rows.append(_row("theory", b, "optimal", best, theory_leading=theory_or_note("test_loss", notes, best),
                             loss_at_d0=floor))
    return rows


def _simulated_cells(b):
    return [b // (2 * n) for n in PER_TASK if (b // 2) % n == 0 and b // (2 * n) >= 2]


def confidence_set(values: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Return the cells that may be the best at ``level``: none significantly better, by paired differences.

    Cell ``i`` is kept unless, for some ``j``, the run-by-run difference ``values[i] - values[j]`` has a mean
    above ``z`` standard errors, with ``z`` the one-sided Bonferroni quantile for the ``K - 1`` comparisons.
    The true argmin is dropped only if one of its ``K - 1`` differences exceeds its ``z`` (each with
    probability at most ``(1 - level) / (K - 1)`` under the normal approximation): the set holds it with
    probability at least ``level``, whatever the dependence between cells.

    Parameters
    ----------
    values : ndarray of shape (K, n_runs)
        Per-run losses of ``K`` cells; run ``r`` of every cell is paired.
    level : float, default=0.95
        In ``(0, 1)``.

    Returns
    -------
    ndarray of bool, shape (K,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> v = rng.normal([[0.0], [0.05], [1.0]], 1.0, (3, 400))
    >>> confidence_set(v).tolist()
    [True, True, False]
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    values = np.asarray(values, dtype=float)
    k, n = values.shape
    if k < 2 or n < 2:
        raise ValueError(f"values must have at least 2 cells and 2 runs; got shape {values.shape}")
    z = NormalDist().inv_cdf(1 - (1 - level) / (k - 1))
    keep = np.ones(k, dtype=bool)
    for i in range(k):
        d = values[i] - values                                      # (K, n): cell i minus every cell
        mean, se = d.mean(axis=1), d.std(axis=1, ddof=1) / math.sqrt(n)
        worse = (mean > z * se) & (np.arange(k) != i)
        keep[i] = not worse.any()
    return keep


def _simulation_rows(seed, runs_scale, progress, notes):
    """Simulate every cell of every simulated budget, with both theories; the argmin and its confidence set."""
    rows = []
    for b in SIM_BUDGETS:
        n = scaled_runs(BUDGET_RUNS[b], runs_scale)
        tasks = _simulated_cells(b)
        values, found = [], []
        for m in tasks:
            prob = cell(b, m)
            est = simulate(prob, n, seed, "exact", progress=progress)
            values.append(est.values)
            found.append(_row("simulation", b, "fixed", prob, mean=est.mean, stderr=est.stderr, n_runs=n,
                              seed=seed, method="exact", theory_leading=theory_or_note("test_loss", notes, prob),
                              theory_finite=theory_or_note("test_loss", notes, prob, approximation="finite"),
                              loss_at_d0=theory.test_loss(prob, approximation="population")))
        rows += found
        means = np.array([r["mean"] for r in found])
        kept = np.asarray(tasks)[confidence_set(np.array(values))]
        low, high = int(kept.min()), int(kept.max())
        best = dict(found[int(np.argmin(means))], kind="optimum_simulation", m_low=low, m_high=high)
        rows.append(best)
        fin = dict(found[int(np.argmin([r["theory_finite"] for r in found]))], kind="optimum_finite")
        rows.append({k: v for k, v in fin.items() if k not in ("mean", "stderr", "n_runs", "seed", "method")})
    return rows


def _optimum_theory_rows(theory_rows):
    rows = []
    for b in THEORY_BUDGETS:
        for rule in ("fixed", "optimal"):
            candidates = [r for r in theory_rows if r["b"] == b and r["rule"] == rule]
            best = min(candidates, key=lambda r: r["theory_leading"])
            rows.append(dict(best, kind="optimum_theory"))
    return rows


def compute_budget(seed: int = 0, runs_scale: float = 1.0, progress: bool | None = None) -> pd.DataFrame:
    """Compute step of the ``budget`` figure: one row per cell or optimum, in linmeta's table layout.

    Series columns: ``kind`` (``theory``: leading order at every admissible ``m``;
    ``simulation``: a simulated cell with ``theory_leading`` and ``theory_finite``;
    ``optimum_theory``: the argmin over every admissible ``m`` of the leading order;
    ``optimum_finite`` and ``optimum_simulation``: the argmin over the simulated cells of
    the finite-size theory and of the simulated mean), ``b`` (the budget), ``rule``
    (``fixed`` ``alpha_t``, or the leading-order ``optimal`` one of each cell),
    ``m_low``/``m_high`` (the range of the simulated argmin's 95 % confidence set) and
    ``loss_at_d0`` (the loss at ``D = 0``, :func:`linmeta.theory.test_loss` with
    ``approximation="population"``).

    Parameters
    ----------
    seed : int, default=0
        Fixes the simulation (run ``i`` of every cell uses streams ``(seed, i)``).
    runs_scale : float, default=1.0
        Multiplies the runs of :data:`BUDGET_RUNS`.
    progress : bool, optional

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from linmeta.figures import budget
    >>> t = budget.compute_budget(runs_scale=0.001, progress=False)   # 3 runs per cell: a few seconds
    >>> sorted(set(t["kind"]))
    ['optimum_finite', 'optimum_simulation', 'optimum_theory', 'simulation', 'theory']
    >>> t.loc[t["kind"] == "optimum_theory", ["b", "rule", "m"]].head(2).values.tolist()
    [[60, 'fixed', 6], [60, 'optimal', 30]]
    """
    notes = []
    theory_rows = _theory_rows(notes)
    rows = theory_rows + _optimum_theory_rows(theory_rows) + _simulation_rows(seed, runs_scale, progress, notes)
    table = pd.DataFrame(rows).reindex(columns=[*SERIES, *COLUMNS])
    table[["m_low", "m_high"]] = table[["m_low", "m_high"]].astype("Int64")
    table = stamp(table, "budget")
    table.attrs["notes"] = sorted(set(notes))
    return table


def _table(table):
    return read_csv(table) if isinstance(table, (str, os.PathLike)) else table


def budget_summary(table: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """One row per simulated budget: the best ``m`` of each theory and of the simulation, with its interval.

    Parameters
    ----------
    table : DataFrame or path
        The ``budget`` table or its CSV.

    Returns
    -------
    pandas.DataFrame
        Columns ``b``, ``m_theory`` (leading order, every admissible ``m``), ``m_finite``,
        ``m_simulation``, ``m_low``, ``m_high``, ``m_max`` (``b / 2``, the largest admissible ``m``);
        ``None`` where the table has no such row.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"kind": ["optimum_simulation", "optimum_finite"] * 2, "b": [60, 60, 3840, 3840],
    ...                   "rule": "fixed", "m": [5, 5, 320, 384], "m_low": [3, None, 320, None],
    ...                   "m_high": [10, None, 480, None]})
    >>> budget_summary(t)[["b", "m_simulation", "m_low", "m_high", "m_max"]].values.tolist()
    [[60, 5, 3, 10, 30], [3840, 320, 320, 480, 1920]]
    """
    t = _table(table)
    out = []
    for b in sorted(set(t.loc[t["kind"] == "optimum_simulation", "b"])):
        at_b = t[(t["b"] == b) & (t["rule"] == "fixed")]
        sim = at_b[at_b["kind"] == "optimum_simulation"].iloc[0]
        lead = at_b[at_b["kind"] == "optimum_theory"]
        fin = at_b[at_b["kind"] == "optimum_finite"]
        out.append({"b": b, "m_theory": int(lead["m"].iloc[0]) if len(lead) else None,
                    "m_finite": int(fin["m"].iloc[0]) if len(fin) else None,
                    "m_simulation": int(sim["m"]),
                    "m_low": int(sim["m_low"]), "m_high": int(sim["m_high"]), "m_max": b // 2})
    return pd.DataFrame(out)


def exponent_interval(table: pd.DataFrame | str | os.PathLike) -> tuple[float, float]:
    """Bounds on the exponent of ``m* ~ b^e`` from the simulated intervals at the smallest and largest budget.

    If each 95 % confidence set holds, the exponent between the two budgets lies between
    ``log(m_low(b2) / m_high(b1)) / log(b2 / b1)`` and ``log(m_high(b2) / m_low(b1)) / log(b2 / b1)``
    (both intervals hold with probability at least 90 %).

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"kind": "optimum_simulation", "b": [60, 3840], "rule": "fixed", "m": [5, 320],
    ...                   "m_low": [3, 320], "m_high": [10, 480]})
    >>> [round(e, 2) for e in exponent_interval(t)]
    [0.83, 1.22]
    """
    s = budget_summary(table)
    first, last = s.iloc[0], s.iloc[-1]
    span = math.log(last["b"] / first["b"])
    return (math.log(last["m_low"] / first["m_high"]) / span, math.log(last["m_high"] / first["m_low"]) / span)


def _reference_slopes(ax, b0, m0, b_max):
    for slope, name, style in ((0.0, "0", ":"), (0.5, "1/2", "-."), (1.0, "1", "--")):
        xs = np.array([b0, b_max])
        ax.plot(xs, m0 * (xs / b0) ** slope, style, color="0.55", lw=0.8, label=f"slope {name}")


def draw_budget(fig: MplFigure, table: pd.DataFrame) -> dict:
    """Draw step of the ``budget`` figure: ``L - L_inf`` against ``m`` (a), the best ``m`` against ``b`` (b).

    Any other table in linmeta's layout (a curve or a sweep) is drawn as simulation and theory against its
    varied parameter (:func:`linmeta.figures.base.draw_table`).

    Examples
    --------
    >>> import linmeta as lm
    >>> from matplotlib.figure import Figure
    >>> curve = lm.simulate_curve(lm.presets.FIG3, "alpha_r", [0.1, 0.2, 0.3], n_runs=5)
    >>> sorted(draw_budget(Figure(), curve))
    ['table']
    """
    a, c = fig.subplots(1, 2)
    if "loss_at_d0" not in table.columns:      # any other table in linmeta's layout: simulation and theory, left
        c.set_axis_off()
        return {"table": draw_table(a, table)}
    sim = table[table["kind"] == "simulation"]
    budgets = sorted(set(sim["b"]))
    for i, b in enumerate(budgets):
        rows = sim[sim["b"] == b].sort_values("m")
        color = f"C{i}"
        a.errorbar(rows["m"], rows["mean"] - rows["loss_at_d0"], yerr=2 * rows["stderr"], fmt="o", ms=3,
                   capsize=2, color=color, label=f"b = {b}")
        a.plot(rows["m"], rows["theory_finite"] - rows["loss_at_d0"], "--", color=color, lw=0.9)
        lead = table[(table["kind"] == "theory") & (table["b"] == b) & (table["rule"] == "fixed")].sort_values("m")
        lead = lead[lead["m"] >= rows["m"].min()]
        a.plot(lead["m"], lead["theory_leading"] - lead["loss_at_d0"], "-", color=color, lw=0.9)
        top = table[(table["kind"] == "optimum_theory") & (table["b"] == b) & (table["rule"] == "fixed")]
        a.plot(top["m"], top["theory_leading"] - top["loss_at_d0"], "*", color="k", ms=7, zorder=5)
    a.plot([], [], "k-", lw=0.9, label="leading order (T2)")
    a.plot([], [], "k--", lw=0.9, label="finite-size theory")
    a.plot([], [], "k*", ms=7, label="leading-order optimum")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("number of tasks m  (n_t = n_v = b / 2m)")
    a.set_ylabel(r"$L_{test} - L_\infty$")
    a.set_title(r"a: test loss at fixed budget $b$ (simulation ±2 SE)", fontsize="small")
    a.set_ylim(top=a.get_ylim()[1] * 8)          # room for the legend above the curves
    a.legend(fontsize="x-small", ncol=2, loc="upper right")

    opt = table[table["kind"] == "optimum_theory"]
    for rule, style, label in (("fixed", "o-", r"leading order, $\alpha_t$ fixed"),
                               ("optimal", "^:", r"leading order, optimal $\alpha_t$ per cell")):
        rows = opt[opt["rule"] == rule].sort_values("b")
        c.plot(rows["b"], rows["m"], style, ms=3, color="C0" if rule == "fixed" else "C2", label=label)
    bs = np.array(sorted(set(table["b"])), dtype=float)
    c.plot(bs, bs / 2, "-", color="0.8", lw=3, zorder=0, label="largest m (b/2)")
    fin = table[table["kind"] == "optimum_finite"].sort_values("b")
    c.plot(fin["b"], fin["m"], "s", mfc="none", color="C3", ms=6, label="finite-size theory (simulated cells)")
    best = table[table["kind"] == "optimum_simulation"].sort_values("b")
    if len(best):
        err = np.vstack([best["m"] - best["m_low"], best["m_high"] - best["m"]]).astype(float)
        c.errorbar(best["b"], best["m"], yerr=err, fmt="D", ms=4, color="k", capsize=3,
                   label="simulation (95 % confidence set)")
        _reference_slopes(c, float(best["b"].iloc[0]), float(best["m"].iloc[0]), float(bs.max()))
    c.set_xscale("log")
    c.set_yscale("log")
    c.set_xlabel("label budget b = m (n_t + n_v)")
    c.set_ylabel("best number of tasks m*")
    title = "b: optimal m against b"
    if len(best) > 1:
        lo, hi = exponent_interval(table)
        title += f"; simulated exponent in [{lo:.2f}, {hi:.2f}]"
    c.set_title(title, fontsize="small")
    c.legend(fontsize="x-small", loc="upper left")
    return {"loss": a, "optimum": c}
