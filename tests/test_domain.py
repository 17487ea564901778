"""The validated domain of the finite-size theory and ApproximationDomainWarning (docs: theory, validity map)."""
import importlib.util
import pathlib
import re
import warnings

import numpy as np
import pytest

import linmeta as lm
from linmeta.figures.base import theory_or_note
from linmeta.theory import _domain, _validity_map

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADW = lm.theory.ApproximationDomainWarning
# the known case: under-parameterised, few training points per task (n_t = 4), alpha_t = -2; FIG3's other values
KNOWN = lm.Problem(p=40, m=8, n_t=4, n_v=10, n_r=10, sigma=0.2, nu=0.2, alpha_t=-2.0, alpha_r=0.2)
# inside the domain (n_t >= 5, m >= 20, g = 0.5 (1 + sqrt(2))^2 = 2.9 <= 24), not one of the map's sets
INSIDE = lm.Problem(p=20, m=20, n_t=10, n_v=10, n_r=10, sigma=0.5, nu=0.5, alpha_t=-0.5, alpha_r=0.3)


def _no_domain_warning(func, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = func(*args, **kwargs)
    assert not [w for w in caught if issubclass(w.category, ADW)], [str(w.message) for w in caught]
    return value


def test_warning_class_is_exported():
    assert lm.ApproximationDomainWarning is lm.theory.ApproximationDomainWarning
    assert issubclass(ADW, UserWarning)
    assert "ApproximationDomainWarning" in lm.__all__ and "ApproximationDomainWarning" in lm.theory.__all__


def test_known_case_warns_and_names_the_violated_inequalities():
    with pytest.warns(ADW, match=r"outside the validated domain of the finite-size theory") as rec:
        lm.theory.test_loss(KNOWN, approximation="finite")
    msg = str(rec[0].message)
    assert "n_t = 4 < 5 (needs n_t >= 5)" in msg
    assert "g = 34.6 at m = 8" in msg                     # 2 (1 + sqrt(10))^2 = 34.65
    assert rec[0].filename == __file__                    # points at the caller, not into linmeta
    with pytest.warns(ADW, match="n_t = 4 < 5"):
        lm.theory.expected_distance(KNOWN, approximation="finite")


def test_warning_quotes_the_shipped_table():
    # nearest sets recomputed here from the shipped rows: same regime, Euclidean distance over
    # (log p, log m, log n_t, log n_v, alpha_t), each scaled by its standard deviation over the regime's rows
    rows = [dict(zip(_validity_map.COLUMNS, r, strict=True)) for r in _validity_map.ROWS]
    rows = [r for r in rows if r["regime"] == KNOWN.regime]
    x = np.array([[np.log(r["p"]), np.log(r["m"]), np.log(r["n_t"]), np.log(r["n_v"]), r["alpha_t"]] for r in rows])
    q = np.array([np.log(40), np.log(8), np.log(4), np.log(10), -2.0])
    d = np.sqrt((((x - q) / x.std(axis=0)) ** 2).sum(axis=1))
    near = [rows[i] for i in np.argsort(d, kind="stable")[:5]]
    worst = max(near, key=lambda r: abs(r["err_finite"]))
    with pytest.warns(ADW) as rec:
        lm.theory.test_loss(KNOWN, approximation="finite")
    msg = str(rec[0].message)
    assert (f"test-loss errors up to {100 * abs(worst['err_finite']):.2f} % on the 5 nearest "
            "underparameterized sets") in msg
    assert (f"largest at p={worst['p']}, m={worst['m']}, n_t={worst['n_t']}, n_v={worst['n_v']}, "
            f"alpha_t={worst['alpha_t']:+.2f}: {100 * worst['err_finite']:+.2f} %") in msg
    assert f"nearest p={near[0]['p']}, m={near[0]['m']}, n_t={near[0]['n_t']}" in msg
    assert re.search(r"SE \d+\.\d\d %", msg)
    # and the fresh draws inside the domain, counted here from the shipped rows
    fresh = [r for r in rows if r["source"].startswith("holdout") and r["regime"] == "underparameterized"
             and not _domain.outside_reasons(KNOWN.replace(p=r["p"], m=r["m"], n_t=r["n_t"], n_v=r["n_v"],
                                                           alpha_t=r["alpha_t"]))]
    top = max(abs(r["err_finite"]) for r in fresh)
    within = sum(abs(r["err_finite"]) < 0.003 for r in fresh)
    assert msg.endswith(f"up to {100 * top:.2f} % ({within} of {len(fresh)} underparameterized sets within 0.3 %)")


def test_shipped_table_is_generated_from_the_map_csvs():
    # the package ships what benchmarks/validity.py --emit-table writes from figures/*.csv, nothing typed by hand
    spec = importlib.util.spec_from_file_location("validity_bench", ROOT / "benchmarks/validity.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert tuple(bench.table_rows()) == _validity_map.ROWS
    assert _validity_map.COLUMNS == bench.TABLE_COLUMNS
    sources = {r[0] for r in _validity_map.ROWS}
    assert sources == {"design-2026", "design-2027", "design-2028", "design-2029", "finite_size", "holdout-2029",
                       "holdout-2030", "holdout-2031"}


def test_domain_inequalities():
    assert _domain.outside_reasons(lm.presets.FIG3) == []
    for a in np.linspace(-2.0, 1.0, 25):          # the paper panels' alpha_t grid lies inside for both presets
        assert _domain.outside_reasons(lm.presets.FIG2.replace(alpha_t=float(a))) == []
        assert _domain.outside_reasons(lm.presets.FIG3.replace(alpha_t=float(a))) == []
    assert _domain.outside_reasons(lm.presets.FIG3.replace(alpha_t=1.5)) == ["alpha_t = 1.5 (needs -2 <= alpha_t <= 1)"]
    assert _domain.outside_reasons(KNOWN.replace(alpha_t=0.0)) == []   # exact at alpha_t = 0 (E0)
    # under-parameterised: g <= 6 below m = 20; FIG3's sizes at m = 19 and alpha_t = -1 have g = 11.9
    assert _domain.outside_reasons(lm.presets.FIG3.replace(m=19, alpha_t=-1.0)) == [
        "g = 11.9 at m = 19 (needs g = |alpha_t| (1 + sqrt(p / n_t))^2 <= 6 (m < 20) or <= 24 (m >= 20))"]
    assert _domain.outside_reasons(lm.presets.FIG3.replace(m=5)) == ["m = 5 (needs 6 <= m <= 40)"]
    over = lm.presets.FIG2.replace(p=15, alpha_t=-1.0)                    # k = 6: p >= k + 10 fails
    assert _domain.outside_reasons(over) == ["p - n_v m = 9 (needs p >= n_v m + 10)"]
    assert _domain.outside_reasons(lm.presets.FIG2.replace(p=600)) == ["p = 600 > 400 (needs p <= 400)"]


def test_inside_and_exact_cases_do_not_warn():
    _no_domain_warning(lm.theory.test_loss, lm.presets.FIG3, approximation="finite", alpha_t=np.linspace(-2, 1, 5))
    _no_domain_warning(lm.theory.test_loss, lm.presets.FIG2, approximation="finite")
    _no_domain_warning(lm.theory.test_loss, KNOWN.replace(alpha_t=0.0), approximation="finite")
    _no_domain_warning(lm.theory.test_loss, KNOWN.replace(algorithm="erm"), approximation="finite")  # exact
    _no_domain_warning(lm.theory.test_loss, KNOWN)    # leading order: the warning is the finite-size theory's


def test_figures_note_the_warning_instead_of_raising_it():
    notes = []
    value = _no_domain_warning(theory_or_note, "test_loss", notes, KNOWN, approximation="finite")
    assert np.isfinite(value)
    assert len(notes) == 1 and "outside the validated domain of the finite-size theory at 1 value(s)" in notes[0]
    assert "the first p=40, m=8, n_t=4, n_v=10, alpha_t=-2 (n_t = 4 < 5" in notes[0]
    assert notes[0].endswith("drawn all the same (ApproximationDomainWarning)")
    theory_or_note("test_loss", notes, KNOWN.replace(alpha_t=-1.5), approximation="finite")  # same call, counted
    theory_or_note("test_loss", notes, lm.presets.FIG3, approximation="finite")              # inside: no note
    assert len(notes) == 1 and " at 2 value(s), the first p=40, m=8, n_t=4, n_v=10, alpha_t=-2 " in notes[0]


@pytest.mark.statistical
def test_known_case_is_off_by_more_than_four_standard_errors():
    est = lm.simulate(KNOWN, n_runs=40_000, seed=0)
    with pytest.warns(ADW):
        fin = lm.theory.test_loss(KNOWN, approximation="finite")
    z = (fin - est.mean) / est.stderr
    assert abs(z) > 4 and abs(fin / est.mean - 1) > 0.003, (fin / est.mean - 1, z)


@pytest.mark.statistical
def test_inside_case_is_within_target_and_a_one_percent_error_would_be_caught():
    est = lm.simulate(INSIDE, n_runs=5_000, seed=0)
    fin = _no_domain_warning(lm.theory.test_loss, INSIDE, approximation="finite")
    se = est.stderr / est.mean
    assert se < 0.0015, se

    def consistent_with_target(theory):   # |err| not beyond 0.3 % by more than 2.5 SE
        return abs(theory / est.mean - 1) < 0.003 + 2.5 * se

    assert consistent_with_target(fin), (fin / est.mean - 1, se)
    # control: at this sample size a formula 1 % off either way is rejected
    assert not consistent_with_target(1.01 * fin) and not consistent_with_target(0.99 * fin)
