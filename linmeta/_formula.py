"""Safe parsing of a formula string in the paper's symbols; no ``eval``, no sympy.

The string is tokenized by a regular expression; only numbers, the symbol names
:data:`SYMBOLS`, the operators ``+ - * / ** ^`` (``^`` is a power), parentheses
and the functions :data:`FUNCTIONS` are accepted.  Anything else (attribute
access, other names or calls, ``__import__``, ``lambda``, subscripts, commas,
strings) raises ``ValueError`` naming the offending token.  The accepted token
stream is parsed by recursive descent into a small tree of tuples, which
:func:`evaluate` computes with :mod:`math` and :func:`linmeta.symbolic.parse`
turns into a sympy expression.

Grammar (usual precedence; ``**`` binds tighter than unary minus and is
right-associative)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := ("+" | "-") unary | power
    power := atom (("**" | "^") unary)?
    atom  := NUMBER | SYMBOL | FUNCTION "(" expr ")" | "(" expr ")"

Examples
--------
>>> tree = parse("sigma^2/2 * (1 + alpha_r**2 * p/n_r)")
>>> evaluate(tree, {"sigma": 1.0, "alpha_r": 0.5, "p": 4, "n_r": 2})
0.75
>>> parse("__import__('os')")
Traceback (most recent call last):
    ...
ValueError: formula: unknown name '__import__' at position 0; allowed symbols: p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r, dist0; functions: sqrt, exp, log, Abs
"""
from __future__ import annotations

import math
import re

__all__ = ["SYMBOLS", "FUNCTIONS", "tokenize", "parse", "evaluate", "names", "problem_values"]

SYMBOLS = ("p", "m", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r", "dist0")
FUNCTIONS = {"sqrt": math.sqrt, "exp": math.exp, "log": math.log, "Abs": abs}
MAX_LENGTH = 10_000

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_0-9.]))
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|[-+*/^()])
""", re.VERBOSE)


def _allowed():
    return f"allowed symbols: {', '.join(SYMBOLS)}; functions: {', '.join(FUNCTIONS)}"


def tokenize(text):
    """Split ``text`` into ``(kind, value, position)`` tokens, refusing anything not allowed.

    Examples
    --------
    >>> [t[1] for t in tokenize("2*p^2")]
    ['2', '*', 'p', '^', '2']
    >>> tokenize("p.real")
    Traceback (most recent call last):
        ...
    ValueError: formula: refused token '.real' at position 1; only numbers, symbols, + - * / ** ^ ( ) and sqrt, exp, log, Abs are allowed
    """
    if not isinstance(text, str):
        raise ValueError(f"formula must be a string; got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"formula: at most {MAX_LENGTH} characters; got {len(text)}")
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            bad = re.match(r"[A-Za-z_0-9.]+|\S", text[pos:]).group(0)
            raise ValueError(f"formula: refused token {bad!r} at position {pos}; only numbers, symbols, "
                             f"+ - * / ** ^ ( ) and {', '.join(FUNCTIONS)} are allowed")
        kind = match.lastgroup
        if kind != "space":
            value = match.group(kind)
            if kind == "name" and value not in SYMBOLS and value not in FUNCTIONS:
                raise ValueError(f"formula: unknown name {value!r} at position {pos}; {_allowed()}")
            tokens.append((kind, value, pos))
        pos = match.end()
    if not tokens:
        raise ValueError("formula: empty formula")
    return tokens


class _Parser:
    def __init__(self, tokens):
        self.tokens, self.i = tokens, 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] == "end":
            raise ValueError(f"formula: unexpected end; expected {value or 'an operand'}")
        if value is not None and tok[1] != value:
            raise ValueError(f"formula: expected {value!r} at position {tok[2]}; got {tok[1]!r}")
        self.i += 1
        return tok

    def expr(self):
        node = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            node = (op, node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.take()[1]
            node = (op, node, self.unary())
        return node

    def unary(self):
        if self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            operand = self.unary()
            return ("neg", operand) if op == "-" else operand
        return self.power()

    def power(self):
        node = self.atom()
        if self.peek()[1] in ("**", "^") and self.peek()[0] == "op":
            self.take()
            node = ("**", node, self.unary())
        return node

    def atom(self):
        kind, value, pos = self.take()
        if kind == "number":
            return ("num", value)
        if kind == "name" and value in FUNCTIONS:
            if self.peek()[1] != "(":
                raise ValueError(f"formula: function {value!r} at position {pos} must be followed by '('")
            self.take("(")
            arg = self.expr()
            self.take(")")
            return ("call", value, arg)
        if kind == "name":
            if self.peek()[1] == "(":
                raise ValueError(f"formula: {value!r} at position {pos} is a symbol, not a function; "
                                 f"write {value}*(...) to multiply")
            return ("sym", value)
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        raise ValueError(f"formula: unexpected token {value!r} at position {pos}")


def parse(text):
    """Parse ``text`` into a tree of tuples (``("num", "2")``, ``("sym", "p")``, ``("+", a, b)``, ...).

    Parameters
    ----------
    text : str
        A formula in the symbols :data:`SYMBOLS`.

    Returns
    -------
    tuple
        The expression tree.

    Examples
    --------
    >>> parse("-p^2")
    ('neg', ('**', ('sym', 'p'), ('num', '2')))
    """
    parser = _Parser(tokenize(text))
    tree = parser.expr()
    tok = parser.peek()
    if tok[0] != "end":
        raise ValueError(f"formula: unexpected token {tok[1]!r} at position {tok[2]}")
    return tree


def names(tree):
    """The symbol names used in ``tree`` (a set).

    >>> sorted(names(parse("sigma^2 * p / (n_v*m - p - 1)")))
    ['m', 'n_v', 'p', 'sigma']
    """
    if tree[0] == "sym":
        return {tree[1]}
    if tree[0] == "num":
        return set()
    return set().union(*(names(t) for t in tree[1:] if isinstance(t, tuple)))


def evaluate(tree, values):
    """Evaluate ``tree`` in floating point with ``values`` (``{symbol name: number}``).

    Division by zero and domain errors raise ``ValueError`` naming the formula's trouble.
    """
    op = tree[0]
    try:
        if op == "num":
            return float(tree[1])
        if op == "sym":
            return float(values[tree[1]])
        if op == "neg":
            return -evaluate(tree[1], values)
        if op == "call":
            return float(FUNCTIONS[tree[1]](evaluate(tree[2], values)))
        a, b = evaluate(tree[1], values), evaluate(tree[2], values)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        out = a**b
        if isinstance(out, complex):
            raise ValueError(f"formula: {a!r} ** {b!r} is not real")
        return float(out)
    except ZeroDivisionError:
        raise ValueError(f"formula: division by zero at {values}") from None
    except OverflowError:
        raise ValueError(f"formula: overflow at {values}") from None
    except (ValueError, TypeError) as err:
        if str(err).startswith("formula:"):
            raise
        raise ValueError(f"formula: {err} at {values}") from None


def problem_values(prob):
    """``{symbol name: value}`` of a :class:`~linmeta.Problem` (``dist0 = |omega0 - w0|``).

    Examples
    --------
    >>> import linmeta as lm
    >>> problem_values(lm.presets.FIG3)["p"], problem_values(lm.presets.FIG3)["dist0"]
    (30, 0.0)
    """
    values = {name: getattr(prob, name) for name in SYMBOLS if name != "dist0"}
    offset = prob.start_offset
    values["dist0"] = math.sqrt(float(offset @ offset))
    return values
