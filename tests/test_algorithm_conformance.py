"""One suite over every registered algorithm: closed form, kernel against twin, determinism, declared fields."""
import re

import numba
import numpy as np
import pytest

import linmeta as lm
from linmeta import sampling
from linmeta._model import model_of
from linmeta._sim import engine
from linmeta.inner_maps import INNER_MAPS

NAMES = sorted(INNER_MAPS)
SIZES = {"under": dict(p=6, m=8, n_t=3, n_v=4), "over": dict(p=40, m=3, n_t=3, n_v=4)}
ALPHAS = np.array([0.15, 0.35])


def _problem(name, regime, **kw):
    record = INNER_MAPS[name]
    fields = dict(SIZES[regime], n_r=5, sigma=0.4, nu=0.9, alpha_t=0.2, alpha_r=0.3, algorithm=name,
                  omega0=np.full(SIZES[regime]["p"], 0.1), lam=1.5 if record.uses_lam else None)
    fields.update(kw)
    return lm.Problem(**fields)


@pytest.mark.parametrize("regime", sorted(SIZES))
@pytest.mark.parametrize("name", NAMES)
def test_meta_gradient_vanishes_at_the_closed_form(name, regime):
    prob = _problem(name, regime)
    batch = lm.sample_tasks(prob, seed=3)
    omega = lm.meta_train(batch, prob)
    scale = np.linalg.norm(lm.algorithms.meta_gradient(prob.omega0 + 1.0, batch, prob))
    assert scale > 1e-3                                      # control: the gradient is not identically small
    assert np.linalg.norm(lm.algorithms.meta_gradient(omega, batch, prob)) < 1e-10 * scale


@pytest.mark.parametrize("regime", sorted(SIZES))
@pytest.mark.parametrize("name", NAMES)
def test_kernel_equals_its_numpy_twin_and_meta_train(name, regime):
    prob = _problem(name, regime)
    record = INNER_MAPS[name]
    draws = sampling.draw_training(prob, 5, np.arange(3))
    delta = engine.solve(prob, draws, ALPHAS, want_delta=True)[1]
    twin = record.twin(prob, draws["g"], draws["X_t"], draws["e_t"], draws["X_v"], draws["e_v"],
                       model_of(prob).task_scale(prob), prob.sigma, prob.start_offset, ALPHAS, prob.p > prob.k)
    np.testing.assert_allclose(delta, twin, rtol=1e-8, atol=1e-10)
    for j in range(3):
        for ia, a in enumerate(ALPHAS):
            q = prob.replace(alpha_t=float(a))
            omega = lm.meta_train(sampling.batch_from_draws(q, draws, j), q)
            np.testing.assert_allclose(delta[j, ia], omega - prob.w0, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", ["exact", "protocol"])
@pytest.mark.parametrize("name", NAMES)
def test_bit_for_bit_across_threads_and_chunkings(name, method):
    prob = _problem(name, "over")
    runs = np.arange(6)
    args = (7, ALPHAS, np.array([0.1, 0.3]), method)
    kw = dict(n_test_tasks=4, n_test_points=5)
    whole = engine.run_losses(prob, runs, *args, **kw)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = engine.run_losses(prob, runs, *args, **kw)
    finally:
        numba.set_num_threads(threads)
    chunked = np.concatenate([engine.run_losses(prob, runs[:2], *args, **kw),
                              engine.run_losses(prob, runs[2:], *args, **kw)])
    assert np.all(np.isfinite(whole))
    assert np.array_equal(whole, single) and np.array_equal(whole, chunked)


@pytest.mark.parametrize("name", NAMES)
def test_problem_validates_the_fields_the_record_declares(name):
    record = INNER_MAPS[name]
    if record.uses_lam:
        with pytest.raises(ValueError, match="^lam must be finite and > 0"):
            _problem(name, "under", lam=None)
    else:
        with pytest.raises(ValueError, match="^lam must be None unless"):
            _problem(name, "under", lam=1.0)
    if record.uses_n_steps:
        assert _problem(name, "under", n_steps=2).n_steps == 2
    else:
        with pytest.raises(ValueError, match=f"^n_steps must be 1 for algorithm='{name}'"):
            _problem(name, "under", n_steps=2)


@pytest.mark.parametrize("name", NAMES)
def test_declared_theory_availability_is_what_theory_does(name):
    record = INNER_MAPS[name]
    prob = _problem(name, "under", p=6, m=40)
    if record.theory is None:
        assert np.isfinite(float(lm.theory.test_loss(prob)))
    else:
        with pytest.raises(NotImplementedError, match=re.escape(record.theory[:40])):
            lm.theory.test_loss(prob)


@pytest.mark.parametrize("name", NAMES)
def test_fields_a_record_ignores_cannot_be_varied(name):
    record = INNER_MAPS[name]
    prob = _problem(name, "under")
    for field in ("alpha_t", "alpha_r", "n_r"):
        if field in record.fixed:
            with pytest.raises(ValueError, match=f"{field} cannot be varied"):
                lm.inner_maps.check_curve_field(prob, field, [1, 2])
        else:
            lm.inner_maps.check_curve_field(prob, field, [1, 2])


def test_imaml_default_outer_step_is_one_over_the_validation_smoothness():
    from linmeta.algorithms import imaml

    prob = _problem("imaml", "under")
    batch = lm.sample_tasks(prob, seed=2)
    assert imaml._validation_smoothness(batch) == lm.bounds.smoothness(batch, data="validation").L
    res = lm.algorithms.imaml_gradient_descent(batch, prob, max_iter=1)
    assert res.outer_step == 1.0 / lm.bounds.smoothness(batch, data="validation").L


def test_algorithm_names_are_spelled_in_code_only_under_linmeta_algorithms():
    """String constants (docstrings aside) naming an algorithm live in ``linmeta/algorithms/`` only."""
    import ast
    import pathlib

    root = pathlib.Path(lm.__file__).parent
    names = set(INNER_MAPS)
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.parent.name == "algorithms" or path.name.startswith("_generated"):
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and id(node) not in docstrings and isinstance(node.value, str):
                words = set(node.value.replace("'", " ").replace('"', " ").replace("=", " ").split())
                if words & names:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, "\n".join(found)
