"""The model layer: one layout that the samplers fill and the budget counts, one T0, one label map."""
import numpy as np
import pytest

import linmeta as lm
from linmeta import _model, sampling
from linmeta._model import ISOTROPIC
from linmeta._sim import budget, gram_sampler

SMALL = lm.Problem(p=12, m=3, n_t=4, n_v=5, n_r=6, sigma=0.3, nu=0.7, alpha_t=0.2, alpha_r=0.4)
WIDE = SMALL.replace(p=400)   # over-parameterised, p >= 2 (n + 1): the sufficient-statistic route


def _drawn(draws):
    return sum(a[0].size for a in draws.values())


@pytest.mark.parametrize("method, sampler", [("exact", "projected"), ("protocol", "full"), ("protocol", "projected")])
def test_budget_counts_what_the_direct_sampler_draws(method, sampler):
    T, n_te = 7, 9
    got = _drawn(sampling.draw_training(SMALL, 0, [0]))
    if method == "protocol":
        got += _drawn(sampling.draw_test(SMALL, 0, [0], T, n_te, sampler=sampler))
    assert budget.draw_doubles(SMALL, method, T, n_te, sampler, route="direct") == got


def test_budget_counts_what_the_sufficient_statistic_sampler_draws():
    T, n_te = 7, 9
    n = gram_sampler.gram_rows(WIDE)
    raw = gram_sampler.draw_gram_factors(WIDE, 0, [0])
    rows = gram_sampler.rows_from_factors(WIDE, raw)
    built = sum(rows[k][0].size for k in ("g", "X_t", "X_v"))
    assert built == n * (n + 1)
    assert budget.draw_doubles(WIDE, route="gram") == _drawn(raw) + built
    test = gram_sampler.draw_test(WIDE, 0, [0], T, n_te)
    # the test task's appended coordinate is drawn as g_rest and folded into g: the drawn arrays are counted
    assert budget.draw_doubles(WIDE, "protocol", T, n_te, route="gram") == _drawn(raw) + built + _drawn(test) + T


def test_a_new_draw_in_the_layout_reaches_sampler_and_budget(monkeypatch):
    """The budget derives its count from the model's layout: a key added there is drawn and counted."""
    before = budget.draw_doubles(SMALL, route="direct")
    layout = type(ISOTROPIC).train_layout

    def wider(prob, n_runs):
        return {**layout(prob, n_runs), "extra": (n_runs, 3, 2)}

    monkeypatch.setattr(ISOTROPIC, "train_layout", wider)
    draws = sampling.draw_training(SMALL, 0, [0, 1])
    assert draws["extra"].shape == (2, 3, 2)
    assert budget.draw_doubles(SMALL, route="direct") == before + 6 == _drawn(draws)


def test_T0_is_the_derived_one():
    """The model's T0 (the one the theory and the engine use) against the sympy expression of the derivation."""
    import sympy as sp

    from linmeta.symbolic import _theorems as T
    from linmeta.symbolic._symbols import alpha_r, d2, n_r, nu, p, sigma

    derived = sp.lambdify((d2, alpha_r, p, n_r, sigma, nu), T.t0_printed(d2), "math")
    g = np.random.default_rng(3)
    for _ in range(20):
        prob = SMALL.replace(p=int(g.integers(1, 500)), n_r=int(g.integers(1, 50)), sigma=float(g.uniform(0, 2)),
                             nu=float(g.uniform(0, 2)), alpha_r=float(g.uniform(-1, 2)))
        d2 = float(g.uniform(0, 5))
        want = ISOTROPIC.test_loss(d2, prob)
        assert derived(d2, prob.alpha_r, prob.p, prob.n_r, prob.sigma, prob.nu) == pytest.approx(want, rel=1e-13)
        assert float(lm.loss.loss_from_distance(d2, prob)) == want
        assert prob.h_r == float(_model.h(prob.alpha_r, prob.p, prob.n_r))


def test_compiled_labels_equal_their_numpy_twin():
    g = np.random.default_rng(4)
    X, w, e = g.standard_normal((7, 5)), g.standard_normal(5), g.standard_normal(7)
    np.testing.assert_allclose(_model.labels(X, w, e, 0.3), _model.labels_numpy(X, w, e, 0.3), rtol=1e-14)
    np.testing.assert_allclose(_model.labels_numpy(X, w, e, 0.3), X @ w + 0.3 * e, rtol=1e-14)


def test_samplers_that_need_isotropy_refuse_a_model_without_it(monkeypatch):
    assert budget.gram_route(WIDE)
    monkeypatch.setattr(ISOTROPIC, "isotropic", False)
    assert not budget.gram_route(WIDE)
    with pytest.raises(ValueError, match="route='gram' needs .* an isotropic task model"):
        budget.gram_route(WIDE, route="gram")
    with pytest.raises(ValueError, match="projected protocol test sampler needs isotropic"):
        sampling.draw_test(SMALL, 0, [0], 3, 4, sampler="projected")
    sampling.draw_test(SMALL, 0, [0], 3, 4, sampler="full")   # the full sampler assumes nothing
