"""The fluctuation term: the second-order effect of the random eigenvalue law of ``H``.

The column fixed point (:mod:`linmeta.theory._finite.solver`) sees ``H`` only through its mean
eigenvalue law; the single-task expectations are averages over ``H`` of a nonlinear function of its
empirical law.  :func:`fluctuation_shift` adds the second-order term (symmetric sigma points on the exact
covariance of the law at the Gauss nodes, :func:`~linmeta.theory._finite.quadrature.spectral_modes`) on a
quadratic model of the node terms (:func:`node_model`).  It vanishes at ``alpha_t = 0``.

References
----------
docs: theory, derivation.
"""
from __future__ import annotations

import numpy as np

from linmeta.theory._finite.quadrature import column_rule, eigenvalue_rule, spectral_modes
from linmeta.theory._finite.solver import node_terms, single_task_inverse, solve_over

__all__ = ["node_model", "fluctuation_shift", "over_fluctuation", "lam_derivative"]


def node_model(kappa, y0, a, eta, p, n_v, q, qw, h=1e-4):
    """Quadratic model of the node terms in ``(log r, log u)`` around ``y0``: value, gradient, Hessian."""
    args = (a, eta, float(p), float(n_v), q, qw, 32)

    def N(dy):
        r, u = np.exp(y0 + dy)
        return node_terms(kappa, r, u, *args)
    e1, e2 = np.array([h, 0.0]), np.array([0.0, h])
    N0 = N(np.zeros(2))
    Np1, Nm1, Np2, Nm2 = N(e1), N(-e1), N(e2), N(-e2)
    G = np.stack([(Np1 - Nm1) / (2 * h), (Np2 - Nm2) / (2 * h)], axis=-1)           # (n, 5, 2)
    H11, H22 = (Np1 - 2 * N0 + Nm1) / h**2, (Np2 - 2 * N0 + Nm2) / h**2
    H12 = (N(e1 + e2) - N(e1 - e2) - N(e2 - e1) + N(-e1 - e2)) / (4 * h * h)
    return N0, G, H11, H12, H22


def fluctuation_shift(kappa, y0, ew, n_v, model, modes):
    """Second-order effect of the fluctuation of ``H``'s eigenvalue law on ``(chi, s, psi1, psi2, e2)``.

    The single-task expectations average over ``H``: ``E_H f(mu_H)``, where ``mu_H`` is the
    empirical eigenvalue law and ``f`` the column fixed point's output, re-solved for each law.
    The one-point scheme takes ``f(E mu_H)``.  To second order in ``dmu = mu_H - E mu_H``,
    ``E f(mu_H) = f(E mu_H) + sum_k [f(w + sigma_k v_k) + f(w - sigma_k v_k) - 2 f(w)] / 2`` with the
    modes ``(sigma_k^2, v_k)`` of :func:`spectral_modes` (symmetric sigma points, exact for a
    quadratic ``f``).  ``(log r, log u)`` is re-solved for each sigma point on a quadratic model of
    the node terms around ``y0`` (``model``, :func:`node_model`).  Returns the five shifts and the
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


def over_fluctuation(p, n_t, n_v, alpha_t, K=12):
    """Shifts of ``(E tr W^-1, E tr W^-1 X_v H X_v^T)`` by the fluctuation of ``H`` (see :func:`distance_over`)."""
    fast = solve_over(p, n_t, n_v, alpha_t, K)
    y0 = fast[0] if fast is not None else single_task_inverse(p, n_t, n_v, alpha_t, K, state=True)
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = column_rule(n_v)
    model = node_model(0.0, y0, a, eta, p, n_v, q, qw)
    d, dr = fluctuation_shift(0.0, y0, ew, n_v, model, spectral_modes(int(n_t), int(p), K))
    return n_v * dr, d[4]


def lam_derivative(kappa, y0, a, eta, ew, p, n_v, q, qw, model, h=1e-5):
    """``d(chi, s, psi1, psi2, e2)/d kappa`` along the column fixed point ``R(kappa, y) = 0`` at ``(kappa, y0)``.

    ``dy/dlam = -R_y^-1 R_lam`` (implicit function theorem) with the node terms' central
    differences in ``kappa`` and in ``y = (log r, log u)``.
    """
    args = (a, eta, float(p), float(n_v), q, qw, 32)
    r, u = np.exp(y0)
    N0, G = model[:2]
    o, oy = ew @ N0, np.einsum("i,ijk->jk", ew, G)                                    # (5,), (5, 2)
    ol = ew @ (node_terms(kappa * (1 + h), r, u, *args) - node_terms(kappa * (1 - h), r, u, *args)) / (2 * h * kappa)
    chi, s = o[0], o[1]
    Ry = np.array([[-oy[0, 0] / (kappa * n_v * r) - (n_v - chi) / (kappa * n_v * r), -oy[0, 1] / (kappa * n_v * r)],
                   [(r - oy[1, 0]) / (kappa * u), -oy[1, 1] / (kappa * u) - (r - s) / (kappa * u)]])
    Rl = np.array([-(n_v - chi) / (kappa**2 * n_v * r) - ol[0] / (kappa * n_v * r),
                   -(r - s) / (kappa**2 * u) - ol[1] / (kappa * u)])
    return ol + oy @ np.linalg.solve(Ry, -Rl)
