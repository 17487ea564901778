"""N-step MAML and first-order MAML along alpha_t: products built once per run, combined per alpha_t."""
import numpy as np
import pytest
from conftest import with_threads
from threadpoolctl import threadpool_limits

import linmeta as lm
from linmeta import sampling
from linmeta._sim import kernels_variants as kv
from linmeta._sim import twins as _twins
from linmeta.inner_maps import INNER_MAPS

ALPHAS = np.linspace(-0.3, 0.2, 25)
CASES = {
    "over": lm.presets.FIG2.replace(omega0=np.full(60, 0.3)),
    "under": lm.presets.FIG3.replace(n_v=10, w0=np.full(30, 0.1)),
}


def _solve(prob, alphas, draws):
    R, A = draws["X_t"].shape[0], len(alphas)
    out = np.empty((R, A)), np.empty((R, A, prob.p)), np.empty((R, A))
    args = (draws["g"], draws["X_t"], draws["e_t"], draws["X_v"], draws["e_v"], prob.nu / np.sqrt(prob.p), prob.sigma,
            np.ascontiguousarray(prob.start_offset), np.asarray(alphas, dtype=float))
    with threadpool_limits(1):
        kv.variant_solve(*args, INNER_MAPS[prob.algorithm].code, prob.n_steps, 0.0, prob.p > prob.k, True, *out)
    return out, args


@pytest.mark.parametrize("regime", list(CASES))
@pytest.mark.parametrize("kw", [{"n_steps": 3}, {"algorithm": "fomaml", "n_steps": 2}, {"n_steps": 5}],
                         ids=["maml-3", "fomaml-2", "maml-5"])
def test_polynomial_route_matches_the_rebuild_and_the_numpy_twin(regime, kw):
    prob = CASES[regime].replace(**kw)
    code = INNER_MAPS[prob.algorithm].code
    assert kv.poly_cheaper(prob.p, prob.m, prob.n_t, prob.n_v, prob.n_steps, len(ALPHAS), code == 1, prob.p > prob.k)
    assert not kv.poly_cheaper(prob.p, prob.m, prob.n_t, prob.n_v, prob.n_steps, 1, code == 1, prob.p > prob.k)
    draws = sampling.draw_training(prob, 4, [0, 1, 2])
    (dist2, delta, cond), args = _solve(prob, ALPHAS, draws)
    for ia, a in enumerate(ALPHAS):  # one alpha_t at a time: the system rebuilt (the route before)
        (d1, x1, c1), _ = _solve(prob, [a], draws)
        np.testing.assert_allclose(dist2[:, ia], d1[:, 0], rtol=1e-10)
        np.testing.assert_allclose(delta[:, ia], x1[:, 0], rtol=1e-10, atol=1e-12 * np.abs(x1).max())
        np.testing.assert_allclose(cond[:, ia], c1[:, 0], rtol=1e-8)
    twin = _twins.variant_deltas_numpy(*args, code, prob.n_steps, 0.0, prob.p > prob.k)
    np.testing.assert_allclose(delta, twin, rtol=1e-10, atol=1e-10 * np.abs(twin).max())
    np.testing.assert_allclose(dist2, np.einsum("rap,rap->ra", delta, delta), rtol=1e-10)
    # control: one step fewer is a different map at these rates
    (wrong, _, _), _ = _solve(prob.replace(n_steps=prob.n_steps - 1), ALPHAS, draws)
    assert not np.allclose(wrong[:, -1], dist2[:, -1], rtol=1e-3)


@pytest.mark.parametrize("regime", list(CASES))
@pytest.mark.parametrize("kw", [{"n_steps": 3}, {"algorithm": "fomaml", "n_steps": 3}], ids=["maml-3", "fomaml-3"])
@pytest.mark.filterwarnings("ignore::linmeta.InfiniteMomentWarning")   # first-order MAML at alpha_t != 0, m >= 2
def test_polynomial_route_is_bit_for_bit_across_threads_and_chunks(regime, kw):
    prob = CASES[regime].replace(**kw)
    assert kv.poly_cheaper(prob.p, prob.m, prob.n_t, prob.n_v, prob.n_steps, len(ALPHAS),
                           prob.algorithm == "fomaml", prob.p > prob.k)   # the route under test is taken
    curve = lm.simulate_curve
    one = with_threads(1, lambda: curve(prob, "alpha_t", ALPHAS, n_runs=6, seed=5, chunk_size=6))
    two = with_threads(2, lambda: curve(prob, "alpha_t", ALPHAS, n_runs=6, seed=5, chunk_size=4))
    single = with_threads(2, lambda: curve(prob, "alpha_t", ALPHAS, n_runs=6, seed=5, chunk_size=1))
    for col in ("mean", "stderr"):
        assert one[col].tolist() == two[col].tolist() == single[col].tolist()
