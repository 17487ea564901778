"""Numba kernels for N-step MAML, first-order MAML and iMAML over simulation runs (docs: theory, B1, I1, F1).

Same conventions as :mod:`linmeta._kernels`: standard-normal draws in, shifted
coordinates (``w0 = 0``), ``prange`` over runs with per-run output slots,
products in BLAS and factorisations in LAPACK (:mod:`linmeta._linalg`, one
library thread per worker), so results are bit-for-bit independent of the
thread count.  No validation, no randomness.  Which algorithm a code means is
decided by :data:`linmeta.inner_maps.INNER_MAPS`.

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
over-parameterised.  Unlike one-step MAML the system is not quadratic in
``alpha_t``, so it is rebuilt for each ``alpha_t`` (iMAML ignores ``alpha_t``
and solves once per run).  The plain-NumPy twin :func:`variant_deltas_numpy`
builds the ``p x p`` matrices directly (``matrix_power``, ``inv``) and serves as
the test oracle and benchmark baseline.
"""
from __future__ import annotations

import numba
import numpy as np

from linmeta import _linalg
from linmeta._linalg import jit

__all__ = ["variant_solve", "variant_deltas_numpy"]


@jit
def _task_system(Xt, Xv, yt, yv, algo, alpha, n_steps, lam, Z, res):
    """One task's rows ``Z_i = X_v + W X_t`` and ``r_i = y_v - C beta`` (module docstring), into slices."""
    n_t = Xt.shape[0]
    G = np.dot(Xt, Xt.T)
    C = np.dot(Xv, Xt.T)
    if algo == 2:
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


@jit(parallel=True)
def variant_solve(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, algo, n_steps, lam, over, want_delta, dist2, delta,
                  cond):
    """``|omega*(alpha_t) - w0|^2`` (and optionally ``omega* - w0``) for every run and ``alpha_t``, any algorithm.

    Parameters
    ----------
    g, X_t, e_t, X_v, e_v : standard-normal draws, leading axis = run (C-contiguous)
    nu_s, sigma : float
        ``nu / sqrt(p)`` and ``sigma``.
    start : ndarray (p,)
        ``omega0 - w0``.
    alphas : ndarray (A,)
        Inner rates (ignored by iMAML, whose output is then the same for every entry).
    algo : int
        ``INNER_MAPS[algorithm].code``: 0 MAML, 1 first-order MAML, 2 iMAML.
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
    R = X_t.shape[0]
    for r in numba.prange(R):  # the body is a separate function: parfors must not rewrite its sums
        _one_run(g[r], X_t[r], e_t[r], X_v[r], e_v[r], nu_s, sigma, start, alphas, algo, n_steps, lam, over, want_delta,
                 dist2[r], delta[r], cond[r])


@jit
def _one_run(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, algo, n_steps, lam, over, want_delta, dist2, delta, cond):
    """One run of :func:`variant_solve` (same arguments without the run axis)."""
    m, n_t, p = X_t.shape
    n_v = X_v.shape[1]
    k = m * n_v
    P = X_v.reshape((k, p))
    yt = np.empty((m, n_t))
    yv = np.empty((m, n_v))
    for i in range(m):
        u = nu_s * g[i]
        yt[i] = np.dot(X_t[i], u) + sigma * e_t[i]
        yv[i] = np.dot(X_v[i], u) + sigma * e_v[i]
    Z = np.empty((k, p))
    res = np.empty(k)
    for ia in range(alphas.shape[0]):
        if algo == 2 and ia > 0:  # iMAML does not read alpha_t: one solve per run
            cond[ia] = cond[0]
            dist2[ia] = dist2[0]
            if want_delta:
                delta[ia] = delta[0]
            continue
        for i in range(m):
            rows = slice(i * n_v, (i + 1) * n_v)
            _task_system(X_t[i], X_v[i], yt[i], yv[i], algo, alphas[ia], n_steps, lam, Z[rows], res[rows])
        W = P if algo == 1 else Z  # first order: P^T (Z omega - r) = 0; else least squares
        if over:  # omega = start + W^T mu with (Z W^T) mu = r - Z start
            M = np.dot(Z, W.T) if algo == 1 else _linalg.gram_rows(Z)
            rhs = res - np.dot(Z, start)
        else:  # (W^T Z) omega = W^T r
            M = np.dot(W.T, Z) if algo == 1 else _linalg.gram_cols(Z)
            rhs = np.dot(W.T, res)
        size = M.shape[0]
        if algo == 1:
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


def variant_deltas_numpy(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, algo, n_steps, lam, over):
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
                out[r, ia] = start + W.T @ np.linalg.solve(Z @ W.T, res - Z @ start)
            else:
                out[r, ia] = np.linalg.solve(W.T @ Z, W.T @ res)
    return out
