"""Direct tests of the task sampler: shapes, the label model, streams and the task distribution."""
import numpy as np
import pytest

import linmeta as lm
from linmeta._sim.rng import TRAIN, run_rng

SMALL = lm.Problem(p=6, m=4, n_t=3, n_v=2, n_r=3, sigma=0.3, nu=0.7, alpha_t=0.1, alpha_r=0.2,
                   w0=np.linspace(-1, 1, 6))


def test_shapes_and_types():
    b = lm.sample_tasks(SMALL, seed=1)
    assert isinstance(b, lm.TaskBatch)
    assert b.X_t.shape == (4, 3, 6) and b.y_t.shape == (4, 3)
    assert b.X_v.shape == (4, 2, 6) and b.y_v.shape == (4, 2) and b.w.shape == (4, 6)
    assert (b.m, b.p) == (4, 6)


def test_labels_follow_the_model_exactly():
    # y = X w + sigma z, with (w - w0) sqrt(p)/nu and z standard normal draws of the run's TRAIN stream,
    # taken in the documented order g, X_t, e_t, X_v, e_v.
    b = lm.sample_tasks(SMALL, seed=3, run=2)
    g = run_rng(3, 2, TRAIN)
    m, n_t, n_v, p = SMALL.m, SMALL.n_t, SMALL.n_v, SMALL.p
    shapes = {"g": (m, p), "X_t": (m, n_t, p), "e_t": (m, n_t), "X_v": (m, n_v, p), "e_v": (m, n_v)}
    draws = {k: g.standard_normal(s) for k, s in shapes.items()}
    w = SMALL.w0 + SMALL.nu / np.sqrt(SMALL.p) * draws["g"]
    np.testing.assert_array_equal(b.X_t, draws["X_t"])
    np.testing.assert_array_equal(b.X_v, draws["X_v"])
    np.testing.assert_allclose(b.w, w, rtol=0, atol=1e-15)
    np.testing.assert_allclose(b.y_t, np.einsum("mnp,mp->mn", b.X_t, w) + SMALL.sigma * draws["e_t"], rtol=1e-13)
    np.testing.assert_allclose(b.y_v, np.einsum("mnp,mp->mn", b.X_v, w) + SMALL.sigma * draws["e_v"], rtol=1e-13)


def test_run_i_is_the_meta_training_set_of_simulate():
    prob = lm.presets.FIG3.replace(m=8, alpha_t=-0.3)
    est = lm.simulate(prob, n_runs=5, seed=11)
    for i in (0, 4):
        omega = lm.meta_train(lm.sample_tasks(prob, seed=11, run=i), prob)
        assert lm.test_loss_given(omega, prob) == pytest.approx(est.values[i], rel=1e-9)


def test_common_random_numbers_across_sigma_nu_and_rates():
    a = lm.sample_tasks(SMALL, seed=0)
    b = lm.sample_tasks(SMALL.replace(sigma=2.0, nu=0.1, alpha_t=-1.0, alpha_r=0.9), seed=0)
    np.testing.assert_array_equal(a.X_t, b.X_t)
    np.testing.assert_array_equal(a.X_v, b.X_v)
    # nu only rescales the task offsets
    np.testing.assert_allclose((b.w - SMALL.w0) / 0.1, (a.w - SMALL.w0) / 0.7, rtol=1e-12)


@pytest.mark.statistical
def test_task_distribution_mean_and_spread():
    # w ~ N(w0, nu^2/p I): over 4000 tasks the per-coordinate variance is nu^2/p = 0.0817 with a relative
    # SE of sqrt(2/4000) = 2.2 %; a spread of nu^2 (missing 1/p) would be 6x too large.
    prob = SMALL.replace(m=1000)
    w = np.concatenate([lm.sample_tasks(prob, seed=5, run=r).w for r in range(4)])
    var = w.var(axis=0, ddof=1)
    target = prob.nu**2 / prob.p
    z = (var.mean() - target) / (target * np.sqrt(2 / (w.shape[0] - 1) / prob.p))
    assert abs(z) < 4, z
    z_wrong = (var.mean() - prob.nu**2) / (prob.nu**2 * np.sqrt(2 / (w.shape[0] - 1) / prob.p))
    assert abs(z_wrong) > 4, z_wrong  # negative control: the spread without 1/p is rejected
    se_mean = np.sqrt(target / w.shape[0])
    assert np.max(np.abs(w.mean(axis=0) - prob.w0)) < 4.5 * se_mean


@pytest.mark.parametrize("kw, pattern", [(dict(seed=-1), "seed must be"), (dict(seed=0, run=-2), "run must be"),
                                         (dict(seed=0.5), "seed must be")])
def test_bad_seed_or_run(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        lm.sample_tasks(SMALL, **kw)
