"""The stated errors of Theorems 1 and 2 against the exact alpha_t = 0 results (docs: theory, T1, T2, E0).

The paper states (T1) with an error o(xi^(-3/2)) as p, n_t, n_v, n_r grow together (m fixed), and (T2)
with o((m xi)^(-3/2)).  At alpha_t = 0 the distance is known exactly (E0; ``approximation="finite"``
reproduces it, checked against simulation in test_anchors.py and test_finite_fast.py), so the relative
error of the leading order can be followed along that scaling: it stays O(1) at fixed k/p (T1) and at
fixed m (T2), and falls like 1/m only as m grows.  The numbers are the ones the theory page quotes.
"""
import pytest

import linmeta as lm
from linmeta.sweeping import replace_sizes


def _excess(prob):
    """Exact distance over the leading-order one, minus 1 (alpha_t = 0)."""
    exact = float(lm.theory.expected_distance(prob, approximation="finite"))
    return exact / float(lm.theory.expected_distance(prob)) - 1


def _scaled(prob, s):
    return replace_sizes(prob, p=prob.p * s, n_t=prob.n_t * s, n_v=prob.n_v * s, n_r=prob.n_r * s)


def test_theorem1_error_is_order_one_at_fixed_k_over_p():
    base = lm.presets.FIG2.replace(alpha_t=0.0)
    noise = {s: _scaled(base.replace(nu=0.0), s) for s in (1, 4, 16)}
    for prob in noise.values():
        k, p = prob.n_v * prob.m, prob.p
        assert _excess(prob) == pytest.approx((k + 1) / (p - k - 1), rel=1e-12)   # the noise term, by hand
    assert _excess(noise[1]) == pytest.approx(7 / 53, rel=1e-12)                    # 13.2 % at FIG2
    full = {s: _excess(_scaled(base, s)) for s in (1, 16)}
    assert round(full[1], 3) == 0.121 and round(full[16], 3) == 0.105
    loss = {s: float(lm.theory.test_loss(_scaled(base, s), approximation="finite"))
            / float(lm.theory.test_loss(_scaled(base, s))) - 1 for s in (1, 16)}
    assert round(loss[1], 4) == 0.0082 and round(loss[16], 4) == 0.0071
    # o(xi^(-3/2)) would shrink 64-fold from s = 1 to s = 16; it does not even halve
    assert full[16] > full[1] / 2 and _excess(noise[16]) > 1 / 9


def test_theorem2_error_is_order_one_at_fixed_m_and_falls_like_one_over_m():
    base = lm.presets.FIG3.replace(alpha_t=0.0)
    prob = base.replace(nu=0.0)
    k, p = prob.n_v * prob.m, prob.p
    assert _excess(prob) == pytest.approx((p + 1) / (k - p - 1), rel=1e-12)        # 3.2 % at FIG3
    assert round(_excess(base), 4) == 0.0126 and round(_excess(_scaled(base, 8)), 4) == 0.0127
    by_m = {m: _excess(base.replace(m=m)) for m in (40, 160, 640)}
    assert round(by_m[160], 4) == 0.0031 and round(by_m[640], 4) == 0.0008
    assert 3.5 < by_m[40] / by_m[160] < 4.5 and 3.5 < by_m[160] / by_m[640] < 4.5   # like 1/m


def test_theorem2_slope_at_zero_is_the_talks_expression_times_h_r():
    prob = lm.presets.FIG3
    eps = 1e-6
    slope = (float(lm.theory.test_loss(prob.replace(alpha_t=eps)))
             - float(lm.theory.test_loss(prob.replace(alpha_t=-eps)))) / (2 * eps)
    talk = prob.sigma**2 * prob.p / (prob.n_v * prob.m)                              # as the talk prints it
    assert slope == pytest.approx(prob.h_r * talk, rel=1e-6) and prob.h_r == pytest.approx(0.764)
    assert abs(slope - talk) > 0.2 * talk                                            # h_r matters here
