"""The table of inner maps: one entry per meta-learning algorithm, consulted by every layer.

Every algorithm linmeta simulates adapts the meta-parameters with an affine
inner map ``theta_i(omega) = A_i omega + b_i`` (docs: theory, MAML1, B1, I1, F1):

==========  ==========================================  ==========================================
algorithm   ``A_i``                                     ``b_i``
==========  ==========================================  ==========================================
``maml``    ``(I - alpha_t H_i)^N``                     ``alpha_t sum_{j<N} (I - alpha_t H_i)^j c_i``
``fomaml``  as ``maml`` (same inner loop)               as ``maml``
``imaml``   ``lam (H_i + lam I)^{-1}``                  ``(H_i + lam I)^{-1} c_i``
``erm``     ``I`` (no inner step)                       ``0``
==========  ==========================================  ==========================================

with ``H_i = X_t,i^T X_t,i / n_t`` and ``c_i = X_t,i^T y_t,i / n_t``.  ERM
(pooled training) scores ``omega`` itself on all ``n_t + n_v`` points of each
task (``pooled``): one least-squares fit, exactly MAML at ``alpha_t = 0`` with
``n_v`` replaced by ``n_t + n_v``.  An
entry (:class:`InnerMap`) says how to build the map in NumPy, which compiled
kernel code runs it, which parameters it reads, how meta-training solves for
``omega`` (least squares on the Gram matrix of ``Z``, or the first-order
fixed point) and whether closed-form theory exists.  :mod:`linmeta.maml`,
:mod:`linmeta.algorithms`, the simulation engine, the kernels and
:mod:`linmeta.theory` all read this table; adding an algorithm means adding
an entry here (and its kernel branch).

Examples
--------
>>> from linmeta.inner_maps import INNER_MAPS
>>> sorted(INNER_MAPS)
['erm', 'fomaml', 'imaml', 'maml']
>>> INNER_MAPS["imaml"].uses_alpha_t, INNER_MAPS["fomaml"].gram
(False, False)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg

__all__ = ["InnerMap", "INNER_MAPS", "inner_map", "uses_one_step_kernel", "meta_points", "check_curve_field"]


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


def proximal(batch, prob):
    """iMAML's exact proximal solution ``phi = (H_i + lam I)^{-1} (lam theta + c_i)``: ``(A, b)`` (docs: theory, I1).

    One Cholesky factorisation of ``H_i + lam I`` per task (positive definite
    since ``lam > 0``), reused for ``A_i`` and ``b_i``.
    """
    m, n_t, p = batch.X_t.shape
    lam = prob.lam
    A = np.empty((m, p, p))
    b = np.empty((m, p))
    eye = np.eye(p)
    for i in range(m):
        X = batch.X_t[i]
        factor = scipy.linalg.cho_factor(X.T @ X / n_t + lam * eye, lower=True)
        A[i] = lam * scipy.linalg.cho_solve(factor, eye)
        A[i] = (A[i] + A[i].T) / 2  # exact symmetry (the solve is symmetric up to rounding)
        b[i] = scipy.linalg.cho_solve(factor, X.T @ batch.y_t[i] / n_t)
    return A, b


def identity(batch, prob):
    """No inner step (ERM): ``A_i = I``, ``b_i = 0``."""
    m, p = batch.m, batch.p
    return np.broadcast_to(np.eye(p), (m, p, p)).copy(), np.zeros((m, p))


@dataclass(frozen=True)
class InnerMap:
    """One algorithm's inner map and how each layer treats it.

    Attributes
    ----------
    name : str
        ``Problem.algorithm``.
    code : int
        The integer the compiled kernels dispatch on.
    build : callable
        ``build(batch, prob) -> (A, b)`` in NumPy, shapes ``(m, p, p)`` and ``(m, p)``.
    uses_alpha_t, uses_n_steps, uses_lam : bool
        Which :class:`~linmeta.Problem` fields the map reads.
    gram : bool
        Meta-training minimises ``|Z omega - r|^2`` (a Gram-matrix solve, whose
        condition number squares ``cond(Z)``); ``False``: the first-order fixed
        point ``P^T (Z omega - r) = 0`` (an LU solve).
    theory : str or None
        ``None`` when closed-form theory exists (:mod:`linmeta.theory`), else why not.
    pooled : bool
        The meta-loss scores ``theta_i`` on the task's training and validation
        points pooled (``n_t + n_v`` per task) instead of its validation points.
    fixed : tuple of str
        Problem fields the map ignores and a curve or optimum may not vary
        (their values would all give the same number).
    """

    name: str
    code: int
    build: Callable
    uses_alpha_t: bool
    uses_n_steps: bool
    uses_lam: bool
    gram: bool
    theory: str | None
    pooled: bool = False
    fixed: tuple[str, ...] = ()


#: The table: ``Problem.algorithm`` -> :class:`InnerMap`.
INNER_MAPS = {
    "maml": InnerMap("maml", 0, gradient_steps, uses_alpha_t=True, uses_n_steps=True, uses_lam=False, gram=True,
                     theory=None),
    "fomaml": InnerMap(
        "fomaml", 1, gradient_steps, uses_alpha_t=True, uses_n_steps=True, uses_lam=False, gram=False,
        theory="first-order MAML's fixed point (P^T Z)^-1 P^T r is not a least-squares solution; the leading-order "
               "expansion around m n_v E[A] is not derived"),
    "imaml": InnerMap(
        "imaml", 2, proximal, uses_alpha_t=False, uses_n_steps=False, uses_lam=True, gram=True,
        theory="iMAML needs E tr (H + lam I)^-j of a finite Wishart matrix, which is not a rational function of "
               "(n_t, p, lam); only its Marchenko-Pastur limit is algebraic"),
    "erm": InnerMap("erm", 3, identity, uses_alpha_t=False, uses_n_steps=False, uses_lam=False, gram=True,
                    theory=None, pooled=True, fixed=("alpha_t",)),
}


def inner_map(batch, prob):
    """Return ``(A, b)`` of the inner update ``theta_i = A_i omega + b_i`` for ``prob.algorithm``.

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> from linmeta.inner_maps import inner_map
    >>> prob = lm.presets.FIG3.replace(alpha_t=0.0)
    >>> A, b = inner_map(lm.sample_tasks(prob, seed=0), prob)     # no step: the identity
    >>> bool(np.array_equal(A[0], np.eye(30))), float(abs(b).max())
    (True, 0.0)
    """
    return INNER_MAPS[prob.algorithm].build(batch, prob)


def uses_one_step_kernel(prob):
    """One-step MAML, whose Gram matrix is quadratic in ``alpha_t`` (the dedicated kernel and Theorems 1-2).

    >>> import linmeta as lm
    >>> uses_one_step_kernel(lm.presets.FIG3), uses_one_step_kernel(lm.presets.FIG3.replace(n_steps=2))
    (True, False)
    """
    return prob.algorithm == "maml" and prob.n_steps == 1


def meta_points(batch, prob):
    """The points each task's meta-loss scores: ``(X, y)`` of shapes ``(m, n, p)`` and ``(m, n)``.

    The validation points (``n = n_v``), or for a pooled algorithm (ERM) the
    training points followed by the validation points (``n = n_t + n_v``).

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.presets.FIG3.replace(algorithm="erm")
    >>> X, y = meta_points(lm.sample_tasks(prob, seed=0), prob)
    >>> X.shape, y.shape                     # n_t + n_v = 5 + 25 points per task
    ((40, 30, 30), (40, 30))
    """
    if not INNER_MAPS[prob.algorithm].pooled:
        return batch.X_v, batch.y_v
    return np.concatenate([batch.X_t, batch.X_v], axis=1), np.concatenate([batch.y_t, batch.y_v], axis=1)


def check_curve_field(prob, name, values=None):
    """Refuse to vary a field that ``prob.algorithm`` ignores (``InnerMap.fixed``) along a curve or optimum.

    Parameters
    ----------
    prob : Problem
    name : str
        The field a curve, sweep or optimum varies.
    values : sequence, optional
        Its values; one distinct value is not a variation and passes.
        ``None``: an optimum search, which always varies the field.

    Raises
    ------
    ValueError
        Naming the field and the algorithm.

    Examples
    --------
    >>> import linmeta as lm
    >>> erm = lm.presets.FIG3.replace(algorithm="erm")
    >>> check_curve_field(erm, "alpha_t", [0.2])          # one value: nothing varies
    >>> check_curve_field(erm, "alpha_t", [0.0, 0.2])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: alpha_t cannot be varied for algorithm='erm', which does not read it (no inner step: ...
    """
    if name not in INNER_MAPS[prob.algorithm].fixed:
        return
    if values is not None and len(set(float(v) for v in values)) <= 1:
        return
    got = "an optimum search" if values is None else f"{len(set(float(v) for v in values))} values"
    raise ValueError(f"{name} cannot be varied for algorithm={prob.algorithm!r}, which does not read it (no inner "
                     f"step: every {name} gives the same number); got {got}; vary alpha_r, n_r or a size instead")
