"""Exact Wishart moments by Wick's theorem (docs: theory, derivation).

``H = X^T X / n`` with ``X`` an ``n x p`` matrix of independent standard
Gaussians.  ``E[tr H^k]`` and ``E[tr H^j tr H^k]`` are exact polynomials in
``n`` and ``p`` divided by ``n^(j+k)``.  Writing each trace as a cyclic product
of entries ``X[a, i]``, Wick's theorem turns the expectation into a sum over
perfect pairings of the ``2(j+k)`` factors; a pairing identifies the row
indices and the column indices of the paired factors, and contributes
``n^(#row cycles) p^(#column cycles)``.

Run ``python derivations/wishart.py``: prints the table, asserts the known
closed forms and a seeded Monte Carlo check, exits non-zero on failure.
"""
import sys

import numpy as np
import sympy as sp

from linmeta.symbolic._symbols import n, p
from linmeta.symbolic._wishart_moments import wick_moment as moment
from linmeta.symbolic._wishart_moments import wishart_moment

MAX_DEGREE = 4


def table():
    """All moments with total degree <= MAX_DEGREE, keyed by the tuple of powers."""
    keys = [(q,) for q in range(MAX_DEGREE + 1)]
    keys += [(j, q) for j in range(1, MAX_DEGREE + 1) for q in range(j, MAX_DEGREE + 1 - j)]
    return {key: moment(*key) for key in keys}


# Known closed forms (e.g. Graczyk, Letac & Massam 2003; W = X^T X):
# E tr W = np, E tr W^2 = np(n+p+1), E (tr W)^2 = np(np+2),
# E tr W^3 = np(n^2 + p^2 + 3np + 3n + 3p + 4).
KNOWN = {
    (0,): p,
    (1,): p,
    (2,): p * (n + p + 1) / n,
    (1, 1): p * (n * p + 2) / n,
    (3,): p * (n**2 + p**2 + 3 * n * p + 3 * n + 3 * p + 4) / n**2,
    (1, 2): p * (n**2 * p + n * p**2 + n * p + 4 * n + 4 * p + 4) / n**2,
}


def monte_carlo(key, n_val, p_val, n_samples, seed):
    """Sample mean and standard error of ``prod tr H^k`` at the given sizes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_val, p_val))
    H = np.einsum("sai,saj->sij", X, X) / n_val
    value = np.ones(n_samples)
    for q in key:
        value = value * np.trace(np.linalg.matrix_power(H, q), axis1=1, axis2=2)
    return value.mean(), value.std(ddof=1) / np.sqrt(n_samples)


def main():
    moments = table()
    for key, expr in moments.items():
        label = " ".join(f"tr H^{q}" for q in key)
        print(f"E[{label}] =")
        sp.pprint(expr)
    for key, expr in KNOWN.items():
        assert sp.simplify(moments[key] - expr) == 0, f"closed form mismatch for {key}"
    # (tr H)^2 needs no pairing across traces beyond the obvious: E (tr W)^2 = Var + mean^2
    assert sp.simplify(moments[(1, 1)] - moments[(1,)] ** 2 - 2 * p / n) == 0
    for key, expr in moments.items():
        if 0 in key:
            continue
        total = sum(key)
        # n = 1: H = x x^T, tr H^q = |x|^(2q), E|x|^(2K) = p(p+2)...(p+2K-2)
        chi_p = sp.prod([p + 2 * r for r in range(total)])
        assert sp.simplify(expr.subs(n, 1) - chi_p) == 0, f"n=1 limit fails for {key}"
        # p = 1: H = chi^2_n / n, E H^K = n(n+2)...(n+2K-2) / n^K
        chi_n = sp.prod([n + 2 * r for r in range(total)]) / n**total
        assert sp.simplify(expr.subs(p, 1) - chi_n) == 0, f"p=1 limit fails for {key}"
    # the Stein recursion (any order, used by linmeta) equals Wick's theorem
    for key in moments:
        assert sp.simplify(wishart_moment(key) - moments[key]) == 0, f"Stein != Wick for {key}"
    print("Stein recursion == Wick's theorem for every moment above")
    # Monte Carlo at small sizes: every moment within 5 standard errors
    n_val, p_val, n_samples = 6, 3, 200_000
    print(f"\nMonte Carlo, n={n_val}, p={p_val}, {n_samples} samples, seed 20240611:")
    worst = 0.0
    for i, (key, expr) in enumerate(moments.items()):
        exact = float(expr.subs({n: n_val, p: p_val}))
        mean, se = monte_carlo(key, n_val, p_val, n_samples, seed=20240611 + i)
        z = 0.0 if se == 0 else (mean - exact) / se
        worst = max(worst, abs(z))
        print(f"  {str(key):8s} exact {exact:12.5f}  MC {mean:12.5f} +- {se:.5f}  z = {z:+.2f}")
        assert abs(z) < 5, f"Monte Carlo disagrees with Wick for {key}: z = {z:.2f}"
    print(f"largest |z| = {worst:.2f}\nall Wishart checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
