"""The one table schema of linmeta's results: one row per problem, every field a column.

:func:`linmeta.simulate_curve`, :func:`linmeta.sweep`,
``simulate_optimum(...).curve`` and the figure CSVs share one layout:

* the problem: every scalar :class:`~linmeta.Problem` field in Problem order
  (``p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r, algorithm, n_steps,
  lam``), then the vector fields summarised as ``w0_norm`` (``|w0|``) and
  ``start_distance`` (``|omega0 - w0|``), and, only for a task model other
  than the paper's, ``model`` (one line naming it: diagonal covariances, a
  mixture, a user's sampler);
* the simulation: ``mean, stderr, n_runs, seed, method``;
* theory columns named by approximation, where a table has them:
  ``theory_leading`` (:func:`linmeta.theory.test_loss`), ``theory_printed``
  (``form="printed"``), ``theory_finite`` (``approximation="finite"``).

A table adds after these only what its rows need (a sweep's ``status``,
``note`` and keys; a figure's ``figure`` and ``kind``, which identify a
series).  The varied parameter of a curve is simply the column whose values
vary.

Examples
--------
>>> import linmeta as lm
>>> list(problem_columns(lm.presets.FIG2))[:4], problem_columns(lm.presets.FIG2)["w0_norm"]
(['p', 'm', 'n_t', 'n_v'], 0.0)
>>> theory_column("leading"), theory_column("leading", form="printed"), theory_column("finite")
('theory_leading', 'theory_printed', 'theory_finite')
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from linmeta._model import model_of
from linmeta.problem import MODEL_FIELDS, VECTOR_FIELDS, Problem

__all__ = ["MODEL_COLUMN", "PROBLEM_COLUMNS", "SIMULATION_COLUMNS", "THEORY_COLUMNS", "problem_columns",
           "theory_column", "varied_column", "curve_table", "rate_curve_table"]

#: The scalar Problem fields in Problem order, then the vector fields' summaries.
PROBLEM_COLUMNS = (*(f.name for f in dataclasses.fields(Problem) if f.name not in (*VECTOR_FIELDS, *MODEL_FIELDS)),
                   "w0_norm", "start_distance")
#: The column naming the task model, present only where a row's model is not the paper's.
MODEL_COLUMN = "model"
SIMULATION_COLUMNS = ("mean", "stderr", "n_runs", "seed", "method")
#: Theory columns by ``(approximation, form)``.
THEORY_COLUMNS = {("leading", "derived"): "theory_leading", ("leading", "printed"): "theory_printed",
                  ("finite", "derived"): "theory_finite"}


def problem_columns(prob):
    """``{column: value}`` of the problem columns of ``prob`` (the values of :meth:`linmeta.Problem.to_dict`).

    Vectors left at their default (zero) are summarised without reading them.
    """
    out = {k: getattr(prob, k) for k in PROBLEM_COLUMNS[:-2]}
    defaults = getattr(prob, "_default_vectors", ())
    out["w0_norm"] = 0.0 if "w0" in defaults else float(np.linalg.norm(prob.w0))
    out["start_distance"] = 0.0 if {"w0", "omega0"} <= set(defaults) else float(np.linalg.norm(prob.start_offset))
    model = model_of(prob)
    if not model.isotropic:
        out[MODEL_COLUMN] = model.describe(prob)
    return out


def curve_table(problems, mean, stderr, n_runs, seed, method):
    """Return the tidy table of one estimate (``mean[i]``, ``stderr[i]``) per problem ``problems[i]``."""
    rows = [problem_columns(q) for q in problems]
    extra = [MODEL_COLUMN] if any(MODEL_COLUMN in r for r in rows) else []
    table = pd.DataFrame(rows, columns=[*PROBLEM_COLUMNS, *extra])
    table["mean"], table["stderr"] = list(mean), list(stderr)
    table["n_runs"], table["seed"], table["method"] = n_runs, seed, method
    return table


def rate_curve_table(prob, name, values, mean, stderr, n_runs, seed, method):
    """:func:`curve_table` of ``prob`` with the rate ``name`` at each of ``values`` (no problem is rebuilt)."""
    table = curve_table([prob] * len(values), mean, stderr, n_runs, seed, method)
    table[name] = list(values)
    return table


def theory_column(approximation="leading", form="derived"):
    """Return the name of the theory column of ``(approximation, form)``."""
    return THEORY_COLUMNS[(approximation, form)]


def varied_column(table):
    """Return the problem column whose values vary over ``table``'s rows (the x of a curve).

    Raises
    ------
    ValueError
        If no column or several vary (then the caller must name it).

    Examples
    --------
    >>> import pandas as pd
    >>> varied_column(pd.DataFrame({"p": [10, 10], "alpha_t": [0.1, 0.2], "mean": [1.0, 2.0]}))
    'alpha_t'
    """
    varied = [c for c in PROBLEM_COLUMNS if c in table.columns and table[c].nunique(dropna=True) > 1]
    if len(varied) != 1:
        raise ValueError(f"x must name the column of the varied parameter: {len(varied)} problem columns vary "
                         f"({varied})")
    return varied[0]
