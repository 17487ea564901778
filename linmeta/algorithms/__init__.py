"""The algorithms, one module each, and the functions common to them (docs: theory, MAML1, B1, I1, F1, E1).

==========  ==========================================  ==========================================
module      ``A_i``                                     ``b_i``
==========  ==========================================  ==========================================
``maml``    ``(I - alpha_t H_i)^N``                     ``alpha_t sum_{j<N} (I - alpha_t H_i)^j c_i``
``fomaml``  as ``maml`` (same inner loop)               as ``maml``
``imaml``   ``lam (H_i + lam I)^{-1}``                  ``(H_i + lam I)^{-1} c_i``
``erm``     ``I`` (no inner step)                       ``0``
==========  ==========================================  ==========================================

with ``H_i = X_t,i^T X_t,i / n_t`` and ``c_i = X_t,i^T y_t,i / n_t``.  Each
module holds its inner map, its kernel entry and NumPy twin, the Problem
fields it reads, how meta-training solves for ``omega`` and whether
closed-form theory exists (its record, :class:`~linmeta.inner_maps.InnerMap`,
listed in :data:`linmeta.inner_maps.INNER_MAPS`).

MAML and iMAML minimise the same meta-loss (:func:`linmeta.maml.meta_loss`)
with their own ``A_i, b_i``, and their exact meta-gradient is
``Z^T (Z omega - r) / (n_v m)`` (iMAML's implicit gradient
``(I + H_i / lam)^{-1} grad L_i(phi_i)`` is exactly ``A_i^T grad L_i``, docs:
theory, I1).  First-order MAML drops ``A_i^T`` and follows
``P^T (Z omega - r) / (n_v m)`` with ``P`` the stacked validation inputs
(docs: theory, F1); it is not the gradient of any objective in general, so its
closed form is a fixed point (:func:`meta_train_fomaml`).

:func:`imaml_gradient_descent` runs iMAML as its users do (conjugate gradient
with Hessian-vector products only, inexact inner solves, outer gradient
descent); the tests check that it reaches the closed form.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from linmeta.algorithms._meta import FOMAML_COND_MAX, first_order_fixed_point, meta_system
from linmeta.algorithms._meta import meta_gradient as _maml_meta_gradient
from linmeta.algorithms._registry import INNER_MAPS, inner_map
from linmeta.algorithms.imaml import IMAMLResult, imaml_gradient_descent, imaml_meta_gradient

if TYPE_CHECKING:
    from linmeta.problem import Problem
    from linmeta.sampling import TaskBatch

__all__ = ["inner_map", "meta_gradient", "meta_train_fomaml", "imaml_meta_gradient", "imaml_gradient_descent",
           "IMAMLResult", "FOMAML_COND_MAX"]


def _validation_inputs(batch):
    return batch.X_v.reshape(-1, batch.X_v.shape[-1])


def meta_gradient(omega: ArrayLike, batch: TaskBatch, prob: Problem) -> np.ndarray:
    """Return the meta-gradient each algorithm follows, at ``omega``.

    * ``"maml"``, ``"imaml"``: the exact gradient of the meta-loss,
      ``Z^T (Z omega - r) / (n_v m)`` (for iMAML this is the implicit gradient,
      exact for regression);
    * ``"fomaml"``: ``P^T (Z omega - r) / (n_v m)``: the validation-loss gradient
      at the adapted parameters, without the Jacobian ``A_i^T``.

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.presets.FIG3.replace(algorithm="fomaml", n_steps=2)
    >>> batch = lm.sample_tasks(prob, seed=0)
    >>> omega = lm.meta_train(batch, prob)
    >>> bool(np.linalg.norm(lm.algorithms.meta_gradient(omega, batch, prob)) < 1e-10)
    True

    References
    ----------
    docs: theory, I1, F1.
    """
    if INNER_MAPS[prob.algorithm].gram:
        return _maml_meta_gradient(omega, batch, prob)
    Z, r = meta_system(batch, prob)
    return _validation_inputs(batch).T @ (Z @ np.asarray(omega, float) - r) / Z.shape[0]


def meta_train_fomaml(batch: TaskBatch, prob: Problem) -> np.ndarray:
    """First-order MAML's fixed point, solved as a linear system (docs: theory, F1).

    The same function as :func:`linmeta.maml.first_order_fixed_point` (see
    there for existence, uniqueness and which fixed point is returned);
    :func:`linmeta.meta_train` calls it for ``algorithm="fomaml"``.

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.presets.FIG3.replace(algorithm="fomaml")
    >>> batch = lm.sample_tasks(prob, seed=0)
    >>> bool(np.array_equal(lm.algorithms.meta_train_fomaml(batch, prob), lm.meta_train(batch, prob)))
    True
    """
    return first_order_fixed_point(batch, prob)
