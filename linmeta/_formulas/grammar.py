"""Safe parsing of a formula string in the paper's symbols into a tree of tuples; no ``eval``, no sympy.

The string is tokenized by a regular expression; only numbers, the symbol names
:data:`~linmeta._formulas.symbols.SYMBOL_NAMES`, the operators ``+ - * / ** ^`` (``^`` is a power), parentheses
and the functions :data:`~linmeta._formulas.symbols.FUNCTION_NAMES` are accepted.  Anything else (attribute
access, other names or calls, ``__import__``, ``lambda``, subscripts, commas,
strings) raises ``ValueError`` naming the offending token.  The accepted token
stream is parsed by recursive descent into a small tree of tuples, which
:func:`~linmeta._formulas.evaluation.evaluate` computes with :mod:`math` and
:func:`~linmeta._formulas.sympy_bridge.from_tree` turns into a sympy expression.

Size limits keep every later step (evaluation, sympy) within Python's recursion
limit: at most :data:`MAX_LENGTH` characters, :data:`MAX_OPERANDS` numbers and
symbols, and :data:`MAX_DEPTH` levels of nesting (parentheses, function calls,
signs and powers); a longer or deeper formula raises ``ValueError`` before any
recursion.  A chain ``a + b - c`` or ``a * b / c`` is one node, however long,
evaluated left to right.

Grammar (usual precedence; ``**`` binds tighter than unary minus and is
right-associative)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := ("+" | "-") unary | power
    power := atom (("**" | "^") unary)?
    atom  := NUMBER | SYMBOL | FUNCTION "(" expr ")" | "(" expr ")"

Tree nodes: ``("num", text)``, ``("sym", name)``, ``("neg", a)``, ``("call", name, a)``,
``("**", a, b)``, and the chains ``("+-", a, ((op, b), (op, c), ...))`` and
``("*/", a, ((op, b), ...))`` (``op`` one of ``+ -`` or ``* /``).

Examples
--------
>>> parse("sigma^2/2 * p")
('*/', ('**', ('sym', 'sigma'), ('num', '2')), (('/', ('num', '2')), ('*', ('sym', 'p'))))
>>> parse("__import__('os')")
Traceback (most recent call last):
    ...
ValueError: formula: unknown name '__import__' at position 0; allowed symbols: p, m, n_t, n_v, n_r, sigma, nu, alpha_t,
alpha_r, dist0, ...; functions: sqrt, exp, log, Abs
"""
from __future__ import annotations

import re

from linmeta._formulas.symbols import FUNCTION_NAMES, SYMBOL_NAMES

__all__ = ["MAX_LENGTH", "MAX_OPERANDS", "MAX_DEPTH", "tokenize", "parse", "children", "names"]

MAX_LENGTH = 10_000
MAX_OPERANDS = 1000
MAX_DEPTH = 60

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_0-9.]))
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|[-+*/^()])
""", re.VERBOSE)


def _excerpt(text):
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def _allowed():
    return f"allowed symbols: {', '.join(SYMBOL_NAMES)}; functions: {', '.join(FUNCTION_NAMES)}"


def tokenize(text):
    """Split ``text`` into ``(kind, value, position)`` tokens, refusing anything not allowed.

    Examples
    --------
    >>> [t[1] for t in tokenize("2*p^2")]
    ['2', '*', 'p', '^', '2']
    >>> tokenize("p.real")
    Traceback (most recent call last):
        ...
    ValueError: formula: refused token '.real' at position 1; only numbers, symbols, + - * / ** ^ ( ) and sqrt, exp,
    log, Abs are allowed
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
                             f"+ - * / ** ^ ( ) and {', '.join(FUNCTION_NAMES)} are allowed")
        kind = match.lastgroup
        if kind != "space":
            value = match.group(kind)
            if kind == "name" and value not in SYMBOL_NAMES and value not in FUNCTION_NAMES:
                raise ValueError(f"formula: unknown name {value!r} at position {pos}; {_allowed()}")
            tokens.append((kind, value, pos))
        pos = match.end()
    if not tokens:
        raise ValueError("formula: empty formula")
    operands = sum(kind in ("number", "name") and value not in FUNCTION_NAMES for kind, value, _ in tokens)
    if operands > MAX_OPERANDS:
        raise ValueError(f"formula: at most {MAX_OPERANDS} numbers and symbols; got {operands} in {_excerpt(text)}")
    return tokens


class _Parser:
    def __init__(self, tokens, text):
        self.tokens, self.i, self.text, self.depth = tokens, 0, text, 0

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

    def chain(self, ops, operand):
        """``operand (op operand)*`` as one node, or the lone operand."""
        first, rest = operand(), []
        while self.peek()[1] in ops and self.peek()[0] == "op":
            op = self.take()[1]
            rest.append((op, operand()))
        return (ops[0] + ops[1], first, tuple(rest)) if rest else first

    def expr(self):
        return self.chain(("+", "-"), self.term)

    def term(self):
        return self.chain(("*", "/"), self.unary)

    def unary(self):
        # every nesting (parentheses, call, sign, exponent) passes here: bound the recursion
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"formula: nested more than {MAX_DEPTH} levels deep (parentheses, calls, signs, "
                             f"powers) at position {self.peek()[2]} of {_excerpt(self.text)}")
        if self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            operand = self.unary()
            node = ("neg", operand) if op == "-" else operand
        else:
            node = self.power()
        self.depth -= 1
        return node

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
        if kind == "name" and value in FUNCTION_NAMES:
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
        A formula in the symbols :data:`SYMBOL_NAMES`.

    Returns
    -------
    tuple
        The expression tree.

    Examples
    --------
    >>> parse("-p^2")
    ('neg', ('**', ('sym', 'p'), ('num', '2')))
    >>> parse("p - m + 1")
    ('+-', ('sym', 'p'), (('-', ('sym', 'm')), ('+', ('num', '1'))))
    """
    parser = _Parser(tokenize(text), text)
    tree = parser.expr()
    tok = parser.peek()
    if tok[0] != "end":
        raise ValueError(f"formula: unexpected token {tok[1]!r} at position {tok[2]}")
    return tree


def children(tree):
    """Return the sub-trees of a node, in order."""
    op = tree[0]
    if op in ("num", "sym"):
        return ()
    if op == "neg":
        return (tree[1],)
    if op == "call":
        return (tree[2],)
    if op == "**":
        return (tree[1], tree[2])
    return (tree[1],) + tuple(node for _, node in tree[2])


def names(tree):
    """Return the symbol names used in ``tree`` (a set).

    >>> sorted(names(parse("sigma^2 * p / (n_v*m - p - 1)")))
    ['m', 'n_v', 'p', 'sigma']
    """
    found, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if node[0] == "sym":
            found.add(node[1])
        stack.extend(children(node))
    return found
