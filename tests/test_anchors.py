"""Exact anchors: inverse-Wishart means at nu = 0, alpha_t = 0, omega0 = w0.

With ``A_i = I`` the stacked system is ``Z = X_v`` (k x p Gaussian, k = n_v m) and
``omega* - w0 = Z^+ z``, so ``E|omega* - w0|^2 = sigma^2 E tr (Z Z^T)^{-1} = sigma^2 k/(p-k-1)``
(over-parameterised) or ``sigma^2 E tr (Z^T Z)^{-1} = sigma^2 p/(k-p-1)`` (under-parameterised).
The naive ``k/p`` (resp. ``p/k``), which ignores the inverse-Wishart bias, is rejected by the same
test at the same size.  With alpha_r = 0, T0 gives ``dist2 = 2 L - sigma^2 - nu^2``.
"""
import numpy as np
import pytest

import linmeta as lm

pytestmark = pytest.mark.statistical  # Monte Carlo agreement tests

CASES = {
    # p, m, n_v; k = n_v m
    "overparameterized": (lm.Problem(p=20, m=5, n_t=3, n_v=2, n_r=4, sigma=1.0, nu=0.0, alpha_t=0.0, alpha_r=0.0,
                                     w0=np.full(20, 0.3), omega0=np.full(20, 0.3)), lambda p, k: k / (p - k - 1),
                          lambda p, k: k / p),
    "underparameterized": (lm.Problem(p=10, m=10, n_t=3, n_v=2, n_r=4, sigma=1.0, nu=0.0, alpha_t=0.0, alpha_r=0.0,
                                      w0=np.full(10, -0.2)), lambda p, k: p / (k - p - 1), lambda p, k: p / k),
}


@pytest.mark.parametrize("regime", CASES)
def test_inverse_wishart_anchor(regime):
    prob, exact, naive = CASES[regime]
    assert prob.regime == regime
    est = lm.simulate(prob, n_runs=1000, seed=11)
    dist2 = 2 * est.values - prob.sigma**2 - prob.nu**2
    mean, se = dist2.mean(), dist2.std(ddof=1) / np.sqrt(dist2.size)
    truth, wrong = prob.sigma**2 * exact(prob.p, prob.k), prob.sigma**2 * naive(prob.p, prob.k)
    print(f"{regime}: E|omega*-w0|^2 = {mean:.4f} ± {se:.4f}; exact {truth:.4f} (z={(mean - truth) / se:+.2f}), "
          f"naive {wrong:.4f} (z={(mean - wrong) / se:+.2f}); 1000 runs")
    assert abs(mean - truth) < 4 * se
    assert abs(mean - wrong) > 4 * se
