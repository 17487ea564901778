"""What every figure shares: the :class:`Figure` record, run scaling, the table layout, theory look-ups.

Examples
--------
>>> from linmeta.figures.base import scaled_runs
>>> scaled_runs(1000, 0.01), scaled_runs(100, 0.001)
(10, 2)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pandas as pd

from linmeta import plotting, theory
from linmeta._tidy import PROBLEM_COLUMNS, SIMULATION_COLUMNS, THEORY_COLUMNS, problem_columns, varied_column
from linmeta._version import __version__
from linmeta.sweeping import read_table
from linmeta.theory._warnings import domain_warnings_to

if TYPE_CHECKING:
    import numpy as np

    from linmeta.problem import Problem

__all__ = ["Figure", "Made", "COLUMNS", "scaled_runs", "theory_or_note", "series_table", "finish", "stamp",
           "read_csv", "draw_table"]

#: linmeta's table columns (:mod:`linmeta.plotting`); a figure table adds ``figure``, the columns that
#: identify a series (``kind``, ...) and ``linmeta_version``.
COLUMNS = (*PROBLEM_COLUMNS, *SIMULATION_COLUMNS, *THEORY_COLUMNS.values())


@dataclass(frozen=True)
class Figure:
    """One registered figure.

    Attributes
    ----------
    compute : callable
        ``compute(seed=0, runs_scale=1.0, progress=None) -> DataFrame``.
    draw : callable
        ``draw(fig, table)``: draws ``table`` (as read back from the CSV) on a Matplotlib figure.
    size : tuple of float
        Figure size in inches (fixed, so that files are reproducible).
    description : str
    tolerances : dict
        ``{(kind, column): (rtol, atol)}``: cells that floating point fixes less tightly than
        :data:`linmeta.figures.agree.RTOL` across machines (minimisers, iterative solutions);
        see :func:`linmeta.figures.agree.compare_tables`.
    """

    compute: Callable
    draw: Callable
    size: tuple
    description: str = ""
    tolerances: dict = field(default_factory=dict)


@dataclass
class Made:
    """What :func:`linmeta.figures.make` produced: paths, compute seconds, notes for the user.

    ``kept`` lists the paths of ``paths`` left untouched because the file on disk already agreed
    (see :func:`linmeta.figures.make`).
    """

    name: str
    paths: list
    seconds: float
    notes: list = field(default_factory=list)
    kept: list = field(default_factory=list)


def scaled_runs(n: int, runs_scale: float) -> int:
    """``round(n * runs_scale)``, at least 2 (a standard error needs two runs).

    >>> scaled_runs(1000, 0.01), scaled_runs(100, 0.001)
    (10, 2)
    """
    return max(2, int(round(n * runs_scale)))


def theory_or_note(name: str, notes: list, prob: Problem, **kwargs: object) -> float | np.ndarray | None:
    """``linmeta.theory.<name>(prob, **kwargs)``, or ``None`` and a note where there is no value.

    The value or the reason comes from :func:`linmeta.theory.value_or_reason`:
    only a quantity without a closed form (e.g. first-order MAML, iMAML, or
    an optimum not derived for N-step MAML) or not defined for the problem
    becomes a note, which carries the reason; any other error (an overflow
    included) is raised.

    Parameters
    ----------
    name : {"test_loss", "expected_distance", "optimal_alpha_t", "optimal_alpha_r"}
    notes : list
        Appended to.
    prob : Problem
    **kwargs
        Passed on.

    Returns
    -------
    float or ndarray or None

    Examples
    --------
    >>> import linmeta as lm
    >>> notes = []
    >>> theory_or_note("test_loss", notes, lm.presets.FIG3.replace(algorithm="fomaml")) is None
    True
    >>> notes[0].startswith("linmeta.theory.test_loss(): no closed-form theory for algorithm='fomaml'")
    True
    """
    what = f"linmeta.theory.{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    # outside its measured domain an approximation is drawn all the same, and the figure says so
    with domain_warnings_to(lambda message: _note_outside_domain(notes, what, message)):
        got = theory.value_or_reason(name, prob, **kwargs)
    if got.reason:
        notes.append(f"{what}: {got.reason}; drawn without it")
    return got.value


def _note_outside_domain(notes, what, message):
    """Keep one note per theory call: how many values lay outside the measured domain, and the first."""
    isotropic = " is outside the validated domain of the finite-size theory "
    if isotropic in message:
        lead = f"{what}: outside the validated domain of the finite-size theory at "
        head, tail = message.split(isotropic, 1)
        first = f"{head} {tail.split(': the validity map')[0]}"
    else:  # the anisotropic approximations: "approximation=... (A2) is outside its measured domain: ...; ..."
        lead = f"{what}: outside its measured domain at "
        first = message.split(";")[0]
    for i, note in enumerate(notes):
        if note.startswith(lead):
            count, rest = note[len(lead):].split(" value(s)", 1)
            notes[i] = f"{lead}{int(count) + 1} value(s){rest}"
            return
    notes.append(f"{lead}1 value(s), the first {first}; drawn all the same (ApproximationDomainWarning)")


def stamp(table, figure):
    """Insert the ``figure`` column first and the ``linmeta_version`` column last; returns ``table``."""
    table.insert(0, "figure", figure)
    table["linmeta_version"] = __version__
    return table


def series_table(prob, parameter, values, kind, **columns):
    """Rows of one series of a figure in linmeta's table layout: ``prob`` with ``parameter`` at each of ``values``.

    ``columns`` fills the simulation or theory columns; the rest are empty.

    Examples
    --------
    >>> import linmeta as lm
    >>> t = series_table(lm.presets.FIG2, "alpha_r", [0.1, 0.2], "theory_leading", theory_leading=[1.0, 2.0])
    >>> t[["kind", "alpha_r", "alpha_t", "theory_leading"]].values.tolist()
    [['theory_leading', 0.1, 0.2, 1.0], ['theory_leading', 0.2, 0.2, 2.0]]
    """
    table = pd.DataFrame({"kind": kind, **problem_columns(prob)}, index=range(len(values)))
    table[parameter] = list(values)
    for k, v in columns.items():
        table[k] = v
    return table.reindex(columns=["kind", *COLUMNS])


def draw_table(ax, table):
    """Draw any table in linmeta's layout on ``ax``: simulation and theory columns against the varied column."""
    x = varied_column(table)
    out = {"simulation": plotting.plot_simulation(ax, table, x=x, label="simulation (±2 SE)"),
           **{k: plotting.plot_theory(ax, table, kind=k, x=x) for k in THEORY_COLUMNS.values()}}
    ax.set_xlabel(plotting.SYMBOLS.get(x, x))
    ax.legend(loc="best")
    return out


def finish(parts, figure, series=("kind",)):
    """Return the figure table of ``parts``: ``figure``, ``series`` columns, linmeta's table columns, the version."""
    table = pd.concat([p.reindex(columns=[*series, *COLUMNS]) for p in parts], ignore_index=True)
    return stamp(table, figure)


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Return a figure's CSV read back with the column types of the table that was written."""
    with open(path, "rb") as fh:
        return read_table(fh.read())
