"""The sympy derivations run, assert their limits, and match the committed emitted code.

The scripts in ``derivations/`` import their core from :mod:`linmeta.symbolic`.  The
exact sympy expressions are checked at random rational points against the emitted
float code (``rtol=1e-12``), and every emitted function is called by the package.
"""
import filecmp
import fractions
import pathlib
import random
import sys

import numpy as np
import pytest
from conftest import run_python

ROOT = pathlib.Path(__file__).resolve().parents[1]
DERIVATIONS = ROOT / "derivations"
SCRIPTS = ["wishart.py", "theorem1.py", "theorem2.py", "leading_order.py", "finite_size.py", "population.py",
           "anisotropic.py", "anisotropic_exact.py"]


@pytest.mark.statistical  # long: each script re-derives its results with sympy (about 55 s in all, on one core)
@pytest.mark.parametrize("script", SCRIPTS)
def test_derivation_script_passes(script, derivation_runs):
    result = derivation_runs[script].result()   # started in the background when the session started (conftest)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if script != "leading_order.py":
        assert "passed" in result.stdout.splitlines()[-1]


def test_emit_is_deterministic_and_committed(tmp_path):
    emit_mod = _import_derivation("emit")
    result = run_python([str(DERIVATIONS / "emit.py"), "--root", str(tmp_path)], env={"PYTHONHASHSEED": "123"})
    assert result.returncode == 0, result.stderr
    for target in emit_mod.TARGETS:
        fresh, committed = tmp_path / target, ROOT / target
        assert fresh.exists(), target
        assert filecmp.cmp(fresh, committed, shallow=False), (
            f"{target} is stale: run `python derivations/emit.py` and commit the result")


def test_runtime_never_imports_sympy():
    code = "import sys, linmeta, linmeta.theory as t; t.test_loss(linmeta.presets.FIG3); print('sympy' in sys.modules)"
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def _import_derivation(name):
    if str(DERIVATIONS) not in sys.path:
        sys.path.insert(0, str(DERIVATIONS))
    import importlib
    return importlib.import_module(name)


def _random_point(symbols, rng):
    """Random admissible rational values: sizes are integers, rates any sign, noise >= 0."""
    point = {}
    for s in symbols:
        name = str(s)
        if name in ("p", "m", "n_t", "n_v", "n_r"):
            point[s] = rng.randint(1, 60)
        elif name.startswith("alpha"):
            point[s] = fractions.Fraction(rng.randint(-200, 200), rng.randint(1, 97))
        else:  # sigma, nu, s2, d2
            point[s] = fractions.Fraction(rng.randint(0, 300), rng.randint(1, 89))
    return point


def test_emitted_code_matches_exact_sympy_at_random_rational_points():
    import sympy as sp

    from linmeta.theory import _generated as gen

    leading = _import_derivation("leading_order")
    rng = random.Random(20240611)
    checked = 0
    for name, args, exprs, _ in leading.functions():
        exprs = exprs if isinstance(exprs, (tuple, list)) else (exprs,)
        func = getattr(gen, name)
        for _ in range(25):
            point = _random_point(args, rng)
            exact_point = {s: sp.Rational(v.numerator, v.denominator) if isinstance(v, fractions.Fraction)
                           else sp.Integer(v) for s, v in point.items()}
            got = func(*(float(point[s]) for s in args))
            got = got if isinstance(got, tuple) else (got,)
            for e, value in zip(exprs, got, strict=True):
                exact = e.subs(exact_point)
                if exact.has(sp.zoo, sp.nan):        # a pole of the rational function: skip the point
                    continue
                np.testing.assert_allclose(value, float(sp.N(exact, 30)), rtol=1e-12, atol=0,
                                           err_msg=f"{name} at {point}")
                checked += 1
    assert checked > 100


def test_every_generated_function_is_called_by_the_package():
    """No emitted function that only tests use: each name appears in a non-generated module of linmeta."""
    from linmeta.theory import _generated, _generated_anisotropic, _generated_finite, _generated_variants

    package = ROOT / "linmeta"
    sources = "\n".join(path.read_text() for path in package.rglob("*.py") if not path.name.startswith("_generated"))
    for module in (_generated, _generated_variants, _generated_finite, _generated_anisotropic):
        for name in module.__all__:
            assert f".{name}(" in sources, f"{module.__name__}.{name} is emitted but never called"


def test_generated_modules_hold_no_runtime_code_but_the_emitted_functions():
    """The Wishart recursion lives once, in linmeta.theory._wishart_exact, not pasted into generated code."""
    import inspect

    from linmeta.theory import _generated, _generated_anisotropic, _generated_finite, _generated_variants

    for module in (_generated, _generated_variants, _generated_finite, _generated_anisotropic):
        functions = [n for n, obj in vars(module).items() if inspect.isfunction(obj)]
        assert sorted(functions) == sorted(module.__all__), module.__name__
        assert "exec(" not in inspect.getsource(module) and "Fraction" not in inspect.getsource(module)


def test_emitted_anisotropic_code_matches_exact_sympy_at_random_points():
    """The emitted A1-A3 NumPy code against the sympy expressions of derivations/anisotropic.py."""
    import sympy as sp

    from linmeta.theory import _generated_anisotropic as gen

    aniso = _import_derivation("anisotropic")
    rng = np.random.default_rng(20261207)
    checked = 0
    for name, args, expr, _ in aniso.functions():
        func = sp.lambdify(args, expr, modules="mpmath")
        for _ in range(20):
            point = [int(rng.integers(1, 40)) if str(a) in ("n_t", "n_v", "n_pts", "n_rows")
                     else float(rng.uniform(-2, 2)) if str(a).startswith("alpha")
                     else float(rng.uniform(0.01, 5)) for a in args]
            exact = float(func(*point))
            np.testing.assert_allclose(getattr(gen, name)(*point), exact, rtol=1e-10, err_msg=f"{name} at {point}")
            checked += 1
    assert checked == 60
