"""``approximation="finite"`` for one Gaussian family with diagonal covariances (docs: theory, A6-A8).

Inputs ``x ~ N(0, S)``, tasks ``w ~ N(w0, T)``, ``S = diag(s)``, ``T = diag(t)``; one-step MAML or ERM
(MAML at ``alpha_t = 0`` with ``n_v -> n_t + n_v``).  Exact where derived:

* A6, ``S = s I`` (any ``T``, ``alpha_t``, regime): ``x = sqrt(s) x0`` maps the problem onto the paper's
  isotropic one with ``alpha_t' = s alpha_t``, ``alpha_r' = s alpha_r``, ``nu'^2 = s tr T``, ``w0' = 0``,
  ``omega0' = sqrt(s) (omega0 - w0)``; the loss is that problem's and ``E|omega* - w0|^2 = D' / s`` with
  ``D'`` its finite-size distance (exact at ``alpha_t = 0``, FS1/FS2 otherwise, with its domain warning).
* A7, any ``S``, ``p < k`` and no inner step: ``D_M = E (omega* - w0)' M (omega* - w0)`` from
  inverse-Wishart moments (:func:`distance_alpha0_under`).

Elsewhere (a non-scalar ``S`` with an inner step; above the threshold without one, A5) it is the anchored
closure A8 (:mod:`linmeta.theory._anisotropic_closure`), with its measured domain and warning.  Mixtures,
a user's sampler and other algorithms are refused with the reason.  Derivation of A6 and A7:
``derivations/anisotropic_exact.py``.
"""
from __future__ import annotations

import warnings

import numpy as np

from linmeta._model import component_of, model_of
from linmeta.algorithms._registry import INNER_MAPS, is_one_step_maml
from linmeta.problem import Problem
from linmeta.theory import _anisotropic_domain, _closure_domain, _domain, _finite
from linmeta.theory._anisotropic import _ridgeless
from linmeta.theory._anisotropic_closure import closure_over, closure_under
from linmeta.theory._generated_anisotropic import inner_diag
from linmeta.theory._warnings import ApproximationDomainWarning

__all__ = ["test_loss", "expected_distance", "distance_alpha0_under"]


def distance_alpha0_under(s, t, M, sigma: float, p: int, k: int, per_task: int) -> float:
    """A7: exact ``E (omega* - w0)' M (omega* - w0)``, no inner step, ``p < k - 1``.

    ``k`` rows of meta-training, ``per_task`` of them from each task (``n_v``; ERM: ``n_t + n_v``);
    ``s, t, M``: diagonals of ``S``, ``T`` and ``M``.

    Examples
    --------
    >>> import numpy as np   # S = I, T = nu^2/p I, M = I: E0's p sigma^2/(k-p-1) + ... (see docs)
    >>> round(distance_alpha0_under(np.ones(4), np.full(4, 0.25), np.ones(4), 0.0, 4, 20, 5), 6)
    0.4689
    """
    tr_a, tr_b, tr_ab = float(np.sum(M / s)), float(np.sum(s * t)), float(np.sum(M * t))
    kb = (k * tr_a * tr_b + 2 * (k - p - 2) * tr_ab) / ((k + 2) * (k - p - 1))
    return sigma**2 * tr_a / (k - p - 1) + kb + (per_task - 1) / (k - 1) * (tr_ab - kb)


def _family(prob):
    """Return ``(family, MAML problem)`` of ``prob``; refuse mixtures, samplers and algorithms without the theory."""
    model = model_of(prob)
    components = getattr(model, "components", ())
    if len(components) != 1:
        why = ("a mixture's finite-size theory is not derived (its tasks are not one Gaussian family)" if components
               else "the expectation over a sampler's tasks has no closed form here")
        raise NotImplementedError(f"no closed form at approximation='finite' for the task model "
                                  f"{model.describe(prob)!r}: {why}; approximation='population' gives the exact "
                                  "m -> infinity loss of Gaussian families")
    record = INNER_MAPS[prob.algorithm]
    if record.as_maml is not None:  # ERM: MAML at alpha_t = 0 with n_v -> n_t + n_v (docs: theory, E1)
        prob = record.as_maml(prob)
    if not is_one_step_maml(prob):
        raise ValueError("the finite-size theory covers one-step MAML only; "
                         f"got algorithm={prob.algorithm!r}, n_steps={prob.n_steps}")
    return component_of(1.0, prob), prob


def _scalar(c):
    """``s`` if ``S = s I``, else None."""
    return float(c.s[0]) if np.all(c.s == c.s[0]) else None


def _isotropic(q, c, s):
    """A6: the paper's isotropic problem with the same law of ``sqrt(s) (omega* - w0)`` and the same loss."""
    return Problem(p=q.p, m=q.m, n_t=q.n_t, n_v=q.n_v, n_r=q.n_r, sigma=c.sigma, nu=float(np.sqrt(s * np.sum(c.t))),
                   alpha_t=s * float(q.alpha_t), alpha_r=s * float(q.alpha_r), algorithm=q.algorithm,
                   omega0=np.sqrt(s) * (q.omega0 - c.w0))


def _isotropic_distance(r, s):
    """``D'`` of the equivalent isotropic problem ``r``; warns (about ``r``) outside the validated domain."""
    _finite._require_covered(r)
    d = _finite.exact_alpha0_distance(r) if r.alpha_t == 0.0 else _finite._distance(r)
    reasons = _domain.outside_reasons(r)
    if reasons:
        warnings.warn(f"input_cov = {s:g} I: the loss is that of the equivalent isotropic problem (alpha_t' = "
                      f"input_cov alpha_t = {float(r.alpha_t):g}, nu'^2 = input_cov tr(task_cov)), where the "
                      f"finite-size theory is approximate; that problem: {_domain._message(r, reasons)}",
                      ApproximationDomainWarning, stacklevel=_domain._caller_stacklevel())
    return d


def _general(q, c, M):
    """``D_M`` for a non-scalar ``S``: A7 without an inner step below the threshold, else the closure (A8)."""
    _finite._require_covered(q)
    s, t, d = c.s, c.t, q.omega0 - c.w0
    k, per_task, alpha_t = q.k, q.n_v, float(q.alpha_t)
    q2 = float(np.sum(s**2))
    if q.regime == "underparameterized":
        if alpha_t == 0.0:  # A7, exact
            return distance_alpha0_under(s, t, M, c.sigma, q.p, k, per_task)
        K = inner_diag(s, alpha_t, q.n_t, q2)
        d_m = closure_under(s, t, M, K, q2, alpha_t, p=q.p, m=q.m, n_t=q.n_t, per_task=per_task, sigma=c.sigma,
                            anchor_task=distance_alpha0_under(s, t, M, 0.0, q.p, k, per_task))
    elif alpha_t == 0.0:
        d_m = _ridgeless(s, t, d, M, k, per_task, c.sigma)
        message = _anisotropic_domain.anisotropic_domain_warning(q, "proportional")
        if message:
            warnings.warn("approximation='finite' above the threshold without an inner step is the proportional "
                          f"limit: {message}", ApproximationDomainWarning, stacklevel=_domain._caller_stacklevel())
        return d_m
    else:
        K = inner_diag(s, alpha_t, q.n_t, q2)
        d_m = closure_over(s, t, d, M, K, q2, alpha_t, n_t=q.n_t, k=k, per_task=per_task, sigma=c.sigma)
    _closure_domain.warn_if_outside(q)
    return d_m


def expected_distance(prob) -> float:
    """``E|omega* - w0|^2``: exact (A6, A7) or the closure (A8, A5); the refusals are in the module docstring."""
    c, q = _family(prob)
    s = _scalar(c)
    if s is not None:
        return _isotropic_distance(_isotropic(q, c, s), s) / s
    return _general(q, c, np.ones(q.p))


def test_loss(prob) -> float:
    """Average test loss: (A1) given ``D_M`` (exact: A6, A7; the closure: A8, A5), ``M`` the meta-test diagonal."""
    c, q = _family(prob)
    s = _scalar(c)
    if s is not None:
        r = _isotropic(q, c, s)
        return float(model_of(r).test_loss(_isotropic_distance(r, s), r))  # T0 of r equals A1 at S = s I
    q2 = float(np.sum(c.s**2))
    M = inner_diag(c.s, float(q.alpha_r), q.n_r, q2)
    d_m = _general(q, c, M)
    return float(c.sigma**2 / 2 + (d_m + np.sum(M * c.t) + q.alpha_r**2 * c.sigma**2 * q2 / q.n_r) / 2)


test_loss.__test__ = False  # not a pytest test
