"""Finite-size theory of the test loss (issue 7; theory.md T0, T1, T2, §5).

``expected_distance(prob)`` approximates ``E|omega* - w0|^2`` beyond the leading order of
Theorems 1 and 2; ``test_loss(prob)`` plugs it into the exact test-side reduction (T0).
The formulas are derived in ``derivations/finite_size.py`` and emitted into
``_generated_finite.py``; nothing here is fitted to simulation.

* ``alpha_t == 0``: exact in both regimes (inverse-Wishart moments).
* over-parameterised, general ``alpha_t``: Dyson-resummed second order in ``G = Z Z^T``
  around ``p h_t I``; reduces to the exact result at ``alpha_t = 0``.
* under-parameterised, general ``alpha_t``: the label-noise term ``sigma^2 E tr S^{-1}``
  Dyson-resummed (exact at ``alpha_t = 0``); task and training-noise terms at leading order
  with exact finite-n Wishart moments.

References
----------
theory.md §2 (T0), §3 (T1), §4 (T2), §5.
"""
from __future__ import annotations

import numpy as np

from linmeta.theory import _generated_finite as _gen

__all__ = ["expected_distance", "test_loss", "exact_alpha0_distance"]


def _args(prob):
    d0 = float(np.dot(prob.start_offset, prob.start_offset))
    return (prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, prob.alpha_t, d0)


def _check(prob):
    if prob.algorithm != "maml" or prob.n_steps != 1:
        raise ValueError(f"the finite-size theory covers one-step MAML only; got algorithm={prob.algorithm!r}, n_steps={prob.n_steps}")
    if prob.regime == "underparameterized" and prob.k < prob.p + 4:
        raise ValueError(f"finite-size theory needs n_v * m >= p + 4 in the underparameterized regime; got p={prob.p}, n_v * m={prob.k}")
    if prob.regime == "overparameterized" and prob.p < prob.k + 2:
        raise ValueError(f"finite-size theory needs p >= n_v * m + 2 in the overparameterized regime; got p={prob.p}, n_v * m={prob.k}")


def exact_alpha0_distance(prob) -> float:
    """Exact ``E|omega* - w0|^2`` at ``alpha_t = 0`` (``prob.alpha_t`` is ignored)."""
    _check(prob)
    args = _args(prob)
    if prob.regime == "overparameterized":
        return float(_gen.exact_alpha0_over(*args))
    return float(_gen.exact_alpha0_under(*args))


def expected_distance(prob) -> float:
    """Finite-size ``E|omega* - w0|^2`` (exact at ``alpha_t = 0``).

    Parameters
    ----------
    prob : Problem
        One-step MAML problem in either regime.

    Returns
    -------
    float
    """
    _check(prob)
    if prob.alpha_t == 0:
        return exact_alpha0_distance(prob)
    args = _args(prob)
    if prob.regime == "overparameterized":
        return float(_gen.finite_over(*args))
    return float(_gen.finite_under(*args))


def test_loss(prob) -> float:
    """Finite-size average test loss: (T0) with :func:`expected_distance`."""
    dist = expected_distance(prob)
    return float(prob.sigma**2 / 2 * (1 + prob.alpha_r**2 * prob.p / prob.n_r)
                 + prob.h_r / 2 * (prob.nu**2 + dist))


test_loss.__test__ = False  # not a pytest test
