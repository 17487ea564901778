"""Where the mean or the variance of the test loss does not exist beyond the Gram-matrix margin.

First-order MAML's non-symmetric system, inner maps that are singular with positive density, noise-free
problems, and the rates that simulate_optimum searches.  The indices asserted here are derived by hand in
linmeta.moments (and measured by benchmarks/tail_indices.py); the one statistical test checks the heaviest one
against a control.
"""
import warnings

import numpy as np
import pytest

import linmeta as lm
from linmeta.moments import infinite_moment, tail_index, worst_rate

BASE = dict(n_t=10, n_r=10, sigma=1.0, nu=0.5, alpha_r=0.0)


def fomaml(**kw):
    return lm.Problem(**{**BASE, **kw}, algorithm="fomaml")


@pytest.mark.parametrize("kw", [dict(p=30, m=2, n_v=3), dict(p=5, m=1, n_v=2), dict(p=2, m=1, n_v=5),
                                dict(p=4, m=3, n_v=3)])
def test_first_order_maml_at_a_positive_rate_has_no_mean(kw):
    # an inner map with a negative eigenvalue makes det(P^T Z) change sign: tail index 1/2, whatever the margin
    # (p = 30, m = 2, n_v = 3 has margin 23 and was reported as 1077 ± 510 without a warning)
    assert tail_index(fomaml(alpha_t=0.5, **kw)) == 0.5
    assert infinite_moment(fomaml(alpha_t=0.5, **kw)) == "mean"


def test_first_order_maml_depends_on_the_sign_of_the_rate_and_the_number_of_tasks():
    # alpha_t = 0: P^T P, the Gram margin (n_v m - p - 1 = 2 here: index 2)
    assert tail_index(fomaml(p=2, m=1, n_v=5, alpha_t=0.0)) == 2
    # one task, alpha_t < 0: det(S A) > 0, the Gram margin again
    assert tail_index(fomaml(p=2, m=1, n_v=5, alpha_t=-0.5)) == 2
    # several tasks, alpha_t < 0: a rank-one term of either sign, so det(P^T Z) changes sign
    assert tail_index(fomaml(p=4, m=3, n_v=3, alpha_t=-0.5)) == 0.5
    # one task, two steps: A = (I - alpha_t H)^2 >= 0 keeps det >= 0, but A is singular: index 1/(2N)
    assert tail_index(fomaml(p=2, m=1, n_v=5, alpha_t=0.3, n_steps=2)) == 0.25


def test_first_order_maml_amplifies_the_start_offset_over_parameterised():
    # no noise and one shared task vector: MAML's solution is a projection (bounded), first-order MAML's is not
    quiet = dict(p=5, m=2, n_v=2, alpha_t=0.5, sigma=0.0, nu=0.0)
    assert infinite_moment(lm.Problem(**{**BASE, **quiet})) is None
    assert infinite_moment(fomaml(**quiet)) is None                       # omega0 = w0: nothing to amplify
    assert infinite_moment(fomaml(**quiet, omega0=np.ones(5))) == "mean"
    assert infinite_moment(fomaml(**{**quiet, "p": 2, "n_v": 3})) is None  # under-parameterised: omega* = w0


@pytest.mark.parametrize("kw, index", [
    (dict(p=2, m=2, n_v=3), 1.5),        # both maps singular along one direction: m/2 + (m-1)(p-1)/2
    (dict(p=2, m=2, n_v=10), 1.5),
    (dict(p=2, m=3, n_v=10), 2.5),
    (dict(p=3, m=3, n_v=8), 3.5),        # m/2 + (m-1)(p-1)/2 = 3.5 < one map 1/2 + (m-1) n_v/2 = 8.5
    (dict(p=2, m=2, n_v=4, n_steps=2), 1.0),   # m/(2N) + (m-1)(p-1)/2
    (dict(p=2, m=1, n_v=5, n_steps=2), 0.25),  # one map: 1/(2N)
    (dict(p=3, m=1, n_v=2, n_steps=3), 0.5),   # over-parameterised, two eigenvalues of H_1 near 1/alpha_t
])
def test_maml_singular_inner_maps(kw, index):
    q = lm.Problem(**BASE, alpha_t=0.5, **kw)
    assert tail_index(q) == index
    # alpha_t < 0: A_i >= I is never singular; the Gram margin decides
    assert tail_index(q.replace(alpha_t=-0.5)) == (abs(q.p - q.k) + 1) / 2


def test_maml_with_n_v_below_p_keeps_the_gram_margin():
    # a singular map cannot remove a direction from a block X_v,i A_i of rank n_v < p
    q = lm.Problem(**BASE, p=7, m=3, n_v=2, alpha_t=0.5)
    assert tail_index(q) == 1.0 and tail_index(q.replace(p=9)) == 2.0


def test_imaml_keeps_the_gram_margin():
    q = lm.Problem(**BASE, p=4, m=2, n_v=3, alpha_t=0.0, algorithm="imaml", lam=0.5)
    assert tail_index(q) == 1.5 and infinite_moment(q) == "variance"


def test_one_noise_free_task_is_bounded():
    # sigma = 0 and one task: omega* = w_1 under-parameterised, a projection over-parameterised
    q = lm.Problem(**{**BASE, "sigma": 0.0}, p=2, m=1, n_v=5, alpha_t=0.5)
    assert tail_index(q) == float("inf") and infinite_moment(q) is None
    assert infinite_moment(q.replace(sigma=0.1)) == "mean"


def test_message_names_the_mechanism():
    with pytest.warns(lm.InfiniteMomentWarning, match="non-symmetric matrix P\\^T Z.*algorithm='fomaml'"):
        lm.moments.warn_if_infinite_moments(fomaml(p=30, m=2, n_v=3, alpha_t=0.5))
    with pytest.warns(lm.InfiniteMomentWarning, match="infinite variance.*2 of the m=2 maps"):
        lm.moments.warn_if_infinite_moments(lm.Problem(**BASE, p=2, m=2, n_v=3, alpha_t=0.5))


def test_worst_rate_over_a_bracket():
    q = lm.Problem(**BASE, p=2, m=1, n_v=5, alpha_t=-0.5)
    assert worst_rate(q, "alpha_t", -2.0, 1.0).alpha_t == 1.0
    assert worst_rate(q, "alpha_t", -2.0, -0.1).alpha_t == -2.0       # no positive rate: nothing worse
    assert tail_index(worst_rate(fomaml(p=8, m=1, n_v=2, alpha_t=-1.0), "alpha_t", -1.0, 1.0)) == 0.5
    assert worst_rate(q, "alpha_r", -1.0, 1.0).alpha_r == -1.0        # alpha_r changes nothing: the first


def test_simulate_optimum_warns_over_its_bracket():
    # base alpha_t < 0 is fine, but the bracket (-2, 1) covers alpha_t > 0, where one task's mean is infinite
    q = lm.Problem(**BASE, p=2, m=1, n_v=10, alpha_t=-0.5)
    with pytest.warns(lm.InfiniteMomentWarning, match="at alpha_t=1 in the bracket \\(-2, 1\\)"):
        lm.simulate_optimum(q, "alpha_t", n_runs=40, n_boot=10, bracket=(-2.0, 1.0))
    with warnings.catch_warnings():     # control: a bracket of negative rates only is silent
        warnings.simplefilter("error", lm.InfiniteMomentWarning)
        lm.simulate_optimum(q, "alpha_t", n_runs=40, n_boot=10, bracket=(-2.0, -0.1))


def _hill(x, k):
    x = np.sort(x)[::-1]
    return 1.0 / np.mean(np.log(x[:k] / x[k]))


@pytest.mark.statistical
def test_first_order_maml_tail_index_is_one_half():
    # Hill's estimator on the top 1 % of 20,000 runs: relative SE about 7 %.  At p = 30, m = 2, n_v = 3 the Gram
    # margin alone predicts (23 + 2)/2 = 12.5, and alpha_t < 0 measures 9-11 (benchmarks/tail_indices.py);
    # at alpha_t = 0.5 the sign change of det(Z P^T) gives 1/2 (infinite mean).  Control: the same estimator
    # at alpha_t = 0 (P P^T, no sign change) is far above 1, so the estimate is not an artefact of the size.
    q = fomaml(p=30, m=2, n_v=3, alpha_t=0.5)
    with pytest.warns(lm.InfiniteMomentWarning):
        heavy = _hill(lm.simulate(q, 20_000, seed=2).values, 200)
    light = _hill(lm.simulate(q.replace(alpha_t=0.0), 20_000, seed=2).values, 200)
    assert abs(heavy - 0.5) < 0.15
    assert light > 2
