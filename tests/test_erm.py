"""ERM (pooled training): validation, the pooled meta-system, kernel and twin, pairing with MAML, theory."""
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import with_threads

import linmeta as lm
from linmeta import sampling
from linmeta._sim import engine as _engine
from linmeta._sim import kernels_erm as _kernels_erm
from linmeta._sim import reference as _reference
from linmeta.moments import InfiniteMomentWarning, infinite_moment, moment_margin
from linmeta.sampling import TaskBatch
from linmeta.theory import _erm

ROOT = pathlib.Path(__file__).resolve().parents[1]

# p >= 120 in both regimes (BLAS and LAPACK do the work, as in test_kernels.py); k = (n_t + n_v) m
OVER = lm.Problem(p=120, m=3, n_t=20, n_v=4, n_r=40, sigma=1.0, nu=0.5, alpha_t=0.2, alpha_r=0.2,
                  omega0=np.full(120, 0.1), algorithm="erm")                                 # k = 72
UNDER = lm.Problem(p=120, m=10, n_t=10, n_v=20, n_r=20, sigma=0.2, nu=0.2, alpha_t=0.2, alpha_r=0.2,
                   algorithm="erm")                                                          # k = 300
SMALL = {"over": lm.Problem(p=12, m=2, n_t=3, n_v=2, n_r=5, sigma=0.5, nu=0.7, alpha_t=0.3, alpha_r=0.2,
                            omega0=np.linspace(-1, 1, 12), algorithm="erm"),                # k = 10
         "under": lm.Problem(p=5, m=3, n_t=3, n_v=2, n_r=5, sigma=0.5, nu=0.7, alpha_t=0.3, alpha_r=0.2,
                             algorithm="erm")}                                               # k = 15




def _pooled(batch):
    return (np.concatenate([batch.X_t, batch.X_v], axis=1).reshape(-1, batch.p),
            np.concatenate([batch.y_t, batch.y_v], axis=1).reshape(-1))


# ------------------------------------------------------------------ the problem
def test_problem_counts_pooled_equations_for_regime_threshold_and_margin():
    prob = lm.Problem(p=19, m=2, n_t=6, n_v=4, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.1, alpha_r=0.2, algorithm="erm")
    assert prob.k == 20 and prob.regime == "underparameterized"
    assert prob.replace(p=21).regime == "overparameterized"
    with pytest.raises(ValueError, match=r"p == \(n_t \+ n_v\) \* m == 20 is the interpolation threshold"):
        prob.replace(p=20)
    below = prob.replace(p=8)       # p == n_v m is no threshold for ERM
    assert below.k == 20 and below.regime == "underparameterized"
    with pytest.raises(ValueError, match=r"p == n_v \* m == 8"):
        below.replace(algorithm="maml")
    with pytest.raises(ValueError, match="n_steps must be 1 for algorithm='erm'"):
        prob.replace(n_steps=2)
    with pytest.raises(ValueError, match="lam must be None"):
        prob.replace(lam=1.0)
    # moments: ERM's margin is |p - (n_t + n_v) m| - 1, MAML's |p - n_v m| - 1
    q = prob.replace(p=21)
    assert moment_margin(q) == 0 and moment_margin(q.replace(algorithm="maml")) == 12
    assert infinite_moment(q) == "mean" and infinite_moment(q.replace(algorithm="maml")) is None
    assert infinite_moment(prob.replace(p=23)) == "variance" and infinite_moment(prob.replace(p=24)) is None
    with pytest.warns(InfiniteMomentWarning, match=r"p - \(n_t\+n_v\)\*m - 1 = 0"):
        lm.theory.test_loss(q)


# ------------------------------------------------------------------ meta-training
@pytest.mark.parametrize("regime", ["over", "under"])
def test_meta_train_is_the_pooled_least_squares_fit(regime):
    prob = SMALL[regime]
    batch = lm.sample_tasks(prob, seed=3)
    X, y = _pooled(batch)
    omega = lm.meta_train(batch, prob)
    if regime == "under":   # the least-squares solution
        np.testing.assert_allclose(omega, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-12, atol=1e-12)
    else:                   # interpolates, and the step from omega0 lies in the row space: the nearest solution
        np.testing.assert_allclose(X @ omega, y, rtol=1e-10, atol=1e-10)
        step = omega - prob.omega0
        np.testing.assert_allclose(X.T @ np.linalg.lstsq(X.T, step, rcond=None)[0], step, atol=1e-10)
    # control: the validation points alone (MAML at alpha_t = 0) give another omega
    assert not np.allclose(omega, lm.meta_train(batch, prob.replace(algorithm="maml", alpha_t=0.0)), atol=1e-6)


@pytest.mark.parametrize("regime", ["over", "under"])
def test_erm_is_maml_at_alpha_t_zero_on_pooled_validation_sets(regime):
    """The identity, run by run: ERM = MAML at alpha_t = 0 whose validation set is the pooled points."""
    prob = SMALL[regime]
    batch = lm.sample_tasks(prob, seed=5)
    maml = prob.replace(algorithm="maml", alpha_t=0.0, n_v=prob.n_t + prob.n_v)
    X_v = np.concatenate([batch.X_t, batch.X_v], axis=1)
    y_v = np.concatenate([batch.y_t, batch.y_v], axis=1)
    other = TaskBatch(X_t=batch.X_t[:, ::-1] * 3.0, y_t=-batch.y_t, X_v=X_v, y_v=y_v, w=batch.w)  # unread at 0
    np.testing.assert_allclose(lm.meta_train(batch, prob), lm.meta_train(other, maml), rtol=1e-12, atol=1e-13)
    # control: at alpha_t != 0 the training points matter and the identity fails
    assert not np.allclose(lm.meta_train(batch, prob), lm.meta_train(other, maml.replace(alpha_t=0.1)), atol=1e-6)


def test_same_draws_as_maml_paired_run_by_run():
    """ERM reads the training and validation draws of every run, the very draws MAML gets for the same seed."""
    erm = SMALL["under"]
    maml = erm.replace(algorithm="maml")
    for key, value in sampling.draw_training(erm, 7, [0, 3]).items():
        assert value.tobytes() == sampling.draw_training(maml, 7, [0, 3])[key].tobytes()
    a, b = lm.sample_tasks(erm, seed=7, run=3), lm.sample_tasks(maml, seed=7, run=3)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("X_t", "y_t", "X_v", "y_v", "w"))
    # run 3 of simulate is meta-trained on exactly that batch
    est = lm.simulate(erm, n_runs=4, seed=7)
    omega = lm.meta_train(a, erm)
    np.testing.assert_allclose(est.values[3], lm.test_loss_given(omega, erm), rtol=1e-12)


# ------------------------------------------------------------------ kernel, twin, reproducibility
@pytest.mark.parametrize("prob", [OVER, UNDER, SMALL["over"], SMALL["under"]], ids=["over", "under", "small_over",
                                                                                      "small_under"])
def test_kernel_matches_numpy_twin_and_reference(prob):
    draws = sampling.draw_training(prob, 9, [0, 1, 2])
    dist2, delta = _engine.solve(prob, draws, [0.3, -0.4], want_delta=True)
    assert np.array_equal(delta[:, 0], delta[:, 1]) and np.array_equal(dist2[:, 0], dist2[:, 1])  # alpha_t unread
    twin = _kernels_erm.erm_deltas_numpy(draws["g"], draws["X_t"], draws["e_t"], draws["X_v"], draws["e_v"],
                                         prob.nu / np.sqrt(prob.p), prob.sigma, prob.start_offset, prob.p > prob.k)
    np.testing.assert_allclose(delta[:, 0], twin, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dist2[:, 0], np.einsum("rp,rp->r", twin, twin), rtol=1e-10)
    dist2_only, none = _engine.solve(prob, draws, [0.3])
    assert none is None and np.array_equal(dist2_only[:, 0], dist2[:, 0])
    for method, sampler in (("exact", "projected"), ("protocol", "projected"), ("protocol", "full")):
        args = (prob, np.array([0, 2]), 9, [0.3], [0.0, 0.4])
        kw = {"method": method, "n_test_tasks": 3, "n_test_points": 4, "test_sampler": sampler}
        np.testing.assert_allclose(_engine.run_losses(*args, **kw), _reference.run_losses(*args, **kw), rtol=1e-9)


def test_twin_control_notices_a_missing_block():
    """Same tolerance as above: the twin without the training points (validation only) is told apart."""
    prob = SMALL["under"]
    d = sampling.draw_training(prob, 9, [0])
    delta = _engine.solve(prob, d, [0.0], want_delta=True)[1][:, 0]
    wrong = _kernels_erm.erm_deltas_numpy(d["g"], d["X_t"][:, :, :0], d["e_t"][:, :, :0], d["X_v"], d["e_v"],
                                          prob.nu / np.sqrt(prob.p), prob.sigma, prob.start_offset, False)
    assert not np.allclose(delta, wrong, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("prob", [OVER, UNDER], ids=["over", "under"])
def test_bit_for_bit_across_threads_and_chunks(prob):
    kw = {"n_runs": 6, "seed": 4, "method": "exact"}
    one = with_threads(1, lambda: lm.simulate_curve(prob, "alpha_r", [0.0, 0.3], chunk_size=6, **kw))
    two = with_threads(2, lambda: lm.simulate_curve(prob, "alpha_r", [0.0, 0.3], chunk_size=4, **kw))
    three = with_threads(2, lambda: lm.simulate_curve(prob, "alpha_r", [0.0, 0.3], chunk_size=1, **kw))
    assert one["mean"].tolist() == two["mean"].tolist() == three["mean"].tolist()
    assert one["stderr"].tolist() == two["stderr"].tolist() == three["stderr"].tolist()
    kw = {"n_runs": 4, "seed": 2, "method": "protocol", "n_test_tasks": 3, "n_test_points": 5}
    a = with_threads(1, lambda: lm.simulate(prob, chunk_size=4, **kw))
    b = with_threads(2, lambda: lm.simulate(prob, chunk_size=1, **kw))
    assert a.values.tobytes() == b.values.tobytes()


def test_alpha_t_is_not_read_and_cannot_be_varied():
    prob = SMALL["under"]
    a = lm.simulate(prob, n_runs=8, seed=1)
    assert a.values.tobytes() == lm.simulate(prob.replace(alpha_t=-0.7), n_runs=8, seed=1).values.tobytes()
    assert lm.simulate_curve(prob, "alpha_t", [prob.alpha_t], n_runs=8, seed=1)["mean"].iloc[0] == a.mean
    with pytest.raises(ValueError, match="alpha_t cannot be varied for algorithm='erm'.*got 2 values"):
        lm.simulate_curve(prob, "alpha_t", [0.0, 0.5], n_runs=8)
    with pytest.raises(ValueError, match="alpha_t cannot be varied for algorithm='erm'.*optimum"):
        lm.simulate_optimum(prob, "alpha_t", n_runs=10)
    with pytest.raises(ValueError, match="alpha_t cannot be varied for algorithm='erm'"):
        lm.sweep(prob, {"alpha_t": [0.0, 0.5]}, n_runs=5)
    with pytest.raises(ValueError, match="alpha_t must be None for algorithm='erm'"):
        lm.theory.test_loss(prob, alpha_t=0.1)
    with pytest.raises(ValueError, match="reads no alpha_t"):
        lm.theory.optimal_alpha_t(prob)
    # the other curves, optima and sweeps run
    curve = lm.simulate_curve(prob, "n_r", [5, 10], n_runs=8, seed=1)
    assert curve["mean"].iloc[0] == a.mean
    table = lm.sweep(prob, {"alpha_r": [0.1, 0.2], "m": [3, 5]}, n_runs=8, seed=1)
    assert table.loc[(table.m == 3) & (table.alpha_r == 0.2), "mean"].iloc[0] == a.mean
    assert np.isfinite(table["theory_leading"]).all()
    opt = lm.simulate_optimum(prob, "alpha_r", n_runs=20, seed=1, n_boot=20)
    assert -0.5 < opt.value < 1.0


def test_sweep_skips_the_pooled_threshold_only():
    prob = lm.Problem(p=10, m=1, n_t=3, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2, algorithm="erm")
    table = lm.sweep(prob, {"m": [2, 5]}, n_runs=5, seed=0)   # (n_t + n_v) m = 10 at m = 2; n_v m = 10 at m = 5
    assert table["status"].tolist() == ["skipped", "ok"]
    assert "(n_t + n_v) * m == 10" in table["note"].iloc[0]


# ------------------------------------------------------------------ theory
def test_leading_order_is_the_derived_erm_formula():
    """Theorems 1 and 2 at alpha_t = 0, n_v -> n_t + n_v, as printed by derivations/erm.py."""
    for prob in (lm.presets.FIG3.replace(algorithm="erm"), lm.presets.FIG2.replace(algorithm="erm", p=100)):
        p, m, n, s, v = prob.p, prob.m, prob.n_t + prob.n_v, prob.sigma, prob.nu
        s2 = float(prob.start_offset @ prob.start_offset)
        if prob.regime == "underparameterized":
            d2 = (n * v**2 + v**2 * p + v**2 + p * s**2) / (m * n)
        else:
            d2 = (m * n * (v**2 + s**2 - s2) + p * s2) / p
        want = s**2 / 2 * (1 + prob.alpha_r**2 * p / prob.n_r) + prob.h_r / 2 * (v**2 + d2)
        assert lm.theory.test_loss(prob) == pytest.approx(want, rel=1e-12)
        assert lm.theory.expected_distance(prob) == pytest.approx(d2, rel=1e-12)
        assert lm.theory.optimal_alpha_r(prob) == pytest.approx(
            (v**2 + d2) / ((v**2 + d2) * (1 + (p + 1) / prob.n_r) + s**2 * p / prob.n_r), rel=1e-12)
        # control: MAML at alpha_t = 0 with the unreplaced n_v is another number
        wrong = lm.theory.test_loss(prob.replace(algorithm="maml", alpha_t=0.0))
        assert abs(wrong - want) > 1e-3 * want


# Exact E|omega* - w0|^2 of ERM (inverse-Wishart moments, derivations/erm.py) in the symbols of lm.check;
# N = (n_t + n_v) m pooled equations.  WRONG: the same formula with n_v in place of n_t + n_v (MAML at 0).
_T0 = "sigma^2/2*(1 + alpha_r^2*p/n_r) + ((1-alpha_r)^2 + alpha_r^2*(p+1)/n_r)/2*(nu^2 + {D})"
_OVER = "(1-{N}/p)*dist0^2 + nu^2*{N}*(p-({n})-1)/(p*(p-{N}-1)) + sigma^2*{N}/(p-{N}-1)"
_A = "p*({N}-2)*(p+2)/({N}*({N}+2)*({N}-p-1))"
_UNDER = "nu^2/p*({N}*{a} + (({n})-1)*(p-{N}*{a})/({N}-1)) + sigma^2*p/({N}-p-1)"


def _formula(regime, n):
    N = f"(({n})*m)"
    D = _OVER.format(N=N, n=n) if regime == "over" else _UNDER.format(N=N, n=n, a=_A.format(N=N))
    return _T0.format(D=D)


# 3000 runs per cell, Holm over the grid at level 0.01.  The exact ERM formula passes; the controls (n_v not
# replaced by n_t + n_v, i.e. MAML at alpha_t = 0, in the same regime; the right formula 2 % too high) must be
# rejected at the same runs; and the library's
# theory.test_loss(approximation="finite") equals the formula.
@pytest.mark.statistical
@pytest.mark.parametrize("regime", ["over", "under"])
def test_exact_theory_against_simulation_with_control(regime):
    if regime == "over":
        prob = lm.Problem(p=40, m=2, n_t=4, n_v=2, n_r=10, sigma=0.8, nu=0.6, alpha_t=0.5, alpha_r=0.3,
                          omega0=np.full(40, 0.05), algorithm="erm")
        grid = {"m": [2, 4]}                                   # N = 12, 24 against p = 40
    else:
        prob = lm.Problem(p=8, m=3, n_t=3, n_v=4, n_r=10, sigma=0.8, nu=0.6, alpha_t=0.5, alpha_r=0.3,
                          algorithm="erm")
        grid = {"m": [3, 5]}                                   # N = 21, 35 (n_v m = 12, 20) against p = 8
    right = lm.check(_formula(regime, "n_t+n_v"), prob, grid, n_runs=3000, seed=11)
    wrong = lm.check(_formula(regime, "n_v"), prob, grid, n_runs=3000, seed=11)
    off = lm.check(f"1.02*({_formula(regime, 'n_t+n_v')})", prob, grid, n_runs=3000, seed=11)  # power: 2 % off
    print(regime, right.table[["m", "formula", "mean", "stderr"]].to_string(),
          "control:", wrong.table["formula"].tolist())
    assert right.passed and not wrong.passed and not off.passed
    for m, formula in zip(right.table["m"], right.table["formula"], strict=True):
        assert lm.theory.test_loss(prob.replace(m=int(m)), approximation="finite") == pytest.approx(formula, rel=1e-12)


# 400 runs, seed 3.  Protocol - exact, paired per run: z within 4; control: exact scaled by 1.01 is rejected.
# Leading order against the exact simulation with 0.1 % slack (it is 0.003 % from the exact formula here); the
# control (MAML at alpha_t = 0 with n_v unreplaced, 1.1 % away) is rejected at the same runs.
@pytest.mark.statistical
def test_protocol_agrees_with_exact_and_leading_order_with_theory():
    prob = lm.presets.FIG3.replace(algorithm="erm", alpha_r=0.4, n_t=25)
    ex = lm.simulate(prob, 400, seed=3, method="exact")
    pr = lm.simulate(prob, 400, seed=3, method="protocol")

    def z_score(d):
        return d.mean() / (d.std(ddof=1) / np.sqrt(d.size))

    z, z_wrong = z_score(pr.values - ex.values), z_score(pr.values - 1.01 * ex.values)
    th = lm.theory.test_loss(prob)
    wrong = lm.theory.test_loss(prob.replace(algorithm="maml", alpha_t=0.0))
    print(f"protocol - exact z = {z:+.2f}, control z = {z_wrong:+.2f}; simulation {ex}, leading {th:.7g}, "
          f"unreplaced n_v {wrong:.7g}")
    assert abs(z) < 4 and abs(z_wrong) > 4
    assert abs(ex.mean - th) < 4 * ex.stderr + 0.001 * th
    assert abs(ex.mean - wrong) > 4 * ex.stderr + 0.001 * th


def test_exact_theory_is_maml_exact_at_zero_with_pooled_n_v():
    prob = lm.Problem(p=8, m=5, n_t=3, n_v=2, n_r=10, sigma=0.8, nu=0.6, alpha_t=0.5, alpha_r=0.3, algorithm="erm")
    maml = _erm.as_maml(prob)
    assert (maml.algorithm, maml.alpha_t, maml.n_v, maml.k) == ("maml", 0.0, 5, prob.k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = lm.theory.test_loss(prob, approximation="finite", alpha_r=np.array([0.1, 0.3]))
    assert got[1] == lm.theory.test_loss(prob, approximation="finite")
    assert lm.theory.expected_distance(prob, approximation="finite") == pytest.approx(
        lm.theory.expected_distance(maml, approximation="finite"), rel=1e-12)


# ------------------------------------------------------------------ derivation and command line
@pytest.mark.statistical  # a sympy run, like the other derivation scripts
def test_derivation_script_passes():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    result = subprocess.run([sys.executable, str(ROOT / "derivations" / "erm.py")], capture_output=True, text=True,
                            cwd=ROOT, timeout=600, env=env, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "erm.py: all checks passed"


def test_cli_set_algorithm_erm(capsys):
    from linmeta.cli import main

    assert main(["theory", "--preset", "fig3", "--set", "algorithm=erm"]) == 0
    out = capsys.readouterr().out
    assert "algorithm=erm" in out
    assert f"test_loss: {lm.theory.test_loss(lm.presets.FIG3.replace(algorithm='erm')):.10g}" in out
    assert "optimal_alpha_r" in out and "reads no alpha_t" in out
    assert main(["sweep", "--preset", "fig3", "--set", "algorithm=erm", "--grid", "alpha_t=0,0.5", "--runs", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "alpha_t cannot be varied for algorithm='erm'" in err[0]


@pytest.mark.statistical
def test_erm_on_the_sufficient_statistic_route_matches_its_exact_theory():
    from linmeta._sim.budget import gram_route
    prob = lm.presets.FIG2.replace(algorithm="erm", p=100_000)
    assert gram_route(prob)
    est = lm.simulate(prob, n_runs=4000, seed=1)
    exact = lm.theory.test_loss(prob, approximation="finite")  # exact for ERM (docs: theory, E1)
    unpooled = lm.theory.test_loss(prob.replace(algorithm="maml", alpha_t=0.0), approximation="finite")
    assert abs(est.mean - exact) < 4 * est.stderr
    assert abs(est.mean - unpooled) > 8 * est.stderr  # control: MAML's n_v in place of n_t + n_v
