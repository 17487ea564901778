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
from linmeta.algorithms.maml import ENTRY as MAML_ENTRY

__all__ = ["ENTRY", "as_maml", "identity"]


def identity(batch, prob):
    """No inner step: ``A_i = I``, ``b_i = 0``."""
    m, p = batch.m, batch.p
    return np.broadcast_to(np.eye(p), (m, p, p)).copy(), np.zeros((m, p))


def as_maml(prob):
    """Return the one-step MAML problem with ERM's meta-training: ``alpha_t = 0``, ``n_v`` replaced by ``n_t + n_v``.

    Examples
    --------
    >>> import linmeta as lm
    >>> q = as_maml(lm.presets.FIG3.replace(algorithm="erm"))
    >>> q.algorithm, q.alpha_t, q.n_v, q.k
    ('maml', 0.0, 30, 1200)
    """
    return prob.replace(algorithm=MAML_ENTRY.name, alpha_t=0.0, n_v=prob.n_t + prob.n_v, n_steps=1, lam=None)


def _solve(prob, args, over, want_delta, dist2, delta, cond):
    kernels_erm.erm_solve(*args, over, want_delta, dist2, delta, cond)


def _twin(prob, g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, over):
    d = kernels_erm.erm_deltas_numpy(g, X_t, e_t, X_v, e_v, nu_s, sigma, start, over)
    return np.repeat(d[:, None, :], len(alphas), axis=1)


ENTRY = InnerMap("erm", -1, identity, uses_alpha_t=False, uses_n_steps=False, uses_lam=False, gram=True,
                 theory=None, solve=_solve, twin=_twin, pooled=True, fixed=("alpha_t",),
                 steps_reason="ERM has no inner step", as_maml=as_maml,
                 population="pooled")
