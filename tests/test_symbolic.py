"""linmeta.symbolic: the derived expressions, checked against independent derivations and the runtime code."""
import fractions
import random
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import linmeta as lm
import linmeta.symbolic as ls
from linmeta.symbolic import _symbols as S
from linmeta.theory import _wishart_exact as runtime

s = ls.symbols


def test_import_linmeta_and_check_a_string_never_import_sympy():
    code = ("import sys, linmeta as lm; "
            "prob = lm.Problem(p=6, m=1, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.1, alpha_r=0.1);"
            "lm.check('sigma^2 + nu*p', prob, {'m': [1, 2]}, n_runs=20); print('sympy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_symbols_by_name_and_attribute():
    assert list(s) == ["p", "m", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r", "dist0",
                       "s_1", "s_2", "s_3", "s_4", "t_0", "t_1", "t_2", "t_3", "d_1", "d_2", "d_3"]
    for name in s:
        assert s[name] is getattr(s, name) and s[name].name == name
    assert s.p.is_integer and s.p.is_positive and s.alpha_t.is_real and s.sigma.is_nonnegative
    assert s.s_2.is_positive and s.t_0.is_nonnegative and s.d_1.is_nonnegative
    with pytest.raises(KeyError, match="unknown symbol 'q'"):
        s["q"]
    with pytest.raises(AttributeError):
        _ = s.q
    with pytest.raises(AttributeError):
        s.p = 1


# ----------------------------------------------------------------------------- Wishart moments
def _partitions(total):
    if total == 0:
        yield ()
        return
    for first in range(total, 0, -1):
        for rest in _partitions(total - first):
            if not rest or rest[0] <= first:
                yield (first,) + rest


def test_wishart_stein_equals_wick_up_to_degree_5():
    for total in range(1, 6):
        for key in _partitions(total):
            assert sp.simplify(ls.wishart_moment(key) - ls.wick_moment(*key)) == 0, key


def test_wishart_known_closed_forms_and_zero_powers():
    n, p = S.n, S.p
    assert sp.simplify(ls.wishart_moment((2,)) - p * (n + p + 1) / n) == 0
    assert sp.simplify(ls.wishart_moment((1, 1)) - p * (n * p + 2) / n) == 0
    assert sp.simplify(ls.wishart_moment((3,)) - p * (n**2 + p**2 + 3 * n * p + 3 * n + 3 * p + 4) / n**2) == 0
    assert ls.wishart_moment((0, 0, 1)) == p**3
    assert ls.wishart_moment(()) == 1
    # n = 1: tr H^q = |x|^(2q), E|x|^(2K) = p(p+2)...(p+2K-2), at order 8
    assert sp.simplify(ls.wishart_moment((3, 5), n=1) - sp.prod([p + 2 * r for r in range(8)])) == 0
    # p = 1: H = chi^2_n / n
    assert sp.simplify(ls.wishart_moment((2, 2, 4), p=1) - sp.prod([n + 2 * r for r in range(8)]) / n**8) == 0


def test_runtime_wishart_equals_symbolic_at_integer_sizes_up_to_degree_7():
    rng = random.Random(0)
    keys = [k for total in range(1, 8) for k in _partitions(total)]
    for key in keys:
        expr = ls.wishart_moment(key)
        for n, p in ((1, 1), (2, 7), (5, 3), (rng.randint(1, 40), rng.randint(1, 40))):
            exact = runtime.wishart_moment(key, n, p)
            assert sp.Rational(exact.numerator, exact.denominator) == expr.subs({S.n: n, S.p: p}), (key, n, p)
            assert ls.wishart_moment(key, n, p) == sp.Rational(exact.numerator, exact.denominator)


def test_wishart_monte_carlo_order_6():
    """E[tr H^2 tr H^4] at n = 6, p = 3 by simulation (an independent check at an order Wick cannot reach fast)."""
    rng = np.random.default_rng(20240611)
    X = rng.standard_normal((200_000, 6, 3))
    H = np.einsum("sai,saj->sij", X, X) / 6
    H2 = H @ H
    v = np.trace(H2, axis1=1, axis2=2) * np.trace(H2 @ H2, axis1=1, axis2=2)
    exact = float(ls.wishart_moment((2, 4), 6, 3))
    z = (v.mean() - exact) / (v.std(ddof=1) / np.sqrt(v.size))
    assert abs(z) < 5, z
    wrong = float(ls.wishart_moment((2, 4), 7, 3))   # a neighbouring size is caught
    assert abs((v.mean() - wrong) / (v.std(ddof=1) / np.sqrt(v.size))) > 5


def test_wishart_bad_input():
    for bad in ((-1,), (1.5,), "ab", (True,)):
        with pytest.raises(ValueError, match="powers"):
            ls.wishart_moment(bad)
    with pytest.raises(ValueError, match="n must be"):
        ls.wishart_moment((1,), n=0)
    with pytest.raises(ValueError, match="n must be"):
        runtime.wishart_moment((1,), 0, 2)


# ----------------------------------------------------------------------------- theorems
def _problems():
    rng = random.Random(1)
    out = []
    while len(out) < 12:
        p, n_v, m = rng.randint(3, 40), rng.randint(1, 6), rng.randint(1, 12)
        if p == n_v * m:
            continue
        out.append(lm.Problem(p=p, m=m, n_t=rng.randint(2, 20), n_v=n_v, n_r=rng.randint(2, 20),
                              sigma=rng.uniform(0, 1), nu=rng.uniform(0, 1), alpha_t=rng.uniform(-1.5, 1),
                              alpha_r=rng.uniform(-0.5, 1), omega0=np.full(p, rng.uniform(-0.3, 0.3))))
    return out


# an algebraic identity, checked also at sizes where the loss has no finite mean (those warn)
@pytest.mark.filterwarnings("ignore::linmeta.InfiniteMomentWarning")
@pytest.mark.parametrize("form", ["derived", "printed"])
def test_expressions_equal_the_runtime_theory(form):
    for prob in _problems():
        if form == "printed" and prob.regime == "overparameterized":
            continue   # Theorem 1 as printed is the derived form (test_theorem2_... checks it symbolically)
        loss = ls.to_callable(ls.test_loss(prob.regime, form))(prob)
        dist = ls.to_callable(ls.expected_distance(prob.regime, form))(prob)
        np.testing.assert_allclose(loss, float(lm.theory.test_loss(prob, form=form)), rtol=1e-11)
        np.testing.assert_allclose(dist, float(lm.theory.expected_distance(prob, form=form)), rtol=1e-11)


def test_g_equals_the_runtime_g_and_its_limits():
    assert ls.g(0, s.n_t, s.p) == (1, 1, 1, 1)
    for a, n_t, p in ((-0.5, 5, 30), (0.3, 2, 3), (1.2, 17, 8)):
        exact = ls.g(sp.Rational(a), n_t, p)
        np.testing.assert_allclose([float(x) for x in exact], [float(x) for x in lm.theory.g(a, n_t, p)],
                                   rtol=1e-12)


def test_theorem2_printed_and_derived_differ_by_h_t_with_a_witness():
    der, pri = ls.test_loss("underparameterized"), ls.test_loss("underparameterized", "printed")
    res = ls.compare(pri, der)
    assert not res.equal and res.witness is not None
    assert all(isinstance(sym, sp.Symbol) for sym in res.witness)   # keyed by the expressions' own symbols
    assert sp.nsimplify(pri.subs(res.witness) - der.subs(res.witness)) != 0
    assert sp.cancel(sp.together(res.difference - (pri - der))) == 0
    base = s.sigma**2 / 2 * (1 + s.alpha_r**2 * s.p / s.n_r) + S.h_r * s.nu**2 / 2
    assert sp.cancel(sp.together((der - base) / (pri - base) - 1 / S.h_t)) == 0
    assert ls.compare(pri.subs(s.alpha_t, 0), der.subs(s.alpha_t, 0)).equal
    assert ls.compare(ls.test_loss("overparameterized", "printed"), ls.test_loss("overparameterized")).equal


def test_compare_returns_none_witness_only_when_equal():
    res = ls.compare(s.p**2 - 1, (s.p - 1) * (s.p + 1))
    assert res.equal and res.witness is None and res.difference == 0 and bool(res)


def test_exact_alpha0_results_equal_the_emitted_finite_size_code():
    from linmeta.theory import _generated_finite as fin

    for prob in _problems():
        d0 = float(prob.start_offset @ prob.start_offset)
        if prob.regime == "overparameterized" and prob.p - prob.k - 1 > 0:
            want = fin.exact_alpha0_over(prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, 0.0, d0)
        elif prob.regime == "underparameterized" and prob.k - prob.p - 1 > 0 and prob.k > 1:
            want = fin.exact_alpha0_under(prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, 0.0, d0)
        else:
            continue
        got = ls.to_callable(ls.expected_distance_alpha0(prob.regime))(prob)
        np.testing.assert_allclose(got, float(want), rtol=1e-12)
    # at p -> oo with k fixed the exact over-parameterised result is the leading order (T1)
    exact = ls.expected_distance_alpha0("overparameterized")
    lead = ls.expected_distance("overparameterized").subs(s.alpha_t, 0)
    assert sp.limit((exact - lead) * s.p, s.p, sp.oo) != sp.oo
    assert sp.limit(exact / lead, s.p, sp.oo) == 1


def test_slopes_at_alpha0():
    assert sp.simplify(ls.slope_alpha0("underparameterized") - S.h_r * s.sigma**2 * s.p / (s.n_v * s.m)) == 0
    assert sp.simplify(ls.slope_alpha0("underparameterized", "printed")
                       + S.h_r * s.nu**2 * (s.n_v + 1 + s.p) / (s.n_v * s.m)) == 0
    assert sp.simplify(ls.slope_alpha0("overparameterized") - S.h_r * s.sigma**2 * s.n_v * s.m / s.p) == 0


def test_nstep_leading_order():
    for regime in ls.REGIMES:
        assert ls.compare(ls.nstep_expected_distance(regime, 1), ls.expected_distance(regime)).equal
    expr = ls.nstep_test_loss("underparameterized", 2)
    prob = lm.presets.FIG3.replace(n_steps=2, alpha_t=-0.3)
    np.testing.assert_allclose(ls.to_callable(expr)(prob), float(lm.theory.test_loss(prob)), rtol=1e-11)
    with pytest.raises(ValueError, match="n_steps"):
        ls.nstep_expected_distance("underparameterized", 0)


def test_runtime_nstep_moments_equal_the_symbolic_ones():
    from linmeta.symbolic import _theorems as T

    a = fractions.Fraction(-3, 10)
    sym = T.nstep_trace_moments(2)
    for n_t, p in ((5, 30), (3, 2)):
        got = runtime.nstep_trace_moments(a, 2, n_t, p)
        want = [x.subs({s.alpha_t: sp.Rational(-3, 10), s.n_t: n_t, s.p: p}) for x in sym]
        assert [sp.Rational(x.numerator, x.denominator) for x in got] == want


def test_regime_and_form_are_validated():
    with pytest.raises(ValueError, match="regime"):
        ls.test_loss("over")
    with pytest.raises(ValueError, match="form"):
        ls.expected_distance("overparameterized", "talk")


def test_parse_builds_the_same_expression_and_refuses_unsafe_text(monkeypatch):
    import builtins

    def trap(*args, **kwargs):
        raise AssertionError("eval or sympy's parser called")

    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(sp, "sympify", trap)
    monkeypatch.setattr(sp, "parse_expr", trap)
    want = s.sigma**2 * s.p / (s.n_v * s.m - s.p - 1) + sp.Rational(1, 4)
    assert ls.parse("sigma^2*p/(n_v*m - p - 1) + 0.25") == want
    assert ls.parse("sqrt(nu) + Abs(alpha_t) - exp(1) * log(2)") == (
        sp.sqrt(s.nu) + sp.Abs(s.alpha_t) - sp.E * sp.log(2))
    for bad in ("__import__('os')", "p.__class__", "lambda: p", "p[0]", "Symbol('p')"):
        with pytest.raises(ValueError, match="formula"):
            ls.parse(bad)


def test_to_callable_refuses_unknown_symbols():
    with pytest.raises(ValueError, match="unknown symbols"):
        ls.to_callable(sp.Symbol("q") + s.p)


# ----------------------------------------------------------------------------- non-editable install
@pytest.mark.install
def test_non_editable_install_ships_linmeta_symbolic(tmp_path):
    """``pip install .`` into a fresh venv, offline, then ``import linmeta.symbolic`` from outside the repository.

    The installed package carries the ``py.typed`` marker.

    The venv sees this interpreter's installed packages (numpy, sympy, pip, setuptools, wheel) through a
    ``.pth`` file placed after its own site-packages, so the freshly installed copy of linmeta is the one
    imported; ``--no-deps --no-build-isolation --no-index`` keeps pip off the network.
    """
    import pathlib
    import shutil
    import site

    root = pathlib.Path(__file__).resolve().parents[1]
    src = tmp_path / "src"                       # a copy, so the build leaves nothing in the repository
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    shutil.copytree(root / "linmeta", src / "linmeta", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    deps = [d for d in site.getsitepackages() + [site.getusersitepackages()] if pathlib.Path(d).is_dir()]
    (pathlib.Path(own) / "_outer_site.pth").write_text("\n".join(deps) + "\n")
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": "/dev/null"}
    result = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                             "--quiet", str(src)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import sys, pathlib, linmeta, linmeta.symbolic as ls; print(linmeta.__file__); "
            "print(pathlib.Path(linmeta.__file__).with_name('py.typed').is_file()); "
            "print(ls.wishart_moment((1, 1))); print(ls.compare(ls.test_loss('overparameterized', 'printed'), "
            "ls.test_loss('overparameterized')).equal)")
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, cwd=elsewhere,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    where, typed, moment, equal = result.stdout.strip().splitlines()
    assert where.startswith(own), (where, own)
    assert typed == "True"                       # the py.typed marker is installed (PEP 561)
    assert moment == "p*(n*p + 2)/n" and equal == "True"
