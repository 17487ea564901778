"""simulate_optimum: the minimiser of the common-random-numbers mean curve, its bootstrap interval, refusals."""
import numpy as np
import pytest

import linmeta as lm
from linmeta.optimum import _minimise_runs

C = 0.3   # the true minimiser of the synthetic mean curve


def _synthetic(seed, n_runs=200):
    """Per-run losses a_i (e^u - u) + b_i u, u = x - C: the mean curve's minimiser is C + log(1 - mean b / mean a)."""
    rng = np.random.default_rng([seed, 7])
    a = 1 + 0.3 * rng.standard_normal(n_runs)
    b = 0.2 * rng.standard_normal(n_runs)
    def curves(xs):
        x = np.asarray(xs) - C
        return a[:, None] * (np.exp(x) - x) + b[:, None] * x
    return curves


def _parabola(x, y):
    i = int(np.argmin(y))
    c = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
    return -c[1] / (2 * c[0])


@pytest.mark.statistical
def test_synthetic_unbiased_and_covers_at_the_nominal_rate():
    # 100 seeds: coverage of a 95 % interval is Binomial(100, 0.95); P(<= 88 covered) = 0.6 %.
    est, hits, shifted, parabola = [], 0, 0, []
    for seed in range(100):
        f = _synthetic(seed)
        value, se, (lo, hi), *_ = _minimise_runs(f, 200, seed, (C - 2, C + 2), 9, 21, 200, 0.95)
        est.append(value)
        hits += lo <= C <= hi
        shifted += lo <= C + 2 * se <= hi        # negative control: a target 2 SE off is covered far less often
        xs = np.linspace(C - 2, C + 2, 9)
        parabola.append(_parabola(xs, f(xs).mean(axis=0)))
    est, parabola = np.array(est), np.array(parabola)
    se_mean = est.std(ddof=1) / np.sqrt(len(est))
    assert abs(est.mean() - C) < 3 * se_mean, (est.mean() - C, se_mean)
    assert hits >= 89, hits
    assert shifted < 89, shifted
    # negative control for the bias check: a three-point parabola on the coarse grid is caught at this size
    assert abs(parabola.mean() - C) > 3 * parabola.std(ddof=1) / np.sqrt(len(parabola))


def test_alpha_r_is_the_exact_minimiser_of_the_crn_mean_curve():
    # given the runs, the mean loss is quadratic in alpha_r (T0) with minimiser
    # D / (D (1 + (p+1)/n_r) + sigma^2 p / n_r), D = nu^2 + mean |omega* - w0|^2, read off simulate at alpha_r = 0
    for prob in (lm.presets.FIG2, lm.presets.FIG3.replace(m=5)):
        opt = lm.simulate_optimum(prob, "alpha_r", n_runs=200, seed=4)
        D = 2 * lm.simulate(prob.replace(alpha_r=0.0), 200, seed=4).mean - prob.sigma**2
        star = D / (D * (1 + (prob.p + 1) / prob.n_r) + prob.sigma**2 * prob.p / prob.n_r)
        assert abs(opt.value - star) < 1e-3 * opt.stderr
        assert opt.ci[0] < opt.value < opt.ci[1] and opt.stderr > 0


def test_synthetic_estimate_beats_the_coarse_parabola():
    # fast version of the statistical test below, on one large sample: spline estimate within 3 SE of the truth,
    # the three-point parabola on the coarse grid biased by about -0.043 (many SE at this size)
    f = _synthetic(0, n_runs=4000)
    value, se, (lo, hi), *_ = _minimise_runs(f, 4000, 0, (C - 2, C + 2), 9, 21, 100, 0.95)
    assert abs(value - C) < 3 * se and lo < value < hi
    xs = np.linspace(C - 2, C + 2, 9)
    assert abs(_parabola(xs, f(xs).mean(axis=0)) - C) > 10 * se


def test_result_fields_and_reproducibility():
    a = lm.simulate_optimum(lm.presets.FIG2, "alpha_t", n_runs=50, seed=2, n_boot=50)
    b = lm.simulate_optimum(lm.presets.FIG2, "alpha_t", n_runs=50, seed=2, n_boot=50)
    assert (a.value, a.stderr, a.ci) == (b.value, b.stderr, b.ci)
    assert a.n_runs == 50 and a.seed == 2 and a.param == "alpha_t" and len(a.ci) == 2
    t = lm.simulate_curve(lm.presets.FIG2, "alpha_t", [-2.0, 1.0], n_runs=50, seed=2)
    assert list(a.curve.columns) == list(t.columns)                      # simulate_curve's table layout
    assert a.curve["alpha_t"].is_monotonic_increasing and (a.curve["alpha_r"] == lm.presets.FIG2.alpha_r).all()
    # the coarse grid is simulate_curve's, run for run
    np.testing.assert_array_equal(a.curve.set_index("alpha_t").loc[[-2.0, 1.0], "mean"].to_numpy(),
                                  t["mean"].to_numpy())
    assert set(a.to_dict()) >= {"value", "stderr", "ci_low", "ci_high", "n_runs", "seed"}


def test_given_grid_is_the_coarse_grid():
    """grid=linspace(...) is the default grid; any grid's points are simulate_curve's on the same runs."""
    kw = dict(n_runs=40, seed=3, n_boot=50)
    default = lm.simulate_optimum(lm.presets.FIG2, "alpha_t", bracket=(-2.0, 1.0), n_grid=13, **kw)
    given = lm.simulate_optimum(lm.presets.FIG2, "alpha_t", grid=np.linspace(-2.0, 1.0, 13), **kw)
    assert (default.value, default.stderr, default.ci) == (given.value, given.stderr, given.ci)
    grid = np.round(np.linspace(-0.3, 0.9, 25), 12)          # rounded: not bit-equal to a linspace
    assert not np.array_equal(grid, np.linspace(grid[0], grid[-1], 25))
    opt = lm.simulate_optimum(lm.presets.FIG2, "alpha_r", grid=grid, **kw)
    # a fine-grid point within rounding of a coarse one is not added (near-duplicate abscissae wreck the spline)
    even = lm.simulate_optimum(lm.presets.FIG2, "alpha_r", bracket=(grid[0], grid[-1]), **kw)
    assert abs(opt.value - even.value) < 1e-9 and abs(opt.stderr / even.stderr - 1) < 1e-6
    assert np.min(np.diff(opt.curve["alpha_r"])) > 1e-3
    assert opt.bracket == (grid[0], grid[-1]) and set(grid) <= set(opt.curve["alpha_r"])
    curve = lm.simulate_curve(lm.presets.FIG2, "alpha_r", grid, n_runs=40, seed=3)
    np.testing.assert_allclose(opt.curve[opt.curve["alpha_r"].isin(grid)]["mean"], curve["mean"], rtol=1e-12)


def test_minimum_at_the_bracket_edge_is_refused():
    with pytest.raises(ValueError, match=r"edge of bracket=\(-0.1, 0.05\)"):
        lm.simulate_optimum(lm.presets.FIG2, "alpha_t", n_runs=20, bracket=(-0.1, 0.05))


@pytest.mark.parametrize("kwargs, match", [
    (dict(param="m"), "param must be one of"),
    (dict(bracket=(1.0, 0.0)), "low < high"),
    (dict(bracket=3), "bracket must be a pair"),
    (dict(n_runs=5), "n_runs must be an integer >= 10"),
    (dict(level=1.0), "level must be"),
    (dict(grid=[0.0, 0.1, 0.3, 0.2, 0.4]), "grid must be an increasing sequence"),
    (dict(grid=[0.0, 0.1, 0.2, 0.3]), "at least 5"),
    (dict(grid=np.linspace(-0.3, 0.9, 25), bracket=(-0.3, 1.0)), r"bracket must be the ends of grid \(-0.3, 0.9\)"),
])
def test_bad_input(kwargs, match):
    args = dict(param="alpha_r", n_runs=20) | kwargs
    with pytest.raises(ValueError, match=match):
        lm.simulate_optimum(lm.presets.FIG2, **args)


@pytest.mark.statistical
def test_alpha_r_interval_covers_the_true_optimum_at_the_nominal_rate():
    # truth: alpha_r* = D / (D (1 + (p+1)/n_r) + sigma^2 p / n_r), D = nu^2 + E|omega* - w0|^2 (T0), with
    # E|omega* - w0|^2 from 25,000 runs of simulate at alpha_r = 0 (its error is 1/11 of one 200-run SE; 100,000
    # runs move the truth by 0.1 SE and give 95 hits and 40 shifted against 94 and 38 here)
    prob = lm.Problem(p=5, m=4, n_t=10, n_v=5, n_r=10, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
    D = 2 * lm.simulate(prob.replace(alpha_r=0.0), 25_000, seed=10**6).mean - prob.sigma**2
    truth = D / (D * (1 + (prob.p + 1) / prob.n_r) + prob.sigma**2 * prob.p / prob.n_r)
    hits = shifted = 0
    for seed in range(100):
        opt = lm.simulate_optimum(prob, "alpha_r", n_runs=200, seed=seed, n_boot=100)
        hits += opt.ci[0] <= truth <= opt.ci[1]
        shifted += opt.ci[0] <= truth + 2 * opt.stderr <= opt.ci[1]   # negative control
    assert hits >= 89, (hits, shifted)  # Binomial(100, 0.95): P(<= 88) = 0.6 %
    assert shifted < 89, shifted
