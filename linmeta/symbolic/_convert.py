"""Inputs to sympy expressions, safely: formula strings through linmeta's own parser, never ``sympify``.

``sympy.sympify`` (and ``parse_expr``) evaluate a string as Python, so a string
such as ``"__import__('os').system('id')"`` would run; every string that enters
:mod:`linmeta.symbolic` goes through :func:`parse` instead, which accepts only the
formula grammar of :mod:`linmeta._formula`.
"""
import numbers

import sympy as sp

from linmeta._formula import parse as _parse_tree
from linmeta.symbolic._symbols import symbols

__all__ = ["parse", "as_expr"]

_FUNCTIONS = {"sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log, "Abs": sp.Abs}


def _number(text):
    if any(c in text for c in "eE"):
        return sp.Rational(sp.Float(text, 30))
    return sp.Rational(text)


def _from_tree(tree):
    """The sympy expression of a parsed formula (recursion bounded by the parser's depth limit)."""
    op = tree[0]
    if op == "num":
        return _number(tree[1])
    if op == "sym":
        return symbols[tree[1]]
    if op == "neg":
        return -_from_tree(tree[1])
    if op == "call":
        return _FUNCTIONS[tree[1]](_from_tree(tree[2]))
    if op == "**":
        return _from_tree(tree[1]) ** _from_tree(tree[2])
    if op == "+-":
        terms = [_from_tree(tree[1])] + [(_from_tree(b) if s == "+" else -_from_tree(b)) for s, b in tree[2]]
        return sp.Add(*terms)
    acc = _from_tree(tree[1])
    for s, b in tree[2]:
        acc = acc * _from_tree(b) if s == "*" else acc / _from_tree(b)
    return acc


def parse(text):
    """A formula string as a sympy expression, parsed safely (never by ``eval`` or sympy's parser).

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
    ValueError: formula: refused token '.__class__' at position 1; only numbers, symbols, + - * / ** ^ ( ) and sqrt, exp, log, Abs are allowed
    """
    return _from_tree(_parse_tree(text))


def as_expr(obj, name="expression"):
    """``obj`` as a sympy expression: a string read by :func:`parse`, a sympy expression kept, a number converted.

    Anything else (including a sympy object that is not an expression) raises ``ValueError`` naming ``name``.

    Examples
    --------
    >>> from linmeta.symbolic._convert import as_expr
    >>> as_expr("p^2 + 1/2"), as_expr(0.5), as_expr(3)
    (p**2 + 1/2, 0.500000000000000, 3)
    >>> as_expr("__import__('os').system('id')", "a")
    Traceback (most recent call last):
        ...
    ValueError: a: formula: unknown name '__import__' at position 0; allowed symbols: p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r, dist0; functions: sqrt, exp, log, Abs
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
