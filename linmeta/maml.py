"""Closed-form MAML meta-training (theory.md §2 MAML1, §6 for ``n_steps > 1``).

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

import numpy as np

__all__ = ["IllConditionedWarning", "inner_map", "meta_system", "meta_loss", "meta_gradient", "meta_train", "adapt"]

#: Warn when cond(Z) exceeds this: least-squares solutions lose about
#: log10(cond) of their 16 digits, and the residual term up to twice that.
COND_WARN = 1e8


class IllConditionedWarning(RuntimeWarning):
    """The meta-training system is too ill-conditioned to trust the solution."""


def inner_map(batch, prob):
    """Return ``(A, b)`` of the inner update ``theta_i = A_i omega + b_i``.

    For ``N = prob.n_steps`` gradient steps of rate ``alpha_t`` on the loss of
    the ``n_t`` training points, ``A_i = (I - alpha_t H_i)^N`` with
    ``H_i = X_t,i^T X_t,i / n_t`` (theory.md §2, §6).

    Returns
    -------
    A : ndarray of shape (m, p, p)
    b : ndarray of shape (m, p)
    """
    if prob.algorithm != "maml":
        from linmeta import algorithms  # noqa: PLC0415  (variants live in their own module)

        return algorithms.inner_map(batch, prob)
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


def meta_system(batch, prob):
    """Stacked system ``(Z, r)`` of the meta-loss, shapes ``(n_v m, p)`` and ``(n_v m,)``."""
    A, b = inner_map(batch, prob)
    Z = np.einsum("mvi,mij->mvj", batch.X_v, A).reshape(-1, prob.p)
    r = (batch.y_v - np.einsum("mvi,mi->mv", batch.X_v, b)).reshape(-1)
    return Z, r


def meta_loss(omega, batch, prob):
    """Meta-training loss: mean over tasks and validation points of ``(y - x.theta_i)^2 / 2``."""
    Z, r = meta_system(batch, prob)
    return 0.5 * np.mean((Z @ np.asarray(omega, float) - r) ** 2)


def meta_gradient(omega, batch, prob):
    """Exact gradient of :func:`meta_loss` at ``omega``: ``Z^T (Z omega - r) / (n_v m)``."""
    Z, r = meta_system(batch, prob)
    return Z.T @ (Z @ np.asarray(omega, float) - r) / Z.shape[0]


def meta_train(batch, prob):
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
    theory.md §2 (MAML1).
    """
    if (batch.X_t.shape[1:], batch.X_v.shape[1:]) != ((prob.n_t, prob.p), (prob.n_v, prob.p)) or batch.m != prob.m:
        raise ValueError(
            f"batch shapes X_t{batch.X_t.shape}, X_v{batch.X_v.shape} do not match the problem "
            f"(m={prob.m}, n_t={prob.n_t}, n_v={prob.n_v}, p={prob.p})"
        )
    if prob.algorithm == "fomaml":
        from linmeta import algorithms  # noqa: PLC0415

        return algorithms.meta_train_fomaml(batch, prob)
    Z, r = meta_system(batch, prob)
    omega0 = prob.omega0
    delta, _, rank, s = np.linalg.lstsq(Z, r - Z @ omega0, rcond=None)
    cond = s[0] / s[-1] if s[-1] > 0 else np.inf
    if cond > COND_WARN:
        warnings.warn(
            f"meta-training system is ill-conditioned: cond(Z) = {cond:.3g} > {COND_WARN:g} "
            f"(p={prob.p}, n_v*m={prob.k}; the interpolation threshold is p == n_v*m)",
            IllConditionedWarning, stacklevel=2,
        )
    return omega0 + delta


def adapt(omega, X, y, alpha):
    """One gradient step of rate ``alpha`` on the points ``(X, y)`` from ``omega``."""
    return omega + alpha / X.shape[0] * X.T @ (y - X @ omega)
