"""The figure registry: every figure is a compute step, a draw step and a fixed size.

One module per figure family: :mod:`linmeta.figures.panels` (the paper's
panels), :mod:`linmeta.figures.finite_size`,
:mod:`linmeta.figures.stepsize_bound`, :mod:`linmeta.figures.large_p`,
:mod:`linmeta.figures.gao_sener`,
:mod:`linmeta.figures.anisotropic`; shared pieces in
:mod:`linmeta.figures.base`.

``FIGURES[name]`` is a :class:`Figure`.  :func:`make` runs the compute step
(simulation and theory), writes the table to ``<outdir>/<name>.csv`` (in
linmeta's table layout, :func:`linmeta.simulate_curve`: the parameters, seed,
runs, simulation and theory columns on every row, plus the ``figure``, the
columns that identify a series and the linmeta version), reads it back and
draws from the file only, then saves ``<name>.png`` and ``<name>.pdf`` with
deterministic metadata.  The same seed regenerates identical bytes on one
machine and library build; on another CPU or build the last bits of some values
may move, and :func:`make` then leaves a file on disk untouched when it agrees
within the cross-machine tolerance (:mod:`linmeta.figures.agree`).

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
>>> [name for name in sorted(FIGURES) if name.startswith("fig")]
['fig2a', 'fig2b', 'fig3a', 'fig3b']

References
----------
(docs: theory, §7 (paper protocol), T0, T1, T2).
"""
from __future__ import annotations

import io
import os
import time
from typing import TYPE_CHECKING

import matplotlib.style
import numba
from matplotlib.figure import Figure as MplFigure

from linmeta._sim.rng import check_seed
from linmeta._validation import check_real
from linmeta.figures import (
    agree,
    anisotropic,
    benign_overfitting,
    budget,
    finite_size,
    gao_sener,
    large_p,
    panels,
    stepsize_bound,
    task_landscape,
)
from linmeta.figures.agree import ITERATIVE_RTOL, MINIMISER_ATOL, MINIMISER_RTOL, ROUNDING_ATOL
from linmeta.figures.base import Figure, Made, read_csv, scaled_runs, theory_or_note
from linmeta.figures.finite_size import FINITE_SETS, compute_finite_size, draw_finite_size, finite_size_summary
from linmeta.figures.panels import EXACT_RUNS, GRIDS, PROTOCOL_RUNS
from linmeta.sweeping import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Figure", "FIGURES", "PAPER_PANELS", "Made", "make", "render", "scaled_runs", "theory_or_note",
           "read_csv", "finite_size_summary", "STYLE", "GRIDS", "PROTOCOL_RUNS", "EXACT_RUNS", "FINITE_SETS",
           "compute_finite_size", "draw_finite_size", "panels", "finite_size", "stepsize_bound", "agree"]

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
                          "and alpha_t (leading vs finite size)",
                          # the finite-size theory comes from an iterative solver
                          tolerances={(None, "theory_finite"): (ITERATIVE_RTOL, 0.0)}),
    "stepsize_bound": Figure(stepsize_bound.compute_stepsize_bound, stepsize_bound.draw_stepsize_bound,
                             size=(7.2, 3.1), description="multi-step bound (B1): product norms, convergence, "
                             "optimal alpha_t vs -bound/L",
                             # simulated optima (minimisers) and a residual at rounding level
                             tolerances={**{("optimal", c): (MINIMISER_RTOL, MINIMISER_ATOL) for c in
                                            ("alpha_star", "alpha_star_se", "alpha_star_ci_low",
                                             "alpha_star_ci_high", "star_over_bound", "N_alpha_star")},
                                         ("bound", "gd_error_ratio"): (0.0, ROUNDING_ATOL)}),
    "large_p": Figure(large_p.compute_large_p, large_p.draw_large_p, size=(7.2, 3.1),
                      description="distance against p up to 1e8 at FIG2's m, n_t, n_v: "
                                  "Theorem 1 and finite-size theory",
                      # the finite-size theory comes from an iterative solver
                      tolerances={(None, "theory_finite"): (ITERATIVE_RTOL, 0.0)}),
    "task_landscape": Figure(task_landscape.compute_task_landscape, task_landscape.draw_task_landscape,
                             size=(9.6, 3.4), description="MAML's gain over ERM on easy and hard tasks (Collins et "
                             "al. 2022) against hardness gap, distance and packing: simulation and population",
                             # differences of two losses: zero up to rounding where the population solutions coincide
                             tolerances={(None, c): (0.0, ROUNDING_ATOL) for c in ("population_diff",
                                                                                    "population_gain")}),
    "budget": Figure(budget.compute_budget, budget.draw_budget, size=(7.2, 3.4),
                     description="fixed label budget b = m (n_t + n_v): test loss against m, optimal m against b",
                     # finite-size theory: an iterative solver; the per-cell optimal alpha_t: a minimiser
                     tolerances={(None, "theory_finite"): (ITERATIVE_RTOL, 0.0),
                                 ("theory", "alpha_t"): (MINIMISER_RTOL, MINIMISER_ATOL),
                                 ("optimum_theory", "alpha_t"): (MINIMISER_RTOL, MINIMISER_ATOL)}),
    "gao_sener": Figure(gao_sener.compute_gao_sener, gao_sener.draw_gao_sener, size=(7.2, 9.6),
                        description="Gao & Sener's meta-linear regression: fraction of paired runs in which MAML's "
                                    "loss is below ERM's (their DRS), over M x N, per alpha, before and after one "
                                    "step"),
    "benign_overfitting": Figure(benign_overfitting.compute_benign_overfitting,
                                 benign_overfitting.draw_benign_overfitting, size=(8.0, 6.4),
                                 description="excess test loss of MAML and ERM against p across the interpolation "
                                 "threshold (Ju, Liang & Shroff 2023; Chen, Lu & Chen 2022), low and high noise and "
                                 "task spread: simulation, finite-size and leading-order theory",
                                 # the finite-size theory comes from an iterative solver
                                 tolerances={("simulation", "theory_finite"): (ITERATIVE_RTOL, 0.0),
                                             ("headline", "ratio_finite"): (ITERATIVE_RTOL, 0.0)}),
    "anisotropic": Figure(anisotropic.compute_anisotropic, anisotropic.draw_anisotropic, size=(10.0, 5.8),
                          description="diagonal input and task covariances, test loss against alpha_t under and "
                          "over the threshold: simulation, leading-order, finite-size and population theory"),
}


def _drawn(name, table):
    """``{ext: bytes}`` of ``table`` drawn with ``FIGURES[name].draw``, as PNG and PDF."""
    spec = FIGURES[name]
    out = {}
    with matplotlib.style.context(STYLE):
        fig = MplFigure(figsize=spec.size, layout="constrained")  # no pyplot: no global state, Agg/PDF canvases
        spec.draw(fig, table)
        for ext in ("png", "pdf"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, metadata=_META[ext])
            out[ext] = buf.getvalue()
    return out


def render(name: str, table: pd.DataFrame, outdir: str | os.PathLike) -> list[str]:
    """Draw ``table`` with ``FIGURES[name].draw`` and save PNG and PDF; returns the paths."""
    paths = []
    for ext, data in _drawn(name, table).items():
        path = os.path.join(outdir, f"{name}.{ext}")
        with open(path, "wb") as fh:
            fh.write(data)
        paths.append(path)
    return paths


def _check_outdir(outdir):
    """``outdir`` as a string; ``ValueError`` if it, or the nearest existing folder above it, is not a folder."""
    path = os.fspath(outdir)
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        where = "is an existing file" if probe == os.path.abspath(path) else f"lies under the file {probe!r}"
        raise ValueError(f"outdir must be a folder (existing or to be created); {path!r} {where}")
    return path


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _write_csv(csv, table, tolerances, keep_agreeing, notes):
    """Write ``table`` to ``csv`` unless the file there agrees with it; returns whether it was kept."""
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    data = buf.getvalue().encode("utf-8")
    old = _read(csv) if keep_agreeing and os.path.isfile(csv) else None
    if old is not None and old != data:
        try:
            previous = read_table(old)
        except (ValueError, UnicodeDecodeError):   # not a table (pandas' parser errors are ValueErrors)
            previous = None
        verdict = None if previous is None else agree.compare_tables(previous, read_table(data), tolerances)
        if verdict is not None and verdict.same:
            notes.append(f"{csv} kept: {verdict.differing} values differ from it, all within the cross-machine "
                         f"tolerance (largest relative difference {verdict.max_rel:.1e}; "
                         f"{verdict.max_rel_loosened:.1e} in minimisers and iterative solutions)")
            return True
    if data == old:
        return True
    with open(csv, "wb") as fh:
        fh.write(data)
    return False


def make(name: str, outdir: str | os.PathLike = "figures", *, seed: int = 0, runs_scale: float = 1.0,
         progress: bool | None = None, threads: int | None = None, keep_agreeing: bool = True) -> Made:
    """Compute, save the CSV, and draw figure ``name`` from that CSV.

    With ``keep_agreeing`` (the default), a CSV already in ``outdir`` is left
    untouched when the new table agrees with it within the cross-machine
    tolerance (:func:`linmeta.figures.agree.compare_tables`: a relative 1e-12,
    looser only where the figure says why), and the figure is drawn from that
    file; a PNG or PDF already there is left untouched when the new drawing is
    the same picture (:func:`linmeta.figures.agree.same_picture`: PNG, the same
    pixels; PDF, the same drawing whatever the font subsetter).  So on another
    CPU or library build, where the last bits of some values move, regenerating
    the committed figures leaves them as they are; a note says what agreed.  On
    one machine and library build the files are identical bit for bit anyway.

    Parameters
    ----------
    name : str
        A key of :data:`FIGURES`.
    outdir : str or path, default="figures"
        A folder, created if missing.
    seed : int, default=0
    runs_scale : float, default=1.0
        Multiplies every run count (``0.01`` for a quick look).
    progress : bool, optional
        Progress bars; by default only on a terminal.
    threads : int, optional
        Numba threads for the simulation (the numbers do not depend on it).
    keep_agreeing : bool, default=True
        ``False`` rewrites every file whatever is on disk.

    Returns
    -------
    Made
        ``kept`` lists the files left untouched.

    Raises
    ------
    ValueError
        For an unknown ``name``, a bad ``seed`` or ``runs_scale``, or an ``outdir`` that is (or
        lies under) an existing file; all before any computing.

    Examples
    --------
    >>> import linmeta as lm, tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     lm.figures.make("fig3b", f.name)
    Traceback (most recent call last):
    ...
    ValueError: outdir must be a folder (existing or to be created); '...' is an existing file
    """
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    seed = check_seed(seed)
    runs_scale = check_real(runs_scale, "runs_scale", min_val=0, strict=True)
    outdir = _check_outdir(outdir)
    os.makedirs(outdir, exist_ok=True)
    before = numba.get_num_threads()
    try:
        if threads is not None:
            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        t0 = time.perf_counter()
        table = FIGURES[name].compute(seed=seed, runs_scale=runs_scale, progress=progress)
        seconds = time.perf_counter() - t0
    finally:
        numba.set_num_threads(before)
    notes = list(table.attrs.get("notes", []))
    csv = os.path.join(outdir, f"{name}.csv")
    kept = [csv] if _write_csv(csv, table, FIGURES[name].tolerances, keep_agreeing, notes) else []
    paths = [csv]
    for ext, drawn in _drawn(name, read_csv(csv)).items():  # drawn from the file, never from memory
        path = os.path.join(outdir, f"{name}.{ext}")
        if keep_agreeing and os.path.isfile(path) and agree.same_picture(_read(path), drawn, ext):
            kept.append(path)
        else:
            with open(path, "wb") as fh:
                fh.write(drawn)
        paths.append(path)
    return Made(name, paths, seconds, notes, kept)
