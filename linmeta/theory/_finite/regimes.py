"""``E|omega* - w0|^2`` in each regime from the single-task fixed point.

* over-parameterised (:func:`subordination_over`, :func:`distance_over`): the exact reduction to one task
  (Schur complement of the Gram matrix; the complement of the other tasks' row space is a Haar projector,
  whose ``n_v x n_v`` block has ``E J^-1 = (p - n_v - 1)/(p - k - 1) I``) to ``E tr W^-1`` and
  ``E tr W^-1 X_v H X_v^T`` with ``W = X_v A^2 X_v^T``, from the column fixed point at ``kappa = 0``.  That
  fixed point's ``E tr W^-1`` is off by 0.2 % at ``alpha_t = 0`` (p = 50, n_v = 4); :func:`distance_over`
  multiplies it by its exact/scheme ratio at ``alpha_t = 0``, so one formula is exact at ``alpha_t = 0``
  and continuous.
* under-parameterised (:func:`subordination_under`, :func:`distance_under`): two nested leave-one-out
  (Sherman-Morrison) deterministic equivalents solved as fixed points (derivation and equations in
  ``derivations/finite_size.py``, "Under-parameterised, general alpha_t"): tasks are left out one at a time
  (``S = S_-i + F_i``, ``S_-i`` replaced by a scalar ``kappa``), and inside one task the columns of ``X_v``.
  Off by < 0.05 % at FIG3, ~0.4 % at p = 10, m = 5 at ``alpha_t = 0``; :func:`distance_under` multiplies
  the noise and task terms by their exact/scheme ratios at ``alpha_t = 0`` (exact there, continuous).

Both ``distance_*`` add the fluctuation term of :mod:`linmeta.theory._finite.fluctuation`, which restores
the exact ``1/kappa^2`` coefficients, so the under-parameterised result tends to Theorem 2 like ``1/m``.
For comparison, ``linmeta.symbolic._theorems.dyson_over`` and ``dyson_under`` give the Dyson-series
approximations.

References
----------
docs: theory, T1, T2, derivation.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from linmeta.theory import _generated_finite as _gen
from linmeta.theory._finite.fluctuation import fluctuation_shift, lam_derivative, node_model, over_fluctuation
from linmeta.theory._finite.quadrature import column_rule, eigenvalue_rule, spectral_modes
from linmeta.theory._finite.solver import (
    nested_under,
    newton,
    single_task_inverse,
    solve_over,
    solve_under,
    task_moments,
)

__all__ = ["subordination_over", "subordination_under", "under_parts", "distance_under", "distance_over"]


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def subordination_over(p, m, n_t, n_v, sigma, nu, alpha_t, d0, K=12):
    """``E|omega* - w0|^2``, over-parameterised: exact reduction to one task, then the column fixed point.

    ``D = d0 (p-k)/p + m (p-n_v-1)/(p-k-1) [nu^2 n_v/p + sigma^2 E tr W^-1
    + sigma^2 alpha_t^2/n_t E tr W^-1 X_v H X_v^T]``, ``k = n_v m`` (exact given the two single-task
    expectations, which :func:`single_task_inverse` approximates).
    """
    k = n_v * m
    fast = solve_over(p, n_t, n_v, alpha_t, K)
    e1, e2 = fast[1:] if fast is not None else single_task_inverse(p, n_t, n_v, alpha_t, K)
    return (d0 * (p - k) / p + m * (p - n_v - 1) / (p - k - 1)
            * (nu**2 * n_v / p + sigma**2 * e1 + sigma**2 * alpha_t**2 / n_t * e2))


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def subordination_under(p, m, n_t, n_v, sigma, nu, alpha_t, K=12):
    """``E|omega* - w0|^2``, under-parameterised, by leave-one-task-out subordination.

    ``kappa`` solves ``chi(kappa) = p / m``; then
    ``D = sigma^2 (m-1) p/(m kappa) + (m-1) p/(p - m psi1) [nu^2 psi1 / p + sigma^2 alpha_t^2 psi2 / n_t]``
    with the single-task ``chi, psi1, psi2`` of :func:`single_task` (see the module docstring).
    """
    fast = solve_under(p, m, n_t, n_v, alpha_t, K)
    if fast is not None:
        x, psi1, psi2 = fast
        kappa = float(np.exp(x[0]))
    else:
        kappa, psi1, psi2 = nested_under(p, m, n_t, n_v, alpha_t, K)
    fac = (m - 1) * p / (p - m * psi1)
    return sigma**2 * (m - 1) * p / (m * kappa) + fac * (nu**2 * psi1 / p + sigma**2 * alpha_t**2 * psi2 / n_t)


def under_parts(p, m, n_t, n_v, alpha_t, K=12, fluctuation=True):
    """``(kappa, psi1, psi2)`` of the nested leave-one-out, with the spectral-fluctuation term by default.

    ``fluctuation=True``: the single-task ``chi, psi1, psi2`` get the second-order term of
    :func:`fluctuation_shift` at the one-point ``lam0``; ``kappa`` moves to first order,
    ``kappa = lam0 - d chi / chi'(lam0)``, and ``psi_k`` by ``psi_k'(lam0) (kappa - lam0)`` (central
    differences in ``kappa`` and implicit differentiation of the column fixed point).
    """
    if m < 2:
        raise NotImplementedError(
            "the under-parameterised finite-size theory needs m >= 2: it solves for one task against the other "
            f"m - 1 (got m={m}); approximation='leading' covers m = 1")
    eta, ew = eigenvalue_rule(int(n_t), int(p), K)
    a = (1 - alpha_t * eta) ** 2
    q, qw = column_rule(n_v)
    fast = solve_under(p, m, n_t, n_v, alpha_t, K)
    if fast is None:                     # nested solve for kappa, then the column fixed point at that kappa
        lam0, psi1, psi2 = nested_under(p, m, n_t, n_v, alpha_t, K)
        args = (a, eta, ew, float(p), float(n_v), q, qw, 32)

        def resid(y):
            chi, s = task_moments(lam0, *np.exp(y), *args)[:2]
            return np.array([(n_v - chi) / (lam0 * n_v * np.exp(y[0])) - 1,
                             (np.exp(y[0]) - s) / (lam0 * np.exp(y[1])) - 1])
        r0 = n_v / (lam0 * n_v + p * np.dot(ew, a))
        y = newton(resid, np.log([r0, r0 * r0]))
        if y is None and fluctuation:
            raise RuntimeError(f"finite-size theory: the column fixed point did not converge for p={p}, "
                               f"m={m}, n_t={n_t}, n_v={n_v}, alpha_t={alpha_t}")
        x = np.r_[np.log(lam0), y if y is not None else np.zeros(2)]
    else:
        x, psi1, psi2 = fast
        lam0 = float(np.exp(x[0]))
    if not fluctuation:
        return lam0, psi1, psi2
    model = node_model(lam0, x[1:], a, eta, p, n_v, q, qw)
    d, _ = fluctuation_shift(lam0, x[1:], ew, n_v, model, spectral_modes(int(n_t), int(p), K))
    deriv = lam_derivative(lam0, x[1:], a, eta, ew, p, n_v, q, qw, model)   # d(chi, s, psi1, psi2, e2)/d kappa
    dlam = -d[0] / deriv[0]
    return lam0 + dlam, psi1 + d[2] + deriv[2] * dlam, psi2 + d[3] + deriv[3] * dlam


@lru_cache(maxsize=1024)
def under_alpha0_ratios(p, m, n_t, n_v, K=12):
    """Exact / scheme at ``alpha_t = 0`` for the noise term ``E tr S^-1`` and the task term."""
    kappa, psi1, _ = under_parts(p, m, n_t, n_v, 0.0, K, fluctuation=False)   # no H fluctuation term at A = I
    noise = float(_gen.exact_alpha0_under(p, m, n_t, n_v, 1.0, 0.0, 0.0, 0.0))
    task = float(_gen.exact_alpha0_under(p, m, n_t, n_v, 0.0, 1.0, 0.0, 0.0))
    return noise / ((m - 1) * p / (m * kappa)), task / ((m - 1) * p / (p - m * psi1) * psi1 / p)


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def distance_under(p, m, n_t, n_v, sigma, nu, alpha_t, K=12, fluctuation=True):
    """``E|omega* - w0|^2``, under-parameterised: the nested leave-one-out with two derived corrections.

    (a) Fluctuation of ``H`` (``fluctuation=True``, default): the column fixed point sees ``H`` only
    through its mean eigenvalue law; the single-task expectations are averages over ``H`` of a
    nonlinear function of its empirical law.  :func:`under_parts` adds the second-order term
    (sigma points on the exact covariance of the law, :func:`spectral_modes`).  As ``kappa -> inf``
    this restores the exact ``1/kappa^2`` coefficients, ``n_v Var(tr A^2)`` in ``psi1`` and
    ``n_v Cov(tr H, tr A^2)`` in ``psi2`` (:func:`trace_fluctuations`), so the result tends to
    Theorem 2 like ``1/m`` as ``m -> infinity``; it vanishes at ``alpha_t = 0`` (``A = I``).
    (b) Exact at ``alpha_t = 0``: the noise term and the task bracket are multiplied by their
    exact/scheme ratios at ``alpha_t = 0`` (:func:`under_alpha0_ratios`; both ``1 + O(1/m)``).
    Assumption: the closure's relative error in each term does not depend on ``alpha_t``; the
    result is exact at ``alpha_t = 0`` and continuous in ``alpha_t``.
    """
    kappa, psi1, psi2 = under_parts(p, m, n_t, n_v, alpha_t, K, fluctuation)
    c_noise, c_task = under_alpha0_ratios(p, m, n_t, n_v, K)
    fac = (m - 1) * p / (p - m * psi1)
    return (c_noise * sigma**2 * (m - 1) * p / (m * kappa)
            + c_task * fac * (nu**2 * psi1 / p + sigma**2 * alpha_t**2 * psi2 / n_t))


@lru_cache(maxsize=1024)
def over_alpha0_ratio(p, n_t, n_v, K=12):
    """Exact ``E tr W^-1 = n_v/(p - n_v - 1)`` over the column fixed point's value at ``alpha_t = 0``."""
    fast = solve_over(p, n_t, n_v, 0.0, K)
    e1 = fast[1] if fast is not None else single_task_inverse(p, n_t, n_v, 0.0, K)[0]
    return n_v / (p - n_v - 1) / e1


@lru_cache(maxsize=1024)  # pure in its scalar arguments; figures ask for the same values again
def distance_over(p, m, n_t, n_v, sigma, nu, alpha_t, d0, K=12, fluctuation=True):
    """``E|omega* - w0|^2``, over-parameterised: :func:`subordination_over` with two derived corrections.

    ``fluctuation=True`` (default): ``E tr W^-1`` and ``E tr W^-1 X_v H X_v^T`` get the
    second-order term in the fluctuation of ``H``'s eigenvalue law (:func:`fluctuation_shift` at
    ``kappa = 0``; zero at ``alpha_t = 0``).  Then ``E tr W^-1`` is multiplied by its exact/scheme
    ratio at ``alpha_t = 0`` (``E tr W^-1 X_v H X_v^T`` is already exact there: ``= n_v``).
    """
    k = n_v * m
    fast = solve_over(p, n_t, n_v, alpha_t, K)
    e1, e2 = fast[1:] if fast is not None else single_task_inverse(p, n_t, n_v, alpha_t, K)
    if fluctuation:
        de1, de2 = over_fluctuation(p, n_t, n_v, alpha_t, K)
        e1, e2 = e1 + de1, e2 + de2
    e1 = e1 * over_alpha0_ratio(p, n_t, n_v, K)
    return (d0 * (p - k) / p + m * (p - n_v - 1) / (p - k - 1)
            * (nu**2 * n_v / p + sigma**2 * e1 + sigma**2 * alpha_t**2 / n_t * e2))
