"""Numba kernels for N-step MAML, first-order MAML and iMAML over simulation runs (docs: theory, B1, I1, F1).

Same conventions as :mod:`linmeta._sim.kernels`: standard-normal draws in, shifted
coordinates (``w0 = 0``), ``prange`` over runs with per-run output slots,
products in BLAS and factorisations in LAPACK (:mod:`linmeta._sim.linalg`, one
library thread per worker), so results are bit-for-bit independent of the
thread count.  No validation, no randomness.  The kernels know inner-map kinds
(``STEPS``, ``FIRST_ORDER_STEPS``, ``PROXIMAL``), not algorithms.

Every inner map is written on the ``n_t``-dimensional side of the task's
training inputs ``X = X_t,i``: ``A_i = I + X^T B_i X`` and ``b_i = X^T beta_i``
(``B_i``: ``n_t x n_t``), so the rows of the meta-system are

``Z_i = X_v,i A_i = X_v,i + W_i X``,  ``r_i = y_v,i - C_i beta_i``,
with ``C_i = X_v,i X^T`` and ``W_i = C_i B_i`` (``n_v x n_t``):

* ``N`` gradient steps (MAML, FOMAML): ``W_0 = 0, beta_0 = 0``,
  ``W <- W - (alpha/n_t)(C + W G)``, ``beta <- beta - (alpha/n_t)(G beta - y_t)``
  with ``G = X X^T``, since ``(I - alpha X^T X / n_t)(I + X^T B X) = I + X^T [B - (alpha/n_t)(I + G B)] X``;
* iMAML (push-through identity): ``B = -(n_t lam I + G)^{-1}``,
  ``beta = (n_t lam I + G)^{-1} y_t``, from one Cholesky factor per task.

Cost per run and ``alpha_t``: ``O(m N n_v n_t^2 + k n_t p)`` for ``Z`` plus
``O(k^2 p + k^3)`` (over-parameterised, ``k = n_v m``) or ``O(k p^2 + p^3)``
(under-parameterised) for the meta-system; no ``p x p`` matrix when
over-parameterised (iMAML ignores ``alpha_t`` and solves once per run).

For several ``alpha_t`` the gradient-step maps are polynomials in
``s = alpha_t / n_t``: ``(I - s X^T X)^N = I + X^T B X`` with
``B = sum_{j=1..N} c_j G^{j-1}``, ``c_j = binom(N, j) (-s)^j``, and
``beta = -B y_t``, so

``Z_i = X_v,i + sum_j c_j R_ij X``,  ``r_i = y_v,i + sum_j c_j R_ij y_t,i``,  ``R_ij = C_i G_i^{j-1}``.

:func:`_poly_run` builds every ``p``-sized product once per run (over: the
Gram matrix of the stacked ``Q_0 = P, Q_j = (R_ij X)_i``; under: ``P^T P``,
``L_j = sum_i X^T R_ij^T X_v,i`` and, grouped by the power of ``alpha_t``,
the ``2N - 1`` symmetric forms ``sum_{j + l = q} c_j c_l S_jl`` with
``S_jl = sum_i X^T R_ij^T R_il X``; all of these but ``P^T P`` from one product
``T^T F``, :func:`_poly_factors`) and
each ``alpha_t`` only combines them with the ``c_j`` and factors.  It is
taken when the cost model :func:`poly_cheaper` says so (several ``alpha_t``).  The plain-NumPy
twin (:func:`linmeta._sim.twins.variant_deltas_numpy`) builds the ``p x p`` matrices directly and
serves as the test oracle and benchmark baseline.
"""
from __future__ import annotations

import numba
import numpy as np

from linmeta._model import labels
from linmeta._sim import linalg as _linalg
from linmeta._sim.linalg import jit

__all__ = ["FIRST_ORDER_STEPS", "PROXIMAL", "STEPS", "POLY_DOUBLES", "poly_cheaper", "poly_doubles",
           "variant_solve"]

#: the inner-map kinds the kernels dispatch on: gradient steps (least squares), gradient steps with the
#: first-order fixed point, the proximal map (declared by the algorithm modules, :mod:`linmeta.algorithms`)
STEPS, FIRST_ORDER_STEPS, PROXIMAL = 0, 1, 2

#: largest work array (doubles) of the polynomial route's p-sized products per thread
POLY_DOUBLES = 2.5e7


@jit
def poly_doubles(p, m, n_t, n_v, n_steps, first_order, over):
    """Doubles of the products :func:`_poly_run` builds once per run (over: ``(N + 1) k`` rows and their Gram)."""
    k = float(m * n_v)
    N = float(n_steps)
    if over:
        return ((N + 1) * k) ** 2 + (N + 1) * k * p
    blocks = N + (0.0 if first_order else 2 * N - 1)
    return (2 * blocks + 1) * p * p + (blocks + 1) * m * n_t * p


def poly_cheaper(p, m, n_t, n_v, n_steps, n_alphas, first_order, over):
    """Whether :func:`_poly_run` (products built once, combined per ``alpha_t``) costs less than rebuilding.

    Multiplications per run: rebuilding costs ``A (k n_t p + k^2 p / 2)``
    over-parameterised and ``A (k n_t p + k p^2 / 2)`` under (``k p^2`` for
    first-order MAML); the polynomial route ``N k n_t p + ((N + 1) k)^2 p / 2 +
    A (N + 1)^2 k^2`` over and ``k p^2 / 2 + (3N - 1) m n_t p^2 +
    A (3N - 1) p^2`` under (no symmetric forms for first-order MAML: ``N`` in
    place of ``3N - 1``).  Its products must also fit in :data:`POLY_DOUBLES`.

    Examples
    --------
    >>> poly_cheaper(120, 40, 20, 100, 3, 25, False, False), poly_cheaper(120, 40, 20, 100, 3, 1, False, False)
    (True, False)
    """
    k = float(m * n_v)
    N = float(n_steps)
    A = float(n_alphas)
    size = poly_doubles(p, m, n_t, n_v, n_steps, first_order, over)
    if over:
        old = A * (k * n_t * p + k * k * p / 2)
        new = N * k * n_t * p + ((N + 1) * k) ** 2 * p / 2 + A * (N + 1) ** 2 * k * k
    else:
        blocks = N + (0.0 if first_order else 2 * N - 1)
        old = A * (k * n_t * p + (k * p * p if first_order else k * p * p / 2))
        new = k * p * p / 2 + blocks * m * n_t * p * p + A * blocks * p * p
    return n_alphas > 1 and size <= POLY_DOUBLES and new < old


@jit
def _task_system(Xt, Xv, yt, yv, algo, alpha, n_steps, lam, Z, res):
    """One task's rows ``Z_i = X_v + W X_t`` and ``r_i = y_v - C beta`` (module docstring), into slices."""
    n_t = Xt.shape[0]
    G = np.dot(Xt, Xt.T)
    C = np.dot(Xv, Xt.T)
    if algo == PROXIMAL:
        K = G.copy()
        for a in range(n_t):
            K[a, a] += n_t * lam
        _linalg.cholesky_factor(K)  # positive definite: lam > 0
        W = -_linalg.cholesky_solve(K, C)  # rows of C K^{-1} (K symmetric)
        beta = _linalg.cholesky_solve(K, yt)
    else:
        s = alpha / n_t
        W = np.zeros(C.shape)
        beta = np.zeros(n_t)
        for _ in range(n_steps):
            W = W - s * (C + np.dot(W, G))
            beta = beta - s * (np.dot(G, beta) - yt)
    Z[:] = Xv + np.dot(W, Xt)
    res[:] = yv - np.dot(C, beta)


poly_cheaper_jit = jit(poly_cheaper)


@jit
def _coefficients(alpha, n_t, n_steps, c):
    """``c[0] = 1``, ``c[j] = binom(N, j) (-alpha / n_t)^j`` (``j = 1..N``)."""
    s = -alpha / n_t
    c[0] = 1.0
    b = 1.0
    for j in range(1, n_steps + 1):
        b = b * (n_steps - j + 1) / j
        c[j] = b * s**j


@jit
def _poly_factors(X_t, X_v, Rm, nS, F):
    """Right factors of the under-parameterised pieces of :func:`_poly_run`, stacked by columns into ``F``.

    Task ``i`` fills rows ``i n_t .. (i + 1) n_t``: column block ``j - 1`` holds
    ``R_ij^T X_v,i = G_i^(j-1) C_i^T X_v,i`` (``j = 1 .. N``), so that
    ``L_j = T^T F_j``; column block ``N + q - 2`` holds ``K_iq X_i`` with
    ``K_iq = sum_{j + l = q} binom(N, j) binom(N, l) R_ij^T R_il``, so that
    ``T_q = T^T F`` is the coefficient of ``(-alpha_t / n_t)^q`` in
    ``sum_i Q_i^T Q_i`` (``q = 2 .. 2N``; ``R_ij`` stored at ``Rm[i, j - 1]``).
    Each ``K_iq`` is exactly symmetric: the pairs ``(j, l)`` and ``(l, j)`` share one product.
    """
    m, n_t, p = X_t.shape
    N = Rm.shape[1]
    S = np.empty((N, N, n_t, n_t))
    K = np.empty((n_t, n_t))
    for i in range(m):
        X = X_t[i]
        rows = slice(i * n_t, (i + 1) * n_t)
        a = np.dot(Rm[i, 0].T, X_v[i])
        F[rows, 0:p] = a
        if N > 1:
            G = np.dot(X, X.T)
            for j in range(1, N):
                a = np.dot(G, a)
                F[rows, j * p:(j + 1) * p] = a
        if nS == 0:
            continue
        for j in range(N):
            for l in range(j, N):
                S[j, l] = np.dot(Rm[i, j].T, Rm[i, l])
        for q in range(2, 2 * N + 1):
            K[:] = 0.0
            for j in range(max(1, q - N), min(N, q - 1) + 1):
                l = q - j
                if j < l:
                    K += (_binom(N, j) * _binom(N, l)) * (S[j - 1, l - 1] + S[j - 1, l - 1].T)
                elif j == l:
                    K += (_binom(N, j) * _binom(N, l)) * S[j - 1, l - 1]
            b = (N + q - 2) * p
            F[rows, b:b + p] = np.dot(K, X)


@jit
def _binom(n, j):
    out = 1.0
    for r in range(1, j + 1):
        out = out * (n - j + r) / r
    return out


@jit
def _poly_run(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, algo, n_steps, over, want_delta, dist2, delta, cond):
    """One run of :func:`variant_solve` for gradient-step maps, products built once (module docstring)."""
    m, n_t, p = X_t.shape
    n_v = X_v.shape[1]
    k = m * n_v
    N = n_steps
    P = X_v.reshape((k, p))
    yt = np.empty((m, n_t))
    yv = np.empty(k)
    Rm = np.empty((m, N, n_v, n_t))      # R_ij = C_i G_i^(j-1)
    rho = np.empty((N, k))               # R_ij y_t,i
    for i in range(m):
        u = nu_s * g[i]
        yt[i] = labels(X_t[i], u, e_t[i], sigma)
        yv[i * n_v:(i + 1) * n_v] = labels(X_v[i], u, e_v[i], sigma)
        G = np.dot(X_t[i], X_t[i].T)
        Rm[i, 0] = np.dot(X_v[i], X_t[i].T)
        for j in range(1, N):
            Rm[i, j] = np.dot(Rm[i, j - 1], G)
        for j in range(N):
            rho[j, i * n_v:(i + 1) * n_v] = np.dot(Rm[i, j], yt[i])
    c = np.empty(N + 1)
    r = np.empty(k)
    start_sq = np.dot(start, start)
    if over:
        Qall = np.empty(((N + 1) * k, p))
        Qall[:k] = P
        for j in range(N):
            for i in range(m):
                Qall[(j + 1) * k + i * n_v:(j + 1) * k + (i + 1) * n_v] = np.dot(Rm[i, j], X_t[i])
        Gb = _linalg.gram_rows(Qall)
        qd = np.dot(Qall, start)
        PPt = np.ascontiguousarray(Gb[:k, :k])
        M = np.empty((k, k))
        Zs = np.empty(k)
        for ia in range(alphas.shape[0]):
            _coefficients(alphas[ia], n_t, N, c)
            r[:] = yv
            Zs[:] = qd[:k]
            for j in range(N):
                r += c[j + 1] * rho[j]
                Zs += c[j + 1] * qd[(j + 1) * k:(j + 2) * k]
            rhs = r - Zs
            if algo == FIRST_ORDER_STEPS:  # Z P^T = sum_j c_j Q_j P^T
                for a in range(k):
                    for b in range(k):
                        acc = 0.0
                        for j in range(N + 1):
                            acc += c[j] * Gb[j * k + a, b]
                        M[a, b] = acc
                piv = np.empty(k, dtype=np.int32)
                cond[ia] = _linalg.lu_factor(M, piv)
                x = _linalg.lu_solve(M, piv, rhs) if cond[ia] < np.inf else np.full(k, np.nan)
                # omega - w0 = start + P^T x
                dist2[ia] = start_sq + 2.0 * np.dot(x, qd[:k]) + np.dot(x, np.dot(PPt, x))
                if want_delta:
                    delta[ia] = start + np.dot(P.T, x)
            else:  # Z Z^T = sum_jl c_j c_l Q_j Q_l^T
                for a in range(k):
                    for b in range(k):
                        acc = 0.0
                        for j in range(N + 1):
                            for l in range(N + 1):
                                acc += c[j] * c[l] * Gb[j * k + a, l * k + b]
                        M[a, b] = acc
                cond[ia] = _linalg.cholesky_factor(M)
                x = _linalg.cholesky_solve(M, rhs) if cond[ia] < np.inf else np.full(k, np.nan)
                dist2[ia] = start_sq + 2.0 * np.dot(x, Zs) + np.dot(x, rhs)
                if want_delta:
                    d = start + np.dot(P.T, x)
                    for j in range(N):
                        d += c[j + 1] * np.dot(x, Qall[(j + 1) * k:(j + 2) * k])
                    delta[ia] = d
        return
    T = X_t.reshape((m * n_t, p))
    nS = 0 if algo == FIRST_ORDER_STEPS else 2 * N - 1
    # every p x p piece of the meta-system, flattened: M(alpha_t) = weights . blocks (one gemv per alpha_t)
    blocks = np.empty((1 + N + nS, p * p))
    blocks[0] = _linalg.gram_cols(P).ravel()
    # all other pieces are T^T F for one stacked F (a single gemm): L_j = sum_i X^T (R_ij^T X_v,i) and
    # the symmetric forms T_q = sum_i X^T (K_iq X) (least squares only)
    F = np.empty((m * n_t, (N + nS) * p))
    _poly_factors(X_t, X_v, Rm, nS, F)
    TF = np.dot(T.T, F)
    for j in range(N):
        Lj = TF[:, j * p:(j + 1) * p]
        # first order: P^T Q_j = L_j^T; least squares: P^T Q_j + Q_j^T P = L_j + L_j^T
        blocks[1 + j] = (np.ascontiguousarray(Lj.T) if algo == FIRST_ORDER_STEPS else Lj + Lj.T).ravel()
    for q in range(nS):  # the coefficient of t^(q + 2) in sum_i Q_i^T Q_i, t = -alpha_t / n_t
        Tq = TF[:, (N + q) * p:(N + q + 1) * p]
        blocks[1 + N + q] = (0.5 * (Tq + Tq.T)).ravel()
    PTy = np.dot(yv, P)                  # P^T r = P^T y_v + sum_j c_j P^T rho_j
    PTrho = np.empty((N, p))
    for j in range(N):
        PTrho[j] = np.dot(rho[j], P)
    # least squares: sum_i Q_i^T r_i = sum_j c_j (T^T U_j0 + sum_l c_l T^T U_jl), with
    # U_j0 = (R_ij^T y_v,i)_i and U_jl = (R_ij^T rho_l,i)_i, built once (columns j (N + 1) + l)
    nU = 0 if algo == FIRST_ORDER_STEPS else N * (N + 1)
    U = np.empty((m * n_t, nU))
    for i in range(m if nU > 0 else 0):
        vr = slice(i * n_v, (i + 1) * n_v)
        Yi = np.empty((n_v, N + 1))
        Yi[:, 0] = yv[vr]
        for l in range(N):
            Yi[:, l + 1] = rho[l, vr]
        for j in range(N):
            U[i * n_t:(i + 1) * n_t, j * (N + 1):(j + 1) * (N + 1)] = np.dot(Rm[i, j].T, Yi)
    TU = np.dot(T.T, U)
    weights = np.empty(1 + N + nS)
    for ia in range(alphas.shape[0]):
        _coefficients(alphas[ia], n_t, N, c)
        PTr = PTy.copy()
        for j in range(N):
            PTr += c[j + 1] * PTrho[j]
        weights[:1 + N] = c
        t = -alphas[ia] / n_t
        for q in range(nS):
            weights[1 + N + q] = t ** (q + 2)
        M = np.dot(weights, blocks).reshape((p, p))
        if algo == FIRST_ORDER_STEPS:  # P^T Z = P^T P + sum_j c_j L_j^T; rhs P^T r
            rhs = PTr
            piv = np.empty(p, dtype=np.int32)
            cond[ia] = _linalg.lu_factor(M, piv)
            x = _linalg.lu_solve(M, piv, rhs) if cond[ia] < np.inf else np.full(p, np.nan)
        else:  # Z^T Z = P^T P + sum_j c_j (L_j + L_j^T) + sum_jl c_j c_l S_jl; rhs Z^T r
            rhs = PTr
            for j in range(N):
                v = TU[:, j * (N + 1)].copy()
                for l in range(N):
                    v += c[l + 1] * TU[:, j * (N + 1) + l + 1]
                rhs += c[j + 1] * v
            cond[ia] = _linalg.cholesky_factor(M)
            x = _linalg.cholesky_solve(M, rhs) if cond[ia] < np.inf else np.full(p, np.nan)
        dist2[ia] = np.dot(x, x)
        if want_delta:
            delta[ia] = x


@jit(parallel=True)
def variant_solve(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, algo, n_steps, lam, over, want_delta, dist2, delta,
                  cond):
    """``|omega*(alpha_t) - w0|^2`` (and optionally ``omega* - w0``) for every run and ``alpha_t``, any algorithm.

    Parameters
    ----------
    g, X_t, e_t, X_v, e_v : standard-normal draws, leading axis = run (C-contiguous)
    nu_s, sigma : float
        The scales of the task and noise draws (the task model's ``kernel_inputs``: ``nu / sqrt(p)`` and
        ``sigma`` for the paper's model, 1 for models that make their tasks and noise before the kernels).
    start : ndarray (p,)
        ``omega0`` in the kernels' coordinates (``omega0 - w0`` for the paper's model).
    alphas : ndarray (A,)
        Inner rates (ignored by iMAML, whose output is then the same for every entry).
    algo : int
        ``STEPS``, ``FIRST_ORDER_STEPS`` or ``PROXIMAL`` (``InnerMap.code`` of the algorithm).
    n_steps : int
        Inner gradient steps (MAML, FOMAML).
    lam : float
        iMAML proximal strength (ignored otherwise).
    over : bool
        Over-parameterised (``p > n_v m``).
    want_delta : bool
        Also write ``omega* - w0`` into ``delta``.
    dist2 : ndarray (R, A), out
    delta : ndarray (R, A, p) (or (R, A, 0) when not ``want_delta``), out
    cond : ndarray (R, A), out
        Lower bound on the condition number of the solved matrix (a Gram
        matrix for MAML and iMAML; an estimate from the LU factor of ``P^T Z``
        or ``Z P^T`` for FOMAML).
    """
    R, m, n_t, p = X_t.shape
    poly = algo != PROXIMAL and poly_cheaper_jit(p, m, n_t, X_v.shape[2], n_steps, alphas.shape[0],
                                                 algo == FIRST_ORDER_STEPS, over)
    for r in numba.prange(R):  # the body is a separate function: parfors must not rewrite its sums
        if poly:
            _poly_run(g[r], X_t[r], e_t[r], X_v[r], e_v[r], nu_s, sigma, start, alphas, algo, n_steps, over, want_delta,
                      dist2[r], delta[r], cond[r])
        else:
            _one_run(g[r], X_t[r], e_t[r], X_v[r], e_v[r], nu_s, sigma, start, alphas, algo, n_steps, lam, over,
                     want_delta, dist2[r], delta[r], cond[r])


@jit
def _one_run(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, algo, n_steps, lam, over, want_delta, dist2, delta,
             cond):
    """One run of :func:`variant_solve` (same arguments without the run axis)."""
    m, n_t, p = X_t.shape
    n_v = X_v.shape[1]
    k = m * n_v
    P = X_v.reshape((k, p))
    yt = np.empty((m, n_t))
    yv = np.empty((m, n_v))
    for i in range(m):
        u = nu_s * g[i]
        yt[i] = labels(X_t[i], u, e_t[i], sigma)
        yv[i] = labels(X_v[i], u, e_v[i], sigma)
    Z = np.empty((k, p))
    res = np.empty(k)
    for ia in range(alphas.shape[0]):
        if algo == PROXIMAL and ia > 0:  # iMAML does not read alpha_t: one solve per run
            cond[ia] = cond[0]
            dist2[ia] = dist2[0]
            if want_delta:
                delta[ia] = delta[0]
            continue
        for i in range(m):
            rows = slice(i * n_v, (i + 1) * n_v)
            _task_system(X_t[i], X_v[i], yt[i], yv[i], algo, alphas[ia], n_steps, lam, Z[rows], res[rows])
        W = P if algo == FIRST_ORDER_STEPS else Z  # first order: P^T (Z omega - r) = 0; else least squares
        if over:  # omega = start + W^T mu with (Z W^T) mu = r - Z start
            M = np.dot(Z, W.T) if algo == FIRST_ORDER_STEPS else _linalg.gram_rows(Z)
            rhs = res - np.dot(Z, start)
        else:  # (W^T Z) omega = W^T r
            M = np.dot(W.T, Z) if algo == FIRST_ORDER_STEPS else _linalg.gram_cols(Z)
            rhs = np.dot(W.T, res)
        size = M.shape[0]
        if algo == FIRST_ORDER_STEPS:
            piv = np.empty(size, dtype=np.int32)
            c = _linalg.lu_factor(M, piv)
            x = _linalg.lu_solve(M, piv, rhs) if c < np.inf else np.full(size, np.nan)
        else:
            c = _linalg.cholesky_factor(M)
            x = _linalg.cholesky_solve(M, rhs) if c < np.inf else np.full(size, np.nan)
        cond[ia] = c
        d = start + np.dot(W.T, x) if over else x
        dist2[ia] = np.dot(d, d)
        if want_delta:
            delta[ia] = d
