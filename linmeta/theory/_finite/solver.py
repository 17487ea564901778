"""The leave-one-column-out fixed point of one task, and the solvers that find it.

The single-task expectations (``chi = E tr F(kappa+F)^-1``, ``psi1``, ``psi2``, and at ``kappa = 0``
``E tr W^-1`` and ``E tr W^-1 X_v H X_v^T``) come from a fixed point in ``(r, u)`` (``tr R / n_v`` and
``tr R^2 / n_v``): the columns of ``X_v`` (in the eigenbasis of ``H``) are left out one at a time and their
quadratic forms given a Gamma law; the eigenvalues of ``H`` are integrated by :func:`eigenvalue_rule`.

* :func:`node_terms`, :func:`task_moments`: the compiled map at one ``(kappa, r, u)``;
* :func:`solve_under`, :func:`solve_over`: Newton's method on the joint system (:func:`newton`);
* :func:`single_task`, :func:`single_task_inverse`, :func:`nested_under`: the damped iteration and nested
  root finding, used where Newton does not converge.

References
----------
docs: theory, derivation.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from linmeta._sim.linalg import jit
from linmeta.theory._finite.quadrature import column_rule, eigenvalue_rule, gamma_rule, gauss_gamma

__all__ = ["node_terms", "task_moments", "newton", "single_task", "single_task_inverse", "nested_under",
           "solve_under", "solve_over"]


@jit
def node_terms(kappa, r, u, a, eta, p, n_v, q, qw, K):
    """Per-node terms of the column leave-one-out map at ``(kappa, r, u)`` (see :func:`single_task`).

    Row ``i`` (eigenvalue ``eta_i`` of ``H``) holds the terms that the weights ``w_i`` sum into
    ``(chi, s, psi1, psi2, e2)`` (:func:`task_moments`): ``p a_i E[k/d]``,
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
        gauss_gamma(n_v * rm, 2.0 * n_v * um, kap, kw)
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


@jit
def task_moments(kappa, r, u, a, eta, ew, p, n_v, q, qw, K):
    """``(chi, s, psi1, psi2, e2)`` of the column map: the node terms summed with weights ``ew``.

    ``chi = E tr F(kappa+F)^-1``, ``s`` the right side of ``tr R W R = tr R - kappa tr R^2`` (per
    ``n_v``), ``psi1, psi2`` and, at ``kappa = 0``, ``e2 = E tr W^-1 X_v H X_v^T``.
    """
    t = node_terms(kappa, r, u, a, eta, p, n_v, q, qw, K)
    out = np.zeros(5)
    for i in range(a.size):
        for c in range(5):
            out[c] += ew[i] * t[i, c]
    return out[0], out[1], out[2], out[3], out[4]


def newton(resid, x0, tol=1e-14, max_iter=60):
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


def single_task(kappa, eta, ew, p, n_v, alpha_t, iters=400):
    """Solve one task's leave-one-column-out fixed point.

    Returns ``chi = E tr F(kappa+F)^-1``, ``psi1 = E tr F^2 (kappa+F)^-2`` and
    ``psi2 = E tr (kappa+F)^-2 A V H V A``.
    """
    a = (1 - alpha_t * eta) ** 2
    q, qw = gamma_rule(float(n_v), 2.0 * n_v)                 # |x_j|^2 ~ chi^2_{n_v}
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
            kap, kw = gamma_rule(n_v * rm[i], 2 * n_v * um[i])
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


def single_task_inverse(p, n_t, n_v, alpha_t, K=12, state=False):
    """``(E tr W^-1, E tr W^-1 X_v H X_v^T)``, ``W = X_v A^2 X_v^T``: the column fixed point at kappa = 0.

    At ``kappa = 0``: ``sum_j a_j x_j^T W^-1 x_j = n_v`` and ``tr(W^-1 W W^-1) = tr W^-1`` fix
    ``r = tr W^-1 / n_v`` and ``u = tr W^-2 / n_v``; then ``E tr W^-1 X_v H X_v^T =
    sum_j eta_j E[k_j / (1 + a_j k_j)]`` with the same Gamma law for ``k_j``.
    """
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = gamma_rule(float(n_v), 2.0 * n_v)
    A_, Q_ = a[:, None], q[None, :]

    def parts(r, u):
        den = 1 + A_ * r * Q_
        rm = r + (A_ * r * r * Q_ / den) @ qw / n_v
        um = u + (2 * A_ * r**3 * Q_ / den - (A_ * r * r * Q_) ** 2 / den**2) @ qw / n_v
        chi = s = e2 = 0.0
        for i in range(a.size):
            kap, kw = gamma_rule(n_v * rm[i], 2 * n_v * um[i])
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


def nested_under(p, m, n_t, n_v, alpha_t, K=12):
    """``(kappa, psi1, psi2)`` by the nested solve: brentq in ``kappa`` around the damped column fixed point.

    Slow; used only where the joint Newton solve of :func:`solve_under` does not converge.
    """
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    h = (1 - alpha_t) ** 2 + alpha_t**2 * (p + 1) / n_t
    l0 = (m - 1) * n_v * h
    chi = lambda kappa: single_task(kappa, eta, ew, p, n_v, alpha_t)[0] - p / m  # noqa: E731
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
    _, psi1, psi2 = single_task(kappa, eta, ew, p, n_v, alpha_t)
    return kappa, psi1, psi2


def solve_under(p, m, n_t, n_v, alpha_t, K=12, start=None):
    """``(kappa, r, u, psi1, psi2)`` of :func:`subordination_under` by Newton on the joint system.

    The three equations are the fixed point of :func:`single_task` (``r = (n_v - chi)/(kappa n_v)``,
    ``u = (r - s)/kappa``) and ``chi = p/m``, in the unknowns ``log kappa, log r, log u``; the
    Jacobian is a forward difference.  Returns None if Newton does not converge (the caller then
    uses the nested solve).
    """
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = column_rule(n_v)
    args = (a, eta, ew, float(p), float(n_v), q, qw, 32)

    def resid(x):
        kappa, r, u = np.exp(x)
        chi, s, _, _, _ = task_moments(kappa, r, u, *args)
        return np.array([(n_v - chi) / (kappa * n_v * r) - 1, (r - s) / (kappa * u) - 1, chi * m / p - 1])

    if start is None:
        h = (1 - alpha_t) ** 2 + alpha_t**2 * (p + 1) / n_t
        kappa = (m - 1) * n_v * h
        r = n_v / (kappa * n_v + p * np.dot(ew, a))
        start = np.log([kappa, r, r * r])
    x = newton(resid, start)
    if x is None:
        return None
    kappa, r, u = np.exp(x)
    _, _, psi1, psi2, _ = task_moments(kappa, r, u, *args)
    return x, psi1, psi2


def solve_over(p, n_t, n_v, alpha_t, K=12, start=None):
    """``(E tr W^-1, E tr W^-1 X_v H X_v^T)`` of :func:`single_task_inverse` by 2-D Newton (or None)."""
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = column_rule(n_v)
    args = (a, eta, ew, float(p), float(n_v), q, qw, 32)

    def resid(x):
        r, u = np.exp(x)
        chi, s, _, _, _ = task_moments(0.0, r, u, *args)
        return np.array([chi / n_v - 1, s / r - 1])

    if start is None:
        r = 1 / max(p * float(np.dot(ew, a)) - n_v - 1, 1e-12)
        start = np.log([r, r * r])
    x = newton(resid, start)
    if x is None:
        return None
    r, u = np.exp(x)
    return x, n_v * r, task_moments(0.0, r, u, *args)[4]
