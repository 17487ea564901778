"""Theorem 1, over-parameterised MAML (docs: theory, T0, T1, T1a).

Derives

* (T0) the exact test-side reduction ``E[test loss | omega*]`` from the Wishart
  moments ``E[H] = I``, ``E[H^2] = (1 + (p+1)/n) I``;
* (T1) ``E|omega* - w0|^2`` at leading order, following section 5 of the theory:
  ``omega* - w0 = (I - P) (omega0 - w0) + Z^+ e`` with ``P`` the projector on
  the row space of ``Z`` (``E P = (n_v m / p) I``), ``e`` the stacked residuals
  at ``w0`` and ``Z Z^T ~ p h_t I``, so ``E|Z^+ e|^2 ~ E|e|^2 / (p h_t)``;
* (T1a) the stationary points ``alpha_t^±``, that the minimiser is
  ``alpha_t^-`` and negative for every size, and the optimal ``alpha_r``
  strictly between 0 and ``1 / (1 + (p+1)/n_r)``;
* ``dL/dalpha_t`` at ``alpha_t = 0``.

Run ``python derivations/theorem1.py``: prints, asserts, exits non-zero on failure.
"""
import sys

import sympy as sp

from linmeta.symbolic._symbols import alpha_t, d2, h_r, h_t, k, m, n_r, n_t, n_v, nu, p, s2, sigma
from linmeta.symbolic._theorems import (
    alpha_t_stationary,
    optimal_alpha_r,
    t0_loss,
    t0_printed,
)
from linmeta.symbolic._theorems import (
    t1_distance as distance,
)
from linmeta.symbolic._theorems import (
    t1_printed_loss as printed_loss,
)


def main():
    # (T0)
    t0 = t0_loss(d2)
    assert sp.simplify(t0 - t0_printed(d2)) == 0, "T0 does not reduce to the printed form"
    print("(T0) E[test loss | omega*] =")
    sp.pprint(t0_printed(d2))

    # (T1)
    dist = distance()
    loss = t0_printed(dist)
    assert sp.simplify(loss - printed_loss()) == 0, "derived T1 differs from the printed T1"
    print("\n(T1) leading-order E|omega* - w0|^2 (derived; the printed T1 agrees exactly) =")
    sp.pprint(sp.simplify(dist))
    # limits: m n_v -> p (interpolation) the start is forgotten; alpha_t = 0
    assert sp.simplify(dist.subs(alpha_t, 0) - ((1 - k / p) * s2 + k / p * (nu**2 + sigma**2))) == 0

    # (T1a) alpha_t enters only through f = (1 + alpha_t^2 p/n_t) / h_t
    f = (1 + alpha_t**2 * p / n_t) / h_t
    assert sp.simplify(sp.diff(loss - h_r * sigma**2 * k / (2 * p) * f, alpha_t)) == 0
    numer = sp.factor(sp.numer(sp.together(sp.diff(f, alpha_t))))
    poly = sp.Poly(sp.expand(numer), alpha_t)
    lead = sp.factor(poly.LC())
    print("\n(T1a) numerator of df/dalpha_t =")
    sp.pprint(numer)
    a_minus, a_plus = alpha_t_stationary()
    for root in (a_minus, a_plus):
        assert sp.simplify(poly.eval(root)) == 0, "printed alpha_t^± is not stationary"
    # numerator = lead (alpha - a-)(alpha - a+) with lead < 0: f decreases on (-inf, a-),
    # increases on (a-, a+), decreases on (a+, inf), and f(±inf) is the same limit,
    # so a- is the global minimiser.
    assert poly.degree() == 2 and lead.is_negative, f"leading coefficient {lead} is not negative"
    assert sp.simplify(sp.limit(f, alpha_t, sp.oo) - sp.limit(f, alpha_t, -sp.oo)) == 0
    assert a_minus.is_negative, "alpha_t^- must be negative for every size"
    # Vieta: a- a+ = -n_t/p < 0, so a+ > 0 (the two roots straddle 0)
    assert sp.simplify(a_minus * a_plus + n_t / p) == 0
    print("alpha_t^- =")
    sp.pprint(a_minus)
    print(f"leading coefficient {lead} < 0, so alpha_t^- is the minimiser and it is negative")

    # dL/dalpha_t at 0
    slope = sp.simplify(sp.diff(loss, alpha_t).subs(alpha_t, 0))
    assert sp.simplify(slope - h_r * sigma**2 * k / p) == 0
    print("\ndL/dalpha_t at alpha_t = 0 (T1) =")
    sp.pprint(slope)

    # optimal alpha_r (exact in T0, hence in both regimes)
    a_r = optimal_alpha_r(d2)
    print("\noptimal alpha_r given D = E|omega* - w0|^2 (d2) =")
    sp.pprint(a_r)
    upper = 1 / (1 + (p + 1) / n_r)
    gap_low = sp.factor(a_r)
    gap_high = sp.factor(upper - a_r)
    pos = {nu: sp.Symbol("nu", positive=True), sigma: sp.Symbol("sigma", positive=True)}
    assert gap_low.subs(pos).is_positive and gap_high.subs(pos).is_positive, (gap_low, gap_high)
    print("0 < alpha_r* < 1/(1 + (p+1)/n_r) for sigma, nu > 0:  upper - alpha_r* =")
    sp.pprint(gap_high)
    # at FIG2 sizes (p=60, m=3, n_t=30, n_v=2, n_r=20, sigma=1, nu=0.5, omega0 = w0)
    fig2 = {p: 60, m: 3, n_t: 30, n_v: 2, n_r: 20, sigma: 1, nu: sp.Rational(1, 2), s2: 0}
    print("\nFIG2: alpha_t^- =", sp.N(a_minus.subs(fig2), 8),
          " alpha_r* (alpha_t=0.2) =",
          sp.N(a_r.subs(d2, dist.subs(fig2).subs(alpha_t, sp.Rational(1, 5))).subs(fig2), 8))
    print("all theorem 1 checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
