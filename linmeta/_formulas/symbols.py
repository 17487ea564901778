"""The one list of names a formula may use, their sympy assumptions, and their values for a Problem.

Every part of linmeta that reads or writes a formula in the paper's symbols takes the names from here: the
parser (:mod:`~linmeta._formulas.grammar`), the float evaluator, the sympy bridge
(:mod:`~linmeta._formulas.sympy_bridge`, which gives ``linmeta.symbolic.symbols`` these assumptions) and
``lm.check``.  ``dist0`` is ``|omega0 - w0|``.

The spectral quantities of a problem with one Gaussian task family (inputs ``N(0, S)``, tasks
``N(w0, T)``, ``d0 = omega0 - w0``; docs: theory, M3): ``s_1 .. s_4`` the normalised traces
``tr(S^j)/p``, ``t_0 .. t_3`` the weighted task spreads ``tr(S^j T)``, and ``d_1 .. d_3`` the weighted
start distances ``d0' S^j d0``.  For the paper's model they are ``1``, ``nu^2`` and ``dist0^2``.  A
symbol a problem does not define (``nu`` with ``task_cov``, ``sigma`` or the spectral quantities of a
mixture or a user's sampler) is refused by name when a formula uses it.

Examples
--------
>>> import linmeta as lm
>>> SYMBOL_NAMES[:3], problem_values(lm.presets.FIG3)["p"], problem_values(lm.presets.FIG3)["dist0"]
(('p', 'm', 'n_t'), 30, 0.0)
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from linmeta.problem import Problem

__all__ = ["SYMBOL_NAMES", "SPECTRAL_NAMES", "ASSUMPTIONS", "FUNCTION_NAMES", "problem_values", "undefined_reason"]

#: the symbols of a formula, in the paper's order
SPECTRAL_NAMES = ("s_1", "s_2", "s_3", "s_4", "t_0", "t_1", "t_2", "t_3", "d_1", "d_2", "d_3")
SYMBOL_NAMES = ("p", "m", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r", "dist0", *SPECTRAL_NAMES)
_SIZE, _RATE, _SCALE = {"positive": True, "integer": True}, {"real": True}, {"nonnegative": True}
#: sympy assumptions per symbol: sizes are positive integers, rates real (negative allowed), scales non-negative
ASSUMPTIONS = {"p": _SIZE, "m": _SIZE, "n_t": _SIZE, "n_v": _SIZE, "n_r": _SIZE, "sigma": _SCALE, "nu": _SCALE,
               "alpha_t": _RATE, "alpha_r": _RATE, "dist0": _SCALE,
               **{name: ({"positive": True} if name.startswith("s_") else _SCALE) for name in SPECTRAL_NAMES}}
#: the functions a formula may call
FUNCTION_NAMES = ("sqrt", "exp", "log", "Abs")


def problem_values(prob: Problem) -> dict[str, float]:
    """``{symbol name: value}`` of a :class:`~linmeta.Problem`: every symbol it defines.

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> problem_values(lm.presets.FIG3)["p"], problem_values(lm.presets.FIG3)["dist0"]
    (30, 0.0)
    >>> aniso = lm.presets.FIG3.replace(input_cov=np.r_[np.ones(15), np.full(15, 3.0)])
    >>> problem_values(aniso)["s_2"], "nu" in problem_values(aniso.replace(nu=None, task_cov=np.zeros(30)))
    (5.0, False)
    """
    values = {name: getattr(prob, name) for name in ("p", "m", "n_t", "n_v", "n_r", "alpha_t", "alpha_r")}
    for name in ("sigma", "nu"):
        if getattr(prob, name) is not None:
            values[name] = getattr(prob, name)
    offset = prob.start_offset
    values["dist0"] = math.sqrt(float(offset @ offset))
    values.update(_spectral(prob, offset))
    return values


def undefined_reason(prob: Problem, name: str) -> str:
    """Why ``prob`` defines no value for the symbol ``name``."""
    if name in SPECTRAL_NAMES:
        return f"{name} is defined for one Gaussian task family (the paper's model or input_cov/task_cov), not here"
    if name == "nu":
        return "nu is not defined when task_cov gives the task prior (use t_0 = tr T)"
    return f"{name} is not defined for this problem (a mixture's or a task sampler's noise is its components')"


def _spectral(prob, offset):
    from linmeta._model import model_of  # the model layer knows the family

    model = model_of(prob)
    if model.isotropic:
        d2 = float(offset @ offset)
        return {**{f"s_{j}": 1.0 for j in range(1, 5)}, **{f"t_{j}": float(prob.nu) ** 2 for j in range(4)},
                **{f"d_{j}": d2 for j in range(1, 4)}}
    components = getattr(model, "components", ())
    if len(components) != 1:
        return {}
    c = components[0]
    d2 = (prob.omega0 - c.w0) ** 2
    return {**{f"s_{j}": float(np.mean(c.s**j)) for j in range(1, 5)},
            **{f"t_{j}": float(np.sum(c.s**j * c.t)) for j in range(4)},
            **{f"d_{j}": float(np.sum(c.s**j * d2)) for j in range(1, 4)}}
