"""A Monte Carlo estimate that is not a finite number is an error naming its cause, never a result."""
import math

import numpy as np
import pytest

import linmeta as lm
from linmeta.cli import main

SMALL = lm.presets.FIG3.replace(m=4, n_v=10)     # under-parameterised, margin 9: no moment warning


def test_simulate_refuses_a_loss_that_overflows_at_a_huge_adaptation_rate():
    with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200: the test loss overflows") as info:
        lm.simulate(SMALL.replace(alpha_r=1e200), n_runs=20)
    assert isinstance(info.value, ValueError)
    assert (info.value.param, info.value.value) == ("alpha_r", 1e200)
    # controls: one run has no standard error (nan), which is not an error; ordinary estimates are untouched
    one = lm.simulate(SMALL, n_runs=1)
    assert math.isfinite(one.mean) and math.isnan(one.stderr)
    est = lm.simulate(SMALL, n_runs=30, seed=4)
    assert est.mean == float(est.values.mean()) and est.stderr == float(est.values.std(ddof=1) / np.sqrt(30))


def test_simulate_refuses_with_the_protocol_too():
    with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200"):
        lm.simulate(SMALL.replace(alpha_r=1e200), n_runs=5, method="protocol", n_test_tasks=2, n_test_points=3)


def test_finite_losses_whose_standard_error_overflows_are_refused():
    # alpha_r = 1e153: h_r ~ 3e306 is finite, each loss is finite, but (loss - mean)^2 overflows
    with pytest.raises(lm.NonFiniteResultError, match="are finite .* but their mean or standard error overflows"):
        lm.simulate(SMALL.replace(alpha_r=1e153), n_runs=20)


def test_meta_training_that_overflows_is_refused():
    # alpha_t = 1e200: the inner map's entries square to beyond the largest double; the solves say so first
    with pytest.warns(lm.IllConditionedWarning), pytest.raises(lm.NonFiniteResultError,
                                                                 match="runs give a non-finite test loss"):
        lm.simulate(SMALL.replace(alpha_t=-1e200), n_runs=10)


def test_simulate_curve_names_the_value_at_fault():
    with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200"):
        lm.simulate_curve(SMALL, "alpha_r", [0.2, 1e200], n_runs=10)
    with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200"):
        lm.simulate_curve(SMALL.replace(alpha_r=1e200), "m", [4, 5], n_runs=10)


def test_simulate_optimum_refuses_a_curve_that_overflows():
    grid = [0.0, 0.1, 0.2, 0.3, 1e200]
    for method in ("exact", "protocol"):
        with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200"):
            lm.simulate_optimum(SMALL, "alpha_r", n_runs=10, n_boot=10, grid=grid, method=method, n_test_tasks=2,
                                n_test_points=3)


def test_cli_prints_one_line_and_exits_2(capsys):
    assert main(["simulate", "--preset", "fig3", "--set", "alpha_r=1e200", "--runs", "20"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("linmeta: error: alpha_r=1e+200: the test loss overflows double precision")


def test_theory_refuses_an_overflowing_loss_and_keeps_finite_values():
    import warnings

    import linmeta as lm
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way
        with pytest.raises(lm.NonFiniteResultError, match="alpha_r=1e\\+200"):
            lm.theory.test_loss(lm.presets.FIG2.replace(alpha_r=1e200))
        with pytest.raises(lm.NonFiniteResultError, match="expected_distance"):
            lm.theory.expected_distance(lm.presets.FIG3, alpha_t=1e200)
    assert lm.theory.test_loss(lm.presets.FIG2) == lm.theory.test_loss.__wrapped__(lm.presets.FIG2)  # passed through


def test_replace_sizes_refuses_a_p_whose_vectors_cannot_fit():
    import linmeta as lm
    from linmeta.sweeping.grid import replace_sizes
    with pytest.raises(ValueError, match="p=1000000000000 needs about"):
        replace_sizes(lm.presets.FIG3, p=10**12)
