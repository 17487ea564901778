"""The bridge between formulas and sympy: formula trees to sympy expressions, sympy expressions to functions.

Inputs enter sympy safely: ``sympy.sympify`` (and ``parse_expr``) evaluate a string as Python, so a string
such as ``"__import__('os').system('id')"`` would run; every string that enters :mod:`linmeta.symbolic` goes
through :func:`parse` instead, which accepts only the formula grammar of :mod:`linmeta._formulas.grammar`.
The paper's symbols are the sympy Symbols :data:`SYMBOLS_SYMPY`, with the assumptions of
:data:`~linmeta._formulas.symbols.ASSUMPTIONS`.  Only :mod:`linmeta.symbolic` imports this module
(``import linmeta`` never imports sympy).
"""
from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING

import sympy as sp

from linmeta._formulas import grammar
from linmeta._formulas.symbols import ASSUMPTIONS, FUNCTION_NAMES, SYMBOL_NAMES, problem_values, undefined_reason

#: the symbols every error message shows (the paper's), besides the ones a formula uses
_SHOWN = SYMBOL_NAMES[:10]

if TYPE_CHECKING:
    from linmeta.problem import Problem

__all__ = ["SYMBOLS_SYMPY", "FUNCTIONS", "from_tree", "parse", "as_expr", "to_callable"]

#: the paper's symbols as sympy Symbols, by name
SYMBOLS_SYMPY = {name: sp.Symbol(name, **ASSUMPTIONS[name]) for name in SYMBOL_NAMES}
#: the functions of :data:`~linmeta._formulas.symbols.FUNCTION_NAMES` in sympy
FUNCTIONS = dict(zip(FUNCTION_NAMES, (sp.sqrt, sp.exp, sp.log, sp.Abs), strict=True))


def _number(text):
    if any(c in text for c in "eE"):
        return sp.Rational(sp.Float(text, 30))
    return sp.Rational(text)


def from_tree(tree):
    """Return the sympy expression of a parsed formula (recursion bounded by the parser's depth limit)."""
    op = tree[0]
    if op == "num":
        return _number(tree[1])
    if op == "sym":
        return SYMBOLS_SYMPY[tree[1]]
    if op == "neg":
        return -from_tree(tree[1])
    if op == "call":
        return FUNCTIONS[tree[1]](from_tree(tree[2]))
    if op == "**":
        return from_tree(tree[1]) ** from_tree(tree[2])
    if op == "+-":
        terms = [from_tree(tree[1])] + [(from_tree(b) if s == "+" else -from_tree(b)) for s, b in tree[2]]
        return sp.Add(*terms)
    acc = from_tree(tree[1])
    for s, b in tree[2]:
        acc = acc * from_tree(b) if s == "*" else acc / from_tree(b)
    return acc


def parse(text: str) -> sp.Expr:
    """Parse a formula string into a sympy expression safely (never by ``eval`` or sympy's parser).

    Only numbers, the names of :data:`~linmeta.symbolic.symbols`, ``+ - * / ** ^ ( )`` and
    ``sqrt, exp, log, Abs`` are accepted; anything else raises ``ValueError`` naming the token.
    Decimal numbers become exact rationals.

    Parameters
    ----------
    text : str

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> ls.parse("sigma^2 * p/(n_v*m - p - 1) + 0.5")
    p*sigma**2/(m*n_v - p - 1) + 1/2
    >>> ls.parse("p.__class__")
    Traceback (most recent call last):
        ...
    ValueError: formula: refused token '.__class__' at position 1; only numbers, symbols, + - * / ** ^ ( ) and sqrt,
    exp, log, Abs are allowed
    """
    return from_tree(grammar.parse(text))


def as_expr(obj, name="expression"):
    """``obj`` as a sympy expression: a string read by :func:`parse`, a sympy expression kept, a number converted.

    Anything else (including a sympy object that is not an expression) raises ``ValueError`` naming ``name``.

    Examples
    --------
    >>> from linmeta._formulas.sympy_bridge import as_expr
    >>> as_expr("p^2 + 1/2"), as_expr(0.5), as_expr(3)
    (p**2 + 1/2, 0.500000000000000, 3)
    >>> as_expr("__import__('os').system('id')", "a")
    Traceback (most recent call last):
        ...
    ValueError: a: formula: unknown name '__import__' at position 0; allowed symbols: p, m, n_t, n_v, n_r, sigma, nu,
    alpha_t, alpha_r, dist0, ...; functions: sqrt, exp, log, Abs
    """
    if isinstance(obj, str):
        try:
            return parse(obj)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    if isinstance(obj, sp.Expr):
        return obj
    if isinstance(obj, numbers.Number) and not isinstance(obj, bool):
        return sp.sympify(obj)   # a number (int, float, Fraction, numpy scalar): no string is parsed
    raise ValueError(f"{name} must be a sympy expression, a number or a formula string; got {type(obj).__name__}")


def to_callable(expr: sp.Expr | str) -> Callable[[Problem], float]:
    """``expr`` as a function of a :class:`~linmeta.Problem` returning a float.

    The symbols take the problem's values (``dist0 = |omega0 - w0|``).

    Parameters
    ----------
    expr : sympy.Expr or str
        An expression in :data:`~linmeta.symbolic.symbols` only; a string is read by :func:`parse`.

    Returns
    -------
    callable
        ``f(prob) -> float``; a value that is not a real number (``sqrt`` of a negative,
        ``I``), or a domain error, raises ``ValueError`` naming the problem's values.

    Examples
    --------
    >>> import linmeta as lm, linmeta.symbolic as ls
    >>> f = ls.to_callable(ls.test_loss("underparameterized"))
    >>> bool(abs(f(lm.presets.FIG3) - float(lm.theory.test_loss(lm.presets.FIG3))) < 1e-12)
    True
    >>> ls.to_callable(ls.symbols.p + sp.I)(lm.presets.FIG3)
    Traceback (most recent call last):
        ...
    ValueError: formula: value (30+1j) is not a real number at p=30, m=40, n_t=5, n_v=25, n_r=10, sigma=0.2, nu=0.2,
    alpha_t=0.2, alpha_r=0.2, dist0=0
    """
    expr = as_expr(expr, "formula")
    unknown = sorted(s.name for s in expr.free_symbols if s not in set(SYMBOLS_SYMPY.values()))
    if unknown:
        raise ValueError(f"formula: unknown symbols {unknown}; known: {', '.join(SYMBOL_NAMES)}")
    used = {s.name for s in expr.free_symbols}
    names = [name for name in SYMBOL_NAMES if name in used or name in _SHOWN]
    func = sp.lambdify([SYMBOLS_SYMPY[name] for name in names], expr, modules="math")

    def evaluate(prob):
        values = problem_values(prob)
        missing = [name for name in names if name in used and name not in values]
        if missing:
            raise ValueError(f"formula: {undefined_reason(prob, missing[0])}")
        where = ", ".join(f"{name}={values[name]:g}" for name in names if name in values)
        try:
            value = func(*(float(values.get(name, 0.0)) for name in names))   # floats: a huge power overflows
        except ZeroDivisionError:
            raise ValueError(f"formula: division by zero at {where}") from None
        except OverflowError:
            raise ValueError(f"formula: overflow at {where}") from None
        except (ValueError, TypeError) as err:   # math domain errors, complex arguments
            raise ValueError(f"formula: {err} at {where}") from None
        if isinstance(value, complex) or not isinstance(value, (numbers.Real, sp.Number)):
            raise ValueError(f"formula: value {value!r} is not a real number at {where}")
        return float(value)

    return evaluate
