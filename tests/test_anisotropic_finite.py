"""Exact finite-size theory for one diagonal Gaussian family (docs: theory, A6, A7).

A6 (scalar ``input_cov``, any ``alpha_t``) and A7 (general ``input_cov``, ``p < k``, no inner step) are
checked against Monte Carlo: an independent NumPy simulation written here and ``lm.simulate(method="exact")``.
Every statistical check also shows that a plausible wrong formula is rejected at the same sample size.
"""
import numpy as np
import pytest

import linmeta as lm
from linmeta.theory._anisotropic_finite import distance_alpha0_under
from linmeta.theory._generated_finite import exact_alpha0_under
from linmeta.theory._warnings import ApproximationDomainWarning


# ---------------------------------------------------------------- helpers (written independently of linmeta)
def _meta_test_diag(s, alpha_r, n_r):
    """``M = S - 2 a S^2 + a^2 (S^3 + (S^3 + S tr S^2) / n_r)`` (docs: theory, A1)."""
    return s - 2 * alpha_r * s**2 + alpha_r**2 * (s**3 + (s**3 + s * np.sum(s**2)) / n_r)


def _loss_from_dm(prob, d_m):
    """A1: ``sigma^2/2 + [D_M + tr(M T) + alpha_r^2 sigma^2 tr(S^2) / n_r] / 2``."""
    s = np.broadcast_to(np.asarray(prob.input_cov, float), (prob.p,))
    M = _meta_test_diag(s, prob.alpha_r, prob.n_r)
    return prob.sigma**2 / 2 + (d_m + M @ prob.task_cov + prob.alpha_r**2 * prob.sigma**2 * np.sum(s**2) / prob.n_r) / 2


def _numpy_monte_carlo(prob, n_runs, seed, batch=2000):
    """Per-run ``(|omega* - w0|^2, loss given omega*)`` of least squares on the pooled rows (no inner step).

    ``omega*`` minimises ``sum_i |X_i omega - y_i|^2`` over ``m`` tasks with ``per_task`` rows each
    (``n_v``; ERM: ``n_t + n_v``), ``x ~ N(0, S)``, ``w_i ~ N(w0, T)``, ``y = X w + sigma e``.
    """
    rng = np.random.default_rng(seed)
    p, m = prob.p, prob.m
    per_task = prob.n_v + (prob.n_t if prob.algorithm == "erm" else 0)
    s = np.broadcast_to(np.asarray(prob.input_cov, float), (p,))
    M = _meta_test_diag(s, prob.alpha_r, prob.n_r)
    dist, quad = [], []
    for start in range(0, n_runs, batch):
        r = min(batch, n_runs - start)
        X = rng.standard_normal((r, m, per_task, p)) * np.sqrt(s)
        w = prob.w0 + rng.standard_normal((r, m, p)) * np.sqrt(prob.task_cov)
        y = np.einsum("rijp,rip->rij", X, w) + prob.sigma * rng.standard_normal((r, m, per_task))
        X, y = X.reshape(r, m * per_task, p), y.reshape(r, m * per_task)
        omega = np.linalg.solve(np.einsum("rkp,rkq->rpq", X, X), np.einsum("rkp,rk->rp", X, y)[..., None])[..., 0]
        d = omega - prob.w0
        dist.append(np.sum(d**2, axis=1))
        quad.append(d**2 @ M)
    dist, quad = np.concatenate(dist), np.concatenate(quad)
    return dist, _loss_from_dm(prob, quad)


def _z(values, expected):
    return (values.mean() - expected) / (values.std(ddof=1) / np.sqrt(len(values)))


def _scalar_equivalent(prob, s):
    """Return ``prob`` with ``input_cov = s`` (a float), everything else unchanged."""
    return prob.replace(input_cov=float(s))


# ---------------------------------------------------------------- problems
P = 6
TWO_LEVEL = np.r_[np.full(3, 3.0), np.full(3, 0.3)]
POWER_LAW = 2.5 * np.arange(1, P + 1, dtype=float) ** -1.5
TASKS = np.array([0.02, 0.3, 0.05, 0.4, 0.01, 0.12])
BASE = lm.Problem(p=P, m=5, n_t=3, n_v=4, n_r=8, sigma=0.5, nu=None, alpha_t=0.0, alpha_r=0.15,
                  input_cov=TWO_LEVEL, task_cov=TASKS, w0=np.linspace(-0.5, 0.5, P), omega0=np.full(P, 0.3))
ERM = BASE.replace(algorithm="erm", m=4, n_t=3, n_v=2)   # k = (n_t + n_v) m = 20, five rows per task
CASES = {"two-level MAML": BASE, "power-law MAML": BASE.replace(input_cov=POWER_LAW),
         "two-level ERM": ERM, "power-law ERM": ERM.replace(input_cov=POWER_LAW)}


def _dropped_pair_term(prob):
    """Control: A7 without the same-task off-diagonal pairs' term ``(n_v - 1)/(k - 1) (tr(M T) - kb)``."""
    s = np.asarray(prob.input_cov, float)
    M = _meta_test_diag(s, prob.alpha_r, prob.n_r)
    k, p = prob.m * (prob.n_v + (prob.n_t if prob.algorithm == "erm" else 0)), prob.p
    tr_a, tr_b = np.sum(M / s), np.sum(s * prob.task_cov)
    kb = (k * tr_a * tr_b + 2 * (k - p - 2) * np.sum(M * prob.task_cov)) / ((k + 2) * (k - p - 1))
    return _loss_from_dm(prob, prob.sigma**2 * tr_a / (k - p - 1) + kb)


def _controls(prob):
    with pytest.warns(ApproximationDomainWarning, match=r"p/k = 0.3 > 0.2"):  # the leading order knows it is off
        leading = lm.theory.test_loss(prob)
    return {"leading order (A2/A4)": leading,
            "isotropic at the mean input variance": lm.theory.test_loss(
                _scalar_equivalent(prob, np.mean(prob.input_cov)), approximation="finite"),
            "no same-task pair term": _dropped_pair_term(prob)}


# ---------------------------------------------------------------- A7
@pytest.mark.statistical
@pytest.mark.parametrize("case", list(CASES))
def test_a7_matches_independent_numpy_monte_carlo(case):
    """Distance and loss within 3.5 SE of NumPy Monte Carlo; the three controls off by more than 6 SE."""
    prob = CASES[case]
    dist, loss = _numpy_monte_carlo(prob, 100_000, seed=11)
    assert abs(_z(dist, lm.theory.expected_distance(prob, approximation="finite"))) < 3.5
    assert abs(_z(loss, lm.theory.test_loss(prob, approximation="finite"))) < 3.5
    for name, wrong in _controls(prob).items():
        assert abs(_z(loss, wrong)) > 6, name


@pytest.mark.statistical
@pytest.mark.parametrize("case", list(CASES))
def test_a7_matches_linmeta_simulation(case):
    """``lm.simulate(method="exact")`` agrees within 3.5 SE; the controls are off by more than 6 SE."""
    prob = CASES[case]
    est = lm.simulate(prob, n_runs=60_000, seed=3, method="exact")
    z = (est.mean - lm.theory.test_loss(prob, approximation="finite")) / est.stderr
    assert abs(z) < 3.5
    for name, wrong in _controls(prob).items():
        assert abs((est.mean - wrong) / est.stderr) > 6, name


def test_a7_reduces_to_e0_at_identity():
    """``S = I``, ``T = nu^2/p I``, ``M = I``: the isotropic exact result (E0), at several sizes."""
    for p, m, n_v, sigma, nu in ((4, 5, 4, 0.3, 0.7), (10, 3, 7, 1.0, 0.2), (7, 12, 1, 0.0, 1.3)):
        got = distance_alpha0_under(np.ones(p), np.full(p, nu**2 / p), np.ones(p), sigma, p, n_v * m, n_v)
        assert got == pytest.approx(exact_alpha0_under(p, m, 1, n_v, sigma, nu, 0.0, 0.0), rel=1e-13)


def test_erm_reads_no_alpha_t_override():
    with pytest.raises(ValueError, match="alpha_t must be None for algorithm='erm'"):
        lm.theory.test_loss(ERM, approximation="finite", alpha_t=0.1)


# ---------------------------------------------------------------- A6
T_UNDER = np.r_[0.4, np.full(9, 0.01)]    # tr T = 0.49, p max T = 4
A6_UNDER = lm.Problem(p=10, m=20, n_t=10, n_v=4, n_r=10, sigma=0.3, nu=None, alpha_t=0.15, alpha_r=0.2,
                      input_cov=2.0, task_cov=T_UNDER, w0=np.full(10, 0.3))
T_OVER = np.r_[np.full(3, 0.3), np.full(37, 0.002)]
A6_OVER = lm.Problem(p=40, m=6, n_t=10, n_v=5, n_r=10, sigma=1.0, nu=None, alpha_t=-0.125, alpha_r=0.05,
                     input_cov=4.0, task_cov=T_OVER, w0=np.r_[np.full(20, 0.1), np.zeros(20)])


def _isotropic_twin(prob, **changes):
    """Return the equivalent isotropic problem of A6, written out by hand (``changes``: the controls' mistakes)."""
    s = float(prob.input_cov)
    kw = dict(p=prob.p, m=prob.m, n_t=prob.n_t, n_v=prob.n_v, n_r=prob.n_r, sigma=prob.sigma,
              nu=np.sqrt(s * prob.task_cov.sum()), alpha_t=s * prob.alpha_t, alpha_r=s * prob.alpha_r,
              omega0=np.sqrt(s) * (prob.omega0 - prob.w0))
    return lm.Problem(**{**kw, **changes})


@pytest.mark.statistical
@pytest.mark.parametrize("prob", [A6_UNDER, A6_OVER], ids=["under", "over"])
def test_a6_matches_linmeta_simulation(prob):
    """Simulation agrees with the isotropic twin's simulation and with the theory; the controls do not.

    The reduction is exact: within 3.5 SE of the difference of the two simulations.  The theory is within
    3 SE + 0.3 % (the isotropic theory's validated accuracy at alpha_t != 0); ``nu'^2 = p max(t)`` and an
    unscaled ``alpha_t`` are rejected at the same sample size.
    """
    n_runs = 20_000
    est = lm.simulate(prob, n_runs=n_runs, seed=1, method="exact", return_losses=True)
    twin = lm.simulate(_isotropic_twin(prob), n_runs=n_runs, seed=2, method="exact", return_losses=True)
    assert abs(est.mean - twin.mean) < 3.5 * np.hypot(est.stderr, twin.stderr)
    theory = lm.theory.test_loss(prob, approximation="finite")
    assert abs(est.mean - theory) < 3 * est.stderr + 0.003 * theory
    s = float(prob.input_cov)
    for wrong in (_isotropic_twin(prob, nu=np.sqrt(s * prob.p * prob.task_cov.max())),
                  _isotropic_twin(prob, alpha_t=prob.alpha_t)):
        control = lm.theory.test_loss(wrong, approximation="finite")
        assert abs(est.mean - control) > 6 * est.stderr + 0.003 * control


@pytest.mark.parametrize("prob", [A6_UNDER, A6_OVER, BASE.replace(input_cov=2.0), ERM.replace(input_cov=0.5)],
                         ids=["under", "over", "alpha0", "erm"])
def test_a6_is_the_isotropic_twin(prob):
    """The reduction itself: loss equal, ``E|omega* - w0|^2 = D'/s``; a vector of equal entries = the float."""
    s = float(prob.input_cov)
    twin = _isotropic_twin(prob) if prob.algorithm == "maml" else _isotropic_twin(prob).replace(
        algorithm="erm", alpha_t=0.0)
    assert lm.theory.test_loss(prob, approximation="finite") == pytest.approx(
        lm.theory.test_loss(twin, approximation="finite"), rel=1e-13)
    assert lm.theory.expected_distance(prob, approximation="finite") == pytest.approx(
        lm.theory.expected_distance(twin, approximation="finite") / s, rel=1e-13)
    vector = prob.replace(input_cov=np.full(prob.p, s))
    assert lm.theory.test_loss(vector, approximation="finite") == lm.theory.test_loss(prob, approximation="finite")


def test_a6_warns_about_the_equivalent_problem():
    """Outside the isotropic domain the warning names the equivalent problem and its (scaled) alpha_t."""
    prob = A6_UNDER.replace(alpha_t=0.7)  # alpha_t' = 1.4 > 1 (and g > 24)
    want = (r"input_cov = 2 I: the loss is that of the equivalent isotropic problem \(alpha_t' = input_cov alpha_t "
            r"= 1.4.*alpha_t = 1.4 \(needs -2 <= alpha_t <= 1\)")
    with pytest.warns(ApproximationDomainWarning, match=want):
        lm.theory.test_loss(prob, approximation="finite")


def test_a6_rates_broadcast():
    """Arrays of rates: each entry is the scalar call's."""
    a_t = np.array([0.0, 0.1, A6_UNDER.alpha_t])
    got = lm.theory.test_loss(A6_UNDER, approximation="finite", alpha_t=a_t)
    assert got.shape == (3,)
    assert got[2] == lm.theory.test_loss(A6_UNDER, approximation="finite")
    assert got[0] == lm.theory.test_loss(A6_UNDER.replace(alpha_t=0.0), approximation="finite")


# ---------------------------------------------------------------- refusals
def test_overparameterised_general_input_cov_without_inner_step_is_the_proportional_limit():
    prob = BASE.replace(m=2, n_v=1)  # k = 2 < p = 6
    with pytest.warns(ApproximationDomainWarning, match=r"^approximation='finite' above the threshold without an "
                      r"inner step is the proportional limit: approximation='proportional' \(A5\) is outside"):
        finite = lm.theory.test_loss(prob, approximation="finite")
    with pytest.warns(ApproximationDomainWarning):
        assert finite == lm.theory.test_loss(prob, approximation="proportional")


def test_inner_step_with_general_input_cov_refused_where_its_leading_order_is():
    prob = BASE.replace(m=2, n_v=2, alpha_t=0.2)  # k = 4, rho = k max K / tr K >= 1: A3 and A8 refuse
    refusal = pytest.raises(NotImplementedError, match=r"first order in rho = k max_j K_j / tr K = \d")
    with pytest.warns(lm.InfiniteMomentWarning), refusal:
        lm.theory.test_loss(prob, approximation="finite")


def test_refuses_mixtures_and_samplers():
    mix = lm.Mixture([(0.5, BASE), (0.5, BASE.replace(input_cov=1.0))])
    with pytest.raises(NotImplementedError) as err:
        lm.theory.test_loss(mix, approximation="finite")
    assert str(err.value) == (
        "no closed form at approximation='finite' for the task model 'mixture of 2': a mixture's finite-size "
        "theory is not derived (its tasks are not one Gaussian family); approximation='population' gives the "
        "exact m -> infinity loss of Gaussian families")

    def draw(rng, n):
        return {"input_factor": np.ones((n, P)), "w": rng.standard_normal((n, P)), "sigma": np.full(n, 0.3)}

    sampler = BASE.replace(sigma=None, nu=None, w0=None, task_cov=None, input_cov=None, tasks=draw)
    with pytest.raises(NotImplementedError, match="the expectation over a sampler's tasks has no closed form here"):
        lm.theory.expected_distance(sampler, approximation="finite")


@pytest.mark.parametrize("changes", [dict(n_steps=2), dict(algorithm="fomaml"), dict(algorithm="imaml", lam=1.5)])
def test_other_algorithms_get_the_isotropic_refusal(changes):
    """The same refusal as the isotropic finite-size theory gives them."""
    aniso, iso = BASE.replace(**changes), lm.presets.FIG3.replace(**changes)
    for prob in (aniso, iso):
        with pytest.raises(ValueError, match=r"^the finite-size theory covers one-step MAML only; got algorithm="):
            lm.theory.test_loss(prob, approximation="finite")


# ---------------------------------------------------------------- symbolic
@pytest.mark.parametrize("case", list(CASES))
def test_symbolic_a7_equals_numeric_theory(case):
    """``linmeta.symbolic.exact_alpha0_test_loss_anisotropic`` in the spectral symbols = the numeric theory."""
    import linmeta.symbolic as ls

    prob = CASES[case]
    expr = ls.exact_alpha0_test_loss_anisotropic(pooled=prob.algorithm == "erm")
    assert ls.to_callable(expr)(prob) == pytest.approx(lm.theory.test_loss(prob, approximation="finite"), rel=1e-12)
