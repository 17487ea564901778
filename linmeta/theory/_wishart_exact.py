"""Exact Wishart moments at runtime, in rational arithmetic (no sympy): the numbers the theory evaluates.

The one runtime implementation of ``E[prod_r tr W^{k_r}]`` for ``W = X^T X``,
``X`` an ``n x p`` standard Gaussian matrix, by the integration-by-parts (Stein)
recursion (docs: theory, derivation): with ``G = prod_r tr W^{j_r}`` and ``tr W^0 = p``,

    E[tr W^k G] = E[(n + k - 1) tr W^{k-1} G + sum_{l=1}^{k-1} tr W^l tr W^{k-1-l} G
                    + sum_r 2 j_r tr W^{k+j_r-1} G / tr W^{j_r}].

The symbolic version (:func:`linmeta.symbolic.wishart_moment`) is checked against
this one and against Wick's theorem in the tests.

Examples
--------
>>> wishart_moment((2,), 3, 2)
Fraction(4, 1)
>>> raw_moment((1, 1), 3, 2)   # n p (n p + 2)
48
"""
from __future__ import annotations

import functools
from fractions import Fraction

__all__ = ["raw_moment", "wishart_moment", "nstep_trace_moments"]


@functools.lru_cache(maxsize=None)
def raw_moment(powers, n, p):
    """``E[prod_r tr W^{k_r}]`` for ``W = X^T X`` (an exact int); ``powers`` a sorted tuple of ints >= 1.

    Examples
    --------
    >>> raw_moment((2,), 5, 3)   # n p (n + p + 1)
    135
    """
    if not powers:
        return 1
    k, rest = powers[-1], powers[:-1]

    def term(extra, base):
        ps = [q for q in base + tuple(extra) if q > 0]
        return p ** sum(1 for q in extra if q == 0) * raw_moment(tuple(sorted(ps)), n, p)

    total = (n + k - 1) * term((k - 1,), rest)
    for l in range(1, k):
        total += term((l, k - 1 - l), rest)
    for r, j in enumerate(rest):
        total += 2 * j * term((k + j - 1,), rest[:r] + rest[r + 1:])
    return total


def wishart_moment(powers, n, p):
    """``E[prod_j tr H^{k_j}]`` for ``H = W / n``, exact (a Fraction); ``tr H^0 = p``.

    Parameters
    ----------
    powers : tuple of int
        Exponents ``>= 0``, in any order.
    n, p : int
        Sample size and dimension, ``>= 1``.

    Returns
    -------
    fractions.Fraction

    Examples
    --------
    >>> wishart_moment((1, 1), 4, 3)   # p (n p + 2) / n
    Fraction(21, 2)
    """
    for name, v in (("n", n), ("p", p)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {v!r}")
    if any(not isinstance(q, int) or isinstance(q, bool) or q < 0 for q in powers):
        raise ValueError(f"powers must be non-negative integers; got {powers!r}")
    positive = tuple(sorted(q for q in powers if q > 0))
    zeros = len(powers) - len(positive)
    return Fraction(p**zeros * raw_moment(positive, n, p), n ** sum(positive))


def _poly_mul(a, b):
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _expect(polys, n, p):
    """``E[prod tr f(H)]`` for polynomials ``f`` (ascending coefficient lists) of ``H = W / n``."""
    total = Fraction(0)

    def rec(idx, powers, coef):
        nonlocal total
        if idx == len(polys):
            total += coef * wishart_moment(powers, n, p)
            return
        for deg, c in enumerate(polys[idx]):
            if c:
                rec(idx + 1, powers + (deg,), coef * c)

    rec(0, (), 1)
    return total


def nstep_trace_moments(alpha, N, n, p):
    """``(tA2, tA4, tA2sq, tF2H, tG, tAG)`` of N-step MAML, exact (docs: theory, B1).

    ``A = (I - alpha H)^N``, ``F = alpha sum_{j<N} (I - alpha H)^j``; ``tA2 = E tr A^2/p``,
    ``tA4 = E tr A^4/p``, ``tA2sq = E (tr A^2)^2/p^2``, ``tF2H = E tr(F^2 H)/p``,
    ``tG = E tr(A^2 F^2 H)/p``, ``tAG = E[tr A^2 tr F^2 H]/p^2``.

    Parameters
    ----------
    alpha : fractions.Fraction or int
        The inner rate, exactly (``Fraction(float)`` is exact).
    N, n, p : int
        Steps, points per task (``n_t``), dimension.

    Returns
    -------
    tuple of 6 Fraction

    Examples
    --------
    >>> nstep_trace_moments(Fraction(0), 3, 5, 30)
    (Fraction(1, 1), Fraction(1, 1), Fraction(1, 1), Fraction(0, 1), Fraction(0, 1), Fraction(0, 1))
    """
    step = [1, -alpha]
    a = [1]
    for _ in range(N):
        a = _poly_mul(a, step)
    f, power = [0], [1]
    for _ in range(N):  # f = alpha sum_{j<N} (1 - alpha h)^j
        f = [x + y for x, y in zip(f + [0] * len(power), [alpha * c for c in power] + [0] * len(f), strict=True)]
        power = _poly_mul(power, step)
    while len(f) > 1 and f[-1] == 0:
        f.pop()
    a2 = _poly_mul(a, a)
    a4 = _poly_mul(a2, a2)
    f2h = _poly_mul(_poly_mul(f, f), [0, 1])
    a2f2h = _poly_mul(a2, f2h)
    return (_expect([a2], n, p) / p, _expect([a4], n, p) / p, _expect([a2, a2], n, p) / p**2,
            _expect([f2h], n, p) / p, _expect([a2f2h], n, p) / p, _expect([a2, f2h], n, p) / p**2)
