"""The one list of names a formula may use, their sympy assumptions, and their values for a Problem.

Every part of linmeta that reads or writes a formula in the paper's symbols takes the names from here: the
parser (:mod:`~linmeta._formulas.grammar`), the float evaluator, the sympy bridge
(:mod:`~linmeta._formulas.sympy_bridge`, which gives ``linmeta.symbolic.symbols`` these assumptions) and
``lm.check``.  ``dist0`` is ``|omega0 - w0|``.

Examples
--------
>>> import linmeta as lm
>>> SYMBOL_NAMES[:3], problem_values(lm.presets.FIG3)["p"], problem_values(lm.presets.FIG3)["dist0"]
(('p', 'm', 'n_t'), 30, 0.0)
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linmeta.problem import Problem

__all__ = ["SYMBOL_NAMES", "ASSUMPTIONS", "FUNCTION_NAMES", "problem_values"]

#: the symbols of a formula, in the paper's order
SYMBOL_NAMES = ("p", "m", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r", "dist0")
_SIZE, _RATE, _SCALE = {"positive": True, "integer": True}, {"real": True}, {"nonnegative": True}
#: sympy assumptions per symbol: sizes are positive integers, rates real (negative allowed), scales non-negative
ASSUMPTIONS = {"p": _SIZE, "m": _SIZE, "n_t": _SIZE, "n_v": _SIZE, "n_r": _SIZE, "sigma": _SCALE, "nu": _SCALE,
               "alpha_t": _RATE, "alpha_r": _RATE, "dist0": _SCALE}
#: the functions a formula may call
FUNCTION_NAMES = ("sqrt", "exp", "log", "Abs")


def problem_values(prob: Problem) -> dict[str, float]:
    """``{symbol name: value}`` of a :class:`~linmeta.Problem` (``dist0 = |omega0 - w0|``).

    Examples
    --------
    >>> import linmeta as lm
    >>> problem_values(lm.presets.FIG3)["p"], problem_values(lm.presets.FIG3)["dist0"]
    (30, 0.0)
    """
    values = {name: getattr(prob, name) for name in SYMBOL_NAMES if name != "dist0"}
    offset = prob.start_offset
    values["dist0"] = math.sqrt(float(offset @ offset))
    return values
