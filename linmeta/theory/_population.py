"""Population limit (``m -> infinity``) of meta-training on a mixture of diagonal Gaussian tasks (docs: theory, P1-P4).

Component ``c`` (weight ``pi_c``) draws inputs ``x ~ N(0, diag(s_c))``, tasks
``w ~ N(w0_c, diag(t_c))`` and labels ``y = x.w + sigma_c z``, each training task drawing its
component independently.  With infinitely many training tasks the meta-training equations
become their expectation; for every algorithm they read

    sum_c pi_c K_c (omega - w0_c) = 0,      K_c diagonal, independent of n_v,        (P1)

with ``A = (I - alpha_t H)^N`` the inner map of a task with ``n_t`` points (``H`` their
sample covariance):

* MAML (exact meta-gradient of the meta-loss): ``K_c = E[A^T S_c A]``  (P2);
* first-order MAML (validation gradient at the adapted parameters): ``K_c = S_c E[A]``  (P3);
* ERM (pooled least squares): ``K_c = S_c``, which is MAML's at ``alpha_t = 0``;
* iMAML would need ``E[(H + lam I)^-1 S (H + lam I)^-1]``: not implemented.

The moments of ``H`` are exact (:mod:`linmeta.theory._diagonal_moments`).  The test loss
of ``omega`` is the exact meta-test side averaged over the components (P4), the
``diag`` case of T0g.  ``derivations/population.py`` derives all of it with sympy.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from linmeta._validation import check_int, check_real, check_vector
from linmeta.algorithms._registry import INNER_MAPS
from linmeta.errors import NonFiniteResultError
from linmeta.theory._diagonal_moments import MAX_DEGREE, diagonal_moment

__all__ = ["ALGORITHMS", "SINGULAR_RTOL", "population_omega", "population_loss", "test_side_loss"]

ALGORITHMS = tuple(INNER_MAPS)

#: A coordinate of (P1) is singular when its coefficient is below this times the sum of its terms' magnitudes.
SINGULAR_RTOL = 1e-12


def _matrix(value, name, shape, *, lower=None, strict=False):
    try:
        out = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array of shape {shape}; got {value!r}") from None
    if out.shape != shape:
        raise ValueError(f"{name} must be a real array of shape {shape}; got shape {out.shape}")
    bad = ~np.isfinite(out)
    if lower is not None:
        bad |= (out <= lower) if strict else (out < lower)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        rng = "" if lower is None else f" and {'>' if strict else '>='} {lower:g}"
        raise ValueError(f"{name} must be finite{rng}; got {out[where]!r} at {list(where)}")
    return out


def _mixture(weights, s, t, w0, sigma):
    """Return the validated ``(weights, s, t, w0, sigma)``, shapes ``(C,), (C, p), (C, p), (C, p), (C,)``."""
    C = np.shape(weights)[0] if np.ndim(weights) == 1 else 0
    if C < 1:
        raise ValueError(f"weights must be a non-empty 1-d array; got {weights!r}")
    pi = _matrix(weights, "weights", (C,), lower=0.0)
    if abs(pi.sum() - 1.0) > 1e-9:
        raise ValueError(f"weights must sum to 1; got sum {pi.sum()!r}")
    s_arr = np.asarray(s)
    if s_arr.ndim != 2 or s_arr.shape[0] != C or s_arr.shape[1] < 1:
        raise ValueError(f"s must have shape (C, p) = ({C}, p) with p >= 1; got shape {s_arr.shape}")
    p = s_arr.shape[1]
    return (pi, _matrix(s, "s", (C, p), lower=0.0, strict=True), _matrix(t, "t", (C, p), lower=0.0),
            _matrix(w0, "w0", (C, p)), _matrix(sigma, "sigma", (C,), lower=0.0))


def _step_coefficients(alpha, N):
    """``c_k`` with ``(I - alpha H)^N = sum_k c_k H^k``."""
    return [math.comb(N, k) * (-alpha) ** k for k in range(N + 1)]


def _equations(algorithm, s, alpha_t, n_t, n_steps, lam):
    """Diagonals ``K_c`` of (P1) and the sums of the magnitudes of their terms, both ``(C, p)``."""
    record = INNER_MAPS[algorithm]
    if record.population == "pooled":
        return s, s
    if not record.population:
        raise NotImplementedError(f"no population limit for algorithm={algorithm!r} (lam={lam}): "
                                  f"{record.population_reason}")
    c = _step_coefficients(alpha_t, n_steps)
    K, scale = np.zeros_like(s), np.zeros_like(s)
    for a, ca in enumerate(c):
        if record.population == "first_order":
            term = ca * s * diagonal_moment(a, 0, s, n_t, insert=False)
            K, scale = K + term, scale + np.abs(term)
            continue
        for b, cb in enumerate(c):
            term = ca * cb * diagonal_moment(a, b, s, n_t)
            K, scale = K + term, scale + np.abs(term)
    return K, scale


def _check_algorithm(algorithm, alpha_t, n_t, n_steps, lam):
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {algorithm!r}")
    record = INNER_MAPS[algorithm]
    alpha_t = check_real(alpha_t, "alpha_t")
    n_t = check_int(n_t, "n_t", min_val=1)
    n_steps = check_int(n_steps, "n_steps", min_val=1, max_val=None if record.uses_n_steps else 1)
    if record.uses_lam:
        lam = check_real(lam, "lam", min_val=0.0, strict=True)
    elif lam is not None:
        raise ValueError(f"lam is iMAML's proximal strength; it must be None for algorithm={algorithm!r}; got {lam!r}")
    second = record.population == "second_order"
    degree = 2 * n_steps if second else n_steps
    if record.population in ("second_order", "first_order") and degree > MAX_DEGREE:
        need = "E[(I - alpha_t H)^N S (I - alpha_t H)^N]" if second else "E[(I - alpha_t H)^N]"
        raise NotImplementedError(
            f"n_steps={n_steps} for {algorithm}: {need} is exact as a sum over (2K - 1)!! Wick pairings "
            f"(K = {degree}); only n_steps <= {MAX_DEGREE // (2 if second else 1)} is implemented")
    return alpha_t, n_t, n_steps, lam


def population_omega(weights: ArrayLike, s: ArrayLike, t: ArrayLike, w0: ArrayLike, sigma: ArrayLike, *,
                     algorithm: str, alpha_t: float, n_t: int, n_steps: int = 1, lam: float | None = None,
                     omega0: ArrayLike) -> np.ndarray:
    """Return the meta-trained ``omega`` in the limit of infinitely many training tasks (docs: theory, P1).

    Solves (P1) coordinate by coordinate.  A coordinate whose coefficient vanishes (relative
    to its terms, ``SINGULAR_RTOL``) is free when its right-hand side vanishes too: it gets
    ``omega0``'s value, the solution nearest ``omega0``.

    Parameters
    ----------
    weights : array_like of shape (C,)
        Mixture weights ``pi_c >= 0``, summing to 1.
    s, t, w0 : array_like of shape (C, p)
        Per component: input variances ``s > 0``, task variances ``t >= 0`` and task means.
    sigma : array_like of shape (C,)
        Label noise standard deviations, ``>= 0``.
    algorithm : {"maml", "fomaml", "imaml", "erm"}
    alpha_t : float
        Inner rate (read by MAML and first-order MAML).
    n_t : int
        Points per task in the inner step, ``>= 1``.
    n_steps : int, default=1
        Inner steps ``N`` (1 for ERM).
    lam : float, optional
        iMAML's proximal strength (``None`` for the others).
    omega0 : array_like of shape (p,)
        Initialisation (used only by singular coordinates).

    Returns
    -------
    ndarray of shape (p,)

    Raises
    ------
    ValueError
        Bad input, or first-order MAML without a fixed point (a singular, inconsistent coordinate).
    NotImplementedError
        iMAML, or more inner steps than the exact moments cover (the message says why).
    NonFiniteResultError
        When ``omega`` overflows.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.array([[1.0, 2.0], [0.5, 1.0]]); w0 = np.array([[1.0, 0.0], [-1.0, 2.0]])
    >>> kw = dict(weights=[0.5, 0.5], s=s, t=np.zeros((2, 2)), w0=w0, sigma=[0.1, 0.2], omega0=np.zeros(2))
    >>> population_omega(**kw, algorithm="erm", alpha_t=0.0, n_t=1)   # sum pi S w0 / sum pi S
    array([0.33333333, 0.66666667])
    >>> bool(np.allclose(population_omega(**kw, algorithm="maml", alpha_t=0.0, n_t=5),
    ...                  population_omega(**kw, algorithm="erm", alpha_t=0.0, n_t=5)))
    True
    """
    pi, s, _, w0, _ = _mixture(weights, s, t, w0, sigma)
    alpha_t, n_t, n_steps, lam = _check_algorithm(algorithm, alpha_t, n_t, n_steps, lam)
    omega0 = check_vector(omega0, "omega0", s.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        K, scale = _equations(algorithm, s, alpha_t, n_t, n_steps, lam)
        coef, rhs = pi @ K, pi @ (K * w0)
        size, rhs_size = pi @ scale, pi @ (scale * np.abs(w0))
    if not (np.all(np.isfinite(size)) and np.all(np.isfinite(rhs_size))):
        raise NonFiniteResultError("alpha_t", alpha_t, "the moments of the population meta-training equations "
                                                       "overflow at this rate")
    free = np.abs(coef) <= SINGULAR_RTOL * size
    stuck = free & (np.abs(rhs) > SINGULAR_RTOL * rhs_size)
    if np.any(stuck):
        raise ValueError(f"{algorithm} has no population fixed point at alpha_t={alpha_t}: the equation of "
                         f"coordinate {int(np.flatnonzero(stuck)[0])} has a zero coefficient and a non-zero "
                         f"right-hand side")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        omega = np.where(free, omega0, rhs / np.where(free, 1.0, coef))
    if not np.all(np.isfinite(omega)):
        raise NonFiniteResultError("alpha_t", alpha_t, "the population omega overflows at this rate")
    return omega


def test_side_loss(omega: ArrayLike, weights: ArrayLike, s: ArrayLike, t: ArrayLike, w0: ArrayLike,
                   sigma: ArrayLike, *, alpha_r: float | np.ndarray, n_r: int) -> float | np.ndarray:
    """Exact expected test loss of ``omega`` on a fresh task of the mixture (docs: theory, P4).

    ``sum_c pi_c [sigma_c^2/2 + ((omega - w0_c)^T M_c (omega - w0_c) + tr(M_c T_c)
    + alpha_r^2 sigma_c^2 tr S_c^2 / n_r) / 2]`` with
    ``M_c = S_c - 2 alpha_r S_c^2 + alpha_r^2 (S_c^3 + (S_c^3 + S_c tr S_c^2) / n_r)``.

    Parameters
    ----------
    omega : array_like of shape (p,)
    weights, s, t, w0, sigma
        The mixture, as in :func:`population_omega`.
    alpha_r : float or ndarray
        Meta-test rate(s); an array gives an array of losses of its shape.
    n_r : int
        Meta-test adaptation points, ``>= 1``.

    Returns
    -------
    float or ndarray

    Raises
    ------
    NonFiniteResultError
        When the loss overflows.

    Examples
    --------
    >>> import numpy as np
    >>> one = dict(weights=[1.0], s=[[1.0]], t=[[0.0]], w0=[[0.0]], sigma=[0.0])
    >>> float(test_side_loss([1.0], **one, alpha_r=0.0, n_r=1))   # |omega - w0|^2 / 2
    0.5
    >>> test_side_loss([1.0], **one, alpha_r=np.array([0.0, 1.0]), n_r=1)   # M = 2 at alpha_r = 1, n_r = 1
    array([0.5, 1. ])
    """
    pi, s, t, w0, sigma = _mixture(weights, s, t, w0, sigma)
    omega = check_vector(omega, "omega", s.shape[1])
    n_r = check_int(n_r, "n_r", min_val=1)
    rates = np.asarray(alpha_r, dtype=float) if np.ndim(alpha_r) else check_real(alpha_r, "alpha_r")
    if not np.all(np.isfinite(rates)):
        raise ValueError(f"alpha_r must be finite; got {alpha_r!r}")
    a = np.asarray(rates)[..., None, None]
    tr2 = np.sum(s**2, axis=1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        M = s - 2 * a * s**2 + a**2 * (s**3 + (s**3 + s * tr2) / n_r)
        per = sigma**2 / 2 + 0.5 * (np.sum(M * ((omega - w0) ** 2 + t), axis=-1) + a[..., 0]**2 * sigma**2
                                    * tr2[:, 0] / n_r)
        loss = per @ pi
    if not np.all(np.isfinite(loss)):
        raise NonFiniteResultError("alpha_r", alpha_r, "the population test loss overflows at this rate")
    return float(loss) if np.ndim(loss) == 0 else loss


def population_loss(weights: ArrayLike, s: ArrayLike, t: ArrayLike, w0: ArrayLike, sigma: ArrayLike, *,
                    algorithm: str, alpha_t: float, n_t: int, n_steps: int = 1, lam: float | None = None,
                    alpha_r: float | np.ndarray, n_r: int, omega0: ArrayLike) -> float | np.ndarray:
    """Return the expected test loss after meta-training on infinitely many tasks (docs: theory, P1-P4).

    :func:`test_side_loss` at :func:`population_omega`; the arguments are theirs.

    Returns
    -------
    float or ndarray
        An array of the shape of ``alpha_r`` when it is one.

    Examples
    --------
    >>> one = dict(weights=[1.0], s=[[1.0, 2.0]], t=[[0.0, 0.0]], w0=[[1.0, -1.0]], sigma=[0.5])
    >>> population_loss(**one, algorithm="maml", alpha_t=0.3, n_t=4, alpha_r=0.0, n_r=2, omega0=[0.0, 0.0])
    0.125
    """
    omega = population_omega(weights, s, t, w0, sigma, algorithm=algorithm, alpha_t=alpha_t, n_t=n_t,
                             n_steps=n_steps, lam=lam, omega0=omega0)
    return test_side_loss(omega, weights, s, t, w0, sigma, alpha_r=alpha_r, n_r=n_r)


def problem_loss(prob) -> float:
    """(P4) at (P1) for a :class:`~linmeta.Problem` or :class:`~linmeta.Mixture` at its own rates.

    Raises
    ------
    NotImplementedError
        For a user's task sampler (no closed form over its tasks), iMAML, and step counts beyond the exact moments.
    """
    from linmeta._model import component_of, model_of  # the model layer, read only here

    model = model_of(prob)
    if model.isotropic:
        components = [component_of(1.0, prob)]
    elif hasattr(model, "components"):
        components = model.components
    else:
        raise NotImplementedError(f"no population limit for the task model {model.describe(prob)!r}: the expectation "
                                  "over a sampler's tasks has no closed form here (simulate it)")
    return population_loss([c.weight for c in components], [c.s for c in components], [c.t for c in components],
                           [c.w0 for c in components], [c.sigma for c in components], algorithm=prob.algorithm,
                           alpha_t=prob.alpha_t, n_t=prob.n_t, n_steps=prob.n_steps, lam=prob.lam,
                           alpha_r=prob.alpha_r, n_r=prob.n_r, omega0=prob.omega0)
