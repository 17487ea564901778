"""linmeta.theory: API behaviour, errors, vectorisation, and independent statements.

Three-way check, part (b): limits and closed forms written here
independently of the emitted code (inverse-Wishart anchors at ``alpha_t = 0``,
the T0 reduction, the printed form where it agrees).  Part (c), simulation, is
in ``test_theory_vs_simulation.py``.
"""

import numpy as np
import pytest

import linmeta as lm
from linmeta import theory

FIG2, FIG3 = lm.presets.FIG2, lm.presets.FIG3
# one more problem per regime; OVER has omega0 != w0 so the (1 - k/p)|omega0 - w0|^2 term is exercised
OVER = lm.Problem(p=100, m=2, n_t=50, n_v=5, n_r=50, sigma=0.5, nu=1.0, alpha_t=0.3, alpha_r=0.3,
                  omega0=np.full(100, 0.1))
UNDER = lm.Problem(p=10, m=100, n_t=20, n_v=10, n_r=20, sigma=0.5, nu=0.5, alpha_t=0.3, alpha_r=0.3)
ALL = [FIG2, FIG3, OVER, UNDER]


def t0(prob, d2, alpha_r=None):
    a = prob.alpha_r if alpha_r is None else alpha_r
    h_r = (1 - a) ** 2 + a**2 * (prob.p + 1) / prob.n_r
    return prob.sigma**2 / 2 * (1 + a**2 * prob.p / prob.n_r) + h_r / 2 * (prob.nu**2 + d2)


# ------------------------------------------------------------------ behaviour
@pytest.mark.parametrize("prob", ALL, ids=["fig2", "fig3", "over", "under"])
def test_loss_is_t0_of_distance(prob):
    assert theory.test_loss(prob) == pytest.approx(t0(prob, theory.expected_distance(prob)), rel=1e-13)
    assert isinstance(theory.test_loss(prob), float)


@pytest.mark.parametrize("prob", ALL, ids=["fig2", "fig3", "over", "under"])
def test_vectorised_over_rates_equals_scalar_calls(prob):
    a_t = np.linspace(-1.5, 1.0, 6)
    a_r = np.array([[0.0], [0.4]])
    grid = theory.test_loss(prob, alpha_t=a_t, alpha_r=a_r)
    assert grid.shape == (2, 6)
    for i, r in enumerate(a_r[:, 0]):
        for j, t in enumerate(a_t):
            assert grid[i, j] == pytest.approx(theory.test_loss(prob.replace(alpha_t=t, alpha_r=r)), rel=1e-13)
    np.testing.assert_allclose(theory.expected_distance(prob, alpha_t=a_t),
                               [theory.expected_distance(prob.replace(alpha_t=t)) for t in a_t], rtol=1e-13)
    np.testing.assert_allclose(theory.optimal_alpha_r(prob, alpha_t=a_t),
                               [theory.optimal_alpha_r(prob.replace(alpha_t=t)) for t in a_t], rtol=1e-13)


def test_printed_form_outside_its_regime_names_the_regime():
    with pytest.raises(ValueError, match="overparameterized.*p=60 > n_v\\*m=6"):
        theory.test_loss(FIG2, form="printed")
    with pytest.raises(ValueError, match="overparameterized"):
        theory.optimal_alpha_t(FIG2, form="printed")


@pytest.mark.parametrize("kwargs, match", [
    (dict(form="talk"), "form must be one of"),
    (dict(approximation="exact"), "approximation must be one of"),
    (dict(alpha_t=float("nan")), "alpha_t must be finite"),
    (dict(alpha_r=[0.1, np.inf]), "alpha_r must be finite"),
    (dict(alpha_t="a"), "alpha_t must be a finite real"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        theory.test_loss(FIG3, **kwargs)


def test_variants_dispatch_to_their_own_theory():
    # N-step MAML has a derived leading order (derivations/variants.py); at N = 1 it is theorem 2 itself
    two = theory.test_loss(FIG3.replace(n_steps=2))
    assert np.isfinite(two) and two != theory.test_loss(FIG3)
    for prob in (FIG3.replace(algorithm="fomaml"), FIG3.replace(algorithm="imaml", lam=1.0)):
        with pytest.raises(NotImplementedError, match="no closed-form theory"):
            theory.test_loss(prob)
    with pytest.raises(ValueError, match="one-step MAML"):  # the printed theorem is about one-step MAML only
        theory.test_loss(FIG3.replace(n_steps=2), form="printed")
    with pytest.raises(ValueError, match="linmeta.Problem"):
        theory.test_loss({"p": 3})


# UNDER (m = 100) is outside the validated domain (m <= 40): both routes warn; the dispatch is the claim here
@pytest.mark.filterwarnings("ignore::linmeta.theory.ApproximationDomainWarning")
def test_finite_dispatches_to_the_finite_size_theory():
    from linmeta.theory import _finite

    q = UNDER
    assert theory.test_loss(q, approximation="finite") == _finite.test_loss(q)
    np.testing.assert_allclose(theory.test_loss(q, approximation="finite", alpha_t=[0.0, 0.5]),
                               [_finite.test_loss(q.replace(alpha_t=a)) for a in (0.0, 0.5)], rtol=0)
    assert theory.expected_distance(q, approximation="finite") == _finite.expected_distance(q)
    with pytest.raises(ValueError, match="only for approximation='leading'"):
        theory.test_loss(q, form="printed", approximation="finite")

def test_t1_at_alpha_t_zero():
    """alpha_t = 0: E|omega*-w0|^2 = (1 - k/p)|omega0-w0|^2 + k/p (nu^2 + sigma^2) (projection picture)."""
    prob = OVER.replace(alpha_t=0.0)
    s2 = float(prob.start_offset @ prob.start_offset)
    k, p = prob.k, prob.p
    assert theory.expected_distance(prob) == pytest.approx((1 - k / p) * s2 + k / p * (prob.nu**2 + prob.sigma**2))


def test_t1_as_printed():
    """T1 (docs: theory, §3), typed in here, equals the API at several alpha_t."""
    for prob in (FIG2, OVER):
        s2 = float(prob.start_offset @ prob.start_offset)
        k, p = prob.k, prob.p
        for a in (-1.0, -0.2, 0.0, 0.7):
            q = prob.replace(alpha_t=a)
            printed = (q.sigma**2 / 2 * (1 + q.alpha_r**2 * p / q.n_r)
                       + q.h_r * (q.nu**2 / 2 * (1 + k / p) + (1 - k / p) * s2 / 2
                                  + q.sigma**2 * k / (2 * p) * (1 + a**2 * p / q.n_t) / q.h_t))
            assert theory.test_loss(q) == pytest.approx(printed, rel=1e-13)


def test_t2_at_alpha_t_zero_is_inverse_wishart_leading_order():
    """Check the noise part of the distance at alpha_t = 0.

    alpha_t = 0: omega* - w0 = (sum V)^-1 sum (V u + X^T z); the noise part is exactly
    sigma^2 p/(k - p - 1) (inverse Wishart), whose leading order in 1/m is sigma^2 p/k.
    """
    prob = FIG3.replace(alpha_t=0.0, nu=0.0)
    for m in (40, 400, 4000):
        q = prob.replace(m=m)
        exact = q.sigma**2 * q.p / (q.k - q.p - 1)
        assert theory.expected_distance(q) == pytest.approx(q.sigma**2 * q.p / q.k, rel=1e-13)
        assert abs(theory.expected_distance(q) / exact - 1) <= (q.p + 1) / q.k
    # with task spread: E|(sum V)^-1 sum V u_i|^2 ~ nu^2 (n_v + 1 + p)/(n_v m) from E[V^2] = n_v(n_v+1+p) I
    q = FIG3.replace(alpha_t=0.0, sigma=0.0)
    assert theory.expected_distance(q) == pytest.approx(q.nu**2 * (q.n_v + 1 + q.p) / q.k, rel=1e-13)


@pytest.mark.parametrize("prob", [FIG3, UNDER], ids=["fig3", "under"])
def test_printed_and_derived_agree_exactly_at_alpha_t_zero_and_differ_by_h_t(prob):
    base = prob.sigma**2 / 2 * (1 + prob.alpha_r**2 * prob.p / prob.n_r) + prob.h_r * prob.nu**2 / 2
    q = prob.replace(alpha_t=0.0)
    assert theory.test_loss(q, form="printed") == pytest.approx(theory.test_loss(q), rel=1e-14)
    for a in (-0.7, 0.2, 0.6, 1.5):
        q = prob.replace(alpha_t=a)
        ratio = (theory.test_loss(q) - base) / (theory.test_loss(q, form="printed") - base)
        assert ratio == pytest.approx(1 / q.h_t, rel=1e-12)


def test_g_closed_forms():
    """g1..g4 from the Wishart moments typed in here (E tr H = p, E tr H^2 = p(n+p+1)/n, ...)."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        n, p, a = int(rng.integers(1, 50)), int(rng.integers(1, 50)), rng.uniform(-2, 2)
        m2 = p * (n + p + 1) / n
        m3 = p * (n**2 + 3 * n * p + 3 * n + p**2 + 3 * p + 4) / n**2
        m11 = p * (n * p + 2) / n
        m12 = p * (n * p + 4) * (n + p + 1) / n**2
        g1, g2, g3, g4 = theory.g(a, n, p)
        assert g1 == pytest.approx((p - 2 * a * m2 + a**2 * m3) / p, rel=1e-12)
        assert g2 == pytest.approx((p * p - 2 * a * m11 + a**2 * m12) / p**2, rel=1e-12)
    assert theory.g(0.0, 5, 30) == pytest.approx((1, 1, 1, 1))
    # n_t -> infinity: H -> I
    a = np.array([-0.5, 0.3])
    big = theory.g(a, 10**7, 3)
    np.testing.assert_allclose(big, [(1 - a) ** 2, (1 - a) ** 2, (1 - a) ** 4, (1 - a) ** 4], rtol=1e-5)
    with pytest.raises(ValueError, match="n_t must be an integer >= 1"):
        theory.g(0.1, 0, 3)


def test_g_against_monte_carlo():
    rng = np.random.default_rng(11)
    n, p, a, N = 4, 3, -0.6, 100_000
    X = rng.standard_normal((N, n, p))
    H = np.einsum("sai,saj->sij", X, X) / n
    A = np.eye(p) - a * H
    A2 = A @ A
    tr = lambda M: np.trace(M, axis1=1, axis2=2)  # noqa: E731
    samples = [tr(H @ A2) / p, tr(H) * tr(A2) / p**2, tr(A2 @ A2) / p, tr(A2) ** 2 / p**2]
    for exact, s in zip(theory.g(a, n, p), samples, strict=True):
        z = (s.mean() - exact) / (s.std(ddof=1) / np.sqrt(N))
        assert abs(z) < 5, (exact, s.mean(), z)


@pytest.mark.parametrize("prob", ALL, ids=["fig2", "fig3", "over", "under"])
def test_slope_at_alpha_t_zero(prob):
    """dL/dalpha_t at 0: h_r sigma^2 k/p (T1), h_r sigma^2 p/(n_v m) (T2, the talk's value)."""
    eps = 1e-6
    slope = (theory.test_loss(prob, alpha_t=eps) - theory.test_loss(prob, alpha_t=-eps)) / (2 * eps)
    expected = prob.h_r * prob.sigma**2 * (prob.k / prob.p if prob.regime == "overparameterized" else prob.p / prob.k)
    assert slope == pytest.approx(expected, rel=1e-6)
    assert slope > 0


def test_printed_slope_at_zero_has_the_wrong_sign():
    """Theorem 2 as printed gives dL/dalpha_t(0) = -h_r nu^2 (n_v + 1 + p)/(n_v m) < 0."""
    eps = 1e-6
    slope = (theory.test_loss(FIG3, "printed", alpha_t=eps)
             - theory.test_loss(FIG3, "printed", alpha_t=-eps)) / (2 * eps)
    assert slope == pytest.approx(-FIG3.h_r * FIG3.nu**2 * (FIG3.n_v + 1 + FIG3.p) / FIG3.k, rel=1e-6)


@pytest.mark.parametrize("prob", ALL, ids=["fig2", "fig3", "over", "under"])
def test_optimal_alpha_t_is_negative_and_minimises(prob):
    a_star = theory.optimal_alpha_t(prob)
    assert a_star < 0
    grid = np.linspace(-5, 5, 20001)
    assert theory.test_loss(prob, alpha_t=a_star) <= theory.test_loss(prob, alpha_t=grid).min() + 1e-15
    if prob.regime == "overparameterized":
        c = (prob.n_t + 1) / (2 * prob.p)
        assert a_star == pytest.approx(-c - np.sqrt(c**2 + prob.n_t / prob.p), rel=1e-14)
        assert theory.optimal_alpha_t(prob.replace(alpha_r=0.9)) == a_star
    else:
        eps = 1e-5
        slope = (theory.test_loss(prob, alpha_t=a_star + eps)
                 - theory.test_loss(prob, alpha_t=a_star - eps)) / (2 * eps)
        assert abs(slope) < 1e-9


@pytest.mark.parametrize("prob", [FIG3, FIG3.replace(m=5, n_t=8)], ids=["fig3", "m5"])
def test_under_parameterised_optimum_is_the_exact_stationary_point(prob):
    """optimal_alpha_t against a 30-digit root of d/dalpha_t of the sympy Theorem 2 distance."""
    sp = pytest.importorskip("sympy")
    import linmeta.symbolic as ls

    s = ls.symbols
    exact = {s.p: prob.p, s.m: prob.m, s.n_t: prob.n_t, s.n_v: prob.n_v,
             s.sigma: sp.nsimplify(prob.sigma), s.nu: sp.nsimplify(prob.nu)}
    slope = sp.diff(ls.expected_distance("underparameterized").subs(exact), s.alpha_t)
    a_star = theory.optimal_alpha_t(prob)
    root = float(sp.nsolve(slope, s.alpha_t, a_star, prec=30))
    assert a_star == pytest.approx(root, rel=1e-11)   # P is interpolated from float values: ~1e-12
    # control: a minimiser located from loss values alone (good to about sqrt(eps)) misses this tolerance
    located = a_star * (1 + 4e-9)
    assert located != pytest.approx(root, rel=1e-11)


def test_printed_optimum_is_positive_at_fig3():
    assert theory.optimal_alpha_t(FIG3, form="printed") > 0


@pytest.mark.parametrize("prob", ALL, ids=["fig2", "fig3", "over", "under"])
def test_optimal_alpha_r_between_zero_and_one_over_one_plus(prob):
    a_r = theory.optimal_alpha_r(prob)
    assert 0 < a_r < 1 / (1 + (prob.p + 1) / prob.n_r)
    grid = np.linspace(-1, 2, 30001)
    assert theory.test_loss(prob, alpha_r=a_r) <= theory.test_loss(prob, alpha_r=grid).min() + 1e-15
    # sigma = 0: the noise quadratic vanishes and the optimum reaches the upper end
    q = prob.replace(sigma=0.0)
    assert theory.optimal_alpha_r(q) == pytest.approx(1 / (1 + (q.p + 1) / q.n_r), rel=1e-13)


def test_docstring_states_what_test_loss_covers():
    doc = " ".join(theory.test_loss.__doc__.split())
    assert "one-step MAML only" not in doc
    assert "N-step MAML (``n_steps > 1``" in doc and np.isfinite(theory.test_loss(FIG3.replace(n_steps=3)))
    assert "raise ``NotImplementedError`` saying why" in doc
    with pytest.raises(NotImplementedError, match="no closed-form theory for algorithm='fomaml': "):
        theory.test_loss(FIG3.replace(algorithm="fomaml"))


def test_expected_distance_takes_the_arguments_of_test_loss_in_the_same_order():
    import inspect

    assert list(inspect.signature(theory.expected_distance).parameters)[:3] == \
        list(inspect.signature(theory.test_loss).parameters)[:3] == ["prob", "form", "approximation"]
    assert theory.expected_distance(FIG3, "derived", "leading") == theory.expected_distance(FIG3)
    assert theory.expected_distance(FIG3, approximation="leading", form="printed") == \
        theory.expected_distance(FIG3, "printed")
    with pytest.raises(ValueError, match="pass approximation='finite'"):
        theory.expected_distance(FIG3, "finite")


def test_optima_of_variants_have_no_closed_form_and_say_so():
    for prob in (FIG3.replace(n_steps=2), FIG3.replace(algorithm="fomaml")):
        for f in (theory.optimal_alpha_t, theory.optimal_alpha_r):
            message = "derived for one-step MAML only; use linmeta.simulate_optimum"
            with pytest.raises(NotImplementedError, match=message):
                f(prob)
