"""Fast solver of the finite-size fixed points (joint Newton, compiled Gauss rules).

REGRESSION ANCHORS, not correctness claims: the values below were computed by the previous
implementation (nested brentq around a damped fixed-point iteration, scipy Gauss-Laguerre rules)
before the solver was replaced; the new solver must reproduce them to 1e-10 relative.
Correctness against simulation is tested in ``test_finite_size.py``.
"""
import numpy as np
import pytest

import linmeta as lm
from linmeta.theory import _finite

UNDER5 = lm.Problem(p=10, m=5, n_t=10, n_v=10, n_r=10, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)
OVER5 = lm.Problem(p=50, m=5, n_t=25, n_v=4, n_r=20, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2,
                   omega0=np.r_[1.0, np.zeros(49)])

# regression anchors (previous implementation, E|omega* - w0|^2)
ANCHORS = [
    (lm.presets.FIG3, -2.0, 0.018714966756204394), (lm.presets.FIG3, 0.5, 0.010151617083966995),
    (lm.presets.FIG3, 1.0, 0.018769690159210952),
    (lm.presets.FIG2, -2.0, 0.08647579861032274), (lm.presets.FIG2, 0.5, 0.2525650684875269),
    (UNDER5, -1.0, 0.1927195225490265), (UNDER5, 1.0, 0.39130734597492073),
    (OVER5, -2.0, 0.8460083697956566), (OVER5, 1.0, 1.0325943925089245),
]


@pytest.mark.parametrize("prob, alpha_t, old", ANCHORS)
def test_fast_solver_reproduces_previous_values(prob, alpha_t, old):
    prob = prob.replace(alpha_t=alpha_t)
    args = (prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, alpha_t)
    if prob.regime == "overparameterized":
        got = _finite.subordination_over.__wrapped__(*args, float(prob.start_offset @ prob.start_offset))
    else:
        got = _finite.subordination_under.__wrapped__(*args)
    assert abs(got / old - 1) < 1e-10


def test_compiled_gamma_rule_equals_scipy_rule():
    y, w = np.empty(32), np.empty(32)
    for mean, var in [(4.0, 8.0), (0.3, 0.01), (2.0, 30.0)]:
        _finite._gauss_gamma(mean, var, y, w)
        x, v = _finite._gamma_rule(mean, var)
        o = np.argsort(y)
        assert np.allclose(y[o], x, rtol=1e-12) and np.allclose(w[o], v, rtol=1e-11, atol=1e-300)
        for f in (lambda t: t, lambda t: t**3, lambda t: 1 / (1 + t)):
            assert np.isclose(w @ f(y), v @ f(x), rtol=1e-13)


def test_newton_and_nested_solvers_agree():
    # the nested solve is the fallback where Newton fails; both must solve the same equations
    p, m, n_t, n_v, a = 10, 5, 10, 10, 0.5
    lam_n, psi1_n, psi2_n = _finite._nested_under(p, m, n_t, n_v, a)
    x, psi1, psi2 = _finite._solve_under(p, m, n_t, n_v, a)
    assert np.isclose(np.exp(x[0]), lam_n, rtol=1e-11)
    assert np.isclose(psi1, psi1_n, rtol=1e-10) and np.isclose(psi2, psi2_n, rtol=1e-10)
