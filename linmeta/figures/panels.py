"""The paper's panels (Fig. 2 and Fig. 3, a and b): protocol points, CRN curve, theory and optima.

Examples
--------
>>> from linmeta.figures import panels
>>> sorted(panels.GRIDS), panels.PROTOCOL_RUNS["alpha_t"]
(['alpha_r', 'alpha_t'], 1000)
"""
from __future__ import annotations

from functools import partial

import numpy as np

from linmeta import plotting, presets
from linmeta._tidy import varied_column
from linmeta.estimate import simulate_curve
from linmeta.figures.agree import ITERATIVE_RTOL, MINIMISER_ATOL, MINIMISER_RTOL
from linmeta.figures.base import Figure, finish, scaled_runs, series_table, theory_or_note
from linmeta.optimum import simulate_optimum

__all__ = ["GRIDS", "PROTOCOL_RUNS", "EXACT_RUNS", "compute_panel", "draw_panel", "panel", "panel_tolerances"]

#: paper protocol (docs: theory, §7): runs per point in panel a / panel b
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


def _theory_curve(prob, parameter, values, notes, **kwargs):
    out = []
    for v in values:
        y = theory_or_note("test_loss", notes, prob.replace(**{parameter: float(v)}), **kwargs)
        if y is None:
            return None
        out.append(float(y))
    return np.array(out)


def compute_panel(figure, preset, parameter, seed=0, runs_scale=1.0, progress=None, printed=False):
    """Table of one paper panel (docs: theory, §7): protocol points, CRN curve, theory, optima.

    Protocol points use ``seed``; the exact-test-side curve and the simulated
    optimum (:func:`linmeta.simulate_optimum` on the same runs) use
    ``seed + 1``, so that the two estimates are independent.  Rows are in
    linmeta's table layout; ``kind`` names the series.  Theory rows hold their
    value in the theory column of the same name (``theory_leading``,
    ``theory_printed``, ``theory_finite``).  In the ``optimum_simulation``
    row, the varied parameter's column is the simulated minimiser, ``stderr``
    its bootstrap standard error and ``mean`` the loss there; in the
    ``optimum_theory`` row it is the theory's minimiser and
    ``theory_leading`` the loss there.
    """
    prob = presets.PRESETS[preset]
    values = GRIDS[parameter]
    notes = []
    parts = []
    n_prot = scaled_runs(PROTOCOL_RUNS[parameter], runs_scale)
    n_exact = scaled_runs(EXACT_RUNS[preset], runs_scale)
    parts.append(simulate_curve(prob, parameter, values, n_prot, seed, "protocol", progress=progress)
                 .assign(kind="protocol"))
    # the optimum's coarse grid is the panel's grid: its runs give the exact curve, no second pass
    sim = simulate_optimum(prob, parameter, max(10, n_exact), seed + 1, grid=values, progress=progress)
    parts.append(sim.curve[sim.curve[parameter].isin(values)].assign(kind="exact"))
    dense = np.linspace(values[0], values[-1], _DENSE)
    forms = [("theory_leading", {})] + ([("theory_printed", {"form": "printed"})] if printed else [])
    forms.append(("theory_finite", {"approximation": "finite"}))
    for kind, kw in forms:
        # the under-parameterised finite-size formula solves fixed points numerically (~0.5 s a value)
        grid = np.linspace(values[0], values[-1], _DENSE_FINITE) if "approximation" in kw else dense
        y = _theory_curve(prob, parameter, grid, notes, **kw)
        if y is not None:
            parts.append(series_table(prob, parameter, grid, kind, **{kind: y}))
    opt = theory_or_note(f"optimal_{parameter}", notes, prob)
    if opt is not None:
        y = theory_or_note("test_loss", notes, prob.replace(**{parameter: float(opt)}))
        parts.append(series_table(prob, parameter, [float(opt)], "optimum_theory",
                                  theory_leading=[float(y) if y is not None else np.nan]))
    parts.append(series_table(prob, parameter, [sim.value], "optimum_simulation", mean=[sim.loss],
                              stderr=[sim.stderr], n_runs=[sim.n_runs], seed=[sim.seed], method="exact"))
    table = finish(parts, figure)
    table.attrs["notes"] = notes
    return table


def draw_panel(fig, table, *, parameter, title):
    """Draw a paper panel onto ``fig`` (one Axes).

    Any other table in linmeta's layout (no ``kind`` column: a curve or a sweep) is drawn the same way
    against its own varied parameter.
    """
    ax = fig.subplots()
    if "kind" not in table.columns:
        parameter = varied_column(table)
        title = f"varying {parameter}"
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


def panel_tolerances(parameter):
    """Cells of a panel table that floating point fixes less tightly than ``RTOL`` across machines.

    The optima are minimisers (``value``, the varied parameter's column, and the simulated
    optimum's bootstrap ``stderr``); the finite-size curve comes from an iterative solver.
    """
    tol = {(kind, col): (MINIMISER_RTOL, MINIMISER_ATOL) for kind in ("optimum_theory", "optimum_simulation")
           for col in (parameter, "stderr")}
    tol[("theory_finite", "theory_finite")] = (ITERATIVE_RTOL, 0.0)
    return tol


def panel(figure, preset, parameter, printed=False):
    """Return the :class:`~linmeta.figures.base.Figure` of paper panel ``figure`` (e.g. ``"fig2a"``)."""
    label = {"alpha_r": "varies alpha_r at alpha_t = 0.2", "alpha_t": "varies alpha_t at alpha_r = 0.2"}[parameter]
    return Figure(
        compute=partial(compute_panel, figure, preset, parameter, printed=printed),
        draw=partial(draw_panel, parameter=parameter, title=_title(figure, preset, parameter)),
        size=(4.3, 4.6),
        description=f"paper Fig. {figure[3:]}: {presets.PRESETS[preset].regime}, {label}",
        tolerances=panel_tolerances(parameter),
    )
