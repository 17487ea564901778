"""The derivations behind Theorems 1 and 2 and their extensions (docs: theory, T0, T1, T1a, T2, derivation).

Every function returns a sympy expression in the symbols of
:mod:`linmeta.symbolic._symbols`; the distance ``|omega0 - w0|**2`` is the
internal ``s2`` here (the public API substitutes ``dist0**2``), so that the
emitted NumPy code keeps its argument names.
"""
import itertools

import sympy as sp

from linmeta.symbolic._symbols import (
    alpha_r,
    alpha_t,
    h,
    h_r,
    h_t,
    k,
    m,
    n,
    n_r,
    n_t,
    n_v,
    nu,
    p,
    s2,
    sigma,
)
from linmeta.symbolic._wishart_moments import expect_trace, wishart_moment

A = 1 - alpha_t * h  # the inner-step matrix A = I - alpha_t H, as a polynomial in H


# ----------------------------------------------------------------------------- T0
def t0_loss(distance):
    """(T0): expected test loss given ``E|omega* - w0|^2 = distance``, derived.

    Adapted parameters: ``theta - w = (I - alpha_r H)(omega - w) + (alpha_r/n_r) X^T z``;
    ``E|omega - w|^2 = |omega - w0|^2 + nu^2``; the cross term vanishes.
    """
    second = expect_trace((1 - alpha_r * h) ** 2).subs(n, n_r) / p   # E (I - a H)^2 = c I
    noise = alpha_r**2 * sigma**2 * expect_trace(h).subs(n, n_r) / n_r  # E|(a/n) X^T z|^2
    return sigma**2 / 2 + (second * (nu**2 + distance) + noise) / 2


def t0_printed(distance):
    """(T0) exactly as printed."""
    return sigma**2 / 2 * (1 + alpha_r**2 * p / n_r) + h_r / 2 * (nu**2 + distance)


def optimal_alpha_r(distance_value):
    """Minimiser of (T0) over ``alpha_r`` for a given ``E|omega* - w0|^2`` (exact, both regimes)."""
    loss = t0_printed(distance_value)
    (sol,) = sp.solve(sp.diff(loss, alpha_r), alpha_r)
    return sp.simplify(sol)


# ----------------------------------------------------------------------------- T1
def t1_distance():
    """Leading-order ``E|omega* - w0|^2``, over-parameterised (T1).

    ``omega* - w0 = (I - P)(omega0 - w0) + Z^+ e`` with ``E P = (k/p) I`` and
    ``Z Z^T ~ p h_t I``, so ``E|Z^+ e|^2 ~ E|e|^2 / (p h_t)``.
    """
    tr_a2 = expect_trace((1 - alpha_t * h) ** 2).subs(n, n_t)            # E tr A^2
    per_point = nu**2 / p * tr_a2 + alpha_t**2 * sigma**2 * expect_trace(h).subs(n, n_t) / n_t + sigma**2
    e2 = k * per_point                                                  # E|e|^2
    projector = (1 - k / p) * s2                                        # E (I-P) term
    return projector + e2 / (p * h_t)


def t1_printed_loss():
    """(T1) exactly as printed."""
    return (sigma**2 / 2 * (1 + alpha_r**2 * p / n_r)
            + h_r * (nu**2 / 2 * (1 + k / p) + (1 - k / p) * s2 / 2
                     + sigma**2 * k / (2 * p) * (1 + alpha_t**2 * p / n_t) / h_t))


def alpha_t_stationary():
    """Return the printed ``(alpha_t^-, alpha_t^+)`` of (T1a)."""
    c = (n_t + 1) / (2 * p)
    root = sp.sqrt(c**2 + n_t / p)
    return -c - root, -c + root


# ----------------------------------------------------------------------------- T2
def g_functions():
    """``(g1, g2, g3, g4)`` as explicit rational functions of ``alpha_t, n_t, p``."""
    g1 = expect_trace(h * A**2) / p
    g2 = expect_trace(h, A**2) / p**2
    g3 = expect_trace(A**4) / p
    g4 = expect_trace(A**2, A**2) / p**2
    return tuple(sp.factor(sp.expand(g.subs(n, n_t))) for g in (g1, g2, g3, g4))


def xi_second_moment():
    """``E|xi|^2`` for one task, exact (section 5)."""
    g1, g2, g3, g4 = g_functions()
    tr_a2 = expect_trace(A**2).subs(n, n_t)
    return (sigma**2 * n_v * tr_a2
            + alpha_t**2 * sigma**2 / n_t * (n_v * (n_v + 1) * p * g1 + n_v * p**2 * g2)
            + nu**2 / p * (n_v * (n_v + 1) * p * g3 + n_v * p**2 * g4))


def t2_distance():
    """Leading-order ``E|omega* - w0|^2``, under-parameterised (derived)."""
    return xi_second_moment() / (m * n_v**2 * h_t**2)


def t2_braces():
    """Return the curly bracket of the printed (T2)."""
    g1, g2, g3, g4 = g_functions()
    return (sigma**2 * (h_t + alpha_t**2 / n_t * ((n_v + 1) * g1 + p * g2))
            + nu**2 / p * ((n_v + 1) * g3 + p * g4))


def t2_printed_loss():
    """(T2) exactly as printed (prefactor ``h_r/(2 h_t)``)."""
    return (sigma**2 / 2 * (1 + alpha_r**2 * p / n_r) + h_r * nu**2 / 2
            + h_r / (2 * h_t) * p / (n_v * m) * t2_braces())


def t2_printed_distance():
    """``E|omega* - w0|^2`` implied by the printed (T2) through (T0)."""
    return p / (n_v * m * h_t) * t2_braces()


# ----------------------------------------------------------------------------- alpha_t = 0, exact
def exact_alpha0_over():
    """``E|omega* - w0|^2`` at ``alpha_t = 0``, ``p > k``, exact (inverse Wishart, ``E tr G^-1 = k/(p-k-1)``)."""
    return (1 - k / p) * s2 + nu**2 * k * (p - n_v - 1) / (p * (p - k - 1)) + sigma**2 * k / (p - k - 1)


def exact_alpha0_under():
    """``E|omega* - w0|^2`` at ``alpha_t = 0``, ``p < k``, exact (``S = X^T X ~ Wishart_p(k)``)."""
    N = k
    a = p * (N - 2) * (p + 2) / (N * (N + 2) * (N - p - 1))
    return nu**2 / p * (N * a + (n_v - 1) * (p - N * a) / (N - 1)) + sigma**2 * p / (N - p - 1)


# ----------------------------------------------------------------------------- finite size, Dyson (reference)
def _finite_trace_moments():
    """``(E tr A^4, E (tr A^2)^2, E tr(A^2 H), E tr A^2 tr H)`` with ``n = n_t``, exact."""
    g1, g2, g3, g4 = g_functions()
    return p * g3, p**2 * g4, p * g1, p**2 * g2


def dyson_over():
    """``E|omega* - w0|^2``, ``p > k``: Dyson-resummed second order in ``G = Z Z^T`` around ``g0 = p h_t``.

    Exact at ``alpha_t = 0``; a superseded finite-size formula that simulation rejects
    (docs: theory, derivation), kept as a negative control.
    """
    tr_a4, tr_a2_sq, tr_a2h, tr_a2_trh = _finite_trace_moments()
    g0 = p * h_t
    tr_d2 = k * (2 * tr_a4 + tr_a2_sq - g0**2) + k * (n_v - 1) * tr_a4 + k * (k - n_v) * p * h_t**2
    gamma = 1 / (g0 - tr_d2 / (k * g0))
    tr_dbh = k * (2 * tr_a2h + tr_a2_trh - g0 * p) + k * (n_v - 1) * tr_a2h
    task = k * (1 + (k - n_v) * p * h_t**2 * gamma / g0)
    return ((1 - k / p) * s2 + nu**2 / p * task + sigma**2 * k * gamma
            + sigma**2 * alpha_t**2 / n_t * gamma * (k * p - tr_dbh / g0))


def dyson_under():
    """``E|omega* - w0|^2``, ``p < k``: leading order with ``E tr S^-1`` Dyson-resummed.

    Exact at ``alpha_t = 0`` in the noise term; a superseded finite-size formula that
    simulation rejects (docs: theory, derivation), kept as a negative control.
    """
    tr_a4, tr_a2_sq, tr_a2h, tr_a2_trh = _finite_trace_moments()
    c = m * n_v * h_t
    tr_f2 = n_v * (n_v + 1) * tr_a4 + n_v * tr_a2_sq             # E tr (A V A)^2
    tr_avhva = n_v * (n_v + 1) * tr_a2h + n_v * tr_a2_trh        # E tr (A V H V A)
    q = tr_f2 / p - n_v**2 * h_t**2                              # E tr D_1^2 / p
    return (sigma**2 * p / (c - m * q / c) + nu**2 / p * m * tr_f2 / c**2
            + sigma**2 * alpha_t**2 / n_t * m * tr_avhva / c**2)


# ----------------------------------------------------------------------------- N-step MAML
tA2, tA4, tA2sq, tF2H, tG, tAG = sp.symbols("tA2 tA4 tA2sq tF2H tG tAG", positive=True)


def nstep_distance_over():
    """Leading-order ``E|omega* - w0|^2``, over-parameterised, in terms of the trace moments."""
    return (1 - k / p) * s2 + k * (nu**2 * tA2 + sigma**2 * p * tF2H / n_t + sigma**2) / (p * tA2)


def nstep_distance_under():
    """Leading-order ``E|omega* - w0|^2``, under-parameterised, in terms of the trace moments."""
    xi2 = (sigma**2 * n_v * p * tA2 + sigma**2 / n_t * (n_v * (n_v + 1) * p * tG + n_v * p**2 * tAG)
           + nu**2 / p * (n_v * (n_v + 1) * p * tA4 + n_v * p**2 * tA2sq))
    return xi2 / (m * n_v**2 * tA2**2)


def nstep_trace_moments(n_steps):
    """``(tA2, tA4, tA2sq, tF2H, tG, tAG)`` of ``n_steps``-step MAML in ``alpha_t, n_t, p``, exact.

    ``A = (1 - alpha_t H)^N``, ``F = alpha_t sum_{j<N} (1 - alpha_t H)^j``; each is a
    finite combination of Wishart moments (:func:`~linmeta.symbolic.wishart_moment`).
    """
    a = sp.expand((1 - alpha_t * h) ** n_steps)
    f = sp.expand(alpha_t * sum((1 - alpha_t * h) ** j for j in range(n_steps)))

    def expect(*polys):
        total = sp.Integer(0)
        terms = [sp.Poly(q, h).terms() for q in polys]
        for combo in itertools.product(*terms):
            coef, powers = sp.Integer(1), []
            for (deg,), c in combo:
                coef *= c
                powers.append(deg)
            total += coef * wishart_moment(tuple(powers), n_t, p)
        return total

    a2, f2h = sp.expand(a**2), sp.expand(f**2 * h)
    out = (expect(a2) / p, expect(sp.expand(a2**2)) / p, expect(a2, a2) / p**2,
           expect(f2h) / p, expect(sp.expand(a2 * f2h)) / p, expect(a2, f2h) / p**2)
    return tuple(sp.factor(sp.expand(x)) for x in out)

