"""Numba kernels over simulation runs: deterministic, no validation, no randomness.

Every kernel takes standard-normal draws (``linmeta.sampling``) and works in
coordinates shifted by ``w0`` (everything depends on ``omega0 - w0`` and
``w - w0`` only).  Under ``parallel=True`` each ``prange`` iteration writes
only its own slots, so results are bit-for-bit independent of the thread
count; products go to BLAS (``np.dot``) and factorisations to LAPACK
(:mod:`linmeta._sim.linalg`), which the caller pins to one thread per worker.
Plain-NumPy twins used as test oracles and benchmark baselines live in
``linmeta._sim.reference``.
"""
from __future__ import annotations

import numba
import numpy as np

from linmeta._model import labels, labels_into
from linmeta._sim import linalg as _linalg
from linmeta._sim.linalg import jit


@jit
def _task_labels(X_t, e_t, X_v, e_v, u, sigma, y, s):
    """One task's ``C = X_v X_t^T / n_t`` (returned), ``y = y_v`` and ``s = X_v c = C y_t`` (into slices).

    ``H = X_t^T X_t / n_t`` and ``c = X_t^T y_t / n_t`` are never formed:
    ``X_v H = C X_t`` costs ``n_v n_t p`` instead of ``n_t p^2``.
    """
    n_t = X_t.shape[0]
    y_t = labels(X_t, u, e_t, sigma)
    C = np.dot(X_v, X_t.T) / n_t
    y[:] = labels(X_v, u, e_v, sigma)
    s[:] = np.dot(C, y_t)
    return C


@jit
def _combine(M0, M1, M2, a, out):
    """``out = M0 - a (M1 + M1^T) + a^2 M2`` (the Gram matrix of ``Z = P - a Q``), elementwise."""
    n = M0.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = M0[i, j] - a * (M1[i, j] + M1[j, i]) + a * a * M2[i, j]


def factored_under(p, m, n_t, n_v):
    """Whether under-parameterised Gram blocks are cheaper through the tasks' ``n_t``-row factors.

    ``Q_i = C_i X_t,i`` with ``C_i = X_v,i X_t,i^T / n_t`` (``n_v x n_t``), so
    ``P^T Q = sum_i (C_i^T X_v,i)^T X_t,i`` and
    ``Q^T Q = sum_i X_t,i^T (C_i^T C_i) X_t,i``: products of ``n_t``-row
    blocks instead of ``n_v``-row ones.  Multiplications per task beyond
    ``C_i`` and ``C_i^T X_v,i`` (or ``Q_i``): ``n_t^2 (n_v + p) + 2 n_t p^2``
    through the factors against ``1.5 n_v p^2`` through ``Q``.  The kernels take
    the route this chooses, and the cost model (:mod:`linmeta._sim.budget`) counts it.

    Examples
    --------
    >>> factored_under(120, 40, 20, 100), factored_under(20, 40, 30, 5)
    (True, False)
    """
    return n_t <= n_v and n_t * n_t * (n_v + p) + 2 * n_t * p * p < 1.5 * n_v * p * p


_factored_under = jit(factored_under)  # callable from the kernels


@jit(parallel=True)
def maml1_solve(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, over, want_delta, dist2, delta, cond):
    """``|omega*(alpha_t) - w0|^2`` (and optionally ``omega* - w0``) for every run and ``alpha_t``.

    One-step MAML (docs: theory, MAML1): ``Z = P - alpha_t Q`` and
    ``r = y - alpha_t s`` with ``P`` the stacked validation inputs,
    ``Q_i = X_v,i H_i`` and ``s_i = X_v,i c_i``.  The Gram matrix of ``Z`` is
    quadratic in ``alpha_t``; its three blocks are built once per run with
    BLAS (common random numbers across ``alphas``), then each ``alpha_t``
    costs one Cholesky factorisation.

    * over-parameterised (``p > k = n_v m``): ``K = Z Z^T`` (``k x k``),
      ``mult = K^{-1} (r - Z start)``, ``omega* - w0 = start + Z^T mult`` and
      ``|omega* - w0|^2 = |start|^2 + 2 mult.(Z start) + mult.(r - Z start)``: no
      ``p x p`` matrix, and no ``p``-vector unless ``want_delta``;
    * under-parameterised: ``G = Z^T Z`` (``p x p``), ``omega* - w0 = G^{-1} Z^T r``;
      ``P^T Q`` and ``Q^T Q`` go through the tasks' ``n_t``-row factors when
      :func:`factored_under` says that is cheaper (``Q`` is then never formed).

    Parameters
    ----------
    g, X_t, e_t, X_v, e_v : standard-normal draws, leading axis = run (C-contiguous)
    nu_s, sigma : float
        The scales of the task and noise draws (the task model's ``kernel_inputs``: ``nu / sqrt(p)`` and
        ``sigma`` for the paper's model, 1 for models that make their tasks and noise before the kernels).
    start : ndarray (p,)
        ``omega0`` in the kernels' coordinates (``omega0 - w0`` for the paper's model); used when
        over-parameterised.
    alphas : ndarray (A,)
    over : bool
        Over-parameterised: the solution nearest ``omega0``.
    want_delta : bool
        Also write ``omega* - w0`` into ``delta`` (else ``delta`` is untouched
        and may have shape (R, A, 0)).
    dist2 : ndarray (R, A), out
    delta : ndarray (R, A, p), out
    cond : ndarray (R, A), out
        Lower bound on the condition number of the factored Gram matrix.
    """
    R = X_t.shape[0]
    for r in numba.prange(R):  # the body is a separate function: parfors must not rewrite its sums
        _one_run(g[r], X_t[r], e_t[r], X_v[r], e_v[r], nu_s, sigma, start, alphas, over, want_delta, dist2[r], delta[r],
                 cond[r])


def through_moments(p, n_t, n_v):
    """Whether a task's rows ``Q_i = X_v,i H_i`` are cheaper through ``H_i = X_t,i^T X_t,i / n_t`` than through ``C_i``.

    ``n_t p^2 + n_v p^2`` multiplications through the ``p x p`` moment matrix against ``2 n_v n_t p``
    through ``C_i = X_v,i X_t,i^T / n_t`` (:func:`_task_labels`): small ``p`` with many points per task.

    Examples
    --------
    >>> through_moments(30, 5, 25), through_moments(1, 400, 400)
    (False, True)
    """
    return p * (n_t + n_v) < 2 * n_v * n_t


_through_moments = jit(through_moments)  # callable from the kernels


@jit
def _task_rows_by_moments(X_t, e_t, X_v, e_v, u, sigma, y, s):
    """One task's ``Q_i = X_v H`` (returned), ``y = y_v`` and ``s = X_v c`` (into slices), through ``H`` and ``c``."""
    n_t = X_t.shape[0]
    y_t = labels(X_t, u, e_t, sigma)
    y[:] = labels(X_v, u, e_v, sigma)
    s[:] = np.dot(X_v, np.dot(X_t.T, y_t) / n_t)
    return np.dot(X_v, np.dot(X_t.T, X_t) / n_t)


@jit
def _stacked_rows(g, X_t, e_t, X_v, e_v, nu_s, sigma):
    """``Q`` (``Q_i = X_v,i H_i``), ``y`` and ``s`` of one run, task by task, by the cheaper product order."""
    m, n_t, p = X_t.shape
    n_v = X_v.shape[1]
    k = m * n_v
    Q = np.empty((k, p))
    y = np.empty(k)
    s = np.empty(k)
    moments = _through_moments(p, n_t, n_v)
    for i in range(m):
        rows = slice(i * n_v, (i + 1) * n_v)
        if moments:
            Q[rows] = _task_rows_by_moments(X_t[i], e_t[i], X_v[i], e_v[i], nu_s * g[i], sigma, y[rows], s[rows])
        else:
            C = _task_labels(X_t[i], e_t[i], X_v[i], e_v[i], nu_s * g[i], sigma, y[rows], s[rows])
            Q[rows] = np.dot(C, X_t[i])
    return Q, y, s


@jit
def _factored_blocks(g, X_t, e_t, X_v, e_v, nu_s, sigma):
    """``P^T Q``, ``Q^T Q``, ``Q^T y``, ``Q^T s``, ``y`` and ``s`` of one run without forming ``Q``.

    With ``C_i = X_v,i X_t,i^T / n_t`` and ``T`` the stacked ``X_t,i``
    (``m n_t x p``): ``P^T Q = A^T T`` with ``A_i = C_i^T X_v,i``,
    ``Q^T Q = T^T B`` with ``B_i = (C_i^T C_i) X_t,i``, and
    ``Q^T v = T^T (C_i^T v_i)_i`` for ``v = y, s``.
    """
    m, n_t, p = X_t.shape
    n_v = X_v.shape[1]
    k = m * n_v
    A = np.empty((m * n_t, p))
    B = np.empty((m * n_t, p))
    cy = np.empty(m * n_t)
    cs = np.empty(m * n_t)
    y = np.empty(k)
    s = np.empty(k)
    for i in range(m):
        rows = slice(i * n_v, (i + 1) * n_v)
        trows = slice(i * n_t, (i + 1) * n_t)
        C = _task_labels(X_t[i], e_t[i], X_v[i], e_v[i], nu_s * g[i], sigma, y[rows], s[rows])
        A[trows] = np.dot(C.T, X_v[i])
        B[trows] = np.dot(np.dot(C.T, C), X_t[i])
        cy[trows] = np.dot(C.T, y[rows])
        cs[trows] = np.dot(C.T, s[rows])
    T = X_t.reshape((m * n_t, p))
    return np.dot(A.T, T), np.dot(T.T, B), np.dot(T.T, cy), np.dot(T.T, cs), y, s


@jit
def _one_run(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, over, want_delta, dist2, delta, cond):
    """One run of :func:`maml1_solve` (same arguments without the run axis)."""
    m, n_t, p = X_t.shape
    n_v = X_v.shape[1]
    k = m * n_v
    P = X_v.reshape((k, p))
    if over:
        Q, y, s = _stacked_rows(g, X_t, e_t, X_v, e_v, nu_s, sigma)
        K0 = _linalg.gram_rows(P)
        K1 = np.dot(P, Q.T)
        K2 = _linalg.gram_rows(Q)
        Pd = np.dot(P, start)
        Qd = np.dot(Q, start)
        start_sq = np.dot(start, start)
        K = np.empty((k, k))
        for ia in range(alphas.shape[0]):
            a = alphas[ia]
            _combine(K0, K1, K2, a, K)
            rhs = (y - Pd) - a * (s - Qd)
            cond[ia] = _linalg.cholesky_factor(K)
            mult = _linalg.cholesky_solve(K, rhs) if cond[ia] < np.inf else np.full(k, np.nan)
            dist2[ia] = start_sq + 2.0 * np.dot(mult, Pd - a * Qd) + np.dot(mult, rhs)
            if want_delta:
                delta[ia] = start + np.dot(P.T, mult) - a * np.dot(Q.T, mult)
        return
    if _factored_under(p, m, n_t, n_v):
        G1, G2, Qy, Qs, y, s = _factored_blocks(g, X_t, e_t, X_v, e_v, nu_s, sigma)
    else:
        Q, y, s = _stacked_rows(g, X_t, e_t, X_v, e_v, nu_s, sigma)
        G1 = np.dot(P.T, Q)
        G2 = _linalg.gram_cols(Q)
        Qy = np.dot(Q.T, y)
        Qs = np.dot(Q.T, s)
    G0 = _linalg.gram_cols(P)
    v0 = np.dot(P.T, y)
    v1 = Qy + np.dot(P.T, s)
    G = np.empty((p, p))
    for ia in range(alphas.shape[0]):
        a = alphas[ia]
        _combine(G0, G1, G2, a, G)
        cond[ia] = _linalg.cholesky_factor(G)
        x = _linalg.cholesky_solve(G, v0 - a * v1 + a * a * Qs) if cond[ia] < np.inf else np.full(p, np.nan)
        dist2[ia] = np.dot(x, x)
        if want_delta:
            delta[ia] = x


@jit(parallel=True)
def protocol_losses(delta, g, X_r, e_r, X_te, e_te, nu_s, sigma, alpha_rs, out):
    """Compute the paper's protocol: mean test loss over sampled test tasks (docs: theory, MAML1, T0).

    For run ``r``, meta-parameters ``omega - w0 = delta[r, a]`` and each test
    task ``t`` (``w - w0 = nu_s g``, its labels from the model's :func:`~linmeta._model.labels_into`):
    adapt with one step of rate ``alpha_r`` on ``n_r`` points, then average
    ``(y - x.theta)^2 / 2`` over ``n_te`` fresh points.
    ``out[r, a, b]`` is the mean over test tasks for ``alpha_rs[b]``.
    The innermost loops run over ``a`` (independent sums, so they vectorise
    without reordering any sum).
    """
    R, A, p = delta.shape
    T, n_r = X_r.shape[1], X_r.shape[2]
    n_te = X_te.shape[2]
    B = alpha_rs.shape[0]
    for r in numba.prange(R):
        grad = np.empty((p, A))
        theta = np.empty((p, A))   # adapted parameters (coordinates shifted by w0), one column per alpha_t
        res = np.empty(A)
        sq = np.empty(A)
        acc = np.empty((B, A))
        acc[:] = 0.0
        u = np.empty(p)
        y_r = np.empty(n_r)
        y_te = np.empty(n_te)
        for t in range(T):
            for j in range(p):
                u[j] = nu_s * g[r, t, j]
            labels_into(X_r[r, t], u, e_r[r, t], sigma, y_r)
            labels_into(X_te[r, t], u, e_te[r, t], sigma, y_te)
            grad[:] = 0.0
            for n in range(n_r):  # grad = X_r^T (y_r - X_r omega) / n_r
                x = X_r[r, t, n]
                res[:] = y_r[n]
                for j in range(p):
                    for a in range(A):
                        res[a] -= x[j] * delta[r, a, j]
                for j in range(p):
                    for a in range(A):
                        grad[j, a] += x[j] * res[a] / n_r
            for b in range(B):
                for j in range(p):
                    for a in range(A):
                        theta[j, a] = delta[r, a, j] + alpha_rs[b] * grad[j, a]
                for a in range(A):
                    res[a] = 0.0
                for n in range(n_te):
                    x = X_te[r, t, n]
                    sq[:] = y_te[n]
                    for j in range(p):
                        for a in range(A):
                            sq[a] -= x[j] * theta[j, a]
                    for a in range(A):
                        res[a] += sq[a] * sq[a]
                for a in range(A):
                    acc[b, a] += res[a] / (2.0 * n_te * T)
        for a in range(A):
            for b in range(B):
                out[r, a, b] = acc[b, a]


@jit(parallel=True)
def protocol_losses_projected(delta, g, chi2, vv, rest_r, b_r, gg, rest_te, b_te, n_r, n_te, nu_s, sigma, alpha_rs,
                              out):
    """Compute the paper's protocol from the statistics the score depends on (docs: theory, MAML1, T0).

    Same estimator as :func:`protocol_losses`, with the same distribution for
    every ``alpha_t`` and ``alpha_r``, drawing ``p + 7`` numbers per test task
    instead of ``(n_r + n_te)(p + 1) + p``.  For a test task ``w`` let
    ``e = omega - w`` and ``u = e/|e|``; adaptation inputs ``X`` (n_r x p),
    noise ``z``:

    * ``theta - w = e - (alpha_r/n_r) X^T r`` with ``r = X e - z = |e| v - z``,
      ``v = X u ~ N(0, I_{n_r})``.  Split ``X = v u^T + X P`` (``P`` projects
      orthogonally to ``u``): ``X P`` is independent of ``v`` and ``z``, so
      ``P X^T r ~ |r| N(0, P)`` given ``r`` and
      ``|theta - w|^2 = (|e| - (alpha_r/n_r) v.r)^2 + (alpha_r/n_r)^2 |r|^2 chi2_{p-1}``.
    * A test point ``(x, y = x.w + z')`` scores ``(x.(w - theta) + z')^2 / 2``
      and ``x.(w - theta) ~ |theta - w| N(0, 1)`` independently of ``z'``.
    * Both sides need only sums over points of squares and products of a
      standard normal and the (independent, standard) noise: ``v.v``,
      ``v.z/sigma``, ``z.z/sigma^2`` over ``n`` points form a 2 x 2
      Wishart matrix with ``n`` degrees of freedom, drawn by its Bartlett
      factor ``[[a, 0], [b, c]]`` with ``a^2 ~ chi2_n`` (``vv``, ``gg``),
      ``c^2 ~ chi2_{n-1}`` (``rest_r``, ``rest_te``) and ``b ~ N(0, 1)``
      (``b_r``, ``b_te``): the sums are ``a^2``, ``a b`` and ``b^2 + c^2``.

    ``g`` (R, T, p): task draws; every other draw (R, T); ``n_r``, ``n_te``:
    adaptation and test points per task.  ``out[r, a, b]`` as in
    :func:`protocol_losses`.
    """
    R, A, p = delta.shape
    T = g.shape[1]
    B = alpha_rs.shape[0]
    for r in numba.prange(R):
        acc = np.zeros((B, A))
        for t in range(T):
            v_v = vv[r, t]
            vz = sigma * np.sqrt(v_v) * b_r[r, t]
            zz = sigma * sigma * (b_r[r, t] * b_r[r, t] + rest_r[r, t])
            g_g = gg[r, t]
            gz = sigma * np.sqrt(g_g) * b_te[r, t]
            zz_te = sigma * sigma * (b_te[r, t] * b_te[r, t] + rest_te[r, t])
            for a in range(A):
                e2 = 0.0
                for j in range(p):
                    d = delta[r, a, j] - nu_s * g[r, t, j]
                    e2 += d * d
                en = np.sqrt(e2)
                vr = en * v_v - vz                      # v.r
                rr = e2 * v_v - 2.0 * en * vz + zz      # |r|^2
                for b in range(B):
                    c = alpha_rs[b] / n_r
                    par = en - c * vr
                    d2 = par * par + c * c * rr * chi2[r, t]
                    # sum over test points of (|theta - w| g + z)^2
                    acc[b, a] += (d2 * g_g + 2.0 * np.sqrt(d2) * gz + zz_te) / (2.0 * n_te * T)
        for a in range(A):
            for b in range(B):
                out[r, a, b] = acc[b, a]
