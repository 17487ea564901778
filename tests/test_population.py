"""Population limit of meta-training on a mixture of diagonal Gaussian tasks (docs: theory, P1-P4).

The Monte Carlo reference is plain NumPy written here: it samples the training tasks, builds each
algorithm's empirical meta-training equations (the stacked rows ``X_v A_i`` of the meta-loss, the
first-order fixed point, or the pooled least squares) and solves them, then scores the solution on
fresh meta-test tasks.  Nothing from linmeta produces an expected value in those tests.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from linmeta.errors import NonFiniteResultError
from linmeta.theory import _population as pop
from linmeta.theory._wishart_exact import nstep_trace_moments, wishart_moment

PI = np.array([0.4, 0.6])
S = np.array([[0.5, 1.0, 2.0], [1.5, 0.8, 0.3]])
T = np.array([[0.2, 0.5, 0.1], [0.3, 0.0, 0.4]])
W0 = np.array([[1.0, -1.0, 0.5], [-0.5, 1.5, 2.0]])
SIG = np.array([0.3, 0.6])
MIX = dict(weights=PI, s=S, t=T, w0=W0, sigma=SIG)
OMEGA0 = np.zeros(3)
ALPHA_T, N_T, N_V, ALPHA_R, N_R = 0.4, 2, 2, 0.3, 2


# ----------------------------------------------------------------------------- independent references
def _weighted(K):
    """``omega`` solving ``sum_c pi_c K_c (omega - w0_c) = 0`` for diagonal ``K_c`` (rows of ``K``)."""
    return (PI @ (K * W0)) / (PI @ K)


def _M(s, a, n, finite=True):
    """``E[(I - aH) S (I - aH)]`` as in the task statement; ``finite=False`` drops its ``1/n`` terms."""
    extra = (s**3 + s * np.sum(s**2, axis=-1, keepdims=True)) / n if finite else 0.0
    return s - 2 * a * s**2 + a**2 * (s**3 + extra)


def _loss(omega, a, n, finite=True):
    """Return the expected test loss of ``omega`` (``finite=False``: without the ``1/n_r`` terms of M)."""
    M = _M(S, a, n, finite)
    per = SIG**2 / 2 + 0.5 * (np.sum(M * ((omega - W0) ** 2 + T), axis=1) + a**2 * SIG**2 * np.sum(S**2, axis=1) / n)
    return float(PI @ per)


def _tasks(rng, m, n):
    """``m`` tasks of the mixture with ``n`` points each: ``X, y, w`` and each task's component."""
    c = rng.choice(PI.size, size=m, p=PI)
    w = W0[c] + np.sqrt(T[c]) * rng.standard_normal((m, 3))
    X = np.sqrt(S[c])[:, None, :] * rng.standard_normal((m, n, 3))
    y = np.einsum("mnp,mp->mn", X, w) + SIG[c][:, None] * rng.standard_normal((m, n))
    return X, y, w, c


def _meta_train(rng, algorithm, m, n_steps):
    """Return the empirical solution of ``algorithm`` on ``m`` sampled tasks."""
    X, y, _, _ = _tasks(rng, m, N_T + N_V)
    Xt, yt, Xv, yv = X[:, :N_T], y[:, :N_T], X[:, N_T:], y[:, N_T:]
    if algorithm == "erm":  # pooled least squares on all n_t + n_v points
        return np.linalg.solve(np.einsum("mnp,mnq->pq", X, X), np.einsum("mnp,mn->p", X, y))
    step = np.eye(3) - ALPHA_T * np.einsum("mnp,mnq->mpq", Xt, Xt) / N_T
    grad_y = np.einsum("mnp,mn->mp", Xt, yt) / N_T
    A, b = np.broadcast_to(np.eye(3), step.shape), np.zeros((m, 3))
    for _ in range(n_steps):  # theta = A omega + b after n_steps gradient steps
        A, b = step @ A, np.einsum("mpq,mq->mp", step, b) + ALPHA_T * grad_y
    Z, r = Xv @ A, yv - np.einsum("mnp,mp->mn", Xv, b)
    L = Xv if algorithm == "fomaml" else Z  # first order drops A^T from the meta-gradient
    return np.linalg.solve(np.einsum("mnp,mnq->pq", L, Z), np.einsum("mnp,mn->p", L, r))


def _meta_test(rng, omega, k):
    """Mean test loss of ``omega`` over ``k`` fresh tasks (exact over the test points given the adapted theta)."""
    X, y, w, c = _tasks(rng, k, N_R)
    theta = omega - ALPHA_R / N_R * np.einsum("mnp,mn->mp", X, np.einsum("mnp,p->mn", X, omega) - y)
    return float(np.mean(SIG[c] ** 2 / 2 + 0.5 * np.sum(S[c] * (theta - w) ** 2, axis=1)))


def _replications(seed, algorithm, n_steps, reps=32, m=12_500, k=25_000):
    """Means and standard errors of ``omega`` and of its test loss over independent replications."""
    omegas, losses = [], []
    for child in np.random.SeedSequence(seed).spawn(reps):
        rng = np.random.default_rng(child)
        omegas.append(_meta_train(rng, algorithm, m, n_steps))
        losses.append(_meta_test(rng, omegas[-1], k))
    omegas, losses = np.array(omegas), np.array(losses)
    return (omegas.mean(0), omegas.std(0, ddof=1) / np.sqrt(reps), losses.mean(), losses.std(ddof=1) / np.sqrt(reps))


def _controls(algorithm, n_steps):
    """Return plausible wrong population omegas: mean-field moments, an off-by-one, a confusion of algorithms."""
    mean_field = (1 - ALPHA_T * S) ** n_steps  # E[(I - a H)^N] taken as (I - a S)^N
    if algorithm == "maml":
        return [_weighted(S * mean_field**2)] + ([_weighted(_M(S, ALPHA_T, N_T + 1))] if n_steps == 1 else [])
    if algorithm == "fomaml":
        return [_weighted(S * mean_field) if n_steps > 1 else _weighted(_M(S, ALPHA_T, N_T))]
    return [PI @ W0]  # ERM: the plain mean of the task means


@pytest.mark.statistical
@pytest.mark.parametrize("algorithm, n_steps", [("maml", 1), ("maml", 2), ("fomaml", 1), ("fomaml", 2), ("erm", 1)])
def test_population_limit_matches_monte_carlo_and_rejects_a_wrong_formula(algorithm, n_steps):
    omega, omega_se, loss, loss_se = _replications(20261207 + 10 * n_steps, algorithm, n_steps)
    expected = pop.population_omega(**MIX, algorithm=algorithm, alpha_t=ALPHA_T, n_t=N_T, n_steps=n_steps,
                                    omega0=OMEGA0)
    z = (omega - expected) / omega_se
    assert np.all(np.abs(z) < 4), f"omega: MC {omega} +- {omega_se}, population {expected}, z = {z}"
    for wrong in _controls(algorithm, n_steps):
        z_wrong = (omega - wrong) / omega_se
        assert np.max(np.abs(z_wrong)) > 4, f"the control {wrong} is not rejected: z = {z_wrong}"
    value = pop.population_loss(**MIX, algorithm=algorithm, alpha_t=ALPHA_T, n_t=N_T, n_steps=n_steps,
                                alpha_r=ALPHA_R, n_r=N_R, omega0=OMEGA0)
    assert abs(loss - value) < 4 * loss_se, f"loss: MC {loss} +- {loss_se}, population {value}"
    wrong = _loss(expected, ALPHA_R, N_R, finite=False)  # the test side without its 1/n_r terms
    assert abs(loss - wrong) > 4 * loss_se, f"the test-side control is not rejected: {loss} +- {loss_se} vs {wrong}"


# ----------------------------------------------------------------------------- exact identities
def test_one_step_maml_is_the_closed_form_weighted_mean_and_its_loss_the_test_side():
    got = pop.population_omega(**MIX, algorithm="maml", alpha_t=ALPHA_T, n_t=N_T, omega0=OMEGA0)
    np.testing.assert_allclose(got, _weighted(_M(S, ALPHA_T, N_T)), rtol=1e-13)
    rates = np.array([[0.0, 0.3], [-0.2, 1.1]])
    losses = pop.population_loss(**MIX, algorithm="maml", alpha_t=ALPHA_T, n_t=N_T, alpha_r=rates, n_r=3,
                                 omega0=OMEGA0)
    assert losses.shape == rates.shape
    np.testing.assert_allclose(losses, [[_loss(got, a, 3) for a in row] for row in rates], rtol=1e-13)


@pytest.mark.parametrize("n_t", [1, 2, 7])
@pytest.mark.parametrize("n_steps", [1, 2, 3])
def test_maml_at_alpha_t_zero_is_erm(n_t, n_steps):
    maml = pop.population_omega(**MIX, algorithm="maml", alpha_t=0.0, n_t=n_t, n_steps=n_steps, omega0=OMEGA0)
    erm = pop.population_omega(**MIX, algorithm="erm", alpha_t=0.7, n_t=n_t, omega0=OMEGA0)
    np.testing.assert_array_equal(maml, erm)
    np.testing.assert_allclose(erm, _weighted(S), rtol=1e-14)


@pytest.mark.parametrize("algorithm, n_steps", [("maml", 1), ("maml", 3), ("fomaml", 1), ("fomaml", 4), ("erm", 1)])
def test_one_component_gives_its_task_mean(algorithm, n_steps):
    one = dict(weights=[1.0], s=S[:1], t=T[:1], w0=W0[:1], sigma=SIG[:1])
    got = pop.population_omega(**one, algorithm=algorithm, alpha_t=0.35, n_t=3, n_steps=n_steps, omega0=OMEGA0)
    np.testing.assert_allclose(got, W0[0], rtol=1e-13)


@pytest.mark.parametrize("n_steps", [2, 3])
def test_isotropic_n_step_moments_match_the_stein_recursion(n_steps):
    # S_c = s_c I: E[A^T S A] = s E[(I - a s G)^2N] = s tA2 and E[A] = sum_k c_k E tr(sG)^k / p (G standard)
    p, n_t, alpha = 3, 4, 0.25
    scales, means = np.array([0.5, 2.0]), np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]])
    mix = dict(weights=[0.3, 0.7], s=np.outer(scales, np.ones(p)), t=np.zeros((2, p)), w0=means, sigma=[0.1, 0.2])
    k_maml = [float(s * nstep_trace_moments(Fraction(alpha * s), n_steps, n_t, p)[0]) for s in scales]
    k_fo = [float(s * sum(Fraction(math.comb(n_steps, k)) * Fraction(-alpha * s) ** k
                          * wishart_moment((k,), n_t, p) / p for k in range(n_steps + 1))) for s in scales]
    for algorithm, K in (("maml", k_maml), ("fomaml", k_fo)):
        expected = (0.3 * K[0] * means[0] + 0.7 * K[1] * means[1]) / (0.3 * K[0] + 0.7 * K[1])
        got = pop.population_omega(**mix, algorithm=algorithm, alpha_t=alpha, n_t=n_t, n_steps=n_steps,
                                   omega0=np.zeros(p))
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=algorithm)


# ----------------------------------------------------------------------------- singular systems and refusals
def test_a_singular_first_order_coordinate_keeps_omega0_and_an_inconsistent_one_raises():
    one = dict(weights=[1.0], s=[[0.3, 2.0]], t=[[0.1, 0.1]], w0=[[1.0, -1.0]], sigma=[0.5])
    omega0 = np.array([7.0, 7.0])
    got = pop.population_omega(**one, algorithm="fomaml", alpha_t=1 / 0.3, n_t=3, omega0=omega0)
    np.testing.assert_allclose(got, [7.0, -1.0], rtol=1e-14)  # E[A] = 1 - alpha s = 0 on coordinate 0
    maml = pop.population_omega(**one, algorithm="maml", alpha_t=1 / 0.3, n_t=3, omega0=omega0)
    np.testing.assert_allclose(maml, [1.0, -1.0], rtol=1e-13)  # MAML's E[A S A] keeps its 1/n_t term
    two = dict(weights=[0.5, 0.5], s=[[1.0], [3.0]], t=[[0.0], [0.0]], w0=[[1.0], [2.0]], sigma=[0.1, 0.1])
    alpha = (0.5 * 1.0 + 0.5 * 3.0) / (0.5 * 1.0 + 0.5 * 9.0)  # sum_c pi_c s_c (1 - alpha s_c) = 0
    with pytest.raises(ValueError, match="no population fixed point at alpha_t"):
        pop.population_omega(**two, algorithm="fomaml", alpha_t=alpha, n_t=3, omega0=[0.0])


def test_imaml_and_too_many_steps_are_refused_with_the_reason():
    with pytest.raises(NotImplementedError, match=r"\(H \+ lam I\)\^-1 .* no closed form at finite n_t"):
        pop.population_omega(**MIX, algorithm="imaml", alpha_t=0.0, n_t=2, lam=1.0, omega0=OMEGA0)
    with pytest.raises(NotImplementedError, match="Wick pairings"):
        pop.population_omega(**MIX, algorithm="maml", alpha_t=0.1, n_t=2, n_steps=4, omega0=OMEGA0)
    with pytest.raises(NotImplementedError, match="only n_steps <= 6"):
        pop.population_omega(**MIX, algorithm="fomaml", alpha_t=0.1, n_t=2, n_steps=7, omega0=OMEGA0)


def test_overflow_raises_instead_of_returning_inf():
    with pytest.raises(NonFiniteResultError, match="alpha_t"):
        pop.population_omega(**MIX, algorithm="maml", alpha_t=1e200, n_t=2, omega0=OMEGA0)
    with pytest.raises(NonFiniteResultError, match="alpha_r"):
        pop.population_loss(**MIX, algorithm="erm", alpha_t=0.0, n_t=2, alpha_r=np.array([0.1, 1e200]), n_r=2,
                            omega0=OMEGA0)


@pytest.mark.parametrize("change, name", [
    (dict(weights=[0.5, 0.6]), "weights"), (dict(weights=[-0.2, 1.2]), "weights"), (dict(weights=0.5), "weights"),
    (dict(s=S * [[1, 0, 1], [1, 1, 1]]), "s"), (dict(s=S[:1]), "s"), (dict(t=-T), "t"),
    (dict(w0=W0[:, :2]), "w0"), (dict(sigma=[np.nan, 0.1]), "sigma"), (dict(algorithm="reptile"), "algorithm"),
    (dict(alpha_t=np.inf), "alpha_t"), (dict(n_t=0), "n_t"), (dict(algorithm="erm", n_steps=2), "n_steps"),
    (dict(lam=1.0), "lam"), (dict(algorithm="imaml"), "lam"), (dict(omega0=np.zeros(2)), "omega0"),
    (dict(n_r=0), "n_r"), (dict(alpha_r=np.array([0.1, np.nan])), "alpha_r"),
])
def test_bad_input_names_the_parameter(change, name):
    kwargs = dict(MIX, algorithm="maml", alpha_t=0.2, n_t=2, alpha_r=0.1, n_r=2, omega0=OMEGA0) | change
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        pop.population_loss(**kwargs)


def test_front_door_reads_every_gaussian_model():
    """``lm.theory.test_loss(..., approximation="population")`` builds (P1)-(P4)'s arrays from the problem's fields."""
    import linmeta as lm

    base = lm.presets.FIG3.replace(w0=np.linspace(-0.2, 0.2, 30), omega0=np.full(30, 0.1))
    aniso = base.replace(nu=None, task_cov=np.linspace(0, 0.01, 30), input_cov=np.linspace(0.5, 2, 30), sigma=0.3)
    mix = lm.Mixture([(1.0, base), (3.0, aniso)])
    s = np.array([np.ones(30), np.linspace(0.5, 2, 30)])
    t = np.array([np.full(30, 0.2**2 / 30), np.linspace(0, 0.01, 30)])
    w0 = np.array([base.w0, base.w0])
    for alg in ({"algorithm": "maml"}, {"algorithm": "fomaml", "n_steps": 2}, {"algorithm": "erm"}):
        got = lm.theory.test_loss(mix.replace(**alg), approximation="population", alpha_r=np.array([0.0, 0.3]))
        want = pop.population_loss([0.25, 0.75], s, t, w0, [0.2, 0.3], alpha_t=0.2, n_t=5, alpha_r=np.array([0.0, 0.3]),
                               n_r=10, omega0=base.omega0, n_steps=alg.get("n_steps", 1),
                               algorithm=alg["algorithm"])
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_population_is_the_theorems_at_large_m():
    """Isotropic one-step MAML and ERM: the population limit is Theorem 2 (and its ERM form) as m grows."""
    import linmeta as lm

    for prob in (lm.presets.FIG3, lm.presets.FIG3.replace(algorithm="erm"), lm.presets.FIG3.replace(alpha_t=-0.7)):
        limit = lm.theory.test_loss(prob, approximation="population")
        far = lm.theory.test_loss(prob.replace(m=10**7))
        assert limit == pytest.approx(far, rel=1e-6)
        assert abs(lm.theory.test_loss(prob.replace(m=40)) / limit - 1) > 1e-3   # finite m differs


@pytest.mark.statistical
def test_population_against_simulation_at_large_m():
    """A simulated two-family mixture, extrapolated from m and 2m, lands on the population loss.

    Richardson: the bias is of order 1/m.  The same simulations reject one family alone and n_t + 1 for n_t.
    """
    import linmeta as lm

    base = lm.Problem(p=4, m=2000, n_t=3, n_v=2, n_r=3, sigma=0.3, nu=0.4, alpha_t=0.3, alpha_r=0.3)
    hard = base.replace(sigma=0.1, nu=None, task_cov=np.full(4, 0.05), input_cov=np.array([0.3, 0.5, 2.0, 3.0]),
                        w0=np.full(4, 0.8))
    mix = lm.Mixture([(0.5, base), (0.5, hard)])
    e1, e2 = lm.simulate(mix, 200, 0), lm.simulate(mix.replace(m=4000), 200, 1)
    limit, se = 2 * e2.mean - e1.mean, np.hypot(2 * e2.stderr, e1.stderr)
    assert abs(limit - lm.theory.test_loss(mix, approximation="population")) < 4 * se          # measured z = -0.07
    assert abs(limit - lm.theory.test_loss(base, approximation="population")) > 4 * se
    assert abs(limit - lm.theory.test_loss(mix.replace(n_t=4), approximation="population")) > 4 * se
