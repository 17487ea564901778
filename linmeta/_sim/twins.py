"""Plain-NumPy twins of the variant kernels: test oracles and benchmark baselines (docs: theory, B1, I1, F1).

:func:`variant_deltas_numpy` meta-trains N-step MAML, first-order MAML and iMAML the obvious way, with
``p x p`` matrices (``matrix_power``, ``inv``, ``solve``), from the same draws as
:func:`linmeta._sim.kernels_variants.variant_solve`.
"""
from __future__ import annotations

import numpy as np

from linmeta._model import labels_numpy
from linmeta._sim.kernels_variants import FIRST_ORDER_STEPS, PROXIMAL

__all__ = ["variant_deltas_numpy"]


def variant_deltas_numpy(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, algo, n_steps, lam, over):
    """Plain-NumPy twin of :func:`~linmeta._sim.kernels_variants.variant_solve`: ``p x p`` matrices throughout.

    Returns ``delta`` of shape (R, A, p).
    """
    R, m, n_t, p = X_t.shape
    eye = np.eye(p)
    out = np.empty((R, len(alphas), p))
    for r in range(R):
        u = nu_s * g[r]
        y_t = labels_numpy(X_t[r], u, e_t[r], sigma)
        y_v = labels_numpy(X_v[r], u, e_v[r], sigma)
        H = np.einsum("mni,mnj->mij", X_t[r], X_t[r]) / n_t
        c = np.einsum("mni,mn->mi", X_t[r], y_t) / n_t
        P = X_v[r].reshape(-1, p)
        for ia, a in enumerate(alphas):
            if algo == PROXIMAL:
                inv = np.linalg.inv(H + lam * eye)
                A, b = lam * inv, np.einsum("mij,mj->mi", inv, c)
            else:
                step = eye - a * H
                A = np.stack([np.linalg.matrix_power(s, n_steps) for s in step])
                geo = sum(np.stack([np.linalg.matrix_power(s, j) for s in step]) for j in range(n_steps))
                b = a * np.einsum("mij,mj->mi", geo, c)
            Z = np.einsum("mvi,mij->mvj", X_v[r], A).reshape(-1, p)
            res = (y_v - np.einsum("mvi,mi->mv", X_v[r], b)).reshape(-1)
            W = P if algo == FIRST_ORDER_STEPS else Z  # first order: P^T (Z omega - r) = 0
            if over:
                out[r, ia] = start + W.T @ np.linalg.solve(Z @ W.T, res - Z @ start)
            else:
                out[r, ia] = np.linalg.solve(W.T @ Z, W.T @ res)
    return out
