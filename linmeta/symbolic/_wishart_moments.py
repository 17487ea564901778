"""Exact Wishart moments ``E[prod_j tr H^{k_j}]``, ``H = X^T X / n``, as sympy expressions (docs: theory, derivation).

Two independent derivations: the integration-by-parts (Stein) recursion, any
order, for integer or symbolic ``n, p`` (:func:`wishart_moment`), and Wick's
theorem, a sum over the ``(2K-1)!!`` perfect pairings of the ``2K`` Gaussian
factors, practical up to total degree about 6 (:func:`wick_moment`).
"""
from __future__ import annotations

import functools
import numbers

import sympy as sp

from linmeta.symbolic._symbols import h
from linmeta.symbolic._symbols import n as n_sym
from linmeta.symbolic._symbols import p as p_sym


def _check_powers(powers):
    if isinstance(powers, numbers.Integral):
        powers = (powers,)
    try:
        powers = tuple(powers)
    except TypeError:
        raise ValueError(f"powers must be a tuple of non-negative integers; got {powers!r}") from None
    for q in powers:
        if not isinstance(q, numbers.Integral) or isinstance(q, bool) or q < 0:
            raise ValueError(f"powers must be a tuple of non-negative integers; got {powers!r}")
    return tuple(int(q) for q in powers)


def _check_size(value, name):
    if isinstance(value, sp.Symbol):
        return value
    if isinstance(value, (numbers.Integral, sp.Integer)) and not isinstance(value, bool) and int(value) >= 1:
        return sp.Integer(int(value))
    if isinstance(value, sp.Expr) and value.free_symbols:
        return value
    raise ValueError(f"{name} must be a positive integer or a sympy symbol; got {value!r}")


@functools.lru_cache(maxsize=None)
def _stein(powers, n, p):
    """``E[prod tr W^{k}]`` for ``W = X^T X`` (``powers`` sorted, all positive), expanded.

    Stein's lemma on one factor ``tr W^k = sum X_ai (X W^{k-1})_ai`` gives
    ``E[tr W^k G] = E[(n + k - 1) tr W^{k-1} G + sum_{l=1}^{k-1} tr W^l tr W^{k-1-l} G
    + sum_r 2 j_r tr W^{k+j_r-1} G / tr W^{j_r}]``, ``G = prod_r tr W^{j_r}``, ``tr W^0 = p``.
    """
    if not powers:
        return sp.Integer(1)
    k, rest = powers[-1], powers[:-1]

    def term(extra, base):
        ps = [q for q in base + tuple(extra) if q > 0]
        return p ** sum(1 for q in extra if q == 0) * _stein(tuple(sorted(ps)), n, p)

    total = (n + k - 1) * term((k - 1,), rest)
    for l in range(1, k):
        total += term((l, k - 1 - l), rest)
    for r, j in enumerate(rest):
        total += 2 * j * term((k + j - 1,), rest[:r] + rest[r + 1:])
    return sp.expand(total)


def wishart_moment(powers: tuple[int, ...], n: int | sp.Symbol = n_sym, p: int | sp.Symbol = p_sym) -> sp.Expr:
    """Exact ``E[prod_j tr H^{k_j}]`` for ``H = X^T X / n``, ``X`` an ``n x p`` standard Gaussian matrix.

    Any order, by the Stein recursion (checked against Wick's theorem and Monte
    Carlo in the tests).  ``tr H^0 = p``.

    Parameters
    ----------
    powers : tuple of int
        The exponents ``(k_1, k_2, ...)``, each ``>= 0``; an int means ``(k,)``.
    n, p : int or sympy.Symbol, default: the symbols ``n`` and ``p``
        Number of rows (sample size) and of columns (dimension).

    Returns
    -------
    sympy.Expr
        A rational function of ``n, p`` (a Rational if both are integers).

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> ls.wishart_moment((2,))
    p*(n + p + 1)/n
    >>> ls.wishart_moment((1, 1))
    p*(n*p + 2)/n
    >>> ls.wishart_moment((2, 2), n=3, p=2)
    1120/27
    """
    powers = _check_powers(powers)
    n, p = _check_size(n, "n"), _check_size(p, "p")
    zeros = sum(1 for q in powers if q == 0)
    positive = tuple(sorted(q for q in powers if q > 0))
    value = p**zeros * _stein(positive, n, p) / n ** sum(positive)
    return sp.factor(value) if value.free_symbols else value


# ----------------------------------------------------------------------------- Wick's theorem
def _factors(powers):
    """Factors ``(row var, col var)`` of ``prod_k tr (X^T X)^k``."""
    out, label = [], 0
    for power in powers:
        rows = [("a", label + r) for r in range(power)]
        cols = [("i", label + r) for r in range(power)]
        for r in range(power):
            out.append((rows[r], cols[r]))                  # X[a_r, i_r]
            out.append((rows[r], cols[(r + 1) % power]))    # X[a_r, i_{r+1}]
        label += power
    return out


def _pairings(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for j, other in enumerate(rest):
        for tail in _pairings(rest[:j] + rest[j + 1:]):
            yield [(first, other)] + tail


def _n_classes(variables, identified):
    parent = {v: v for v in variables}

    def find(v):
        while parent[v] != v:
            v = parent[v]
        return v

    for a, b in identified:
        parent[find(a)] = find(b)
    return len({find(v) for v in variables})


@functools.lru_cache(maxsize=None)
def wick_moment(*powers):
    """``E[prod_k tr H^k]`` in the symbols ``n, p`` by Wick's theorem (an independent check).

    A pairing of the ``2K`` factors identifies the row indices and the column
    indices of the paired factors and contributes ``n^(#row classes) p^(#column classes)``.

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> ls.wick_moment(3)
    p*(n**2 + 3*n*p + 3*n + p**2 + 3*p + 4)/n**2
    """
    powers = tuple(sorted(_check_powers(powers)))
    zero = sum(1 for q in powers if q == 0)
    powers = tuple(q for q in powers if q > 0)
    factors = _factors(powers)
    rows = {f[0] for f in factors}
    cols = {f[1] for f in factors}
    total = sp.Integer(0)
    for pairing in _pairings(list(range(len(factors)))):
        r = _n_classes(rows, [(factors[a][0], factors[b][0]) for a, b in pairing])
        c = _n_classes(cols, [(factors[a][1], factors[b][1]) for a, b in pairing])
        total += n_sym**r * p_sym**c
    return sp.factor(p_sym**zero * total / n_sym ** sum(powers))


def expect_trace(f, g=None):
    """``E[tr f(H)]`` or ``E[tr f(H) tr g(H)]`` for polynomials ``f, g`` in the eigenvalue symbol ``h``.

    Examples
    --------
    >>> from linmeta.symbolic import _symbols as S
    >>> expect_trace((1 - S.h) ** 2)
    p**2/n + p/n
    """
    cf = sp.Poly(sp.expand(f), h).all_coeffs()[::-1]
    if g is None:
        return sp.expand(sum(c * wick_moment(j) for j, c in enumerate(cf)))
    cg = sp.Poly(sp.expand(g), h).all_coeffs()[::-1]
    return sp.expand(sum(a * b * wick_moment(i, j) for i, a in enumerate(cf) for j, b in enumerate(cg)))
