"""Beyond leading order for diagonal covariances with an inner step: the anchored closure (docs: theory, A8).

The leading order (A2 below the threshold, A3 above it) has the exact dependence on ``alpha_t`` at its
order (``1/m``, ``rho``) but misses the finite-size factors, which are known without an inner step: exactly
below the threshold (A7, inverse-Wishart moments) and in the proportional limit above it (A5, the
ridgeless deterministic equivalent).  ``D_M`` is linear in the noise variance ``sigma^2``, the task
covariance ``T`` and (above the threshold) the squared start offset ``(omega0 - w0)_j^2``, so it splits
into parts; the closure multiplies each leading-order part at ``alpha_t`` by its ratio anchor / leading
order at ``alpha_t = 0``.

What holds by construction: at ``alpha_t = 0`` the closure is the anchor (exact below the threshold);
its ratio to the leading order tends to 1 as ``m -> oo`` (A2) or ``rho -> 0`` (A3), so it keeps the
leading order's limits.  What is assumed, not derived: that each part's relative finite-size correction
does not depend on ``alpha_t``.  How far that holds is measured (``benchmarks/validity_anisotropic_finite.py``)
and stated as a domain (:mod:`linmeta.theory._anisotropic_domain`).
"""
from __future__ import annotations

import numpy as np

from linmeta.theory._anisotropic import _over, _ridgeless, _under

__all__ = ["closure_over", "closure_under"]


def closure_under(s: np.ndarray, t: np.ndarray, M: np.ndarray, K: np.ndarray, q2: float, alpha_t: float, *,
                  p: int, m: int, n_t: int, per_task: int, sigma: float, anchor_task: float) -> float:
    """``D_M`` below the threshold: A2's noise and task parts, each times its A7 / A2 ratio at ``alpha_t = 0``.

    ``anchor_task`` is A7's task part (``sigma = 0``) for the same ``s, t, M, p, k, per_task``.  The noise
    ratio is ``k / (k - p - 1)`` for every spectrum; the task ratio depends on ``S``, ``T`` and ``M``.
    """
    k = per_task * m
    noise = _under(s, np.zeros_like(t), M, K, q2, alpha_t, n_t, per_task, m, sigma)
    task = _under(s, t, M, K, q2, alpha_t, n_t, per_task, m, 0.0)
    task0 = (float(np.sum(M / s)) * float(np.sum(s * t)) + (per_task + 1) * float(np.sum(M * t))) / k  # A2, 0
    return noise * k / (k - p - 1) + (task * anchor_task / task0 if task0 > 0 else 0.0)


def closure_over(s: np.ndarray, t: np.ndarray, d: np.ndarray, M: np.ndarray, K: np.ndarray, q2: float,
                 alpha_t: float, *, n_t: int, k: int, per_task: int, sigma: float) -> float:
    """``D_M`` above the threshold: A3's start, task and noise parts, each times its A5 / A3 ratio at ``alpha_t = 0``.

    Raises :class:`NotImplementedError` where A3 is refused (at ``alpha_t`` or at 0).
    """
    zero_t, zero_d = np.zeros_like(t), np.zeros_like(d)
    split = ((zero_t, d, 0.0), (t, zero_d, 0.0), (zero_t, zero_d, sigma))
    total = 0.0
    for t_, d_, sigma_ in split:
        lead = _over(s, t_, d_, M, K, q2, alpha_t, n_t, k, sigma_)
        if lead == 0.0:
            continue
        lead0 = _over(s, t_, d_, M, s, q2, 0.0, n_t, k, sigma_)
        total += lead * _ridgeless(s, t_, d_, M, k, per_task, sigma_) / lead0
    return total
