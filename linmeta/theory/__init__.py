"""Closed-form theory of one-step MAML on Gaussian mixed linear regression.

Leading-order average test loss of theorem 1 (over-parameterised, ``p > n_v m``)
and theorem 2 (under-parameterised, ``p < n_v m``), the expected distance
``E|omega* - w0|^2`` they rest on, optimal rates and the functions ``g1..g4``.
:func:`value_or_reason` is the front door used by the CLI, sweeps and figures:
a value, or the documented reason why there is none.
The formulas are derived with sympy in ``derivations/`` and emitted as NumPy
code into ``_generated.py`` (``python derivations/emit.py``); sympy is never
imported at runtime.

Theorem 2 as printed in the talk has prefactor ``h_r/(2 h_t)``; the derivation
gives ``h_r/(2 h_t^2)`` (``form="derived"``, the default).  ``form="printed"``
keeps the printed one for comparison.

Examples
--------
>>> import linmeta as lm
>>> lm.theory.optimal_alpha_t(lm.presets.FIG2) < 0
True

References
----------
(docs: theory, T0, T1, T1a, T2, §5).
"""
from linmeta.moments import InfiniteMomentWarning
from linmeta.theory._available import QUANTITIES, TheoryValue, value_or_reason
from linmeta.theory._leading import APPROXIMATIONS, FORMS, expected_distance, g, test_loss
from linmeta.theory._optima import optimal_alpha_r, optimal_alpha_t
from linmeta.theory._warnings import ApproximationDomainWarning

__all__ = ["test_loss", "expected_distance", "optimal_alpha_t", "optimal_alpha_r", "g", "FORMS", "APPROXIMATIONS",
           "InfiniteMomentWarning", "ApproximationDomainWarning",
           "value_or_reason", "TheoryValue", "QUANTITIES"]
