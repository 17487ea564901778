"""Task-landscape figure: MAML's gain over ERM on a mixture of easy and hard tasks, simulated and at m -> infinity.

The setting of Collins, Mokhtari & Shakkottai (2022), "How does the task
landscape affect MAML performance?": half the tasks are easy, with inputs
``x ~ N(0, rho_E I)``, half are hard, ``x ~ N(0, rho_H I)`` with ``rho_H < rho_E``
(gradient descent converges more slowly on them).  The easy tasks' optima
``w ~ N(0, R_E^2 / p I)`` spread around the origin; the hard ones'
``w ~ N(d u, R_H^2 / p I)`` are packed (small ``R_H``) around a centre at
distance ``d`` along ``u = (1, ..., 1) / sqrt(p)``.  Their claim: MAML gains
substantially over pooled training (their NAL, linmeta's ``algorithm="erm"``)
only when the hardness differs and the hard tasks' optima are packed together,
far from the easy ones.

The gain is ``(L_ERM - L_MAML) / L_ERM`` after one adaptation step at
``alpha_r``, with one-step MAML trained at ``alpha_t = alpha_r = 1 / rho_E``
(the step that solves an easy task in one step with unlimited data; the
largest step of Collins et al.'s analysis, ``alpha <= 1 / beta``).  Because
``n_t = n_r`` and ``alpha_t = alpha_r``, MAML's population solution minimises
the population test loss over every ``omega`` (docs: theory, P1-P4, (P2) is
(P4)'s matrix), so no ``alpha_t`` does better there and the line is the
largest gain any initialisation attains at this adaptation.

Panels: (a) the gain against the hardness gap ``rho_E / rho_H`` at several
``d``; (b) against ``d`` at several gaps, with a control whose hard tasks are
spread out (``R_H = 4``); (c) against the hard cluster's spread ``R_H``.
Points: simulation at ``m = M_TASKS`` (the paired difference of MAML and ERM
run by run, same seed, with its standard error); lines: the population limit
:func:`linmeta.theory.test_loss` with ``approximation="population"``.

Examples
--------
>>> from linmeta.figures import task_landscape as tl
>>> mix = tl.landscape_problem(gap=5.0, distance=4.0)
>>> [round(w, 2) for w, _ in mix.components], mix.components[1][1].input_cov, mix.alpha_t, mix.n_t == mix.n_r
([0.5, 0.5], 0.2, 1.0, True)
>>> round(float(mix.components[1][1].w0 @ tl.direction(mix.p)), 12)
4.0
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from linmeta import theory
from linmeta._tidy import MODEL_COLUMN, PROBLEM_COLUMNS, SIMULATION_COLUMNS, problem_columns
from linmeta.algorithms._registry import BASELINE, MAML
from linmeta.estimate import simulate
from linmeta.figures.base import draw_table, scaled_runs, stamp
from linmeta.mixture import Mixture
from linmeta.problem import Problem

__all__ = ["SIZES", "RHO_E", "ALPHA", "SIGMA", "HARD_WEIGHT", "EASY_SPREAD", "PACKED", "SPREAD_OUT", "M_TASKS",
           "LANDSCAPE_RUNS", "GAPS", "DISTANCES", "SPREADS", "PANELS", "LANDSCAPE_COLUMNS", "direction",
           "landscape_problem", "compute_task_landscape", "draw_task_landscape"]

#: sizes shared by every problem of the figure (``m`` is :data:`M_TASKS`)
SIZES = {"p": 10, "n_t": 100, "n_v": 20, "n_r": 100}
RHO_E = 1.0
#: ``alpha_t = alpha_r = 1 / rho_E``
ALPHA = 1.0 / RHO_E
SIGMA = 0.1
HARD_WEIGHT = 0.5
#: ``R_E``: ``E|w - 0|^2 = R_E^2`` for an easy task
EASY_SPREAD = 1.0
#: ``R_H`` of a packed hard cluster, and of the control whose hard tasks are spread out
PACKED = 0.1
SPREAD_OUT = 4.0
#: meta-training tasks of the simulation
M_TASKS = 100
#: runs per simulated point (paired: MAML and ERM see the same draws)
LANDSCAPE_RUNS = 30

#: simulated values of each panel's x; the population lines use a fine grid over the same range
GAPS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
DISTANCES = (0.0, 1.0, 2.0, 4.0, 8.0)
SPREADS = (0.1, 0.5, 1.0, 2.0, 4.0, 8.0)
_FINE = {"gap": np.geomspace(1.0, 100.0, 41), "distance": np.linspace(0.0, 8.0, 33),
         "hard_spread": np.geomspace(0.05, 10.0, 37)}

#: ``panel: (x column, simulated x, [(series fixed values), ...])``
PANELS = {
    "a": ("gap", GAPS, [{"distance": d, "hard_spread": PACKED} for d in (1.0, 2.0, 4.0)]),
    "b": ("distance", DISTANCES, [*({"gap": g, "hard_spread": PACKED} for g in (2.0, 5.0, 20.0)),
                                  {"gap": 5.0, "hard_spread": SPREAD_OUT}]),
    "c": ("hard_spread", SPREADS, [{"gap": g, "distance": 4.0} for g in (5.0, 20.0)]),
}
_DEFAULTS = {"gap": 5.0, "distance": 4.0, "hard_spread": PACKED}
#: the landscape's own columns (before linmeta's problem columns)
LANDSCAPE_COLUMNS = ("gap", "rho_E", "rho_H", "distance", "hard_spread", "easy_spread", "hard_weight")
_EXTRA = ("erm_mean", "erm_stderr", "diff_mean", "diff_stderr", "gain", "gain_stderr",
          "population_maml", "population_erm", "population_diff", "population_gain")


def direction(p: int) -> np.ndarray:
    """Return the unit vector ``(1, ..., 1) / sqrt(p)`` along which the hard cluster's centre lies."""
    return np.full(p, 1.0 / np.sqrt(p))


def landscape_problem(gap: float, distance: float, hard_spread: float = PACKED, *, m: int = M_TASKS,
                      algorithm: str = MAML) -> Mixture:
    """Return the easy/hard mixture of the figure: ``rho_H = rho_E / gap``, hard centre at ``distance``, spread ``R_H``.

    Parameters
    ----------
    gap : float
        ``rho_E / rho_H`` (>= 1: the hard tasks are the ones with the smaller input variance).
    distance : float
        ``d``, the distance between the clusters' centres.
    hard_spread : float, default=PACKED
        ``R_H``: the hard tasks are ``w ~ N(d u, R_H^2 / p I)``.
    m : int, default=M_TASKS
    algorithm : {"maml", "erm"}, default="maml"

    Returns
    -------
    Mixture

    Examples
    --------
    >>> mix = landscape_problem(10.0, 2.0, 4.0, algorithm="erm")
    >>> mix.algorithm, mix.components[1][1].input_cov, float(mix.components[1][1].task_cov.sum())
    ('erm', 0.1, 16.0)
    """
    p = SIZES["p"]
    easy = Problem(**SIZES, m=m, sigma=SIGMA, nu=None, alpha_t=ALPHA, alpha_r=ALPHA, input_cov=RHO_E,
                   task_cov=np.full(p, EASY_SPREAD**2 / p), algorithm=algorithm)
    hard = easy.replace(input_cov=RHO_E / gap, task_cov=np.full(p, hard_spread**2 / p),
                        w0=distance * direction(p))
    return Mixture([(1.0 - HARD_WEIGHT, easy), (HARD_WEIGHT, hard)])


def _landscape(point):
    return {"gap": point["gap"], "rho_E": RHO_E, "rho_H": RHO_E / point["gap"], "distance": point["distance"],
            "hard_spread": point["hard_spread"], "easy_spread": EASY_SPREAD, "hard_weight": HARD_WEIGHT}


def _population(point):
    maml = landscape_problem(**point)
    lm_ = float(theory.test_loss(maml, approximation="population"))
    le = float(theory.test_loss(maml.replace(algorithm=BASELINE), approximation="population"))
    return maml, {"population_maml": lm_, "population_erm": le, "population_diff": le - lm_,
                  "population_gain": (le - lm_) / le}


def _simulated(point, n_runs, seed, progress):
    """Paired MAML and ERM runs at ``point``: the losses, their paired difference and the gain with its SE."""
    maml = landscape_problem(**point)
    a = simulate(maml, n_runs, seed, progress=progress, return_losses=True)
    b = simulate(maml.replace(algorithm=BASELINE), n_runs, seed, progress=progress, return_losses=True)
    diff = b.losses - a.losses                      # run i of both trains and tests on the same draws
    gain = diff.mean() / b.mean
    root_n = np.sqrt(n_runs)
    # ratio of means: delta-method SE from the per-run residuals diff_i - gain * erm_i
    gain_se = (diff - gain * b.losses).std(ddof=1) / root_n / b.mean
    return {"mean": a.mean, "stderr": a.stderr, "n_runs": n_runs, "seed": seed, "method": a.method,
            "erm_mean": b.mean, "erm_stderr": b.stderr, "diff_mean": float(diff.mean()),
            "diff_stderr": float(diff.std(ddof=1) / root_n), "gain": float(gain), "gain_stderr": float(gain_se)}


def _row(panel, kind, point, prob, values):
    return {"panel": panel, "kind": kind, **_landscape(point), **problem_columns(prob), **values}


def compute_task_landscape(seed=0, runs_scale=1.0, progress=None):
    """Compute step of the ``task_landscape`` figure: simulated and population rows of every panel.

    ``kind="simulation"`` rows: ``LANDSCAPE_RUNS x runs_scale`` paired runs at
    ``m = M_TASKS`` (every point with ``seed``, so the points of a curve share
    their draws); ``mean``/``stderr`` are MAML's loss, ``erm_*`` ERM's,
    ``diff_*`` the paired ``L_ERM - L_MAML``, ``gain = diff_mean / erm_mean``
    with its delta-method SE, and the population columns at the same problem.
    ``kind="population"`` rows: the population columns on a fine grid.  A point
    shared by several panels is simulated once.
    """
    n = scaled_runs(LANDSCAPE_RUNS, runs_scale)
    cache, rows = {}, []
    for panel, (x, simulated, series) in PANELS.items():
        for fixed in series:
            for kind, xs in (("simulation", simulated), ("population", _FINE[x])):
                for value in xs:
                    point = {**_DEFAULTS, **fixed, x: float(value)}
                    prob, pop = _population(point)
                    values = dict(pop)
                    if kind == "simulation":
                        key = tuple(sorted(point.items()))
                        if key not in cache:
                            cache[key] = _simulated(point, n, seed, progress)
                        values.update(cache[key])
                    rows.append(_row(panel, kind, point, prob, values))
    columns = ["panel", "kind", *LANDSCAPE_COLUMNS, *PROBLEM_COLUMNS, MODEL_COLUMN, *SIMULATION_COLUMNS, *_EXTRA]
    table = stamp(pd.DataFrame(rows).reindex(columns=columns), "task_landscape")
    table.attrs["notes"] = []
    return table


_LABELS = {"gap": r"hardness gap $\rho_E / \rho_H$", "distance": r"distance of the centres $d$",
           "hard_spread": r"spread of the hard tasks $R_H$"}
_TITLES = {"a": r"(a) packed hard tasks ($R_H = 0.1$)", "b": "(b) against the distance",
           "c": r"(c) packing: $d = 4$"}


def _series_label(panel, fixed):
    if panel == "a":
        return f"d = {fixed['distance']:g}"
    if panel == "b":
        packed = "packed" if fixed["hard_spread"] == PACKED else f"spread out, R_H = {fixed['hard_spread']:g}"
        return f"gap {fixed['gap']:g}, {packed}"
    return f"gap {fixed['gap']:g}"


def draw_task_landscape(fig, table):
    """Draw step of the ``task_landscape`` figure: the gain against gap, distance and spread, three panels.

    Any other table in linmeta's layout (a curve or a sweep) is drawn as simulation and theory against its
    varied parameter (:func:`linmeta.figures.base.draw_table`).
    """
    axes = fig.subplots(1, 3)
    if "panel" not in table.columns:
        for ax in axes[1:]:
            ax.set_axis_off()
        return {"table": draw_table(axes[0], table)}
    out = {}
    for ax, (panel, (x, _, series)) in zip(axes, PANELS.items(), strict=True):
        rows = table[table["panel"] == panel]
        for i, fixed in enumerate(series):
            mine = rows[np.logical_and.reduce([np.isclose(rows[k], v) for k, v in fixed.items()])]
            sim, pop = mine[mine["kind"] == "simulation"], mine[mine["kind"] == "population"]
            style = "--" if fixed.get("hard_spread") == SPREAD_OUT else "-"
            color = f"C{i}"
            ax.plot(pop[x], pop["population_gain"], style, color=color, lw=1.2, label=_series_label(panel, fixed))
            ax.errorbar(sim[x], sim["gain"], yerr=2 * sim["gain_stderr"], fmt="o", ms=3, capsize=2, color=color)
        if x != "distance":
            ax.set_xscale("log")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel(_LABELS[x])
        ax.set_title(_TITLES[panel], fontsize="small")
        ax.legend(fontsize="x-small", loc="best")
        out[panel] = ax
    axes[0].set_ylabel(r"gain $(L_{ERM} - L_{MAML}) / L_{ERM}$")
    fig.suptitle(f"lines: population ($m \\to \\infty$); points: simulation at m = {M_TASKS} (±2 SE, paired)",
                 fontsize="small")
    return out
