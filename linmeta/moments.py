"""Where the average test loss or its variance is infinite (near the interpolation threshold).

The meta-trained parameters solve a least-squares system ``Z omega = r`` with
``k = n_v m`` equations in ``p`` unknowns.  The loss is affine in
``|omega* - w0|^2``, whose noise part is ``tr`` of an inverse Gram matrix:

* over-parameterised (``p > k``): ``tr (Z Z^T)^{-1}``, a ``k x k`` Gram
  matrix of ``p``-dimensional rows (a Wishart matrix of dimension ``k`` with
  ``p`` degrees of freedom at ``alpha_t = 0``);
* under-parameterised (``p < k``): ``tr (Z^T Z)^{-1}``, a ``p x p`` Gram
  matrix of ``k`` rows (dimension ``p``, ``k`` degrees of freedom).

For a Wishart matrix ``W`` of dimension ``d`` with ``f`` degrees of freedom,
``E W^{-1}`` is finite iff ``f - d - 1 > 0`` and ``E[(tr W^{-1})^2]`` iff
``f - d - 3 > 0``: the smallest eigenvalue has ``P(lambda_min < eps) ~
eps^((f - d + 1) / 2)``.  So the mean loss is infinite when the **margin**

    ``p - n_v m - 1 <= 0`` (over-parameterised) or ``n_v m - p - 1 <= 0``
    (under-parameterised),

and its variance (hence every Monte Carlo standard error) is infinite when the
margin is ``<= 2`` (``p - n_v m - 3 <= 0`` or ``n_v m - p - 3 <= 0``).

For ``alpha_t != 0`` the rows of ``Z`` are, given the training data,
independent Gaussian vectors ``A_i x`` with covariance ``A_i^2``
(``A_i = (I - alpha_t H_i)^N``); when every ``A_i`` is non-singular the
small-ball exponent of ``lambda_min`` depends only on ``(f, d)`` and the
conditions above hold unchanged.  For ``alpha_t < 0`` (``A_i >= I``) and in the
over-parameterised regime this is what the tails of simulated losses show
(tail index ``(margin + 2) / 2``: measured 1.0 at margin 0, 1.8-1.9 at margin 2,
3.0 at margin 4, for ``alpha_t`` = 0 and 0.5).  For ``alpha_t > 0`` an inner map
``A_i`` is itself singular with positive probability density (``H_i`` has an
eigenvalue near ``1 / alpha_t``): in the under-parameterised regime with one
task (``m = 1``) this makes ``Z^T Z`` singular whatever ``n_v`` and the mean is
infinite (measured tail index 0.5); with several tasks a common near-null
direction is needed and the tails are much lighter (measured 1.8 at ``m = 2``,
4 at ``m = 3`` with ``p = 2``), which is not flagged.  If ``sigma = nu = 0`` the
right-hand side is noise-free and nothing diverges; no warning is given then.

ERM (``algorithm="erm"``) solves the same least-squares problem on the pooled
points of every task: ``Z`` has ``k = (n_t + n_v) m`` rows (``prob.k``), a
Wishart matrix as at ``alpha_t = 0``, and the conditions hold with that ``k``.

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

import warnings

__all__ = ["InfiniteMomentWarning", "moment_margin", "infinite_moment", "warn_if_infinite_moments"]


class InfiniteMomentWarning(RuntimeWarning):
    """The average test loss (or its variance) is infinite for this problem.

    Raised next to the interpolation threshold: the mean is infinite when
    ``|p - n_v m| - 1 <= 0`` and the variance when ``|p - n_v m| - 3 <= 0``
    (see :mod:`linmeta.moments`).  A Monte Carlo mean there does not converge
    and its standard error means nothing; a closed-form value is finite only
    because it is an approximation.
    """


def moment_margin(prob) -> int:
    """``|p - n_v m| - 1``: the mean loss is finite iff ``> 0``, its variance iff ``> 2``.

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


def infinite_moment(prob):
    """Which moment of the test loss is infinite: ``"mean"``, ``"variance"`` or ``None``.

    Parameters
    ----------
    prob : Problem

    Returns
    -------
    str or None
        ``"mean"`` if ``|p - n_v m| - 1 <= 0`` (or for one-task MAML with
        ``alpha_t > 0`` under-parameterised), ``"variance"`` if only
        ``|p - n_v m| - 3 <= 0``, ``None`` otherwise (and always when
        ``sigma = nu = 0``).

    Examples
    --------
    >>> import linmeta as lm
    >>> [infinite_moment(lm.presets.FIG2.replace(p=p)) for p in (7, 9, 10)]
    ['mean', 'variance', None]
    """
    if prob.sigma == 0 and prob.nu == 0:
        return None
    margin = moment_margin(prob)
    if margin <= 0 or _singular_inner_map(prob):
        return "mean"
    if margin <= 2:
        return "variance"
    return None


def _singular_inner_map(prob):
    """One task, under-parameterised MAML with ``alpha_t > 0``: ``I - alpha_t H`` is singular with positive density."""
    return prob.m == 1 and prob.p < prob.k and prob.algorithm == "maml" and prob.alpha_t > 0


def warn_if_infinite_moments(prob, stacklevel=2):
    """Warn with :class:`InfiniteMomentWarning` if the mean or variance of the loss is infinite.

    Parameters
    ----------
    prob : Problem
    stacklevel : int, default=2
        As in :func:`warnings.warn` (2 points at the caller of this function).

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
    kname = "(n_t+n_v)*m" if prob.algorithm == "erm" else "n_v*m"   # prob.k: meta-training equations
    side = (f"p - {kname} - 1 = {prob.p - prob.k - 1}" if prob.p > prob.k
            else f"{kname} - p - 1 = {prob.k - prob.p - 1}")
    if which == "mean" and moment_margin(prob) > 0:
        what = ("the average test loss is infinite: with one task (m=1) and alpha_t > 0 the inner map "
                "I - alpha_t H is singular with positive probability density, and so is the meta-training system; "
                "a simulated mean does not converge and a closed form is not the expectation")
        side = f"alpha_t={prob.alpha_t}"
    elif which == "mean":
        what = ("the average test loss is infinite (the inverse Gram matrix has no mean: needs "
                f"{f'p - {kname}' if prob.p > prob.k else f'{kname} - p'} - 1 > 0); a simulated mean does not converge "
                "and a closed form is not the expectation")
    else:
        what = ("the test loss has infinite variance (needs a margin > 2); Monte Carlo standard errors are "
                "meaningless")
    warnings.warn(f"{what}; p={prob.p}, n_v={prob.n_v}, m={prob.m}: {side}", InfiniteMomentWarning,
                  stacklevel=stacklevel)
    return which
