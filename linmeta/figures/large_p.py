"""Large-p figure: the simulated distance against ``p`` up to ``10^8`` at FIG2's ``m, n_t, n_v``, with Theorem 1.

Theorem 1 is the leading order of ``D = E|omega* - w0|^2`` as ``p`` grows; the
sufficient-statistic sampler (docs: theory, S1) simulates a run at a cost that
does not depend on ``p``, so the limit can be checked directly.  The test loss
is affine in ``D`` (T0), so the figure shows ``p D`` (left) and the relative
deviation of Theorem 1 and of the finite-size theory from the simulation
(right).  The simulation runs at ``alpha_r = 0``, where the per-run loss is
``(sigma^2 + nu^2 + |omega* - w0|^2) / 2`` and ``D`` is read back without
cancellation (at ``alpha_r = 0.2`` and ``p = 10^8`` the loss is about
``1.25 10^5`` and ``D`` about ``7.5 10^-8``).

Examples
--------
>>> from linmeta.figures import large_p
>>> large_p.P_GRID[0], large_p.P_GRID[-1]
(60, 100000000)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from linmeta import presets
from linmeta._sim import budget as _budget
from linmeta._tidy import problem_columns
from linmeta.estimate import simulate
from linmeta.figures.base import COLUMNS, draw_table, scaled_runs, stamp, theory_or_note

__all__ = ["LARGE_P_RUNS", "P_GRID", "compute_large_p", "draw_large_p"]

P_GRID = (60, 100, 200, 500, 1000, 3000, 10_000, 30_000, 100_000, 10**6, 10**7, 10**8)
#: runs per p: relative SE of D about 0.4 %
LARGE_P_RUNS = 20_000


def _problem(p):
    return presets.FIG2.replace(p=p, alpha_r=0.0)


def _row(prob, mean, stderr, n_runs, seed, method):
    return {"quantity": "distance", "route": "sufficient statistics" if _budget.gram_route(prob) else "direct",
            **problem_columns(prob), "mean": mean, "stderr": stderr, "n_runs": n_runs, "seed": seed, "method": method}


def compute_large_p(seed=0, runs_scale=1.0, progress=None):
    """Compute step of the ``large_p`` figure: one row per ``p`` in linmeta's table layout.

    ``mean`` and ``stderr``: of ``|omega* - w0|^2`` over ``LARGE_P_RUNS x
    runs_scale`` runs (exact method, ``alpha_r = 0``); ``theory_leading``: the
    leading order (:func:`linmeta.theory.expected_distance`); ``theory_finite``:
    the finite-size theory.  The series columns: ``quantity`` (``"distance"``: the
    numbers are the distance, not the loss) and ``route`` (the sampler the engine chose).
    """
    n = scaled_runs(LARGE_P_RUNS, runs_scale)
    rows, notes = [], []
    for p in P_GRID:
        prob = _problem(p)
        est = simulate(prob, n, seed, "exact", progress=progress)
        dist = 2.0 * est.values - (prob.sigma**2 + prob.nu**2)  # alpha_r = 0: loss = (sigma^2 + nu^2 + D) / 2
        row = _row(prob, float(dist.mean()), float(dist.std(ddof=1) / np.sqrt(n)), n, seed, "exact")
        lead = theory_or_note("expected_distance", notes, prob)
        row["theory_leading"] = float(lead) if lead is not None else np.nan
        fin = theory_or_note("expected_distance", notes, prob, approximation="finite")
        row["theory_finite"] = float(fin) if fin is not None else np.nan
        rows.append(row)
    table = stamp(pd.DataFrame(rows).reindex(columns=["quantity", "route", *COLUMNS]), "large_p")
    table.attrs["notes"] = notes
    return table


def draw_large_p(fig, table):
    """Draw step of the ``large_p`` figure: ``p D`` against ``p`` (left), relative deviations (right).

    Any other table in linmeta's layout (a curve or a sweep) is drawn as simulation and theory against its
    varied parameter (:func:`linmeta.figures.base.draw_table`).
    """
    a, b = fig.subplots(1, 2)
    if "route" not in table.columns:      # any other table in linmeta's layout: simulation and theory, on the left
        b.set_axis_off()
        return {"table": draw_table(a, table)}
    sim = table.sort_values("p")
    lead = sim[sim["theory_leading"].notna()].assign(mean=lambda t: t["theory_leading"])
    fin = sim[sim["theory_finite"].notna()].assign(mean=lambda t: t["theory_finite"])
    a.errorbar(sim["p"], sim["p"] * sim["mean"], yerr=2 * sim["p"] * sim["stderr"], fmt="o", ms=3, capsize=2,
               label="simulation (±2 SE)", color="k")
    a.plot(lead["p"], lead["p"] * lead["mean"], "-", label="Theorem 1 (leading order)", color="C0")
    a.plot(fin["p"], fin["p"] * fin["mean"], "--", label="finite-size theory", color="C3")
    switch = sim["p"][sim["route"] == "sufficient statistics"].min()
    for ax in (a, b):
        ax.set_xscale("log")
        ax.axvline(switch, color="0.6", lw=0.6, ls=":")
        ax.set_xlabel("p")
    a.set_ylabel(r"$p\, E|\omega^* - w_0|^2$")
    a.set_title(r"FIG2's $m, n_t, n_v$; sufficient statistics right of the dotted line", fontsize="small")
    a.legend(fontsize="small")
    s = sim.set_index("p")
    for part, style, color, label in ((lead, "o-", "C0", "Theorem 1"), (fin, "s--", "C3", "finite-size theory")):
        part = part.set_index("p")
        dev = part["mean"] / s.loc[part.index, "mean"] - 1
        b.plot(part.index, dev, style, ms=3, color=color, label=label)
    band = 2 * s["stderr"] / s["mean"]
    b.fill_between(s.index, -band, band, color="0.85", label="±2 SE of the simulation")
    b.axhline(0, color="k", lw=0.6)
    b.set_ylabel("(theory − simulation) / simulation")
    b.set_title("relative deviation from the simulation", fontsize="small")
    b.legend(fontsize="small")
    return {"distance": a, "deviation": b}
