"""Numba kernels over simulation runs: deterministic, no validation, no randomness.

Every kernel takes standard-normal draws (``linmeta.sampling``) and works in
coordinates shifted by ``w0`` (everything depends on ``omega0 - w0`` and
``w - w0`` only).  Under ``parallel=True`` each ``prange`` iteration writes
only its own slots, so results are bit-for-bit independent of the thread
count.  ``fastmath`` stays off: reassociation would break that.
Plain-NumPy twins used as test oracles and benchmark baselines live in
``linmeta._reference``.
"""
from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True)
pjit = numba.njit(cache=True, nogil=True, parallel=True)


@jit
def _atb(A, B):
    """``A^T B`` by explicit loops (no BLAS: fixed summation order, no nested threads)."""
    k, p = A.shape
    q = B.shape[1]
    out = np.zeros((p, q))
    for row in range(k):
        for a in range(p):
            v = A[row, a]
            for b in range(q):
                out[a, b] += v * B[row, b]
    return out


@jit
def _abt(A, B):
    """``A B^T`` by explicit loops."""
    out = np.zeros((A.shape[0], B.shape[0]))
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            acc = 0.0
            for a in range(A.shape[1]):
                acc += A[i, a] * B[j, a]
            out[i, j] = acc
    return out


@jit
def _mv(A, x):
    """``A x`` by explicit loops."""
    out = np.zeros(A.shape[0])
    for i in range(A.shape[0]):
        acc = 0.0
        for a in range(A.shape[1]):
            acc += A[i, a] * x[a]
        out[i] = acc
    return out


@jit
def _tmv(A, x):
    """``A^T x`` by explicit loops."""
    out = np.zeros(A.shape[1])
    for i in range(A.shape[0]):
        for a in range(A.shape[1]):
            out[a] += A[i, a] * x[i]
    return out


@jit
def _solve_spd(G, rhs, x):
    """Solve ``G x = rhs`` by Cholesky (``G`` is overwritten by its factor).

    Returns a lower bound on ``cond(G)``, ``(max L_ii / min L_ii)^2``
    (the diagonal of a triangular factor holds its eigenvalues), or ``inf``
    when ``G`` is not numerically positive definite (then ``x`` is NaN).
    """
    n = G.shape[0]
    for j in range(n):
        s = G[j, j]
        for k in range(j):
            s -= G[j, k] * G[j, k]
        if not s > 0.0:
            x[:] = np.nan
            return np.inf
        d = np.sqrt(s)
        G[j, j] = d
        for i in range(j + 1, n):
            s = G[i, j]
            for k in range(j):
                s -= G[i, k] * G[j, k]
            G[i, j] = s / d
    for i in range(n):  # L y = rhs
        s = rhs[i]
        for k in range(i):
            s -= G[i, k] * x[k]
        x[i] = s / G[i, i]
    for i in range(n - 1, -1, -1):  # L^T x = y
        s = x[i]
        for k in range(i + 1, n):
            s -= G[k, i] * x[k]
        x[i] = s / G[i, i]
    lo, hi = G[0, 0], G[0, 0]
    for i in range(n):
        lo = min(lo, G[i, i])
        hi = max(hi, G[i, i])
    return (hi / lo) ** 2


@jit
def _stack_rows(g, X_t, e_t, X_v, e_v, nu_s, sigma, P, Q, y, s):
    """Rows of the one-step MAML system for one run: ``Z = P - alpha_t Q``, ``r = y - alpha_t s``.

    ``P`` stacks the validation inputs, ``Q_i = X_v,i H_i``, ``s_i = X_v,i c_i``
    with ``H_i = X_t^T X_t / n_t`` and ``c_i = X_t^T y_t / n_t`` (theory.md §2).
    """
    m, n_t, p = X_t.shape
    n_v = X_v.shape[1]
    H = np.empty((p, p))
    c = np.empty(p)
    u = np.empty(p)
    for i in range(m):
        for a in range(p):
            u[a] = nu_s * g[i, a]
        c[:] = 0.0
        H[:] = 0.0
        for n in range(n_t):
            x = X_t[i, n]
            yt = sigma * e_t[i, n]
            for a in range(p):
                yt += x[a] * u[a]
            for a in range(p):
                c[a] += x[a] * yt / n_t
                for b in range(p):
                    H[a, b] += x[a] * x[b] / n_t
        for n in range(n_v):
            row = i * n_v + n
            x = X_v[i, n]
            yv = sigma * e_v[i, n]
            sv = 0.0
            for a in range(p):
                yv += x[a] * u[a]
                sv += x[a] * c[a]
                P[row, a] = x[a]
            for b in range(p):
                qb = 0.0
                for a in range(p):
                    qb += x[a] * H[a, b]
                Q[row, b] = qb
            y[row] = yv
            s[row] = sv


@pjit
def maml1_deltas(g, X_t, e_t, X_v, e_v, nu_s, sigma, d0, alphas, over, delta, cond):
    """``omega*(alpha_t) - w0`` for every run and every ``alpha_t`` in ``alphas``.

    The Gram matrices are quadratic in ``alpha_t``; their coefficients are
    built once per run (common random numbers across ``alphas``).

    Parameters
    ----------
    g, X_t, e_t, X_v, e_v : standard-normal draws, leading axis = run
    nu_s, sigma : float
        ``nu / sqrt(p)`` and ``sigma``.
    d0 : ndarray (p,)
        ``omega0 - w0``.
    alphas : ndarray (A,)
    over : bool
        Over-parameterised (``p > n_v m``): nearest solution to ``omega0``.
    delta : ndarray (R, A, p), out
    cond : ndarray (R, A), out
        Lower bound on the condition number of the solved Gram matrix.
    """
    R, m, n_t, p = X_t.shape
    k = m * X_v.shape[2]
    for r in numba.prange(R):
        P = np.empty((k, p))
        Q = np.empty((k, p))
        y = np.empty(k)
        s = np.empty(k)
        _stack_rows(g[r], X_t[r], e_t[r], X_v[r], e_v[r], nu_s, sigma, P, Q, y, s)
        if over:
            K0 = _abt(P, P)
            K1 = _abt(P, Q)
            K2 = _abt(Q, Q)
            r0 = y - _mv(P, d0)
            r1 = s - _mv(Q, d0)
            lam = np.empty(k)
            for ia in range(alphas.shape[0]):
                a = alphas[ia]
                K = K0 - a * (K1 + K1.T) + a * a * K2
                cond[r, ia] = _solve_spd(K, r0 - a * r1, lam)
                delta[r, ia] = d0 + _tmv(P, lam) - a * _tmv(Q, lam)
        else:
            G0 = _atb(P, P)
            G1 = _atb(P, Q)
            G2 = _atb(Q, Q)
            v0 = _tmv(P, y)
            v1 = _tmv(Q, y) + _tmv(P, s)
            v2 = _tmv(Q, s)
            x = np.empty(p)
            for ia in range(alphas.shape[0]):
                a = alphas[ia]
                G = G0 - a * (G1 + G1.T) + a * a * G2
                cond[r, ia] = _solve_spd(G, v0 - a * v1 + a * a * v2, x)
                delta[r, ia] = x


@pjit
def protocol_losses(delta, g, X_r, e_r, X_te, e_te, nu_s, sigma, alpha_rs, out):
    """The paper's protocol: mean test loss over sampled test tasks (theory.md §2, §7).

    For run ``r``, meta-parameters ``omega - w0 = delta[r, a]`` and each test
    task ``t``: adapt with one step of rate ``alpha_r`` on ``n_r`` points,
    then average ``(y - x.theta)^2 / 2`` over ``n_te`` fresh points.
    ``out[r, a, b]`` is the mean over test tasks for ``alpha_rs[b]``.
    The innermost loops run over ``a`` (independent sums, so they vectorise
    without reordering any sum).
    """
    R, A, p = delta.shape
    T, n_r = X_r.shape[1], X_r.shape[2]
    n_te = X_te.shape[2]
    B = alpha_rs.shape[0]
    for r in numba.prange(R):
        E = np.empty((p, A))  # omega - w, one column per alpha_t (shifted coordinates)
        grad = np.empty((p, A))
        D = np.empty((p, A))
        res = np.empty(A)
        sq = np.empty(A)
        acc = np.empty((B, A))
        acc[:] = 0.0
        for t in range(T):
            for j in range(p):
                u = nu_s * g[r, t, j]
                for a in range(A):
                    E[j, a] = delta[r, a, j] - u
            grad[:] = 0.0
            for n in range(n_r):  # grad = X_r^T (y_r - X_r omega) / n_r
                x = X_r[r, t, n]
                res[:] = sigma * e_r[r, t, n]
                for j in range(p):
                    for a in range(A):
                        res[a] -= x[j] * E[j, a]
                for j in range(p):
                    for a in range(A):
                        grad[j, a] += x[j] * res[a] / n_r
            for b in range(B):
                for j in range(p):  # D = theta - w
                    for a in range(A):
                        D[j, a] = E[j, a] + alpha_rs[b] * grad[j, a]
                for a in range(A):
                    res[a] = 0.0
                for n in range(n_te):
                    x = X_te[r, t, n]
                    sq[:] = sigma * e_te[r, t, n]
                    for j in range(p):
                        for a in range(A):
                            sq[a] -= x[j] * D[j, a]
                    for a in range(A):
                        res[a] += sq[a] * sq[a]
                for a in range(A):
                    acc[b, a] += res[a] / (2.0 * n_te * T)
        for a in range(A):
            for b in range(B):
                out[r, a, b] = acc[b, a]


@jit
def _pair_sums(a, e, sigma):
    """``(sum a^2, sum a z, sum z^2)`` with ``z = sigma e``, summed in index order."""
    aa = 0.0
    az = 0.0
    zz = 0.0
    for n in range(a.shape[0]):
        z = sigma * e[n]
        aa += a[n] * a[n]
        az += a[n] * z
        zz += z * z
    return aa, az, zz


@pjit
def protocol_losses_projected(delta, g, v, e_r, chi2, g_te, e_te, nu_s, sigma, alpha_rs, out):
    """The paper's protocol from the projections the score depends on (theory.md §2, §7).

    Same estimator as :func:`protocol_losses`, with the same distribution for
    every ``alpha_t`` and ``alpha_r``, drawing ``O(p + n_r + n_te)`` numbers
    per test task instead of ``O((n_r + n_te) p)``.  For a test task ``w``
    let ``e = omega - w`` and ``u = e/|e|``; adaptation inputs ``X`` (n_r x p),
    noise ``z``:

    * ``theta - w = e - (alpha_r/n_r) X^T r`` with ``r = X e - z = |e| v - z``,
      ``v = X u ~ N(0, I_{n_r})``.  Split ``X = v u^T + X P`` (``P`` projects
      orthogonally to ``u``): ``X P`` is independent of ``v`` and ``z``, so
      ``P X^T r ~ |r| N(0, P)`` given ``r`` and
      ``|theta - w|^2 = (|e| - (alpha_r/n_r) v.r)^2 + (alpha_r/n_r)^2 |r|^2 chi2_{p-1}``.
    * A test point ``(x, y = x.w + z')`` scores ``(x.(w - theta) + z')^2 / 2``
      and ``x.(w - theta) ~ |theta - w| N(0, 1)`` independently of ``z'``.

    ``g`` (R, T, p): task draws; ``v``, ``e_r`` (R, T, n_r); ``chi2`` (R, T);
    ``g_te``, ``e_te`` (R, T, n_te).  ``out[r, a, b]`` as in
    :func:`protocol_losses`.  The per-task sums over points do not depend on
    the rates and are formed once.
    """
    R, A, p = delta.shape
    T, n_r = v.shape[1], v.shape[2]
    B = alpha_rs.shape[0]
    n_te = g_te.shape[2]
    for r in numba.prange(R):
        acc = np.zeros((B, A))
        for t in range(T):
            vv, vz, zz = _pair_sums(v[r, t], e_r[r, t], sigma)
            gg, gz, zz_te = _pair_sums(g_te[r, t], e_te[r, t], sigma)
            for a in range(A):
                e2 = 0.0
                for j in range(p):
                    d = delta[r, a, j] - nu_s * g[r, t, j]
                    e2 += d * d
                en = np.sqrt(e2)
                vr = en * vv - vz                      # v.r
                rr = e2 * vv - 2.0 * en * vz + zz      # |r|^2
                for b in range(B):
                    c = alpha_rs[b] / n_r
                    par = en - c * vr
                    d2 = par * par + c * c * rr * chi2[r, t]
                    # sum over test points of (|theta - w| g + z)^2
                    acc[b, a] += (d2 * gg + 2.0 * np.sqrt(d2) * gz + zz_te) / (2.0 * n_te * T)
        for a in range(A):
            for b in range(B):
                out[r, a, b] = acc[b, a]
