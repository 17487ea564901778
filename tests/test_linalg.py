"""Kernel-side linear algebra (linmeta._sim.linalg) against numpy.linalg, contracts included."""
import numpy as np
import pytest

from linmeta._sim import linalg as _linalg


def _spd(n, seed=0, cond=None):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.geomspace(1.0, cond, n) if cond else rng.uniform(0.5, 3.0, n)
    return (Q * ev) @ Q.T


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_cholesky_factor_is_numpys_factor(n):
    A = _spd(n, seed=n)
    L = A.copy()
    bound = _linalg.cholesky_factor(L)
    np.testing.assert_allclose(np.tril(L), np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    assert 1.0 <= bound <= np.linalg.cond(A) * (1 + 1e-10)  # a lower bound on cond(A)


@pytest.mark.parametrize("n", [1, 5, 40])
def test_cholesky_solve_vector_and_rows(n):
    A = _spd(n, seed=3 + n)
    rng = np.random.default_rng(n)
    b, B = rng.standard_normal(n), rng.standard_normal((4, n))
    L = A.copy()
    _linalg.cholesky_factor(L)
    np.testing.assert_allclose(_linalg.cholesky_solve(L, b), np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)
    X = _linalg.cholesky_solve(L, B)
    assert X.shape == B.shape
    np.testing.assert_allclose(X, np.linalg.solve(A, B.T).T, rtol=1e-10, atol=1e-12)
    assert np.array_equal(B, B.copy())  # right-hand sides are not overwritten
    # control: the transposed factor solves a different system
    assert not np.allclose(_linalg.cholesky_solve(np.ascontiguousarray(L.T), b), np.linalg.solve(A, b)) or n == 1


@pytest.mark.parametrize("A", [np.array([[1.0, 2.0], [2.0, 1.0]]),        # indefinite
                               np.array([[1.0, 1.0], [1.0, 1.0]]),        # singular
                               -np.eye(3), np.zeros((2, 2))])
def test_cholesky_not_positive_definite_returns_inf(A):
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(A)
    assert _linalg.cholesky_factor(A.copy()) == np.inf


@pytest.mark.parametrize("n", [1, 3, 8, 40])
def test_lu_solve_matches_numpy(n):
    rng = np.random.default_rng(10 + n)
    A = rng.standard_normal((n, n))
    b, B = rng.standard_normal(n), rng.standard_normal((3, n))
    F, piv = A.copy(), np.empty(n, np.int32)
    est = _linalg.lu_factor(F, piv)
    assert np.isfinite(est) and est >= 1.0
    np.testing.assert_allclose(_linalg.lu_solve(F, piv, b), np.linalg.solve(A, b), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(_linalg.lu_solve(F, piv, B), np.linalg.solve(A, B.T).T, rtol=1e-9, atol=1e-11)


def test_lu_factor_is_the_factor_of_the_transpose():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 6))
    F, piv = A.copy(), np.empty(6, np.int32)
    _linalg.lu_factor(F, piv)
    Ut, Lt = np.tril(F), np.triu(F, 1) + np.eye(6)      # A = U^T L^T P^T
    perm = np.arange(6)
    for i, t in enumerate(piv - 1):                       # P from LAPACK's row swaps
        perm[[i, t]] = perm[[t, i]]
    P = np.eye(6)[:, perm]
    np.testing.assert_allclose(Ut @ Lt @ P.T, A, rtol=1e-12, atol=1e-12)


def test_lu_needs_pivoting():
    A = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [4.0, -3.0, 8.0]])  # zero leading pivot
    F, piv = A.copy(), np.empty(3, np.int32)
    assert np.isfinite(_linalg.lu_factor(F, piv))
    b = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(_linalg.lu_solve(F, piv, b), np.linalg.solve(A, b), rtol=1e-12)


@pytest.mark.parametrize("A", [np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((3, 3)),
                               np.outer([1.0, 2.0, 3.0], [1.0, 0.0, 1.0])])
def test_lu_singular_returns_inf(A):
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.solve(A, np.ones(A.shape[0]))
    assert _linalg.lu_factor(A.copy(), np.empty(A.shape[0], np.int32)) == np.inf


def test_condition_bounds_track_the_condition_number():
    A = _spd(30, seed=2, cond=1e9)
    bound = _linalg.cholesky_factor(A.copy())
    assert 1e3 < bound <= 1e9 * (1 + 1e-6)
    F = A.copy()
    assert _linalg.lu_factor(F, np.empty(30, np.int32)) > 1e3


def test_one_decorator_everywhere():
    """Every compiled function of the package is built by _linalg.jit: cached, nogil, no fastmath."""
    from linmeta._sim import kernels as _kernels
    from linmeta._sim import kernels_variants as _kernels_variants

    for mod in (_linalg, _kernels, _kernels_variants):
        for name in dir(mod):
            f = getattr(mod, name)
            if hasattr(f, "targetoptions") and getattr(f, "__module__", None) == mod.__name__:
                assert f.targetoptions.get("nogil") and "fastmath" not in f.targetoptions, (mod.__name__, name)
                assert f._cache.__class__.__name__ == "FunctionCache", (mod.__name__, name)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (7, 3), (40, 120), (200, 30), (0, 4)])
def test_gram_matches_numpy_and_is_symmetric(shape):
    A = np.random.default_rng(sum(shape)).standard_normal(shape)
    rows, cols = _linalg.gram_rows(A), _linalg.gram_cols(A)
    np.testing.assert_allclose(rows, A @ A.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cols, A.T @ A, rtol=1e-12, atol=1e-12)
    assert np.array_equal(rows, rows.T) and np.array_equal(cols, cols.T)
    if min(shape) > 1:  # control: the two products differ in shape or value
        assert rows.shape != cols.shape or not np.allclose(rows, cols)
