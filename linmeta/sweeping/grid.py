"""Sweep grids: validated grid values, the cells they expand to, and each cell's key.

A grid is ``{field: values}`` over :class:`~linmeta.Problem` fields; its cells
are the Cartesian product, last field fastest.  A sweep may also be given its
cells one by one, as a list ``[{field: value}, ...]`` whose dicts all name the
same fields (:func:`listed_cells`); :func:`expand` takes either form.  A cell's *key* fingerprints
everything its numbers depend on (every field, ``w0``, ``omega0``, the run
count, the seed and the method), so a saved row can be matched to its cell.

Examples
--------
>>> import linmeta as lm
>>> from linmeta.sweeping import cells_of
>>> prob = lm.Problem(p=4, m=2, n_t=3, n_v=3, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
>>> [(changes, note[:12]) for changes, _, note in cells_of(prob, {"n_v": [1, 2], "m": [2, 3]})]
[({'n_v': 1, 'm': 2}, ''), ({'n_v': 1, 'm': 3}, ''), ({'n_v': 2, 'm': 2}, 'p == n_v * m'), ({'n_v': 2, 'm': 3}, '')]
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from linmeta._model import model_fingerprint
from linmeta._validation import check_int
from linmeta.inner_maps import INNER_MAPS
from linmeta.problem import INT_FIELDS, MODEL_FIELDS, RATE_FIELDS, VECTOR_FIELDS, Problem, check_size

__all__ = ["PARAMS", "check_grid", "cells_of", "check_cells", "listed_cells", "cell_of", "expand", "replace_sizes",
           "cell_key", "curve_tasks"]

#: The Problem fields a grid may change (every field except the vectors and the task model's), in Problem order.
PARAMS = tuple(f.name for f in dataclasses.fields(Problem) if f.name not in (*VECTOR_FIELDS, *MODEL_FIELDS))


def _coerce(name, v, label="grid value of"):
    if name in INT_FIELDS:
        return check_int(v, f"{label} {name}")
    if name == "algorithm":
        return str(v)
    if name == "lam" and v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{label} {name} must be a real number; got {v!r}") from None


def check_grid(grid: Mapping[str, Sequence]) -> dict[str, list]:
    """Validate ``{field: values}``; returns ``{field: [python values]}`` (ints, floats, text).

    Examples
    --------
    >>> check_grid({"m": [2, 4.0], "alpha_t": 0.5})
    {'m': [2, 4], 'alpha_t': [0.5]}
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict {{field: values}}; got {grid!r}")
    out = {}
    for name, values in grid.items():
        if name not in PARAMS:
            raise ValueError(f"grid: unknown Problem field {name!r}; valid: {list(PARAMS)}")
        vals = list(np.atleast_1d(np.asarray(values, dtype=object)))
        if not vals:
            raise ValueError(f"grid: {name} has no values")
        vals = [v.item() if isinstance(v, np.generic) else v for v in vals]
        vals = [_coerce(name, v) for v in vals]
        if len(set(map(repr, vals))) != len(vals):
            raise ValueError(f"grid: {name} has repeated values {vals}")
        out[name] = vals
    return out


def cells_of(prob: Problem, grid: Mapping[str, Sequence]) -> list[tuple[dict, Problem | None, str]]:
    """Expand ``grid`` into cells: a list of ``(changes, problem_or_None, note)`` in grid order.

    The last grid field varies fastest.  ``problem`` is ``None`` for a cell at
    the interpolation threshold (``note`` says why); any other invalid value
    raises ``ValueError`` before anything is computed.

    Parameters
    ----------
    prob : Problem
        Base problem.
    grid : dict
        ``{field: values}``.

    Returns
    -------
    list of tuple
        ``(changes, problem, note)`` per cell.

    Examples
    --------
    >>> import linmeta as lm
    >>> changes, q, note = cells_of(lm.presets.FIG3, {"m": [10, 20]})[1]
    >>> changes, q.m, note
    ({'m': 20}, 20, '')
    """
    grid = check_grid(grid)
    names = list(grid)
    cells = []
    for combo in itertools.product(*grid.values()):
        changes = dict(zip(names, combo, strict=True))
        try:
            cells.append((changes, *cell_of(prob, changes)))
        except ValueError as err:
            raise ValueError(f"grid cell {changes}: {err}") from None
    return cells


def cell_of(prob: Problem, changes: Mapping[str, object]) -> tuple[Problem | None, str]:
    """Return one cell's ``(problem, note)``: ``(None, why)`` at the interpolation threshold, else ``(problem, "")``.

    Parameters
    ----------
    prob : Problem
        Base problem.
    changes : dict
        The cell's field values (already validated python values).

    Returns
    -------
    tuple

    Raises
    ------
    ValueError
        A value the :class:`~linmeta.Problem` refuses (its message).

    Examples
    --------
    >>> import linmeta as lm
    >>> q, note = cell_of(lm.presets.FIG3, {"m": 20})
    >>> q.m, note
    (20, '')
    >>> cell_of(lm.presets.FIG3, {"m": 0})
    Traceback (most recent call last):
    ...
    ValueError: m must be an integer >= 1 and <= 2**53; got 0
    """
    sizes = {k: changes.get(k, getattr(prob, k)) for k in ("p", "n_t", "n_v", "m", "algorithm")}
    pooled = sizes["algorithm"] in INNER_MAPS and INNER_MAPS[sizes["algorithm"]].pooled   # ERM: n_t + n_v
    if sizes["p"] == (sizes["n_t"] * pooled + sizes["n_v"]) * sizes["m"]:
        k = "(n_t + n_v) * m" if pooled else "n_v * m"
        return None, f"p == {k} == {sizes['p']} is the interpolation threshold; meta-training is singular"
    return replace_sizes(prob, **changes), ""


def _one_value(v, where, name):
    """``v`` as one python value (a numpy scalar unwrapped); a list, array or dict is refused."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (Sequence, np.ndarray, Mapping, set, frozenset)) and not isinstance(v, str):
        raise ValueError(f"grid: {where}: {name} must be one value (a cell is {{field: value}}); got {v!r}")
    return v


def check_cells(cells: Sequence[Mapping[str, object]]) -> list[dict]:
    """Validate a list of cells ``[{field: value}, ...]``; returns them with python values, fields in one order.

    Every cell must name the same fields (any order; the first cell's order is
    kept), each a field :func:`check_grid` accepts, with one value each, valid
    as a grid value; no cell may appear twice.

    Parameters
    ----------
    cells : list of dict
        ``[{field: value}, ...]``, at least one cell.

    Returns
    -------
    list of dict

    Raises
    ------
    ValueError
        Naming the offending cell by its index (``cells[i]``) and the fields or value.

    Examples
    --------
    >>> check_cells([{"m": 10, "n_t": 5}, {"n_t": 10.0, "m": 5}])
    [{'m': 10, 'n_t': 5}, {'m': 5, 'n_t': 10}]
    >>> check_cells([{"m": 10, "n_t": 5}, {"m": 5}])
    Traceback (most recent call last):
    ...
    ValueError: grid: cells[1] names the fields ['m'], cells[0] names ['m', 'n_t']; every cell must name the same fields
    """
    if not isinstance(cells, (list, tuple)) or not cells:
        raise ValueError(f"grid: a list of cells must hold at least one cell {{field: value}}; got {cells!r}")
    names, out, seen = None, [], {}
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping) or not cell:
            raise ValueError(f"grid: cells[{i}] must be a non-empty dict {{field: value}}; got {cell!r}")
        if names is None:
            names = list(cell)
            for name in names:
                if name not in PARAMS:
                    raise ValueError(f"grid: cells[0]: unknown Problem field {name!r}; valid: {list(PARAMS)}")
        elif set(cell) != set(names):
            raise ValueError(f"grid: cells[{i}] names the fields {sorted(cell, key=str)}, cells[0] names {names}; "
                             "every cell must name the same fields")
        changes = {n: _coerce(n, _one_value(cell[n], f"cells[{i}]", n), f"grid: cells[{i}] value of") for n in names}
        key = tuple(repr(v) for v in changes.values())
        if key in seen:
            raise ValueError(f"grid: cells[{seen[key]}] and cells[{i}] are the same cell {changes}; "
                             "give each cell once")
        seen[key] = i
        out.append(changes)
    return out


def listed_cells(prob: Problem, cells: Sequence[Mapping[str, object]]) -> list[tuple[dict, Problem | None, str]]:
    """Expand a list ``[{field: value}, ...]`` into cells: ``(changes, problem_or_None, note)`` each, in list order.

    As :func:`cells_of`, for cells given one by one (validated by
    :func:`check_cells`) instead of a product grid.

    Parameters
    ----------
    prob : Problem
        Base problem.
    cells : list of dict
        ``[{field: value}, ...]``.

    Returns
    -------
    list of tuple
        ``(changes, problem, note)`` per cell.

    Examples
    --------
    >>> import linmeta as lm
    >>> budget = [{"m": 10, "n_t": 5, "n_v": 5}, {"m": 5, "n_t": 10, "n_v": 10}]     # m (n_t + n_v) = 100
    >>> [(c, q.m * (q.n_t + q.n_v)) for c, q, _ in listed_cells(lm.presets.FIG3, budget)]
    [({'m': 10, 'n_t': 5, 'n_v': 5}, 100), ({'m': 5, 'n_t': 10, 'n_v': 10}, 100)]
    """
    out = []
    for i, changes in enumerate(check_cells(cells)):
        try:
            out.append((changes, *cell_of(prob, changes)))
        except ValueError as err:
            raise ValueError(f"grid: cells[{i}] {changes}: {err}") from None
    return out


def expand(prob: Problem, grid: Mapping[str, Sequence] | Sequence[Mapping[str, object]],
           ) -> list[tuple[dict, Problem | None, str]]:
    """Return the cells of a sweep's ``grid``: :func:`cells_of` for a dict, :func:`listed_cells` for a list of dicts.

    Examples
    --------
    >>> import linmeta as lm
    >>> [c for c, _, _ in expand(lm.presets.FIG3, {"m": [10, 20]})]
    [{'m': 10}, {'m': 20}]
    >>> [c for c, _, _ in expand(lm.presets.FIG3, [{"m": 10}, {"m": 20}])]
    [{'m': 10}, {'m': 20}]
    """
    if isinstance(grid, (list, tuple)):
        return listed_cells(prob, grid)
    if not isinstance(grid, dict):
        raise ValueError("grid must be a dict {field: values} or a list of cells [{field: value}, ...]; "
                         f"got {type(grid).__name__}")
    return cells_of(prob, grid)


def replace_sizes(prob: Problem, **changes: object) -> Problem:
    """``prob.replace(**changes)``, resizing constant ``w0``/``omega0`` when ``p`` changes.

    A constant vector (zero by default) keeps its constant value at the new
    length; a non-constant one cannot be resized and raises ``ValueError``.

    Parameters
    ----------
    prob : Problem
    **changes
        New field values.

    Returns
    -------
    Problem

    Examples
    --------
    >>> import linmeta as lm
    >>> replace_sizes(lm.presets.FIG3, p=20).w0.shape
    (20,)
    """
    new_p = changes.get("p", prob.p)
    if new_p != prob.p:
        for name in VECTOR_FIELDS:
            if name in changes:
                continue
            v = getattr(prob, name)
            if v.size and not np.all(v == v[0]):
                raise ValueError(f"cannot change p from {prob.p} to {new_p}: {name} is not a constant vector; "
                                 f"set {name} for the new p as well")
            if isinstance(new_p, numbers.Integral) and new_p >= 1:
                changes[name] = np.full(check_size(int(new_p)), v[0] if v.size else 0.0)
    return prob.replace(**changes)


def cell_key(prob: Problem, changes: Mapping[str, object], n_runs: int, seed: int, method: str) -> str:
    """Return a stable 16-hex-digit fingerprint of one cell's full specification.

    It covers every field of ``prob`` with ``changes`` applied, the bytes of
    ``prob.w0`` and ``prob.omega0``, ``n_runs``, ``seed`` and ``method``.

    Parameters
    ----------
    prob : Problem
        Base problem of the sweep.
    changes : dict
        The cell's field values (any subset of :data:`PARAMS`).
    n_runs, seed : int
    method : str

    Returns
    -------
    str

    Examples
    --------
    >>> import linmeta as lm
    >>> a = cell_key(lm.presets.FIG3, {"m": 10}, 100, 0, "exact")
    >>> len(a), a == cell_key(lm.presets.FIG3, {"m": 10}, 100, 1, "exact")
    (16, False)
    """
    h = hashlib.sha256()
    spec = {k: repr(changes.get(k, getattr(prob, k))) for k in PARAMS}
    spec.update(n_runs=n_runs, seed=seed, method=method)
    h.update(json.dumps(spec, sort_keys=True).encode())
    h.update(np.ascontiguousarray(prob.w0).tobytes())
    h.update(np.ascontiguousarray(prob.omega0).tobytes())
    h.update(model_fingerprint(prob))  # nothing for the paper's model
    return h.hexdigest()[:16]


def curve_tasks(cells, grid_names):
    """Group cells that differ only in the curve field (``alpha_t``, else ``alpha_r``).

    Each group is one task evaluated by :func:`linmeta.simulate_curve` with the
    draws made once.  Skipped cells (``problem is None``) belong to no task.

    Returns
    -------
    curve : str or None
        The curve field, or ``None`` if no curve field is swept.
    tasks : list of list of int
        Cell indices per task, in grid order.

    Examples
    --------
    >>> import linmeta as lm
    >>> curve_tasks(cells_of(lm.presets.FIG3, {"alpha_t": [0.1, 0.2], "m": [10, 20]}), ["alpha_t", "m"])
    ('alpha_t', [[0, 2], [1, 3]])
    """
    curve = next((n for n in RATE_FIELDS if n in grid_names), None)   # cells sharing their draws: one curve
    groups = {}
    for i, (changes, q, _) in enumerate(cells):
        if q is None:
            continue
        key = tuple((k, repr(v)) for k, v in changes.items() if k != curve)
        groups.setdefault(key, []).append(i)
    return curve, list(groups.values())
