"""The sufficient-statistic sampler: same law as the direct sampler, cost free of p, reproducible."""
import numba
import numpy as np
import pytest
from scipy import stats

import linmeta as lm
from linmeta import sampling
from linmeta._sim import budget as _budget
from linmeta._sim import engine as _engine
from linmeta._sim import gram_sampler as gs
from linmeta._sim import kernels as _kernels
from linmeta.theory import _finite

P = 40  # n + 1 = 19 rows' coordinates: both samplers run, and p - 1 - j degrees of freedom still matter
SMALL = lm.Problem(p=P, m=2, n_t=5, n_v=3, n_r=10, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2,
                   omega0=np.r_[2.0, np.zeros(P - 1)])
ALPHAS = [0.0, 0.2, -0.6]
RUNS = np.arange(3000)


def _gram_dist2(prob, alphas, runs, seed, dof=None, cross=True):
    raw = gs.draw_gram_factors(prob, seed, runs, 2, dof=dof)
    return _engine.solve(prob, gs.rows_from_factors(prob, raw, cross=cross), alphas, start=gs.start_vector(prob))[0]


@pytest.fixture(scope="module")
def direct_small():
    return _engine.solve(SMALL, sampling.draw_training(SMALL, 1, RUNS, 2), ALPHAS)[0]


def _min_ks_pvalue(a, b):
    return min(stats.ks_2samp(a[:, j], b[:, j]).pvalue for j in range(a.shape[1]))


@pytest.mark.statistical
def test_two_sample_agreement_with_the_direct_sampler_and_controls_rejected(direct_small):
    # per-run |omega* - w0|^2 at three alpha_t, 3000 independent runs each side, two-sample KS
    assert _min_ks_pvalue(direct_small, _gram_dist2(SMALL, ALPHAS, RUNS, 2)) > 1e-3
    n = gs.gram_rows(SMALL)
    # controls at the same sample size: the Bartlett diagonal with the complement's degrees of freedom
    # (p - 1 - n instead of p - 1), and the rows' components along omega0 - w0 dropped
    assert _min_ks_pvalue(direct_small, _gram_dist2(SMALL, ALPHAS, RUNS, 2, dof=P - 1 - n)) < 1e-6
    assert _min_ks_pvalue(direct_small, _gram_dist2(SMALL, ALPHAS, RUNS, 2, cross=False)) < 1e-6


@pytest.mark.statistical
@pytest.mark.parametrize("prob", [SMALL.replace(alpha_t=0.0), lm.presets.FIG2.replace(p=1000, alpha_t=0.0, omega0=np.r_[
    1.5, np.zeros(999)])], ids=["small", "fig2-p1000"])
def test_mean_distance_matches_the_exact_alpha_t_0_result(prob):
    runs = np.arange(4000)
    exact = _finite.exact_alpha0_distance(prob)
    for kw, ok in (({}, True), ({"dof": prob.p - 1 - gs.gram_rows(prob)}, False), ({"cross": False}, False)):
        d = _gram_dist2(prob, [0.0], runs, 5, **kw)[:, 0]
        z = (d.mean() - exact) / (d.std(ddof=1) / np.sqrt(len(d)))
        assert (abs(z) < 4) == ok, (kw, z)


@pytest.mark.statistical
@pytest.mark.parametrize("kw", [dict(n_steps=3), dict(algorithm="fomaml", n_steps=2), dict(algorithm="imaml", lam=0.7)],
                         ids=["maml-3", "fomaml-2", "imaml"])
def test_other_algorithms_agree_with_the_direct_sampler(kw, direct_small):
    prob = SMALL.replace(**kw)
    alphas = [0.2, -0.3]
    direct = _engine.solve(prob, sampling.draw_training(prob, 1, RUNS, 2), alphas)[0]
    assert _min_ks_pvalue(direct, _gram_dist2(prob, alphas, RUNS, 2)) > 1e-3
    assert _min_ks_pvalue(direct, _gram_dist2(prob, alphas, RUNS, 2, cross=False)) < 1e-6


def _gram_protocol(prob, runs, seed, alphas, alpha_rs, T, n_te, rest=True):
    draws, start = gs.draw_training(prob, seed, runs)
    delta = gs.pad_delta(_engine.solve(prob, draws, alphas, want_delta=True, start=start)[1])
    test = gs.draw_test(prob, seed, runs, T, n_te)
    if not rest:
        test["g"][:, :, -1] = 0.0
    out = np.empty((len(runs), len(alphas), len(alpha_rs)))
    _kernels.protocol_losses_projected(delta, test["g"], test["chi2"], test["vv"], test["rest_r"], test["b_r"],
                                       test["gg"], test["rest_te"], test["b_te"], prob.n_r, n_te,
                                       prob.nu / np.sqrt(prob.p), prob.sigma, np.asarray(alpha_rs, dtype=float), out)
    return out.reshape(len(runs), -1)


@pytest.mark.statistical
def test_protocol_on_the_gram_route_agrees_with_the_direct_route():
    prob = SMALL.replace(nu=2.0, omega0=None)  # task spread dominates: the test tasks' part outside the span matters
    runs = np.arange(2000)
    kw = dict(n_test_tasks=20, n_test_points=10)
    direct = _engine.run_losses(prob, runs, 3, [0.2, -0.6], [0.0, 0.5], "protocol", route="direct", **kw)
    gram = _engine.run_losses(prob, runs, 3, [0.2, -0.6], [0.0, 0.5], "protocol", route="gram", **kw)
    assert np.array_equal(gram.reshape(len(runs), -1), _gram_protocol(prob, runs, 3, [0.2, -0.6], [0.0, 0.5], 20, 10))
    assert _min_ks_pvalue(direct.reshape(len(runs), -1), gram.reshape(len(runs), -1)) > 1e-3
    # control: the test tasks' squared norm outside the training span (chi2_{p - n - 1}) left out
    wrong = _gram_protocol(prob, runs, 3, [0.2, -0.6], [0.0, 0.5], 20, 10, rest=False)
    assert _min_ks_pvalue(direct.reshape(len(runs), -1), wrong) < 1e-6


def test_route_choice_by_size():
    fig2 = lm.presets.FIG2  # n + 1 = 3 (1 + 30 + 2) + 1 = 100
    assert not _budget.gram_route(fig2) and not _budget.gram_route(fig2.replace(p=199))
    assert _budget.gram_route(fig2.replace(p=200)) and _budget.gram_route(fig2.replace(p=10**8))
    assert not _budget.gram_route(fig2.replace(p=10**6), "protocol", "full")  # full test inputs need p coordinates
    assert not _budget.gram_route(lm.presets.FIG3.replace(p=10**5, n_v=10**5))
    with pytest.raises(ValueError, match=r"route='gram' needs p > n_v\*m"):
        _budget.gram_route(fig2, route="gram")
    with pytest.raises(ValueError, match="route must be one of"):
        _budget.gram_route(fig2, route="bartlett")


def test_a_seed_fixes_every_number_whatever_the_threads_and_chunks():
    prob = lm.presets.FIG2.replace(p=10**6, omega0=np.r_[1.0, np.zeros(10**6 - 1)])
    alphas = np.linspace(-2, 1, 25)
    before = numba.get_num_threads()
    out = {}
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            out[t] = _engine.run_losses(prob, np.arange(8), 7, alphas, [0.2], "exact")
            out[t, "p"] = _engine.run_losses(prob, np.arange(8), 7, alphas, [0.2], "protocol", n_test_tasks=5)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(out[1], out[2]) and np.array_equal(out[1, "p"], out[2, "p"])
    parts = [_engine.run_losses(prob, np.arange(a, b), 7, alphas, [0.2], "exact") for a, b in ((0, 3), (3, 8))]
    assert np.array_equal(np.concatenate(parts), out[1])
    assert np.all(np.isfinite(out[1])) and np.all(np.isfinite(out[1, "p"]))


def test_draws_do_not_depend_on_p_in_size():
    a = gs.draw_training(lm.presets.FIG2.replace(p=10**3), 0, [0, 1])[0]
    b = gs.draw_training(lm.presets.FIG2.replace(p=10**8), 0, [0, 1])[0]
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    assert a["X_t"].shape == (2, 3, 30, 100)


def test_simulate_at_p_1e8_runs_without_p_vectors():
    # FIG2's sizes at p = 10**8: the direct draws would be 80 GB a run; the sufficient statistics are p-free
    prob = lm.presets.FIG2.replace(p=10**8)
    with pytest.raises(ValueError, match=r"p=100000000, m=3, n_t=30, n_v=2, n_r=20.*draws of 80\.0 GB per run"):
        _budget.plan(prob, 10, route="direct")
    assert _budget.plan(prob, 10).total_bytes < 1e8
    q = prob.replace(alpha_t=0.0, alpha_r=0.0)
    est = lm.simulate(q, n_runs=400, seed=0)
    # alpha_r = 0: loss = (sigma^2 + nu^2 + |omega* - w0|^2) / 2; the exact alpha_t = 0 distance is about 7.5e-8
    exact = float(_finite._gen.exact_alpha0_over(q.p, q.m, q.n_t, q.n_v, q.sigma, q.nu, 0.0, 0.0))
    dist = 2 * est.values - (q.sigma**2 + q.nu**2)
    z = (dist.mean() - exact) / (dist.std(ddof=1) / np.sqrt(len(dist)))
    assert abs(z) < 4 and 0.2 < dist.std() / exact < 1  # resolved: the spread is far above float rounding of 0.625


def test_derivation_script_asserts_the_moments_and_its_controls():
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, str(root / "derivations" / "sufficient_statistics.py")], capture_output=True,
                         text=True, cwd=root, timeout=600, env={"PYTHONPATH": str(root), "PATH": ""}, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert "0 mismatches" in lines[0] and lines[-1].endswith("all checks passed")
    assert all(" 0 mismatches" not in line for line in lines[1:3])  # both controls caught
