"""Numba kernels for N-step MAML, first-order MAML and iMAML over simulation runs (theory.md §6, §8, §9).

Same conventions as :mod:`linmeta._kernels`: standard-normal draws in, shifted
coordinates (``w0 = 0``), explicit loops (no BLAS, fixed summation order), no
``fastmath``, ``prange`` over runs with per-run output slots, so results are
bit-for-bit independent of the thread count.  No validation, no randomness.

Every inner map is written on the ``n_t``-dimensional side of the task's
training inputs ``X = X_t,i``:

``A_i = I + X^T B_i X``,  ``b_i = X^T beta_i``  (``B_i``: ``n_t x n_t``, ``beta_i``: ``n_t``)

* ``N`` gradient steps (MAML, FOMAML): ``B_0 = 0, beta_0 = 0`` and
  ``B <- B - (alpha/n_t)(I + G B)``, ``beta <- beta - (alpha/n_t)(G beta - y_t)``
  with ``G = X X^T``, since ``(I - alpha X^T X / n_t)(I + X^T B X) = I + X^T [B - (alpha/n_t)(I + G B)] X``;
* iMAML (push-through identity): ``B = -(n_t lam I + G)^{-1}``,
  ``beta = (n_t lam I + G)^{-1} y_t``.

This costs ``O(N n_t^3)`` per task instead of ``O(N p^3)``: both paper presets
have ``n_t < p``.  The plain-NumPy twin :func:`variant_deltas_numpy` builds the
``p x p`` matrices directly (``matrix_power``, ``inv``) and serves as the test
oracle and benchmark baseline.
"""
from __future__ import annotations

import numba
import numpy as np

from linmeta._kernels import _abt, _atb, _mv, _solve_spd, _tmv

__all__ = ["ALGO_CODES", "variant_deltas", "variant_deltas_numpy"]

jit = numba.njit(cache=True, nogil=True)
pjit = numba.njit(cache=True, nogil=True, parallel=True)

#: integer codes the kernel uses for ``Problem.algorithm``
ALGO_CODES = {"maml": 0, "fomaml": 1, "imaml": 2}


@jit
def _solve_lu(M, rhs, x):
    """Solve ``M x = rhs`` by Gaussian elimination with partial pivoting (``M``, ``rhs`` are overwritten).

    Returns ``max |U_ii| / min |U_ii|`` (a lower bound on ``cond(M)``), or
    ``inf`` when a pivot is exactly zero (then ``x`` is NaN).
    """
    n = M.shape[0]
    for j in range(n):
        piv = j
        best = abs(M[j, j])
        for i in range(j + 1, n):
            if abs(M[i, j]) > best:
                best = abs(M[i, j])
                piv = i
        if not best > 0.0:
            x[:] = np.nan
            return np.inf
        if piv != j:
            for c in range(n):
                t = M[j, c]
                M[j, c] = M[piv, c]
                M[piv, c] = t
            t = rhs[j]
            rhs[j] = rhs[piv]
            rhs[piv] = t
        for i in range(j + 1, n):
            f = M[i, j] / M[j, j]
            M[i, j] = 0.0
            for c in range(j + 1, n):
                M[i, c] -= f * M[j, c]
            rhs[i] -= f * rhs[j]
    lo, hi = abs(M[0, 0]), abs(M[0, 0])
    for i in range(n - 1, -1, -1):
        s = rhs[i]
        for c in range(i + 1, n):
            s -= M[i, c] * x[c]
        x[i] = s / M[i, i]
        lo = min(lo, abs(M[i, i]))
        hi = max(hi, abs(M[i, i]))
    return hi / lo


@jit
def _inner_coefficients(G, y, n_t, algo, alpha, n_steps, lam, B, beta):
    """``B_i`` and ``beta_i`` of the inner map (module docstring) for one task, written into ``B``, ``beta``."""
    q = G.shape[0]
    if algo == 2:
        K = np.empty((q, q))
        for a in range(q):
            for c in range(q):
                K[a, c] = G[a, c]
            K[a, a] += n_t * lam
        col = np.empty(q)
        e = np.empty(q)
        for c in range(q):  # B = -K^{-1}, column by column (Cholesky on a fresh copy each time)
            e[:] = 0.0
            e[c] = 1.0
            _solve_spd(K.copy(), e, col)
            for a in range(q):
                B[a, c] = -col[a]
        _solve_spd(K, y.copy(), beta)
        return
    s = alpha / n_t
    B[:] = 0.0
    beta[:] = 0.0
    GB = np.empty((q, q))
    Gb = np.empty(q)
    for _ in range(n_steps):
        for a in range(q):
            for c in range(q):
                acc = 0.0
                for d in range(q):
                    acc += G[a, d] * B[d, c]
                GB[a, c] = acc
            acc = 0.0
            for d in range(q):
                acc += G[a, d] * beta[d]
            Gb[a] = acc
        for a in range(q):
            for c in range(q):
                B[a, c] -= s * GB[a, c]
            B[a, a] -= s
            beta[a] -= s * (Gb[a] - y[a])


@pjit
def variant_deltas(g, X_t, e_t, X_v, e_v, nu_s, sigma, d0, alphas, algo, n_steps, lam, over, delta, cond):
    """``omega*(alpha_t) - w0`` for every run and every ``alpha_t`` in ``alphas``, any algorithm.

    Parameters
    ----------
    g, X_t, e_t, X_v, e_v : standard-normal draws, leading axis = run
    nu_s, sigma : float
        ``nu / sqrt(p)`` and ``sigma``.
    d0 : ndarray (p,)
        ``omega0 - w0``.
    alphas : ndarray (A,)
        Inner rates (ignored by iMAML, whose output is then the same for every entry).
    algo : int
        :data:`ALGO_CODES` of the algorithm.
    n_steps : int
        Inner gradient steps (MAML, FOMAML).
    lam : float
        iMAML proximal strength (ignored otherwise).
    over : bool
        Over-parameterised (``p > n_v m``).
    delta : ndarray (R, A, p), out
    cond : ndarray (R, A), out
        Lower bound on the condition number of the solved matrix (a Gram
        matrix for MAML and iMAML, ``P^T Z`` or ``Z P^T`` for FOMAML).
    """
    R, m, n_t, p = X_t.shape
    n_v = X_v.shape[2]
    k = m * n_v
    for r in numba.prange(R):
        Gt = np.empty((m, n_t, n_t))
        C = np.empty((m, n_v, n_t))
        yt = np.empty((m, n_t))
        yv = np.empty((m, n_v))
        u = np.empty(p)
        for i in range(m):
            for a in range(p):
                u[a] = nu_s * g[r, i, a]
            for n in range(n_t):
                acc = sigma * e_t[r, i, n]
                for a in range(p):
                    acc += X_t[r, i, n, a] * u[a]
                yt[i, n] = acc
            for n in range(n_v):
                acc = sigma * e_v[r, i, n]
                for a in range(p):
                    acc += X_v[r, i, n, a] * u[a]
                yv[i, n] = acc
            Gt[i] = _abt(X_t[r, i], X_t[r, i])
            C[i] = _abt(X_v[r, i], X_t[r, i])
        P = np.empty((k, p))
        for i in range(m):
            for n in range(n_v):
                for a in range(p):
                    P[i * n_v + n, a] = X_v[r, i, n, a]
        Z = np.empty((k, p))
        res = np.empty(k)
        B = np.empty((n_t, n_t))
        beta = np.empty(n_t)
        CB = np.empty((n_v, n_t))
        for ia in range(alphas.shape[0]):
            for i in range(m):
                _inner_coefficients(Gt[i], yt[i], n_t, algo, alphas[ia], n_steps, lam, B, beta)
                for n in range(n_v):
                    for c in range(n_t):
                        acc = 0.0
                        for d in range(n_t):
                            acc += C[i, n, d] * B[d, c]
                        CB[n, c] = acc
                for n in range(n_v):  # Z_i = X_v + (C B) X_t,  r_i = y_v - C beta
                    row = i * n_v + n
                    acc = yv[i, n]
                    for d in range(n_t):
                        acc -= C[i, n, d] * beta[d]
                    res[row] = acc
                    for a in range(p):
                        acc = X_v[r, i, n, a]
                        for c in range(n_t):
                            acc += CB[n, c] * X_t[r, i, c, a]
                        Z[row, a] = acc
            if algo == 1:  # first-order fixed point: P^T (Z omega - r) = 0
                if over:  # omega = d0 + P^T lam, (Z P^T) lam = r - Z d0
                    lam_ = np.empty(k)
                    cond[r, ia] = _solve_lu(_abt(Z, P), res - _mv(Z, d0), lam_)
                    delta[r, ia] = d0 + _tmv(P, lam_)
                else:
                    x = np.empty(p)
                    cond[r, ia] = _solve_lu(_atb(P, Z), _tmv(P, res), x)
                    delta[r, ia] = x
            else:  # least squares; nearest to omega0 when over-parameterised
                if over:
                    lam_ = np.empty(k)
                    cond[r, ia] = _solve_spd(_abt(Z, Z), res - _mv(Z, d0), lam_)
                    delta[r, ia] = d0 + _tmv(Z, lam_)
                else:
                    x = np.empty(p)
                    cond[r, ia] = _solve_spd(_atb(Z, Z), _tmv(Z, res), x)
                    delta[r, ia] = x


def variant_deltas_numpy(g, X_t, e_t, X_v, e_v, nu_s, sigma, d0, alphas, algo, n_steps, lam, over):
    """Plain-NumPy twin of :func:`variant_deltas`: ``p x p`` matrices, ``matrix_power``/``inv``/``solve``.

    Returns ``delta`` of shape (R, A, p).
    """
    R, m, n_t, p = X_t.shape
    eye = np.eye(p)
    out = np.empty((R, len(alphas), p))
    for r in range(R):
        u = nu_s * g[r]
        y_t = np.einsum("mnp,mp->mn", X_t[r], u) + sigma * e_t[r]
        y_v = np.einsum("mnp,mp->mn", X_v[r], u) + sigma * e_v[r]
        H = np.einsum("mni,mnj->mij", X_t[r], X_t[r]) / n_t
        c = np.einsum("mni,mn->mi", X_t[r], y_t) / n_t
        P = X_v[r].reshape(-1, p)
        for ia, a in enumerate(alphas):
            if algo == 2:
                inv = np.linalg.inv(H + lam * eye)
                A, b = lam * inv, np.einsum("mij,mj->mi", inv, c)
            else:
                step = eye - a * H
                A = np.stack([np.linalg.matrix_power(s, n_steps) for s in step])
                geo = sum(np.stack([np.linalg.matrix_power(s, j) for s in step]) for j in range(n_steps))
                b = a * np.einsum("mij,mj->mi", geo, c)
            Z = np.einsum("mvi,mij->mvj", X_v[r], A).reshape(-1, p)
            res = (y_v - np.einsum("mvi,mi->mv", X_v[r], b)).reshape(-1)
            W = P if algo == 1 else Z  # first order: P^T (Z omega - r) = 0
            if over:
                out[r, ia] = d0 + W.T @ np.linalg.solve(Z @ W.T, res - Z @ d0)
            else:
                out[r, ia] = np.linalg.solve(W.T @ Z, W.T @ res)
    return out
