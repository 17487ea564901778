"""Where the mean or the variance of the test loss is infinite, and why (docs: theory, moments).

The loss is affine in ``|omega* - w0|^2`` and heavy-tailed, ``P(L > t) ~ t^-a``: the mean exists iff the
**tail index** ``a > 1``, the variance (hence any Monte Carlo standard error) iff ``a > 2``.
:func:`tail_index` is the smallest index over the mechanisms below; each counts the independent
small-ball conditions under which the matrix that meta-training inverts is nearly singular.

* **Gram margin.** Meta-training inverts ``Z Z^T`` (``k x k`` with ``p`` degrees of freedom,
  over-parameterised) or ``Z^T Z`` (``p x p`` with ``k = n_v m``, under-parameterised).  For a Wishart
  matrix of dimension ``d`` with ``f`` degrees of freedom ``P(lambda_min < e) ~ e^((f - d + 1)/2)``, so
  ``a = (margin + 2)/2`` with the **margin** ``|p - n_v m| - 1``: the mean needs ``margin > 0``, the
  variance ``margin > 2`` (``|p - n_v m| > 3``).  Inner maps that are never singular (``alpha_t <= 0``,
  iMAML's ``lam (H_i + lam I)^{-1}``) leave it unchanged.
* **Singular inner maps** (MAML and first-order MAML, ``alpha_t > 0``).  ``(I - alpha_t H_i)^N`` is
  singular when ``H_i`` has an eigenvalue at ``1/alpha_t``, which happens with positive density.
  Under-parameterised, ``Z v`` is small when ``j`` maps share a near-null direction ``v`` and the other
  tasks' ``X_v,i A_i v`` are small; with one eigenvalue per map this gives ``a = 1/(2N) + (m - 1) n_v / 2``
  (``j = 1``) or ``m/(2N) + (m - 1)(p - 1)/2`` (``j = m``).  One task has ``a = 1/(2N)`` (no mean); with
  ``n_v > p - 1 + 1/N`` and few tasks the ``j = m`` index falls below the margin's (e.g. ``1.5`` at
  ``p = 2``, ``m = 2``, any ``n_v >= 2``: infinite variance).  Over-parameterised one map must nearly
  vanish on its task's validation rows: ``1/(2N) + (p - n_v)/2``, below the margin's only for ``m = 1``
  and ``N >= 2``.  With ``N >= 2`` several eigenvalues of one ``H_i`` near ``1/alpha_t`` can be cheaper
  (the index is the minimum over both counts).
* **Sign change** (first-order MAML).  Its fixed point inverts the non-symmetric ``P^T Z`` (``Z P^T``
  over-parameterised).  When its determinant takes both signs with positive probability the smallest
  singular value has a positive density at 0 and ``a = 1/2``: at ``alpha_t > 0`` with an odd ``N`` (one
  map with a negative eigenvalue suffices) and at any ``alpha_t != 0`` with ``m >= 2`` (the tasks' maps
  differ).  That probability can be tiny (no negative determinant in 4,000 draws at ``p = 30``,
  ``m = 2``, ``n_v = 3``, ``alpha_t = -0.5``), but the mean does not exist.

Nothing diverges without something to amplify: if ``sigma = 0`` and either ``nu = 0`` or ``m = 1`` the
system is consistent and the loss is bounded (first-order MAML over-parameterised excepted: it
amplifies ``nu`` and a start ``omega0 != w0`` too).  The indices are confirmed by Hill's estimator on
simulated losses (``benchmarks/tail_indices.py``; the numbers are on the theory page).

ERM (``algorithm="erm"``) solves the same least-squares problem on the pooled
points of every task: ``Z`` has ``k = (n_t + n_v) m`` rows (``prob.k``), a
Wishart matrix as at ``alpha_t = 0``, and the conditions hold with that ``k``.

Other task models.  Gaussian inputs with a nonsingular covariance (``input_cov``, any component of a
:class:`~linmeta.Mixture`) change none of the counts: ``Z`` is a Gaussian matrix times fixed
nonsingular factors, whose small-ball probabilities scale with the same exponents, so the same indices
apply (the noise-free exception reads "no label noise and one task vector").  For a user's sampler
(``tasks=``) the indices are those of its inputs given the tasks' factors; a factor that can be nearly
singular (input variances with a density at 0) can make the tail heavier, and that is not detected:
the warnings then give a lower bound on the danger only.

Examples
--------
>>> import warnings, linmeta as lm
>>> prob = lm.Problem(p=31, m=3, n_t=30, n_v=10, n_r=20, sigma=1.0, nu=0.5, alpha_t=0.2, alpha_r=0.2)
>>> moment_margin(prob)
0
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warn_if_infinite_moments(prob)
'mean'
>>> caught[0].category.__name__
'InfiniteMomentWarning'
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from linmeta._model import model_of
from linmeta.algorithms._registry import INNER_MAPS

__all__ = ["InfiniteMomentWarning", "infinite_moment", "moment_margin", "tail_index", "warn_if_infinite_moments",
           "worst_rate"]


class InfiniteMomentWarning(RuntimeWarning):
    """The average test loss (or its variance) is infinite for this problem.

    Raised when :func:`tail_index` is ``<= 1`` (no mean) or ``<= 2`` (no
    variance): next to the interpolation threshold (``|p - n_v m| - 1 <= 0``
    for the mean, ``<= 2`` for the variance), for inner maps that are
    singular with positive density (``alpha_t > 0``), and for first-order
    MAML's non-symmetric system (see :mod:`linmeta.moments`); the message
    names the mechanism.  A Monte Carlo mean there does not converge and its
    standard error means nothing; a closed-form value is finite only because
    it is an approximation.
    """


def moment_margin(prob) -> int:
    """``|p - n_v m| - 1``: the mean loss is finite iff ``> 0``, its variance iff ``> 2`` (when nothing else diverges).

    Parameters
    ----------
    prob : Problem

    Returns
    -------
    int
        Degrees of freedom minus dimension minus one of the inverted Gram
        matrix: ``p - n_v m - 1`` (over-parameterised) or ``n_v m - p - 1``
        (under-parameterised).

    Examples
    --------
    >>> import linmeta as lm
    >>> moment_margin(lm.presets.FIG2), moment_margin(lm.presets.FIG3)
    (53, 969)
    """
    return abs(prob.p - prob.k) - 1


def _inconsistent(prob):
    """Whether the meta-training system is inconsistent with positive probability (something to amplify).

    Without label noise one task's system is consistent (``omega* = w_1`` under-parameterised, a projection
    over-parameterised), and so are several tasks' when they share one task vector (``nu = 0``).
    Other task models answer through their ``noisy`` and ``spread`` (a user's sampler: both assumed).
    """
    model = model_of(prob)
    return model.noisy(prob) or (model.spread(prob) and prob.m >= 2)


def _mechanisms(prob):
    """``[(tail index, why), ...]`` of every mechanism that makes the loss heavy-tailed for ``prob``."""
    out = []
    if _inconsistent(prob):
        margin = moment_margin(prob)
        k = "(n_t+n_v)*m" if INNER_MAPS[prob.algorithm].pooled else "n_v*m"  # prob.k: the meta-training equations
        side = f"p - {k} - 1" if prob.p > prob.k else f"{k} - p - 1"
        why = f"the inverse Gram matrix has tail index (margin + 2)/2, margin {side} = {margin}"
        out.append(((margin + 2) / 2, why))
        if INNER_MAPS[prob.algorithm].polynomial and prob.alpha_t > 0:  # gradient steps: (I - alpha_t H_i)^N
            index, how = _singular_map_index(prob)
            out.append((index, ("alpha_t > 0 makes an inner map (I - alpha_t H_i)^N singular with positive density "
                                f"(an eigenvalue of H_i near 1/alpha_t), tail index {index:g} with {how}")))
    # first-order MAML over-parameterised, P^T (Z P^T)^{-1} Z (w - omega0) is not a projection: a task vector
    # or a start away from w0 is amplified too
    amplified = _inconsistent(prob) or (prob.p > prob.k and (model_of(prob).spread(prob)
                                                                 or bool(np.any(prob.start_offset))))
    if not INNER_MAPS[prob.algorithm].gram and amplified and _sign_change(prob):  # first-order fixed point
        # det(P^T Z) (or det(Z P^T)) takes both signs: the smallest singular value s has a positive density at 0,
        # P(s < e) ~ e, and |omega*|^2 ~ s^-2
        out.append((0.5, ("first-order MAML inverts the non-symmetric matrix P^T Z (Z P^T over-parameterised), "
                          "whose determinant changes sign with positive probability when the tasks' inner maps "
                          "differ (alpha_t != 0, m >= 2) or one has a negative eigenvalue (alpha_t > 0, N odd): "
                          "tail index 1/2")))
    return out


def _sign_change(prob):
    """First-order MAML: ``det(P^T Z)`` takes both signs with positive probability.

    At ``alpha_t = 0`` the matrix is ``P^T P``.  With one task it is ``S A`` (``X A X^T`` over-parameterised),
    whose determinant has the sign of ``det A``: negative only for ``alpha_t > 0`` and an odd ``N``.  With
    several tasks, one task's map ``A_1 = I + c e e^T`` (``H_1`` with one large eigenvalue ``h``, so
    ``c = (1 - alpha_t h)^N - 1`` is as large as wanted) adds ``c (X_v,1^T X_v,1 e) e^T`` to ``P^T P``, so
    ``det`` is ``det(P^T P) (1 + c e^T (P^T P)^{-1} X_v,1^T X_v,1 e)``; the quadratic form of the
    non-symmetric ``(P^T P)^{-1} X_v,1^T X_v,1`` takes both signs once other tasks enter ``P^T P``, so the
    determinant changes sign for any ``alpha_t != 0`` (``Z P^T`` likewise over-parameterised).
    """
    if prob.alpha_t == 0:
        return False
    return prob.m >= 2 or (prob.alpha_t > 0 and prob.n_steps % 2 == 1)


def _singular_map_index(prob):
    """Tail index from inner maps ``(I - alpha_t H_i)^N`` nearly singular (``alpha_t > 0``), and which count gave it.

    Counting independent small-ball conditions on the smallest eigenvalue ``e`` of the Gram matrix: ``J``
    eigenvalues of ``H_i`` within ``d`` of ``1/alpha_t`` (``J <= min(p, n_t)``) cost ``d^(J(J+1)/2)`` (the
    ``J - 1`` extra eigenvalues repel: ``d^(J(J-1)/2)``), and the map's eigenvalues ``(1 - alpha_t lambda)^N``
    are then below ``e^(1/2)`` for ``d = e^(1/(2N))``: an exponent ``J(J+1)/(4N)`` per map.  Each map's near-null
    space ``U_i`` is uniform, and

    * under-parameterised, ``Z v`` is small if ``j`` maps share a near-null direction ``v`` (their ``J``-dim
      ``U_i`` meet in dimension ``q = max(1, jJ - (j-1)p)``, at a cost ``max(0, (j-1)p - jJ + 1)/2``) and the
      other ``m - j`` tasks' ``(m - j) n_v`` Gaussian numbers ``X_v,i A_i v`` are small for some ``v`` in that
      ``q``-dim space (``max(0, (m - j) n_v - q + 1)/2``);
    * over-parameterised, ``Z^T c`` is small if one map's ``U_i`` comes close to the row space of its task's
      ``X_v,i`` (``max(0, p - n_v - J + 1)/2``).

    The index is the smallest total.  A larger ``J`` saves at most ``j`` per step and costs ``j (J+1)/(2N)``, so
    ``J <= 2N`` suffices.  With ``J = 1`` this is ``1/(2N) + (m - 1) n_v / 2`` (one map) or
    ``m/(2N) + (m - 1)(p - 1)/2`` (all maps) under-parameterised.
    """
    N, m, n_v, p = prob.n_steps, prob.m, prob.n_v, prob.p
    J = np.arange(1, min(p, prob.n_t, 2 * N) + 1)[None, :]
    per_map = J * (J + 1) / (4 * N)
    if p > prob.k:
        total = per_map + np.maximum(0, p - n_v - J + 1) / 2
        return float(total.min()), "a map's near-null space meeting its task's validation rows"
    j = np.arange(1, m + 1)[:, None]
    q = np.maximum(1, j * J - (j - 1) * p)
    total = j * per_map + np.maximum(0, (j - 1) * p - j * J + 1) / 2 + np.maximum(0, (m - j) * n_v - q + 1) / 2
    best_j, best_J = np.unravel_index(np.argmin(total), total.shape)
    return float(total[best_j, best_J]), (f"{best_j + 1} of the m={m} maps sharing a near-null direction with "
                                          f"{best_J + 1} eigenvalue(s) near 0 each")


def tail_index(prob) -> float:
    """Tail index ``a`` of the loss, ``P(L > t) ~ t^-a``: the mean exists iff ``a > 1``, the variance iff ``a > 2``.

    The smallest index over the mechanisms of :mod:`linmeta.moments`: the
    inverse Gram matrix (``(margin + 2) / 2``), inner maps that are singular
    with positive density (MAML and first-order MAML with ``alpha_t > 0``),
    and the sign change of first-order MAML's non-symmetric system (``1/2``).

    Parameters
    ----------
    prob : Problem

    Returns
    -------
    float
        ``inf`` when the loss is bounded (no noise to amplify).

    Examples
    --------
    >>> import linmeta as lm
    >>> tail_index(lm.presets.FIG2.replace(p=8))                   # margin 1
    1.5
    >>> tail_index(lm.presets.FIG3.replace(algorithm="fomaml"))    # alpha_t = 0.2 > 0
    0.5
    >>> tail_index(lm.presets.FIG3.replace(sigma=0.0, nu=0.0))
    inf
    """
    return min((index for index, _ in _mechanisms(prob)), default=math.inf)


def infinite_moment(prob):
    """Which moment of the test loss is infinite: ``"mean"``, ``"variance"`` or ``None``.

    Parameters
    ----------
    prob : Problem

    Returns
    -------
    str or None
        ``"mean"`` if :func:`tail_index` is ``<= 1``, ``"variance"`` if it
        is ``<= 2``, else ``None``.  Over the Gram matrix alone: the mean if
        ``|p - n_v m| - 1 <= 0``, the variance if ``|p - n_v m| - 1 <= 2``.

    Examples
    --------
    >>> import linmeta as lm
    >>> [infinite_moment(lm.presets.FIG2.replace(p=p)) for p in (7, 9, 10)]
    ['mean', 'variance', None]
    """
    index = tail_index(prob)
    if index <= 1:
        return "mean"
    if index <= 2:
        return "variance"
    return None


def warn_if_infinite_moments(prob, stacklevel=2, where=None):
    """Warn with :class:`InfiniteMomentWarning` if the mean or variance of the loss is infinite.

    Parameters
    ----------
    prob : Problem
    stacklevel : int, default=2
        As in :func:`warnings.warn` (2 points at the caller of this function).
    where : str, optional
        Appended to the message, e.g. which value of a searched range ``prob`` stands for.

    Returns
    -------
    str or None
        What :func:`infinite_moment` returned.

    Examples
    --------
    >>> import linmeta as lm
    >>> warn_if_infinite_moments(lm.presets.FIG3) is None
    True
    """
    which = infinite_moment(prob)
    if which is None:
        return None
    why = min(_mechanisms(prob), key=lambda mechanism: mechanism[0])[1]
    if which == "mean":
        what = ("the average test loss is infinite (tail index <= 1); a simulated mean does not converge and a "
                "closed form is not the expectation")
    else:
        what = "the test loss has infinite variance (tail index <= 2); Monte Carlo standard errors are meaningless"
    at = f" ({where})" if where else ""
    warnings.warn(f"{what}: {why}; algorithm={prob.algorithm!r}, p={prob.p}, n_v={prob.n_v}, m={prob.m}, "
                  f"alpha_t={prob.alpha_t:g}{at}", InfiniteMomentWarning, stacklevel=stacklevel)
    return which


def worst_rate(prob, param, low, high):
    """Return the problem with the heaviest-tailed loss as ``param`` ranges over ``[low, high]``.

    The conditions depend on the rates only through the sign of ``alpha_t``
    (and not on ``alpha_r``), so the ends and ``0`` stand for the whole range.

    Parameters
    ----------
    prob : Problem
    param : {"alpha_t", "alpha_r"}
    low, high : float

    Returns
    -------
    Problem
        ``prob`` with ``param`` set to the value of smallest :func:`tail_index`
        (the first in ``low, 0, high`` order on ties).

    Examples
    --------
    >>> import linmeta as lm
    >>> q = lm.Problem(p=2, m=1, n_t=10, n_v=10, n_r=10, sigma=1.0, nu=0.5, alpha_t=-0.5, alpha_r=0.0)
    >>> worst_rate(q, "alpha_t", -2.0, 1.0).alpha_t
    1.0
    """
    values = [low] + ([0.0] if low < 0 < high else []) + [high]
    return min((prob.replace(**{param: v}) for v in values), key=tail_index)
