"""Finite-size theory: exact alpha_t = 0 results and the resummed corrections.

Statistical tests use ``lm.simulate(method="exact")`` (independent of the theory code), fixed
seeds and stated run counts; each shows power with a negative control: the leading-order
formula is rejected at the same sample size.  z-threshold 4 throughout.
"""
import contextlib
import functools
import pathlib
import sys
from fractions import Fraction

import numpy as np
import pytest

import linmeta as lm
from linmeta.theory import _finite
from linmeta.theory import _generated_finite as gen
from linmeta.theory._finite import quadrature, regimes

ROOT = pathlib.Path(__file__).resolve().parents[1]
Z = 4.0


@functools.lru_cache(maxsize=None)
def _sympy_distance(name):
    """``linmeta.symbolic._theorems.<name>()`` as a float function of ``(p, m, n_t, n_v, sigma, nu, alpha_t, s2)``."""
    import sympy as sp

    from linmeta.symbolic import _symbols as S
    from linmeta.symbolic import _theorems as T
    args = (S.p, S.m, S.n_t, S.n_v, S.sigma, S.nu, S.alpha_t, S.s2)
    return sp.lambdify(args, getattr(T, name)(), modules="math")


def _distance_args(prob):
    d0 = float(np.dot(prob.start_offset, prob.start_offset))
    return (prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, prob.alpha_t, d0)


def _loss_given_distance(prob, distance):
    """(T0) at ``E|omega* - w0|^2 = distance``."""
    return prob.sigma**2 / 2 * (1 + prob.alpha_r**2 * prob.p / prob.n_r) + prob.h_r / 2 * (prob.nu**2 + distance)


def _leading_loss(prob):
    """Test loss (T0) with the leading-order distance (T1, or the derived T2), from the sympy expressions."""
    name = "t1_distance" if prob.regime == "overparameterized" else "t2_distance"
    return _loss_given_distance(prob, _sympy_distance(name)(*_distance_args(prob)))


UNDER5 = lm.Problem(p=10, m=5, n_t=10, n_v=10, n_r=10, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)
OVER5 = lm.Problem(p=50, m=5, n_t=25, n_v=4, n_r=20, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2,
                   omega0=np.r_[1.0, np.zeros(49)])


@pytest.mark.statistical
@pytest.mark.parametrize("prob, n_runs", [
    (lm.presets.FIG2.replace(alpha_t=0.0), 2000),   # leading order off by ~0.8% of the loss
    (OVER5, 2000),                                   # m = 5, k/p = 0.4, |omega0 - w0| = 1
    (UNDER5, 4000),                                  # m = 5, under-parameterised
])
def test_exact_alpha0_matches_simulation_and_leading_is_rejected(prob, n_runs):
    est = lm.simulate(prob, n_runs=n_runs, seed=7)
    exact = _finite.test_loss(prob)
    lead = _leading_loss(prob)
    z_exact = (est.mean - exact) / est.stderr
    z_lead = (est.mean - lead) / est.stderr
    print(f"{prob.regime}: sim {est.mean:.6g} ± {est.stderr:.2g} ({n_runs} runs); "
          f"z exact {z_exact:+.2f}, z leading {z_lead:+.2f}")
    assert abs(z_exact) < Z
    assert abs(z_lead) > Z          # negative control at the same sample size


@pytest.mark.statistical
def test_fig2_finite_within_target_and_leading_rejected():
    # alpha_t = -1 (panel b grid).  Finite - sim ~ +0.08% of the loss, leading ~ -0.49%;
    # 4000 runs give SE ~ 0.07%, so the leading order sits > 4 SE away, the finite one < 4 SE.
    prob = lm.presets.FIG2.replace(alpha_t=-1.0)
    est = lm.simulate(prob, n_runs=4000, seed=11)
    fin, lead = _finite.test_loss(prob), _leading_loss(prob)
    print(f"FIG2 alpha_t=-1: sim {est.mean:.6g} ± {est.stderr:.2g}; finite {fin:.6g} leading {lead:.6g}")
    assert abs(fin - est.mean) < Z * est.stderr
    assert abs(fin / est.mean - 1) < 0.003
    assert abs(lead - est.mean) > Z * est.stderr


def test_generated_code_matches_sympy_at_rational_points():
    sys.path.insert(0, str(ROOT / "derivations"))
    import finite_size as fs
    import sympy as sp
    rng = np.random.default_rng(3)
    for name, args, expr, _ in fs.functions():
        for (p, m, nt, nv) in [(40, 3, 20, 2), (10, 6, 7, 5)]:
            vals = (p, m, nt, nv, Fraction(int(rng.integers(1, 9)), 7), Fraction(int(rng.integers(1, 9)), 5),
                    Fraction(int(rng.integers(-14, 8)), 7), Fraction(int(rng.integers(0, 9)), 3))
            point = {s: sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v
                     for s, v in zip(args, vals, strict=True)}
            exact = expr.subs(point)
            got = getattr(gen, name)(*[float(v) for v in vals])
            assert np.isclose(got, float(exact), rtol=1e-12), name


def test_emission_is_current(tmp_path):
    sys.path.insert(0, str(ROOT / "derivations"))
    import finite_size as fs
    assert fs.emitted_code() == (ROOT / "linmeta/theory/_generated_finite.py").read_text()


def test_dyson_over_reduces_to_exact_at_alpha0_and_new_scheme_is_close():
    p = lm.presets.FIG2
    args = _distance_args(p.replace(alpha_t=1e-9))
    assert np.isclose(_sympy_distance("dyson_over")(*args), _finite.exact_alpha0_distance(p), rtol=1e-6)
    # the one-task reduction is exact; its single-task E tr W^-1 is not (rescaled by its alpha_t = 0 ratio)
    for prob, tol in [(p, 1e-3), (OVER5, 1e-3)]:
        near = _finite.expected_distance(prob.replace(alpha_t=1e-9))
        assert abs(near / _finite.exact_alpha0_distance(prob) - 1) < tol


def _dyson_over_loss(prob):
    """Test loss with the Dyson-resummed over-parameterised formula (a control)."""
    return _loss_given_distance(prob, _sympy_distance("dyson_over")(*_distance_args(prob)))


@pytest.mark.statistical
@pytest.mark.parametrize("prob, n_runs", [
    # m = 5, k/p = 0.4, alpha_t = -2: new ~ +0.1 %, leading ~ -6.3 %, Dyson ~ +7.7 %; SE ~ 0.15 %
    (OVER5.replace(alpha_t=-2.0), 8000),
    # FIG2, alpha_t = 1: new ~ 0 %, leading ~ -1.6 %, Dyson ~ +0.44 %; SE ~ 0.08 %
    (lm.presets.FIG2.replace(alpha_t=1.0), 20000),
])
def test_over_one_task_reduction_matches_simulation_and_controls_rejected(prob, n_runs):
    est = lm.simulate(prob, n_runs=n_runs, seed=17)
    fin = _finite.test_loss(prob)
    z = (fin - est.mean) / est.stderr
    zl = (_leading_loss(prob) - est.mean) / est.stderr
    zd = (_dyson_over_loss(prob) - est.mean) / est.stderr
    print(f"sim {est.mean:.6g} ± {est.stderr:.2g}; new z {z:+.2f}; leading z {zl:+.2f}; Dyson z {zd:+.2f}")
    assert abs(z) < Z and abs(fin / est.mean - 1) < 0.003
    assert abs(zl) > Z and abs(zd) > Z     # negative controls at the same sample size


def _dyson_under_loss(prob):
    """Test loss with the Dyson-resummed under-parameterised formula (a control)."""
    return _loss_given_distance(prob, _sympy_distance("dyson_under")(*_distance_args(prob)))


@pytest.mark.statistical
@pytest.mark.parametrize("prob, n_runs, controls, outside", [
    # FIG3, alpha_t = -2: new - sim ~ +0.08 %, leading and Dyson ~ -0.74 %; SE ~ 0.1 % at 2000 runs
    (lm.presets.FIG3.replace(alpha_t=-2.0), 2000, ("leading", "dyson"), False),
    # p = n_t = n_v = 10, m = 5, alpha_t = 0.5: new ~ 0.0 %, leading ~ -5.7 %; SE ~ 0.12 % (the 0.3 % check needs it);
    # m = 5 is outside the validated domain (m >= 6), so the theory warns (ApproximationDomainWarning)
    (UNDER5.replace(alpha_t=0.5), 20000, ("leading",), True),
])
def test_under_nested_loo_matches_simulation_and_controls_rejected(prob, n_runs, controls, outside):
    est = lm.simulate(prob, n_runs=n_runs, seed=13)
    with pytest.warns(lm.theory.ApproximationDomainWarning) if outside else contextlib.nullcontext():
        fin = _finite.test_loss(prob)
    z = (fin - est.mean) / est.stderr
    others = {"leading": _leading_loss(prob), "dyson": _dyson_under_loss(prob)}
    zs = {k: (others[k] - est.mean) / est.stderr for k in controls}
    print(f"sim {est.mean:.6g} ± {est.stderr:.2g}; new {fin:.6g} (z {z:+.2f}); controls {zs}")
    assert abs(z) < Z
    assert abs(fin / est.mean - 1) < 0.003
    for k, zc in zs.items():
        assert abs(zc) > Z, k          # negative controls at the same sample size


def test_stein_moments_and_eigenvalue_rule_exact():
    import linmeta.symbolic as ls
    from linmeta.symbolic._symbols import n, p
    for (nn, pp) in [(5, 30), (10, 10)]:
        M = quadrature.wishart_trace_moments(nn, pp)
        for key in [(1,), (2,), (3,), (1, 1), (1, 2), (2, 2), (1, 1, 2)]:
            wick = ls.wick_moment(*key).subs({n: nn, p: pp})   # Wick's theorem, independent
            assert M(key) / Fraction(nn) ** sum(key) == Fraction(int(wick.p), int(wick.q)), key
        for key in [(5,), (7,), (3, 4), (2, 6), (1, 1, 5), (2, 2, 2), (11,), (9, 9)]:   # the sympy recursion
            exact = ls.wishart_moment(key, n=nn, p=pp)
            assert M(key) / Fraction(nn) ** sum(key) == Fraction(int(exact.p), int(exact.q)), key
            assert M(key[::-1]) == M(key)                      # any order of the powers
        x, w = quadrature.eigenvalue_rule(nn, pp, 12)
        assert np.isclose(w.sum(), 1.0, rtol=1e-13)
        for j in range(1, 16):          # Gauss rule integrates degree < 2K exactly
            exact = float(M((j,)) / Fraction(nn) ** j / pp)
            assert np.isclose(np.dot(w, x**j), exact, rtol=1e-9), j


def test_nested_loo_near_exact_at_alpha0_and_large_m_bound():
    # the raw scheme is not exact at alpha_t = 0 (distance_under rescales by the alpha_t = 0 ratios): stated sizes
    for prob, tol in [(lm.presets.FIG3, 1e-4), (UNDER5, 5e-3)]:
        args = (prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu)
        near = regimes.subordination_under(*args, 1e-9)
        assert abs(near / _finite.exact_alpha0_distance(prob) - 1) < tol
    # m -> infinity at fixed p: misses n_v Var(tr A^2)/kappa^2 (one-point density of H), so it stays
    # ~0.4 % from the (then exact) leading order instead of converging to it
    prob = lm.presets.FIG3.replace(alpha_t=-1.0, m=4000)
    args = (prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, prob.alpha_t)
    rel = regimes.subordination_under(*args) / _sympy_distance("t2_distance")(*args, 0.0) - 1
    assert 0.002 < abs(rel) < 0.006
