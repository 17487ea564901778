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
    """Expected meta-test loss of ``omega`` (docs: theory, T0 and T0g).

    Exact for every Gaussian task family: T0 for the paper's model, T0g (any
    diagonal input and task covariance) averaged over the components of a
    :class:`~linmeta.Mixture`.

    Parameters
    ----------
    omega : array_like of shape (p,)
    prob : Problem or Mixture
    alpha_r : float or ndarray, optional
        Defaults to ``prob.alpha_r``.

    Raises
    ------
    NotImplementedError
        For a user's task sampler (``tasks=``): the expectation over its tasks
        has no closed form (simulate instead).

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.presets.FIG2          # sigma = 1, nu = 0.5, w0 = 0
    >>> float(lm.test_loss_given(np.zeros(60), prob.replace(alpha_r=0.0)))   # (1 + 0.25) / 2
    0.625
    >>> aniso = prob.replace(nu=None, task_cov=np.full(60, 0.25 / 60), input_cov=2.0)
    >>> round(float(lm.test_loss_given(np.zeros(60), aniso.replace(alpha_r=0.0))), 12)  # (1 + 2 * 0.25) / 2
    0.75

    References
    ----------
    docs: theory, T0, T0g.
    """
    omega = np.asarray(omega, dtype=float)
    if omega.shape != (prob.p,):
        raise ValueError(f"omega must have shape (p,) = ({prob.p},); got {omega.shape}")
    a = prob.alpha_r if alpha_r is None else alpha_r
    out = model_of(prob).loss_given(omega, prob, a)
    return float(out) if np.ndim(out) == 0 else np.asarray(out)
