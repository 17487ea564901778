"""Finite-size figure: relative deviation of theory from simulation vs m, the size scale and alpha_t.

Examples
--------
>>> from linmeta.figures import finite_size
>>> finite_size.FINITE_M[:3], finite_size.FINITE_TARGET
((2, 5, 10), 0.003)
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from linmeta import plotting, presets
from linmeta.estimate import Estimate, simulate, simulate_curve
from linmeta.figures.base import read_csv, scaled_runs, stamp, theory_or_note
from linmeta.figures.panels import GRIDS
from linmeta.problem import Problem
from linmeta.sweeping import replace_sizes

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


def _deviation_rows(prob, est, notes, forms):
    rows = []
    for kind, kw in forms:
        th = theory_or_note("test_loss", notes, prob, **kw)
        if th is None:
            continue
        th = float(th)
        row = {"kind": kind, "mean": (th - est.mean) / est.mean,
               "stderr": th * est.stderr / est.mean**2, "theory": th, "sim_mean": est.mean,
               "sim_stderr": est.stderr, "n_runs": est.n_runs, "seed": est.seed, "method": est.method}
        row.update(prob.to_dict())
        rows.append(row)
    return rows


def _alpha_t_deviations(seed, runs_scale, progress, notes):
    """Deviation of leading and finite-size theory over the panel-b ``alpha_t`` grid, per set."""
    rows = []
    forms = (("deviation", {}), ("deviation_finite", {"approximation": "finite"}))
    for name, prob in FINITE_SETS.items():
        n = scaled_runs(FINITE_SET_RUNS[name], runs_scale)
        curve = simulate_curve(prob, "alpha_t", GRIDS["alpha_t"], n, seed, "exact", progress=progress)
        for r in curve.itertuples():
            est = Estimate(r.mean, r.stderr, n, seed, "exact")
            for row in _deviation_rows(prob.replace(alpha_t=float(r.value)), est, notes, forms):
                rows.append({**row, "parameter": "alpha_t", "value": float(r.value), "set": name})
    return rows


def finite_size_summary(table):
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
               "rel SE": f"{(g['sim_stderr'] / g['sim_mean']).min():.1e}-{(g['sim_stderr'] / g['sim_mean']).max():.1e}"}
        for kind, label in (("deviation", "leading"), ("deviation_finite", "finite")):
            k = g[g["kind"] == kind]
            if k.empty:
                continue
            i = k["mean"].abs().idxmax()
            row[f"max {label}"] = f"{100 * abs(k.loc[i, 'mean']):.2f} % (alpha_t={k.loc[i, 'value']:g})"
            if kind == "deviation_finite":
                ok = k.loc[k["mean"].abs() <= FINITE_TARGET, "value"]
                row["finite within 0.3 %"] = f"{len(ok)}/{len(k)} values"
        out.append(row)
    return pd.DataFrame(out)


def compute_finite_size(seed=0, runs_scale=1.0, progress=None):
    """Relative deviation of theory from simulation: vs ``m`` (T2, FIG3), vs the size scale (T1, FIG2),
    and over the panel-b ``alpha_t`` grid for :data:`FINITE_SETS`."""
    notes = []
    n = scaled_runs(FINITE_RUNS, runs_scale)
    rows = []
    cases = [("m", m, presets.FIG3.replace(m=m)) for m in FINITE_M]
    cases += [("scale", s, _scaled_fig2(s)) for s in FINITE_SCALE]
    forms = (("deviation", {}), ("deviation_printed", {"form": "printed"}),
             ("deviation_finite", {"approximation": "finite"}))
    for x, v, prob in cases:
        est = simulate(prob, n, seed, "exact", progress=progress)
        kept = [f for f in forms if f[0] != "deviation_printed" or prob.regime == "underparameterized"]
        rows += [{**row, "parameter": x, "value": v} for row in _deviation_rows(prob, est, notes, kept)]
    rows += _alpha_t_deviations(seed, runs_scale, progress, notes)
    table = stamp(pd.DataFrame(rows), "finite_size")
    table.attrs["notes"] = sorted(set(notes))
    return table


def draw_finite_size(fig, table):
    """Top: vs ``m`` (Theorem 2) and vs the size scale (Theorem 1); below: one panel per set of
    :data:`FINITE_SETS` over ``alpha_t``, leading order and finite size, with the 0.3 % target."""
    axes = fig.subplots(3, 2)
    out = {
        "m": plotting.plot_finite_size(axes[0, 0], table[table["parameter"] == "m"], x="m",
                                       title=r"Theorem 2: FIG3 sizes, varying $m$"),
        "scale": plotting.plot_finite_size(axes[0, 1], table[table["parameter"] == "scale"], x="scale",
                                           title=r"Theorem 1: FIG2 sizes $\times s$"),
    }
    by_alpha = table[table["parameter"] == "alpha_t"]
    for ax, name in zip(axes[1:].ravel(), FINITE_SETS):
        rows = by_alpha[by_alpha["set"] == name] if "set" in by_alpha else by_alpha.iloc[:0]
        p = FINITE_SETS[name]
        title = f"{name}: $p={p.p}$, $m={p.m}$, $n_t={p.n_t}$, $n_v={p.n_v}$"
        out[name] = plotting.plot_finite_size(ax, rows, x="alpha_t", title=title, xscale="linear",
                                              target=FINITE_TARGET)
    return out
