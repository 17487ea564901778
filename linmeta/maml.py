"""Closed-form meta-training (docs: theory, MAML1; B1 for ``n_steps > 1``; F1 for first-order MAML).

The inner update is affine, ``theta_i(omega) = A_i omega + b_i``, so the
meta-loss ``1/(2 n_v m) |Z omega - r|^2`` with ``Z_i = X_v,i A_i`` and
``r_i = y_v,i - X_v,i b_i`` is quadratic and minimised exactly:

* under-parameterised (``p < n_v m``): the least-squares solution;
* over-parameterised (``p > n_v m``): the exact solution nearest ``omega0``,
  ``omega0 + Z^+ (r - Z omega0)``.

Both use one SVD-based least-squares solve (``numpy.linalg.lstsq``), no
explicit inverse; its singular values give the condition number.  The
functions live with the algorithms (:mod:`linmeta.algorithms`); this module
is their documented address.
"""
from __future__ import annotations

from linmeta.algorithms._meta import (
    COND_WARN,
    FOMAML_COND_MAX,
    IllConditionedWarning,
    adapt,
    first_order_fixed_point,
    inner_map,
    meta_gradient,
    meta_loss,
    meta_system,
    meta_train,
)

__all__ = ["IllConditionedWarning", "inner_map", "meta_system", "meta_loss", "meta_gradient", "meta_train", "adapt",
           "first_order_fixed_point", "FOMAML_COND_MAX", "COND_WARN"]
