"""The statistical tests behind :func:`linmeta.check`: skewness-corrected z-tests, equivalence, Holm.

Each cell's studentised mean goes through Hall's (1992) transformation (:func:`hall`) before the
normal tail is read, so that one-sided levels hold with right-skewed per-run losses; the docstrings of
:func:`linmeta.check` and the check how-to state the measured levels.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["sf", "skewness", "hall", "p_value", "p_equivalence", "fewest_runs", "runs_needed", "holm"]


def sf(x):
    """Return the standard normal upper tail ``Phi(-x)``."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def skewness(losses):
    """Sample skewness ``m3 / m2^(3/2)`` of the per-run losses (central moments with divisor ``n``); 0 if constant."""
    centred = losses - losses.mean()
    m2, m3 = float(np.mean(centred**2)), float(np.mean(centred**3))
    return m3 / m2**1.5 if m2 > 0 else 0.0


def hall(t, skew, n_runs):
    """Hall's (1992) transformation of a studentised mean ``t``: ``g(t)`` is standard normal up to ``O(1/n)``.

    ``g(t) = t + a (t^2 + 1/2) + a^2 t^3 / 3`` with ``a = skew / (3 sqrt(n))``: Johnson's (1978)
    correction ``t + skew (2 t^2 + 1) / (6 sqrt(n))``, which removes the ``n^(-1/2)`` (skewness) term
    of the Edgeworth expansion ``P(T <= t) = Phi(t) + skew (2 t^2 + 1) phi(t) / (6 sqrt(n)) + O(1/n)``,
    plus a cubic term that makes it increasing, ``g'(t) = (1 + a t)^2 >= 0``, so that a one-sided
    p-value is largest at the edge of its null hypothesis.  ``skew = 0`` gives ``g(t) = t``.  Around
    ``t = -1/a`` it is flat (there, with few runs and a large skewness, far-out p-values are
    overstated: conservative).
    """
    if skew == 0:
        return t
    if abs(t) > 1e50:     # g is increasing from -inf to +inf: the sign decides
        return math.copysign(math.inf, t)
    a = skew / (3.0 * math.sqrt(n_runs))
    return t + a * (t * t + 0.5) + a * a * t**3 / 3.0


def p_value(mean, stderr, value, rtol, skew=0.0, n_runs=1):
    """p-value of the difference test of ``|mu - value| <= rtol |value|`` (the two-sided z-test at ``rtol = 0``).

    With ``D = |mean - value|``, the probability that the estimate lands at least ``D`` from ``value``
    (either side), each tail through :func:`hall`, at the two edges ``mu = value -+ rtol |value|``;
    the larger one.  At ``skew = 0``: ``Phi(-d/se) + Phi(-(d + 2 band)/se)``, ``d = D - band``.
    """
    band = rtol * abs(value)
    dist = abs(mean - value)
    if stderr == 0:
        return 0.0 if dist - band > 0 else 1.0
    p = 0.0
    for edge in (band, -band):       # mu = value + edge
        high = sf(hall((dist - edge) / stderr, skew, n_runs))       # P(mean >= value + D)
        low = sf(-hall((-dist - edge) / stderr, skew, n_runs))      # P(mean <= value - D)
        p = max(p, high + low)
    return min(1.0, p)


def p_equivalence(mean, stderr, value, rtol, skew=0.0, n_runs=1):
    """p-value of the two one-sided tests of ``|mu/value - 1| >= rtol``, each through :func:`hall`.

    ``H0: mu >= value + band`` is rejected for a small mean, p-value ``Phi(g((mean - value - band)/se))``;
    ``H0: mu <= value - band`` for a large one, ``1 - Phi(g((mean - value + band)/se))``; the larger of the
    two.  At ``skew = 0``: ``Phi((|mean - value| - band)/se)``.
    """
    band = rtol * abs(value)
    diff = mean - value
    if stderr == 0:
        return 0.0 if abs(diff) - band < 0 else 1.0
    upper = sf(-hall((diff - band) / stderr, skew, n_runs))
    lower = sf(hall((diff + band) / stderr, skew, n_runs))
    return max(upper, lower)




def fewest_runs(settles, n_runs):
    """Return the fewest runs ``n > n_runs`` with ``settles(n)`` (assumed monotone), ``None`` if none up to ``1e15``."""
    low, high = n_runs, 2 * n_runs
    while not settles(high):
        low, high = high, 2 * high
        if high > 1e15:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if settles(middle) else (middle, high)
    return high


def runs_needed(table, skewness, n_runs, rtol, level):
    """Roughly the runs per cell that settle an inconclusive tolerance check, ``None`` if none would.

    With standard errors scaling like ``1/sqrt(n)`` and the observed relative deviations and
    skewnesses held fixed, the p-values recomputed at ``n`` runs: if some cell's estimate lies
    outside ``rtol``, the fewest runs that make one such cell differ at the Bonferroni level
    ``level/K`` (Holm's first step); otherwise the runs that certify every cell (each at ``level``).
    """
    mean, value, se = (table[c].to_numpy(dtype=float) for c in ("mean", "formula", "stderr"))
    outside = np.abs(mean - value) > rtol * np.abs(value)

    def at(i, n):      # (mean, stderr, value, rtol, skew, n) of cell i with n runs
        return mean[i], se[i] * math.sqrt(n_runs / n), value[i], rtol, skewness[i], n

    if outside.any():
        needs = [fewest_runs(lambda n, i=i: p_value(*at(i, n)) <= level / len(table), n_runs)
                 for i in np.flatnonzero(outside)]
        needs = [n for n in needs if n is not None]
        need = min(needs) if needs else None
    else:
        needs = [fewest_runs(lambda n, i=i: p_equivalence(*at(i, n)) <= level, n_runs) for i in range(len(table))]
        need = None if None in needs else max(needs)
    if need is None:
        return None
    digits = max(0, len(str(need)) - 2)        # two significant figures, rounded up
    return math.ceil(need / 10**digits) * 10**digits




def holm(p_values, level):
    """Rejections of Holm's step-down procedure at family-wise level ``level``."""
    order = np.argsort(p_values, kind="stable")
    reject = np.zeros(len(p_values), dtype=bool)
    for rank, i in enumerate(order):
        if p_values[i] > level / (len(p_values) - rank):
            break
        reject[i] = True
    return reject
