"""Finite-size theory of the test loss (docs: theory, T0, T1, T2, derivation).

``expected_distance(prob)`` approximates ``E|omega* - w0|^2`` beyond the leading order of
Theorems 1 and 2; ``test_loss(prob)`` plugs it into the exact test-side reduction (T0).
The formulas are derived in ``derivations/finite_size.py``; the exact ``alpha_t = 0`` results are
emitted into ``_generated_finite.py``; nothing here is fitted to simulation.

* ``alpha_t == 0``: exact in both regimes (inverse-Wishart moments).
* general ``alpha_t``: one task's expectations from a leave-one-column-out fixed point, the other
  tasks by an exact reduction (over-parameterised) or a leave-one-task-out fixed point
  (under-parameterised), plus the second-order effect of the fluctuation of ``H``'s eigenvalue law.

One job per module:

=============================================  ===============================================================
:mod:`~linmeta.theory._finite.quadrature`      Gauss rules from exact Wishart moments; Gamma rules
:mod:`~linmeta.theory._finite.solver`          the single-task column fixed point and its Newton solvers
:mod:`~linmeta.theory._finite.fluctuation`     the fluctuation term of ``H``'s eigenvalue law
:mod:`~linmeta.theory._finite.regimes`         ``E|omega* - w0|^2`` in each regime
this module                                    the entry points taking a :class:`~linmeta.Problem`
=============================================  ===============================================================

Cost: the fixed points are solved jointly by Newton's method (forward-difference Jacobian with
Broyden updates, log variables) with compiled Golub-Welsch Gamma rules; the fluctuation term costs
about as much again (``benchmarks/bench_finite.py`` times a 25-point grid at FIG3 sizes against
simulation); the nested solve is the fallback where Newton does not converge.

References
----------
docs: theory, T0, T1, T2, derivation.
"""
from __future__ import annotations

import numpy as np

from linmeta._model import model_of
from linmeta.algorithms._registry import is_one_step_maml
from linmeta.theory import _generated_finite as _gen
from linmeta.theory._domain import warn_if_outside
from linmeta.theory._finite.regimes import distance_over, distance_under

__all__ = ["expected_distance", "test_loss", "exact_alpha0_distance", "not_covered"]


def _args(prob):
    d0 = float(np.dot(prob.start_offset, prob.start_offset))
    return (prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, prob.alpha_t, d0)


def not_covered(prob, pooled: bool = False) -> str:
    """Why the finite-size theory does not cover ``prob`` (one-step MAML or, ``pooled``, ERM; ``k`` away from ``p``).

    ``""`` when it does.
    """
    if not pooled and not is_one_step_maml(prob):
        return ("the finite-size theory covers one-step MAML only; "
                f"got algorithm={prob.algorithm!r}, n_steps={prob.n_steps}")
    if prob.regime == "underparameterized" and prob.k < prob.p + 4:
        return ("finite-size theory needs n_v * m >= p + 4 in the underparameterized regime; "
                f"got p={prob.p}, n_v * m={prob.k}")
    if prob.regime == "overparameterized" and prob.p < prob.k + 2:
        return ("finite-size theory needs p >= n_v * m + 2 in the overparameterized regime; "
                f"got p={prob.p}, n_v * m={prob.k}")
    return ""


def _require_covered(prob):
    """Refuse a problem outside the finite-size theory's domain (one-step MAML, ``k`` away from ``p``)."""
    reason = not_covered(prob)
    if reason:
        raise ValueError(reason)


def exact_alpha0_distance(prob) -> float:
    """Exact ``E|omega* - w0|^2`` at ``alpha_t = 0`` (``prob.alpha_t`` is ignored)."""
    _require_covered(prob)
    args = _args(prob)
    if prob.regime == "overparameterized":
        return float(_gen.exact_alpha0_over(*args))
    return float(_gen.exact_alpha0_under(*args))


def expected_distance(prob) -> float:
    """Finite-size ``E|omega* - w0|^2`` (one formula for all ``alpha_t``, exact at ``alpha_t = 0``).

    Parameters
    ----------
    prob : Problem
        One-step MAML problem in either regime.

    Returns
    -------
    float

    Warns
    -----
    ApproximationDomainWarning
        ``prob`` is outside the validated domain (:mod:`linmeta.theory._domain`).
    """
    _require_covered(prob)
    d = _distance(prob)          # a problem the theory refuses raises here, before any warning
    warn_if_outside(prob)
    return d


def _distance(prob):
    args = _args(prob)
    if prob.regime == "overparameterized":
        return float(distance_over(*args))
    return float(distance_under(*args[:7]))


def test_loss(prob) -> float:
    """Finite-size average test loss: (T0) with :func:`expected_distance` (warns likewise outside the domain)."""
    _require_covered(prob)
    loss = float(model_of(prob).test_loss(_distance(prob), prob))
    warn_if_outside(prob)
    return loss


test_loss.__test__ = False  # not a pytest test
