"""Closed-form meta-training: algebraic facts over random small sizes."""
import warnings

import numpy as np
import pytest
from conftest import problems
from hypothesis import given
from hypothesis import strategies as st

import linmeta as lm
from linmeta.maml import meta_gradient, meta_loss, meta_system


def _train(prob, seed):
    batch = lm.sample_tasks(prob, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lm.IllConditionedWarning)  # rare near-singular draws still solve
        return batch, lm.meta_train(batch, prob)


@given(problems("under"), st.integers(0, 2**32 - 1))
def test_underparameterized_solution_zeroes_meta_gradient(prob, seed):
    batch, omega = _train(prob, seed)
    Z, r = meta_system(batch, prob)
    grad = meta_gradient(omega, batch, prob)
    scale = np.linalg.norm(Z, 2) * (np.linalg.norm(Z, 2) * np.linalg.norm(omega) + np.linalg.norm(r)) / Z.shape[0]
    assert np.linalg.norm(grad) <= 1e-9 * scale


@given(problems("over"), st.integers(0, 2**32 - 1))
def test_overparameterized_solution_interpolates_and_is_nearest_to_omega0(prob, seed):
    batch, omega = _train(prob, seed)
    Z, r = meta_system(batch, prob)
    # exact solution: zero meta-loss
    assert np.linalg.norm(Z @ omega - r) <= 1e-8 * (np.linalg.norm(Z, 2) * np.linalg.norm(omega) + np.linalg.norm(r))
    # nearest to omega0: omega - omega0 lies in the row space of Z (orthogonal to its null space)
    _, s, vt = np.linalg.svd(Z)
    null = vt[np.sum(s > 1e-10 * s[0]):]
    d = omega - prob.omega0
    assert np.linalg.norm(null @ d) <= 1e-8 * max(1.0, np.linalg.norm(d))


def test_nearest_solution_beats_other_exact_solutions():
    prob = lm.presets.FIG2.replace(omega0=np.linspace(-1, 1, 60))
    batch, omega = _train(prob, 3)
    Z, r = meta_system(batch, prob)
    null = np.linalg.svd(Z)[2][prob.k:]
    other = omega + null.T @ np.random.default_rng(0).standard_normal(null.shape[0])
    assert meta_loss(other, batch, prob) < 1e-20 and meta_loss(omega, batch, prob) < 1e-20
    assert np.linalg.norm(omega - prob.omega0) < np.linalg.norm(other - prob.omega0)


def test_meta_gradient_matches_finite_differences():
    prob = lm.presets.FIG3.replace(alpha_t=-0.4)
    batch = lm.sample_tasks(prob, seed=1)
    omega = np.random.default_rng(1).standard_normal(prob.p)
    eps = 1e-6
    fd = np.array([(meta_loss(omega + eps * e, batch, prob) - meta_loss(omega - eps * e, batch, prob)) / (2 * eps)
                   for e in np.eye(prob.p)])
    np.testing.assert_allclose(meta_gradient(omega, batch, prob), fd, rtol=1e-6, atol=1e-9)


def test_inner_map_is_one_gradient_step():
    prob = lm.presets.FIG3.replace(alpha_t=-0.3)
    batch = lm.sample_tasks(prob, seed=2)
    omega = np.random.default_rng(2).standard_normal(prob.p)
    A, b = lm.maml.inner_map(batch, prob)
    for i in range(prob.m):
        step = lm.maml.adapt(omega, batch.X_t[i], batch.y_t[i], prob.alpha_t)
        np.testing.assert_allclose(A[i] @ omega + b[i], step, rtol=1e-12, atol=1e-12)


def test_near_threshold_warns_naming_condition_number():
    prob = lm.Problem(p=40, m=41, n_t=5, n_v=1, n_r=5, sigma=0.1, nu=0.1, alpha_t=0.0, alpha_r=0.0)
    batch = lm.sample_tasks(prob, seed=0)
    # 41 rows in 40 dimensions, made rank deficient: three tasks share validation inputs
    batch.X_v[1] = batch.X_v[2] = batch.X_v[0]
    with pytest.warns(lm.IllConditionedWarning, match=r"cond\(Z\) = .* > 1e\+08"):
        lm.meta_train(batch, prob)


def test_batch_shape_mismatch_is_an_error():
    batch = lm.sample_tasks(lm.presets.FIG3, seed=0)
    with pytest.raises(ValueError, match="batch shapes"):
        lm.meta_train(batch, lm.presets.FIG3.replace(n_t=6))
