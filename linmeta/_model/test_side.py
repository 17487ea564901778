"""The exact test side of one Gaussian task family given ``omega`` (docs: theory, T0g).

For a task with input covariance ``S``, task law ``w ~ N(w0, T)``, noise
``sigma`` and one adaptation step of rate ``a`` on ``n_r`` points,

``E[loss | omega] = sigma^2/2 + 1/2 [ d' M d + tr(M T) + a^2 sigma^2 tr(S^2) / n_r ]``,
``M = S - 2 a S^2 + a^2 (S^3 + (S^3 + S tr S^2) / n_r)``, ``d = omega - w0``

(derived in ``derivations/test_side.py``).  Everything enters through the
quadratic forms ``q_j = d' S^j d + tr(S^j T)``, ``j = 1, 2, 3``, and ``tr S^2``,
which :func:`diagonal_forms` computes for a diagonal ``S`` (a user's full
factors ``S = F F'``: :meth:`linmeta._model.user.UserTasks.task_losses`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["diagonal_forms", "loss_from_forms"]


def loss_from_forms(q1, q2, q3, tr_s2, sigma, a, n_r):
    """T0g from the forms ``q_j`` (broadcasting arrays) at rates ``a``.

    >>> float(loss_from_forms(2.0, 2.0, 2.0, 3.0, 0.0, 0.0, 10))   # a = 0: (d'Sd + tr(ST)) / 2
    1.0
    """
    a = np.asarray(a, dtype=float)
    quad = q1 - 2.0 * a * q2 + a * a * (q3 + (q3 + q1 * tr_s2) / n_r)
    return 0.5 * sigma * sigma + 0.5 * (quad + a * a * sigma * sigma * tr_s2 / n_r)


def diagonal_forms(d, s, t=None):
    """``(q1, q2, q3, tr S^2)`` for ``S = diag(s)`` and ``T = diag(t)``; ``d`` is (..., p).

    >>> [float(v) for v in diagonal_forms(np.array([1.0, 2.0]), np.array([1.0, 2.0]))]
    [9.0, 17.0, 33.0, 5.0]
    """
    d2 = d * d
    s2 = s * s
    q1, q2, q3 = d2 @ s, d2 @ s2, d2 @ (s2 * s)
    if t is not None:
        q1, q2, q3 = q1 + t @ s, q2 + t @ s2, q3 + t @ (s2 * s)
    return q1, q2, q3, float(s2.sum())
