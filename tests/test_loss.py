"""T0, the exact test-side reduction, checked by direct Monte Carlo (docs: theory, T0)."""
import numpy as np
import pytest

import linmeta as lm
from linmeta.loss import loss_from_distance

# alpha_r = 0.7 and n_r = 5 make the (p + 1) in h_r matter
PROB = lm.Problem(p=10, m=5, n_t=4, n_v=4, n_r=5, sigma=0.5, nu=0.8, alpha_t=0.1, alpha_r=0.7,
                  w0=np.linspace(-1, 1, 10))
N_TASKS = 200_000


def _direct_test_losses(omega, prob, n_tasks, seed):
    """Literal meta-test: fresh task, n_r points, one step of rate alpha_r, one fresh test point each."""
    g = np.random.default_rng(seed)
    p, n_r = prob.p, prob.n_r
    w = prob.w0 + prob.nu / np.sqrt(p) * g.standard_normal((n_tasks, p))
    X = g.standard_normal((n_tasks, n_r, p))
    y = np.einsum("tnp,tp->tn", X, w) + prob.sigma * g.standard_normal((n_tasks, n_r))
    theta = omega + prob.alpha_r / n_r * np.einsum("tnp,tn->tp", X, y - X @ omega)
    x = g.standard_normal((n_tasks, p))
    y_te = np.einsum("tp,tp->t", x, w) + prob.sigma * g.standard_normal(n_tasks)
    return 0.5 * (y_te - np.einsum("tp,tp->t", x, theta)) ** 2


@pytest.mark.statistical
def test_T0_matches_direct_monte_carlo_and_rejects_p_instead_of_p_plus_1():
    omega = PROB.w0 + np.random.default_rng(1).standard_normal(PROB.p) * 0.4
    losses = _direct_test_losses(omega, PROB, N_TASKS, seed=2)
    mc, se = losses.mean(), losses.std(ddof=1) / np.sqrt(N_TASKS)
    exact = lm.test_loss_given(omega, PROB)
    z = (mc - exact) / se
    print(f"T0: direct MC {mc:.5f} ± {se:.5f}, T0 {exact:.5f}, z = {z:+.2f} ({N_TASKS} tasks)")
    assert abs(z) < 4
    # negative control: E[H^2] = (1 + p/n) I instead of (1 + (p+1)/n) I, same sample
    d2 = np.sum((omega - PROB.w0) ** 2)
    wrong_h = (1 - PROB.alpha_r) ** 2 + PROB.alpha_r**2 * PROB.p / PROB.n_r
    wrong = 0.5 * PROB.sigma**2 * (1 + PROB.alpha_r**2 * PROB.p / PROB.n_r) + 0.5 * wrong_h * (PROB.nu**2 + d2)
    print(f"negative control (p instead of p + 1): z = {(mc - wrong) / se:+.2f}")
    assert abs(mc - wrong) > 4 * se


def test_loss_from_distance_broadcasts_over_alpha_r():
    a = np.array([-0.5, 0.0, 0.3])
    vec = loss_from_distance(0.7, PROB, a)
    one = [loss_from_distance(0.7, PROB.replace(alpha_r=v)) for v in a]
    np.testing.assert_allclose(vec, one, rtol=1e-15)
    # alpha_r = 0: no adaptation, the loss is (sigma^2 + nu^2 + |omega - w0|^2) / 2 (docs: theory, M2)
    assert loss_from_distance(0.7, PROB, 0.0) == pytest.approx(0.5 * (0.25 + 0.64 + 0.7), rel=1e-15)
