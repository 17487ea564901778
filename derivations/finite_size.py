"""Finite-size theory of E|omega* - w0|^2 beyond Theorems 1 and 2 (docs: theory, T0, T1, T2, derivation).

Run ``python derivations/finite_size.py``: it derives every formula with sympy, prints it,
asserts the limit cases and exits non-zero if an assertion fails.  ``emitted_code()`` returns
the text of ``linmeta/theory/_generated_finite.py``.  This module does not import linmeta.

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
All three reduce to the exact alpha_t = 0 results (asserted below).
Under-parameterised: E|omega* - w0|^2 = sigma^2 E tr S^{-1} + (task term) + (training-noise term)
exactly, for every alpha_t (sum_i tr(S^{-2} A_i V_i A_i) = tr S^{-1}).  S = c I + D, c = m n_v h;
the Dyson resummation gives E tr S^{-1} ~ p / (c - m q / c), q = E tr D_1^2 / p, exact at
alpha_t = 0.  The task and training-noise terms stay at leading order (docs: theory, derivation) with exact
finite-n Wishart moments; their next-order terms do not converge.
This Dyson formula (``finite_under``) is kept for reference; the package now uses the scheme below.

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
point of the next section at lam = 0 (sum_j a_j x_j^T W^-1 x_j = n_v and tr W^-1 W W^-1 = tr W^-1
fix r = tr W^-1/n_v and u = tr W^-2/n_v; E tr W^-1 X_v H X_v^T = sum_j eta_j E[k_j/(1 + a_j k_j)]).
At alpha_t = 0 that gives E tr W^-1 0.08 % (p = 60, n_v = 2) / 0.2 % (p = 50, n_v = 4) high, so
it is not exact there; linmeta uses the exact alpha_t = 0 result.

Under-parameterised, general alpha_t: nested leave-one-out (used by linmeta)
---------------------------------------------------------------------------
With F_i = A_i V_i A_i, S = sum_i F_i and Q_i = A_i V_i H_i V_i A_i, exactly
    E|omega* - w0|^2 = sigma^2 E tr S^-1 + (nu^2/p) m E tr(S^-2 F_1^2) + sigma^2 alpha_t^2/n_t m E tr(S^-2 Q_1),
and m E tr(S^-2 Q_1) = -d/deps E tr(sum_i (F_i + eps Q_i))^-1 at eps = 0.
(1) Tasks (leave one out, Sherman-Morrison-Woodbury): E[S^-1 | F_1] ~ (lam + F_1)^-1 with a
    scalar lam standing for S_-1 (rotation invariance makes E S_-1^-1 a multiple of I).  With
    p = sum_i tr(S^-1 F_i) this gives chi(lam) = p/m, chi = E tr F (lam + F)^-1, and differentiating
    the same equation for F + eps Q:
        E|omega* - w0|^2 = sigma^2 (m-1) p/(m lam)
                         + (m-1) p/(p - m psi1) [nu^2 psi1/p + sigma^2 alpha_t^2 psi2/n_t],
        psi1 = E tr F^2 (lam+F)^-2,   psi2 = E tr (lam+F)^-2 Q.
    (Leading order: lam = (m-1) n_v h_t, psi ~ E tr(.)/lam^2, recovering derivation up to 1/m.)
(2) One task, columns of X_v in the eigenbasis of H (eigenvalues eta_j, a_j = (1 - alpha_t eta_j)^2):
    W = X_v A^2 X_v^T = sum_j a_j x_j x_j^T (n_v x n_v), R = (lam + W)^-1, and exactly
        chi = sum_j a_j k_j/(1 + a_j k_j),  x_j^T R W R x_j = (z_j + a_j k_j^2)/(1 + a_j k_j)^2,
        psi1 = sum_j a_j (that),  psi2 = sum_j eta_j (that),
    k_j = x_j^T R_-j x_j, z_j = x_j^T R_-j W_-j R_-j x_j.  Approximations (stated, not fitted):
    k_j has its Gaussian mean n_v r_-j and variance 2 n_v u_-j (r = tr R/n_v, u = tr R^2/n_v) and is
    given the Gamma law with these two moments; z_j = k_j s_-j/r_-j (s = r - lam u); the
    leave-one-column-out shifts are taken with R_-j ~ r I inside them:
        r_-j = r + a_j r^2 E[q/(1 + a_j r q)]/n_v,
        u_-j = u + E[2 a_j r^3 q/(1 + a_j r q) - a_j^2 r^4 q^2/(1 + a_j r q)^2]/n_v,  q ~ chi^2_{n_v};
    closure: n_v = lam tr R + chi gives r = (n_v - chi)/(lam n_v); lam tr R^2 = tr R - tr RWR gives
    u = (r - s)/lam with n_v s = sum_j a_j E[(u_-j/r_-j) k_j/(1 + a_j k_j)^2].  Sums over j are
    p E_eta[.] with a K-point Gauss rule for one eigenvalue of H, built from the exact moments
    E tr H^k (Stein recursion below, checked against Wick).  Solved by fixed-point iteration in
    (r, u) jointly with lam (Newton, log variables).  To second order in 1/lam this reproduces
    chi = E tr F/lam - E tr F^2/lam^2 exactly at alpha_t = 0 (asserted below); for alpha_t != 0 the
    second-order term lacks n_v Var(tr A^2) (tasks see the mean environment, one-point density of
    H), so for m -> infinity at fixed p the scheme does not reduce to the leading order (-0.4 % at
    FIG3 sizes, alpha_t = -1, m >= 400).
    Large-m limit: fluctuation of H.  Wishart: E[V B V] = n_v (n_v + 1) B + n_v tr(B) I for
    V = X_v^T X_v, so exactly E tr F^2 = n_v (n_v+1) E tr A^4 + n_v E (tr A^2)^2 and
    E tr Q = n_v (n_v+1) E tr H A^2 + n_v E tr H tr A^2; the scheme's 1/lam^2 coefficients of psi1
    and psi2 have (E tr A^2)^2 and E tr H E tr A^2 instead (checked numerically at lam = 1e7):
    it evaluates the single-task functional f at the mean eigenvalue law of H, f(E mu_H), where
    the single-task expectation is E_H f(mu_H).  Second order in dmu = mu_H - E mu_H: represent
    dmu by a random perturbation dw of the K node weights of the Gauss rule, exact for every
    polynomial test function of degree < K: dw_i = w_i sum_{l=1}^{K-1} pi_l(eta_i) c_l/|pi_l|^2,
    c_l = (tr pi_l(H) - E tr pi_l(H))/p, pi_l the monic orthogonal polynomials of the rule (exact
    rational coefficients from the Chebyshev recurrence); Cov(c_l, c_k) is exact from the joint
    Stein moments E tr H^i tr H^j.  Then E f(mu_H) ~ f(w) + sum_k [f(w + s_k v_k) + f(w - s_k v_k)
    - 2 f(w)]/2 over the eigenpairs (s_k^2, v_k) of Cov(dw) (symmetric sigma points: exact for
    quadratic f), with the column fixed point (r, u) re-solved for each sigma point (on a quadratic
    model of the node terms); lam moves to first order, lam = lam0 - dchi/chi'(lam0), and psi_k by
    psi_k'(lam0)(lam - lam0) (implicit differentiation of the fixed point).  As lam -> infinity
    f is quadratic in the weights to the needed order, so the term restores n_v Var(tr A^2)/lam^2
    and n_v Cov(tr H, tr A^2)/lam^2 exactly: |D/D_T2 - 1| falls like 1/m
    (derivations/finite_limits.py: 1.3e-6 at m = 1e5, alpha_t = -1, slope -0.99).  At A = I
    (alpha_t = 0) the term vanishes.  At finite lam it is much smaller than the bare 1/lam^2
    terms (FIG3: +0.007 % of the loss, where adding n_v Var(tr A^2)/lam^2 alone gives +0.2 % and
    moves the result away from simulation).  The same term is added to E tr W^-1 and
    E tr W^-1 X_v H X_v^T of the over-parameterised one-task reduction (lam = 0).
    Exact at alpha_t = 0.  The scheme is not exact at alpha_t = 0 (relative 6e-5 at FIG3, 3.6e-3 at
    p = n_t = n_v = 10, m = 5): the Gamma law of k_j = x_j^T R_-j x_j has the conditional
    (given R_-j) variance 2 n_v u_-j and ignores the fluctuation of tr R_-j; at alpha_t = 0, lam = 0
    the exact law is a scaled F (beta-prime), k = chi^2_{n_v}/chi^2_{p - n_v}.  linmeta multiplies
    the noise term sigma^2 (m-1) p/(m lam) and the task bracket (under), and E tr W^-1 (over), by
    their exact/scheme ratios at alpha_t = 0 (known exactly: the results above); this makes one
    formula exact at alpha_t = 0 and continuous, assuming the closure's relative error in each
    term does not depend on alpha_t.  Effect: FIG2, FIG3 < 1e-4 relative; p = n_t = n_v = 10, m = 5
    largest deviation from simulation +0.57 % -> +0.36 %.
"""
from __future__ import annotations

import itertools
import sys
from functools import lru_cache

import sympy as sp

n, p, nt, nv, m, al, sig, nu, d0 = sp.symbols("n p n_t n_v m alpha_t sigma nu d0", positive=True)
al = sp.Symbol("alpha_t", real=True)


# ----------------------------------------------------------------------------- Wick
def _matchings(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for j in range(len(rest)):
        for tail in _matchings(rest[:j] + rest[j + 1:]):
            yield [(first, rest[j])] + tail


@lru_cache(maxsize=None)
def wishart_moment(powers: tuple) -> sp.Expr:
    """E[prod_j tr H^{powers[j]}] for H = X^T X / n, X n x p standard Gaussian (Wick's theorem).

    Each tr (X^T X)^k is the cyclic product X_{i1 a1} X_{i1 a2} X_{i2 a2} ... X_{ik a1}; a pairing
    of the 2K factors identifies row indices (each class gives a factor n) and column indices
    (a factor p).
    """
    factors = []  # (row var, col var)
    rv = cv = 0
    for k in powers:
        rows = list(range(rv, rv + k)); cols = list(range(cv, cv + k))
        rv += k; cv += k
        for j in range(k):
            factors.append((rows[j], cols[j]))
            factors.append((rows[j], cols[(j + 1) % k]))
    total = sp.Integer(0)
    counts = {}
    for pairing in _matchings(list(range(len(factors)))):
        par_r = list(range(rv)); par_c = list(range(cv))

        def find(par, x):
            while par[x] != x:
                par[x] = par[par[x]]; x = par[x]
            return x
        for a, b in pairing:
            for par, idx in ((par_r, 0), (par_c, 1)):
                ra, rb = find(par, factors[a][idx]), find(par, factors[b][idx])
                if ra != rb:
                    par[ra] = rb
        key = (len({find(par_r, x) for x in range(rv)}), len({find(par_c, x) for x in range(cv)}))
        counts[key] = counts.get(key, 0) + 1
    for (cr, cc), c in counts.items():
        total += c * n**cr * p**cc
    return sp.expand(total / n ** sum(powers))


Hs = sp.Symbol("Hs")  # stands for the matrix H inside trace polynomials


def E_traces(*polys) -> sp.Expr:
    """E[prod_j tr P_j(H)] for polynomials P_j in ``Hs`` (so tr Hs**0 = p), H with n = n_t."""
    terms = [sp.Poly(sp.expand(P), Hs).terms() for P in polys]
    out = sp.Integer(0)
    for combo in itertools.product(*terms):
        coef = sp.Integer(1)
        powers = []
        for (deg,), c in combo:
            coef *= c
            if deg == 0:
                coef *= p
            else:
                powers.append(deg)
        out += coef * wishart_moment(tuple(sorted(powers)))
    return sp.expand(out.subs(n, nt))


# ------------------------------------------------------------------- single-task moments
A = 1 - al * Hs
h = sp.expand(E_traces(A**2) / p)                         # = h_t
trA4 = E_traces(A**4)                                     # E tr A^4
trA2_sq = E_traces(A**2, A**2)                            # E (tr A^2)^2
trA2H = E_traces(A**2 * Hs)                               # E tr(A^2 H)
trA2_trH = E_traces(A**2, Hs)                             # E tr A^2 tr H
k = nv * m


# --------------------------------------------------------------------- exact, alpha_t = 0
def exact_alpha0_over():
    """E|omega* - w0|^2 at alpha_t = 0, p > k (exact)."""
    return (1 - k / p) * d0 + nu**2 * k * (p - nv - 1) / (p * (p - k - 1)) + sig**2 * k / (p - k - 1)


def exact_alpha0_under():
    """E|omega* - w0|^2 at alpha_t = 0, p < k (exact)."""
    N = k
    a = p * (N - 2) * (p + 2) / (N * (N + 2) * (N - p - 1))
    return nu**2 / p * (N * a + (nv - 1) * (p - N * a) / (N - 1)) + sig**2 * p / (N - p - 1)


# ------------------------------------------------------------------------ general alpha_t
def leading_under():
    """Theory.md derivation leading order: E|omega*|^2 = m E|xi|^2 / c^2 with exact moments."""
    c = m * nv * h * p / p
    trF2 = nv * (nv + 1) * trA4 + nv * trA2_sq             # E tr (A V A)^2
    trAVHVA = nv * (nv + 1) * trA2H + nv * trA2_trH        # E tr (A V H V A)
    return sig**2 * p / c + nu**2 / p * m * trF2 / c**2 + sig**2 * al**2 / nt * m * trAVHVA / c**2


def finite_under():
    """Leading order with E tr S^{-1} Dyson-resummed (exact at alpha_t = 0)."""
    c = m * nv * h
    trF2 = nv * (nv + 1) * trA4 + nv * trA2_sq
    trAVHVA = nv * (nv + 1) * trA2H + nv * trA2_trH
    q = trF2 / p - nv**2 * h**2                            # E tr D_1^2 / p
    return (sig**2 * p / (c - m * q / c) + nu**2 / p * m * trF2 / c**2
            + sig**2 * al**2 / nt * m * trAVHVA / c**2)


def leading_over():
    """Theorem 1 (T1), leading order."""
    return (1 - k / p) * d0 + nu**2 * k / p + sig**2 * k / p * (1 + al**2 * p / nt) / h


def finite_over():
    """Dyson-resummed second order in G = Z Z^T around g0 = p h (exact at alpha_t = 0)."""
    g0 = p * h
    trD2 = (k * (2 * trA4 + trA2_sq - g0**2) + k * (nv - 1) * trA4 + k * (k - nv) * p * h**2)
    gamma = 1 / (g0 - trD2 / (k * g0))
    trDBH = k * (2 * trA2H + trA2_trH - g0 * p) + k * (nv - 1) * trA2H
    task = k * (1 + (k - nv) * p * h**2 * gamma / g0)
    return ((1 - k / p) * d0 + nu**2 / p * task + sig**2 * k * gamma
            + sig**2 * al**2 / nt * gamma * (k * p - trDBH / g0))


# ------------------------------------------------- Stein recursion; nested leave-one-out
def stein_moment(powers: tuple, nn, pp) -> sp.Rational:
    """E[prod_j tr W^{k_j}], W = X^T X (X nn x pp real Gaussian), by Stein's lemma (exact).

    E[tr W^k P] = (nn + k - 1) E[tr W^{k-1} P] + sum_{l=0}^{k-2} E[tr W^{l+1} tr W^{k-2-l} P]
                  + sum_s 2 j_s E[tr W^{k-1+j_s} P / tr W^{j_s}]   (P = prod_s tr W^{j_s}, tr W^0 = pp)
    """
    @lru_cache(maxsize=None)
    def M(part):
        if not part:
            return sp.Integer(1)
        k, rest = part[0], list(part[1:])

        def E(extra, base):
            c, ks = sp.Integer(1), []
            for e in extra + base:
                if e == 0:
                    c *= pp
                else:
                    ks.append(e)
            return c * M(tuple(sorted(ks)))
        out = (nn + k - 1) * E([k - 1], rest)
        for l in range(k - 1):
            out += E([l + 1, k - 2 - l], rest)
        for s_, j in enumerate(rest):
            out += 2 * j * E([k - 1 + j], rest[:s_] + rest[s_ + 1:])
        return sp.expand(out)
    return M(tuple(sorted(powers)))


def nested_second_order():
    """chi of the column-level scheme to O(1/lam^2), with abar = E a, a2 = E a^2 (one eigenvalue).

    Returns (chi1, chi2) with chi = chi1/lam + chi2/lam^2 + O(lam^-3).  Uses r = r1/lam + r2/lam^2,
    u = 1/lam^2 + ..., r_-j = r + a r^2 + O(lam^-3), u_-j = u + O(lam^-3), E k = n_v r_-j,
    E k^2 = (n_v r_-j)^2 + 2 n_v u_-j, and a k/(1 + a k) = a k - a^2 k^2 + O(k^3).
    """
    eps, a_, abar, a2, r2 = sp.symbols("epsilon a abar a2 r2")
    r = eps + r2 * eps**2
    u = eps**2
    rm = r + a_ * r**2
    Ek, Ek2 = nv * rm, (nv * rm) ** 2 + 2 * nv * u
    per_col = sp.expand(a_ * Ek - a_**2 * Ek2)
    # E over the eigenvalue: a -> abar, a^2 -> a2 (terms are at most quadratic in a up to eps^2)
    ser = sp.expand(sp.series(per_col, eps, 0, 3).removeO())
    ser = sp.expand(ser).subs(a_**2, a2).subs(a_, abar)
    chi = sp.expand(p * ser)
    chi1 = chi.coeff(eps, 1)
    # closure r = (n_v - chi)/(lam n_v)  =>  r2 = -chi1/n_v
    chi2 = sp.expand(chi.coeff(eps, 2).subs(r2, -chi1 / nv))
    return chi1, chi2, abar, a2


# ----------------------------------------------------------------------------- emit
_TARGETS = {
    "leading_over": leading_over, "finite_over": finite_over,
    "leading_under": leading_under, "finite_under": finite_under,
    "exact_alpha0_over": exact_alpha0_over, "exact_alpha0_under": exact_alpha0_under,
}
_ARGS = "p, m, n_t, n_v, sigma, nu, alpha_t, d0"


def emitted_code() -> str:
    """Full text of ``linmeta/theory/_generated_finite.py`` (sympy cse + NumPy printer)."""
    from sympy.printing.numpy import NumPyPrinter

    printer = NumPyPrinter({"fully_qualified_modules": True})
    lines = [
        '"""E|omega* - w0|^2 at finite size (docs: theory, T0, T1, T2, derivation).',
        "",
        "generated by derivations/emit.py, do not edit (source: derivations/finite_size.py).",
        "Arguments: p, m, n_t, n_v, sigma, nu, alpha_t (array ok), d0 = |omega0 - w0|**2.",
        '"""',
        "import numpy",
        "",
        f"__all__ = {sorted(_TARGETS)!r}",
    ]
    for name, builder in _TARGETS.items():
        expr = sp.together(builder())
        subs, (red,) = sp.cse(expr, symbols=sp.numbered_symbols("x"), optimizations="basic")
        lines += ["", "", f"def {name}({_ARGS}):",
                  f'    """{builder.__doc__.strip().splitlines()[0]}"""']
        for s, e in subs:
            lines.append(f"    {s} = {printer.doprint(e)}")
        lines.append(f"    return {printer.doprint(red)}")
    return "\n".join(lines).replace("sigma", "sigma").replace("alpha_t", "alpha_t") + "\n"


# ----------------------------------------------------------------------------- checks
def _check_wishart_mc(seed=0, runs=40000):
    import numpy as np
    rng = np.random.default_rng(seed)
    nn, pp = 6, 4
    X = rng.standard_normal((runs, nn, pp))
    H = np.einsum("rip,riq->rpq", X, X) / nn
    tr = lambda M: np.trace(M, axis1=1, axis2=2)  # noqa: E731
    H2 = H @ H
    samples = {(2,): tr(H2), (3,): tr(H2 @ H), (4,): tr(H2 @ H2), (1, 1): tr(H) ** 2,
               (2, 2): tr(H2) ** 2, (1, 3): tr(H) * tr(H2 @ H), (1, 1, 2): tr(H) ** 2 * tr(H2)}
    for key, s in samples.items():
        exact = float(wishart_moment(key).subs({n: nn, p: pp}))
        z = (s.mean() - exact) / (s.std() / np.sqrt(runs))
        print(f"  E prod tr H^{key}: exact {exact:.4f}  MC {s.mean():.4f}  z = {z:+.2f}")
        assert abs(z) < 4.5, key


def main() -> int:
    print(__doc__.split("\n\n")[0])
    print("\nWishart moments by Wick's theorem (H = X^T X / n):")
    assert sp.expand(wishart_moment((2,)) - p * (n + p + 1) / n) == 0
    assert sp.expand(wishart_moment((1, 1)) - p * (n * p + 2) / n) == 0
    for key in [(1,), (2,), (3,), (4,), (1, 1), (1, 2), (2, 2), (1, 3)]:
        print(f"  E prod tr H^{key} =", sp.factor(wishart_moment(key)))
    _check_wishart_mc()
    assert sp.simplify(h - ((1 - al) ** 2 + al**2 * (p + 1) / nt)) == 0
    print("\nExact at alpha_t = 0 (over):"); sp.pprint(exact_alpha0_over())
    print("Exact at alpha_t = 0 (under):"); sp.pprint(sp.simplify(exact_alpha0_under()))
    # limit cases of the exact results
    assert sp.simplify(exact_alpha0_under().subs(m, 1) - (nu**2 + sig**2 * p / (nv - p - 1))) == 0
    # leading order recovered for p -> infinity at fixed k (T1 needs k/p -> 0: at fixed k/p the
    # exact noise term k/(p-k-1) differs from k/p at O(1))
    ratio = sp.limit(((exact_alpha0_over() - (1 - k / p) * d0) / (leading_over() - (1 - k / p) * d0)).subs(al, 0), p, sp.oo)
    assert ratio == 1
    # finite formulas reduce to the exact ones at alpha_t = 0 where stated
    assert sp.simplify(finite_over().subs(al, 0) - exact_alpha0_over()) == 0
    assert sp.simplify((finite_under() - leading_under()).subs({nu: 0, al: 0})
                       - (exact_alpha0_under() - leading_under().subs(al, 0)).subs(nu, 0)) == 0
    # leading_over is the printed Theorem 1
    assert sp.simplify(leading_over().subs(al, 0) - ((1 - k / p) * d0 + nu**2 * k / p + sig**2 * k / p)) == 0
    # sign of dD/dalpha_t at 0 in the under-parameterised leading order: sigma^2 p/(n_v m) (times 1, D not L)
    dd = sp.diff(leading_under(), al).subs(al, 0)
    print("\nd/dalpha_t leading_under at 0 =", sp.factor(dd))
    print("\nFinite, over-parameterised (general alpha_t):")
    sp.pprint(sp.simplify(finite_over().subs({al: sp.Rational(-1, 2)})))
    # over-parameterised exact one-task reduction reproduces the exact alpha_t = 0 result
    red = (1 - k / p) * d0 + m * (p - nv - 1) / (p - k - 1) * (nu**2 * nv / p + sig**2 * nv / (p - nv - 1))
    assert sp.simplify(red - exact_alpha0_over()) == 0
    print("over-parameterised one-task reduction: exact at alpha_t = 0 with E tr W^-1 = n_v/(p-n_v-1)")
    # Stein recursion (used by linmeta for the eigenvalue Gauss rule) equals Wick's theorem
    for key in [(1,), (2,), (3,), (4,), (1, 1), (1, 2), (2, 2), (1, 3), (1, 1, 2), (5,)]:
        for nn, pp in [(5, 30), (10, 10), (7, 4)]:
            assert stein_moment(key, nn, pp) / sp.Integer(nn) ** sum(key) == wishart_moment(key).subs({n: nn, p: pp}), key
    print("\nStein recursion = Wick for E prod tr H^k (k total <= 5)")
    # nested leave-one-out scheme, second order in 1/lam
    chi1, chi2, abar, a2 = nested_second_order()
    EtrF = nv * p * abar
    EtrF2_one_point = nv * (nv + 1) * p * a2 + nv * (p * abar) ** 2   # E(tr A^2)^2 -> (E tr A^2)^2
    assert sp.simplify(chi1 - EtrF) == 0
    assert sp.simplify(chi2 + EtrF2_one_point) == 0
    # at alpha_t = 0 (a = 1) it is the exact E tr V^2 = n_v p (n_v + p + 1): exact to second order
    assert sp.simplify(chi2.subs({abar: 1, a2: 1}) + nv * p * (nv + p + 1)) == 0
    print("nested scheme: chi = E tr F/lam - [n_v(n_v+1) p E a^2 + n_v (E tr A^2)^2]/lam^2 + O(lam^-3);")
    print("  exact E tr F^2 has n_v E(tr A^2)^2 in place of n_v (E tr A^2)^2; equal at alpha_t = 0")
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
