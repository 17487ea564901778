"""Finite-size figure: relative deviation of theory from simulation vs m, the size scale and alpha_t.

Examples
--------
>>> from linmeta.figures import finite_size
>>> finite_size.FINITE_M[:3], finite_size.FINITE_TARGET
((2, 5, 10), 0.003)
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from linmeta import plotting, presets
from linmeta._tidy import problem_columns, varied_column
from linmeta.estimate import Estimate, simulate, simulate_curve
from linmeta.figures.base import COLUMNS, read_csv, scaled_runs, stamp, theory_or_note
from linmeta.figures.panels import GRIDS
from linmeta.plotting import deviation
from linmeta.problem import Problem
from linmeta.sweeping import replace_sizes

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

__all__ = ["FINITE_M", "FINITE_SCALE", "FINITE_RUNS", "FINITE_SETS", "FINITE_SET_RUNS", "FINITE_TARGET",
           "compute_finite_size", "draw_finite_size", "finite_size_summary"]


FINITE_M = (2, 5, 10, 20, 40, 80, 160)
FINITE_SCALE = (0.5, 1, 2, 4)  # s = 8 (p = 480) costs ~10x s = 4 per run
FINITE_RUNS = 2000


def _scaled_fig2(s):
    p = presets.FIG2
    return replace_sizes(p, p=int(p.p * s), n_t=int(p.n_t * s), n_v=int(p.n_v * s), n_r=int(p.n_r * s))


#: the ``alpha_t`` grid of panel b, the paper's sets and one set per regime with m = 5
FINITE_SETS = {
    "FIG2": presets.FIG2,
    "FIG3": presets.FIG3,
    "over, m=5": Problem(p=50, m=5, n_t=25, n_v=4, n_r=20, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2,
                         omega0=np.r_[1.0, np.zeros(49)]),
    "under, m=5": Problem(p=10, m=5, n_t=10, n_v=10, n_r=10, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2),
}
#: runs per alpha_t value: relative SE about 1e-4 or below for every set
FINITE_SET_RUNS = {"FIG2": 20_000, "FIG3": 4_000, "over, m=5": 20_000, "under, m=5": 20_000}
FINITE_TARGET = 0.003


def _row(prob, est, notes, forms):
    """One row in linmeta's table layout: the problem, the estimate ``est`` and the theory columns of ``forms``."""
    row = {**problem_columns(prob), "mean": est.mean, "stderr": est.stderr, "n_runs": est.n_runs, "seed": est.seed,
           "method": est.method}
    for column, kw in forms:
        th = theory_or_note("test_loss", notes, prob, **kw)
        row[column] = float(th) if th is not None else np.nan
    return row


_FORMS = (("theory_leading", {}), ("theory_printed", {"form": "printed"}),
          ("theory_finite", {"approximation": "finite"}))


def _alpha_t_rows(seed, runs_scale, progress, notes):
    """Compute simulation, leading and finite-size theory over the panel-b ``alpha_t`` grid, per set."""
    rows = []
    forms = (_FORMS[0], _FORMS[2])
    for name, prob in FINITE_SETS.items():
        n = scaled_runs(FINITE_SET_RUNS[name], runs_scale)
        curve = simulate_curve(prob, "alpha_t", GRIDS["alpha_t"], n, seed, "exact", progress=progress)
        for r in curve.itertuples():
            est = Estimate(r.mean, r.stderr, n, seed, "exact")
            rows.append({"parameter": "alpha_t", "set": name,
                         **_row(prob.replace(alpha_t=float(r.alpha_t)), est, notes, forms)})
    return rows


def finite_size_summary(table: pd.DataFrame | str) -> pd.DataFrame:
    """Maximum relative deviation over the ``alpha_t`` grid, leading vs finite-size, per set.

    Parameters
    ----------
    table : DataFrame or str
        The ``finite_size`` table, or the path of its CSV.

    Returns
    -------
    pandas.DataFrame
        One row per set: runs per value, the range of the relative SE, the maximum
        ``|theory - sim| / sim`` of each approximation and where it occurs, and the
        ``alpha_t`` values where the finite-size formula is within 0.3 %.
    """
    if isinstance(table, (str, os.PathLike)):
        table = read_csv(table)
    t = table[table["parameter"] == "alpha_t"]
    out = []
    for name, g in t.groupby("set", sort=False):
        row = {"set": name, "runs": int(g["n_runs"].iloc[0]),
               "rel SE": f"{(g['stderr'] / g['mean']).min():.1e}-{(g['stderr'] / g['mean']).max():.1e}"}
        for column, label in (("theory_leading", "leading"), ("theory_finite", "finite")):
            k = deviation(g, column)
            if k.empty:
                continue
            i = k["deviation"].abs().idxmax()
            row[f"max {label}"] = f"{100 * abs(k.loc[i, 'deviation']):.2f} % (alpha_t={k.loc[i, 'alpha_t']:g})"
            if column == "theory_finite":
                ok = k.loc[k["deviation"].abs() <= FINITE_TARGET, "alpha_t"]
                row["finite within 0.3 %"] = f"{len(ok)}/{len(k)} values"
        out.append(row)
    return pd.DataFrame(out)


def compute_finite_size(seed: int = 0, runs_scale: float = 1.0, progress: bool | None = None) -> pd.DataFrame:
    """Compute simulation and theory for the finite-size figure.

    Vs ``m`` (T2, FIG3), vs the size scale (T1, FIG2), and over the panel-b
    ``alpha_t`` grid for :data:`FINITE_SETS`: one row per problem in linmeta's table layout, with the
    series columns ``parameter`` (what the series varies), ``set`` and ``scale``; the drawing shows the
    relative deviation of each theory column from ``mean`` (:func:`linmeta.plotting.deviation`).
    """
    notes = []
    n = scaled_runs(FINITE_RUNS, runs_scale)
    rows = []
    cases = [("m", "FIG3", presets.FIG3.replace(m=m), np.nan) for m in FINITE_M]
    cases += [("scale", "FIG2", _scaled_fig2(s), s) for s in FINITE_SCALE]
    for x, name, prob, s in cases:
        est = simulate(prob, n, seed, "exact", progress=progress)
        kept = [f for f in _FORMS if f[0] != "theory_printed" or prob.regime == "underparameterized"]
        rows.append({"parameter": x, "set": name, "scale": s, **_row(prob, est, notes, kept)})
    rows += _alpha_t_rows(seed, runs_scale, progress, notes)
    table = stamp(pd.DataFrame(rows).reindex(columns=["parameter", "set", "scale", *COLUMNS]), "finite_size")
    table.attrs["notes"] = sorted(set(notes))
    return table


def draw_finite_size(fig: MplFigure, table: pd.DataFrame) -> dict:
    """Draw the finite-size figure.

    Top: vs ``m`` (Theorem 2) and vs the size scale (Theorem 1); below: one panel per set of
    :data:`FINITE_SETS` over ``alpha_t``, leading order and finite size, with the 0.3 % target.
    """
    axes = fig.subplots(3, 2)
    if "parameter" not in table.columns:      # any other table in linmeta's layout: one series, top left
        x = varied_column(table)
        return {x: plotting.plot_finite_size(axes[0, 0], table, x=x, xscale="linear", title=f"varying {x}")}
    out = {
        "m": plotting.plot_finite_size(axes[0, 0], table[table["parameter"] == "m"], x="m",
                                       title=r"Theorem 2: FIG3 sizes, varying $m$"),
        "scale": plotting.plot_finite_size(axes[0, 1], table[table["parameter"] == "scale"], x="scale",
                                           title=r"Theorem 1: FIG2 sizes $\times s$"),
    }
    by_alpha = table[table["parameter"] == "alpha_t"]
    for ax, name in zip(axes[1:].ravel(), FINITE_SETS, strict=True):
        rows = by_alpha[by_alpha["set"] == name] if "set" in by_alpha else by_alpha.iloc[:0]
        p = FINITE_SETS[name]
        title = f"{name}: $p={p.p}$, $m={p.m}$, $n_t={p.n_t}$, $n_v={p.n_v}$"
        out[name] = plotting.plot_finite_size(ax, rows, x="alpha_t", title=title, xscale="linear",
                                              target=FINITE_TARGET)
    return out
