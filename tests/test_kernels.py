"""Simulation kernels at sizes where BLAS and LAPACK do the work: bit for bit across threads and chunks."""
import numpy as np
import pytest
from conftest import with_threads

import linmeta as lm
from linmeta import sampling
from linmeta._sim import engine as _engine
from linmeta._sim import kernels as _kernels
from linmeta._sim import reference as _reference
from linmeta.inner_maps import INNER_MAPS, uses_one_step_kernel

# p >= 120 in both regimes: the products go to BLAS gemm, the factorisations to LAPACK
OVER = lm.Problem(p=120, m=3, n_t=60, n_v=4, n_r=40, sigma=1.0, nu=0.5, alpha_t=0.2, alpha_r=0.2,
                  omega0=np.full(120, 0.1))
UNDER = lm.Problem(p=120, m=10, n_t=10, n_v=20, n_r=20, sigma=0.2, nu=0.2, alpha_t=0.2, alpha_r=0.2)
# under-parameterised with n_t > n_v: the Gram blocks go through the stacked Q (UNDER goes through the task factors)
UNDER_Q = lm.Problem(p=120, m=40, n_t=30, n_v=5, n_r=20, sigma=0.2, nu=0.2, alpha_t=0.2, alpha_r=0.2)
PROBLEMS = {"over": OVER, "under": UNDER, "under_Q": UNDER_Q}
ALGORITHMS = {"maml": {}, "maml2": dict(n_steps=2), "fomaml": dict(algorithm="fomaml"),
              "imaml": dict(algorithm="imaml", lam=1.0)}




@pytest.mark.parametrize("regime", list(PROBLEMS))
@pytest.mark.parametrize("algo", list(ALGORITHMS))
@pytest.mark.filterwarnings("ignore::linmeta.InfiniteMomentWarning")   # first-order MAML at alpha_t != 0, m >= 2
def test_bit_for_bit_one_vs_two_threads_and_chunks(regime, algo):
    prob = PROBLEMS[regime].replace(**ALGORITHMS[algo])
    kw = dict(n_runs=6, seed=4, method="exact")
    one = with_threads(1, lambda: lm.simulate_curve(prob, "alpha_t", [-0.3, 0.1], chunk_size=6, **kw))
    two = with_threads(2, lambda: lm.simulate_curve(prob, "alpha_t", [-0.3, 0.1], chunk_size=4, **kw))
    three = with_threads(2, lambda: lm.simulate_curve(prob, "alpha_t", [-0.3, 0.1], chunk_size=1, **kw))
    assert one["mean"].tolist() == two["mean"].tolist() == three["mean"].tolist()
    assert one["stderr"].tolist() == two["stderr"].tolist() == three["stderr"].tolist()


@pytest.mark.parametrize("regime", ["over", "under"])
def test_protocol_bit_for_bit_one_vs_twowith_threads(regime):
    prob = OVER if regime == "over" else UNDER
    kw = dict(n_runs=4, seed=2, method="protocol", n_test_tasks=3, n_test_points=5)
    one = with_threads(1, lambda: lm.simulate(prob, chunk_size=4, **kw))
    two = with_threads(2, lambda: lm.simulate(prob, chunk_size=1, **kw))
    assert one.values.tobytes() == two.values.tobytes()


@pytest.mark.parametrize("regime", ["over", "under"])
@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_distance_without_delta_equals_norm_of_delta(regime, algo):
    """The exact method's |omega* - w0|^2 (no p-vector when over-parameterised) is the protocol's |delta|^2."""
    prob = (OVER if regime == "over" else UNDER).replace(**ALGORITHMS[algo])
    draws = sampling.draw_training(prob, 3, [0, 1])
    alphas = [-0.5, 0.0, 0.3]
    dist2, none = _engine.solve(prob, draws, alphas)
    assert none is None
    dist2_again, delta = _engine.solve(prob, draws, alphas, want_delta=True)
    assert np.array_equal(dist2, dist2_again)
    np.testing.assert_allclose(dist2, np.einsum("rap,rap->ra", delta, delta), rtol=1e-11)


@pytest.mark.parametrize("regime", list(PROBLEMS))
def test_kernels_match_numpy_twin_at_blas_sizes(regime):
    prob = PROBLEMS[regime]
    args = (prob, np.array([0, 5]), 9, [-0.6, 0.0, 0.25], [0.2])
    np.testing.assert_allclose(_engine.run_losses(*args), _reference.run_losses(*args), rtol=1e-9)


def test_under_parameterised_routes_agree():
    """The task-factor route gives P^T Q, Q^T Q, Q^T y, Q^T s, y and s of the stacked-Q route."""
    assert _kernels.factored_under(UNDER.p, UNDER.m, UNDER.n_t, UNDER.n_v)
    assert not _kernels.factored_under(UNDER_Q.p, UNDER_Q.m, UNDER_Q.n_t, UNDER_Q.n_v)
    for prob in (UNDER, UNDER_Q):
        d = {k: v[0] for k, v in sampling.draw_training(prob, 5, [0]).items()}
        args = (d["g"], d["X_t"], d["e_t"], d["X_v"], d["e_v"], prob.nu / np.sqrt(prob.p), prob.sigma)
        Q, y, s = _kernels._stacked_rows(*args)
        P = d["X_v"].reshape(prob.k, prob.p)
        G1, G2, Qy, Qs, y2, s2 = _kernels._factored_blocks(*args)
        for got, want in ((G1, P.T @ Q), (G2, Q.T @ Q), (Qy, Q.T @ y), (Qs, Q.T @ s), (y2, y), (s2, s)):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11 * np.abs(want).max())
        # control: the same tolerance notices one task's block missing
        short = Q[:-prob.n_v]
        assert not np.allclose(G2, short.T @ short, rtol=1e-11, atol=1e-11 * np.abs(G2).max())


def test_table_drives_kernel_choice():
    assert uses_one_step_kernel(OVER) and not uses_one_step_kernel(OVER.replace(n_steps=2))
    assert [INNER_MAPS[a].code for a in ("maml", "fomaml", "imaml")] == [0, 1, 2]
    assert not uses_one_step_kernel(OVER.replace(algorithm="fomaml"))
