"""Leading-order test loss for anisotropic Gaussian mixed linear regression (docs: theory, A1-A5).

Inputs ``x ~ N(0, S)``, tasks ``w ~ N(w0, T)``, ``S = diag(s)``, ``T = diag(t)``.  The test side given
``omega*`` is exact (A1); ``D_M = E[(omega* - w0)' M (omega* - w0)]`` is approximated as theorems 1
and 2 are in the isotropic case:

* A2, ``p < k`` (``k = n_v m``): ``D_M = sum_j M_j c_j / (m n_v^2 K_j^2)``, ``c_j = E[xi xi']_jj`` exact;
* A3, ``p > k``: first order in ``k / p`` (``Z Z' ~ tr(K) I``);
* A4, ERM: A2/A3 at ``alpha_t = 0`` with ``n_v -> n_t + n_v``;
* A5 (``approximation="proportional"``), ``alpha_t = 0`` (MAML or ERM) and ``p > k``: the ridgeless
  deterministic equivalent, exact as ``p, k -> oo`` in proportion.

The formulas are derived and checked in ``derivations/anisotropic.py``; the long polynomials are emitted
into ``_generated_anisotropic.py``.  No sympy at runtime.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from linmeta._validation import check_int, check_real, check_vector
from linmeta.algorithms._registry import INNER_MAPS, MAML
from linmeta.errors import NonFiniteResultError
from linmeta.moments import warn_if_infinite_moments
from linmeta.problem import Problem
from linmeta.theory import _generated_anisotropic as gen

__all__ = ["ANISOTROPIC_APPROXIMATIONS", "anisotropic_test_loss"]

ANISOTROPIC_APPROXIMATIONS = ("leading", "proportional")
#: One-step MAML and the pooled algorithm (ERM): the ones derived.
_ALGORITHMS = (MAML, *(name for name, record in INNER_MAPS.items() if record.pooled))


def _check_spectrum(value, name, p, strict):
    out = check_vector(value, name, p)
    bad = out <= 0 if strict else out < 0
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must have entries {'>' if strict else '>='} 0; got {out[i]!r} at [{i}]")
    return out


def _kappa(s: np.ndarray, n: int) -> float:
    """``kappa > 0`` with ``sum_j s_j / (s_j + kappa) = n`` (``p > n``): the left side falls from ``p`` to 0."""
    def excess(kappa):
        return float(np.sum(s / (s + kappa))) - n
    high = float(np.sum(s)) / n  # sum s/(s + high) < sum s/high = n
    return brentq(excess, 0.0, high, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def _under(s, t, M, K, q2, alpha_t, n_t, n_v, m, sigma):
    """A2: ``sum_j M_j c_j / (m n_v^2 K_j^2)``."""
    r = [float(np.sum(s**a * t)) for a in range(1, 6)]
    c = gen.xi_covariance(s, t, alpha_t, n_t, n_v, sigma, q2, float(np.sum(s**4)), *r)
    return float(np.sum(M * c / K**2)) / (m * n_v**2)


def _over(s, t, d, M, K, q2, alpha_t, n_t, k, sigma):
    """A3, first order in ``rho = k max_j K_j / tr K`` (``k / p`` for ``S = I``).

    Refused unless ``rho < 1`` and the first-order weights of ``(omega0 - w0)_j^2``,
    ``M_j (1 - 2 k K_j / tr K) + k K_j tr(M K) / tr(K)^2``, are >= 0 (at ``S = I`` both say ``p > k``).
    """
    trK, trMK = float(np.sum(K)), float(np.sum(M * K))
    ratio = k * float(np.max(K)) / trK
    weights = M * (1 - 2 * k * K / trK) + k * K * trMK / trK**2
    if not ratio < 1 or np.any(weights < 0):
        raise NotImplementedError(
            f"the over-parameterised anisotropic theory is first order in rho = k max_j K_j / tr K = {ratio:.3g} "
            f"(k={k}); it needs rho < 1 and non-negative weights of (omega0 - w0)_j^2 (smallest {weights.min():.3g}): "
            "the rows of the meta-training system span too few effective dimensions; "
            "approximation='proportional' covers alpha_t = 0 and ERM")
    d2 = d**2
    return float(gen.distance_over(k, alpha_t, n_t, sigma, q2, np.sum(M * d2), np.sum(K * M * d2),
                                   np.sum(K * d2), np.sum(K), np.sum(M * K), np.sum(K * t)))


def _ridgeless(s, t, d, M, n, per_task, sigma):
    """A5, ``alpha_t = 0``, ``p > n``: deterministic equivalent of the min-norm least squares from ``omega0``.

    ``E[(I-P) M (I-P)] ~ diag(beta)``, ``beta = kappa^2 M/(s+kappa)^2 + kappa^2 V s/(s+kappa)^2``, with
    ``V = sum M s/(s+kappa)^2 / (n - df2)`` the noise factor; a fraction ``q = per_task / n`` of the task part
    is fitted like a signal (``tr(T E[P M P])``), the rest acts as noise of variance ``tr(S T)``.
    """
    kappa = _kappa(s, n)
    g = s / (s + kappa) ** 2
    df2 = float(np.sum(s * g))
    V = float(np.sum(M * g)) / (n - df2)
    beta = kappa**2 * M / (s + kappa) ** 2 + kappa**2 * V * g
    q = per_task / n
    fitted = float(np.sum(t * (M * (1 - 2 * kappa / (s + kappa)) + beta)))
    return float(np.sum(beta * d**2)) + (sigma**2 + (1 - q) * float(np.sum(s * t))) * V + q * fitted


def anisotropic_test_loss(s: ArrayLike, t: ArrayLike, w0: ArrayLike | None, omega0: ArrayLike | None, sigma: float,
                          *, p: int, m: int, n_t: int, n_v: int, n_r: int, alpha_t: float | None = None,
                          alpha_r: float, algorithm: str = MAML, approximation: str = "leading") -> float:
    """Average meta-test loss with input covariance ``diag(s)`` and task covariance ``diag(t)``.

    ``L = sigma^2/2 + [D_M + tr(M T) + alpha_r^2 sigma^2 tr(S^2)/n_r] / 2`` (A1, exact given ``D_M``),
    ``M = S - 2 alpha_r S^2 + alpha_r^2 (S^3 + (S^3 + S tr S^2)/n_r)``, with ``D_M`` from A2
    (``p < k``), A3 (``p > k``) or A5; ``k = n_v m`` (MAML) or ``(n_t + n_v) m`` (ERM).

    Parameters
    ----------
    s : array_like of shape (p,)
        Input variances ``s_j > 0`` (``x ~ N(0, diag(s))``).
    t : array_like of shape (p,)
        Task variances ``t_j >= 0`` (``w ~ N(w0, diag(t))``).
    w0, omega0 : array_like of shape (p,) or None
        Mean task vector and start of meta-training (``None``: zero).
    sigma : float
        Label noise standard deviation, ``>= 0``.
    p, m, n_t, n_v, n_r : int
        Dimension, training tasks, training / validation points per task, adaptation points at test.
    alpha_t : float or None
        Inner (training) rate of MAML; must be ``None`` for ERM, which has no inner step.
    alpha_r : float
        Adaptation rate at meta-test.
    algorithm : {"maml", "erm"}, default="maml"
        One-step MAML or ERM (least squares on all ``n_t + n_v`` points of every task).
    approximation : {"leading", "proportional"}, default="leading"
        ``"leading"``: the order of theorems 1 and 2 (A2, A3, A4); reduces to them at ``s = 1``,
        ``t = nu^2/p``.  ``"proportional"``: A5, only for ``p > k`` and no inner step (ERM or
        ``alpha_t = 0``).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If an argument is out of range (the message names it) or ``p == k``.
    NotImplementedError
        For algorithms other than MAML and ERM; for ``approximation="proportional"`` where it is not
        derived (``p < k``, or MAML with ``alpha_t != 0``); for A3 when ``k max_j K_j >= tr K`` (its
        expansion parameter; ``k / p`` at ``S = I``).
    NonFiniteResultError
        If the loss overflows double precision.

    Warns
    -----
    InfiniteMomentWarning
        As :func:`linmeta.theory.test_loss`: when ``p`` is so close to ``k`` that the true average
        (or its variance) is infinite.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.r_[np.full(10, 2.0), np.full(20, 0.5)]
    >>> kw = dict(p=30, m=40, n_t=5, n_v=25, n_r=10, alpha_r=0.2)
    >>> round(anisotropic_test_loss(s, np.full(30, 0.04 / 30), None, None, 0.2, alpha_t=0.2, **kw), 6)
    0.039596
    """
    p = check_int(p, "p", min_val=1)
    m, n_t, n_v, n_r = (check_int(v, name, min_val=1) for v, name in ((m, "m"), (n_t, "n_t"), (n_v, "n_v"),
                                                                         (n_r, "n_r")))
    s = _check_spectrum(s, "s", p, strict=True)
    t = _check_spectrum(t, "t", p, strict=False)
    d = check_vector(omega0, "omega0", p) - check_vector(w0, "w0", p)
    sigma = check_real(sigma, "sigma", min_val=0)
    alpha_r = check_real(alpha_r, "alpha_r")
    if approximation not in ANISOTROPIC_APPROXIMATIONS:
        raise ValueError(f"approximation must be one of {ANISOTROPIC_APPROXIMATIONS}; got {approximation!r}")
    if algorithm not in _ALGORITHMS:
        if algorithm in INNER_MAPS:
            raise NotImplementedError(f"no anisotropic theory for algorithm={algorithm!r}: only {_ALGORITHMS} are "
                                      "derived (derivations/anisotropic.py)")
        raise ValueError(f"algorithm must be one of {_ALGORITHMS}; got {algorithm!r}")
    pooled = INNER_MAPS[algorithm].pooled
    if pooled:
        if alpha_t is not None:
            raise ValueError(f"alpha_t must be None for algorithm={algorithm!r} (no inner step); got {alpha_t!r}")
        alpha_t, rows, per_task = 0.0, (n_t + n_v) * m, n_t + n_v
    else:
        if alpha_t is None:
            raise ValueError(f"alpha_t must be a finite real number for algorithm={algorithm!r}; got None")
        alpha_t, rows, per_task = check_real(alpha_t, "alpha_t"), n_v * m, n_v
    if p == rows:
        raise ValueError(f"p == {rows} == k is the interpolation threshold; meta-training is singular "
                         f"(choose p < {rows} or p > {rows})")
    warn_if_infinite_moments(Problem(p=p, m=m, n_t=n_t, n_v=n_v, n_r=n_r, sigma=sigma, nu=0.0,
                                     alpha_t=alpha_t, alpha_r=alpha_r,
                                     algorithm=algorithm), stacklevel=3)

    q2 = float(np.sum(s**2))
    # NumPy scalars: an overflow becomes inf (refused below) instead of a Python OverflowError
    sigma, alpha_t, alpha_r = np.float64(sigma), np.float64(alpha_t), np.float64(alpha_r)
    with np.errstate(over="ignore", invalid="ignore"):
        M = gen.inner_diag(s, alpha_r, n_r, q2)
        K = gen.inner_diag(s, alpha_t, n_t, q2)
        if approximation == "proportional":
            if p < rows or alpha_t != 0.0:
                raise NotImplementedError(
                    "approximation='proportional' is derived only for p > k without an inner step (ERM or "
                    f"alpha_t = 0); got p={p}, k={rows}, alpha_t={float(alpha_t)!r}: use approximation='leading'")
            dist = _ridgeless(s, t, d, M, rows, per_task, sigma)
        elif p < rows:
            dist = _under(s, t, M, K, q2, alpha_t, n_t, per_task, m, sigma)
        else:
            dist = _over(s, t, d, M, K, q2, alpha_t, n_t, rows, sigma)
        loss = sigma**2 / 2 + (dist + float(np.sum(M * t)) + alpha_r**2 * sigma**2 * q2 / n_r) / 2
    if not np.isfinite(loss):
        raise NonFiniteResultError(None, None, f"the anisotropic test loss is not a finite number (it overflows "
                                   f"double precision) at alpha_t={float(alpha_t)!r}, alpha_r={float(alpha_r)!r}")
    return float(loss)


anisotropic_test_loss.__test__ = False  # not a pytest test
