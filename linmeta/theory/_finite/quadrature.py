"""Quadrature for the finite-size theory: Gauss rules built from exact moments.

* :func:`eigenvalue_rule`: a Gauss rule for one eigenvalue of ``H = X^T X / n`` from the exact moments
  ``E tr H^j / p`` (Chebyshev algorithm in rational arithmetic on :func:`wishart_trace_moments`);
* :func:`spectral_modes`: the covariance modes of the empirical eigenvalue law on those nodes;
* :func:`trace_fluctuations`: exact ``Var(tr A^2)`` and ``Cov(tr H, tr A^2)``;
* :func:`gamma_rule` / :func:`gauss_gamma`: Gauss rules of a Gamma law (SciPy, and compiled Golub-Welsch).

References
----------
docs: theory, derivation.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.special import gammaln, roots_genlaguerre

from linmeta._sim.linalg import jit
from linmeta.theory._wishart_exact import raw_moment

__all__ = ["wishart_trace_moments", "eigenvalue_rule", "spectral_modes", "trace_fluctuations", "gamma_rule",
           "gauss_gamma", "column_rule"]


def wishart_trace_moments(n: int, p: int):
    """Exact ``E prod_j tr W^{k_j}`` for ``W = X^T X``, ``X`` n x p standard Gaussian (real).

    Returns a function of a tuple ``(k_1, ...)`` (all ``k >= 1``) giving a ``Fraction``: the
    Stein recursion of :func:`linmeta.theory._wishart_exact.raw_moment` (memoised there), which the
    tests check against the sympy implementation and Wick's theorem.

    Examples
    --------
    >>> M = wishart_trace_moments(5, 3)
    >>> M((2,)), M((1, 1))   # n p (n + p + 1), n p (n p + 2)
    (Fraction(135, 1), Fraction(255, 1))
    """
    return lambda part: Fraction(raw_moment(tuple(sorted(part)), n, p))


@lru_cache(maxsize=None)
def _recurrence(n: int, p: int, K: int):
    """Exact three-term recurrence ``(alpha_k, beta_k)``, ``k < K``, of the one-eigenvalue law of ``H``.

    Chebyshev algorithm in rational arithmetic on the exact moments ``E tr H^j / p``, ``j < 2K``.
    """
    M = wishart_trace_moments(n, p)
    mu = [Fraction(1)] + [M((j,)) / Fraction(n) ** j / p for j in range(1, 2 * K)]
    alpha, beta = [Fraction(0)] * K, [Fraction(0)] * K
    sig_prev, sig = [Fraction(0)] * (2 * K), mu[:]
    alpha[0], beta[0] = mu[1] / mu[0], mu[0]
    for k in range(1, K):
        sig_new = [Fraction(0)] * (2 * K)
        for l in range(k, 2 * K - k):
            sig_new[l] = sig[l + 1] - alpha[k - 1] * sig[l] - beta[k - 1] * sig_prev[l]
        alpha[k] = sig_new[k + 1] / sig_new[k] - sig[k] / sig[k - 1]
        beta[k] = sig_new[k] / sig[k - 1]
        sig_prev, sig = sig, sig_new
    return alpha, beta


@lru_cache(maxsize=None)
def eigenvalue_rule(n: int, p: int, K: int = 12):
    """K-point Gauss rule (nodes, weights summing to 1) for one eigenvalue of ``H = X^T X / n``.

    Built from the exact moments ``E tr H^j / p``, ``j < 2K`` (:func:`wishart_trace_moments`) by
    the Chebyshev algorithm in exact rational arithmetic; exact for polynomials of degree < 2K.
    """
    alpha, beta = _recurrence(n, p, K)
    J = np.diag([float(a) for a in alpha]) + np.diag([float(b) ** 0.5 for b in beta[1:]], 1)
    x, Q = np.linalg.eigh(J + np.triu(J, 1).T)
    return np.clip(x, 0.0, None), Q[0] ** 2


@lru_cache(maxsize=None)
def spectral_modes(n: int, p: int, K: int = 12):
    """Fluctuation modes of the empirical eigenvalue law of ``H`` on the nodes of :func:`eigenvalue_rule`.

    A random perturbation ``dw`` of the node weights represents the fluctuation of the empirical
    law: ``sum_i dw_i g(eta_i) = (tr g(H) - E tr g(H)) / p`` for every polynomial ``g`` of degree
    ``< K``.  With the monic orthogonal polynomials ``pi_l`` of the rule (exact rational
    coefficients from :func:`_recurrence`, norms ``beta_1 ... beta_l``),
    ``dw_i = w_i sum_{l=1}^{K-1} pi_l(eta_i) c_l / |pi_l|^2``, ``c_l = (tr pi_l(H) - E tr pi_l(H))/p``,
    so ``Cov(dw) = T C T^T`` with ``C_lk = Cov(tr pi_l(H), tr pi_k(H))/p^2`` exact from the joint
    moments ``E tr H^i tr H^j`` (:func:`wishart_trace_moments`).  ``Cov(dw)`` is formed in exact rational
    arithmetic at the (binary) nodes and weights, ``pi_l`` by its three-term recurrence, and rounded once:
    for ``p >> n`` the law has an atom at 0 and its bulk at ``p / n``, and a floating-point evaluation
    loses every digit.  Returns the eigen-pairs ``(s, V)`` of ``Cov(dw)`` (``s > 0``).
    """
    alpha, beta = _recurrence(n, p, K)
    M, nn = wishart_trace_moments(n, p), Fraction(n)
    polys = [[Fraction(1)], [-alpha[0], Fraction(1)]]
    for l in range(1, K - 1):
        new = [Fraction(0)] * (l + 2)
        for i, c in enumerate(polys[l]):
            new[i + 1] += c
            new[i] -= alpha[l] * c
        for i, c in enumerate(polys[l - 1]):
            new[i] -= beta[l] * c
        polys.append(new)
    etr = [Fraction(p)] + [M((j,)) / nn**j for j in range(1, K)]

    def cov(i, j):
        if i == 0 or j == 0:
            return Fraction(0)
        return M(tuple(sorted((i, j)))) / nn ** (i + j) - etr[i] * etr[j]
    norm = [Fraction(1)]
    for l in range(1, K):
        norm.append(norm[-1] * beta[l])
    C = [[Fraction(0)] * K for _ in range(K)]             # C_lk / (|pi_l|^2 |pi_k|^2)
    for l1 in range(1, K):
        for l2 in range(l1, K):
            c = sum(a * b * cov(i, j) for i, a in enumerate(polys[l1]) for j, b in enumerate(polys[l2]))
            C[l1][l2] = C[l2][l1] = c / p**2 / (norm[l1] * norm[l2])
    # T C T^T exactly: in floating point pi_l(eta_i) and the products cancel catastrophically once the law
    # spans many orders of magnitude (FIG2's n = 30: wrong by orders of magnitude from p ~ 3e4)
    eta, ew = eigenvalue_rule(n, p, K)
    T = []
    for e, w in zip(eta, ew, strict=True):
        x = Fraction(float(e))
        vals = [Fraction(1), x - alpha[0]]
        for l in range(1, K - 1):
            vals.append((x - alpha[l]) * vals[l] - beta[l] * vals[l - 1])
        T.append([Fraction(float(w)) * v for v in vals])
    TC = [[sum(row[l] * C[l][k] for l in range(1, K)) for k in range(K)] for row in T]
    cov_dw = np.array([[float(sum(TC[i][k] * T[j][k] for k in range(1, K))) for j in range(K)] for i in range(K)])
    s, V = np.linalg.eigh(cov_dw)
    keep = s > 1e-12 * max(s.max(), 1e-300)
    return s[keep], V[:, keep]


def gamma_rule(mean, var, K=32):
    """Gauss rule for a Gamma law with the given mean and variance (shape mean^2/var)."""
    k, th = mean * mean / var, var / mean
    y, w = roots_genlaguerre(K, k - 1)
    return th * y, w / np.exp(gammaln(k))


@jit
def gauss_gamma(mean, var, y, w):
    """Golub-Welsch in place: the len(y)-point Gauss rule of the Gamma law with this mean and variance.

    Implicit QL on the Jacobi matrix of the generalised Laguerre weight ``x^(k-1) e^-x``
    (diagonal ``2i + k``, off-diagonal ``sqrt((i+1)(i+k))``), tracking only the first row of the
    eigenvector matrix: nodes ``theta * eigenvalues``, weights ``(first components)^2`` (sum 1).
    Same rule as :func:`gamma_rule`.
    """
    K = y.size
    k, th = mean * mean / var, var / mean
    e = np.empty(K)
    for i in range(K):
        y[i] = 2.0 * i + k
        w[i] = 0.0
        e[i] = np.sqrt((i + 1.0) * (i + k)) if i < K - 1 else 0.0
    w[0] = 1.0
    for l in range(K):
        for _ in range(200):
            mm = l
            while mm < K - 1:
                dd = abs(y[mm]) + abs(y[mm + 1])
                if abs(e[mm]) <= 2.2e-16 * dd:
                    break
                mm += 1
            if mm == l:
                break
            g = (y[l + 1] - y[l]) / (2.0 * e[l])
            r = np.hypot(g, 1.0)
            g = y[mm] - y[l] + e[l] / (g + (r if g >= 0 else -r))
            s = c = 1.0
            pp = 0.0
            i = mm - 1
            under = False
            while i >= l:
                f, b = s * e[i], c * e[i]
                r = np.hypot(f, g)
                e[i + 1] = r
                if r == 0.0:
                    y[i + 1] -= pp
                    e[mm] = 0.0
                    under = True
                    break
                s, c = f / r, g / r
                g = y[i + 1] - pp
                r = (y[i] - g) * s + 2.0 * c * b
                pp = s * r
                y[i + 1] = g + pp
                g = c * r - b
                f = w[i + 1]
                w[i + 1] = s * w[i] + c * f
                w[i] = c * w[i] - s * f
                i -= 1
            if under:
                continue
            y[l] -= pp
            e[l] = g
            e[mm] = 0.0
    for i in range(K):
        y[i] *= th
        w[i] *= w[i]


@lru_cache(maxsize=None)
def column_rule(n_v, K=32):
    """Gauss rule for ``|x_j|^2 ~ chi^2_{n_v}`` (Gamma with mean ``n_v``, variance ``2 n_v``)."""
    return gamma_rule(float(n_v), 2.0 * n_v, K)


@lru_cache(maxsize=None)
def trace_fluctuations(n_t, p, alpha_t):
    """Exact ``(n_v-free) Var(tr A^2)`` and ``Cov(tr H, tr A^2)``, ``A = I - alpha_t H``.

    ``tr A^2 = p - 2 alpha_t tr H + alpha_t^2 tr H^2``; the joint moments of ``tr H, tr H^2``
    are the exact Wishart moments of :func:`wishart_trace_moments`.
    """
    M, n = wishart_trace_moments(int(n_t), int(p)), Fraction(int(n_t))
    t1, t2 = M((1,)) / n, M((2,)) / n**2
    v11, c12, v22 = M((1, 1)) / n**2 - t1 * t1, M((1, 2)) / n**3 - t1 * t2, M((2, 2)) / n**4 - t2 * t2
    a = Fraction(alpha_t)
    return (float(4 * a**2 * v11 - 4 * a**3 * c12 + a**4 * v22), float(-2 * a * v11 + a**2 * c12))
