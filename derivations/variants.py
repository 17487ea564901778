"""Leading-order theory for N-step MAML, first-order MAML and iMAML (docs: theory, derivation, B1, I1, F1).

Every algorithm (N-step MAML, first-order MAML, iMAML) has an affine inner map.  In coordinates shifted by
``w0`` (``u = w - w0``), for MAML-type inner loops and iMAML alike,

    theta - w0 = A (omega - w0) + (I - A) u + F X_t^T z_t / n_t,      F = (I - A) H^{-1},

with ``A = a(H)``, ``F = f(H)`` functions of ``H = X_t^T X_t / n_t`` (so all of
``A, F, H`` commute):

* N-step MAML:  ``a(h) = (1 - alpha_t h)^N``, ``f(h) = alpha_t sum_{j<N} (1 - alpha_t h)^j``
  (polynomials of degree ``N`` and ``N - 1``);
* iMAML:        ``a(h) = lam / (h + lam)``,   ``f(h) = 1 / (h + lam)`` (resolvents).

The section-5 derivation then goes through with ``A_i`` and ``alpha_t / n_t`` replaced
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

checks it against Wick's theorem; linmeta evaluates it in exact rational
arithmetic at runtime (``linmeta.theory._wishart_exact``).
The result for ``N = 1`` is asserted to be Theorems 1 and 2 (derived forms).

**Where it does not.**  iMAML needs ``E tr (H + lam I)^{-j}``: resolvent moments
of a finite real Wishart matrix are not rational functions of ``n_t, p, lam``
(they are integrals against the Laguerre eigenvalue density; only their
large-size limits are algebraic, through the Marchenko-Pastur law).  So iMAML
has the exact conditional loss (T0) and the general structure above, but no
finite closed form here.  First-order MAML's fixed point ``(P^T Z)^{-1} P^T r``
is not a least-squares solution: the section-5 step "replace ``sum_i A_i V_i A_i`` by
its mean" becomes "replace ``sum_i V_i A_i`` by ``m n_v E[A]``", whose error
terms are not symmetric and whose noise term couples ``E tr A`` with ``E tr A^2``;
that expansion is not done here.

Run ``python derivations/variants.py``: prints, asserts, exits non-zero on failure.
"""
import sys
from fractions import Fraction

import sympy as sp

from linmeta.symbolic import _theorems as T
from linmeta.symbolic._codegen import module_source
from linmeta.symbolic._symbols import alpha_t, h, m, n, n_t, n_v, nu, p, s2, sigma
from linmeta.symbolic._wishart_moments import expect_trace, wick_moment
from linmeta.theory import _wishart_exact as runtime

tA2, tA4, tA2sq, tF2H, tG, tAG = T.tA2, T.tA4, T.tA2sq, T.tF2H, T.tG, T.tAG
distance_over, distance_under = T.nstep_distance_over, T.nstep_distance_under


def emitted_code():
    """Text of ``linmeta/theory/_generated_variants.py``."""
    args_over = (p, m, n_v, n_t, sigma, nu, s2, tA2, tF2H)
    args_under = (p, m, n_v, n_t, sigma, nu, tA2, tA4, tA2sq, tG, tAG)
    functions = [
        ("distance_over", args_over, distance_over(),
         "Leading-order E|omega* - w0|^2, p > n_v m, from the trace moments (docs: theory, derivation, T1)."),
        ("distance_under", args_under, distance_under(),
         "Leading-order E|omega* - w0|^2, p < n_v m, from the trace moments (docs: theory, derivation, T2)."),
    ]
    return module_source("Leading-order theory for affine inner maps (N-step MAML) (docs: theory, derivation, B1).",
                         "variants", functions)


def main():
    # 1. the runtime recursion reproduces Wick's theorem for every moment of total degree <= 5
    keys = [(q,) for q in range(1, 6)] + [(i, j) for i in range(1, 5) for j in range(i, 6 - i)] + [(1, 1, 1), (1, 1, 2)]
    for key in keys:
        wick = sp.expand(wick_moment(*key) * n ** sum(key))
        for nv, pv in ((1, 1), (2, 3), (5, 4), (7, 11)):
            assert runtime.raw_moment(tuple(sorted(key)), nv, pv) == wick.subs({n: nv, p: pv}), key
    print(f"Stein recursion (runtime, exact integers) == Wick's theorem for {len(keys)} moments x 4 sizes")
    # 2. at N = 1 the general formulas are Theorems 1 and 2 (derived forms)
    g1, g2, g3, g4 = T.g_functions()
    h_t = (1 - alpha_t) ** 2 + alpha_t**2 * (p + 1) / n_t
    subs1 = {tA2: h_t, tF2H: alpha_t**2, tA4: g3, tA2sq: g4, tG: alpha_t**2 * g1, tAG: alpha_t**2 * g2}
    assert sp.simplify(distance_over().subs(subs1) - T.t1_distance()) == 0
    assert sp.simplify(distance_under().subs(subs1) - T.t2_distance()) == 0
    print("N = 1: distance_over == Theorem 1, distance_under == Theorem 2 (derived)")
    # 3. the runtime N-step moments equal the symbolic ones (exactly, at rational points)
    a = Fraction(-3, 10)
    for N in (1, 2, 3):
        sym = T.nstep_trace_moments(N)
        for nv, pv in ((5, 30), (3, 2)):
            got = runtime.nstep_trace_moments(a, N, nv, pv)
            want = [x.subs({alpha_t: sp.Rational(-3, 10), n_t: nv, p: pv}) for x in sym]
            assert all(sp.Rational(x.numerator, x.denominator) == y
                       for x, y in zip(got, want, strict=True)), (N, got, want)
    got = runtime.nstep_trace_moments(a, 1, 5, 30)
    want = [x.subs({alpha_t: sp.Rational(-3, 10), n_t: 5, p: 30}) for x in
            (h_t, g3, g4, alpha_t**2, alpha_t**2 * g1, alpha_t**2 * g2)]
    assert all(sp.Rational(x.numerator, x.denominator) == y for x, y in zip(got, want, strict=True)), (got, want)
    # 4. N-step limits: alpha = 0 gives A = I, F = 0; N = 2 equals (1 - a h)^2 computed by hand
    z = runtime.nstep_trace_moments(Fraction(0), 3, 5, 30)
    assert z[:3] == (1, 1, 1) and z[3:] == (0, 0, 0)
    two = runtime.nstep_trace_moments(a, 2, 5, 30)[0]
    hand = expect_trace(sp.expand((1 - alpha_t * h) ** 4)).subs({n: 5, p: 30, alpha_t: sp.Rational(-3, 10)}) / 30
    assert sp.Rational(two.numerator, two.denominator) == hand
    print("N-step moments: runtime == symbolic for N = 1, 2, 3; N=1 match g1..g4 and h_t; alpha=0 and N=2 limits hold")
    for N in (1, 2, 5, 10):
        t = [float(x) for x in runtime.nstep_trace_moments(Fraction(-1, 100), N, 5, 30)]
        print(f"  FIG3 sizes, alpha_t = -0.01, N = {N:2d}: tA2 = {t[0]:.6f}, tA4 = {t[1]:.6f}, tF2H = {t[3]:.3e}")
    print("all variant derivation checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
