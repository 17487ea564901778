"""Exact matrix moments of a sample covariance with a diagonal population covariance (docs: theory, P2).

``H = X^T X / n`` with the ``n`` rows of ``X`` independent ``N(0, S)``, ``S = diag(s)``.
Written out, ``H^a S H^b`` is ``n^-(a+b)`` times a sum over point indices ``k_r`` and
coordinate indices ``i_0 .. i_K`` (``K = a + b``) of the ``2K`` Gaussian factors
``x_{k_r, i_{r-1}} x_{k_r, i_r}`` (and ``s_{i_a}`` for the inserted ``S``).  By Wick's theorem its
expectation is a sum over the ``(2K - 1)!!`` perfect pairings of the factors, a pair
contributing ``E[x_{k,i} x_{k',i'}] = delta_{kk'} delta_{ii'} s_i``.  A pairing joins the point
indices into ``c`` cycles (a factor ``n^c``) and the coordinate indices into one path from
``i_0`` to ``i_K`` (a factor ``s_j^q``, ``q`` its pairs, plus one if it holds ``i_a``) and closed
cycles (a factor ``tr S^q`` each).  So ``E[H^a S H^b]`` is diagonal, with

    E[H^a S H^b]_jj = sum_pairings n^(c - K) s_j^q prod_cycles tr S^(q_cycle),

exact for every ``n >= 1``.  The terms are grouped once per ``(a, b)``; the cost grows as
``(2K - 1)!!``, so ``K <= MAX_DEGREE``.  ``derivations/population.py`` checks these moments
against an independent expansion over the partitions of the point indices.
"""
from __future__ import annotations

import collections
import functools

import numpy as np

__all__ = ["MAX_DEGREE", "wick_terms", "diagonal_moment"]

#: Largest total degree ``a + b`` (``(2K - 1)!! = 10395`` pairings at ``K = 6``).
MAX_DEGREE = 6


def _pairings(items):
    if not items:
        yield ()
        return
    first, rest = items[0], items[1:]
    for j, other in enumerate(rest):
        for tail in _pairings(rest[:j] + rest[j + 1:]):
            yield ((first, other),) + tail


def _find(parent, v):
    while parent[v] != v:
        v = parent[v]
    return v


@functools.lru_cache(maxsize=None)
def wick_terms(a: int, b: int, insert: bool = True) -> tuple:
    """Return the grouped Wick terms of ``E[H^a S H^b]`` (``insert``) or ``E[H^(a+b)]``.

    Returns a sorted tuple of ``((c, q, cycle_powers), count)``: ``count`` pairings
    contribute ``n^(c - a - b) s_j^q prod_r tr S^(cycle_powers[r])``.

    Examples
    --------
    >>> wick_terms(2, 0, insert=False)   # E[H^2] = S^2 + (S^2 + S tr S) / n
    (((1, 1, (1,)), 1), ((1, 2, ()), 1), ((2, 2, ()), 1))
    """
    K = a + b
    if K > MAX_DEGREE:
        raise NotImplementedError(f"E[H^a S H^b] of total degree a + b = {K} is a sum over (2K - 1)!! Wick "
                                  f"pairings; only degrees <= {MAX_DEGREE} are implemented")
    terms = collections.Counter()
    for pairing in _pairings(tuple(range(2 * K))):
        points, coords = list(range(K)), list(range(K + 1))
        for f, g in pairing:  # factor f has point index f // 2 and coordinate index f // 2 + f % 2
            points[_find(points, f // 2)] = _find(points, g // 2)
            coords[_find(coords, f // 2 + f % 2)] = _find(coords, g // 2 + g % 2)
        power = collections.Counter(_find(coords, f // 2 + f % 2) for f, _ in pairing)
        if insert:
            power[_find(coords, a)] += 1
        path = _find(coords, 0)
        cycles = sum(1 for k in range(K) if points[k] == k)
        others = tuple(sorted(q for root, q in power.items() if root != path))
        terms[(cycles, power[path], others)] += 1
    return tuple(sorted(terms.items()))


def diagonal_moment(a: int, b: int, s: np.ndarray, n: int, insert: bool = True) -> np.ndarray:
    """Diagonal of ``E[H^a S H^b]`` (``insert``) or of ``E[H^(a+b)]``, for each row of ``s``.

    Parameters
    ----------
    a, b : int
        Powers, ``a + b <= MAX_DEGREE``.
    s : ndarray of shape (..., p)
        Diagonal of ``S`` (one covariance per leading index).
    n : int
        Points in ``H``.
    insert : bool, default=True
        Whether ``S`` sits between ``H^a`` and ``H^b``.

    Returns
    -------
    ndarray of the shape of ``s``

    Examples
    --------
    >>> import numpy as np
    >>> diagonal_moment(1, 1, np.array([1.0, 2.0]), 4)   # S^3 + (S^3 + S tr S^2) / n
    array([ 2.5, 12.5])
    """
    s = np.asarray(s, dtype=float)
    out = np.zeros_like(s)
    for (cycles, q, others), count in wick_terms(a, b, insert):
        term = count * float(n) ** (cycles - a - b) * s**q
        for r in others:
            term = term * np.sum(s**r, axis=-1, keepdims=True)
        out = out + term
    return out
