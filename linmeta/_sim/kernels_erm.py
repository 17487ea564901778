"""Numba kernel for ERM (pooled training) over simulation runs (docs: theory, E1).

ERM fits one least-squares problem on all ``n_t + n_v`` points of every
training task: ``Z`` is the stacked pooled inputs ``X`` (task by task, the
training points then the validation points: the rows of
:func:`linmeta.inner_maps.meta_points`), ``r`` their labels, ``k = (n_t + n_v) m``.

* over-parameterised (``p > k``): the solution nearest ``omega0``,
  ``omega* - w0 = start + X^T mu`` with ``(X X^T) mu = r - X start``;
* under-parameterised: ``(X^T X) (omega* - w0) = X^T r``.

Same conventions as :mod:`linmeta._sim.kernels`: standard-normal draws in (the
same draws as every other algorithm, so runs are paired across algorithms),
shifted coordinates (``w0 = 0``), ``prange`` over runs with per-run output
slots, products in BLAS and the Cholesky factorisation in LAPACK
(:mod:`linmeta._sim.linalg`, one library thread per worker): bit-for-bit
independent of the thread count.  No validation, no randomness.  ERM reads no
``alpha_t``: one solve per run, copied to every column.  The plain-NumPy twin
:func:`erm_deltas_numpy` is the test oracle.
"""
from __future__ import annotations

import numba
import numpy as np

from linmeta._model import labels, labels_numpy
from linmeta._sim import linalg as _linalg
from linmeta._sim.linalg import jit

__all__ = ["erm_deltas_numpy", "erm_solve"]


@jit(parallel=True)
def erm_solve(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, over, want_delta, dist2, delta, cond):
    """``|omega* - w0|^2`` (and optionally ``omega* - w0``) of ERM for every run, in every column.

    Parameters
    ----------
    g, X_t, e_t, X_v, e_v : standard-normal draws, leading axis = run (C-contiguous)
    nu_s, sigma : float
        The scales of the task and noise draws (the task model's ``kernel_inputs``: ``nu / sqrt(p)`` and
        ``sigma`` for the paper's model, 1 for models that make their tasks and noise before the kernels).
    start : ndarray (p,)
        ``omega0`` in the kernels' coordinates (``omega0 - w0`` for the paper's model).
    alphas : ndarray (A,)
        Not read (ERM has no inner rate); sets the number of columns.
    over : bool
        Over-parameterised (``p > (n_t + n_v) m``).
    want_delta : bool
        Also write ``omega* - w0`` into ``delta``.
    dist2 : ndarray (R, A), out
    delta : ndarray (R, A, p) (or (R, A, 0) when not ``want_delta``), out
    cond : ndarray (R, A), out
        Lower bound on the condition number of the factored Gram matrix.
    """
    R = X_t.shape[0]
    for r in numba.prange(R):  # the body is a separate function: parfors must not rewrite its sums
        _one_run(g[r], X_t[r], e_t[r], X_v[r], e_v[r], nu_s, sigma, start, over, want_delta, dist2[r], delta[r],
                 cond[r])


@jit
def _pooled(g, X_t, e_t, X_v, e_v, nu_s, sigma):
    """One run's pooled inputs ``X`` (``(n_t + n_v) m x p``) and labels ``y``, task by task."""
    m, n_t, p = X_t.shape
    n = n_t + X_v.shape[1]
    X = np.empty((m * n, p))
    y = np.empty(m * n)
    for i in range(m):
        u = nu_s * g[i]
        a = i * n
        X[a:a + n_t] = X_t[i]
        X[a + n_t:a + n] = X_v[i]
        y[a:a + n_t] = labels(X_t[i], u, e_t[i], sigma)
        y[a + n_t:a + n] = labels(X_v[i], u, e_v[i], sigma)
    return X, y


@jit
def _one_run(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, over, want_delta, dist2, delta, cond):
    """One run of :func:`erm_solve` (same arguments without the run axis, no ``alphas``)."""
    X, y = _pooled(g, X_t, e_t, X_v, e_v, nu_s, sigma)
    if over:
        M = _linalg.gram_rows(X)
        rhs = y - np.dot(X, start)
    else:
        M = _linalg.gram_cols(X)
        rhs = np.dot(X.T, y)
    c = _linalg.cholesky_factor(M)
    x = _linalg.cholesky_solve(M, rhs) if c < np.inf else np.full(M.shape[0], np.nan)
    d = start + np.dot(X.T, x) if over else x
    d2 = np.dot(d, d)
    for ia in range(dist2.shape[0]):
        cond[ia] = c
        dist2[ia] = d2
        if want_delta:
            delta[ia] = d


def erm_deltas_numpy(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, over):
    """Plain-NumPy twin of :func:`erm_solve`: ``omega* - w0`` per run, shape (R, p).

    Pools the points with ``concatenate`` and solves with ``lstsq`` (the
    minimum-norm correction from ``start`` when over-parameterised).
    """
    R, p = X_t.shape[0], X_t.shape[-1]
    out = np.empty((R, p))
    for r in range(R):
        u = nu_s * g[r]
        X = np.concatenate([X_t[r], X_v[r]], axis=1)                    # (m, n_t + n_v, p)
        e = np.concatenate([e_t[r], e_v[r]], axis=1)
        y = labels_numpy(X, u, e, sigma).reshape(-1)
        X = X.reshape(-1, p)
        base = start if over else np.zeros(p)
        out[r] = base + np.linalg.lstsq(X, y - X @ base, rcond=None)[0]
    return out
