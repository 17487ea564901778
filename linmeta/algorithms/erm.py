"""ERM, pooled training (docs: theory, E1).

No inner step (``A_i = I``, ``b_i = 0``); the meta-loss scores ``omega``
itself on all ``n_t + n_v`` points of each task: one least-squares fit,
exactly MAML at ``alpha_t = 0`` with ``n_v`` replaced by ``n_t + n_v``, which
is how its closed-form theory is obtained (:mod:`linmeta.theory._erm`).
Kernel: :func:`linmeta._sim.kernels_erm.erm_solve`.
"""
from __future__ import annotations

import numpy as np

from linmeta._sim import kernels_erm
from linmeta.algorithms._base import InnerMap

__all__ = ["ENTRY", "identity"]


def identity(batch, prob):
    """No inner step: ``A_i = I``, ``b_i = 0``."""
    m, p = batch.m, batch.p
    return np.broadcast_to(np.eye(p), (m, p, p)).copy(), np.zeros((m, p))


def _solve(prob, args, over, want_delta, dist2, delta, cond):
    kernels_erm.erm_solve(*args, over, want_delta, dist2, delta, cond)


def _twin(prob, g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, over):
    d = kernels_erm.erm_deltas_numpy(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, over)
    return np.repeat(d[:, None, :], len(alphas), axis=1)


ENTRY = InnerMap("erm", -1, identity, uses_alpha_t=False, uses_n_steps=False, uses_lam=False, gram=True,
                 theory=None, solve=_solve, twin=_twin, pooled=True, fixed=("alpha_t",),
                 steps_reason="ERM has no inner step")
