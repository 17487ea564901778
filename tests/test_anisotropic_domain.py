"""The measured domain of the anisotropic theory: the warning outside it, agreement inside, the shipped table."""
import pathlib
import re

import numpy as np
import pandas as pd
import pytest

import linmeta as lm
from linmeta.theory import _anisotropic_domain as dom
from linmeta.theory._anisotropic_domain_table import COLUMNS, ROWS
from linmeta.theory._warnings import ApproximationDomainWarning

ROOT = pathlib.Path(__file__).resolve().parents[1]


def two_level(p, m, n_v, alpha_t=0.3, flat=False, **kw):
    """Half the inputs at variance 1, half at 0.2; tasks aligned with the inputs (``tr T = 0.5``)."""
    s = np.r_[np.ones(p // 2), np.full(p - p // 2, 0.2)]
    t = 0.5 * s / s.sum()
    if flat:  # the control: the same traces, no spectrum
        s, t = np.full(p, s.mean()), np.full(p, t.mean())
    d = np.zeros(p)
    d[0] = d[-1] = 0.7
    base = dict(p=p, m=m, n_t=5, n_v=n_v, n_r=10, sigma=0.5, nu=None, alpha_t=alpha_t, alpha_r=0.3, omega0=d,
                input_cov=s, task_cov=t)
    return lm.Problem(**{**base, **kw})


def quoted(message):
    """Return the signed percentages a warning quotes for the nearest measured sets."""
    return [float(x) for x in re.findall(r": ([+-]\d+\.\d) %", message)]


def table(kind):
    return [dict(zip(COLUMNS, r, strict=True)) for r in ROWS if r[0] == kind]


def test_inside_is_silent_and_outside_warns_with_the_table_numbers():
    inside = two_level(10, 25, 4)                      # A2, p/k = 0.1
    assert dom.anisotropic_domain_warning(inside) is None
    lm.theory.test_loss(inside)                        # filterwarnings=error: a warning would fail here
    outside = inside.replace(m=5)                      # p/k = 0.5
    with pytest.warns(ApproximationDomainWarning, match=r"\(A2\) is outside its measured domain: p/k = 0.5 > 0.2"):
        lm.theory.test_loss(outside)
    msg = dom.anisotropic_domain_warning(outside)
    near = quoted(msg)
    assert len(near) == dom.NEAREST
    measured = {round(100 * r["err"], 1) for r in table("A2")}
    assert set(near) <= measured
    worst = max(near, key=abs)
    assert f"is {worst:+.1f} %" in msg and abs(worst) > dom.TOLERANCE["A2"]   # the neighbours really are off
    with pytest.warns(ApproximationDomainWarning, match=r"\|alpha_t\| max_j s_j = 0.9 > 0.5"):
        lm.theory.test_loss(inside, alpha_t=0.9)       # the rate override is checked too


def test_each_form_has_its_own_inequalities():
    over = two_level(200, 4, 5, alpha_t=0.0, n_t=8)    # k = 20 (MAML), 52 (ERM)
    assert dom.features(over)["rho"] < dom.RHO_MAX
    assert dom.anisotropic_domain_warning(over) is None
    assert dom.anisotropic_domain_warning(over, "proportional") is None    # k/p = 0.1
    near = over.replace(p=30, omega0=None, input_cov=over.input_cov[:30], task_cov=over.task_cov[:30])
    assert "rho = k max_j K_j / tr K" in dom.anisotropic_domain_warning(near)
    assert "k/p = 0.667 > 0.4 with k = 20 < 80" in dom.anisotropic_domain_warning(near, "proportional")
    with pytest.warns(ApproximationDomainWarning, match=r"\(A5\) is outside"):
        lm.theory.test_loss(near, approximation="proportional")
    assert dom.anisotropic_domain_warning(over.replace(n_t=1), "proportional").count("n_t = 1 < 2") == 1
    with pytest.raises(ValueError, match="approximation must be one of"):
        dom.anisotropic_domain_warning(over, "finite")


def _csv():
    return pd.read_csv(ROOT / "figures/validity_anisotropic.csv")


def _inside(row, approximation):
    f = dict(kind="A2" if row.regime == "underparameterized" else "A3", p_over_k=row.p_over_k, rho=row.rho,
             k=row.k, alpha_t=row.alpha_t, alpha_r=row.alpha_r, n_t=row.n_t, n_v=row.n_v,
             pooled=row.algorithm == "erm", offset_correction=row.offset_correction)
    return not dom._violations(f, approximation)   # the drawn spectra have max_j s_j = 1


def test_shipped_table_is_the_benchmark_output():
    df = _csv()
    want = sorted(round(float(e), 6) for a in ("leading", "proportional") for e in df[f"err_{a}"].dropna())
    assert sorted(r[COLUMNS.index("err")] for r in ROWS) == want
    assert set(df.role) == {"design", "check", "holdout"} and len(df) == 240


@pytest.mark.parametrize("approximation, kind, regime", [("leading", "A2", "underparameterized"),
                                                         ("leading", "A3", "overparameterized"),
                                                         ("proportional", "A5", "overparameterized")])
def test_stated_errors_are_the_measured_ones(approximation, kind, regime):
    """Inside the domain: DESIGN and CHECK within TOLERANCE, HOLDOUT's largest error is HOLDOUT_MAX (rounded up)."""
    df = _csv()
    df = df[(df.regime == regime)].dropna(subset=[f"err_{approximation}"])
    inside = df[[_inside(r, approximation) for r in df.itertuples()]]
    err = 100 * inside[f"err_{approximation}"].abs()
    fitted = err[inside.role != "holdout"]
    fresh = err[inside.role == "holdout"]
    assert len(fitted) >= 8 and len(fresh) >= 7   # A3: 7 fresh sets inside (one left with the offset inequality)
    assert fitted.max() <= dom.TOLERANCE[kind]
    assert dom.HOLDOUT_MAX[kind] - 0.1 < fresh.max() <= dom.HOLDOUT_MAX[kind]
    outside = 100 * df[[not _inside(r, approximation) for r in df.itertuples()]][f"err_{approximation}"].abs()
    assert outside.max() > 2 * dom.TOLERANCE[kind]           # the inequalities exclude real failures


@pytest.mark.statistical
def test_inside_agrees_with_simulation_and_a_flat_spectrum_does_not():
    """Within TOLERANCE + 3 SE of simulation; the control (same traces, flat spectrum) is rejected at this size."""
    prob = two_level(10, 25, 4)
    est = lm.simulate(prob, n_runs=2000, seed=11)
    se = est.stderr / est.mean
    tol = dom.TOLERANCE["A2"] / 100 + 3 * se
    assert abs(lm.theory.test_loss(prob) / est.mean - 1) <= tol                          # measured: -0.7 %
    assert abs(lm.theory.test_loss(two_level(10, 25, 4, flat=True)) / est.mean - 1) > tol  # measured: -8 %


@pytest.mark.statistical
def test_outside_is_off_as_the_warning_says():
    prob = two_level(20, 10, 4)                        # p/k = 0.5
    est = lm.simulate(prob, n_runs=2000, seed=12)
    with pytest.warns(ApproximationDomainWarning):
        theory = lm.theory.test_loss(prob)
    err = theory / est.mean - 1                        # measured: -23 %
    assert abs(err) > dom.TOLERANCE["A2"] / 100 + 3 * est.stderr / est.mean
