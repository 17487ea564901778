"""The formula parser accepts the paper's arithmetic and refuses everything else, naming the token."""
import builtins
import math

import pytest

from linmeta._formulas import evaluation, grammar

SAFE = {
    "p": 9, "2*p^2": 2 * 9**2, "2*p**2": 162, "-p**2": -81, "(-p)**2": 81, "2^3^2": 2**9, "1e-3*p": 0.009,
    ".5 + 1.": 1.5, "sqrt(p) + exp(0) + log(1) + Abs(-2)": 3 + 1 + 0 + 2, "p/n_v/m": 9 / 2 / 3,
    "sigma^2/2 * (1 + alpha_r^2*p/n_r)": 0.125 * (1 + 0.25 * 9 / 4), "- - p": 9, "+p": 9, "dist0*nu": 0.75,
}
VALUES = {"p": 9, "m": 3, "n_t": 5, "n_v": 2, "n_r": 4, "sigma": 0.5, "nu": 0.5, "alpha_t": -0.5, "alpha_r": 0.5,
          "dist0": 1.5}


@pytest.mark.parametrize("text, expected", SAFE.items())
def test_safe_formulas_evaluate(text, expected):
    assert math.isclose(evaluation.evaluate(grammar.parse(text), VALUES), expected, rel_tol=1e-15)


UNSAFE = {
    "__import__('os')": "'__import__'",
    "p.__class__": "'.__class__'",
    "os.system('ls')": "'os'",
    "lambda: 1": "'lambda'",
    "p[0]": "'['",
    "eval('1')": "'eval'",
    "exec": "'exec'",
    "q + 1": "'q'",
    "p; 1": "';'",
    "p, m": "','",
    "'p'": "\"'\"",
    "p(2)": "'p'",            # a symbol is not callable
    "sqrt": "'sqrt'",         # a function must be called
    "sin(p)": "'sin'",        # not on the list
    "p @ m": "'@'",
    "p // m": "'/'",
    "p == m": "'='",
    "1_000": "'1_000'",
    "2p": "'2p'",
    "p if m else n_t": "'if'",
    "Symbol('x')": "'Symbol'",
    "p +": "end",
    "(p": "end",
    "p)": "')'",
    "": "empty",
}


@pytest.mark.parametrize("text, token", UNSAFE.items())
def test_unsafe_formulas_are_refused_naming_the_token(text, token):
    with pytest.raises(ValueError, match="formula") as err:
        grammar.parse(text)
    assert token in str(err.value)


def test_parser_never_calls_eval(monkeypatch):
    def trap(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(builtins, "exec", trap)
    assert evaluation.evaluate(grammar.parse("p^2 - m"), VALUES) == 78
    with pytest.raises(ValueError, match="__import__"):
        grammar.parse("__import__('os').system('echo owned')")


def test_non_string_and_overlong_formulas_are_refused():
    with pytest.raises(ValueError, match="string"):
        grammar.tokenize(b"p")
    with pytest.raises(ValueError, match="at most"):
        grammar.tokenize("p+" * 6000 + "p")


def test_evaluation_errors_are_value_errors():
    with pytest.raises(ValueError, match="division by zero"):
        evaluation.evaluate(grammar.parse("1/(p - 9)"), VALUES)
    with pytest.raises(ValueError, match="formula"):
        evaluation.evaluate(grammar.parse("log(-p)"), VALUES)
    with pytest.raises(ValueError, match="not real"):
        evaluation.evaluate(grammar.parse("(-p)^0.5"), VALUES)


def test_names():
    assert grammar.names(grammar.parse("sqrt(nu^2 + dist0) * 3")) == {"nu", "dist0"}
