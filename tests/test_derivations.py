"""The sympy derivations run, assert their limits, and match the committed emitted code.

Three-way check (style habit 8), part (a): the exact sympy expressions at random
rational points against the emitted float code, ``rtol=1e-12``.
"""
import filecmp
import fractions
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DERIVATIONS = ROOT / "derivations"
SCRIPTS = ["wishart.py", "theorem1.py", "theorem2.py", "leading_order.py"]


def _run(args, **kw):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=600, **kw)


@pytest.mark.parametrize("script", SCRIPTS)
def test_derivation_script_passes(script):
    result = _run([str(DERIVATIONS / script)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if script != "leading_order.py":
        assert "passed" in result.stdout.splitlines()[-1]


def test_emit_is_deterministic_and_committed(tmp_path):
    emit_mod = _import_derivation("emit")
    result = _run([str(DERIVATIONS / "emit.py"), "--root", str(tmp_path)], env={"PYTHONHASHSEED": "123"})
    assert result.returncode == 0, result.stderr
    for target in emit_mod.TARGETS:
        fresh, committed = tmp_path / target, ROOT / target
        assert fresh.exists(), target
        assert filecmp.cmp(fresh, committed, shallow=False), (
            f"{target} is stale: run `python derivations/emit.py` and commit the result")


def test_runtime_never_imports_sympy():
    code = "import sys, linmeta, linmeta.theory as t; t.test_loss(linmeta.presets.FIG3); print('sympy' in sys.modules)"
    result = _run(["-c", code])
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
            for e, value in zip(exprs, got):
                exact = e.subs(exact_point)
                if exact.has(sp.zoo, sp.nan):        # a pole of the rational function: skip the point
                    continue
                np.testing.assert_allclose(value, float(sp.N(exact, 30)), rtol=1e-12, atol=0,
                                           err_msg=f"{name} at {point}")
                checked += 1
    assert checked > 100
