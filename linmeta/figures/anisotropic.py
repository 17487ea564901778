"""Anisotropic figure: theory next to simulation for diagonal input and task covariances, over ``alpha_t``.

One Gaussian family with ``S = diag(s)``, ``s_j = j^-a`` (``max_j s_j = 1``, so ``alpha_t`` is already
scaled by the largest input variance), and ``T = diag(t)`` on the four largest-variance inputs
(``tr T = 0.6``), ``w0 = 0``, ``sigma = 0.4``, ``alpha_r = 0.4``, one-step MAML over a grid of
``alpha_t`` in ``[-1, 1]`` (:data:`PANELS`):

* ``under``: ``p = 12``, ``m = 10``, ``n_t = 10``, ``n_v = 3`` (``k = 30``, ``p/k = 0.4``), ``a = 0.8``,
  ``omega0 = w0``;
* ``over``: ``p = 150``, ``m = 3``, ``n_t = 10``, ``n_v = 4`` (``k = 12``), ``a = 0.3``, a start offset
  ``omega0 - w0`` of length 0.8 spread evenly over the coordinates (``d_j^2 = 0.64 / p``: with diagonal
  covariances the loss sees the offset only through ``d_j^2``, so this is the mean over uniformly random
  directions, the offsets the measured domains were read from);
* ``over, aligned``: the same with the offset along the largest-variance input (``d_1 = 0.8``), a case
  the measured domains do not describe: none of their inequalities involves the offset's direction.

Each panel draws the simulation (exact method, ``RUNS[panel]`` runs, every point its own seed, so the
points are independent) with three theory lines, solid inside their measured domain and dashed outside:
``theory_leading`` (A2 below the threshold, A3 above; domain
:func:`linmeta.theory._anisotropic_domain.in_domain`), ``theory_finite`` (exact A7 at ``alpha_t = 0``
below the threshold, A5 there above it, the anchored closure A8 elsewhere; domain
:func:`linmeta.theory._closure_domain.in_domain`, A5's at ``alpha_t = 0`` above) and
``theory_population`` (``m -> infinity``; here ``omega* = w0`` for every ``alpha_t``, so it is flat).
A strip below each panel shows ``theory / simulation - 1`` of the leading and finite lines with the
simulation's ``±2`` SE band.  Domain warnings become notes (one per panel and approximation).

What it shows (seed 0): below the threshold, at ``p/k = 0.4``, the leading order is 11-15 % low at
every ``alpha_t`` (outside its domain, ``p/k <= 0.2``, everywhere); the finite line is exact at
``alpha_t = 0`` and within about 1 % inside the closure's domain (``|alpha_t| <= 0.3`` here), up to
+8.5 % outside it.  Above the threshold with the spread offset both lines are within 0.8 % over the
whole grid.  With the offset aligned with the top input the closure misses by up to -7 % (A3 by up to
-10 %): the direction of ``omega0 - w0`` matters, and both domains now exclude an offset whose part A5
corrects by more than 3 % at ``alpha_t = 0`` (here 12 %), so both lines are dashed there except at
``alpha_t = 0``, where the finite line is A5 and -0.4 % off (1.9 SE).

Examples
--------
>>> from linmeta.figures import anisotropic as an
>>> prob = an.panel_problem("under", 0.2)
>>> prob.p, prob.k, float(prob.input_cov.max()), round(float(prob.task_cov.sum()), 12), prob.alpha_t
(12, 30, 1.0, 0.6, 0.2)
>>> over = an.panel_problem("over, aligned", -1.0)
>>> over.k, float(over.omega0[0]), float(abs(over.omega0[1:]).max())
(12, 0.8, 0.0)
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from linmeta import plotting, theory
from linmeta._tidy import MODEL_COLUMN, problem_columns
from linmeta.estimate import simulate
from linmeta.figures.base import COLUMNS, draw_table, scaled_runs, stamp
from linmeta.problem import Problem
from linmeta.theory import _anisotropic_domain, _closure_domain
from linmeta.theory._warnings import domain_warnings_to

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

__all__ = ["PANELS", "ALPHA_T", "RUNS", "TASK_VAR", "TRUE_FEATURES", "OFFSET", "panel_problem", "in_domain",
           "compute_anisotropic", "draw_anisotropic"]

#: per panel: sizes, the power-law exponent ``a`` of ``s_j = j^-a`` and the start offset (``None``, "spread"
#: evenly over the coordinates, or "aligned" with the largest-variance input)
PANELS = {
    "under": dict(p=12, m=10, n_t=10, n_v=3, n_r=10, a=0.8, offset=None),
    "over": dict(p=150, m=3, n_t=10, n_v=4, n_r=10, a=0.3, offset="spread"),
    "over, aligned": dict(p=150, m=3, n_t=10, n_v=4, n_r=10, a=0.3, offset="aligned"),
}
#: the ``alpha_t`` grid (``max_j s_j = 1``: these are also the scaled rates)
ALPHA_T = tuple(float(v) for v in np.round(np.linspace(-1.0, 1.0, 21), 12))
#: runs per point: a relative standard error of about 0.25-0.35 % under, 0.15-0.22 % over
RUNS = {"under": 10_000, "over": 800, "over, aligned": 800}
#: ``tr T`` spread evenly over the ``TRUE_FEATURES`` largest-variance inputs; the start offset's length
TASK_VAR = 0.6
TRUE_FEATURES = 4
OFFSET = 0.8
SIGMA = 0.4
ALPHA_R = 0.4

_APPROXIMATIONS = ("leading", "finite", "population")
_EXTRA = ("theory_population", "leading_in_domain", "finite_in_domain")


def panel_problem(panel: str, alpha_t: float) -> Problem:
    """Return the problem of ``panel`` (a key of :data:`PANELS`) at ``alpha_t``.

    Parameters
    ----------
    panel : {"under", "over", "over, aligned"}
    alpha_t : float

    Returns
    -------
    Problem

    Examples
    --------
    >>> prob = panel_problem("over", 0.5)
    >>> prob.p, prob.m, prob.n_v, round(float(prob.start_offset @ prob.start_offset), 12)
    (150, 3, 4, 0.64)
    """
    if panel not in PANELS:
        raise ValueError(f"panel must be one of {sorted(PANELS)}, got {panel!r}")
    spec = PANELS[panel]
    p = spec["p"]
    s = np.arange(1, p + 1, dtype=float) ** -spec["a"]    # decreasing: max s = s_1 = 1
    t = np.zeros(p)
    t[:TRUE_FEATURES] = TASK_VAR / TRUE_FEATURES
    omega0 = np.zeros(p)
    if spec["offset"] == "spread":
        omega0[:] = OFFSET / np.sqrt(p)
    elif spec["offset"] == "aligned":
        omega0[0] = OFFSET
    return Problem(p=p, m=spec["m"], n_t=spec["n_t"], n_v=spec["n_v"], n_r=spec["n_r"], sigma=SIGMA, nu=None,
                   alpha_t=alpha_t, alpha_r=ALPHA_R, input_cov=s, task_cov=t, w0=np.zeros(p), omega0=omega0)


def in_domain(prob: Problem, approximation: str) -> bool:
    """Whether ``approximation`` ("leading" or "finite") is inside its measured domain at ``prob``.

    ``"finite"``: exact (A7) at ``alpha_t = 0`` below the threshold, A5's domain at ``alpha_t = 0`` above
    it, the closure's domain (A8) otherwise.

    Examples
    --------
    >>> in_domain(panel_problem("under", 0.0), "finite"), in_domain(panel_problem("under", 0.5), "finite")
    (True, False)
    >>> in_domain(panel_problem("under", 0.0), "leading")
    False
    """
    if approximation == "leading":
        return _anisotropic_domain.in_domain(prob, "leading")
    if approximation != "finite":
        raise ValueError(f"approximation must be 'leading' or 'finite', got {approximation!r}")
    if prob.alpha_t == 0:
        return prob.p < prob.k or _anisotropic_domain.in_domain(prob, "proportional")
    return _closure_domain.in_domain(prob)


def _theory(prob, approximation, outside):
    """Return the test loss of ``approximation``; count an ApproximationDomainWarning in ``outside``."""
    with domain_warnings_to(lambda message: outside.setdefault(approximation, []).append((prob.alpha_t, message))):
        return float(theory.test_loss(prob, approximation=approximation))


def _notes(panel, outside):
    notes = []
    for approximation, hits in outside.items():
        first_at, message = hits[0]
        notes.append(f"{panel}: linmeta.theory.test_loss(approximation={approximation!r}) outside its measured "
                     f"domain at {len(hits)} of {len(ALPHA_T)} alpha_t values (drawn dashed); at "
                     f"alpha_t={first_at:g}: {message.split(';')[0]} (ApproximationDomainWarning)")
    return notes


def compute_anisotropic(seed: int = 0, runs_scale: float = 1.0, progress: bool | None = None) -> pd.DataFrame:
    """Compute step of the ``anisotropic`` figure: one row per panel and ``alpha_t``.

    ``RUNS[panel] x runs_scale`` exact runs at seed ``1000 seed + j`` for the ``j``-th point (every point
    independent), the three theory columns, and whether the leading and finite lines are inside their
    measured domains (:func:`in_domain`).
    """
    rows, notes, j = [], [], 0
    for panel in PANELS:
        n, outside = scaled_runs(RUNS[panel], runs_scale), {}
        for alpha_t in ALPHA_T:
            prob = panel_problem(panel, alpha_t)
            est = simulate(prob, n, 1000 * seed + j, "exact", progress=progress)
            j += 1
            rows.append({"kind": "simulation", "panel": panel, **problem_columns(prob), "mean": est.mean,
                         "stderr": est.stderr, "n_runs": n, "seed": est.seed, "method": "exact",
                         **{f"theory_{a}": _theory(prob, a, outside) for a in _APPROXIMATIONS},
                         "leading_in_domain": in_domain(prob, "leading"),
                         "finite_in_domain": in_domain(prob, "finite")})
        notes += _notes(panel, outside)
    columns = ["kind", "panel", *COLUMNS, MODEL_COLUMN, *_EXTRA]
    table = stamp(pd.DataFrame(rows).reindex(columns=columns), "anisotropic")
    table.attrs["notes"] = notes
    return table


_LINES = {"theory_leading": ("C0", "leading order (A2 / A3)"),
          "theory_finite": ("C3", "finite size (A7 / A5 at $\\alpha_t = 0$, A8)"),
          "theory_population": ("0.45", "population ($m \\to \\infty$)")}


def _segments(ax, x, y, inside, color, label):
    """Draw ``y`` solid where ``inside`` and dashed elsewhere (each piece joined to its neighbours)."""
    ax.plot(x, np.where(inside, y, np.nan), "-", color=color, lw=1.4, label=label, zorder=2.5)
    out = ~inside     # dashed: the points outside and their neighbours, so that the pieces join
    dashed = out | np.r_[out[1:], False] | np.r_[False, out[:-1]]
    ax.plot(x, np.where(dashed, y, np.nan), "--", color=color, lw=1.1, zorder=2.4)


def _title(panel):
    spec = PANELS[panel]
    k = spec["n_v"] * spec["m"]
    start = {None: "", "spread": ", offset 0.8 spread", "aligned": ", offset 0.8 on $s_1$"}[spec["offset"]]
    return (f"{panel}: $p={spec['p']}$, $k={k}$, $m={spec['m']}$, $n_t={spec['n_t']}$, $n_v={spec['n_v']}$\n"
            f"$s_j = j^{{-{spec['a']:g}}}$, $\\mathrm{{tr}}\\,T = {TASK_VAR:g}$ on $j \\leq {TRUE_FEATURES}${start}")


def draw_anisotropic(fig: MplFigure, table: pd.DataFrame) -> dict:
    """Draw step of the ``anisotropic`` figure: per panel the loss against ``alpha_t`` and a deviation strip.

    Any other table in linmeta's layout (a curve or a sweep) is drawn as simulation and theory against its
    varied parameter (:func:`linmeta.figures.base.draw_table`).
    """
    axes = fig.subplots(2, len(PANELS), sharex="col", height_ratios=(2.2, 1))
    if "panel" not in table.columns:
        for ax in axes.ravel()[1:]:
            ax.set_axis_off()
        return {"table": draw_table(axes[0, 0], table)}
    out = {}
    for col, panel in enumerate(PANELS):
        top, low = axes[0, col], axes[1, col]
        rows = table[table["panel"] == panel].sort_values("alpha_t")
        x = rows["alpha_t"].to_numpy(float)
        out[panel] = plotting.plot_simulation(top, rows, kind="simulation", x="alpha_t", color="k",
                                              label="simulation (exact method, ±2 SE)")
        for column, (color, label) in _LINES.items():
            y = rows[column].to_numpy(float)
            _segments(top, x, y, _inside(rows, column), color, label)
            if column != "theory_population":
                dev = 100 * (y / rows["mean"].to_numpy(float) - 1)
                _segments(low, x, dev, _inside(rows, column), color, None)
                low.plot(x, dev, "o", color=color, ms=2.2, zorder=3)
        off = _limit_y(top, rows)
        band = 200 * (rows["stderr"] / rows["mean"]).to_numpy(float)
        low.fill_between(x, -band, band, color="0.8", lw=0, zorder=0)
        low.axhline(0.0, color="0.4", lw=0.7, zorder=0)
        n = int(rows["n_runs"].iloc[0]) if len(rows) else 0
        top.set_title(f"{_title(panel)}\n{n:,} runs per point{off}", loc="left", fontsize=7.5)
        low.set_xlabel(r"training rate $\alpha_t$  ($\max\, s_j = 1$)")
    axes[0, 0].set_ylabel(r"average test loss $\mathcal{L}^{\mathrm{test}}$")
    axes[1, 0].set_ylabel("theory / simulation $-$ 1 (%)\ngrey: simulation ±2 SE", fontsize="small")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    solid = axes[0, 0].plot([], [], "-", color="0.2", lw=1.4, label="solid: inside its measured domain")[0]
    dashed = axes[0, 0].plot([], [], "--", color="0.2", lw=1.1, label="dashed: outside it")[0]
    fig.legend([*handles, solid, dashed], [*labels, solid.get_label(), dashed.get_label()],
               loc="outside lower center", ncols=3, fontsize="small")
    return out


def _inside(rows, column):
    """Return the in-domain flags of a theory column as booleans (the CSV reads them as text); population: all."""
    flag = column.replace("theory_", "") + "_in_domain"
    if flag not in rows:
        return np.ones(len(rows), bool)
    return np.array([v is True or str(v) == "True" for v in rows[flag]], bool)


def _limit_y(ax, rows):
    """Limit the y axis to the simulation and the leading and finite lines; return a note on a population below."""
    ends = [rows["mean"] - 2 * rows["stderr"], rows["mean"] + 2 * rows["stderr"], rows["theory_leading"],
            rows["theory_finite"]]
    lo, hi = min(float(e.min()) for e in ends), max(float(e.max()) for e in ends)
    pad = 0.06 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)
    pop = float(rows["theory_population"].iloc[0]) if len(rows) else np.nan
    return f"; population {pop:.3f} (off scale)" if pop < lo - pad else ""
