"""Leading-order theory emitted as NumPy code: ``linmeta/theory/_generated.py``.

Collects the expressions of :mod:`linmeta.symbolic` checked by ``theorem1.py``
(T0, T1, T1a) and ``theorem2.py`` (T2, g1..g4).  ``emitted_code()`` returns the module text;
``functions()`` returns ``(name, args, expressions, docstring)`` so a test can
evaluate the exact sympy expressions against the emitted float code.

Run ``python derivations/leading_order.py`` to print the emitted module.
"""
import sys

import sympy as sp

from linmeta.symbolic import _theorems as T
from linmeta.symbolic._codegen import module_source
from linmeta.symbolic._symbols import alpha_t, d2, m, n_r, n_t, n_v, nu, p, s2, sigma

TITLE = "Leading-order MAML theory (docs: theory, T0, T1, T1a, T2)."


def functions():
    """Return the emitted functions: ``(name, args, expressions, docstring)``."""
    sizes = (alpha_t, p, m, n_t, n_v, sigma, nu)
    return [
        ("g", (alpha_t, n_t, p), T.g_functions(),
         "Return (g1, g2, g3, g4) of theorem 2 (docs: theory, T2, derivation).\n\n"
         "g1 = E tr(H A^2)/p, g2 = E[tr H tr A^2]/p^2, g3 = E tr A^4/p, g4 = E[(tr A^2)^2]/p^2,\n"
         "with A = I - alpha_t H and H Wishart with n_t points."),
        ("distance_overparameterized", sizes + (s2,), sp.simplify(T.t1_distance()),
         "Leading-order E|omega* - w0|^2 for p > n_v m; s2 = |omega0 - w0|^2 (docs: theory, T1)."),
        ("distance_underparameterized", sizes, T.t2_distance(),
         "Leading-order E|omega* - w0|^2 for p < n_v m, derived (docs: theory, T2, derivation)."),
        ("distance_underparameterized_printed", sizes, T.t2_printed_distance(),
         "E|omega* - w0|^2 implied by theorem 2 as printed (prefactor h_r/(2 h_t)) (docs: theory, T2)."),
        ("optimal_alpha_t_overparameterized", (p, n_t), T.alpha_t_stationary()[0],
         "alpha_t^-, the minimiser over alpha_t of theorem 1 (docs: theory, T1a)."),
        ("optimal_alpha_r_given_distance", (d2, p, n_r, sigma, nu), T.optimal_alpha_r(d2),
         "Minimiser over alpha_r of (T0) given E|omega* - w0|^2 = d2 (docs: theory, T1a)."),
    ]


def emitted_code():
    """Complete text of ``linmeta/theory/_generated.py``."""
    return module_source(TITLE, "leading_order", functions())


if __name__ == "__main__":
    print(emitted_code())
    sys.exit(0)
