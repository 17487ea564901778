"""First-order MAML (docs: theory, F1).

The same inner loop as MAML (:func:`linmeta.algorithms.maml.gradient_steps`);
meta-training follows ``P^T (Z omega - r)`` (the Jacobian ``A_i^T`` dropped,
``P`` the stacked validation inputs), whose zero is a fixed point solved as a
linear system (:func:`linmeta.maml.first_order_fixed_point`), not a
least-squares solution.  No closed-form theory (reason below).
"""
from __future__ import annotations

from linmeta._sim import kernels_variants, twins
from linmeta.algorithms._base import InnerMap
from linmeta.algorithms.maml import gradient_steps

__all__ = ["ENTRY"]


def _solve(prob, args, over, want_delta, dist2, delta, cond):
    kernels_variants.variant_solve(*args, kernels_variants.FIRST_ORDER_STEPS, prob.n_steps, 0.0, over, want_delta,
                                   dist2, delta, cond)


def _twin(prob, *args):
    return twins.variant_deltas_numpy(*args[:-1], kernels_variants.FIRST_ORDER_STEPS, prob.n_steps, 0.0,
                                                 args[-1])


ENTRY = InnerMap(
    "fomaml", kernels_variants.FIRST_ORDER_STEPS, gradient_steps, uses_alpha_t=True, uses_n_steps=True,
    uses_lam=False, gram=False,
    theory="first-order MAML's fixed point (P^T Z)^-1 P^T r is not a least-squares solution; the leading-order "
           "expansion around m n_v E[A] is not derived",
    solve=_solve, twin=_twin, polynomial=True, population="first_order")
