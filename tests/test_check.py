"""lm.check: right formulas pass, wrong ones are rejected at the same run count, the level holds."""
import math

import numpy as np
import pytest
from scipy import stats

import linmeta as lm

# exact at alpha_t = 0, over-parameterised (p > n_v m): (T0) at the inverse-Wishart distance
T0 = "sigma^2/2*(1 + alpha_r^2*p/n_r) + ((1-alpha_r)^2 + alpha_r^2*(p+1)/n_r)/2 * (nu^2 + {D})"
EXACT = T0.format(D="nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) + sigma^2*n_v*m/(p-n_v*m-1)")
K_OVER_P = T0.format(D="nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) + sigma^2*n_v*m/p")      # k/p for k/(p-k-1)
SIGN_FLIP = T0.format(D="nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) - sigma^2*n_v*m/(p-n_v*m-1)")
OVER = lm.Problem(p=10, m=2, n_t=5, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)
UNDER = lm.Problem(p=5, m=20, n_t=5, n_v=5, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)
RUNS = 1000


@pytest.fixture(scope="module")
def verdicts():
    grid = {"m": [1, 2, 3]}
    return {name: lm.check(f, OVER, grid, n_runs=RUNS, seed=0)
            for name, f in (("exact", EXACT), ("k/p", K_OVER_P), ("flip", SIGN_FLIP))}


def test_exact_formula_passes_and_wrong_ones_are_rejected_at_the_same_run_count(verdicts):
    assert verdicts["exact"].passed, verdicts["exact"]
    assert not verdicts["k/p"].passed, verdicts["k/p"]
    assert not verdicts["flip"].passed, verdicts["flip"]
    # k/p understates the noise term at every cell; the gap grows as k approaches p
    assert (verdicts["k/p"].table["z"] > 3).all()


def test_table_layout_mode_and_correction(verdicts):
    res = verdicts["exact"]
    assert list(res.table.columns) == ["m", "formula", "mean", "stderr", "z", "rel_dev", "p_value", "passed", "mode"]
    assert res.mode == "z-test" and res.correction == "holm" and res.table.attrs["correction"] == "holm"
    assert (res.table["mode"] == "z-test").all()
    t = res.table
    np.testing.assert_allclose(t["z"], (t["mean"] - t["formula"]) / t["stderr"], rtol=1e-15)
    np.testing.assert_allclose(t["rel_dev"], t["mean"] / t["formula"] - 1, rtol=1e-12)
    assert "PASSED" in res.summary() and "Holm" in res.summary()


def test_means_are_the_simulation_with_common_random_numbers(verdicts):
    t = verdicts["exact"].table
    for m, mean in zip(t["m"], t["mean"], strict=True):
        assert mean == lm.simulate(OVER.replace(m=int(m)), RUNS, 0).mean   # bit for bit


def test_simulate_keeps_the_per_run_losses_on_request_and_check_uses_them():
    est = lm.simulate(OVER, 300, seed=4, return_losses=True)
    assert est.losses.shape == (300,) and est.losses.mean() == est.mean
    np.testing.assert_array_equal(est.losses, est.values)
    plain = lm.simulate(OVER, 300, seed=4)
    assert plain.losses is None and plain.mean == est.mean and plain != est
    with pytest.raises(ValueError, match="return_losses"):
        lm.simulate(OVER, 10, return_losses="yes")
    res = lm.check(EXACT, OVER, {"m": [2]}, n_runs=300, seed=4, rtol=0.05)
    centred = est.losses - est.losses.mean()
    assert res.table["mean"][0] == est.mean and res.table["stderr"][0] == est.stderr
    assert math.isclose(res.skewness[0], np.mean(centred**3) / np.mean(centred**2) ** 1.5, rel_tol=1e-12)
    assert res.skewness == res.table.attrs["skewness"] and res.skew_correction == "hall"


@pytest.mark.parametrize("grid", [{"alpha_t": [-0.5, 0.5], "m": [1, 2]}, {"m": [1, 2], "alpha_r": [0.1, 0.4]}])
def test_means_and_standard_errors_are_the_sweeps_bit_for_bit(grid):
    res = lm.check("sigma^2 + nu", OVER, grid, n_runs=60, seed=3)
    sim = lm.sweep(OVER, grid, n_runs=60, seed=3)
    np.testing.assert_array_equal(res.table["mean"], sim["mean"])
    np.testing.assert_array_equal(res.table["stderr"], sim["stderr"])
    for name in grid:
        np.testing.assert_array_equal(res.table[name], sim[name])


def test_string_sympy_and_callable_formulas_agree():
    import linmeta.symbolic as ls

    grid = {"alpha_t": [-0.5, 0.5]}
    a = lm.check("sigma^2 + nu", OVER, grid, n_runs=50)
    b = lm.check(ls.symbols.sigma**2 + ls.symbols.nu, OVER, grid, n_runs=50)
    c = lm.check(lambda prob: prob.sigma**2 + prob.nu, OVER, grid, n_runs=50)
    for other in (b, c):
        np.testing.assert_array_equal(a.table["formula"], other.table["formula"])
        np.testing.assert_array_equal(a.table["mean"], other.table["mean"])


def test_leading_order_theorem2_needs_a_tolerance_and_the_printed_form_fails_it():
    import linmeta.symbolic as ls

    grid = {"alpha_t": [-0.5, 0.3, 0.6]}
    derived, printed = ls.test_loss("underparameterized"), ls.test_loss("underparameterized", "printed")
    strict = lm.check(derived, UNDER, grid, n_runs=2000, seed=0)
    loose = lm.check(derived, UNDER, grid, n_runs=2000, seed=0, rtol=0.02)
    wrong = lm.check(printed, UNDER, grid, n_runs=2000, seed=0, rtol=0.02)
    assert not strict.passed           # a leading-order result is not exact at m = 20 ...
    assert loose.passed, loose         # ... but within 2 % of the simulation
    assert not wrong.passed, wrong     # the printed prefactor h_r/(2 h_t) is off by more
    assert loose.mode == "tolerance" and (loose.table["mode"] == "tolerance (rtol=0.02)").all()
    assert (loose.table["z"] == strict.table["z"]).all()


def test_tolerance_p_value_reduces_to_the_two_sided_z_test():
    from linmeta._check_stats import p_value as _p_value

    for z in (0.0, 0.5, 1.96, 3.0):
        assert math.isclose(_p_value(1.0 + 0.01 * z, 0.01, 1.0, 0.0), 2 * stats.norm.sf(z), rel_tol=1e-12)
    # inside the band: consistent; far outside: rejected
    assert _p_value(1.05, 0.001, 1.0, 0.1) > 0.5
    assert _p_value(1.2, 0.001, 1.0, 0.1) < 1e-12


def test_holm_step_down():
    from linmeta._check_stats import holm as _holm

    # level 0.05 over 3: thresholds 0.0167, 0.025, 0.05
    np.testing.assert_array_equal(_holm(np.array([0.01, 0.02, 0.04]), 0.05), [True, True, True])
    np.testing.assert_array_equal(_holm(np.array([0.01, 0.03, 0.04]), 0.05), [True, False, False])
    np.testing.assert_array_equal(_holm(np.array([0.02, 0.001, 0.5]), 0.05), [True, True, False])


@pytest.mark.parametrize("kwargs, match", [
    (dict(level=0.0), "level"), (dict(level=1.0), "level"), (dict(rtol=-0.1), "rtol"),
    (dict(rtol=float("nan")), "rtol"), (dict(n_runs=1), "n_runs"), (dict(method="magic"), "method"),
    (dict(seed=-1), "seed"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lm.check("p", OVER, {"m": [1]}, **kwargs)


def test_bad_formulas_and_cells_are_refused_before_simulating():
    with pytest.raises(ValueError, match="'os'"):
        lm.check("os.system('true')", OVER, {"m": [1]})
    with pytest.raises(ValueError, match="division by zero"):
        lm.check("1/(p - 10)", OVER, {"m": [1]})
    with pytest.raises(ValueError, match="not finite"):
        lm.check(lambda prob: float("inf"), OVER, {"m": [1]})
    with pytest.raises(ValueError, match="interpolation threshold"):
        lm.check("p", OVER, {"m": [5]})
    with pytest.raises(ValueError, match="formula must be"):
        lm.check(3.0, OVER, {"m": [1]})


@pytest.mark.statistical
def test_false_rejection_rate_matches_the_level():
    """Over 300 seeds the exact formula is rejected at the nominal rate (binomial 99.9 % interval).

    The tolerance mode's difference test ("differs") at both edges of its band, and its certification, are
    tested on 2000 samples in tests/test_check_equivalence.py.
    """
    level, seeds = 0.05, range(300)
    low, high = stats.binom(len(seeds), level).interval(0.999)
    z_rejected = sum(not lm.check(EXACT, OVER, {"m": [1]}, n_runs=400, seed=s, level=level).passed
                     for s in seeds)
    print(f"z-test rejections over {len(seeds)} seeds: {z_rejected}; 99.9 % interval {low:.0f}..{high:.0f}")
    assert low <= z_rejected <= high, (z_rejected, low, high)


# ----------------------------------------------------------------------------- linmeta check
def _cli(*args):
    from linmeta.cli import main

    return main(["check", *args])


OVER_SET = ["--set", "p=10", "--set", "m=2", "--set", "n_t=5", "--set", "n_v=2", "--set", "n_r=5",
            "--set", "sigma=0.5", "--set", "nu=0.5", "--set", "alpha_t=0", "--set", "alpha_r=0.2"]


def test_cli_exit_status_passes_rejects_and_bad_input(capsys, tmp_path):
    assert _cli(EXACT, *OVER_SET, "--grid", "m=1,2", "--runs", "1000") == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "Holm" in out and "z-test" in out
    plot = tmp_path / "check.png"
    assert _cli(K_OVER_P, *OVER_SET, "--grid", "m=1,2", "--runs", "1000", "--json", "--plot", str(plot)) == 1
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is False and doc["correction"] == "holm" and len(doc["cells"]) == 2
    assert plot.stat().st_size > 1000
    for bad in (["__import__('os')"], ["p.real"], ["p", "--level", "1.5"], ["p", "--rtol", "-1"],
                ["p", "--runs", "1"], ["p", "--grid", "q=1,2"], ["p", "--set", "m=1.5"], ["lambda: 1"]):
        assert _cli(*bad) == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("linmeta: error:") and err.count("\n") == 1, err


def test_cli_help_has_examples(capsys):
    assert _cli("--help") == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "Holm" in out and "exit status" in out.lower()
