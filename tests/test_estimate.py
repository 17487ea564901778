"""Monte Carlo estimators: kernels vs NumPy twins, reproducibility, protocol vs exact."""
import numba
import numpy as np
import pandas as pd
import pytest
from conftest import z_score

import linmeta as lm
from linmeta import estimate
from linmeta._sim import reference as _reference
from linmeta.loss import loss_from_distance

SHIFTED = {
    "fig2": lm.presets.FIG2.replace(w0=np.linspace(-1, 1, 60), omega0=np.full(60, 0.2)),
    "fig3": lm.presets.FIG3.replace(w0=np.linspace(0, 1, 30), omega0=np.full(30, -0.5)),
}


METHOD_SAMPLERS = [("exact", "projected"), ("protocol", "projected"), ("protocol", "full")]


@pytest.mark.parametrize("name", SHIFTED)
@pytest.mark.parametrize("method, sampler", METHOD_SAMPLERS)
def test_kernels_match_numpy_twin(name, method, sampler):
    prob = SHIFTED[name]
    args = (prob, np.array([0, 7, 3]), 5, [-1.3, 0.0, 0.4], [-0.2, 0.3])
    kw = dict(n_test_tasks=3, n_test_points=4, test_sampler=sampler)
    fast = estimate.run_losses(*args, method, **kw)
    slow = _reference.run_losses(*args, method, **kw)
    np.testing.assert_allclose(fast, slow, rtol=1e-10)


def test_sample_tasks_is_run_i_of_simulate():
    prob = SHIFTED["fig3"]
    est = lm.simulate(prob, n_runs=5, seed=9)
    for i in (0, 4):
        omega = lm.meta_train(lm.sample_tasks(prob, seed=9, run=i), prob)
        assert est.values[i] == pytest.approx(lm.test_loss_given(omega, prob), rel=1e-10)


@pytest.mark.parametrize("method, sampler", METHOD_SAMPLERS)
def test_bit_for_bit_across_threads_and_chunks(method, sampler):
    prob = SHIFTED["fig2"]
    kw = dict(n_runs=13, seed=7, method=method, n_test_tasks=5, n_test_points=6, test_sampler=sampler)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = lm.simulate(prob, chunk_size=13, **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = lm.simulate(prob, chunk_size=4, **kw)
        three = lm.simulate(prob, chunk_size=1, **kw)
    finally:
        numba.set_num_threads(before)
    assert one.values.tobytes() == two.values.tobytes() == three.values.tobytes()
    assert (one.mean, one.stderr) == (two.mean, two.stderr) == (three.mean, three.stderr)


@pytest.mark.parametrize("name", ["alpha_t", "alpha_r"])
def test_curve_points_equal_single_simulations(name):
    prob = SHIFTED["fig3"]
    values = [-0.8, 0.2, 0.5]
    table = lm.simulate_curve(prob, name, values, n_runs=20, seed=3)
    assert list(table.columns[-5:]) == ["mean", "stderr", "n_runs", "seed", "method"]
    for v, row in zip(values, table.itertuples(), strict=True):
        q = prob.replace(**{name: v})
        single = lm.simulate(q, n_runs=20, seed=3)
        got = (getattr(row, name), row.mean, row.stderr, row.n_runs, row.seed)
        assert got == (v, single.mean, single.stderr, 20, 3)
        assert {k: getattr(row, k) for k in q.to_dict()} == q.to_dict()          # every problem field, per row


def test_curve_over_other_fields_uses_common_random_numbers():
    prob = lm.presets.FIG3.replace(sigma=0.0)  # noise-free: loss then scales exactly with nu^2
    table = lm.simulate_curve(prob, "nu", [0.1, 0.2], n_runs=20, seed=0)
    # with common random numbers and sigma = 0, omega* - w0 scales linearly in nu
    assert table["mean"].iloc[1] == pytest.approx(4 * table["mean"].iloc[0], rel=1e-12)
    table = lm.simulate_curve(prob, "m", [40, 80], n_runs=10, seed=0)
    assert table["m"].tolist() == [40, 80]


def test_bad_arguments_name_the_parameter():
    prob = lm.presets.FIG3
    for kw, msg in [({"n_runs": 0}, "^n_runs must be an integer >= 1"), ({"seed": -1}, "^seed must be"),
                    ({"method": "mc"}, "^method must be one of"), ({"n_test_tasks": 0}, "^n_test_tasks"),
                    ({"test_sampler": "half"}, "^test_sampler must be one of")]:
        with pytest.raises(ValueError, match=msg):
            lm.simulate(prob, **{"n_runs": 2, **kw})
    with pytest.raises(ValueError, match="unknown Problem field"):
        lm.simulate_curve(prob, "alpha", [0.1], n_runs=2)
    with pytest.raises(ValueError, match="^alpha_t must be finite"):
        lm.simulate_curve(prob, "alpha_t", [0.1, np.nan], n_runs=2)
    with pytest.raises(ValueError, match="interpolation threshold"):
        lm.simulate_curve(prob.replace(n_v=1), "m", [40, 30], n_runs=2)
    with pytest.raises(ValueError, match="at least one value"):
        lm.simulate_curve(prob, "alpha_t", [], n_runs=2)


# Protocol vs exact: paired per run (same meta-training draws), so the difference carries only the
# test-side noise.  400 runs (FIG2), 1000 (FIG3).  Negative controls at the same size show the comparison has power:
# in FIG3 (alpha_r = 0.6) T0 with E[H^2] = (1 + p/n) I instead of (1 + (p+1)/n) I (a 0.6% error,
# expected z ~ 8 at 1000 runs); in FIG2 a 1% multiplicative error (z ~ 9 at 400).



@pytest.mark.statistical
@pytest.mark.parametrize("sampler", estimate.TEST_SAMPLERS)
def test_protocol_agrees_with_exact_fig3(sampler):
    prob = lm.presets.FIG3.replace(alpha_r=0.6)
    ex = lm.simulate(prob, 1000, seed=1, method="exact")
    pr = lm.simulate(prob, 1000, seed=1, method="protocol", test_sampler=sampler)
    dist2 = (2 * ex.values - prob.sigma**2 * (1 + prob.alpha_r**2 * prob.p / prob.n_r)) / prob.h_r - prob.nu**2
    wrong_h = (1 - prob.alpha_r) ** 2 + prob.alpha_r**2 * prob.p / prob.n_r
    wrong = loss_from_distance(dist2, prob) - 0.5 * (prob.h_r - wrong_h) * (prob.nu**2 + dist2)
    z, z_wrong = z_score(pr.values - ex.values), z_score(pr.values - wrong)
    print(f"FIG3 protocol ({sampler}) - exact: z = {z:+.2f}; control (p instead of p+1): z = {z_wrong:+.2f}")
    assert abs(z) < 4 and abs(z_wrong) > 4


@pytest.mark.statistical
@pytest.mark.parametrize("sampler", estimate.TEST_SAMPLERS)
def test_protocol_agrees_with_exact_fig2(sampler):
    prob = lm.presets.FIG2
    ex = lm.simulate(prob, 400, seed=1, method="exact")
    pr = lm.simulate(prob, 400, seed=1, method="protocol", test_sampler=sampler)
    z, z_wrong = z_score(pr.values - ex.values), z_score(pr.values - 1.01 * ex.values)
    print(f"FIG2 protocol ({sampler}) - exact: z = {z:+.2f}; control (1% error): z = {z_wrong:+.2f}")
    assert abs(z) < 4 and abs(z_wrong) > 4


# ------------------------------------------------------------------ projected protocol sampler
def _adapted_distance_full(e, X, z, c):
    """|theta - w|^2 after one step of rate c * n_r from omega = w + e, written out literally."""
    theta_minus_w = e - c * X.T @ (X @ e - z)
    return theta_minus_w @ theta_minus_w


def test_projection_identity_is_algebraic():
    # the decomposition behind protocol_losses_projected, on concrete draws: v = X u and
    # chi = |P X^T r|^2 / |r|^2 reproduce |theta - w|^2 exactly
    rng = np.random.default_rng(0)
    for p, n_r in [(1, 3), (5, 2), (30, 10)]:
        e, X, z, c = rng.standard_normal(p), rng.standard_normal((n_r, p)), rng.standard_normal(n_r), 0.37
        u = e / np.linalg.norm(e)
        v, r = X @ u, X @ e - z
        perp = X.T @ r - u * (u @ X.T @ r)
        chi = perp @ perp / (r @ r)
        proj = (np.linalg.norm(e) - c * v @ r) ** 2 + c**2 * (r @ r) * chi
        assert proj == pytest.approx(_adapted_distance_full(e, X, z, c), rel=1e-12)


@pytest.mark.statistical
def test_projected_sampler_has_the_protocol_distribution():
    # Per-task test loss for a fixed omega - w, drawn literally (inputs in full) and from the statistics
    # the kernel draws (chi2_{p-1} for the orthogonal step, Bartlett factors of the 2 x 2 Wishart sums);
    # two-sample KS on 20,000 draws each.  Controls at the same size: chi2_p instead of chi2_{p-1}
    # (forgetting that v is one direction), chi2_n instead of chi2_{n-1} in the Bartlett factor, and the
    # input-noise cross products dropped.
    from scipy import stats

    rng = np.random.default_rng(1)
    p, n_r, n_te, sigma, c, N = 4, 2, 3, 0.5, 1.2 / 2, 20_000
    e = np.r_[0.7, np.zeros(p - 1)]
    X = rng.standard_normal((N, n_r, p))
    z = sigma * rng.standard_normal((N, n_r))
    d = e - c * np.einsum("nip,ni->np", X, np.einsum("nip,p->ni", X, e) - z)
    X_te = rng.standard_normal((N, n_te, p))
    full = 0.5 * np.mean((np.einsum("nip,np->ni", X_te, d) + sigma * rng.standard_normal((N, n_te))) ** 2, axis=1)

    def sums(n, rest_df, cross):
        a2, b, c2 = rng.chisquare(n, N), rng.standard_normal(N), rng.chisquare(rest_df, N)
        return a2, sigma * np.sqrt(a2) * b * cross, sigma**2 * (b * b + c2)

    def projected(df, extra=0, cross=1.0):
        vv, vz, zz = sums(n_r, n_r - 1 + extra, cross)
        vr, rr = 0.7 * vv - vz, 0.49 * vv - 1.4 * vz + zz          # v.r and |r|^2, r = |e| v - z
        d2 = (0.7 - c * vr) ** 2 + c**2 * rr * rng.chisquare(df, N)
        gg, gz, zz_te = sums(n_te, n_te - 1 + extra, cross)
        return 0.5 * (d2 * gg + 2 * np.sqrt(d2) * gz + zz_te) / n_te

    ok = stats.ks_2samp(full, projected(p - 1)).pvalue
    controls = [stats.ks_2samp(full, projected(p)).pvalue, stats.ks_2samp(full, projected(p - 1, extra=1)).pvalue,
                stats.ks_2samp(full, projected(p - 1, cross=0.0)).pvalue]
    print(f"KS p-values: projected {ok:.3g}, controls {', '.join(f'{v:.3g}' for v in controls)}")
    assert ok > 1e-3 and max(controls) < 1e-6


def test_estimate_value_semantics_to_dict_and_ci():
    import math

    a = lm.simulate(lm.presets.FIG3, n_runs=20, seed=1)
    b = lm.simulate(lm.presets.FIG3, n_runs=20, seed=1)
    assert a == b and not (a != b)
    assert a != lm.simulate(lm.presets.FIG3, n_runs=20, seed=2)
    assert a != lm.Estimate(a.mean, a.stderr, a.n_runs, a.seed, a.method, a.values + 1e-12)
    one = lm.Estimate.from_values([1.0], 0, "exact")   # stderr NaN equals itself
    assert one == lm.Estimate.from_values([1.0], 0, "exact")
    d = a.to_dict()
    assert d == {"mean": a.mean, "stderr": a.stderr, "n_runs": 20, "seed": 1, "method": "exact"}
    assert all(isinstance(v, (int, float, str)) for v in d.values())
    lo, hi = a.ci()
    assert math.isclose((hi - lo) / 2, 1.959963984540054 * a.stderr, rel_tol=1e-12)
    assert a.ci(0.5)[1] - a.ci(0.5)[0] < hi - lo
    for bad in (0.0, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="level"):
            a.ci(bad)


def test_simulate_curve_has_the_table_layout_of_sweep():
    t = lm.simulate_curve(lm.presets.FIG3, "alpha_r", [0.1, 0.2], n_runs=5)
    assert t["alpha_r"].tolist() == [0.1, 0.2] and (t["alpha_t"] == lm.presets.FIG3.alpha_t).all()
    swept = lm.sweep(lm.presets.FIG3, {"alpha_r": [0.1, 0.2]}, 5, 0)
    assert list(swept.columns[:len(t.columns)]) == list(t.columns)
    pd.testing.assert_frame_equal(swept[t.columns], t, check_dtype=False)
    doc = " ".join(lm.simulate_curve.__doc__.split())
    assert "a size (``p``, ``m``, ``n_t``, ``n_v``, ``n_r``) changes the shape of every draw" in doc
