"""lm.check with rtol > 0 is an equivalence test: certified, differs or inconclusive, each at its stated level."""
import json
import math

import numpy as np
import pytest
from scipy import stats

import linmeta as lm
from linmeta._check_stats import p_equivalence as _p_equivalence
from linmeta._check_stats import p_value as _p_value

T0 = "sigma^2/2*(1 + alpha_r^2*p/n_r) + ((1-alpha_r)^2 + alpha_r^2*(p+1)/n_r)/2 * (nu^2 + {D})"
EXACT = T0.format(D="nu^2*n_v*m*(p-n_v-1)/(p*(p-n_v*m-1)) + sigma^2*n_v*m/(p-n_v*m-1)")   # exact at alpha_t = 0
OVER = lm.Problem(p=10, m=2, n_t=5, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)
P12 = OVER.replace(p=12)
HIGH = f"1.085*({EXACT})"        # 8.5 % too high


def _hall_cdf(t, skew, n):
    """Hall (1992): P(T <= t) ~ Phi(t + skew (2 t^2 + 1)/(6 sqrt n) + skew^2 t^3/(27 n)) for the studentised mean."""
    return stats.norm.cdf(t + skew * (2 * t**2 + 1) / (6 * np.sqrt(n)) + skew**2 * t**3 / (27 * n))


def test_equivalence_p_value_is_the_larger_of_the_two_one_sided_tests():
    for mean, se, f, rtol in [(1.01, 0.004, 1.0, 0.02), (0.97, 0.01, 1.0, 0.05), (2.3, 0.05, 2.0, 0.1),
                              (-1.0, 0.01, -1.02, 0.05)]:
        band = rtol * abs(f)
        upper = stats.norm.cdf((mean - (f + band)) / se)     # H0: mu >= f + band, rejected for small mean
        lower = stats.norm.sf((mean - (f - band)) / se)      # H0: mu <= f - band, rejected for large mean
        assert math.isclose(_p_equivalence(mean, se, f, rtol), max(upper, lower), rel_tol=1e-9)
    assert _p_equivalence(1.0, 0.0, 1.0, 0.1) == 0.0 and _p_equivalence(1.2, 0.0, 1.0, 0.1) == 1.0
    assert _p_equivalence(1.0, 0.01, 1.0, 0.0) >= 0.5          # rtol = 0: nothing can be certified


def test_equivalence_p_value_corrects_for_skewness_as_hall_1992():
    n, f, rtol = 400, 1.0, 0.05
    for mean, se, skew in [(1.02, 0.01, 2.5), (0.98, 0.01, 2.5), (1.03, 0.02, -1.0), (1.0, 0.01, 0.7)]:
        upper = _hall_cdf((mean - f - rtol) / se, skew, n)          # H0: mu >= f + band
        lower = 1 - _hall_cdf((mean - f + rtol) / se, skew, n)      # H0: mu <= f - band
        assert math.isclose(_p_equivalence(mean, se, f, rtol, skew, n), max(upper, lower), rel_tol=1e-9)
    # right skew makes the studentised mean's lower tail heavier: an estimate below the upper edge is weaker
    # evidence against it than the normal rule says, one above the lower edge stronger
    assert _p_equivalence(1.02, 0.01, 1.0, 0.05, 2.5, n) > 2 * _p_equivalence(1.02, 0.01, 1.0, 0.05)
    assert _p_equivalence(0.98, 0.01, 1.0, 0.05, 2.5, n) < _p_equivalence(0.98, 0.01, 1.0, 0.05) / 2
    # the transformation is increasing, so the difference test's p-value is the larger of its two edges
    for mean in (1.2, 0.8, 1.06):
        edges = [1 - _hall_cdf((abs(mean - f) + f - mu0) / 0.02, 2.0, n) + _hall_cdf((f - abs(mean - f) - mu0) / 0.02,
                                                                                      2.0, n)
                 for mu0 in (f - rtol, f + rtol)]
        assert math.isclose(_p_value(mean, 0.02, f, rtol, 2.0, n), min(1.0, max(edges)), rel_tol=1e-9, abs_tol=1e-300)


def test_intersection_union_certifies_only_when_every_cell_is_certified():
    res = lm.check(EXACT, OVER, {"m": [1, 2]}, n_runs=4000, rtol=0.05, level=0.01)
    assert res.verdict == "equivalent" and res.passed and list(res.table["outcome"]) == ["equivalent"] * 2
    # the same draws, one cell's formula moved 4.5 % off: that cell is no longer certified, the grid is not either
    shifted = lm.check(f"(1 + 0.045*(m - 1))*({EXACT})", OVER, {"m": [1, 2]}, n_runs=4000, rtol=0.05, level=0.01)
    np.testing.assert_array_equal(shifted.table["mean"], res.table["mean"])
    assert list(shifted.table["outcome"]) == ["equivalent", "open"], shifted
    assert shifted.verdict == "inconclusive" and not shifted.passed and shifted.runs_needed > 4000


def test_table_columns_verdicts_and_the_parameters_held_fixed():
    res = lm.check(EXACT, OVER, {"m": [1, 2]}, n_runs=4000, rtol=0.05)
    assert list(res.table.columns) == ["m", "formula", "mean", "stderr", "z", "rel_dev", "p_value", "p_equiv",
                                       "outcome", "passed", "mode"]
    assert res.fixed == {"p": 10, "n_v": 2, "n_r": 5, "sigma": 0.5, "nu": 0.5, "alpha_r": 0.2}   # not m, not alpha_t
    summary = res.summary()
    assert summary.startswith("EQUIVALENT within rtol=0.05: 2 of 2 cells certified")
    assert "p=10, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_r=0.2 held fixed" in summary
    assert res.table.attrs["verdict"] == "equivalent" and res.table.attrs["fixed"] == res.fixed
    # a callable may read any field: every symbol the grid does not vary is named
    call = lm.check(lambda prob: 1.0, OVER, {"m": [1, 2], "alpha_t": [0.0]}, n_runs=20, rtol=0.05)
    assert list(call.fixed) == ["p", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r", "dist0", "s_1", "s_2",
                                "s_3", "s_4", "t_0", "t_1", "t_2", "t_3", "d_1", "d_2", "d_3"]
    # the z-test names them too, and keeps its verdicts and layout
    z = lm.check(EXACT, OVER, {"m": [1, 2]}, n_runs=1000)
    assert z.verdict == "passed" and z.fixed == res.fixed and "held fixed" in z.summary()
    assert "p_equiv" not in z.table.columns and z.runs_needed is None


def test_plot_of_a_tolerance_check_has_one_series_and_states_the_verdict():
    from matplotlib.figure import Figure

    from linmeta.plotting import plot_check

    res = lm.check(f"(1 + 0.2*(m - 1))*({EXACT})", OVER, {"m": [1, 2]}, n_runs=2000, rtol=0.05)
    assert res.verdict == "differs" and list(res.table["outcome"]) == ["equivalent", "differs"]
    ax = Figure().subplots()
    artists = plot_check(ax, res)
    assert len(artists["formula"]) == 1 and len(artists["rejected"]) == 1     # the two cells are one series
    assert list(artists["rejected"][0].get_xdata()) == [2]
    assert "differs" in ax.get_title(loc="left")


def test_inconclusive_says_how_many_runs_would_settle_it():
    few = lm.check(EXACT, OVER, {"m": [1, 2]}, n_runs=200, rtol=0.05)
    assert few.verdict == "inconclusive" and not few.passed
    assert few.runs_needed is not None and few.runs_needed > 200
    assert f"about {few.runs_needed} runs per cell would settle it" in few.summary()
    # the estimate: standard errors ~ 1/sqrt(n), deviations and skewnesses held; two significant figures, rounded up
    t = few.table
    dev, band = (t["mean"] - t["formula"]).abs().to_numpy(), 0.05 * t["formula"].abs().to_numpy()
    skew = np.array(few.skewness)

    def worst_p(n):        # the larger one-sided p-value (the upper edge's), written out from Hall (1992)
        return max(_hall_cdf((dev - band) / (t["stderr"].to_numpy() * np.sqrt(200 / n)), skew, n))

    assert worst_p(few.runs_needed) <= 0.01 < worst_p(few.runs_needed // 1.1 - 1)
    normal = (200 * (stats.norm.isf(0.01) * t["stderr"] / (band - dev)) ** 2).max()
    assert few.runs_needed > 1.1 * normal      # the skewness correction asks for more than the normal rule
    assert lm.check(EXACT, OVER, {"m": [1, 2]}, n_runs=few.runs_needed, rtol=0.05).verdict == "equivalent"


def test_the_issue_example_8_5_percent_off_with_20_runs_is_never_certified():
    """P = 12, m = 2, a formula 8.5 % too high, rtol 0.02, 20 runs: the old rule passed it; now never certified."""
    verdicts = [lm.check(HIGH, P12, {"m": [2]}, n_runs=20, seed=s, rtol=0.02).verdict for s in range(40)]
    assert set(verdicts) <= {"differs", "inconclusive"}, verdicts
    old_passed = sum(_p_value(r.table["mean"][0], r.table["stderr"][0], r.table["formula"][0], 0.02) > 0.01
                     for r in (lm.check(HIGH, P12, {"m": [2]}, n_runs=20, seed=s, rtol=0.02) for s in range(40)))
    assert old_passed >= 20          # the old verdict ("not rejected") passed it at most seeds
    # control at the same 20 runs: a generous tolerance certifies the exact formula, so certification is possible
    assert lm.check(EXACT, P12, {"m": [2]}, n_runs=20, seed=0, rtol=0.5).verdict == "equivalent"
    # and with enough runs the 8.5 % is shown to differ
    assert lm.check(HIGH, P12, {"m": [2]}, n_runs=2000, seed=0, rtol=0.02).verdict == "differs"


def _cli(*args):
    from linmeta.cli import main

    return main(["check", *args])


SET = ["--set", "p=10", "--set", "m=2", "--set", "n_t=5", "--set", "n_v=2", "--set", "n_r=5",
       "--set", "sigma=0.5", "--set", "nu=0.5", "--set", "alpha_t=0", "--set", "alpha_r=0.2"]


def test_cli_exit_status_equivalent_differs_inconclusive(capsys):
    assert _cli(EXACT, *SET, "--grid", "m=1,2", "--runs", "4000", "--rtol", "0.05") == 0
    assert "EQUIVALENT within rtol=0.05" in capsys.readouterr().out
    set12 = [item if item != "p=10" else "p=12" for item in SET]
    assert _cli(HIGH, *set12, "--grid", "m=2", "--runs", "2000", "--rtol", "0.02") == 1
    assert "DIFFERS" in capsys.readouterr().out
    assert _cli(EXACT, *SET, "--grid", "m=1,2", "--runs", "200", "--rtol", "0.05", "--json") == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "inconclusive" and doc["passed"] is False and doc["runs_needed"] > 200
    assert doc["fixed"]["p"] == 10 and "m" not in doc["fixed"]
    assert doc["skew_correction"] == "hall" and len(doc["skewness"]) == 2 and min(doc["skewness"]) > 1
    assert _cli("--help") == 0
    assert "3 inconclusive" in capsys.readouterr().out


# ----------------------------------------------------------------------------- levels, by repeated samples
LEVEL, RTOL, RUNS, SAMPLES = 0.05, 0.05, 400, 2000
ONE = OVER.replace(m=1)


@pytest.mark.statistical
def test_certification_holds_its_level_at_both_edges_where_the_normal_rule_does_not():
    """At E/formula - 1 = +-rtol the false-certification rate is at most ``level``; the normal rule's is not.

    The per-run loss here is strongly skewed (skewness about 3.4, excess kurtosis about 30), which makes
    the studentised mean's lower tail heavier: the normal approximation certifies a formula that is
    exactly ``rtol`` too low (upper edge) too often.  2000 independent samples of 400 runs (consecutive
    blocks of one simulation; block 0 is ``lm.check``'s seed-0 sample, checked below) are scored by the
    skewness-corrected rule and, on the same runs, by the old normal rule.  A one-sided binomial test
    at 0.1 % does not reject "rate <= level" for the new rule at either edge, and does reject it for the
    normal rule at the upper edge (the control: at this sample size the test detects the excess).
    The exact formula is certified at most samples, a formula 2 rtol off at none.
    """
    losses = lm.simulate(ONE, RUNS * SAMPLES, seed=0, return_losses=True).losses.reshape(SAMPLES, RUNS)
    mu = lm.check(EXACT, ONE, {"m": [1]}, n_runs=2, rtol=RTOL).table["formula"][0]    # exact at alpha_t = 0
    mean, se = losses.mean(axis=1), losses.std(axis=1, ddof=1) / np.sqrt(RUNS)
    centred = losses - mean[:, None]
    skew = (centred**3).mean(axis=1) / (centred**2).mean(axis=1) ** 1.5

    def certified(f, correct):
        band = RTOL * abs(f)
        if not correct:     # the old normal rule: |mean - f| + z se < band
            return stats.norm.cdf((np.abs(mean - f) - band) / se) <= LEVEL
        return np.array([_p_equivalence(m, s, f, RTOL, g, RUNS) <= LEVEL
                         for m, s, g in zip(mean, se, skew, strict=True)])

    upper, lower = mu / (1 + RTOL), mu / (1 - RTOL)      # E/formula - 1 = +rtol, -rtol exactly
    count = {(name, rule): int(certified(f, rule == "corrected").sum())
             for name, f in (("upper", upper), ("lower", lower), ("exact", mu), ("2 rtol", mu / (1 + 2 * RTOL)))
             for rule in ("corrected", "normal")}
    crit = stats.binom(SAMPLES, LEVEL).ppf(0.999)        # P(count > crit | rate = level) <= 0.001
    print(f"certified of {SAMPLES} samples (level {LEVEL}, rtol {RTOL}, {RUNS} runs): {count}; "
          f"one-sided 0.1 % critical count {crit:.0f}; median skewness {np.median(skew):.2f}")
    assert count["upper", "corrected"] <= crit and count["lower", "corrected"] <= crit
    assert count["upper", "normal"] > crit                # the control: the normal rule's excess is detected
    assert count["upper", "normal"] > count["upper", "corrected"]
    # sized near level, not vacuous: both edges together certify at least the binomial lower bound
    assert count["upper", "corrected"] + count["lower", "corrected"] >= stats.binom(2 * SAMPLES, LEVEL).ppf(0.001)
    assert count["exact", "corrected"] >= 0.9 * SAMPLES
    assert count["2 rtol", "corrected"] == 0
    # the difference test on the same runs: the z-test (rtol = 0) of the exact formula, and "differs" at the edges
    rejected = {name: sum(_p_value(m, s, f, r, g, RUNS) <= LEVEL for m, s, g in zip(mean, se, skew, strict=True))
                for name, f, r in (("z-test", mu, 0.0), ("upper", upper, RTOL), ("lower", lower, RTOL))}
    print(f"rejected of {SAMPLES}: {rejected}")
    low, high = stats.binom(SAMPLES, LEVEL).interval(0.999)
    assert low <= rejected["z-test"] <= high
    assert rejected["upper"] <= crit and rejected["lower"] <= crit
    # valid at the edge where the larger p-value is taken, conservative at the other, not vacuous over both
    assert rejected["upper"] + rejected["lower"] >= stats.binom(2 * SAMPLES, LEVEL).ppf(0.001)
    # the rule above is lm.check's: block 0 is its seed-0 sample, and the verdicts agree
    for f, name in ((upper, "upper"), (mu, "exact")):
        res = lm.check(repr(float(f)), ONE, {"m": [1]}, n_runs=RUNS, seed=0, rtol=RTOL, level=LEVEL)
        assert res.table["mean"][0] == mean[0] and res.table["stderr"][0] == se[0]
        assert res.passed == bool(certified(f, True)[0]), name
        assert math.isclose(res.skewness[0], skew[0], rel_tol=1e-12)
