"""Leading-order theory for N-step MAML, first-order MAML and iMAML (theory.md §5, §6, §8, §9).

Every algorithm of issue 6 has an affine inner map.  In coordinates shifted by
``w0`` (``u = w - w0``), for MAML-type inner loops and iMAML alike,

    theta - w0 = A (omega - w0) + (I - A) u + F X_t^T z_t / n_t,      F = (I - A) H^{-1},

with ``A = a(H)``, ``F = f(H)`` functions of ``H = X_t^T X_t / n_t`` (so all of
``A, F, H`` commute):

* N-step MAML:  ``a(h) = (1 - alpha_t h)^N``, ``f(h) = alpha_t sum_{j<N} (1 - alpha_t h)^j``
  (polynomials of degree ``N`` and ``N - 1``);
* iMAML:        ``a(h) = lam / (h + lam)``,   ``f(h) = 1 / (h + lam)`` (resolvents).

The §5 derivation then goes through with ``A_i`` and ``alpha_t / n_t`` replaced
by ``A_i`` and ``F_i / n_t``; it needs only the isotropic means
``E[A^2] = tau2 I`` etc.  Writing ``tA2 = E tr A^2 / p``, ``tA4 = E tr A^4 / p``,
``tA2sq = E (tr A^2)^2 / p^2``, ``tF2H = E tr(F^2 H) / p``,
``tG = E tr(A^2 F^2 H) / p``, ``tAG = E[tr A^2 tr F^2 H] / p^2``:

* over-parameterised (T1 with ``Z Z^T ~ p tA2 I``):
  ``E|omega* - w0|^2 = (1 - k/p) s2 + k (nu^2 tA2 + sigma^2 p tF2H / n_t + sigma^2) / (p tA2)``;
* under-parameterised (T2 with ``sum_i A_i V_i A_i ~ m n_v tA2 I``):
  ``E|omega* - w0|^2 = E|xi|^2 / (m n_v^2 tA2^2)``, with
  ``E|xi|^2 = sigma^2 n_v p tA2 + sigma^2/n_t [n_v (n_v+1) p tG + n_v p^2 tAG]
            + nu^2/p [n_v (n_v+1) p tA4 + n_v p^2 tA2sq]``.

**Where it extends in closed form.**  For N-step MAML every ``t*`` is a finite
combination of Wishart moments ``E[prod_r tr H^{k_r}]`` (total degree up to
``4N``), exact polynomials in ``n_t, p``.  Wick pairings (``wishart.py``) cost
``(2K-1)!!`` and stop being practical beyond degree 6; this script derives
instead the integration-by-parts (Stein) recursion for real Wishart matrices,
``W = X^T X``:

    E[tr W^k G] = E[(n + k - 1) tr W^{k-1} G + sum_{l=1}^{k-1} tr W^l tr W^{k-1-l} G
                    + sum_r 2 j_r tr W^{k+j_r-1} G / tr W^{j_r}],   G = prod_r tr W^{j_r},

checks it against Wick's theorem, and emits it as exact integer arithmetic.
The result for ``N = 1`` is asserted to be Theorems 1 and 2 (derived forms).

**Where it does not.**  iMAML needs ``E tr (H + lam I)^{-j}``: resolvent moments
of a finite real Wishart matrix are not rational functions of ``n_t, p, lam``
(they are integrals against the Laguerre eigenvalue density; only their
large-size limits are algebraic, through the Marchenko-Pastur law).  So iMAML
has the exact conditional loss (T0) and the general structure above, but no
finite closed form here.  First-order MAML's fixed point ``(P^T Z)^{-1} P^T r``
is not a least-squares solution: the §5 step "replace ``sum_i A_i V_i A_i`` by
its mean" becomes "replace ``sum_i V_i A_i`` by ``m n_v E[A]``", whose error
terms are not symmetric and whose noise term couples ``E tr A`` with ``E tr A^2``;
that expansion is not done here.

Run ``python derivations/variants.py``: prints, asserts, exits non-zero on failure.
"""
import sys

import sympy as sp

from _codegen import function_source, module_source
from _symbols import alpha_t, m, n, n_t, n_v, nu, p, s2, sigma
from theorem1 import distance as t1_distance
from theorem2 import distance as t2_distance
from wishart import moment as wick_moment

tA2, tA4, tA2sq, tF2H, tG, tAG = sp.symbols("tA2 tA4 tA2sq tF2H tG tAG", positive=True)
k = n_v * m


def distance_over():
    """Leading-order ``E|omega* - w0|^2``, over-parameterised, in terms of the trace moments."""
    return (1 - k / p) * s2 + k * (nu**2 * tA2 + sigma**2 * p * tF2H / n_t + sigma**2) / (p * tA2)


def distance_under():
    """Leading-order ``E|omega* - w0|^2``, under-parameterised, in terms of the trace moments."""
    xi2 = (sigma**2 * n_v * p * tA2 + sigma**2 / n_t * (n_v * (n_v + 1) * p * tG + n_v * p**2 * tAG)
           + nu**2 / p * (n_v * (n_v + 1) * p * tA4 + n_v * p**2 * tA2sq))
    return xi2 / (m * n_v**2 * tA2**2)


# The exact real-Wishart moment recursion, emitted verbatim (checked below against Wick's theorem).
RECURSION = '''
@functools.lru_cache(maxsize=None)
def wishart_moment(powers, n, p):
    """``E[prod_r tr W^{k_r}]`` for ``W = X^T X``, ``X`` an ``n x p`` standard Gaussian matrix (exact int).

    ``powers`` is a sorted tuple of positive integers.  Integration by parts
    (Stein's lemma) on one factor ``tr W^k = sum X_ai (X W^{k-1})_ai`` gives
    ``E[tr W^k G] = E[(n + k - 1) tr W^{k-1} G + sum_{l=1}^{k-1} tr W^l tr W^{k-1-l} G
    + sum_r 2 j_r tr W^{k+j_r-1} G / tr W^{j_r}]``, with ``tr W^0 = p``.
    """
    if not powers:
        return 1
    k, rest = powers[-1], powers[:-1]

    def term(extra, base):
        ps = [q for q in base + tuple(extra) if q > 0]
        return p ** sum(1 for q in extra if q == 0) * wishart_moment(tuple(sorted(ps)), n, p)

    total = (n + k - 1) * term((k - 1,), rest)
    for l in range(1, k):
        total += term((l, k - 1 - l), rest)
    for r, j in enumerate(rest):
        total += 2 * j * term((k + j - 1,), rest[:r] + rest[r + 1:])
    return total


def _poly_mul(a, b):
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _expect(polys, n, p):
    """``E[prod tr f(H)]`` for polynomials ``f`` (coefficient lists, ascending) of ``H = W / n``."""
    total = 0
    def rec(idx, powers, coef):
        nonlocal total
        if idx == len(polys):
            zeros = sum(1 for q in powers if q == 0)
            ps = tuple(sorted(q for q in powers if q > 0))
            total += coef * p**zeros * fractions.Fraction(wishart_moment(ps, n, p), n ** sum(ps))
            return
        for deg, c in enumerate(polys[idx]):
            if c:
                rec(idx + 1, powers + (deg,), coef * c)
    rec(0, (), 1)
    return total


def nstep_trace_moments(alpha, N, n, p):
    """``(tA2, tA4, tA2sq, tF2H, tG, tAG)`` of N-step MAML, exact (``alpha`` a Fraction, ``n, p`` ints)."""
    step = [1, -alpha]
    a = [1]
    for _ in range(N):
        a = _poly_mul(a, step)
    f, power = [0], [1]
    for _ in range(N):  # f = alpha sum_{j<N} (1 - alpha h)^j
        f = [x + y for x, y in zip(f + [0] * len(power), [alpha * c for c in power] + [0] * len(f))]
        power = _poly_mul(power, step)
    f = [c for c in f]
    while len(f) > 1 and f[-1] == 0:
        f.pop()
    a2 = _poly_mul(a, a)
    a4 = _poly_mul(a2, a2)
    f2h = _poly_mul(_poly_mul(f, f), [0, 1])
    a2f2h = _poly_mul(a2, f2h)
    return (_expect([a2], n, p) / p, _expect([a4], n, p) / p, _expect([a2, a2], n, p) / p**2,
            _expect([f2h], n, p) / p, _expect([a2f2h], n, p) / p, _expect([a2, f2h], n, p) / p**2)
'''


def _recursion_namespace():
    import fractions
    import functools

    ns = {"functools": functools, "fractions": fractions}
    exec(RECURSION, ns)  # noqa: S102  (our own constant source, checked here)
    return ns


def emitted_code():
    """Text of ``linmeta/theory/_generated_variants.py``."""
    args_over = (p, m, n_v, n_t, sigma, nu, s2, tA2, tF2H)
    args_under = (p, m, n_v, n_t, sigma, nu, tA2, tA4, tA2sq, tG, tAG)
    functions = [
        ("distance_over", args_over, distance_over(),
         "Leading-order E|omega* - w0|^2, p > n_v m, from the trace moments (theory.md §5, T1)."),
        ("distance_under", args_under, distance_under(),
         "Leading-order E|omega* - w0|^2, p < n_v m, from the trace moments (theory.md §5, T2)."),
    ]
    text = module_source("Leading-order theory for affine inner maps (N-step MAML), theory.md §5-§6.",
                         "variants", functions)
    text = text.replace("import numpy\n", "import fractions\nimport functools\n\nimport numpy\n", 1)
    text = text.replace("__all__ = ['distance_over', 'distance_under']",
                        "__all__ = ['distance_over', 'distance_under', 'wishart_moment', 'nstep_trace_moments']")
    return text + "\n" + RECURSION.lstrip("\n")


def main():
    ns = _recursion_namespace()
    # 1. the recursion reproduces Wick's theorem for every moment of total degree <= 5
    keys = [(q,) for q in range(1, 6)] + [(i, j) for i in range(1, 5) for j in range(i, 6 - i)] + [(1, 1, 1), (1, 1, 2)]
    for key in keys:
        wick = sp.expand(wick_moment(*key) * n ** sum(key))
        for nv, pv in ((1, 1), (2, 3), (5, 4), (7, 11)):
            assert ns["wishart_moment"](tuple(sorted(key)), nv, pv) == wick.subs({n: nv, p: pv}), key
    print(f"Stein recursion == Wick's theorem for {len(keys)} moments x 4 sizes")
    # 2. at N = 1 the general formulas are Theorems 1 and 2 (derived forms)
    from theorem2 import g_functions

    g1, g2, g3, g4 = g_functions()
    h_t = (1 - alpha_t) ** 2 + alpha_t**2 * (p + 1) / n_t
    subs1 = {tA2: h_t, tF2H: alpha_t**2, tA4: g3, tA2sq: g4, tG: alpha_t**2 * g1, tAG: alpha_t**2 * g2}
    assert sp.simplify(distance_over().subs(subs1) - t1_distance()) == 0
    assert sp.simplify(distance_under().subs(subs1) - t2_distance()) == 0
    print("N = 1: distance_over == Theorem 1, distance_under == Theorem 2 (derived)")
    # 3. the moments used at N = 1 by the recursion equal the symbolic ones at a rational point
    from fractions import Fraction

    a = Fraction(-3, 10)
    got = ns["nstep_trace_moments"](a, 1, 5, 30)
    want = [float(x.subs({alpha_t: sp.Rational(-3, 10), n_t: 5, p: 30})) for x in (h_t, g3, g4, alpha_t**2, alpha_t**2 * g1,
                                                                                   alpha_t**2 * g2)]
    assert all(abs(float(x) - y) <= 1e-12 * abs(y) for x, y in zip(got, want)), (got, want)
    # 4. N-step limits: alpha = 0 gives A = I, F = 0; N = 2 equals (1 - a h)^2 computed by hand
    z = ns["nstep_trace_moments"](Fraction(0), 3, 5, 30)
    assert z[:3] == (1, 1, 1) and z[3:] == (0, 0, 0)
    two = ns["nstep_trace_moments"](a, 2, 5, 30)[0]
    hand = sp.expand(((1 - alpha_t * sp.Symbol("h")) ** 4))
    from wishart import expect_trace
    import _symbols

    hand = expect_trace(hand.subs(sp.Symbol("h"), _symbols.h)).subs({n: 5, p: 30, alpha_t: sp.Rational(-3, 10)}) / 30
    assert sp.Rational(two.numerator, two.denominator) == hand
    print("N-step moments: N=1 match g1..g4 and h_t; alpha=0 and N=2 limits hold")
    for N in (1, 2, 5, 10):
        t = [float(x) for x in ns["nstep_trace_moments"](Fraction(-1, 100), N, 5, 30)]
        print(f"  FIG3 sizes, alpha_t = -0.01, N = {N:2d}: tA2 = {t[0]:.6f}, tA4 = {t[1]:.6f}, tF2H = {t[3]:.3e}")
    print("all variant derivation checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
