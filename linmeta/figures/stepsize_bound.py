"""Step-size bound figure: product norms and convergence (left), optimal alpha_t of N-step MAML (right).

Examples
--------
>>> from linmeta.figures import stepsize_bound
>>> callable(stepsize_bound.compute_stepsize_bound)
True
"""
from __future__ import annotations

import pandas as pd

from linmeta.experiments import optimal_alpha_t, plot_optimal_alpha_t, plot_stepsize_bound, stepsize_bound
from linmeta.figures.base import draw_table, stamp

__all__ = ["compute_stepsize_bound", "draw_stepsize_bound"]


def compute_stepsize_bound(seed=0, runs_scale=1.0, progress=None):
    """Compute step of the ``stepsize_bound`` figure: both experiments in one table (column ``kind``).

    ``kind == "bound"``: rows of :func:`stepsize_bound` at FIG3 sizes;
    ``kind == "optimal"``: the summary of :func:`optimal_alpha_t` (400 runs
    times ``runs_scale``, at least 20).
    """
    bound = stepsize_bound(seed=seed)
    opt = optimal_alpha_t(n_runs=max(20, int(round(400 * runs_scale))), seed=seed).summary
    table = pd.concat([bound.assign(kind="bound"), opt.assign(kind="optimal")], ignore_index=True)
    return stamp(table, "stepsize_bound")


def draw_stepsize_bound(fig, table):
    """Draw step of the ``stepsize_bound`` figure: product norms (left), optimal ``alpha_t`` (right).

    Any other table in linmeta's layout (no ``kind`` column: a curve or a sweep) is drawn as the loss against
    its varied parameter, simulation and theory, on the right.
    """
    a, b = fig.subplots(1, 2)
    if "kind" not in table.columns:
        a.set_axis_off()
        return {"table": draw_table(b, table)}
    bound = table[table["kind"] == "bound"].copy()
    bound["converges"] = bound["converges"].astype(bool)
    out = {"bound": plot_stepsize_bound(a, bound),
           "optimal": plot_optimal_alpha_t(b, table[table["kind"] == "optimal"])}
    a.set_title("Ji-Yang-Liang bound, FIG3 sizes", fontsize="medium")
    b.set_title(r"optimal $\alpha_t$ of N-step MAML vs $-$bound$/L$", fontsize="medium")
    return out
