"""Shared sympy symbols for the derivations (theory.md §1–5), one per paper symbol.

Sizes are positive integers; rates are real (negative allowed); noise levels are
non-negative.  ``s2`` stands for ``|omega0 - w0|**2`` and ``d2`` for
``E|omega* - w0|**2``.  ``n`` is a generic sample size (Wishart moments).
"""
import sympy as sp

p, m, n_t, n_v, n_r, n = sp.symbols("p m n_t n_v n_r n", positive=True, integer=True)
alpha_t, alpha_r = sp.symbols("alpha_t alpha_r", real=True)
sigma, nu = sp.symbols("sigma nu", nonnegative=True)
s2, d2 = sp.symbols("s2 d2", nonnegative=True)
#: dummy eigenvalue variable: a polynomial f(h) stands for the matrix f(H)
h = sp.Symbol("h", real=True)

k = n_v * m  # number of validation equations


def h_of(alpha, n_pts):
    """``(1 - alpha)**2 + alpha**2 (p + 1) / n_pts`` (theory.md T0, T1)."""
    return (1 - alpha) ** 2 + alpha**2 * (p + 1) / n_pts


h_t = h_of(alpha_t, n_t)
h_r = h_of(alpha_r, n_r)
