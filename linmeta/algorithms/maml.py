"""MAML, one and ``N`` inner gradient steps (docs: theory, MAML1, B1).

``A_i = (I - alpha_t H_i)^N`` and ``b_i = alpha_t sum_{j<N} (I - alpha_t H_i)^j c_i``
with ``H_i = X_t,i^T X_t,i / n_t`` and ``c_i = X_t,i^T y_t,i / n_t``;
meta-training is the least-squares solution of ``Z omega = r`` (the one
nearest ``omega0`` when over-parameterised).  One step runs the dedicated
kernel (:func:`linmeta._sim.kernels.maml1_solve`), ``N`` steps the variant
kernel; closed-form theory exists (Theorems 1-2, and B1 for ``N`` steps).
"""
from __future__ import annotations

import numpy as np

from linmeta._sim import kernels, kernels_variants, twins
from linmeta.algorithms._base import InnerMap

__all__ = ["ENTRY", "gradient_steps"]


def gradient_steps(batch, prob):
    """``N = prob.n_steps`` gradient steps of rate ``alpha_t`` on the training loss: ``(A, b)``.

    ``A_i = (I - alpha_t H_i)^N`` and ``theta <- theta - alpha_t (H_i theta - c_i)``
    for ``b`` (docs: theory, MAML1, B1).
    """
    m, n_t, p = batch.X_t.shape
    H = np.einsum("mni,mnj->mij", batch.X_t, batch.X_t) / n_t
    c = np.einsum("mni,mn->mi", batch.X_t, batch.y_t) / n_t
    step = np.eye(p) - prob.alpha_t * H
    A = np.broadcast_to(np.eye(p), (m, p, p)).copy()
    b = np.zeros((m, p))
    for _ in range(prob.n_steps):  # theta <- theta - alpha_t (H theta - c)
        A = step @ A
        b = np.einsum("mij,mj->mi", step, b) + prob.alpha_t * c
    return A, b


def _solve(prob, args, over, want_delta, dist2, delta, cond):
    if prob.n_steps == 1:
        kernels.maml1_solve(*args, over, want_delta, dist2, delta, cond)
    else:
        kernels_variants.variant_solve(*args, kernels_variants.STEPS, prob.n_steps, 0.0, over, want_delta, dist2,
                                       delta, cond)


def _twin(prob, *args):
    return twins.variant_deltas_numpy(*args[:-1], kernels_variants.STEPS, prob.n_steps, 0.0, args[-1])


ENTRY = InnerMap("maml", kernels_variants.STEPS, gradient_steps, uses_alpha_t=True, uses_n_steps=True,
                 uses_lam=False, gram=True, theory=None, solve=_solve, twin=_twin, one_step_kernel=True,
                 polynomial=True, population="second_order")
