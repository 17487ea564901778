"""Sizes and values a Problem refuses before allocating or overflowing, and what stays within range."""
import math
import re

import numpy as np
import pytest

import linmeta as lm
from linmeta._sim import budget as _budget
from linmeta.problem import SCALE_MAX, SIZE_MAX

GOOD = dict(p=30, m=40, n_t=5, n_v=25, n_r=10, sigma=0.2, nu=0.2, alpha_t=0.2, alpha_r=0.2)


def test_p_whose_vectors_cannot_fit_is_refused_before_allocating():
    # 10**12 doubles are 8 TB per vector: no machine has that; the old code died with MemoryError in np.zeros
    with pytest.raises(ValueError, match=r"^p=1000000000000 needs about 24000\.0 GB .* p must be <= \d+ here$"):
        lm.Problem(**{**GOOD, "p": 10**12})
    with pytest.raises(ValueError, match=r"^p=1000000000000 needs"):
        lm.presets.FIG3.replace(p=10**12)


def test_p_refusal_follows_the_memory_available(monkeypatch):
    # p = 10**8: 2.4 GB of vectors; with 1 GB available (0.8 GB usable) it is refused, not allocated
    monkeypatch.setattr(_budget, "available_bytes", lambda: 1e9)
    with pytest.raises(ValueError, match=r"^p=100000000 needs about 2\.4 GB .* 0\.8 GB .* p must be <= 33333333 here$"):
        lm.Problem(**{**GOOD, "p": 10**8})
    assert lm.Problem(**{**GOOD, "p": 33_333_333}).w0.shape == (33_333_333,)   # the limit itself fits


@pytest.mark.parametrize("field", ["p", "m", "n_t", "n_v", "n_r"])
def test_sizes_beyond_2_to_the_53_are_refused(field):
    # p = 1e30 reached np.zeros and failed with "Maximum allowed dimension exceeded"
    for value in (10**30, 1e30, SIZE_MAX + 1):
        with pytest.raises(ValueError, match=rf"^{field} must be an integer >= 1 and <= 2\*\*53; got {int(value)}$"):
            lm.Problem(**{**GOOD, field: value})


@pytest.mark.parametrize("field", ["sigma", "nu"])
def test_scales_beyond_the_limit_are_refused(field):
    # sigma = 1e200 was accepted and raised OverflowError at sigma**2 (theory and simulation)
    for value in (1e200, 1.0000001e50):
        message = rf"^{field} must be finite and >= 0 and <= 1e\+50; got {re.escape(repr(value))}$"
        with pytest.raises(ValueError, match=message):
            lm.Problem(**{**GOOD, field: value})


@pytest.mark.parametrize("field", ["w0", "omega0"])
def test_vector_entries_beyond_the_limit_are_refused(field):
    v = np.zeros(30)
    v[7] = -1e60
    with pytest.raises(ValueError, match=rf"^{field} must have entries of magnitude <= 1e\+50; got -1e\+60 at \[7\]$"):
        lm.Problem(**{**GOOD, field: v})


def test_the_scale_limit_is_refused_above_and_finite_at():
    """Above SCALE_MAX every scale is refused; at it the loss is the unit-scale loss times SCALE_MAX**2, finite.

    The loss is homogeneous of degree 2 in (sigma, nu, w0, omega0) (docs: theory, T0, T1), and with
    the same seed every draw is the same, so the simulated losses scale exactly too (up to rounding).
    """
    c = SCALE_MAX
    above = np.nextafter(c, np.inf)
    for field in ("sigma", "nu", "w0", "omega0"):
        value = np.full(30, above) if field in ("w0", "omega0") else above
        with pytest.raises(ValueError, match=rf"^{field} must"):
            lm.Problem(**{**GOOD, field: value})
    for base in (lm.presets.FIG3.replace(alpha_t=-2.0), lm.presets.FIG2.replace(alpha_t=1.5, n_steps=3)):
        unit = base.replace(sigma=1.0, nu=1.0, w0=np.full(base.p, 1.0), omega0=np.full(base.p, -1.0))
        big = unit.replace(sigma=c, nu=c, w0=np.full(base.p, c), omega0=np.full(base.p, -c))
        th_unit, th_big = float(lm.theory.test_loss(unit)), float(lm.theory.test_loss(big))
        assert math.isfinite(th_big) and th_big == pytest.approx(c**2 * th_unit, rel=1e-12)
        e_unit, e_big = lm.simulate(unit, 50, seed=3), lm.simulate(big, 50, seed=3)
        assert math.isfinite(e_big.mean) and math.isfinite(e_big.stderr)
        assert e_big.mean == pytest.approx(c**2 * e_unit.mean, rel=1e-9)
        assert e_big.stderr == pytest.approx(c**2 * e_unit.stderr, rel=1e-9)
