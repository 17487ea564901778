"""Closed-form MAML meta-training (docs: theory, MAML1; B1 for ``n_steps > 1``).

The inner update is affine, ``theta_i(omega) = A_i omega + b_i``, so the
meta-loss ``1/(2 n_v m) |Z omega - r|^2`` with ``Z_i = X_v,i A_i`` and
``r_i = y_v,i - X_v,i b_i`` is quadratic and minimised exactly:

* under-parameterised (``p < n_v m``): the least-squares solution;
* over-parameterised (``p > n_v m``): the exact solution nearest ``omega0``,
  ``omega0 + Z^+ (r - Z omega0)``.

Both use one SVD-based least-squares solve (``numpy.linalg.lstsq``), no
explicit inverse; its singular values give the condition number.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from linmeta.algorithms._registry import INNER_MAPS, inner_map, meta_points

if TYPE_CHECKING:
    from linmeta.problem import Problem
    from linmeta.sampling import TaskBatch

__all__ = ["IllConditionedWarning", "inner_map", "meta_system", "meta_loss", "meta_gradient", "meta_train", "adapt",
           "first_order_fixed_point", "FOMAML_COND_MAX"]

#: Warn when cond(Z) exceeds this: least-squares solutions lose about
#: log10(cond) of their 16 digits, and the residual term up to twice that.
COND_WARN = 1e8


#: :func:`first_order_fixed_point` raises when the condition number of its linear system exceeds this.
FOMAML_COND_MAX = 1e12


class IllConditionedWarning(RuntimeWarning):
    """The meta-training system is too ill-conditioned to trust the solution."""


def meta_system(batch, prob):
    """Stacked system ``(Z, r)`` of the meta-loss, shapes ``(k, p)`` and ``(k,)`` with ``k = prob.k``.

    Rows are the validation points, or for ERM each task's training and
    validation points pooled (:func:`linmeta.inner_maps.meta_points`).
    """
    A, b = inner_map(batch, prob)
    X, y = meta_points(batch, prob)
    Z = np.einsum("mvi,mij->mvj", X, A).reshape(-1, prob.p)
    r = (y - np.einsum("mvi,mi->mv", X, b)).reshape(-1)
    return Z, r


def meta_loss(omega, batch, prob):
    """Meta-training loss: mean over tasks and validation points of ``(y - x.theta_i)^2 / 2``."""
    Z, r = meta_system(batch, prob)
    return 0.5 * np.mean((Z @ np.asarray(omega, float) - r) ** 2)


def meta_gradient(omega, batch, prob):
    """Exact gradient of :func:`meta_loss` at ``omega``: ``Z^T (Z omega - r) / (n_v m)``."""
    Z, r = meta_system(batch, prob)
    return Z.T @ (Z @ np.asarray(omega, float) - r) / Z.shape[0]


def meta_train(batch: TaskBatch, prob: Problem) -> np.ndarray:
    """Minimise the meta-loss exactly.

    Parameters
    ----------
    batch : TaskBatch
        Meta-training set, e.g. from :func:`linmeta.sample_tasks`.
    prob : Problem
        Rates, regime and ``omega0``.

    Returns
    -------
    omega : ndarray of shape (p,)
        Least-squares solution (``p < n_v m``) or the exact solution nearest
        ``omega0`` (``p > n_v m``).

    Warns
    -----
    IllConditionedWarning
        When ``cond(Z) > 1e8`` (the value is named in the message).

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.presets.FIG3
    >>> omega = lm.meta_train(lm.sample_tasks(prob, seed=0), prob)
    >>> omega.shape
    (30,)

    References
    ----------
    docs: theory, MAML1.
    """
    if (batch.X_t.shape[1:], batch.X_v.shape[1:]) != ((prob.n_t, prob.p), (prob.n_v, prob.p)) or batch.m != prob.m:
        raise ValueError(
            f"batch shapes X_t{batch.X_t.shape}, X_v{batch.X_v.shape} do not match the problem "
            f"(m={prob.m}, n_t={prob.n_t}, n_v={prob.n_v}, p={prob.p})"
        )
    if not INNER_MAPS[prob.algorithm].gram:
        return first_order_fixed_point(batch, prob)
    Z, r = meta_system(batch, prob)
    omega0 = prob.omega0
    delta, _, rank, s = np.linalg.lstsq(Z, r - Z @ omega0, rcond=None)
    cond = s[0] / s[-1] if s[-1] > 0 else np.inf
    if cond > COND_WARN:
        warnings.warn(
            f"meta-training system is ill-conditioned: cond(Z) = {cond:.3g} > {COND_WARN:g} "
            f"(p={prob.p}, k={prob.k} meta-training equations; the interpolation threshold is p == k)",
            IllConditionedWarning, stacklevel=2,
        )
    return omega0 + delta


def first_order_fixed_point(batch, prob):
    """First-order MAML's fixed point, solved as a linear system (docs: theory, F1).

    The first-order meta-gradient is ``g(omega) = P^T (Z omega - r) / (n_v m)``
    (:func:`linmeta.algorithms.meta_gradient`).  Its fixed points solve ``P^T Z omega = P^T r``.

    * Under-parameterised (``p < n_v m``): the fixed point **exists and is
      unique iff** ``M = P^T Z = sum_i X_v,i^T X_v,i A_i`` is non-singular.
      ``M`` is not symmetric, and ``det M`` is a polynomial in ``alpha_t`` that
      is non-zero at ``alpha_t = 0`` (``M = P^T P``), so for given data it fails
      only at finitely many rates.  Outer gradient descent converges to it only
      if the eigenvalues of ``M`` have positive real parts (and the step is
      small); the fixed point is returned regardless.
    * Over-parameterised (``p > n_v m``): ``P^T`` has full column rank, so the
      fixed points are exactly the interpolating solutions ``Z omega = r``, the
      same set as MAML's minimisers.  First-order updates move ``omega`` only
      within the span of the validation inputs, so the one that first-order
      gradient descent started at ``omega0`` reaches is
      ``omega0 + P^T mult`` with ``(Z P^T) mult = r - Z omega0``; it **exists and is
      unique iff** ``Z P^T`` (``n_v m x n_v m``) is non-singular.  This is *not*
      the Euclidean-nearest solution ``omega0 + Z^+ (r - Z omega0)`` that MAML
      reaches (unless the row spaces of ``Z`` and ``P`` coincide, e.g.
      ``alpha_t = 0``); it is the one returned.

    Parameters
    ----------
    batch : TaskBatch
    prob : Problem
        ``algorithm`` is ignored here (the first-order fixed point is computed).

    Returns
    -------
    omega : ndarray of shape (p,)

    Raises
    ------
    ValueError
        When the system is singular or its condition number exceeds
        ``FOMAML_COND_MAX = 1e12`` (no unique fixed point).

    Warns
    -----
    IllConditionedWarning
        When the condition number exceeds ``1e8``.

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.presets.FIG2.replace(algorithm="fomaml")
    >>> batch = lm.sample_tasks(prob, seed=0)
    >>> omega = lm.meta_train(batch, prob)
    >>> Z, r = lm.maml.meta_system(batch, prob)
    >>> bool(np.allclose(Z @ omega, r))      # interpolates, like MAML
    True

    References
    ----------
    docs: theory, F1.
    """
    Z, r = meta_system(batch, prob)
    P = batch.X_v.reshape(-1, batch.X_v.shape[-1])
    over = prob.p > prob.k
    M = Z @ P.T if over else P.T @ Z
    rhs = r - Z @ prob.omega0 if over else P.T @ r
    s = np.linalg.svd(M, compute_uv=False)
    cond = s[0] / s[-1] if s[-1] > 0 else np.inf
    what = "Z P^T" if over else "P^T Z"
    if not cond <= FOMAML_COND_MAX:
        raise ValueError(
            f"first-order MAML has no unique fixed point: {what} is singular (cond = {cond:.3g} > "
            f"{FOMAML_COND_MAX:g}; alpha_t={prob.alpha_t}, n_steps={prob.n_steps}, p={prob.p}, n_v*m={prob.k})"
        )
    if cond > COND_WARN:
        warnings.warn(f"first-order MAML fixed point is ill-conditioned: cond({what}) = {cond:.3g} > {COND_WARN:g}",
                      IllConditionedWarning, stacklevel=3)
    x = np.linalg.solve(M, rhs)
    return prob.omega0 + P.T @ x if over else x


def adapt(omega, X, y, alpha):
    """One gradient step of rate ``alpha`` on the points ``(X, y)`` from ``omega``."""
    return omega + alpha / X.shape[0] * X.T @ (y - X @ omega)
