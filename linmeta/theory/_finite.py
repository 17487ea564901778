"""Finite-size theory of the test loss (docs: theory, T0, T1, T2, derivation).

``expected_distance(prob)`` approximates ``E|omega* - w0|^2`` beyond the leading order of
Theorems 1 and 2; ``test_loss(prob)`` plugs it into the exact test-side reduction (T0).
The formulas are derived in ``derivations/finite_size.py``; the exact ``alpha_t = 0`` results are
emitted into ``_generated_finite.py``; nothing here is fitted to simulation.

* ``alpha_t == 0``: exact in both regimes (inverse-Wishart moments).
* over-parameterised, general ``alpha_t``: the exact reduction (Schur complement of the Gram
  matrix; the complement of the other tasks' row space is a Haar projector, whose ``n_v x n_v``
  block has ``E J^-1 = (p - n_v - 1)/(p - k - 1) I``) to one task's ``E tr W^-1`` and
  ``E tr W^-1 X_v H X_v^T`` with ``W = X_v A^2 X_v^T`` (:func:`subordination_over`); those two
  come from the same leave-one-column-out fixed point at ``kappa = 0``.  The fixed point's
  ``E tr W^-1`` is off by 0.2 % at ``alpha_t = 0`` (p = 50, n_v = 4); :func:`distance_over`
  multiplies it by its exact/scheme ratio at ``alpha_t = 0``, so one formula is exact at
  ``alpha_t = 0`` and continuous.  The previous Dyson formula remains as ``linmeta.symbolic._theorems.dyson_over``.
* under-parameterised, general ``alpha_t``: two nested leave-one-out (Sherman-Morrison)
  deterministic equivalents solved as fixed points (:func:`subordination_under`; derivation and
  equations in ``derivations/finite_size.py``, "Under-parameterised, general alpha_t"): tasks are
  left out one at a time (``S = S_-i + F_i``, ``S_-i`` replaced by a scalar ``kappa``), and inside one
  task the columns of ``X_v`` (in the eigenbasis of ``H``) are left out one at a time, with the
  quadratic forms given their Gaussian mean and variance (gamma law) and the eigenvalues of ``H``
  integrated by a Gauss rule built from its exact finite-size moments.  Off by < 0.05 % at FIG3,
  ~0.4 % at p = 10, m = 5 at ``alpha_t = 0``; :func:`distance_under` multiplies the noise and task
  terms by their exact/scheme ratios at ``alpha_t = 0`` (exact there, continuous).
  The previous Dyson formula remains as ``linmeta.symbolic._theorems.dyson_under``.
* fluctuation of ``H`` (both regimes): the column fixed point sees ``H`` only through its mean
  eigenvalue law; the single-task expectations are averages over ``H`` of a nonlinear function of
  its empirical law.  The second-order term (:func:`_fluctuation_shift`: symmetric sigma points on
  the exact covariance of the law at the Gauss nodes, :func:`spectral_modes`) is added.  It
  vanishes at ``alpha_t = 0`` and restores the exact ``1/kappa^2`` coefficients, so the
  under-parameterised formula tends to Theorem 2 like ``1/m`` as ``m -> infinity``.

Cost: the fixed points are solved jointly by Newton's method (forward-difference Jacobian with
Broyden updates, log variables) with compiled Golub-Welsch Gamma rules; the fluctuation term costs
about as much again (``benchmarks/bench_finite.py`` times a 25-point grid at FIG3 sizes against
simulation); the nested solve remains as a fallback.

References
----------
docs: theory, T0, T1, T2, derivation.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq
from numba import njit
from scipy.special import gammaln, roots_genlaguerre

from linmeta.algorithms._registry import is_one_step_maml
from linmeta.theory import _generated_finite as _gen
from linmeta.theory._wishart import raw_moment

__all__ = ["expected_distance", "test_loss", "exact_alpha0_distance", "distance_under", "distance_over",
           "subordination_under", "subordination_over", "trace_fluctuations", "wishart_trace_moments", "eigenvalue_rule"]


# --------------------------------------------------------------- exact moments of H = X^T X / n
def wishart_trace_moments(n: int, p: int):
    """Exact ``E prod_j tr W^{k_j}`` for ``W = X^T X``, ``X`` n x p standard Gaussian (real).

    Returns a function of a tuple ``(k_1, ...)`` (all ``k >= 1``) giving a ``Fraction``: the
    Stein recursion of :func:`linmeta.theory._wishart.raw_moment` (memoised there), which the
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
    moments ``E tr H^i tr H^j`` (:func:`wishart_trace_moments`).  Returns the eigen-pairs
    ``(s, V)`` of ``Cov(dw)`` (``s > 0``).
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
    C = np.zeros((K, K))
    for l1 in range(1, K):
        for l2 in range(l1, K):
            c = sum(a * b * cov(i, j) for i, a in enumerate(polys[l1]) for j, b in enumerate(polys[l2]))
            C[l1, l2] = C[l2, l1] = float(c / p**2)
    eta, ew = eigenvalue_rule(n, p, K)
    norm = [Fraction(1)]
    for l in range(1, K):
        norm.append(norm[-1] * beta[l])
    T = np.stack([ew * np.polyval([float(c) for c in poly[::-1]], eta) / float(nrm)
                  for poly, nrm in zip(polys, norm)], axis=1)
    s, V = np.linalg.eigh(T @ C @ T.T)
    keep = s > 1e-12 * max(s.max(), 1e-300)
    return s[keep], V[:, keep]


def _gamma_rule(mean, var, K=32):
    """Gauss rule for a Gamma law with the given mean and variance (shape mean^2/var)."""
    k, th = mean * mean / var, var / mean
    y, w = roots_genlaguerre(K, k - 1)
    return th * y, w / np.exp(gammaln(k))


@njit(cache=True)
def _gauss_gamma(mean, var, y, w):
    """Golub-Welsch in place: the len(y)-point Gauss rule of the Gamma law with this mean and variance.

    Implicit QL on the Jacobi matrix of the generalised Laguerre weight ``x^(k-1) e^-x``
    (diagonal ``2i + k``, off-diagonal ``sqrt((i+1)(i+k))``), tracking only the first row of the
    eigenvector matrix: nodes ``theta * eigenvalues``, weights ``(first components)^2`` (sum 1).
    Same rule as :func:`_gamma_rule`.
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


@njit(cache=True)
def _node_terms(kappa, r, u, a, eta, p, n_v, q, qw, K):
    """Per-node terms of the column leave-one-out map at ``(kappa, r, u)`` (see :func:`_single_task`).

    Row ``i`` (eigenvalue ``eta_i`` of ``H``) holds the terms that the weights ``w_i`` sum into
    ``(chi, s, psi1, psi2, e2)`` (:func:`_task_moments`): ``p a_i E[k/d]``,
    ``p a_i (u_-i/r_-i) E[k/d^2] / n_v``, ``p a_i b_i``, ``p eta_i b_i``, ``p eta_i E[k/d]``.
    """
    kap = np.empty(K)
    kw = np.empty(K)
    out = np.empty((a.size, 5))
    for i in range(a.size):
        ai = a[i]
        rm = r
        um = u
        for j in range(q.size):
            t = ai * r * r * q[j]
            den = 1.0 + ai * r * q[j]
            rm += qw[j] * (t / den) / n_v
            um += qw[j] * (2.0 * t * r / den - (t / den) ** 2) / n_v
        sm = rm - kappa * um
        _gauss_gamma(n_v * rm, 2.0 * n_v * um, kap, kw)
        c1 = c2 = bb = 0.0
        for j in range(K):
            d = 1.0 + ai * kap[j]
            c1 += kw[j] * kap[j] / d
            c2 += kw[j] * kap[j] / (d * d)
            bb += kw[j] * (kap[j] * sm / rm + ai * kap[j] * kap[j]) / (d * d)
        out[i, 0] = p * ai * c1
        out[i, 1] = p * ai * (um / rm) * c2 / n_v
        out[i, 2] = p * ai * bb
        out[i, 3] = p * eta[i] * bb
        out[i, 4] = p * eta[i] * c1
    return out


@njit(cache=True)
def _task_moments(kappa, r, u, a, eta, ew, p, n_v, q, qw, K):
    """``(chi, s, psi1, psi2, e2)`` of the column map: the node terms summed with weights ``ew``.

    ``chi = E tr F(kappa+F)^-1``, ``s`` the right side of ``tr R W R = tr R - kappa tr R^2`` (per
    ``n_v``), ``psi1, psi2`` and, at ``kappa = 0``, ``e2 = E tr W^-1 X_v H X_v^T``.
    """
    t = _node_terms(kappa, r, u, a, eta, p, n_v, q, qw, K)
    out = np.zeros(5)
    for i in range(a.size):
        for c in range(5):
            out[c] += ew[i] * t[i, c]
    return out[0], out[1], out[2], out[3], out[4]


def _newton(resid, x0, tol=1e-14, max_iter=60):
    """Newton's method in log variables; None if it fails.

    Forward-difference Jacobian, refreshed by Broyden's rank-one update while the residual
    shrinks by at least half per step, recomputed otherwise.
    """
    x = np.array(x0, dtype=float)
    f = resid(x)
    J = None
    for _ in range(max_iter):
        if not np.all(np.isfinite(f)):
            return None
        if J is None:
            J = np.empty((x.size, x.size))
            for j in range(x.size):
                h = 1e-7
                xh = x.copy()
                xh[j] += h
                J[:, j] = (resid(xh) - f) / h
        try:
            step = np.linalg.solve(J, -f)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        step *= min(1.0, 0.5 / max(np.max(np.abs(step)), 1e-300))   # at most a factor e^0.5 per step
        x = x + step
        f_new = resid(x)
        if np.max(np.abs(step)) < tol:
            return x
        if np.all(np.isfinite(f_new)) and np.max(np.abs(f_new)) < 0.5 * np.max(np.abs(f)):
            J = J + np.outer(f_new - f - J @ step, step) / (step @ step)
        else:
            J = None
        f = f_new
    return None


def _single_task(kappa, eta, ew, p, n_v, alpha_t, iters=400):
    """One task's ``chi = E tr F(kappa+F)^-1``, ``psi1 = E tr F^2 (kappa+F)^-2``,
    ``psi2 = E tr (kappa+F)^-2 A V H V A`` by the leave-one-column-out fixed point."""
    a = (1 - alpha_t * eta) ** 2
    q, qw = _gamma_rule(float(n_v), 2.0 * n_v)                 # |x_j|^2 ~ chi^2_{n_v}
    A_, Q_ = a[:, None], q[None, :]
    r = n_v / (kappa * n_v + p * np.dot(ew, a))
    u = r * r
    for _ in range(iters):
        den = 1 + A_ * r * Q_
        rm = r + (A_ * r * r * Q_ / den) @ qw / n_v             # tr R_-j / n_v
        um = u + (2 * A_ * r**3 * Q_ / den - (A_ * r * r * Q_) ** 2 / den**2) @ qw / n_v
        sm = rm - kappa * um                                      # tr R_- W_- R_- / n_v
        chi = s = psi1 = psi2 = 0.0
        for i in range(a.size):
            kap, kw = _gamma_rule(n_v * rm[i], 2 * n_v * um[i])
            d = 1 + a[i] * kap
            b = np.dot(kw, (kap * sm[i] / rm[i] + a[i] * kap * kap) / d**2)
            chi += ew[i] * np.dot(kw, a[i] * kap / d)
            s += ew[i] * np.dot(kw, a[i] * (um[i] / rm[i]) * kap / d**2)
            psi1 += ew[i] * a[i] * b
            psi2 += ew[i] * eta[i] * b
        chi, s, psi1, psi2 = p * chi, p * s / n_v, p * psi1, p * psi2
        rn = max((n_v - chi) / (kappa * n_v), 0.5 * r)            # damped; tr R > 0
        un = max((rn - s) / kappa, rn * rn)                       # tr R^2/n_v >= (tr R/n_v)^2
        if abs(rn / r - 1) < 1e-14 and abs(un / u - 1) < 1e-13:
            break
        r, u = 0.5 * (r + rn), 0.5 * (u + un)
    return chi, psi1, psi2


def _single_task_inverse(p, n_t, n_v, alpha_t, K=12, state=False):
    """``(E tr W^-1, E tr W^-1 X_v H X_v^T)``, ``W = X_v A^2 X_v^T``: the column fixed point at kappa = 0.

    At ``kappa = 0``: ``sum_j a_j x_j^T W^-1 x_j = n_v`` and ``tr(W^-1 W W^-1) = tr W^-1`` fix
    ``r = tr W^-1 / n_v`` and ``u = tr W^-2 / n_v``; then ``E tr W^-1 X_v H X_v^T =
    sum_j eta_j E[k_j / (1 + a_j k_j)]`` with the same Gamma law for ``k_j``.
    """
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = _gamma_rule(float(n_v), 2.0 * n_v)
    A_, Q_ = a[:, None], q[None, :]

    def parts(r, u):
        den = 1 + A_ * r * Q_
        rm = r + (A_ * r * r * Q_ / den) @ qw / n_v
        um = u + (2 * A_ * r**3 * Q_ / den - (A_ * r * r * Q_) ** 2 / den**2) @ qw / n_v
        chi = s = e2 = 0.0
        for i in range(a.size):
            kap, kw = _gamma_rule(n_v * rm[i], 2 * n_v * um[i])
            d = 1 + a[i] * kap
            chi += ew[i] * np.dot(kw, a[i] * kap / d)
            s += ew[i] * np.dot(kw, a[i] * (um[i] / rm[i]) * kap / d**2)
            e2 += ew[i] * eta[i] * np.dot(kw, kap / d)
        return p * chi, p * s / n_v, p * e2

    def bracket_root(f, lo, hi):
        """Root of an increasing f in log space, expanding [lo, hi] as needed."""
        for _ in range(200):
            if f(lo) < 0:
                break
            lo /= 2
        for _ in range(200):
            if f(hi) > 0:
                break
            hi *= 2
        return np.exp(brentq(lambda x: f(np.exp(x)), np.log(lo), np.log(hi), xtol=1e-14, rtol=1e-14))

    def u_of(r):   # tr W^-1 W W^-1 = tr W^-1 (increasing in u; u >= r^2 by Cauchy-Schwarz)
        return r * r * bracket_root(lambda g: parts(r, r * r * g)[1] / r - 1, 1.0, 4.0)

    # sum_j a_j x_j^T W^-1 x_j = n_v (increasing in r along u = u_of(r))
    r0 = 1 / max(p * float(np.dot(ew, a)) - n_v - 1, 1e-12)
    r = bracket_root(lambda r: parts(r, u_of(r))[0] / n_v - 1, r0 / 2, 2 * r0)
    u = u_of(r)
    if state:                            # (log r, log u) of the fixed point
        return np.log([r, u])
    return n_v * r, parts(r, u)[2]


def _nested_under(p, m, n_t, n_v, alpha_t, K=12):
    """``(kappa, psi1, psi2)`` by the nested solve: brentq in ``kappa`` around the damped column fixed point.

    Slow; used only where the joint Newton solve of :func:`_solve_under` does not converge.
    """
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    h = (1 - alpha_t) ** 2 + alpha_t**2 * (p + 1) / n_t
    l0 = (m - 1) * n_v * h
    chi = lambda kappa: _single_task(kappa, eta, ew, p, n_v, alpha_t)[0] - p / m  # noqa: E731
    lo, hi = l0 / 2, 2 * l0                                     # chi decreases in kappa
    for _ in range(60):
        if chi(lo) > 0:
            break
        lo /= 2
    for _ in range(60):
        if chi(hi) < 0:
            break
        hi *= 2
    kappa = brentq(chi, lo, hi, xtol=1e-13 * l0, rtol=1e-13)
    _, psi1, psi2 = _single_task(kappa, eta, ew, p, n_v, alpha_t)
    return kappa, psi1, psi2


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def subordination_over(p, m, n_t, n_v, sigma, nu, alpha_t, d0, K=12):
    """``E|omega* - w0|^2``, over-parameterised: exact reduction to one task, then the column fixed point.

    ``D = d0 (p-k)/p + m (p-n_v-1)/(p-k-1) [nu^2 n_v/p + sigma^2 E tr W^-1
    + sigma^2 alpha_t^2/n_t E tr W^-1 X_v H X_v^T]``, ``k = n_v m`` (exact given the two single-task
    expectations, which :func:`_single_task_inverse` approximates).
    """
    k = n_v * m
    fast = _solve_over(p, n_t, n_v, alpha_t, K)
    e1, e2 = fast[1:] if fast is not None else _single_task_inverse(p, n_t, n_v, alpha_t, K)
    return (d0 * (p - k) / p + m * (p - n_v - 1) / (p - k - 1)
            * (nu**2 * n_v / p + sigma**2 * e1 + sigma**2 * alpha_t**2 / n_t * e2))


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def subordination_under(p, m, n_t, n_v, sigma, nu, alpha_t, K=12):
    """``E|omega* - w0|^2``, under-parameterised, by leave-one-task-out subordination.

    ``kappa`` solves ``chi(kappa) = p / m``; then
    ``D = sigma^2 (m-1) p/(m kappa) + (m-1) p/(p - m psi1) [nu^2 psi1 / p + sigma^2 alpha_t^2 psi2 / n_t]``
    with the single-task ``chi, psi1, psi2`` of :func:`_single_task` (see the module docstring).
    """
    fast = _solve_under(p, m, n_t, n_v, alpha_t, K)
    if fast is not None:
        x, psi1, psi2 = fast
        kappa = float(np.exp(x[0]))
    else:
        kappa, psi1, psi2 = _nested_under(p, m, n_t, n_v, alpha_t, K)
    fac = (m - 1) * p / (p - m * psi1)
    return sigma**2 * (m - 1) * p / (m * kappa) + fac * (nu**2 * psi1 / p + sigma**2 * alpha_t**2 * psi2 / n_t)


@lru_cache(maxsize=None)
def _column_rule(n_v, K=32):
    """Gauss rule for ``|x_j|^2 ~ chi^2_{n_v}`` (Gamma with mean ``n_v``, variance ``2 n_v``)."""
    return _gamma_rule(float(n_v), 2.0 * n_v, K)


def _solve_under(p, m, n_t, n_v, alpha_t, K=12, start=None):
    """``(kappa, r, u, psi1, psi2)`` of :func:`subordination_under` by Newton on the joint system.

    The three equations are the fixed point of :func:`_single_task` (``r = (n_v - chi)/(kappa n_v)``,
    ``u = (r - s)/kappa``) and ``chi = p/m``, in the unknowns ``log kappa, log r, log u``; the
    Jacobian is a forward difference.  Returns None if Newton does not converge (the caller then
    uses the nested solve).
    """
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = _column_rule(n_v)
    args = (a, eta, ew, float(p), float(n_v), q, qw, 32)

    def resid(x):
        kappa, r, u = np.exp(x)
        chi, s, _, _, _ = _task_moments(kappa, r, u, *args)
        return np.array([(n_v - chi) / (kappa * n_v * r) - 1, (r - s) / (kappa * u) - 1, chi * m / p - 1])

    if start is None:
        h = (1 - alpha_t) ** 2 + alpha_t**2 * (p + 1) / n_t
        kappa = (m - 1) * n_v * h
        r = n_v / (kappa * n_v + p * np.dot(ew, a))
        start = np.log([kappa, r, r * r])
    x = _newton(resid, start)
    if x is None:
        return None
    kappa, r, u = np.exp(x)
    _, _, psi1, psi2, _ = _task_moments(kappa, r, u, *args)
    return x, psi1, psi2


def _solve_over(p, n_t, n_v, alpha_t, K=12, start=None):
    """``(E tr W^-1, E tr W^-1 X_v H X_v^T)`` of :func:`_single_task_inverse` by 2-D Newton (or None)."""
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = _column_rule(n_v)
    args = (a, eta, ew, float(p), float(n_v), q, qw, 32)

    def resid(x):
        r, u = np.exp(x)
        chi, s, _, _, _ = _task_moments(0.0, r, u, *args)
        return np.array([chi / n_v - 1, s / r - 1])

    if start is None:
        r = 1 / max(p * float(np.dot(ew, a)) - n_v - 1, 1e-12)
        start = np.log([r, r * r])
    x = _newton(resid, start)
    if x is None:
        return None
    r, u = np.exp(x)
    return x, n_v * r, _task_moments(0.0, r, u, *args)[4]


def _node_model(kappa, y0, a, eta, p, n_v, q, qw, h=1e-4):
    """Quadratic model of the node terms in ``(log r, log u)`` around ``y0``: value, gradient, Hessian."""
    args = (a, eta, float(p), float(n_v), q, qw, 32)

    def N(dy):
        r, u = np.exp(y0 + dy)
        return _node_terms(kappa, r, u, *args)
    e1, e2 = np.array([h, 0.0]), np.array([0.0, h])
    N0 = N(np.zeros(2))
    Np1, Nm1, Np2, Nm2 = N(e1), N(-e1), N(e2), N(-e2)
    G = np.stack([(Np1 - Nm1) / (2 * h), (Np2 - Nm2) / (2 * h)], axis=-1)           # (n, 5, 2)
    H11, H22 = (Np1 - 2 * N0 + Nm1) / h**2, (Np2 - 2 * N0 + Nm2) / h**2
    H12 = (N(e1 + e2) - N(e1 - e2) - N(e2 - e1) + N(-e1 - e2)) / (4 * h * h)
    return N0, G, H11, H12, H22


def _fluctuation_shift(kappa, y0, ew, n_v, model, modes):
    """Second-order effect of the fluctuation of ``H``'s eigenvalue law on ``(chi, s, psi1, psi2, e2)``.

    The single-task expectations average over ``H``: ``E_H f(mu_H)``, where ``mu_H`` is the
    empirical eigenvalue law and ``f`` the column fixed point's output, re-solved for each law.
    The one-point scheme takes ``f(E mu_H)``.  To second order in ``dmu = mu_H - E mu_H``,
    ``E f(mu_H) = f(E mu_H) + sum_k [f(w + sigma_k v_k) + f(w - sigma_k v_k) - 2 f(w)] / 2`` with the
    modes ``(sigma_k^2, v_k)`` of :func:`spectral_modes` (symmetric sigma points, exact for a
    quadratic ``f``).  ``(log r, log u)`` is re-solved for each sigma point on a quadratic model of
    the node terms around ``y0`` (``model``, :func:`_node_model`).  Returns the five shifts and the
    shift of ``r``.
    """
    s_k, V = modes
    N0, G, H11, H12, H22 = model
    W = ew[None, :] + np.concatenate([np.sqrt(s_k)[:, None] * V.T, -np.sqrt(s_k)[:, None] * V.T])
    A0, A1, A2 = W @ N0, W @ G[..., 0], W @ G[..., 1]                                # (sigma points, 5)
    B11, B12, B22 = W @ H11, W @ H12, W @ H22

    def outputs(d0, d1):
        out = A0 + A1 * d0 + A2 * d1 + 0.5 * (B11 * d0**2 + 2 * B12 * d0 * d1 + B22 * d1**2)
        return out, A1 + B11 * d0 + B12 * d1, A2 + B12 * d0 + B22 * d1

    d0 = np.zeros(W.shape[0])
    d1 = np.zeros(W.shape[0])
    for _ in range(30):                          # Newton on all sigma points at once (analytic model)
        (o, o0, o1), r, u = outputs(d0[:, None], d1[:, None]), np.exp(y0[0] + d0), np.exp(y0[1] + d1)
        chi, s, c0, c1, s0, s1 = o[:, 0], o[:, 1], o0[:, 0], o1[:, 0], o0[:, 1], o1[:, 1]
        if kappa == 0:
            R = np.stack([chi / n_v - 1, s / r - 1])
            J = np.array([[c0 / n_v, c1 / n_v], [(s0 - s) / r, s1 / r]])
        else:
            R = np.stack([(n_v - chi) / (kappa * n_v * r) - 1, (r - s) / (kappa * u) - 1])
            J = np.array([[-c0 / (kappa * n_v * r) - (n_v - chi) / (kappa * n_v * r), -c1 / (kappa * n_v * r)],
                          [(r - s0) / (kappa * u), -s1 / (kappa * u) - (r - s) / (kappa * u)]])
        det = J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0]
        st0 = -(J[1, 1] * R[0] - J[0, 1] * R[1]) / det
        st1 = -(-J[1, 0] * R[0] + J[0, 0] * R[1]) / det
        d0, d1 = d0 + st0, d1 + st1
        if max(np.max(np.abs(st0)), np.max(np.abs(st1))) < 1e-13:
            break
    r0 = np.exp(y0[0])
    return (outputs(d0[:, None], d1[:, None])[0] - ew @ N0).sum(axis=0) / 2, r0 * np.expm1(d0).sum() / 2


def _over_fluctuation(p, n_t, n_v, alpha_t, K=12):
    """Shifts of ``(E tr W^-1, E tr W^-1 X_v H X_v^T)`` by the fluctuation of ``H`` (see :func:`distance_over`)."""
    fast = _solve_over(p, n_t, n_v, alpha_t, K)
    y0 = fast[0] if fast is not None else _single_task_inverse(p, n_t, n_v, alpha_t, K, state=True)
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = _column_rule(n_v)
    model = _node_model(0.0, y0, a, eta, p, n_v, q, qw)
    d, dr = _fluctuation_shift(0.0, y0, ew, n_v, model, spectral_modes(int(n_t), int(p), K))
    return n_v * dr, d[4]


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


def _lam_derivative(kappa, y0, a, eta, ew, p, n_v, q, qw, model, h=1e-5):
    """``d(chi, s, psi1, psi2, e2)/d kappa`` along the column fixed point ``R(kappa, y) = 0`` at ``(kappa, y0)``.

    ``dy/dlam = -R_y^-1 R_lam`` (implicit function theorem) with the node terms' central
    differences in ``kappa`` and in ``y = (log r, log u)``.
    """
    args = (a, eta, float(p), float(n_v), q, qw, 32)
    r, u = np.exp(y0)
    N0, G = model[:2]
    o, oy = ew @ N0, np.einsum("i,ijk->jk", ew, G)                                    # (5,), (5, 2)
    ol = ew @ (_node_terms(kappa * (1 + h), r, u, *args) - _node_terms(kappa * (1 - h), r, u, *args)) / (2 * h * kappa)
    chi, s = o[0], o[1]
    Ry = np.array([[-oy[0, 0] / (kappa * n_v * r) - (n_v - chi) / (kappa * n_v * r), -oy[0, 1] / (kappa * n_v * r)],
                   [(r - oy[1, 0]) / (kappa * u), -oy[1, 1] / (kappa * u) - (r - s) / (kappa * u)]])
    Rl = np.array([-(n_v - chi) / (kappa**2 * n_v * r) - ol[0] / (kappa * n_v * r),
                   -(r - s) / (kappa**2 * u) - ol[1] / (kappa * u)])
    return ol + oy @ np.linalg.solve(Ry, -Rl)


def _under_parts(p, m, n_t, n_v, alpha_t, K=12, fluctuation=True):
    """``(kappa, psi1, psi2)`` of the nested leave-one-out, with the spectral-fluctuation term by default.

    ``fluctuation=True``: the single-task ``chi, psi1, psi2`` get the second-order term of
    :func:`_fluctuation_shift` at the one-point ``lam0``; ``kappa`` moves to first order,
    ``kappa = lam0 - d chi / chi'(lam0)``, and ``psi_k`` by ``psi_k'(lam0) (kappa - lam0)`` (central
    differences in ``kappa`` and implicit differentiation of the column fixed point).
    """
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = _column_rule(n_v)
    fast = _solve_under(p, m, n_t, n_v, alpha_t, K)
    if fast is None:                     # nested solve for kappa, then the column fixed point at that kappa
        lam0, psi1, psi2 = _nested_under(p, m, n_t, n_v, alpha_t, K)
        args = (a, eta, ew, float(p), float(n_v), q, qw, 32)

        def resid(y):
            chi, s = _task_moments(lam0, *np.exp(y), *args)[:2]
            return np.array([(n_v - chi) / (lam0 * n_v * np.exp(y[0])) - 1, (np.exp(y[0]) - s) / (lam0 * np.exp(y[1])) - 1])
        r0 = n_v / (lam0 * n_v + p * np.dot(ew, a))
        y = _newton(resid, np.log([r0, r0 * r0]))
        if y is None and fluctuation:
            raise RuntimeError(f"finite-size theory: the column fixed point did not converge for p={p}, "
                               f"m={m}, n_t={n_t}, n_v={n_v}, alpha_t={alpha_t}")
        x = np.r_[np.log(lam0), y if y is not None else np.zeros(2)]
    else:
        x, psi1, psi2 = fast
        lam0 = float(np.exp(x[0]))
    if not fluctuation:
        return lam0, psi1, psi2
    model = _node_model(lam0, x[1:], a, eta, p, n_v, q, qw)
    d, _ = _fluctuation_shift(lam0, x[1:], ew, n_v, model, spectral_modes(int(n_t), int(p), K))
    deriv = _lam_derivative(lam0, x[1:], a, eta, ew, p, n_v, q, qw, model)   # d(chi, s, psi1, psi2, e2)/d kappa
    dlam = -d[0] / deriv[0]
    return lam0 + dlam, psi1 + d[2] + deriv[2] * dlam, psi2 + d[3] + deriv[3] * dlam


@lru_cache(maxsize=1024)
def _under_alpha0_ratios(p, m, n_t, n_v, K=12):
    """Exact / scheme at ``alpha_t = 0`` for the noise term ``E tr S^-1`` and the task term."""
    kappa, psi1, _ = _under_parts(p, m, n_t, n_v, 0.0, K, fluctuation=False)   # no H fluctuation term at A = I
    noise = float(_gen.exact_alpha0_under(p, m, n_t, n_v, 1.0, 0.0, 0.0, 0.0))
    task = float(_gen.exact_alpha0_under(p, m, n_t, n_v, 0.0, 1.0, 0.0, 0.0))
    return noise / ((m - 1) * p / (m * kappa)), task / ((m - 1) * p / (p - m * psi1) * psi1 / p)


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def distance_under(p, m, n_t, n_v, sigma, nu, alpha_t, K=12, fluctuation=True):
    """``E|omega* - w0|^2``, under-parameterised: the nested leave-one-out with two derived corrections.

    (a) Fluctuation of ``H`` (``fluctuation=True``, default): the column fixed point sees ``H`` only
    through its mean eigenvalue law; the single-task expectations are averages over ``H`` of a
    nonlinear function of its empirical law.  :func:`_under_parts` adds the second-order term
    (sigma points on the exact covariance of the law, :func:`spectral_modes`).  As ``kappa -> inf``
    this restores the exact ``1/kappa^2`` coefficients, ``n_v Var(tr A^2)`` in ``psi1`` and
    ``n_v Cov(tr H, tr A^2)`` in ``psi2`` (:func:`trace_fluctuations`), so the result tends to
    Theorem 2 like ``1/m`` as ``m -> infinity``; it vanishes at ``alpha_t = 0`` (``A = I``).
    (b) Exact at ``alpha_t = 0``: the noise term and the task bracket are multiplied by their
    exact/scheme ratios at ``alpha_t = 0`` (:func:`_under_alpha0_ratios`; both ``1 + O(1/m)``).
    Assumption: the closure's relative error in each term does not depend on ``alpha_t``; the
    result is exact at ``alpha_t = 0`` and continuous in ``alpha_t``.
    """
    kappa, psi1, psi2 = _under_parts(p, m, n_t, n_v, alpha_t, K, fluctuation)
    c_noise, c_task = _under_alpha0_ratios(p, m, n_t, n_v, K)
    fac = (m - 1) * p / (p - m * psi1)
    return (c_noise * sigma**2 * (m - 1) * p / (m * kappa)
            + c_task * fac * (nu**2 * psi1 / p + sigma**2 * alpha_t**2 * psi2 / n_t))


@lru_cache(maxsize=1024)
def _over_alpha0_ratio(p, n_t, n_v, K=12):
    """Exact ``E tr W^-1 = n_v/(p - n_v - 1)`` over the column fixed point's value at ``alpha_t = 0``."""
    fast = _solve_over(p, n_t, n_v, 0.0, K)
    e1 = fast[1] if fast is not None else _single_task_inverse(p, n_t, n_v, 0.0, K)[0]
    return n_v / (p - n_v - 1) / e1


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def distance_over(p, m, n_t, n_v, sigma, nu, alpha_t, d0, K=12, fluctuation=True):
    """``E|omega* - w0|^2``, over-parameterised: :func:`subordination_over` with two derived corrections.

    ``fluctuation=True`` (default): ``E tr W^-1`` and ``E tr W^-1 X_v H X_v^T`` get the
    second-order term in the fluctuation of ``H``'s eigenvalue law (:func:`_fluctuation_shift` at
    ``kappa = 0``; zero at ``alpha_t = 0``).  Then ``E tr W^-1`` is multiplied by its exact/scheme
    ratio at ``alpha_t = 0`` (``E tr W^-1 X_v H X_v^T`` is already exact there: ``= n_v``).
    """
    k = n_v * m
    fast = _solve_over(p, n_t, n_v, alpha_t, K)
    e1, e2 = fast[1:] if fast is not None else _single_task_inverse(p, n_t, n_v, alpha_t, K)
    if fluctuation:
        de1, de2 = _over_fluctuation(p, n_t, n_v, alpha_t, K)
        e1, e2 = e1 + de1, e2 + de2
    e1 = e1 * _over_alpha0_ratio(p, n_t, n_v, K)
    return (d0 * (p - k) / p + m * (p - n_v - 1) / (p - k - 1)
            * (nu**2 * n_v / p + sigma**2 * e1 + sigma**2 * alpha_t**2 / n_t * e2))


def _args(prob):
    d0 = float(np.dot(prob.start_offset, prob.start_offset))
    return (prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, prob.alpha_t, d0)


def _check(prob):
    if not is_one_step_maml(prob):
        raise ValueError(f"the finite-size theory covers one-step MAML only; got algorithm={prob.algorithm!r}, n_steps={prob.n_steps}")
    if prob.regime == "underparameterized" and prob.k < prob.p + 4:
        raise ValueError(f"finite-size theory needs n_v * m >= p + 4 in the underparameterized regime; got p={prob.p}, n_v * m={prob.k}")
    if prob.regime == "overparameterized" and prob.p < prob.k + 2:
        raise ValueError(f"finite-size theory needs p >= n_v * m + 2 in the overparameterized regime; got p={prob.p}, n_v * m={prob.k}")


def exact_alpha0_distance(prob) -> float:
    """Exact ``E|omega* - w0|^2`` at ``alpha_t = 0`` (``prob.alpha_t`` is ignored)."""
    _check(prob)
    args = _args(prob)
    if prob.regime == "overparameterized":
        return float(_gen.exact_alpha0_over(*args))
    return float(_gen.exact_alpha0_under(*args))


def expected_distance(prob) -> float:
    """Finite-size ``E|omega* - w0|^2`` (one formula for all ``alpha_t``, exact at ``alpha_t = 0``).

    Parameters
    ----------
    prob : Problem
        One-step MAML problem in either regime.

    Returns
    -------
    float
    """
    _check(prob)
    args = _args(prob)
    if prob.regime == "overparameterized":
        return float(distance_over(*args))
    return float(distance_under(*args[:7]))


def test_loss(prob) -> float:
    """Finite-size average test loss: (T0) with :func:`expected_distance`."""
    dist = expected_distance(prob)
    return float(prob.sigma**2 / 2 * (1 + prob.alpha_r**2 * prob.p / prob.n_r)
                 + prob.h_r / 2 * (prob.nu**2 + dist))


test_loss.__test__ = False  # not a pytest test
