"""Formula strings are never run as code anywhere, and a formula too big for the parser is bad input, not a crash."""
import math
import os
import re

import pytest
import sympy as sp

import linmeta as lm
import linmeta.symbolic as ls
from linmeta._formulas import evaluation, grammar
from linmeta._formulas.symbols import problem_values

PROB = lm.Problem(p=10, m=2, n_t=5, n_v=2, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.0, alpha_r=0.2)


@pytest.fixture
def no_sympy_string_parser(monkeypatch):
    """Any string reaching sympy's own parser fails the test (sympify/parse_expr evaluate Python)."""
    real = sp.sympify

    def guarded(obj, *args, **kwargs):
        if isinstance(obj, str):
            raise AssertionError(f"a string reached sympy.sympify: {obj!r}")
        return real(obj, *args, **kwargs)

    def trap(*args, **kwargs):
        raise AssertionError("sympy's parse_expr called")

    monkeypatch.setattr(sp, "sympify", guarded)
    monkeypatch.setattr(sp, "parse_expr", trap)


@pytest.mark.parametrize("entry", ["compare-a", "compare-b", "to_callable", "g"])
def test_symbolic_entry_points_refuse_code_and_never_run_it(entry, tmp_path):
    marker = tmp_path / "pwned_x"
    code = f"__import__('os').system('touch {marker}')"
    call = {"compare-a": lambda: ls.compare(code, "p"), "compare-b": lambda: ls.compare("p", code),
            "to_callable": lambda: ls.to_callable(code), "g": lambda: ls.g(code, 4, 2)}[entry]
    with pytest.raises(ValueError, match="__import__"):
        call()
    assert not marker.exists()


def test_compare_of_a_shell_command_runs_nothing():
    marker = "/tmp/pwned_x_linmeta"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(ValueError, match="unknown name '__import__'"):
        ls.compare(f"__import__('os').system('touch {marker}')", "p")
    assert not os.path.exists(marker)


def test_strings_go_through_the_safe_parser(no_sympy_string_parser):
    s = ls.symbols
    assert ls.compare("p^2 - 1", "(p - 1)*(p + 1)").equal
    assert ls.compare("sigma^2*n_v*m/(p - n_v*m - 1)", s.sigma**2 * s.n_v * s.m / (s.p - s.n_v * s.m - 1)).equal
    assert ls.g("1/2", 4, 2)[0] == sp.Rational(9, 32)                    # the docstring's value, from a string
    assert ls.to_callable("sigma^2 + nu*p")(PROB) == 0.25 + 0.5 * 10
    assert ls.compare(0.5, "1/2").equal and ls.compare(3, "p").witness is not None   # numbers stay numbers


@pytest.mark.parametrize("bad", [object(), [1, 2], sp.Matrix([1]), True])
def test_non_expressions_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="must be a sympy expression"):
        ls.compare(bad, "p")


def test_witness_is_keyed_by_the_expressions_symbols_so_subs_works():
    s = ls.symbols
    a, b = s.p / (s.n_v * s.m - s.p - 1), s.p / (s.n_v * s.m)
    res = ls.compare(a, b)
    assert set(res.witness) == {s.p, s.n_v, s.m}
    va, vb = a.subs(res.witness), b.subs(res.witness)
    assert va.is_number and vb.is_number and va != vb      # with name keys subs did nothing
    # the witness of two strings works on the parsed expressions too
    res = ls.compare("alpha_t^2", "alpha_t")
    assert ls.parse("alpha_t^2").subs(res.witness) != ls.parse("alpha_t").subs(res.witness)


# ----------------------------------------------------------------------------- size limits
DEEP = "(" * 200 + "p" + ")" * 200
CALLS = "sqrt(" * 200 + "p" + ")" * 200
SIGNS = "-" * 600 + "p"
POWERS = "p^" * 300 + "p"


@pytest.mark.parametrize("text", [DEEP, CALLS, SIGNS, POWERS])
def test_deep_nesting_is_refused_naming_the_limit_and_the_formula(text):
    pattern = rf"nested more than {grammar.MAX_DEPTH} levels deep .* of '{re.escape(text[:10])}"
    with pytest.raises(ValueError, match=pattern):
        grammar.parse(text)
    with pytest.raises(ValueError, match="nested more than"):
        ls.parse(text)
    with pytest.raises(ValueError, match="nested more than"):
        lm.check(text, PROB, {"m": [1]}, n_runs=2)


def test_the_deepest_accepted_nesting_works_everywhere():
    text = "(" * (grammar.MAX_DEPTH - 1) + "p" + ")" * (grammar.MAX_DEPTH - 1)
    assert evaluation.evaluate(grammar.parse(text), {"p": 3.0}) == 3.0
    horner = "(" * 20 + "p" + "".join("*p + 1)" for _ in range(20))       # a degree-21 polynomial, Horner form
    expr = ls.parse(horner)
    assert ls.to_callable(expr)(PROB) == evaluation.evaluate(grammar.parse(horner), problem_values(PROB))
    assert ls.compare(expr, sp.expand(expr)).equal


def test_a_1000_term_sum_is_evaluated_left_to_right_bit_for_bit():
    text = " + ".join(["0.1"] * 999 + ["p"])
    acc = 0.1
    for _ in range(998):
        acc = acc + 0.1
    assert evaluation.evaluate(grammar.parse(text), {"p": 9.0}) == acc + 9.0
    assert ls.parse(text) == sp.Rational(999, 10) + ls.symbols.p
    chain = "p" + "".join(f" {'-' if k % 2 else '+'} {k}*m / n_v" for k in range(1, 300))
    expected = 9.0
    for k in range(1, 300):
        term = k * 3 / 2
        expected = expected - term if k % 2 else expected + term
    assert evaluation.evaluate(grammar.parse(chain), {"p": 9, "m": 3, "n_v": 2}) == expected


def test_too_many_operands_are_refused():
    text = "+".join(["p"] * (grammar.MAX_OPERANDS + 1))
    with pytest.raises(ValueError, match=f"at most {grammar.MAX_OPERANDS} numbers and symbols; got 1001"):
        grammar.parse(text)


def test_cli_refuses_a_too_deep_formula_on_one_line(capsys):
    from linmeta.cli import main

    assert main(["check", DEEP, "--runs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("linmeta: error: formula: nested more than") and err.count("\n") == 1, err


# ----------------------------------------------------------------------------- non-real sympy formulas
@pytest.mark.parametrize("formula, match", [
    (sp.I, "not a real number"), (ls.symbols.p + sp.I, "not a real number"),
    (sp.sqrt(ls.symbols.alpha_t - 1), "not a real number|math domain"), (sp.log(ls.symbols.alpha_t), "math domain"),
    (sp.Matrix([ls.symbols.p]), "must be a sympy expression"),
])
def test_check_refuses_a_non_real_sympy_formula_with_a_value_error(formula, match):
    with pytest.raises(ValueError, match=match):
        lm.check(formula, PROB, {"m": [1]}, n_runs=2)


def test_a_power_tower_overflows_instead_of_hanging():
    tower = "p^" * 29 + "1"             # 10^10^...: exact integer arithmetic would never finish
    with pytest.raises(ValueError, match="overflow"):
        ls.to_callable(tower)(PROB)
    with pytest.raises(ValueError, match="overflow"):
        lm.check(tower, PROB, {"m": [1]}, n_runs=2)


def test_to_callable_values_are_real_floats():
    f = ls.to_callable(ls.symbols.sigma**2 + sp.sqrt(ls.symbols.p))
    assert f(PROB) == 0.25 + math.sqrt(10) and type(f(PROB)) is float
