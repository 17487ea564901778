"""The table of inner maps: one entry per meta-learning algorithm, consulted by every layer.

Every algorithm linmeta simulates adapts the meta-parameters with an affine
inner map ``theta_i(omega) = A_i omega + b_i`` (docs: theory, MAML1, B1, I1, F1),
with ``H_i = X_t,i^T X_t,i / n_t`` and ``c_i = X_t,i^T y_t,i / n_t``; each algorithm's
``A_i`` and ``b_i`` are tabulated in :mod:`linmeta.algorithms`.  ERM (pooled
training) scores ``omega`` itself on all ``n_t + n_v`` points of each task
(``pooled``): one least-squares fit, exactly MAML at ``alpha_t = 0`` with
``n_v`` replaced by ``n_t + n_v``.  An entry (:class:`InnerMap`) says how to build the map in NumPy, which compiled
kernel code runs it, which parameters it reads, how meta-training solves for
``omega`` (least squares on the Gram matrix of ``Z``, or the first-order
fixed point) and whether closed-form theory exists.  :mod:`linmeta.maml`,
:mod:`linmeta.algorithms`, the Problem's validation, the simulation engine,
its cost model and :mod:`linmeta.theory` all read this table.  Each entry is
declared by its algorithm's module (``linmeta/algorithms/<name>.py``); adding
an algorithm means adding such a module and listing it in the table.

Examples
--------
>>> from linmeta.inner_maps import INNER_MAPS
>>> sorted(INNER_MAPS)
['erm', 'fomaml', 'imaml', 'maml']
>>> INNER_MAPS["imaml"].uses_alpha_t, INNER_MAPS["fomaml"].gram
(False, False)
"""
from __future__ import annotations

from linmeta.algorithms._base import InnerMap
from linmeta.algorithms._registry import (
    INNER_MAPS,
    check_curve_field,
    inner_map,
    meta_points,
    uses_one_step_kernel,
)

__all__ = ["InnerMap", "INNER_MAPS", "inner_map", "uses_one_step_kernel", "meta_points", "check_curve_field"]
