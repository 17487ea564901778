"""iMAML: the exact proximal inner solution, and iMAML as its users run it (docs: theory, I1).

``phi_i = (H_i + lam I)^{-1} (lam theta + c_i)``: ``A_i = lam (H_i + lam I)^{-1}``,
``b_i = (H_i + lam I)^{-1} c_i``; ``alpha_t`` and ``n_steps`` play no role.
The meta-loss is MAML's with these ``A_i, b_i`` and its exact gradient is the
implicit gradient, so meta-training is the same least-squares solve.  No
closed-form theory (reason below).  :func:`imaml_gradient_descent` runs iMAML
with conjugate gradient and Hessian-vector products only; the tests check
that it reaches the closed form.
"""
from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from linmeta._sim import kernels_variants, twins
from linmeta._validation import check_int, check_real
from linmeta.algorithms._base import InnerMap

if TYPE_CHECKING:
    from linmeta.problem import Problem
    from linmeta.sampling import TaskBatch

__all__ = ["ENTRY", "IMAMLResult", "imaml_gradient_descent", "imaml_meta_gradient", "proximal"]

IMAMLResult = namedtuple("IMAMLResult", "omega n_iter converged grad_norm outer_step")
IMAMLResult.__doc__ = """Result of :func:`imaml_gradient_descent`.

Attributes
----------
omega : ndarray of shape (p,)
    Final meta-parameters.
n_iter : int
    Outer iterations taken.
converged : bool
    Whether the meta-gradient norm fell below ``tol``.
grad_norm : float
    Norm of the last meta-gradient.
outer_step : float
    The outer step used.
"""



def proximal(batch, prob):
    """IMAML's exact proximal solution ``phi = (H_i + lam I)^{-1} (lam theta + c_i)``: ``(A, b)`` (docs: theory, I1).

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


def _solve(prob, args, over, want_delta, dist2, delta, cond):
    kernels_variants.variant_solve(*args, kernels_variants.PROXIMAL, prob.n_steps, prob.lam, over, want_delta, dist2,
                                   delta, cond)


def _twin(prob, *args):
    return twins.variant_deltas_numpy(*args[:-1], kernels_variants.PROXIMAL, prob.n_steps, prob.lam,
                                                 args[-1])


ENTRY = InnerMap(
    "imaml", kernels_variants.PROXIMAL, proximal, uses_alpha_t=False, uses_n_steps=False, uses_lam=True, gram=True,
    theory="iMAML needs E tr (H + lam I)^-j of a finite Wishart matrix, which is not a rational function of "
           "(n_t, p, lam); only its Marchenko-Pastur limit is algebraic",
    solve=_solve, twin=_twin, steps_reason="the inner problem is solved exactly",
    population_reason="its population meta-loss needs E[(H + lam I)^-1 S (H + lam I)^-1] for H the sample covariance "
                      "of n_t points, which has no closed form at finite n_t")


# ------------------------------------------------------------------ iMAML as users run it
def _cg(matvec, rhs, x, tol, max_iter):
    """Conjugate gradient for a symmetric positive definite operator, from ``x``; stops at ``|res| <= tol``."""
    res = rhs - matvec(x)
    d = res.copy()
    rr = res @ res
    for _ in range(max_iter):
        if np.sqrt(rr) <= tol:
            break
        q = matvec(d)
        step = rr / (d @ q)
        x = x + step * d
        res = res - step * q
        rr, rr_old = res @ res, rr
        d = res + (rr / rr_old) * d
    return x


def _imaml_task_gradients(omega, batch, lam, phi, g, inner_tol, cg_tol, max_cg):
    """Update ``phi`` (inner solutions) and ``g`` (implicit gradients) in place; return the meta-gradient."""
    m, n_t, p = batch.X_t.shape
    n_v = batch.X_v.shape[1]
    for i in range(m):
        X, Xv = batch.X_t[i], batch.X_v[i]
        hvp = lambda v, X=X: X.T @ (X @ v) / n_t  # noqa: E731  (Hessian-vector product of the training loss)
        # inner problem: grad Lhat(phi) + lam (phi - omega) = 0  <=>  (H + lam I) phi = lam omega + c
        phi[i] = _cg(lambda v, hvp=hvp: hvp(v) + lam * v, lam * omega + X.T @ batch.y_t[i] / n_t, phi[i],
                     inner_tol, max_cg)
        grad_val = Xv.T @ (Xv @ phi[i] - batch.y_v[i]) / n_v
        # implicit gradient: (I + H / lam) g = grad L_i(phi)
        g[i] = _cg(lambda v, hvp=hvp: v + hvp(v) / lam, grad_val, g[i], cg_tol, max_cg)
    return g.mean(axis=0)


def imaml_meta_gradient(omega: ArrayLike, batch: TaskBatch, prob: Problem, *, inner_tol: float = 1e-12,
                        cg_tol: float = 1e-12) -> np.ndarray:
    """IMAML's meta-gradient as its users compute it (docs: theory, I1).

    Each inner problem ``min_phi Lhat_i(phi) + lam/2 |phi - omega|^2`` is solved
    by conjugate gradient to residual ``inner_tol``; the implicit gradient
    ``(I + H_i / lam)^{-1} grad L_i(phi_i)`` by conjugate gradient to residual
    ``cg_tol``, using Hessian-vector products ``X^T (X v) / n_t`` only (no
    Hessian is formed).  For exact solves it equals
    :func:`linmeta.algorithms.meta_gradient` for ``algorithm="imaml"``.

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.Problem(p=6, m=4, n_t=3, n_v=4, n_r=5, sigma=0.5, nu=1.0, alpha_t=0.0, alpha_r=0.1,
    ...                   algorithm="imaml", lam=1.5)
    >>> batch, omega = lm.sample_tasks(prob, seed=1), np.ones(6)
    >>> g = lm.algorithms.imaml_meta_gradient(omega, batch, prob)
    >>> bool(np.allclose(g, lm.algorithms.meta_gradient(omega, batch, prob), rtol=1e-9, atol=1e-12))
    True
    """
    _check_imaml(prob)
    m, p = batch.m, batch.p
    return _imaml_task_gradients(np.asarray(omega, float), batch, prob.lam, np.zeros((m, p)), np.zeros((m, p)),
                                 inner_tol, cg_tol, max_cg=10 * p)


def _validation_smoothness(batch):
    """``L_v = max_i lambda_max(X_v,i^T X_v,i / n_v)``: :func:`linmeta.bounds.smoothness` of the validation data."""
    X = batch.X_v
    return float(np.linalg.eigvalsh(np.einsum("mni,mnj->mij", X, X) / X.shape[1])[:, -1].max())


def _check_imaml(prob):
    if prob.algorithm != "imaml":
        raise ValueError(f"prob.algorithm must be 'imaml'; got {prob.algorithm!r}")


def imaml_gradient_descent(batch: TaskBatch, prob: Problem, *, outer_step: float | None = None, tol: float = 1e-11,
                           max_iter: int = 100_000, inner_tol: float = 1e-13, cg_tol: float = 1e-13,
                           omega_init: ArrayLike | None = None) -> IMAMLResult:
    """Run iMAML as its users do: implicit meta-gradients by conjugate gradient, outer gradient descent.

    Every outer iteration solves each task's proximal inner problem by
    conjugate gradient to residual ``inner_tol`` (warm-started from the
    previous solution), computes the implicit gradient by conjugate gradient
    on ``(I + H_i / lam) g = grad L_i(phi_i)`` to residual ``cg_tol`` with
    Hessian-vector products only, averages over tasks and takes the step
    ``omega <- omega - outer_step * g``.

    Parameters
    ----------
    batch : TaskBatch
    prob : Problem
        ``algorithm="imaml"``.
    outer_step : float, optional
        Default ``1 / L_v`` with ``L_v = max_i lambda_max(X_v,i^T X_v,i / n_v)``
        (:func:`linmeta.bounds.smoothness` of the validation data): since
        ``|A_i| <= 1`` for iMAML the meta-loss is ``L_v``-smooth, so this step
        always converges.
    tol : float, default=1e-11
        Stop when the meta-gradient norm is below ``tol``.
    max_iter : int, default=100000
    inner_tol, cg_tol : float, default=1e-13
        Residual tolerances of the inner solve and of the implicit-gradient solve.
    omega_init : array_like, optional
        Start; default ``prob.omega0`` (in the over-parameterised regime the
        limit is then the solution nearest ``omega0``, as in the closed form).

    Returns
    -------
    IMAMLResult

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.Problem(p=6, m=4, n_t=3, n_v=4, n_r=5, sigma=0.5, nu=1.0, alpha_t=0.0, alpha_r=0.1,
    ...                   algorithm="imaml", lam=1.5)
    >>> batch = lm.sample_tasks(prob, seed=1)
    >>> res = lm.algorithms.imaml_gradient_descent(batch, prob)
    >>> res.converged, bool(np.allclose(res.omega, lm.meta_train(batch, prob), atol=1e-8))
    (True, True)

    References
    ----------
    docs: theory, I1; Rajeswaran, Finn, Kakade & Levine (2019), "Meta-learning with implicit gradients".
    """
    _check_imaml(prob)
    tol = check_real(tol, "tol", min_val=0, strict=True)
    max_iter = check_int(max_iter, "max_iter", min_val=1)
    if outer_step is None:
        outer_step = 1.0 / _validation_smoothness(batch)
    outer_step = check_real(outer_step, "outer_step", min_val=0, strict=True)
    m, p = batch.m, batch.p
    omega = (prob.omega0 if omega_init is None else np.asarray(omega_init, float)).copy()
    phi, g = np.zeros((m, p)), np.zeros((m, p))
    gn = np.inf
    for it in range(1, max_iter + 1):
        grad = _imaml_task_gradients(omega, batch, prob.lam, phi, g, inner_tol, cg_tol, max_cg=10 * p)
        gn = float(np.linalg.norm(grad))
        if not np.isfinite(gn) or gn < tol:
            return IMAMLResult(omega, it - 1, bool(gn < tol), gn, outer_step)
        omega = omega - outer_step * grad
    return IMAMLResult(omega, max_iter, False, gn, outer_step)
