"""The step-size-bound experiments (docs: theory, §6)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import linmeta as lm  # noqa: E402
from linmeta import experiments  # noqa: E402


@pytest.fixture(scope="module")
def table():
    return experiments.stepsize_bound(steps=(1, 20), ratios=(-10, -3, -0.99, -0.5, 0.5, 0.99, 3, 10), n_iter=400)


def test_bound_is_sufficient(table):
    below = table[table.ratio.abs() < 1]
    assert len(below) == 8
    assert below.below_sqrt2.all() and below.converges.all()
    assert (below.smoothness_ratio * below.val_smoothness <= 2 * below.task_val_smoothness).all()
    assert (below.gd_error_ratio < 1e-6).all()


def test_product_norm_against_its_bound(table):
    assert (table.prod_norm <= table.prod_norm_bound * (1 + 1e-12)).all()
    neg = table[table.ratio < 0]
    np.testing.assert_allclose(neg.prod_norm, neg.prod_norm_bound, rtol=1e-12)  # attained for alpha < 0
    pos = table[(table.ratio > 0) & (table.alpha_L < 2)]
    assert (pos.prod_norm <= 1 + 1e-12).all()  # |1 - alpha lambda| <= 1 while alpha L <= 2


def test_bound_is_not_necessary_for_positive_rates(table):
    above = table[(table.ratio >= 3)]
    assert above.converges.all() and (above.gd_error_ratio < 1e-6).all()
    assert (above.prod_norm_bound > np.sqrt(2)).all()  # the bound's own estimate would not license them


def test_negative_rates_break_as_n_grows(table):
    worst = table[table.ratio == -10].set_index("N")
    assert worst.converges[1] and not worst.converges[20]
    assert worst.prod_norm[20] > worst.prod_norm[1]


def test_spectral_criterion_matches_running_gradient_descent(table):
    conv = table.converges.to_numpy()
    assert (table.gd_error_ratio[conv] < 1).all()
    assert (table.gd_error_ratio[~conv] > 1).all()
    assert (~conv).any()  # both outcomes occur, so the check has teeth


def test_optimal_alpha_t_and_plots():
    res = experiments.optimal_alpha_t(steps=(1, 2), n_runs=40, n_boot=10, grid=np.linspace(-0.1, 0.05, 11))
    s, c = res.summary, res.curves
    assert list(s.N) == [1, 2]
    np.testing.assert_allclose(s.minus_bound_over_L, [-lm.bounds.step_size_bound(n) / s.L[0] for n in (1, 2)])
    for _, row in s.iterrows():
        curve = c[c.N == row.N]
        assert row.loss_star <= curve["mean"].min()   # the spline minimum of the mean curve
        assert row.alpha_star_ci_low < row.alpha_star < row.alpha_star_ci_high
        assert curve.alpha_t.min() <= row.alpha_star <= curve.alpha_t.max()
    fig, (ax1, ax2) = plt.subplots(1, 2)
    try:
        bound = experiments.stepsize_bound(steps=(1,), ratios=(-1.5, 1.5), n_iter=5)
        assert experiments.plot_stepsize_bound(ax1, bound)
        assert experiments.plot_optimal_alpha_t(ax2, s)
    finally:
        plt.close(fig)


def test_optimal_alpha_t_refuses_a_minimum_at_the_grid_edge():
    # FIG2's optimum (theory -1.01) lies far below the default bracket; the grid edge used to be returned silently
    with pytest.raises(ValueError, match="edge of bracket"):
        experiments.optimal_alpha_t(lm.presets.FIG2, steps=(1,), n_runs=20, n_boot=10)
