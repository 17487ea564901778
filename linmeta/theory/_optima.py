"""Optimal rates of the leading-order theory behind :mod:`linmeta.theory` (docs: theory, T1a, T2).

The optimal ``alpha_t`` of theorem 2 is the Newton-polished root of its stationary polynomial, theorem 1's
is closed form; the optimal ``alpha_r`` follows from (T0) in both regimes.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from linmeta.algorithms._registry import INNER_MAPS
from linmeta.problem import Problem
from linmeta.theory import _erm
from linmeta.theory import _generated as gen
from linmeta.theory._leading import _check_optimum_problem, _check_rates, _distance, _out, _validate

__all__ = ["optimal_alpha_t", "optimal_alpha_r"]


def _minimise_underparameterized(prob, form):
    """Global minimiser over ``alpha_t`` of the theorem-2 distance.

    ``E|omega* - w0|^2 = P(alpha_t) / h_t^q`` with ``P`` a quartic (``q = 2``
    derived, ``q = 1`` printed).  ``P`` is recovered exactly by interpolation at
    five points; the stationary points are the real roots of ``P' h - q P h'``;
    the best one is polished by Newton steps on that polynomial.
    """
    q = 2 if form == "derived" else 1
    h_coef = np.array([1 + (prob.p + 1) / prob.n_t, -2.0, 1.0])      # h_t, highest power first
    nodes = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    P = np.polyfit(nodes, _distance(prob, nodes, form) * np.polyval(h_coef, nodes) ** q, 4)
    stationary = np.polysub(np.polymul(np.polyder(P), h_coef), q * np.polymul(P, np.polyder(h_coef)))
    roots = np.roots(np.trim_zeros(stationary, "f")) if np.any(stationary) else np.array([])
    real = roots[np.abs(roots.imag) <= 1e-9 * (1 + np.abs(roots.real))].real
    if real.size == 0:
        raise ValueError("theorem 2 has no finite stationary point in alpha_t for this problem")
    values = _distance(prob, real, form)
    best = real[np.argmin(values)]
    limit = P[0] / h_coef[0] ** q                                    # value as |alpha_t| -> inf
    if values.min() > limit:
        raise ValueError("theorem 2 has no finite minimiser in alpha_t: the loss decreases towards "
                         f"its limit {limit:.6g} as |alpha_t| -> inf")
    # polish the root of the stationary polynomial by Newton steps: a minimiser located from function
    # values alone is only good to about sqrt(machine epsilon)
    d_stationary = np.polyder(stationary)
    for _ in range(3):
        slope = np.polyval(d_stationary, best)
        if slope == 0:
            break
        best = best - np.polyval(stationary, best) / slope
    return float(best)


def optimal_alpha_t(prob: Problem, *, form: str = "derived") -> float:
    """Training rate ``alpha_t`` that minimises the leading-order test loss.

    Closed form ``alpha_t^- = -(n_t+1)/(2p) - sqrt(((n_t+1)/(2p))^2 + n_t/p)``
    in theorem 1 (independent of ``alpha_r``; if ``sigma = 0`` the loss does not
    depend on ``alpha_t`` and ``alpha_t^-`` is one minimiser among all);
    numeric in theorem 2 (the root of a derived polynomial, polished by Newton steps: about
    1e-12 relative).  ``alpha_r`` never moves it (the loss is increasing in
    ``E|omega* - w0|^2``).

    Parameters
    ----------
    prob : Problem
    form : {"derived", "printed"}, default="derived"
        ``"printed"``: minimiser of theorem 2 as printed (under-parameterised only).

    Returns
    -------
    float

    Raises
    ------
    NotImplementedError
        For N-step MAML, first-order MAML and iMAML (derived for one-step MAML
        only; :func:`linmeta.simulate_optimum` estimates it).

    See Also
    --------
    linmeta.simulate_optimum : the optimum of the simulated test loss, with a bootstrap standard error.
    linmeta.experiments.optimal_alpha_t : the simulated optimum of ``N``-step MAML against the step-size bound.

    Examples
    --------
    >>> import linmeta as lm
    >>> round(lm.theory.optimal_alpha_t(lm.presets.FIG2), 6)
    -1.011152
    >>> round(lm.theory.optimal_alpha_t(lm.presets.FIG3), 4)
    -0.0282

    References
    ----------
    (docs: theory) T1a, T2; derivations/theorem1.py, derivations/theorem2.py.
    """
    _validate(prob, form, "leading")
    if INNER_MAPS[prob.algorithm].as_maml:  # the equivalent MAML problem is at alpha_t = 0
        raise ValueError(f"optimal_alpha_t: algorithm={prob.algorithm!r} has no inner step and reads no alpha_t")
    _check_optimum_problem(prob, form, "optimal_alpha_t")
    if prob.regime == "overparameterized":
        return float(gen.optimal_alpha_t_overparameterized(prob.p, prob.n_t))
    return _minimise_underparameterized(prob, form)


def optimal_alpha_r(prob: Problem, *, form: str = "derived", alpha_t: ArrayLike | None = None) -> float | np.ndarray:
    """Adaptation rate ``alpha_r`` that minimises the leading-order test loss.

    ``alpha_r* = D / (D (1 + (p+1)/n_r) + sigma^2 p/n_r)`` with
    ``D = nu^2 + E|omega* - w0|^2``; it lies in ``(0, 1/(1 + (p+1)/n_r))`` when
    ``sigma, nu > 0`` (exact given the distance, by T0).

    Parameters
    ----------
    prob : Problem
    form : {"derived", "printed"}, default="derived"
    alpha_t : float or ndarray, optional
        Overrides ``prob.alpha_t``; arrays broadcast.

    Returns
    -------
    float or ndarray

    Raises
    ------
    NotImplementedError
        For N-step MAML, first-order MAML and iMAML (derived for one-step MAML
        only; :func:`linmeta.simulate_optimum` estimates it).

    Examples
    --------
    >>> import linmeta as lm
    >>> round(lm.theory.optimal_alpha_r(lm.presets.FIG2), 6)
    0.089981

    References
    ----------
    (docs: theory) T0, T1a; derivations/theorem1.py.
    """
    _validate(prob, form, "leading")
    if INNER_MAPS[prob.algorithm].as_maml:  # ERM: MAML at alpha_t = 0 with n_v -> n_t + n_v (theory._erm)
        prob, alpha_t = _erm.as_maml(prob, alpha_t), None
    _check_optimum_problem(prob, form, "optimal_alpha_r")
    d2 = _distance(prob, _check_rates(alpha_t, "alpha_t", prob.alpha_t), form)
    return _out(gen.optimal_alpha_r_given_distance(d2, prob.p, prob.n_r, prob.sigma, prob.nu))
