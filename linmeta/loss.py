"""Exact meta-test loss given the meta-trained parameters (docs: theory, T0).

Averaging over a fresh task ``w ~ N(w0, nu^2/p I)``, its ``n_r`` adaptation
points and fresh test points, one step of rate ``alpha_r`` from ``omega``:

``E[test loss | omega] = sigma^2/2 (1 + alpha_r^2 p / n_r) + h_r/2 (nu^2 + |omega - w0|^2)``

with ``h_r = (1 - alpha_r)^2 + alpha_r^2 (p + 1) / n_r``.  It is exact at
finite sizes (it only uses ``E[H] = I`` and ``E[H^2] = (1 + (p+1)/n) I``).  The formula belongs to the
task model (:mod:`linmeta._model`); this module is its public face.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from linmeta._model import h, model_of

if TYPE_CHECKING:
    from linmeta.problem import Problem

__all__ = ["h", "loss_from_distance", "test_loss_given"]


def loss_from_distance(dist2, prob, alpha_r=None):
    """T0 as a function of ``dist2 = |omega - w0|^2`` (broadcasts over arrays): the task model's exact test side.

    Parameters
    ----------
    dist2 : float or ndarray
    prob : Problem
    alpha_r : float or ndarray, optional
        Defaults to ``prob.alpha_r``.
    """
    return model_of(prob).test_loss(dist2, prob, alpha_r)


def test_loss_given(omega: ArrayLike, prob: Problem, alpha_r: ArrayLike | None = None) -> float | np.ndarray:
    """Expected meta-test loss of ``omega`` (docs: theory, T0).

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.presets.FIG2          # sigma = 1, nu = 0.5, w0 = 0
    >>> float(lm.test_loss_given(np.zeros(60), prob.replace(alpha_r=0.0)))   # (1 + 0.25) / 2
    0.625

    References
    ----------
    docs: theory, T0.
    """
    d = np.asarray(omega, dtype=float) - prob.w0
    return loss_from_distance(float(d @ d), prob, alpha_r)
