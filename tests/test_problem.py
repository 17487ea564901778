"""Problem validation: every field, bad value -> ValueError naming it."""
import math

import numpy as np
import pytest

import linmeta as lm

GOOD = dict(p=30, m=40, n_t=5, n_v=25, n_r=10, sigma=0.2, nu=0.2, alpha_t=0.2, alpha_r=0.2)

BAD = [
    *[(f, v) for f in ("p", "m", "n_t", "n_v", "n_r") for v in (0, -3, 2.5, "7", None, math.nan, True)],
    *[(f, v) for f in ("sigma", "nu") for v in (-0.1, math.nan, math.inf, -math.inf, "1", None)],
    *[(f, v) for f in ("alpha_t", "alpha_r") for v in (math.nan, math.inf, -math.inf, "0.1", None)],
    *[(f, v) for f in ("w0", "omega0") for v in (np.zeros(29), np.zeros((30, 1)), np.full(30, np.nan),
                                                 np.r_[np.zeros(29), np.inf], "abc")],
    ("algorithm", "reptile"), ("n_steps", 0), ("lam", 1.0),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}"[:40] for f, v in BAD])
def test_bad_field_raises_naming_it(field, value):
    with pytest.raises(ValueError) as err:
        lm.Problem(**{**GOOD, field: value})
    assert str(err.value).startswith(field), str(err.value)


def test_messages_name_range_and_value():
    with pytest.raises(ValueError, match=r"^sigma must be finite and >= 0 and <= 1e\+50; got nan$"):
        lm.Problem(**{**GOOD, "sigma": math.nan})
    with pytest.raises(ValueError, match=r"^n_t must be an integer >= 1 and <= 2\*\*53; got 0$"):
        lm.Problem(**{**GOOD, "n_t": 0})
    with pytest.raises(ValueError, match="w0 must be None or a real array of length p=30; got shape \\(29,\\)"):
        lm.Problem(**{**GOOD, "w0": np.zeros(29)})


def test_interpolation_threshold_is_rejected():
    with pytest.raises(ValueError, match="p == n_v \\* m == 30 is the interpolation threshold"):
        lm.Problem(**{**GOOD, "m": 3, "n_v": 10})


def test_imaml_needs_positive_lam_and_others_reject_it():
    with pytest.raises(ValueError, match="^lam must be finite and > 0"):
        lm.Problem(**GOOD, algorithm="imaml")
    with pytest.raises(ValueError, match="^lam must be finite and > 0"):
        lm.Problem(**GOOD, algorithm="imaml", lam=0.0)
    with pytest.raises(ValueError, match="^lam must be None unless algorithm='imaml'"):
        lm.Problem(**GOOD, algorithm="fomaml", lam=1.0)
    assert lm.Problem(**GOOD, algorithm="imaml", lam=2).lam == 2.0


def test_regime_frozen_replace_and_defaults():
    prob = lm.Problem(**GOOD)
    assert prob.regime == "underparameterized" and prob.k == 1000
    assert lm.presets.FIG2.regime == "overparameterized"
    assert np.array_equal(prob.w0, np.zeros(30)) and np.array_equal(prob.omega0, np.zeros(30))
    with pytest.raises(AttributeError):
        prob.p = 3
    with pytest.raises(ValueError):  # stored vectors are read-only
        prob.w0[0] = 1.0
    q = prob.replace(alpha_t=-0.5)
    assert q.alpha_t == -0.5 and prob.alpha_t == 0.2 and q != prob and q.replace(alpha_t=0.2) == prob
    with pytest.raises(ValueError, match="unknown Problem field"):
        prob.replace(alpha=1)
    assert isinstance(lm.Problem(**{**GOOD, "p": 30.0}).p, int)  # an integral float is accepted as int


def test_h_matches_definition():
    prob = lm.Problem(**{**GOOD, "alpha_t": -0.7})
    assert prob.h_t == pytest.approx((1 + 0.7) ** 2 + 0.49 * 31 / 5, rel=1e-15)
    assert prob.h_r == pytest.approx(0.8**2 + 0.04 * 31 / 10, rel=1e-15)


def test_default_vectors_follow_p():
    import linmeta as lm

    q = lm.presets.FIG2.replace(p=120)
    assert q.w0.shape == (120,) and q.omega0.shape == (120,) and not q.w0.any()
    assert q == lm.presets.FIG2.replace(p=120) and "w0" not in repr(q)
    assert q.replace(p=60) == lm.presets.FIG2
    # a vector the user gave is never resized silently
    given = lm.presets.FIG2.replace(omega0=np.ones(60))
    with pytest.raises(ValueError, match="omega0 must be None or a real array of length p=61"):
        given.replace(p=61)
    assert given.replace(p=61, omega0=None).omega0.shape == (61,)
    t = lm.simulate_curve(lm.presets.FIG2, "p", [40, 80], n_runs=3)
    assert t["p"].tolist() == [40, 80]
