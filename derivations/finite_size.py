"""Finite-size theory of E|omega* - w0|^2 beyond Theorems 1 and 2 (docs: theory, T0, T1, T2, derivation).

Run ``python derivations/finite_size.py``: it derives every formula with sympy, prints it,
asserts the limit cases and exits non-zero if an assertion fails.  The expressions live in
:mod:`linmeta.symbolic` (symbols, Wishart moments, ``_theorems``); ``functions()`` lists the
emitted ones and ``emitted_code()`` returns the text of ``linmeta/theory/_generated_finite.py``
(the one emitter, ``linmeta.symbolic._codegen``).  Only the exact ``alpha_t = 0`` results are
emitted: they are what ``linmeta.theory._finite`` calls.

Notation: ``H = X^T X / n_t`` (X is n_t x p Gaussian), ``A = I - alpha_t H``,
``h = h_t = E tr A^2 / p``, ``k = n_v m``, ``N = k`` rows in the under-parameterised stack.
WLOG ``w0 = 0``; ``|omega0 - w0|^2`` is written ``d0``.

Exact results (alpha_t = 0)
---------------------------
Over-parameterised (p > k), with G = Z Z^T ~ Wishart_k(p):
    E|omega* - w0|^2 = (1 - k/p) d0 + nu^2 k (p - n_v - 1) / (p (p - k - 1)) + sigma^2 k / (p - k - 1)
  (E tr G^{-1} = k/(p-k-1); the task term is E tr(G^{-1} blockdiag G), computed from the
  Schur complement G_11.2 ~ Wishart_{n_v}(p - k + n_v), independent of G_12 G_22^{-1/2}.)
Under-parameterised (p < k), with S = X^T X ~ Wishart_p(N), N = k:
    E|omega* - w0|^2 = nu^2/p [N a + (n_v - 1)(p - N a)/(N - 1)] + sigma^2 p / (N - p - 1),
    a = E[(x^T S^{-2} x)|x|^2] = p (N - 2)(p + 2) / (N (N + 2)(N - p - 1))
  (a row x = S^{1/2} y with y a row of a Haar Stiefel frame independent of S; E|y|^4 =
  p(p+2)/(N(N+2)); E[tr S tr S^{-1}] = p(Np - 2)/(N - p - 1); rows are exchangeable and
  sum_{r,s} (x_r^T S^{-2} x_s)(x_s^T x_r) = p).

General alpha_t (approximate, derived; no fitted constant)
----------------------------------------------------------
Over-parameterised: G = Z Z^T = g0 I + Delta with g0 = p h.  The Dyson (geometric) resummation
of the second-order self-energy, Sigma = E tr Delta^2 / (k g0), gives the dressed propagator
gamma = 1/(g0 - Sigma); first-order vertex terms carry one dressed and one bare propagator.
    E tr G^{-1}             ~ k gamma
    E tr(G^{-1} bdiag G)    ~ k + gamma E tr(Delta offdiag G)/g0 = k [1 + (k - n_v) p h^2 gamma / g0]
    E tr(G^{-1} B_H)        ~ gamma [k p - E tr(Delta B_H)/g0],   (B_H)_rs = x_r^T H x_s, same task
All three reduce to the exact alpha_t = 0 results (asserted below); the formula is
``linmeta.symbolic._theorems.dyson_over``, kept for reference and as a negative control.
Under-parameterised: E|omega* - w0|^2 = sigma^2 E tr S^{-1} + (task term) + (training-noise term)
exactly, for every alpha_t (sum_i tr(S^{-2} A_i V_i A_i) = tr S^{-1}).  S = c I + D, c = m n_v h;
the Dyson resummation gives E tr S^{-1} ~ p / (c - m q / c), q = E tr D_1^2 / p, exact at
alpha_t = 0.  The task and training-noise terms stay at leading order (docs: theory, derivation) with exact
finite-n Wishart moments; their next-order terms do not converge.
This Dyson formula (``linmeta.symbolic._theorems.dyson_under``) is kept for reference and as a
negative control in the tests; the package now uses the scheme below.

Over-parameterised, general alpha_t: exact reduction to one task (used by linmeta)
-------------------------------------------------------------------------------
omega* - w0 = (I - P)(omega0 - w0) + S^+ sum_i xi_i (P = projector on the row space of Z, rank k),
and Z S^+2 Z^T = G^-1 (G = Z Z^T), so with B_i = X_v,i A_i, W_i = B_i B_i^T = G_ii,
    E|omega* - w0|^2 = (1 - k/p) d0 + sum_i E tr[(G^-1)_ii M_i],
    M_i = (nu^2/p) W_i + sigma^2 I + sigma^2 (alpha_t^2/n_t) X_v,i H_i X_v,i^T.
Schur: (G^-1)_ii = (B_i (I - P_-i) B_i^T)^-1, P_-i the projector on the other tasks' rows.  Their
law is invariant under X -> X O, so I - P_-i is a Haar projector of rank d = p - k + n_v,
independent of task i.  Writing B_i = W_i^{1/2} V (V orthonormal rows), (G^-1)_ii =
W^{-1/2} J^-1 W^{-1/2} with J = V (I - P_-i) V^T ~ matrix Beta, independent of (W, M), and
E J^-1 = (p - n_v - 1)/(d - n_v - 1) I = (p - n_v - 1)/(p - k - 1) I.  Hence, exactly,
    E|omega* - w0|^2 = (1 - k/p) d0 + m (p - n_v - 1)/(p - k - 1)
                       [nu^2 n_v/p + sigma^2 E tr W^-1 + sigma^2 (alpha_t^2/n_t) E tr W^-1 X_v H X_v^T],
one task only (asserted below to give the exact alpha_t = 0 result with E tr W^-1 = n_v/(p-n_v-1)).
The two single-task expectations are not closed-form; linmeta takes them from the column fixed
point of the next section at kappa = 0 (sum_j a_j x_j^T W^-1 x_j = n_v and tr W^-1 W W^-1 = tr W^-1
fix r = tr W^-1/n_v and u = tr W^-2/n_v; E tr W^-1 X_v H X_v^T = sum_j eta_j E[k_j/(1 + a_j k_j)]).
At alpha_t = 0 that gives E tr W^-1 0.08 % (p = 60, n_v = 2) / 0.2 % (p = 50, n_v = 4) high, so
it is not exact there; linmeta uses the exact alpha_t = 0 result.

Under-parameterised, general alpha_t: nested leave-one-out (used by linmeta)
---------------------------------------------------------------------------
With F_i = A_i V_i A_i, S = sum_i F_i and Q_i = A_i V_i H_i V_i A_i, exactly
    E|omega* - w0|^2 = sigma^2 E tr S^-1 + (nu^2/p) m E tr(S^-2 F_1^2) + sigma^2 alpha_t^2/n_t m E tr(S^-2 Q_1),
and m E tr(S^-2 Q_1) = -d/deps E tr(sum_i (F_i + eps Q_i))^-1 at eps = 0.
(1) Tasks (leave one out, Sherman-Morrison-Woodbury): E[S^-1 | F_1] ~ (kappa + F_1)^-1 with a
    scalar kappa standing for S_-1 (rotation invariance makes E S_-1^-1 a multiple of I).  With
    p = sum_i tr(S^-1 F_i) this gives chi(kappa) = p/m, chi = E tr F (kappa + F)^-1, and differentiating
    the same equation for F + eps Q:
        E|omega* - w0|^2 = sigma^2 (m-1) p/(m kappa)
                         + (m-1) p/(p - m psi1) [nu^2 psi1/p + sigma^2 alpha_t^2 psi2/n_t],
        psi1 = E tr F^2 (kappa+F)^-2,   psi2 = E tr (kappa+F)^-2 Q.
    (Leading order: kappa = (m-1) n_v h_t, psi ~ E tr(.)/kappa^2, recovering derivation up to 1/m.)
(2) One task, columns of X_v in the eigenbasis of H (eigenvalues eta_j, a_j = (1 - alpha_t eta_j)^2):
    W = X_v A^2 X_v^T = sum_j a_j x_j x_j^T (n_v x n_v), R = (kappa + W)^-1, and exactly
        chi = sum_j a_j k_j/(1 + a_j k_j),  x_j^T R W R x_j = (z_j + a_j k_j^2)/(1 + a_j k_j)^2,
        psi1 = sum_j a_j (that),  psi2 = sum_j eta_j (that),
    k_j = x_j^T R_-j x_j, z_j = x_j^T R_-j W_-j R_-j x_j.  Approximations (stated, not fitted):
    k_j has its Gaussian mean n_v r_-j and variance 2 n_v u_-j (r = tr R/n_v, u = tr R^2/n_v) and is
    given the Gamma law with these two moments; z_j = k_j s_-j/r_-j (s = r - kappa u); the
    leave-one-column-out shifts are taken with R_-j ~ r I inside them:
        r_-j = r + a_j r^2 E[q/(1 + a_j r q)]/n_v,
        u_-j = u + E[2 a_j r^3 q/(1 + a_j r q) - a_j^2 r^4 q^2/(1 + a_j r q)^2]/n_v,  q ~ chi^2_{n_v};
    closure: n_v = kappa tr R + chi gives r = (n_v - chi)/(kappa n_v); kappa tr R^2 = tr R - tr RWR gives
    u = (r - s)/kappa with n_v s = sum_j a_j E[(u_-j/r_-j) k_j/(1 + a_j k_j)^2].  Sums over j are
    p E_eta[.] with a K-point Gauss rule for one eigenvalue of H, built from the exact moments
    E tr H^k (Stein recursion below, checked against Wick).  Solved by fixed-point iteration in
    (r, u) jointly with kappa (Newton, log variables).  To second order in 1/kappa this reproduces
    chi = E tr F/kappa - E tr F^2/kappa^2 exactly at alpha_t = 0 (asserted below); for alpha_t != 0 the
    second-order term lacks n_v Var(tr A^2) (tasks see the mean environment, one-point density of
    H), so for m -> infinity at fixed p the scheme does not reduce to the leading order (-0.4 % at
    FIG3 sizes, alpha_t = -1, m >= 400).
    Large-m limit: fluctuation of H.  Wishart: E[V B V] = n_v (n_v + 1) B + n_v tr(B) I for
    V = X_v^T X_v, so exactly E tr F^2 = n_v (n_v+1) E tr A^4 + n_v E (tr A^2)^2 and
    E tr Q = n_v (n_v+1) E tr H A^2 + n_v E tr H tr A^2; the scheme's 1/kappa^2 coefficients of psi1
    and psi2 have (E tr A^2)^2 and E tr H E tr A^2 instead (checked numerically at kappa = 1e7):
    it evaluates the single-task functional f at the mean eigenvalue law of H, f(E mu_H), where
    the single-task expectation is E_H f(mu_H).  Second order in dmu = mu_H - E mu_H: represent
    dmu by a random perturbation dw of the K node weights of the Gauss rule, exact for every
    polynomial test function of degree < K: dw_i = w_i sum_{l=1}^{K-1} pi_l(eta_i) c_l/|pi_l|^2,
    c_l = (tr pi_l(H) - E tr pi_l(H))/p, pi_l the monic orthogonal polynomials of the rule (exact
    rational coefficients from the Chebyshev recurrence); Cov(c_l, c_k) is exact from the joint
    Stein moments E tr H^i tr H^j.  Then E f(mu_H) ~ f(w) + sum_k [f(w + s_k v_k) + f(w - s_k v_k)
    - 2 f(w)]/2 over the eigenpairs (s_k^2, v_k) of Cov(dw) (symmetric sigma points: exact for
    quadratic f), with the column fixed point (r, u) re-solved for each sigma point (on a quadratic
    model of the node terms); kappa moves to first order, kappa = lam0 - dchi/chi'(lam0), and psi_k by
    psi_k'(lam0)(kappa - lam0) (implicit differentiation of the fixed point).  As kappa -> infinity
    f is quadratic in the weights to the needed order, so the term restores n_v Var(tr A^2)/kappa^2
    and n_v Cov(tr H, tr A^2)/kappa^2 exactly: |D/D_T2 - 1| falls like 1/m
    (derivations/finite_limits.py: 1.3e-6 at m = 1e5, alpha_t = -1, slope -0.99).  At A = I
    (alpha_t = 0) the term vanishes.  At finite kappa it is much smaller than the bare 1/kappa^2
    terms (FIG3: +0.007 % of the loss, where adding n_v Var(tr A^2)/kappa^2 alone gives +0.2 % and
    moves the result away from simulation).  The same term is added to E tr W^-1 and
    E tr W^-1 X_v H X_v^T of the over-parameterised one-task reduction (kappa = 0).
    Exact at alpha_t = 0.  The scheme is not exact at alpha_t = 0 (relative 6e-5 at FIG3, 3.6e-3 at
    p = n_t = n_v = 10, m = 5): the Gamma law of k_j = x_j^T R_-j x_j has the conditional
    (given R_-j) variance 2 n_v u_-j and ignores the fluctuation of tr R_-j; at alpha_t = 0, kappa = 0
    the exact law is a scaled F (beta-prime), k = chi^2_{n_v}/chi^2_{p - n_v}.  linmeta multiplies
    the noise term sigma^2 (m-1) p/(m kappa) and the task bracket (under), and E tr W^-1 (over), by
    their exact/scheme ratios at alpha_t = 0 (known exactly: the results above); this makes one
    formula exact at alpha_t = 0 and continuous, assuming the closure's relative error in each
    term does not depend on alpha_t.  Effect: FIG2, FIG3 < 1e-4 relative; p = n_t = n_v = 10, m = 5
    largest deviation from simulation +0.57 % -> +0.36 %.
"""
from __future__ import annotations

import sys

import numpy as np
import sympy as sp

from linmeta.symbolic import _theorems as T
from linmeta.symbolic._codegen import module_source
from linmeta.symbolic._symbols import alpha_t, h, h_t, k, m, n, n_t, n_v, nu, p, s2, sigma
from linmeta.symbolic._wishart_moments import expect_trace, wick_moment, wishart_moment
from linmeta.theory._wishart_exact import raw_moment

TITLE = "Exact E|omega* - w0|^2 at alpha_t = 0 and finite size (docs: theory, T0, T1, T2, derivation)."
#: the emitted argument for |omega0 - w0|^2 (the name fixes the printed operation order)
d0 = sp.Symbol("d0", nonnegative=True)


# ------------------------------------------------- Stein recursion; nested leave-one-out
def nested_second_order():
    """Chi of the column-level scheme to O(1/kappa^2), with abar = E a, a2 = E a^2 (one eigenvalue).

    Returns (chi1, chi2) with chi = chi1/kappa + chi2/kappa^2 + O(kappa^-3).  Uses r = r1/kappa + r2/kappa^2,
    u = 1/kappa^2 + ..., r_-j = r + a r^2 + O(kappa^-3), u_-j = u + O(kappa^-3), E k = n_v r_-j,
    E k^2 = (n_v r_-j)^2 + 2 n_v u_-j, and a k/(1 + a k) = a k - a^2 k^2 + O(k^3).
    """
    eps, a_, abar, a2, r2 = sp.symbols("epsilon a abar a2 r2")
    r = eps + r2 * eps**2
    u = eps**2
    rm = r + a_ * r**2
    Ek, Ek2 = n_v * rm, (n_v * rm) ** 2 + 2 * n_v * u
    per_col = sp.expand(a_ * Ek - a_**2 * Ek2)
    # E over the eigenvalue: a -> abar, a^2 -> a2 (terms are at most quadratic in a up to eps^2)
    ser = sp.expand(sp.series(per_col, eps, 0, 3).removeO())
    ser = sp.expand(ser).subs(a_**2, a2).subs(a_, abar)
    chi = sp.expand(p * ser)
    chi1 = chi.coeff(eps, 1)
    # closure r = (n_v - chi)/(kappa n_v)  =>  r2 = -chi1/n_v
    chi2 = sp.expand(chi.coeff(eps, 2).subs(r2, -chi1 / n_v))
    return chi1, chi2, abar, a2


# ----------------------------------------------------------------------------- emit
ARGS = (p, m, n_t, n_v, sigma, nu, alpha_t, d0)


def functions():
    """Return the emitted functions: ``(name, args, expression, docstring)``; ``d0 = |omega0 - w0|^2``."""
    return [
        ("exact_alpha0_over", ARGS, sp.together(T.exact_alpha0_over().subs(s2, d0)),
         "E|omega* - w0|^2 at alpha_t = 0, p > n_v m, exact; d0 = |omega0 - w0|^2 (alpha_t, n_t unused)."),
        ("exact_alpha0_under", ARGS, sp.together(T.exact_alpha0_under().subs(s2, d0)),
         "E|omega* - w0|^2 at alpha_t = 0, p < n_v m, exact (alpha_t, n_t, d0 unused)."),
    ]


def emitted_code() -> str:
    """Full text of ``linmeta/theory/_generated_finite.py``.

    ``optimizations="basic"`` keeps the floating-point operation order of the earlier emission,
    so every value is bit-identical to it.
    """
    return module_source(TITLE, "finite_size", functions(), optimizations="basic")


# ----------------------------------------------------------------------------- checks
def _check_wishart_mc(seed=0, runs=40000):
    rng = np.random.default_rng(seed)
    nn, pp = 6, 4
    X = rng.standard_normal((runs, nn, pp))
    H = np.einsum("rip,riq->rpq", X, X) / nn
    tr = lambda M: np.trace(M, axis1=1, axis2=2)  # noqa: E731
    H2 = H @ H
    samples = {(2,): tr(H2), (3,): tr(H2 @ H), (4,): tr(H2 @ H2), (1, 1): tr(H) ** 2,
               (2, 2): tr(H2) ** 2, (1, 3): tr(H) * tr(H2 @ H), (1, 1, 2): tr(H) ** 2 * tr(H2)}
    for key, s in samples.items():
        exact = float(wishart_moment(key, nn, pp))
        z = (s.mean() - exact) / (s.std() / np.sqrt(runs))
        print(f"  E prod tr H^{key}: exact {exact:.4f}  MC {s.mean():.4f}  z = {z:+.2f}")
        assert abs(z) < 4.5, key


def main() -> int:
    print(__doc__.split("\n\n")[0])
    print("\nWishart moments (H = X^T X / n), Stein recursion = Wick's theorem:")
    for key in [(1,), (2,), (3,), (4,), (1, 1), (1, 2), (2, 2), (1, 3)]:
        assert sp.simplify(wishart_moment(key) - wick_moment(*key)) == 0, key
        print(f"  E prod tr H^{key} =", wishart_moment(key))
    _check_wishart_mc()
    # the runtime recursion (rational arithmetic, used for the eigenvalue Gauss rule) equals Wick
    for key in [(1,), (2,), (3,), (4,), (1, 1), (1, 2), (2, 2), (1, 3), (1, 1, 2), (5,)]:
        for nn, pp in [(5, 30), (10, 10), (7, 4)]:
            want = wick_moment(*key).subs({n: nn, p: pp})
            assert sp.Rational(raw_moment(key, nn, pp), nn ** sum(key)) == want, key
    print("runtime Stein recursion (linmeta.theory._wishart_exact) = Wick for E prod tr H^k (k total <= 5)")
    assert sp.simplify(expect_trace((1 - alpha_t * h) ** 2).subs(n, n_t) / p - h_t) == 0   # h_t = E tr A^2 / p
    exact_over, exact_under = T.exact_alpha0_over(), T.exact_alpha0_under()
    print("\nExact at alpha_t = 0 (over):")
    sp.pprint(exact_over)
    print("Exact at alpha_t = 0 (under):")
    sp.pprint(sp.simplify(exact_under))
    # limit cases of the exact results
    assert sp.simplify(exact_under.subs(m, 1) - (nu**2 + sigma**2 * p / (n_v - p - 1))) == 0
    # leading order recovered for p -> infinity at fixed k (T1 needs k/p -> 0: at fixed k/p the
    # exact noise term k/(p-k-1) differs from k/p at O(1))
    lead_over, lead_under = T.t1_distance(), T.t2_distance()
    proj = (1 - k / p) * s2
    ratio = sp.limit(sp.simplify(((exact_over - proj) / (lead_over - proj)).subs(alpha_t, 0)), p, sp.oo)
    assert ratio == 1
    # the Dyson formulas reduce to the exact ones at alpha_t = 0 where stated
    dyson_over, dyson_under = T.dyson_over(), T.dyson_under()
    assert sp.simplify(dyson_over.subs(alpha_t, 0) - exact_over) == 0
    assert sp.simplify((dyson_under - lead_under).subs({nu: 0, alpha_t: 0})
                       - (exact_under - lead_under.subs(alpha_t, 0)).subs(nu, 0)) == 0
    # the leading order at alpha_t = 0 is the printed Theorem 1
    assert sp.simplify(lead_over.subs(alpha_t, 0) - (proj + nu**2 * k / p + sigma**2 * k / p)) == 0
    # sign of dD/dalpha_t at 0 in the under-parameterised leading order: sigma^2 p/(n_v m) (times 1, D not L)
    dd = sp.diff(lead_under, alpha_t).subs(alpha_t, 0)
    print("\nd/dalpha_t of the leading order (under) at 0 =", sp.factor(dd))
    print("\nDyson, over-parameterised (alpha_t = -1/2):")
    sp.pprint(sp.simplify(dyson_over.subs({alpha_t: sp.Rational(-1, 2)})))
    # over-parameterised exact one-task reduction reproduces the exact alpha_t = 0 result
    red = proj + m * (p - n_v - 1) / (p - k - 1) * (nu**2 * n_v / p + sigma**2 * n_v / (p - n_v - 1))
    assert sp.simplify(red - exact_over) == 0
    print("over-parameterised one-task reduction: exact at alpha_t = 0 with E tr W^-1 = n_v/(p-n_v-1)")
    # nested leave-one-out scheme, second order in 1/kappa
    chi1, chi2, abar, a2 = nested_second_order()
    EtrF = n_v * p * abar
    EtrF2_one_point = n_v * (n_v + 1) * p * a2 + n_v * (p * abar) ** 2   # E(tr A^2)^2 -> (E tr A^2)^2
    assert sp.simplify(chi1 - EtrF) == 0
    assert sp.simplify(chi2 + EtrF2_one_point) == 0
    # at alpha_t = 0 (a = 1) it is the exact E tr V^2 = n_v p (n_v + p + 1): exact to second order
    assert sp.simplify(chi2.subs({abar: 1, a2: 1}) + n_v * p * (n_v + p + 1)) == 0
    print("nested scheme: chi = E tr F/kappa - [n_v(n_v+1) p E a^2 + n_v (E tr A^2)^2]/kappa^2 + O(kappa^-3);")
    print("  exact E tr F^2 has n_v E(tr A^2)^2 in place of n_v (E tr A^2)^2; equal at alpha_t = 0")
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
