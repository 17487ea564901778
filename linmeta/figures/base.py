"""What every figure shares: the :class:`Figure` record, run scaling, provenance columns, theory look-ups.

Examples
--------
>>> from linmeta.figures.base import scaled_runs
>>> scaled_runs(1000, 0.01), scaled_runs(100, 0.001)
(10, 2)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from linmeta import __version__, theory
from linmeta.sweeping import read_table

__all__ = ["Figure", "Made", "scaled_runs", "theory_or_note", "with_problem", "stamp", "read_csv"]


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


def scaled_runs(n, runs_scale):
    """``round(n * runs_scale)``, at least 2 (a standard error needs two runs).

    >>> scaled_runs(1000, 0.01), scaled_runs(100, 0.001)
    (10, 2)
    """
    return max(2, int(round(n * runs_scale)))


def theory_or_note(name, notes, prob, **kwargs):
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
    got = theory.value_or_reason(name, prob, **kwargs)
    if got.reason:
        what = f"linmeta.theory.{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        notes.append(f"{what}: {got.reason}; drawn without it")
    return got.value


def stamp(table, figure):
    """Insert the ``figure`` column first and the ``linmeta_version`` column last; returns ``table``."""
    table.insert(0, "figure", figure)
    table["linmeta_version"] = __version__
    return table


def with_problem(table, prob, figure):
    """Add the problem's fields, the varied parameter's column and provenance to a curve table."""
    for k, v in prob.to_dict().items():
        table[k] = v
    varied = table["parameter"].iloc[0]
    table[varied] = table["value"]
    return stamp(table, figure)


def read_csv(path):
    """A figure's CSV read back with the column types of the table that was written."""
    with open(path, "rb") as fh:
        return read_table(fh.read())
