"""Infinite moments next to the interpolation threshold: conditions, warnings, and the tails that justify them."""
import warnings

import numpy as np
import pytest

import linmeta as lm
from linmeta.moments import infinite_moment, moment_margin, warn_if_infinite_moments

# the case observed to print a confident "1.73 ± 0.26": p = n_v m + 1
THRESHOLD = lm.Problem(p=31, m=3, n_t=30, n_v=10, n_r=20, sigma=1.0, nu=0.5, alpha_t=0.2, alpha_r=0.2)


@pytest.mark.parametrize("p, expected", [(29, "mean"), (28, "variance"), (27, "variance"), (26, None),
                                         (31, "mean"), (32, "variance"), (33, "variance"), (34, None)])
def test_conditions_on_both_sides_of_the_threshold(p, expected):
    # k = 30: over-parameterised needs p - k - 1 > 0 (mean), > 2 (variance); under-parameterised k - p - 1
    q = THRESHOLD.replace(p=p, alpha_t=-0.2)
    assert infinite_moment(q) == expected
    assert moment_margin(q) == abs(p - 30) - 1


def test_noise_free_problem_never_warns():
    assert infinite_moment(THRESHOLD.replace(sigma=0.0, nu=0.0)) is None


def test_one_task_positive_rate_under_parameterised_has_no_mean():
    q = lm.Problem(p=2, m=1, n_t=10, n_v=10, n_r=10, sigma=1.0, nu=0.5, alpha_t=0.5, alpha_r=0.0)
    assert infinite_moment(q) == "mean"
    assert infinite_moment(q.replace(alpha_t=-0.5)) is None
    # two tasks: both maps singular along one direction, tail index m/2 + (m-1)(p-1)/2 = 1.5 (linmeta.moments)
    assert infinite_moment(q.replace(m=2)) == "variance"
    assert infinite_moment(q.replace(m=3)) is None        # 2.5


def test_simulate_curve_and_theory_warn_at_the_threshold():
    with pytest.warns(lm.InfiniteMomentWarning, match="p - n_v\\*m - 1 = 0"):
        lm.simulate(THRESHOLD, n_runs=5)
    with pytest.warns(lm.InfiniteMomentWarning, match="infinite"):
        lm.simulate_curve(THRESHOLD, "alpha_r", [0.1, 0.2], n_runs=5)
    with pytest.warns(lm.InfiniteMomentWarning, match="variance"):
        lm.simulate_curve(lm.presets.FIG2, "p", [40, 8], n_runs=5)
    with pytest.warns(lm.InfiniteMomentWarning, match="infinite"):
        lm.simulate_optimum(THRESHOLD.replace(p=32), "alpha_r", n_runs=10, n_boot=10)
    for f in (lm.theory.test_loss, lm.theory.expected_distance, lm.theory.optimal_alpha_t, lm.theory.optimal_alpha_r):
        with pytest.warns(lm.InfiniteMomentWarning):
            f(THRESHOLD)


def test_warning_points_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lm.theory.test_loss(THRESHOLD)
        lm.simulate(THRESHOLD, n_runs=3)
        lm.simulate_curve(THRESHOLD, "alpha_t", [0.1], n_runs=3)
        warn_if_infinite_moments(THRESHOLD)
    assert [w.filename for w in caught] == [__file__] * 4


def test_far_from_threshold_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lm.theory.test_loss(lm.presets.FIG2)
        lm.simulate(lm.presets.FIG3, n_runs=4)


def _hill(x, k=200):
    x = np.sort(x)[::-1]
    return 1.0 / np.mean(np.log(x[:k] / x[k]))


@pytest.mark.statistical
@pytest.mark.parametrize("p, n_v, m", [(7, 2, 3), (9, 2, 3), (4, 5, 1), (2, 5, 1)])
@pytest.mark.parametrize("alpha_t", [0.0, -0.5])
def test_tail_index_matches_the_inverse_wishart_condition(p, n_v, m, alpha_t):
    # P(L > t) ~ t^-(margin + 2)/2: the mean is infinite iff margin <= 0, the variance iff margin <= 2.
    # Hill's estimator on the top 1 % of 20,000 runs has a relative SE of about 7 %; at this size it separates
    # index 1 (margin 0) from 2 (margin 2), so a condition off by one (e.g. "dof - dim > 0") would fail.
    q = lm.Problem(p=p, m=m, n_t=10, n_v=n_v, n_r=10, sigma=1.0, nu=0.5, alpha_t=alpha_t, alpha_r=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lm.InfiniteMomentWarning)
        values = lm.simulate(q, 20_000, seed=1).values
    index = (moment_margin(q) + 2) / 2
    assert abs(_hill(values) - index) < 0.3 * index
    # negative control: a tail heavier by one margin step (index - 1/2) is rejected.  That is the direction that
    # matters: a heavier tail than claimed would leave an infinite variance unwarned.  (A lighter one cannot be
    # separated everywhere at this size: Hill's estimate runs up to 22 % high at p = 2.)
    assert abs(_hill(values) - (index - 0.5)) > 0.1
