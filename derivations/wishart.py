"""Exact Wishart moments by Wick's theorem (theory.md §5).

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
import functools
import sys

import numpy as np
import sympy as sp

from _symbols import h, n, p

MAX_DEGREE = 4


def _factors(powers):
    """Factors ``(row var, col var)`` of ``prod_k tr (X^T X)^k``."""
    out, label = [], 0
    for power in powers:
        rows = [("a", label + r) for r in range(power)]
        cols = [("i", label + r) for r in range(power)]
        for r in range(power):
            out.append((rows[r], cols[r]))                  # X[a_r, i_r]
            out.append((rows[r], cols[(r + 1) % power]))    # X[a_r, i_{r+1}]
        label += power
    return out


def _pairings(items):
    """All perfect matchings of ``items`` (a list of even length)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for j, other in enumerate(rest):
        for tail in _pairings(rest[:j] + rest[j + 1:]):
            yield [(first, other)] + tail


def _n_classes(variables, identified):
    """Number of equivalence classes of ``variables`` after the identifications."""
    parent = {v: v for v in variables}

    def find(v):
        while parent[v] != v:
            v = parent[v]
        return v

    for a, b in identified:
        parent[find(a)] = find(b)
    return len({find(v) for v in variables})


@functools.lru_cache(maxsize=None)
def moment(*powers):
    """``E[prod_k tr H^k]`` for ``H = X^T X / n``, exact, by Wick's theorem."""
    powers = tuple(sorted(powers))
    zero = sum(1 for q in powers if q == 0)
    powers = tuple(q for q in powers if q > 0)
    factors = _factors(powers)
    rows = {f[0] for f in factors}
    cols = {f[1] for f in factors}
    total = sp.Integer(0)
    for pairing in _pairings(list(range(len(factors)))):
        r = _n_classes(rows, [(factors[a][0], factors[b][0]) for a, b in pairing])
        c = _n_classes(cols, [(factors[a][1], factors[b][1]) for a, b in pairing])
        total += n**r * p**c
    return sp.factor(p**zero * total / n ** sum(powers))


def expect_trace(f, g=None):
    """``E[tr f(H)]`` or ``E[tr f(H) tr g(H)]`` for polynomials ``f, g`` in ``h``."""
    cf = sp.Poly(sp.expand(f), h).all_coeffs()[::-1]
    if g is None:
        return sp.expand(sum(c * moment(j) for j, c in enumerate(cf)))
    cg = sp.Poly(sp.expand(g), h).all_coeffs()[::-1]
    return sp.expand(sum(a * b * moment(i, j) for i, a in enumerate(cf) for j, b in enumerate(cg)))


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
