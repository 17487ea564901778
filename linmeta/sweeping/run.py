"""The sweep itself: theory and simulation on every cell of a grid, on any scheduler, resumable.

A sweep evaluates every cell of a grid (the Cartesian product of a few
:class:`~linmeta.Problem` fields, or a list of cells given one by one) with
the derived theory and with :func:`linmeta.simulate`.  Each cell's numbers
depend only on the cell, the run count and the seed (common random numbers),
so they are identical bit for bit whether the cells run serially, in a
process pool, or on a Dask cluster, and whether they come from a grid or a
list.

Cells that differ only in ``alpha_t`` (or, if ``alpha_t`` is not swept, only
in ``alpha_r``) form one *task*, evaluated by :func:`linmeta.simulate_curve`
with the draws made once; its values equal :func:`linmeta.simulate` at each
cell bit for bit.  With ``out`` given, every finished task appends its rows
to the CSV at once (:mod:`linmeta.sweeping.table`), so an interrupted sweep
restarted with the same arguments reuses the finished cells.

Examples
--------
>>> import linmeta as lm
>>> prob = lm.Problem(p=10, m=2, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
>>> table = lm.sweep(prob, {"alpha_t": [-0.5, 0.5], "m": [2, 9]}, n_runs=20, seed=0)
>>> table[["alpha_t", "m", "n_runs", "seed", "status"]].values.tolist()
[[-0.5, 2, 20, 0, 'ok'], [-0.5, 9, 20, 0, 'ok'], [0.5, 2, 20, 0, 'ok'], [0.5, 9, 20, 0, 'ok']]
>>> bool(table["mean"].iloc[0] == lm.simulate(prob.replace(alpha_t=-0.5), 20, 0).mean)
True
>>> table.attrs["computed"], table.attrs["reused"]
(4, 0)

References
----------
docs: theory, MAML1 (the model), T0 (test loss), T1 and T2 (the two regimes).
"""
from __future__ import annotations

import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from linmeta import theory
from linmeta._sim.rng import check_seed
from linmeta._validation import check_int
from linmeta._version import __version__
from linmeta.algorithms._registry import check_curve_field
from linmeta.errors import NonFiniteResultError
from linmeta.estimate import METHODS, simulate_curve
from linmeta.moments import InfiniteMomentWarning, warn_if_infinite_moments
from linmeta.problem import FLOAT_FIELDS, INT_FIELDS, Problem
from linmeta.sweeping import paths
from linmeta.sweeping import table as tables
from linmeta.sweeping.grid import PARAMS, cell_key, curve_tasks, expand
from linmeta.sweeping.outfile import OutFile
from linmeta.sweeping.schedulers import check_scheduler, make_scheduler

__all__ = ["sweep", "theory_values"]

_FLOAT_WARNING = re.compile(r"^(overflow|invalid value) encountered")


def theory_values(prob: Problem) -> dict[str, float | str]:
    """Return the theory columns of one cell: ``{"theory_leading": ..., "theory_printed": ..., "note": ...}``.

    ``theory_leading`` is :func:`linmeta.theory.test_loss` (the leading order
    of the problem's regime).  ``theory_printed`` is its ``form="printed"`` variant
    (Theorem 2 as printed in the talk, docs: theory, T2), which exists for
    one-step MAML in the under-parameterised regime only; elsewhere it is NaN.
    Both come from :func:`linmeta.theory.value_or_reason`: if the theory has
    no closed form for the problem's algorithm (e.g. first-order MAML or
    iMAML) or no finite value (:class:`linmeta.NonFiniteResultError`), the
    value is NaN and ``note`` gives the reason.  Every other error
    propagates: a failing formula is a bug, never a NaN.

    Parameters
    ----------
    prob : Problem

    Returns
    -------
    dict

    Examples
    --------
    >>> import linmeta as lm
    >>> v = theory_values(lm.presets.FIG2)
    >>> round(v["theory_leading"], 6), v["theory_printed"], v["note"]
    (0.721819, nan, '')
    >>> theory_values(lm.presets.FIG3.replace(algorithm="fomaml"))["note"][:52]
    'theory_leading: no closed-form theory for algorithm='
    """
    out = {"theory_leading": float("nan"), "theory_printed": float("nan"), "note": ""}
    leading = theory.value_or_reason("test_loss", prob, not_finite="reason")
    if leading.reason:
        out["note"] = "theory_leading: " + leading.reason
        return out
    out["theory_leading"] = float(leading.value)
    printed = theory.value_or_reason("test_loss", prob, form="printed", not_finite="reason")
    if printed.reason and printed.defined:
        out["note"] = "theory_printed: " + printed.reason
    elif not printed.reason:
        out["theory_printed"] = float(printed.value)
    return out


def _not_finite(mean, stderr, n_runs):
    """Why ``(mean, stderr)`` is no estimate, or ``None`` if it is one (one run has no standard error)."""
    if math.isfinite(mean) and (math.isfinite(stderr) or (n_runs == 1 and math.isnan(stderr))):
        return None
    return (f"the Monte Carlo estimate is not a finite number (mean={mean!r}, stderr={stderr!r}): the loss "
            "overflows double precision at this cell")


def _run_task(prob, curve, values, n_runs, seed, method):
    """Evaluate one task in a worker: per value, ``(mean, stderr)`` or the message of a non-finite estimate.

    Top-level and argument-only, so it pickles to any process or Dask worker.
    The caller has already warned about infinite moments, once per cell.  A
    curve that fails as a whole with :class:`linmeta.NonFiniteResultError`
    is evaluated value by value (the same numbers: common random numbers), so
    that only the failing values are errors.
    """
    field, values = (curve, values) if curve is not None else ("alpha_t", [prob.alpha_t])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", InfiniteMomentWarning)
        try:
            t = simulate_curve(prob, field, values, n_runs, seed, method, progress=False)
        except NonFiniteResultError as err:
            t = err
    if isinstance(t, NonFiniteResultError) and len(values) > 1:     # the values' own runs warn again
        return [r for v in values for r in _run_task(prob, field, [v], n_runs, seed, method)]
    if isinstance(t, NonFiniteResultError):
        out = [str(t)]
    else:
        out = [_not_finite(float(m), float(s), n_runs) or (float(m), float(s))
               for m, s in zip(t["mean"], t["stderr"], strict=True)]
    failed = any(isinstance(r, str) for r in out)
    for w in caught:      # numpy's overflow warnings say what the error row says; any other warning is passed on
        if not (failed and issubclass(w.category, RuntimeWarning) and _FLOAT_WARNING.match(str(w.message))):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _parse_param(name, text):
    if name in INT_FIELDS or name in ("n_runs", "seed"):
        return int(text)
    if name == "lam" and text == "":
        return None
    if name in FLOAT_FIELDS:
        return float(text)
    return text


def _rekey(prob):
    """``row -> key``: the cell key recomputed from a saved row's parameter text."""
    def rekey(row):
        try:
            changes = {k: _parse_param(k, row[k]) for k in PARAMS}
            return cell_key(prob, changes, int(row["n_runs"]), int(row["seed"]), row["method"])
        except (KeyError, ValueError):
            return None
    return rekey


def sweep(prob: Problem, grid: Mapping[str, Sequence] | Sequence[Mapping[str, object]], n_runs: int = 1000,
          seed: int = 0, scheduler: str | None = None, out: str | os.PathLike | None = None, *,
          method: str = "exact", workers: int = 2, threads: int | None = None, progress: bool | None = None,
          on_task: Callable | None = None) -> pd.DataFrame:
    """Evaluate theory and simulation on every cell of a parameter grid, or of a list of cells.

    Parameters
    ----------
    prob : Problem
        Base problem; grid values replace its fields.
    grid : dict or list of dict
        Either ``{field: values}``, whose cells are the Cartesian product (last
        field fastest), or the cells themselves, ``[{field: value}, ...]``, in
        the order of the table: every dict names the same fields (else
        ``ValueError`` naming the cell's index and the fields), each cell once
        (a repeated cell is refused, named), at least one cell.  Fields and
        values are validated as for a dict grid.  A cell's numbers do not
        depend on the form: a list of the grid's cells gives the grid's table
        (and ``out`` file) bit for bit.
    n_runs : int, default=1000
        Monte Carlo runs per cell.
    seed : int, default=0
        Fixes every number (run ``i`` of every cell uses streams ``(seed, i)``).
    scheduler : {None, "serial", "processes", "dask-local"} or "tcp://HOST:PORT", default=None
        Where tasks run; ``None`` is ``"serial"``.  The numbers do not depend
        on it.  An unreachable ``tcp://`` address raises
        :class:`~linmeta.sweeping.SweepArgumentError` within a few seconds.
    out : str or path, optional
        CSV written cell by cell and resumed on a rerun.  An existing file is
        read, never written, until it is recognised as a sweep made with the
        same arguments: header and every row are validated
        (:func:`linmeta.sweeping.table.recognise`); a row whose cell is not one
        of this sweep's cells (another grid, another list of cells) refuses
        the file.  A file that is not such a sweep (a text, binary or empty
        file, other columns, other arguments,
        a sweep written in the column layout of an earlier linmeta, CRLF line
        endings, a last line that is not the start of one of its
        rows) or that holds an invalid row (a non-number or negative ``mean``,
        an unknown ``status``, parameters that do not match the row's
        ``cell_key``, numbers that do not match the row's ``digest``, ...) is
        *refused* with :class:`~linmeta.sweeping.SweepArgumentError` naming
        the file and the line, and left byte-identical; invalid rows are not
        recomputed.  Only a regular file is read (a FIFO or a device is
        refused), and no more bytes than a sweep of these cells can hold.  A
        symbolic link is followed: its target is written and keeps its
        permissions.  While the sweep runs it holds a lock on the file (a
        second sweep on it is refused, on systems with ``fcntl``), and before
        every write it checks that the file is still the one it recognised:
        a file replaced, deleted or changed meanwhile stops the sweep with
        :class:`~linmeta.sweeping.SweepArgumentError`, and nothing is written
        into another file (:mod:`linmeta.sweeping.outfile`).
    method : {"exact", "protocol"}, default="exact"
        Simulation method (:func:`linmeta.simulate`).
    workers : int, default=2
        Parallel worker processes (``"processes"``, ``"dask-local"``).
    threads : int, optional
        Numba threads per worker process for ``"processes"`` (default: the
        cores divided among the workers).
    progress : bool, optional
        Progress bar over cells; by default only on a terminal.
    on_task : callable, optional
        Called with the number of cells finished after each task is saved
        (a test hook: raising from it interrupts the sweep).

    Returns
    -------
    pandas.DataFrame
        One row per cell, in grid (or list) order, in linmeta's one table
        layout (that of :func:`linmeta.simulate_curve`): every scalar problem field,
        ``w0_norm``, ``start_distance``, ``mean``, ``stderr``, ``n_runs``,
        ``seed``, ``method``, then ``theory_leading``
        (:func:`linmeta.theory.test_loss`), ``theory_printed`` (its printed
        form, :func:`theory_values`), ``status`` (``"ok"``, ``"skipped"`` or
        ``"error"``), ``note``, ``linmeta_version``, ``cell_key``, ``digest``
        (a fingerprint of the row's numbers,
        :func:`linmeta.sweeping.table.row_digest`).
        ``table.attrs`` holds ``"computed"`` (cells simulated by this call),
        ``"reused"`` (cells read back from ``out``), ``"skipped"`` (the
        ``(changes, note)`` of cells at the interpolation threshold) and
        ``"errors"`` (the same for cells without a finite estimate).

    Raises
    ------
    ValueError
        Bad arguments, named; :class:`~linmeta.sweeping.SweepArgumentError`
        (a ``ValueError``) for an unusable ``out`` or ``scheduler``.
    linmeta.NonFiniteResultError
        Some cells have no finite estimate (the loss overflows, e.g. at a
        huge step size).  Every other cell is still computed and saved; the
        failing cells are rows with ``status="error"``, empty numbers and the
        cause in ``note``, so the file stays resumable: a rerun reuses them
        (the numbers depend only on the cell and the seed, so recomputing
        would fail the same way) and raises the same error again.  The
        finished table is the error's ``table`` attribute.

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.Problem(p=10, m=2, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
    >>> table = lm.sweep(prob, {"m": [1, 9]}, n_runs=20, seed=0)
    >>> table[["m", "n_runs", "status"]].values.tolist(), table.attrs["computed"]
    ([[1, 20, 'ok'], [9, 20, 'ok']], 2)

    With ``out``, a rerun reads the finished cells back instead of computing them:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.csv")
    >>> first = lm.sweep(prob, {"m": [1, 9]}, 20, 0, out=path)
    >>> again = lm.sweep(prob, {"m": [1, 9]}, 20, 0, out=path)
    >>> again.attrs["computed"], again.attrs["reused"], bool((again["mean"] == first["mean"]).all())
    (0, 2, True)

    A list of cells, here the ``(m, n_t, n_v)`` of a fixed label budget
    ``m (n_t + n_v) = 8``:

    >>> budget = [{"m": 1, "n_t": 4, "n_v": 4}, {"m": 2, "n_t": 2, "n_v": 2}, {"m": 4, "n_t": 1, "n_v": 1}]
    >>> table = lm.sweep(prob, budget, n_runs=20, seed=0)
    >>> table[["m", "n_t", "n_v", "status"]].values.tolist()
    [[1, 4, 4, 'ok'], [2, 2, 2, 'ok'], [4, 1, 1, 'ok']]
    >>> bool(table["mean"].iloc[2] == lm.simulate(prob.replace(m=4, n_t=1, n_v=1), 20, 0).mean)
    True
    """
    if not isinstance(prob, Problem):
        raise ValueError(f"prob must be a linmeta.Problem; got {type(prob).__name__}")
    n_runs = check_int(n_runs, "n_runs", min_val=1)
    seed = check_seed(seed)
    workers = check_int(workers, "workers", min_val=1)
    if threads is not None:
        threads = check_int(threads, "threads", min_val=1)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    scheduler = check_scheduler(scheduler)
    if out is not None:
        out = paths.check_out(out)
    cells = expand(prob, grid)
    names = list(cells[0][0])          # the swept fields, named alike by every cell

    rows = []
    for changes, q, note in cells:
        row = {k: changes.get(k, getattr(prob, k)) for k in PARAMS}
        row.update(w0_norm=float(np.linalg.norm(prob.w0)), start_distance=float(np.linalg.norm(prob.start_offset)),
                   mean=float("nan"), stderr=float("nan"), n_runs=n_runs, seed=seed, method=method,
                   theory_leading=float("nan"), theory_printed=float("nan"),
                   status="ok" if q is not None else "skipped", note=note,
                   linmeta_version=__version__, cell_key=cell_key(prob, changes, n_runs, seed, method), digest="")
        if q is not None:
            warn_if_infinite_moments(q, stacklevel=2)  # once per cell, here in the caller's process
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InfiniteMomentWarning)
                row.update(theory_values(q))
        row["digest"] = tables.row_digest(row["cell_key"], row["status"], row["mean"], row["stderr"], row["note"])
        rows.append(row)
    table = pd.DataFrame(rows, columns=tables.columns())
    skipped = [(c, n) for c, q, n in cells if q is None]

    file = OutFile(out) if out is not None else None
    try:
        table = _run(prob, cells, names, table, (n_runs, seed, method), file, (scheduler, workers, threads),
                     progress, on_task)
    finally:
        if file is not None:
            file.close()
    errors = [(c, n) for (c, _, _), n, s in zip(cells, table["note"], table["status"], strict=True) if s == "error"]
    table.attrs.update(skipped=skipped, errors=errors)
    if errors:
        raise _failed(errors, len(cells), out, table, "grid cell" if isinstance(grid, dict) else "cell")
    return table


def _failed(errors, n_cells, out, table, what):
    """Return the error of a sweep with cells that have no finite estimate (the finished ``table`` attached)."""
    changes, note = errors[0]
    cell = ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "the cell"
    cause = note[note.index("error: ") + len("error: "):]
    more = f" (and {len(errors) - 1} more of the {n_cells} cells)" if len(errors) > 1 else ""
    saved = f"their rows in {out} have status 'error', the other cells are saved" if out is not None else \
        "the table with status 'error' rows is this error's .table"
    err = NonFiniteResultError(None, None, f"sweep: no finite estimate at {what} {cell}{more}: {cause}; {saved}")
    err.table = table
    return err


def _run(prob, cells, names, table, spec, file, where, progress, on_task):
    """Recognise ``file`` (if any), compute the missing cells, save them; returns the finished table.

    ``spec`` is ``(n_runs, seed, method)``, ``where`` is ``(scheduler, workers, threads)``.
    """
    (n_runs, seed, method), keys = spec, table["cell_key"].tolist()
    rec = None
    if file is not None:
        data = file.read(tables.size_limit(table))
        rec = tables.recognise(file.path, table, _rekey(prob), data)
    done = set(rec.done) if rec is not None else set()
    reused = sum(1 for k, (_, q, _) in zip(keys, cells, strict=True) if q is not None and k in done)
    curve, tasks = curve_tasks(cells, names)
    for t in tasks if curve else ():  # before anything is computed or written
        check_curve_field(cells[t[0]][1], curve, [getattr(cells[i][1], curve) for i in t])
    tasks = [t for t in tasks if not all(keys[i] in done for i in t)]
    n_left = sum(len(t) for t in tasks)

    sched = make_scheduler(*where) if tasks else None   # connect before writing
    try:
        if rec is not None:
            if not rec.exists:
                file.create(tables.rows_text(table.iloc[:0], header=True))
            elif rec.partial:
                file.cut(rec.size)
            new_skips = table[(table.status == "skipped") & ~table.cell_key.isin(done)]
            if len(new_skips):
                file.append(tables.rows_text(new_skips))
                done |= set(new_skips.cell_key)
        ids = {}
        for t in tasks:
            q = cells[t[0]][1]
            values = [getattr(cells[i][1], curve) for i in t] if curve else None
            ids[sched.submit(_run_task, q, curve, values, n_runs, seed, method)] = t
        finished = 0
        with tqdm(total=n_left, desc="sweep", unit="cell", disable=None if progress is None else not progress,
                  leave=False, file=sys.stderr) as bar:
            for tid, res in (sched.results() if sched is not None else ()):
                t = ids[tid]
                for i, r in zip(t, res, strict=True):
                    _record(table, i, r)
                if file is not None:
                    file.append(tables.rows_text(table.iloc[[i for i in t if keys[i] not in done]]))
                finished += len(t)
                bar.update(len(t))
                if on_task is not None:
                    on_task(finished)
    finally:
        if sched is not None:
            sched.close()
    computed = n_left - sum(1 for t in tasks for i in t if keys[i] in done)
    if file is not None:
        table = tables.read_table(file.finalise(tables.ordered(file.contents(), keys)))
    table.attrs.update(computed=computed, reused=reused)
    return table


def _record(table, i, result):
    """Put one cell's result (``(mean, stderr)`` or the message of a non-finite estimate) into row ``i``."""
    if isinstance(result, str):
        table.loc[i, "status"] = "error"
        table.loc[i, "note"] = tables.error_note(table.loc[i, "note"], result)
    else:
        table.loc[i, "mean"], table.loc[i, "stderr"] = result
    row = table.loc[i]
    table.loc[i, "digest"] = tables.row_digest(row["cell_key"], row["status"], row["mean"], row["stderr"],
                                               row["note"])
