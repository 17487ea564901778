"""Parameter sweeps: one row per grid cell, resumable, identical on any scheduler.

A sweep evaluates every cell of a grid (the Cartesian product of a few
:class:`~linmeta.Problem` fields) with the derived theory and with
:func:`linmeta.simulate`.  Each cell's numbers depend only on the cell, the
run count and the seed (common random numbers, :mod:`linmeta._rng`), so they
are identical bit for bit whether the cells run serially, in a process pool,
or on a Dask cluster.

Cells that differ only in ``alpha_t`` (or, if ``alpha_t`` is not swept, only
in ``alpha_r``) form one *task*, evaluated by :func:`linmeta.simulate_curve`
with the draws made once; its values equal :func:`linmeta.simulate` at each
cell bit for bit.  With ``out`` given, every finished task appends its rows
to the CSV at once (flushed and synced), so an interrupted sweep (Ctrl-C, a
killed worker or process) restarted with the same arguments skips the
finished cells.  When all cells are done the file is rewritten in grid order,
so it ends byte-identical to an uninterrupted run.  An existing file made with
other arguments is refused, never mixed.

A cell at the interpolation threshold ``p == n_v * m`` is kept as a row with
``status="skipped"``, a ``note`` and no numbers; it is not fatal.

Examples
--------
>>> import linmeta as lm
>>> prob = lm.Problem(p=4, m=2, n_t=3, n_v=3, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
>>> table = lm.sweep(prob, {"alpha_t": [-0.5, 0.5], "m": [2, 4]}, n_runs=20, seed=0)
>>> table[["alpha_t", "m", "n_runs", "seed", "status"]].values.tolist()
[[-0.5, 2, 20, 0, 'ok'], [-0.5, 4, 20, 0, 'ok'], [0.5, 2, 20, 0, 'ok'], [0.5, 4, 20, 0, 'ok']]
>>> bool(table["mean"].iloc[0] == lm.simulate(prob.replace(alpha_t=-0.5), 20, 0).mean)
True

References
----------
theory.md §2 (MAML1), T0, T1, T2, §7.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import numbers
import re
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from linmeta._checks import check_int
from linmeta._rng import check_seed
from linmeta.estimate import METHODS, simulate_curve
from linmeta.problem import Problem

__all__ = ["sweep", "SCHEDULERS", "THEORY_COLUMNS", "cells_of", "read_table", "replace_sizes", "theory_values"]

SCHEDULERS = ("serial", "processes", "dask-local")  # or "tcp://HOST:PORT"
THEORY_COLUMNS = ("theory", "theory_printed")
_PARAMS = tuple(f.name for f in dataclasses.fields(Problem) if f.name not in ("w0", "omega0"))
_INT_PARAMS = ("p", "m", "n_t", "n_v", "n_r", "n_steps")
_INT_RE = re.compile(r"^-?[0-9]+$")
_RESULT = ("theory", "theory_printed", "mean", "stderr", "n_runs", "seed", "method", "status", "note")


# ----------------------------------------------------------------------------- theory
def theory_values(prob):
    """``{"theory": ..., "theory_printed": ...}`` for ``prob``; NaN where unavailable.

    ``theory`` is :func:`linmeta.theory.test_loss` (the leading order of the
    problem's regime), ``theory_printed`` its ``form="printed"`` variant
    (Theorem 2 as printed in the talk).  A formula that does not exist yet, or
    raises ``ValueError``/``NotImplementedError`` for this problem, gives NaN.
    """
    from linmeta import theory

    out = {}
    for col, kw in (("theory", {}), ("theory_printed", {"form": "printed"})):
        fn = getattr(theory, "test_loss", None)
        try:
            out[col] = float(fn(prob, **kw)) if fn is not None else float("nan")
        except (ValueError, NotImplementedError, TypeError):
            out[col] = float("nan")
    return out


# ----------------------------------------------------------------------------- grid
def _coerce(name, v):
    if name in _INT_PARAMS:
        return check_int(v, f"grid value of {name}")
    if name == "algorithm":
        return str(v)
    if name == "lam" and v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"grid value of {name} must be a real number; got {v!r}") from None


def _check_grid(prob, grid):
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict {{field: values}}; got {grid!r}")
    out = {}
    for name, values in grid.items():
        if name not in _PARAMS:
            raise ValueError(f"grid: unknown Problem field {name!r}; valid: {list(_PARAMS)}")
        vals = list(np.atleast_1d(np.asarray(values, dtype=object)))
        if not vals:
            raise ValueError(f"grid: {name} has no values")
        vals = [v.item() if isinstance(v, np.generic) else v for v in vals]
        vals = [_coerce(name, v) for v in vals]
        if len(set(map(repr, vals))) != len(vals):
            raise ValueError(f"grid: {name} has repeated values {vals}")
        out[name] = vals
    return out


def cells_of(prob, grid):
    """Expand ``grid`` into cells: a list of ``(changes, problem_or_None, note)`` in grid order.

    The last grid field varies fastest.  ``problem`` is ``None`` for a cell at
    the interpolation threshold (``note`` says why); any other invalid value
    raises ``ValueError`` before anything is computed.
    """
    grid = _check_grid(prob, grid)
    names = list(grid)
    cells = []
    for combo in itertools.product(*grid.values()):
        changes = dict(zip(names, combo))
        sizes = {k: changes.get(k, getattr(prob, k)) for k in ("p", "n_v", "m")}
        if sizes["p"] == sizes["n_v"] * sizes["m"]:
            note = (f"p == n_v * m == {sizes['p']} is the interpolation threshold; meta-training is singular")
            cells.append((changes, None, note))
            continue
        try:
            cells.append((changes, replace_sizes(prob, **changes), ""))
        except ValueError as err:
            raise ValueError(f"grid cell {changes}: {err}") from None
    return cells


def replace_sizes(prob, **changes):
    """``prob.replace(**changes)``, resizing constant ``w0``/``omega0`` when ``p`` changes.

    A constant vector (zero by default) keeps its constant value at the new
    length; a non-constant one cannot be resized and raises ``ValueError``.

    >>> import linmeta as lm
    >>> replace_sizes(lm.presets.FIG3, p=20).w0.shape
    (20,)
    """
    new_p = changes.get("p", prob.p)
    if new_p != prob.p:
        for name in ("w0", "omega0"):
            if name in changes:
                continue
            v = getattr(prob, name)
            if v.size and not np.all(v == v[0]):
                raise ValueError(f"cannot change p from {prob.p} to {new_p}: {name} is not a constant vector; "
                                 f"set {name} for the new p as well")
            if isinstance(new_p, numbers.Integral) and new_p >= 1:
                changes[name] = np.full(int(new_p), v[0] if v.size else 0.0)
    return prob.replace(**changes)


def _key(prob, changes, n_runs, seed, method):
    """A stable fingerprint of one cell's full specification (vectors included)."""
    h = hashlib.sha256()
    spec = {k: repr(changes.get(k, getattr(prob, k))) for k in _PARAMS}
    spec.update(n_runs=n_runs, seed=seed, method=method)
    h.update(json.dumps(spec, sort_keys=True).encode())
    h.update(np.ascontiguousarray(prob.w0).tobytes())
    h.update(np.ascontiguousarray(prob.omega0).tobytes())
    return h.hexdigest()[:16]


def _columns(grid_names):
    rest = [k for k in _PARAMS if k not in grid_names]
    return [*grid_names, *_RESULT, *rest, "w0_norm", "start_distance", "linmeta_version", "cell_key"]


# ----------------------------------------------------------------------------- tasks
def _tasks(cells, grid_names):
    """Group cell indices that differ only in the curve parameter (alpha_t, else alpha_r)."""
    curve = next((n for n in ("alpha_t", "alpha_r") if n in grid_names), None)
    groups = {}
    for i, (changes, q, _) in enumerate(cells):
        if q is None:
            continue
        key = tuple((k, repr(v)) for k, v in changes.items() if k != curve)
        groups.setdefault(key, []).append(i)
    return curve, list(groups.values())


def _run_task(prob, curve, values, n_runs, seed, method):
    """Evaluate one task in a worker: ``[(mean, stderr), ...]`` per value.

    Top-level and argument-only, so it pickles to any process or Dask worker.
    """
    if curve is None:
        t = simulate_curve(prob, "alpha_t", [prob.alpha_t], n_runs, seed, method, progress=False)
    else:
        t = simulate_curve(prob, curve, values, n_runs, seed, method, progress=False)
    return [(float(m), float(s)) for m, s in zip(t["mean"], t["stderr"])]


def _init_worker(threads):
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


# ----------------------------------------------------------------------------- file
def _read_existing(out, columns):
    """Rows already in ``out`` (a truncated last line from a killed process is dropped)."""
    if not os.path.exists(out):
        return None
    with open(out, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(out, "r+b") as f:  # cut the partial row so appends stay well-formed
            f.truncate(len(data))
    if not data:
        return None
    header = data.split(b"\n", 1)[0].decode()
    if header.split(",") != columns:
        raise ValueError(
            f"{out} exists with different columns (a different grid or not a linmeta sweep); "
            "delete it or choose another --out"
        )
    return _parse(data)


def read_table(data):
    """Parse CSV bytes exactly: every float is parsed by Python's ``float`` (correctly rounded).

    Pandas' fast float parser is not guaranteed to round-trip ``repr`` in the
    last bit (and its ``float_precision`` switch is deprecated), so columns
    are read as text and converted here: integers to ``int``, numbers to
    ``float`` (empty -> NaN), anything else stays text.

    >>> t = read_table(b"a,b,c\\n1,0.1,x\\n2,,y\\n")
    >>> t["a"].tolist(), t["b"].tolist(), t["c"].tolist()
    ([1, 2], [0.1, nan], ['x', 'y'])
    """
    raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False)
    out = {}
    for col in raw.columns:
        vals = raw[col].tolist()
        try:
            out[col] = np.array([int(v) for v in vals], dtype=np.int64) if all(_INT_RE.match(v) for v in vals) \
                else np.array([float(v) if v != "" else np.nan for v in vals], dtype=float)
            if all(v == "" for v in vals):
                raise ValueError
        except ValueError:
            out[col] = np.array(vals, dtype=object)
    return pd.DataFrame(out, columns=raw.columns)


def _parse(data):
    return read_table(data)


def _refuse(out, old, cells_df):
    cells_df = _parse(cells_df.to_csv(index=False).encode())  # compare as the file spells values
    skip = {"cell_key", "linmeta_version", "theory", "theory_printed", "mean", "stderr", "status", "note"}
    cols = [c for c in cells_df.columns if c not in skip and c in old.columns]
    diffs = []
    for c in cols:
        a = set(map(str, old[c].tolist()))
        b = set(map(str, cells_df[c].tolist()))
        if not a <= b:
            diffs.append(f"{c}: file has {sorted(a - b)[:3]}, now {sorted(b)[:3]}")
    detail = "; ".join(diffs) if diffs else "w0/omega0 or another setting differ"
    return ValueError(f"{out} holds a sweep made with different arguments ({detail}); "
                      "rerun with the original arguments to resume, or choose another --out")


def _append(out, frame):
    with open(out, "a", newline="") as f:
        frame.to_csv(f, header=False, index=False)
        f.flush()
        os.fsync(f.fileno())


def _finalise(out, keys_in_order):
    with open(out, "rb") as f:
        table = _parse(f.read())
    table = table.drop_duplicates("cell_key").set_index("cell_key", drop=False).loc[keys_in_order]
    table = table.reset_index(drop=True)
    tmp = f"{out}.tmp{os.getpid()}"
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
    with open(out, "rb") as f:
        return _parse(f.read())


# ----------------------------------------------------------------------------- schedulers
class _Serial:
    def __init__(self):
        self.pending = []

    def submit(self, fn, *args):
        self.pending.append((fn, args))
        return len(self.pending) - 1

    def results(self):
        for i, (fn, args) in enumerate(self.pending):
            yield i, fn(*args)

    def close(self):
        pass


class _Pool:
    def __init__(self, workers):
        import multiprocessing as mp

        threads = max(1, (os.cpu_count() or 1) // workers)
        # spawn: a forked child would inherit Numba's running thread pool
        self.ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                      initializer=_init_worker, initargs=(threads,))
        self.futs = {}

    def submit(self, fn, *args):
        self.futs[self.ex.submit(fn, *args)] = len(self.futs)
        return len(self.futs) - 1

    def results(self):
        todo = set(self.futs)
        while todo:
            done, todo = wait(todo, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=self.futs.get):
                yield self.futs[f], f.result()

    def close(self):
        self.ex.shutdown(wait=True, cancel_futures=True)


class _Dask:
    def __init__(self, scheduler, workers):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("scheduler 'dask-local' or tcp:// needs dask.distributed: pip install 'linmeta[dask]'") from None
        self.cluster = None
        if scheduler == "dask-local":
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = Client(scheduler, timeout="10s")
        self.futs = {}

    def submit(self, fn, *args):
        i = len(self.futs)
        # pure=False: never merge tasks; retries survive a worker that dies mid-task
        self.futs[self.client.submit(fn, *args, pure=False, retries=2, key=f"linmeta-sweep-{os.getpid()}-{i}")] = i
        return i

    def results(self):
        from distributed import as_completed

        for f in as_completed(list(self.futs)):
            yield self.futs[f], f.result()

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _scheduler(scheduler, workers):
    if scheduler in (None, "serial"):
        return _Serial()
    if scheduler == "processes":
        return _Pool(workers)
    if scheduler == "dask-local" or (isinstance(scheduler, str) and scheduler.startswith("tcp://")):
        return _Dask(scheduler, workers)
    raise ValueError(f"scheduler must be one of {SCHEDULERS} or 'tcp://HOST:PORT'; got {scheduler!r}")


# ----------------------------------------------------------------------------- sweep
def sweep(prob, grid, n_runs=1000, seed=0, scheduler=None, out=None, *, method="exact", workers=2,
          progress=None, on_task=None):
    """Evaluate theory and simulation on every cell of a parameter grid.

    Parameters
    ----------
    prob : Problem
        Base problem; grid values replace its fields.
    grid : dict
        ``{field: values}``; cells are the Cartesian product, last field fastest.
    n_runs : int, default=1000
        Monte Carlo runs per cell.
    seed : int, default=0
        Fixes every number (run ``i`` of every cell uses streams ``(seed, i)``).
    scheduler : {None, "serial", "processes", "dask-local"} or "tcp://HOST:PORT", default=None
        Where tasks run; ``None`` is ``"serial"``.  The numbers do not depend on it.
    out : str or path, optional
        CSV written cell by cell; an existing file from the same arguments is
        resumed, one from other arguments is refused (``ValueError``).
    method : {"exact", "protocol"}, default="exact"
        Simulation method (:func:`linmeta.simulate`).
    workers : int, default=2
        Processes (``"processes"``) or Dask workers (``"dask-local"``).
    progress : bool, optional
        Progress bar over cells; by default only on a terminal.
    on_task : callable, optional
        Called with the number of cells finished after each task is saved
        (a test hook: raising from it interrupts the sweep).

    Returns
    -------
    pandas.DataFrame
        One row per cell, in grid order: the grid fields, ``theory``,
        ``theory_printed``, ``mean``, ``stderr``, ``n_runs``, ``seed``,
        ``method``, ``status`` (``"ok"`` or ``"skipped"``), ``note``, the other
        problem fields, ``w0_norm``, ``start_distance``, ``linmeta_version``,
        ``cell_key``.  ``table.attrs["skipped"]`` lists the skipped cells.

    References
    ----------
    theory.md §2, T0, T1, T2.
    """
    from linmeta import __version__

    if not isinstance(prob, Problem):
        raise ValueError(f"prob must be a linmeta.Problem; got {type(prob).__name__}")
    n_runs = check_int(n_runs, "n_runs", min_val=1)
    seed = check_seed(seed)
    workers = check_int(workers, "workers", min_val=1)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not (scheduler in (None, *SCHEDULERS) or (isinstance(scheduler, str) and scheduler.startswith("tcp://"))):
        raise ValueError(f"scheduler must be one of {SCHEDULERS} or 'tcp://HOST:PORT'; got {scheduler!r}")
    cells = cells_of(prob, grid)
    names = list(grid)
    columns = _columns(names)

    rows = []
    for changes, q, note in cells:
        full = {k: changes.get(k, getattr(prob, k)) for k in _PARAMS}
        row = dict(full)
        row.update(theory=float("nan"), theory_printed=float("nan"), mean=float("nan"), stderr=float("nan"),
                   n_runs=n_runs, seed=seed, method=method, status="ok" if q is not None else "skipped", note=note,
                   w0_norm=float(np.linalg.norm(prob.w0)), start_distance=float(np.linalg.norm(prob.start_offset)),
                   linmeta_version=__version__, cell_key=_key(prob, changes, n_runs, seed, method))
        if q is not None:
            row.update(theory_values(q))
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns)
    keys = table["cell_key"].tolist()
    skipped = [(c, n) for c, q, n in cells if q is None]

    done = set()
    if out is not None:
        out = os.fspath(out)
        old = _read_existing(out, columns)
        if old is not None:
            if not set(old["cell_key"]) <= set(keys):
                raise _refuse(out, old, table)
            done = set(old["cell_key"])
        else:
            with open(out, "w", newline="") as f:
                f.write(",".join(columns) + "\n")
        new_skips = table[(table.status == "skipped") & ~table.cell_key.isin(done)]
        if len(new_skips):
            _append(out, new_skips)
            done |= set(new_skips.cell_key)

    curve, tasks = _tasks(cells, names)
    tasks = [t for t in tasks if not all(keys[i] in done for i in t)]
    n_left = sum(len(t) for t in tasks)
    sched = _scheduler(scheduler, workers)
    try:
        ids = {}
        for t in tasks:
            q = cells[t[0]][1]
            values = [getattr(cells[i][1], curve) for i in t] if curve else None
            ids[sched.submit(_run_task, q, curve, values, n_runs, seed, method)] = t
        finished = 0
        with tqdm(total=n_left, desc="sweep", unit="cell", disable=None if progress is None else not progress,
                  leave=False, file=sys.stderr) as bar:
            for tid, res in sched.results():
                t = ids[tid]
                for i, (mean, se) in zip(t, res):
                    table.loc[i, "mean"] = mean
                    table.loc[i, "stderr"] = se
                if out is not None:
                    _append(out, table.iloc[[i for i in t if keys[i] not in done]])
                finished += len(t)
                bar.update(len(t))
                if on_task is not None:
                    on_task(finished)
    finally:
        sched.close()
    if out is not None:
        table = _finalise(out, keys)
    table.attrs["skipped"] = skipped
    return table
