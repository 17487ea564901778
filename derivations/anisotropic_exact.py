"""Exact finite-size results for one Gaussian family with diagonal covariances (docs: theory, A6, A7).

Inputs ``x ~ N(0, S)``, tasks ``w ~ N(w0, T)``, ``S = diag(s)``, ``T = diag(t)``; ``D_M = E (omega* - w0)' M
(omega* - w0)`` with ``M`` the meta-test diagonal of A1 (``M = I`` for ``E|omega* - w0|^2``).

A6, scalar input covariance ``S = s I``, any ``T``, ``alpha_t``, regime.  Put ``x = sqrt(s) x0``,
``w' = sqrt(s) w``, ``omega' = sqrt(s) omega``.  Labels ``x' w = x0' w'`` do not change; an inner step
``omega - alpha_t/n_t X'(X omega - y)`` becomes, times ``sqrt(s)``, ``omega' - s alpha_t/n_t X0'(X0 omega' - y)``
(the meta-test adaptation likewise with ``s alpha_r``); the outer residuals ``X omega_i - y`` are the same, so
``omega*' = sqrt(s) omega*`` run by run and the losses are equal run by run.  The tasks ``w' ~ N(sqrt(s) w0,
s T)`` are not isotropic, but with isotropic inputs the whole procedure is rotation-equivariant and
``omega*' - w0'`` is linear in ``(omega0' - w0', w_i' - w0', noise)`` given the inputs: the mean of
``|omega*' - w0'|^2`` takes the task covariance through ``E_X[Q(X)]``, a matrix commuting with every rotation,
i.e. a multiple of ``I``, so only ``tr(s T)`` counts (and only ``|omega0' - w0'|^2``).  Hence the paper's
isotropic problem with ``alpha_t' = s alpha_t``, ``alpha_r' = s alpha_r``, ``nu'^2 = s tr T``,
``|omega0' - w0'|^2 = s |omega0 - w0|^2`` has the same mean loss, and ``E|omega* - w0|^2 = D'/s``.

A7, any diagonal ``S``, ``p < k`` rows, no inner step (MAML at ``alpha_t = 0``: ``n = n_v`` rows per task;
ERM: ``n = n_t + n_v``).  ``omega* - w0 = G^-1 sum_r x_r (x_r' (w_(r) - w0) + sigma e_r)`` with ``G = X'X``.
Whiten ``x = S^(1/2) z``: ``G = S^(1/2) G0 S^(1/2)``, ``G0 ~ Wishart(I, k)``.

* noise: ``sigma^2 E tr(M G^-1) = sigma^2 tr(M S^-1)/(k-p-1)`` (``E G0^-1 = I/(k-p-1)``);
* tasks: ``sum`` over ordered pairs ``(r, s)`` of rows of the same task of
  ``E tr(G0^-1 A G0^-1 z_r z_r' B z_s z_s')``, ``A = M S^-1``, ``B = S T``.  Over all ``k^2`` pairs the sum is
  exactly ``tr(A B) = tr(M T)`` (``sum_r z_r z_r' = G0``).  The rows are exchangeable, so every diagonal pair
  has the same mean ``b`` and every off-diagonal pair the same mean ``c = (tr(AB) - k b)/(k(k-1))``; the
  same-task off-diagonal pairs are ``k (n-1)`` of the ``k (k-1)``: the task part is
  ``k b + (n-1)/(k-1) (tr(M T) - k b)``;
* ``b = E[(z' G0^-1 A G0^-1 z)(z' B z)]``: the polar decomposition ``Z = U G0^(1/2)`` has ``U`` Haar on the
  Stiefel manifold, independent of ``G0``; a row of ``U`` is ``sqrt(beta) theta``, ``beta ~ Beta(p/2,
  (k-p)/2)``, ``theta`` uniform on the sphere.  With ``P = G0^(-1/2) A G0^(-1/2)``, ``Q = G0^(1/2) B G0^(1/2)``,
  ``b = E beta^2 E[(theta'P theta)(theta'Q theta)] = [E tr(G0^-1 A) tr(G0 B) + 2 tr(AB)] / (k(k+2))``, and
  the Wishart identity ``E[W_ij (W^-1)_kl] = (k d_ij d_kl - d_ik d_jl - d_il d_jk)/(k-p-1)`` gives
  ``E tr(G0^-1 A) tr(G0 B) = (k tr A tr B - 2 tr AB)/(k-p-1)``.

So ``D_M = sigma^2 tr(M S^-1)/(k-p-1) + kb + (n-1)/(k-1) (tr(M T) - kb)``,
``kb = [k tr(M S^-1) tr(S T) + 2 (k-p-2) tr(M T)] / ((k+2)(k-p-1))``.

Asserted here: each moment step (Wick, Beta, the Wishart identity by Monte Carlo), the reduction of A7 to the
isotropic exact result E0 at ``S = I``, ``T = nu^2/p I``, the agreement of A6 and A7 at ``alpha_t = 0``, the
scalings of A6 on explicit small matrices, A1 at ``S = s I`` equal to T0 of the reduced problem, and the
package's numeric and symbolic A7 equal to the expression derived here.

Run ``python derivations/anisotropic_exact.py``: prints, asserts, exits non-zero on failure.
"""
import itertools
import sys

import numpy as np
import sympy as sp

from linmeta.symbolic import _theorems as T
from linmeta.symbolic._symbols import alpha_r, h_r, m, n_r, n_t, n_v, nu, p, sigma

k, n = sp.symbols("k n", positive=True, integer=True)     # rows in all, rows per task
trA, trB, trAB = sp.symbols("trA trB trAB", real=True)   # tr(M S^-1), tr(S T), tr(M T)


def wick_quadratic_forms(dim=3):
    """``E[(g'Pg)(g'Qg)] = tr P tr Q + 2 tr(PQ)`` for ``g ~ N(0, I)``, generic symmetric ``P, Q`` (Isserlis)."""
    P = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"P{min(i, j)}{max(i, j)}"))
    Q = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"Q{min(i, j)}{max(i, j)}"))
    d = sp.KroneckerDelta
    total = sum(P[i, j] * Q[a, b] * (d(i, j) * d(a, b) + d(i, a) * d(j, b) + d(i, b) * d(j, a))
                for i, j, a, b in itertools.product(range(dim), repeat=4))
    assert sp.expand(total - (P.trace() * Q.trace() + 2 * (P * Q).trace())) == 0
    # |g|^4 has mean dim (dim + 2) and g/|g| is independent of |g|: the sphere moment divides by it
    assert sum((3 if i == j else 1) for i in range(dim) for j in range(dim)) == dim * (dim + 2)


def beta_second_moment():
    """``E beta^2 = p (p+2) / (k (k+2))`` for ``beta ~ Beta(p/2, (k-p)/2)``."""
    a, b = p / 2, (k - p) / 2
    moment = sp.gammasimp(sp.gamma(a + 2) * sp.gamma(a + b) / (sp.gamma(a) * sp.gamma(a + b + 2)))
    assert sp.simplify(moment - p * (p + 2) / (k * (k + 2))) == 0
    return moment


def wishart_identity_monte_carlo(dim=3, dof=11, runs=200_000, seed=7):
    """``E[W_ij (W^-1)_kl] = (dof d_ij d_kl - d_ik d_jl - d_il d_jk)/(dof - dim - 1)``, by Monte Carlo."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((runs, dof, dim))
    W = np.einsum("rai,raj->rij", Z, Z)
    prod = np.einsum("rij,rkl->rijkl", W, np.linalg.inv(W))
    mean, se = prod.mean(axis=0), prod.std(axis=0) / np.sqrt(runs)
    eye = np.eye(dim)
    want = (dof * np.einsum("ij,kl->ijkl", eye, eye) - np.einsum("ik,jl->ijkl", eye, eye)
            - np.einsum("il,jk->ijkl", eye, eye)) / (dof - dim - 1)
    z = np.abs(mean - want) / se
    assert z.max() < 5, f"Wishart identity off by {z.max():.1f} SE"
    return float(z.max())


def b_monte_carlo(dim=3, dof=10, runs=200_000, seed=8):
    """Check the diagonal-pair mean ``b`` (polar decomposition step) by Monte Carlo; return its ``z``."""
    rng = np.random.default_rng(seed)
    a_diag, b_diag = np.array([0.3, 1.0, 2.5]), np.array([1.5, 0.2, 0.7])
    Z = rng.standard_normal((runs, dof, dim))
    Ginv = np.linalg.inv(np.einsum("rai,raj->rij", Z, Z))
    z = Z[:, 0, :]
    u = np.einsum("rij,rj->ri", Ginv, z)
    values = np.einsum("ri,i,ri->r", u, a_diag, u) * np.einsum("ri,i,ri->r", z, b_diag, z)
    ta, tb, tab = a_diag.sum(), b_diag.sum(), (a_diag * b_diag).sum()
    want = ((dof * ta * tb - 2 * tab) / (dof - dim - 1) + 2 * tab) / (dof * (dof + 2))
    zval = (values.mean() - want) / (values.std() / np.sqrt(runs))
    assert abs(zval) < 4, f"b off by {zval:.2f} SE"
    return float(zval)


def a7_distance():
    """A7 assembled from the moment steps, in ``trA = tr(M S^-1)``, ``trB = tr(S T)``, ``trAB = tr(M T)``."""
    e_beta2 = beta_second_moment()
    wishart = (k * trA * trB - 2 * trAB) / (k - p - 1)          # E tr(G0^-1 A) tr(G0 B)
    b = e_beta2 * (wishart + 2 * trAB) / (p * (p + 2))           # sphere moment / p(p+2)
    c = (trAB - k * b) / (k * (k - 1))                           # each off-diagonal pair
    task = k * b + k * (n - 1) * c
    noise = sigma**2 * trA / (k - p - 1)
    kb = (k * trA * trB + 2 * (k - p - 2) * trAB) / ((k + 2) * (k - p - 1))
    assert sp.simplify(k * b - kb) == 0
    closed = noise + kb + (n - 1) / (k - 1) * (trAB - kb)
    assert sp.simplify(noise + task - closed) == 0
    return closed


def check_reduction_to_e0(dist):
    """``S = I``, ``T = nu^2/p I``, ``M = I``: the isotropic exact result at ``alpha_t = 0`` (E0)."""
    iso = dist.subs({trA: p, trB: nu**2, trAB: nu**2, k: n_v * m, n: n_v})
    assert sp.simplify(iso - T.exact_alpha0_under()) == 0


def check_a6_scalings():
    """On explicit 2 x 2 matrices: labels, the inner step and the outer residuals map as A6 says."""
    s, a, n_pts = sp.symbols("s a n_pts", positive=True)
    X0 = sp.Matrix(2, 2, sp.symbols("x0:4", real=True))
    omega, w, e = (sp.Matrix(sp.symbols(f"{name}0:2", real=True)) for name in ("omega", "w", "e"))
    X = sp.sqrt(s) * X0
    y = X * w + sigma * e
    assert sp.simplify(y - (X0 * (sp.sqrt(s) * w) + sigma * e)) == sp.zeros(2, 1)           # same labels
    step = sp.sqrt(s) * (omega - a / n_pts * X.T * (X * omega - y))
    omega_p = sp.sqrt(s) * omega
    step_p = omega_p - s * a / n_pts * X0.T * (X0 * omega_p - y)
    assert sp.simplify(step - step_p) == sp.zeros(2, 1)                                      # rate s * alpha
    assert sp.simplify(X * omega - X0 * omega_p) == sp.zeros(2, 1)                           # same residuals


def check_a6_test_side():
    """A1 at ``S = s I`` with ``D_M = m_s D'/s`` equals T0 of the reduced problem (``nu'^2 = s tr T``)."""
    s, tau, d_red = sp.symbols("s tau d_red", positive=True)   # tau = tr T, d_red = D'
    q2 = p * s**2
    m_s = s - 2 * alpha_r * s**2 + alpha_r**2 * (s**3 + (s**3 + s * q2) / n_r)
    a_red = s * alpha_r
    h_red = h_r.subs(alpha_r, a_red)
    assert sp.simplify(m_s - s * h_red) == 0                      # M = s h_r' I
    a1 = sigma**2 / 2 + (m_s * d_red / s + m_s * tau + alpha_r**2 * sigma**2 * q2 / n_r) / 2
    t0 = sigma**2 / 2 * (1 + a_red**2 * p / n_r) + h_red / 2 * (s * tau + d_red)
    assert sp.simplify(a1 - t0) == 0


def check_a6_equals_a7(dist):
    """At ``alpha_t = 0`` and ``S = s I``: A7 with ``M = I`` is E0 of the reduced problem divided by ``s``."""
    s, tau = sp.symbols("s tau", positive=True)
    a7 = dist.subs({trA: p / s, trB: s * tau, trAB: tau, k: n_v * m, n: n_v})
    e0 = T.exact_alpha0_under().subs(nu, sp.sqrt(s * tau)) / s
    assert sp.simplify(a7 - e0) == 0


def check_package(dist, seed=3):
    """Check that the package's numeric and symbolic A7 equal the expression derived here."""
    import linmeta as lm
    import linmeta.symbolic as ls
    from linmeta.theory._anisotropic_finite import distance_alpha0_under

    rng = np.random.default_rng(seed)
    f = sp.lambdify((trA, trB, trAB, sigma, p, k, n), dist)
    for _ in range(5):
        dim, rows_per_task, tasks = int(rng.integers(2, 8)), int(rng.integers(1, 6)), int(rng.integers(4, 9))
        k_val = rows_per_task * tasks
        if k_val < dim + 4:
            continue
        s_vec, t_vec, m_vec = rng.uniform(0.1, 3, dim), rng.uniform(0, 1, dim), rng.uniform(0.1, 2, dim)
        sig = float(rng.uniform(0, 1))
        want = f(np.sum(m_vec / s_vec), np.sum(s_vec * t_vec), np.sum(m_vec * t_vec), sig, dim, k_val, rows_per_task)
        got = distance_alpha0_under(s_vec, t_vec, m_vec, sig, dim, k_val, rows_per_task)
        assert abs(got / want - 1) < 1e-12
        prob = lm.Problem(p=dim, m=tasks, n_t=3, n_v=rows_per_task, n_r=5, sigma=sig, nu=None, alpha_t=0.0,
                          alpha_r=float(rng.uniform(0, 0.5)), input_cov=s_vec, task_cov=t_vec)
        symbolic = ls.to_callable(ls.exact_alpha0_test_loss_anisotropic())(prob)
        assert abs(symbolic / lm.theory.test_loss(prob, approximation="finite") - 1) < 1e-12
    assert n_t not in dist.free_symbols


def main() -> int:
    wick_quadratic_forms()
    print("Wick: E[(g'Pg)(g'Qg)] = tr P tr Q + 2 tr(PQ); sphere moment divides by p(p+2)")
    print("Beta: E beta^2 =", beta_second_moment())
    print(f"Wishart identity E[W_ij (W^-1)_kl]: Monte Carlo within {wishart_identity_monte_carlo():.2f} SE")
    print(f"diagonal pair b: Monte Carlo z = {b_monte_carlo():+.2f}")
    dist = a7_distance()
    print("\n(A7) D_M =", sp.simplify(dist))
    check_reduction_to_e0(dist)
    print("      reduces to E0 at S = I, T = nu^2/p I, M = I")
    check_a6_scalings()
    check_a6_test_side()
    print("\n(A6) x = sqrt(s) x0: labels, inner step (rate s alpha_t), outer residuals map; A1 at S = s I is T0 of")
    print("      the reduced problem (alpha_r' = s alpha_r, nu'^2 = s tr T)")
    check_a6_equals_a7(dist)
    print("      A6 and A7 agree at alpha_t = 0")
    check_package(dist)
    print("package: numeric and symbolic A7 equal the derived expression")
    print("all exact anisotropic checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
