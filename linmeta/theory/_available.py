"""The theory front door: a closed-form value, or the documented reason there is none.

Whether a quantity has closed-form theory for a problem is decided here, once,
for every caller (the CLI, sweeps, figures).  The reasons come from the
theory itself: a :class:`NotImplementedError` raised by
:mod:`linmeta.theory` carries why no closed form is given (first-order MAML,
iMAML, an optimum of N-step MAML); an optimum over a rate that the algorithm
does not read has none; the printed form of Theorem 2 exists for one-step
MAML in the under-parameterised regime only.  A value that overflows
(:class:`linmeta.NonFiniteResultError`) becomes a reason only where the
caller asks for it (``not_finite="reason"``); every other error is raised.
"""
from __future__ import annotations

import importlib
from typing import NamedTuple

import numpy as np

from linmeta._model import model_of
from linmeta.errors import NonFiniteResultError
from linmeta.inner_maps import INNER_MAPS, uses_one_step_kernel
from linmeta.problem import Problem
from linmeta.theory._finite import not_covered

__all__ = ["QUANTITIES", "TheoryValue", "value_or_reason"]

#: The quantities :func:`value_or_reason` evaluates: functions of :mod:`linmeta.theory`.
QUANTITIES = ("test_loss", "expected_distance", "optimal_alpha_t", "optimal_alpha_r")
_NOT_FINITE = ("raise", "reason")


class TheoryValue(NamedTuple):
    """A theory value, or why there is none.

    Attributes
    ----------
    value : float or ndarray or None
        The value; ``None`` when there is no closed form (then ``reason`` says why).
    reason : str
        ``""`` when there is a value.
    defined : bool
        ``False`` when the quantity does not exist for the problem at all (an
        optimum over a rate the algorithm does not read, the printed form of
        Theorem 2 outside its regime), as opposed to existing without a closed
        form or a finite value.
    """

    value: float | np.ndarray | None
    reason: str
    defined: bool = True

    @property
    def available(self) -> bool:
        """Whether there is a value."""
        return self.value is not None


def _one_line(text):
    return " ".join(str(text).split())


def _unavailable(quantity, prob, form, approximation):
    """Return the documented reason why ``quantity`` cannot be asked of ``prob`` at all, or ``""``."""
    if approximation == "finite" and quantity in ("test_loss", "expected_distance"):
        reason = not_covered(prob, pooled=INNER_MAPS[prob.algorithm].pooled)
        if reason:
            return f"approximation='finite': {reason}"
    if quantity.startswith("optimal_"):
        rate = quantity[len("optimal_"):]
        if rate in INNER_MAPS[prob.algorithm].fixed:
            return f"algorithm={prob.algorithm!r} reads no {rate}, so the loss has no optimum in it"
    if form == "printed" and not model_of(prob).isotropic:
        return "form='printed' is Theorem 2 as printed in the talk: it exists for the paper's isotropic model only"
    if form == "printed" and (not uses_one_step_kernel(prob) or prob.regime != "underparameterized"):
        return ("form='printed' is Theorem 2 as printed in the talk: it exists for one-step MAML in the "
                f"underparameterized regime only (algorithm={prob.algorithm!r}, n_steps={prob.n_steps}, "
                f"regime {prob.regime})")
    return ""


def value_or_reason(quantity: str, prob: Problem, *, not_finite: str = "raise", **kwargs: object) -> TheoryValue:
    """``linmeta.theory.<quantity>(prob, **kwargs)``, or the documented reason why it has no value.

    Parameters
    ----------
    quantity : {"test_loss", "expected_distance", "optimal_alpha_t", "optimal_alpha_r"}
    prob : Problem
    not_finite : {"raise", "reason"}, default="raise"
        What a value that overflows double precision
        (:class:`linmeta.NonFiniteResultError`) becomes: raised, or a reason
        (its message).
    **kwargs
        Passed on (``form``, ``approximation``, ``alpha_t``, ``alpha_r``).

    Returns
    -------
    TheoryValue
        ``(value, "")``, or ``(None, reason)`` where the theory gives no
        closed form (its :class:`NotImplementedError` message), the quantity
        does not exist for the problem (an optimum over a rate the algorithm
        does not read; ``form="printed"`` outside one-step MAML in the
        under-parameterised regime; ``approximation="finite"`` outside
        one-step MAML and ERM or within a few rows of the threshold) or, with ``not_finite="reason"``, the
        value overflows.

    Raises
    ------
    ValueError
        Bad arguments (an unknown ``quantity`` or ``not_finite``, or any error
        the theory raises for its arguments), and
        :class:`linmeta.NonFiniteResultError` unless ``not_finite="reason"``.

    Examples
    --------
    >>> import linmeta as lm
    >>> v = lm.theory.value_or_reason("test_loss", lm.presets.FIG2)
    >>> round(v.value, 6), v.reason, v.available
    (0.721819, '', True)
    >>> v = lm.theory.value_or_reason("test_loss", lm.presets.FIG3.replace(algorithm="fomaml"))
    >>> v.value, v.reason[:45]
    (None, "no closed-form theory for algorithm='fomaml':")
    >>> lm.theory.value_or_reason("optimal_alpha_t", lm.presets.FIG2.replace(algorithm="erm")).reason
    "algorithm='erm' reads no alpha_t, so the loss has no optimum in it"
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {QUANTITIES}; got {quantity!r}")
    if not_finite not in _NOT_FINITE:
        raise ValueError(f"not_finite must be one of {_NOT_FINITE}; got {not_finite!r}")
    if not isinstance(prob, Problem):
        raise ValueError(f"prob must be a linmeta.Problem; got {type(prob).__name__}")
    reason = _unavailable(quantity, prob, kwargs.get("form", "derived"), kwargs.get("approximation", "leading"))
    if reason:
        return TheoryValue(None, reason, defined=False)
    try:
        function = getattr(importlib.import_module("linmeta.theory"), quantity)   # the public function
        return TheoryValue(function(prob, **kwargs), "")
    except NotImplementedError as err:
        return TheoryValue(None, _one_line(err))
    except NonFiniteResultError as err:
        if not_finite == "raise":
            raise
        return TheoryValue(None, _one_line(err))
