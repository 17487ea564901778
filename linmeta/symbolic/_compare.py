"""Symbolic equality with a witness: :func:`compare`."""
from __future__ import annotations

import dataclasses
import random

import sympy as sp

from linmeta._formulas.sympy_bridge import as_expr

__all__ = ["Comparison", "compare"]

_FACTOR_LIMIT = 300


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    equal : bool
        ``True`` when ``a - b`` simplifies to zero.
    difference : sympy.Expr
        ``a - b``, simplified: one cancelled fraction, factored when it has at most 300 operations.
    witness : dict or None
        ``{symbol: exact value}`` at which ``a != b``, keyed by the sympy symbols of the
        expressions themselves, so ``expr.subs(witness)`` evaluates there (``None`` when
        equal, or when no point among those tried separates them).
    """

    equal: bool
    difference: sp.Expr
    witness: dict | None

    def __bool__(self):
        return self.equal


def _candidate(sym, rng):
    """Return an exact value admissible for ``sym``'s assumptions."""
    if sym.is_integer:
        return sp.Integer(rng.randint(1, 12) if sym.is_positive else rng.randint(-10, 10))
    return sp.Rational(rng.randint(0 if sym.is_nonnegative else -10, 10), rng.choice((1, 2, 4, 5, 10)))


def compare(a: sp.Expr | float | str, b: sp.Expr | float | str, *, tries: int = 200, seed: int = 0) -> Comparison:
    """Compare two expressions exactly: simplify ``a - b``; if not zero, find a point where they differ.

    Parameters
    ----------
    a, b : sympy.Expr, number or str
        A string is read by :func:`linmeta.symbolic.parse` (never evaluated as Python).
    tries : int, default=200
        Random admissible exact points tried for a witness (integers for integer
        symbols, non-negative rationals for non-negative ones).
    seed : int, default=0
        Fixes the points tried.

    Returns
    -------
    Comparison
        ``(equal, difference, witness)``.

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> p, n_v, m = ls.symbols.p, ls.symbols.n_v, ls.symbols.m
    >>> ls.compare((p + 1)**2, p**2 + 2*p + 1).equal
    True
    >>> res = ls.compare(p / (n_v*m - p - 1), p / (n_v*m))
    >>> res.equal, res.witness is not None
    (False, True)
    >>> res.difference
    -p*(p + 1)/(m*n_v*(-m*n_v + p + 1))
    >>> a, b = p / (n_v*m - p - 1), p / (n_v*m)
    >>> bool(a.subs(res.witness) != b.subs(res.witness))
    True
    >>> ls.compare("p^2 - 1", "(p - 1)*(p + 1)").equal
    True
    """
    a, b = as_expr(a, "a"), as_expr(b, "b")
    difference = sp.cancel(sp.together(a - b))      # canonical for rational functions
    if difference != 0 and not difference.is_rational_function():
        difference = sp.simplify(difference)
    if sp.count_ops(difference) <= _FACTOR_LIMIT:  # factoring a large difference costs seconds
        difference = sp.factor(difference)
    if difference == 0:
        return Comparison(True, sp.Integer(0), None)
    rng = random.Random(seed)
    free = sorted(difference.free_symbols, key=lambda s: s.name)
    for _ in range(tries):
        point = {s: _candidate(s, rng) for s in free}
        value = difference.subs(point)
        if value.is_number and value.is_finite and value != 0 and not value.has(sp.zoo, sp.nan):
            value = sp.simplify(a.subs(point) - b.subs(point))   # confirm on the inputs themselves
        if value.is_number and value.is_finite and value != 0 and not value.has(sp.zoo, sp.nan):
            return Comparison(False, difference, {s: point[s] for s in free})
    return Comparison(False, difference, None)
