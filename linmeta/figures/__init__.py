"""The figure registry: every figure is a compute step, a draw step and a fixed size.

One module per figure family: :mod:`linmeta.figures.panels` (the paper's
panels), :mod:`linmeta.figures.finite_size`,
:mod:`linmeta.figures.stepsize_bound`; shared pieces in
:mod:`linmeta.figures.base`.

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
(docs: theory, §7 (paper protocol), T0, T1, T2).
"""
from __future__ import annotations

import os
import time

import matplotlib.style
import numba
from matplotlib.figure import Figure as MplFigure

from linmeta._checks import check_real
from linmeta._rng import check_seed
from linmeta.figures import finite_size, large_p, panels, stepsize_bound
from linmeta.figures.base import Figure, Made, read_csv, scaled_runs, theory_or_note
from linmeta.figures.finite_size import FINITE_SETS, compute_finite_size, draw_finite_size, finite_size_summary
from linmeta.figures.panels import EXACT_RUNS, GRIDS, PROTOCOL_RUNS

__all__ = ["Figure", "FIGURES", "PAPER_PANELS", "Made", "make", "render", "scaled_runs", "theory_or_note",
           "read_csv", "finite_size_summary", "STYLE", "GRIDS", "PROTOCOL_RUNS", "EXACT_RUNS", "FINITE_SETS",
           "compute_finite_size", "draw_finite_size", "panels", "finite_size", "stepsize_bound"]

STYLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "linmeta.mplstyle")
PAPER_PANELS = ("fig2a", "fig2b", "fig3a", "fig3b")
_META = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}

FIGURES = {
    "fig2a": panels.panel("fig2a", "fig2", "alpha_r"),
    "fig2b": panels.panel("fig2b", "fig2", "alpha_t"),
    "fig3a": panels.panel("fig3a", "fig3", "alpha_r"),
    "fig3b": panels.panel("fig3b", "fig3", "alpha_t", printed=True),
    "finite_size": Figure(compute_finite_size, draw_finite_size, size=(7.2, 9.0),
                          description="relative deviation of theory from simulation vs m (T2), size scale (T1) "
                          "and alpha_t (leading vs finite size)"),
    "stepsize_bound": Figure(stepsize_bound.compute_stepsize_bound, stepsize_bound.draw_stepsize_bound,
                             size=(7.2, 3.1), description="multi-step bound (B1): product norms, convergence, "
                             "optimal alpha_t vs -bound/L"),
    "large_p": Figure(large_p.compute_large_p, large_p.draw_large_p, size=(7.2, 3.1),
                      description="distance against p up to 1e8 at FIG2's m, n_t, n_v: Theorem 1 and finite-size theory"),
}


def render(name, table, outdir):
    """Draw ``table`` with ``FIGURES[name].draw`` and save PNG and PDF; returns the paths."""
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
    paths = [csv, *render(name, read_csv(csv), outdir)]  # drawn from the file, never from memory
    return Made(name, paths, seconds, list(table.attrs.get("notes", [])))
