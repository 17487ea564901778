"""The figure registry: every figure is a compute step, a draw step and a fixed size.

``FIGURES[name]`` is a :class:`Figure`.  :func:`make` runs the compute step
(simulation and theory), writes the table to ``<outdir>/<name>.csv`` (with the
parameters, seed, runs and linmeta version on every row), reads it back and
draws from the file only, then saves ``<name>.png`` and ``<name>.pdf`` with
deterministic metadata.  The same seed regenerates identical bytes.

Registering a figure is one entry::

    FIGURES["stepsize_bound"] = Figure(compute=my_compute, draw=my_draw, size=(6.4, 2.8),
                                       description="...")

where ``my_compute(seed=0, runs_scale=1.0, progress=None) -> pandas.DataFrame``
and ``my_draw(fig, table)`` draws onto a Matplotlib ``Figure`` using
:mod:`linmeta.plotting`.  Put notes for the user (e.g. a missing formula) in
``table.attrs["notes"]``.

Examples
--------
>>> from linmeta.figures import FIGURES, PAPER_PANELS
>>> PAPER_PANELS
('fig2a', 'fig2b', 'fig3a', 'fig3b')
>>> sorted(FIGURES)[:3]
['fig2a', 'fig2b', 'fig3a']

References
----------
theory.md §7 (paper protocol), T0, T1, T2.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import pandas as pd

from linmeta import experiments, presets
from linmeta.estimate import Estimate, simulate, simulate_curve
from linmeta.problem import Problem
from linmeta.sweeping import read_table, replace_sizes

__all__ = ["Figure", "FIGURES", "PAPER_PANELS", "Made", "make", "scaled_runs", "STYLE"]

STYLE = os.path.join(os.path.dirname(__file__), "linmeta.mplstyle")
PAPER_PANELS = ("fig2a", "fig2b", "fig3a", "fig3b")
#: paper protocol (theory.md §7): runs per point in panel a / panel b
PROTOCOL_RUNS = {"alpha_r": 100, "alpha_t": 1000}
#: the high-precision common-random-numbers curve beside the protocol points.  Fig. 3 meta-trains on a
#: 1000 x 30 system per run (about 10x the cost of Fig. 2); 4,000 runs already give a standard error
#: below 0.03 % of the loss, and keep the four panels well inside two minutes on two cores.
EXACT_RUNS = {"fig2": 10_000, "fig3": 4_000}
GRIDS = {
    "alpha_t": np.round(np.linspace(-2.0, 1.0, 25), 12),   # step 0.125, negatives included
    "alpha_r": np.round(np.linspace(-0.3, 0.9, 25), 12),   # step 0.05, brackets the optimum near 0.2
}
_DENSE = 241
_DENSE_FINITE = 49  # spacing 0.0625 on the alpha_t grid
_META = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


@dataclass(frozen=True)
class Figure:
    """One registered figure.

    Attributes
    ----------
    compute : callable
        ``compute(seed=0, runs_scale=1.0, progress=None) -> DataFrame``.
    draw : callable
        ``draw(fig, table)``: draws ``table`` (as read back from the CSV) on a Matplotlib figure.
    size : tuple of float
        Figure size in inches (fixed, so that files are reproducible).
    description : str
    """

    compute: Callable
    draw: Callable
    size: tuple
    description: str = ""


@dataclass
class Made:
    """What :func:`make` produced: paths, compute seconds, notes for the user."""

    name: str
    paths: list
    seconds: float
    notes: list = field(default_factory=list)


def scaled_runs(n, runs_scale):
    """``round(n * runs_scale)``, at least 2 (a standard error needs two runs).

    >>> scaled_runs(1000, 0.01), scaled_runs(100, 0.001)
    (10, 2)
    """
    return max(2, int(round(n * runs_scale)))


# ----------------------------------------------------------------------------- theory (guarded)
def _theory(name, notes, *args, **kwargs):
    """Call ``linmeta.theory.<name>`` or return ``None`` with a note if it is not available."""
    from linmeta import theory

    fn = getattr(theory, name, None)
    what = f"linmeta.theory.{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    if fn is None:
        notes.append(f"{what} is not available yet; drawn without it")
        return None
    try:
        return fn(*args, **kwargs)
    except (NotImplementedError, TypeError, ValueError) as err:
        notes.append(f"{what} failed: {err}; drawn without it")
        return None


def _theory_curve(prob, parameter, values, notes, **kwargs):
    out = []
    for v in values:
        y = _theory("test_loss", notes, prob.replace(**{parameter: float(v)}), **kwargs)
        if y is None:
            return None
        out.append(float(y))
    return np.array(out)


def _parabola_min(x, y):
    """Vertex of the parabola through the minimum of ``y`` and its two neighbours."""
    i = int(np.clip(np.argmin(y), 1, len(y) - 2))
    c = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
    if c[0] <= 0:
        return float(x[np.argmin(y)]), float(np.min(y))
    v = -c[1] / (2 * c[0])
    return float(v), float(np.polyval(c, v))


def _with_problem(table, prob, figure):
    from linmeta import __version__

    base = prob.to_dict()
    for k, v in base.items():
        table[k] = v
    varied = table["parameter"].iloc[0]
    table[varied] = table["value"]
    table.insert(0, "figure", figure)
    table["linmeta_version"] = __version__
    return table


# ----------------------------------------------------------------------------- paper panels
def compute_panel(figure, preset, parameter, seed=0, runs_scale=1.0, progress=None, printed=False):
    """Table of one paper panel (theory.md §7): protocol points, CRN curve, theory, optima.

    Protocol points use ``seed``; the exact-test-side curve uses ``seed + 1``
    so that the two estimates are independent.
    """
    prob = presets.PRESETS[preset]
    values = GRIDS[parameter]
    notes = []
    parts = []
    n_prot = scaled_runs(PROTOCOL_RUNS[parameter], runs_scale)
    n_exact = scaled_runs(EXACT_RUNS[preset], runs_scale)
    for kind, n, s, method in (("protocol", n_prot, seed, "protocol"), ("exact", n_exact, seed + 1, "exact")):
        t = simulate_curve(prob, parameter, values, n, s, method, progress=progress)
        parts.append(t.assign(kind=kind))
    exact = parts[-1]
    dense = np.linspace(values[0], values[-1], _DENSE)
    forms = [("theory", {})] + ([("theory_printed", {"form": "printed"})] if printed else [])
    forms.append(("theory_finite", {"approximation": "finite"}))   # drawn once linmeta.theory provides it
    for kind, kw in forms:
        # the under-parameterised finite-size formula solves fixed points numerically (~0.5 s a value)
        grid = np.linspace(values[0], values[-1], _DENSE_FINITE) if "approximation" in kw else dense
        y = _theory_curve(prob, parameter, grid, notes, **kw)
        if y is not None:
            parts.append(pd.DataFrame({"value": grid, "mean": y, "parameter": parameter, "method": "theory",
                                       "kind": kind}))
    opt = _theory(f"optimal_{parameter}", notes, prob)
    if opt is not None:
        y = _theory("test_loss", notes, prob.replace(**{parameter: float(opt)}))
        parts.append(pd.DataFrame({"value": [float(opt)], "mean": [float(y) if y is not None else np.nan],
                                   "parameter": parameter, "method": "theory", "kind": "optimum_theory"}))
    v, y = _parabola_min(exact["value"].to_numpy(float), exact["mean"].to_numpy(float))
    parts.append(pd.DataFrame({"value": [v], "mean": [y], "n_runs": [n_exact], "seed": [seed + 1],
                               "parameter": parameter, "method": "exact", "kind": "optimum_simulation"}))
    cols = ["kind", "parameter", "value", "mean", "stderr", "n_runs", "seed", "method"]
    table = pd.concat([p.reindex(columns=cols) for p in parts], ignore_index=True)
    table = _with_problem(table, prob, figure)
    table.attrs["notes"] = notes
    return table


def draw_panel(fig, table, *, parameter, title):
    """Draw a paper panel onto ``fig`` (one Axes)."""
    from linmeta import plotting

    ax = fig.subplots()
    regime = "overparameterized" if table["p"].iloc[0] > table["n_v"].iloc[0] * table["m"].iloc[0] else \
        "underparameterized"
    return plotting.plot_loss_panel(ax, table, parameter=parameter, regime=regime, title=title)


def _title(figure, preset, parameter):
    p = presets.PRESETS[preset]
    fixed = "alpha_t" if parameter == "alpha_r" else "alpha_r"
    sym = {"alpha_t": r"\alpha_t", "alpha_r": r"\alpha_r"}[fixed]
    regime = "over-parameterised, Theorem 1" if p.regime == "overparameterized" else \
        "under-parameterised, Theorem 2"
    return (f"Fig. {figure[3:]}: {regime}\n$p={p.p}$, $m={p.m}$, $n_t={p.n_t}$, $n_v={p.n_v}$, $n_r={p.n_r}$, "
            f"$\\sigma={p.sigma:g}$, $\\nu={p.nu:g}$, ${sym}={getattr(p, fixed):g}$")


def _panel(figure, preset, parameter, printed=False):
    label = {"alpha_r": "varies alpha_r at alpha_t = 0.2", "alpha_t": "varies alpha_t at alpha_r = 0.2"}[parameter]
    return Figure(
        compute=partial(compute_panel, figure, preset, parameter, printed=printed),
        draw=partial(draw_panel, parameter=parameter, title=_title(figure, preset, parameter)),
        size=(4.3, 4.6),
        description=f"paper Fig. {figure[3:]}: {presets.PRESETS[preset].regime}, {label}",
    )


# ----------------------------------------------------------------------------- finite size
FINITE_M = (2, 5, 10, 20, 40, 80, 160)
FINITE_SCALE = (0.5, 1, 2, 4)  # s = 8 (p = 480) costs ~10x s = 4 per run
FINITE_RUNS = 2000


def _scaled_fig2(s):
    p = presets.FIG2
    return replace_sizes(p, p=int(p.p * s), n_t=int(p.n_t * s), n_v=int(p.n_v * s), n_r=int(p.n_r * s))


#: issue 7 target: the ``alpha_t`` grid of panel b, the paper's sets and one set per regime with m = 5
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
        th = _theory("test_loss", notes, prob, **kw)
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
        table = _read(table)
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
    and over the panel-b ``alpha_t`` grid for :data:`FINITE_SETS` (issue 7)."""
    from linmeta import __version__

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
    table = pd.DataFrame(rows)
    table.insert(0, "figure", "finite_size")
    table["linmeta_version"] = __version__
    table.attrs["notes"] = sorted(set(notes))
    return table


def draw_finite_size(fig, table):
    """Top: vs ``m`` (Theorem 2) and vs the size scale (Theorem 1); below: one panel per set of
    :data:`FINITE_SETS` over ``alpha_t``, leading order and finite size, with the 0.3 % target."""
    from linmeta import plotting

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


# ----------------------------------------------------------------------------- registry
FIGURES = {
    "fig2a": _panel("fig2a", "fig2", "alpha_r"),
    "fig2b": _panel("fig2b", "fig2", "alpha_t"),
    "fig3a": _panel("fig3a", "fig3", "alpha_r"),
    "fig3b": _panel("fig3b", "fig3", "alpha_t", printed=True),
    "finite_size": Figure(compute_finite_size, draw_finite_size, size=(7.2, 9.0),
                          description="relative deviation of theory from simulation vs m (T2), size scale (T1) "
                          "and alpha_t (leading vs finite size, issue 7)"),
    "stepsize_bound": Figure(experiments.compute_figure, experiments.draw_figure,
                             size=(7.2, 3.1), description="multi-step bound (B1): product norms, convergence, "
                             "optimal alpha_t vs -bound/L"),
}


# ----------------------------------------------------------------------------- make
def _read(path):
    with open(path, "rb") as fh:
        return read_table(fh.read())


def render(name, table, outdir):
    """Draw ``table`` with ``FIGURES[name].draw`` and save PNG and PDF; returns the paths."""
    import matplotlib.style
    from matplotlib.figure import Figure as MplFigure

    spec = FIGURES[name]
    paths = []
    with matplotlib.style.context(STYLE):
        fig = MplFigure(figsize=spec.size, layout="constrained")  # no pyplot: no global state, Agg/PDF canvases
        spec.draw(fig, table)
        for ext in ("png", "pdf"):
            path = os.path.join(outdir, f"{name}.{ext}")
            fig.savefig(path, format=ext, metadata=_META[ext])
            paths.append(path)
    return paths


def make(name, outdir="figures", *, seed=0, runs_scale=1.0, progress=None, workers=None):
    """Compute, save the CSV, and draw figure ``name`` from that CSV.

    Parameters
    ----------
    name : str
        A key of :data:`FIGURES`.
    outdir : str or path, default="figures"
    seed : int, default=0
    runs_scale : float, default=1.0
        Multiplies every run count (``0.01`` for a quick look).
    progress : bool, optional
        Progress bars; by default only on a terminal.
    workers : int, optional
        Numba threads for the simulation (the numbers do not depend on it).

    Returns
    -------
    Made
    """
    import numba

    from linmeta._checks import check_real
    from linmeta._rng import check_seed

    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    seed = check_seed(seed)
    runs_scale = check_real(runs_scale, "runs_scale", min_val=0, strict=True)
    os.makedirs(outdir, exist_ok=True)
    before = numba.get_num_threads()
    try:
        if workers is not None:
            numba.set_num_threads(max(1, min(int(workers), numba.config.NUMBA_NUM_THREADS)))
        t0 = time.perf_counter()
        table = FIGURES[name].compute(seed=seed, runs_scale=runs_scale, progress=progress)
        seconds = time.perf_counter() - t0
    finally:
        numba.set_num_threads(before)
    csv = os.path.join(outdir, f"{name}.csv")
    table.to_csv(csv, index=False)
    paths = [csv, *render(name, _read(csv), outdir)]  # drawn from the file, never from memory
    return Made(name, paths, seconds, list(table.attrs.get("notes", [])))
