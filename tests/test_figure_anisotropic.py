"""The anisotropic figure: registered, its committed CSV reproduced, and what it claims about each theory line."""
import os
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure as MplFigure

import linmeta as lm
from linmeta import figures
from linmeta.figures import anisotropic as an
from linmeta.theory import ApproximationDomainWarning
from linmeta.theory._closure_domain import HOLDOUT_MAX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSV = os.path.join(ROOT, "figures", "anisotropic.csv")


def _committed():
    if not os.path.exists(CSV):
        pytest.skip("figures/ not generated")
    return figures.read_csv(CSV)


def _flags(rows, column):
    return np.array([str(v) == "True" for v in rows[column]])


def _panel(table, panel):
    return table[table["panel"] == panel].sort_values("alpha_t")


def _a7_loss(prob, shift=1):
    """(A7) into (A1) written out: MAML at alpha_t = 0, p < k; ``shift=0`` is a wrong denominator (the control).

    M = E[(I - a H) S (I - a H)] for the sample covariance H of n_r Gaussian rows:
    M_j = s_j - 2 a s_j^2 + a^2 (s_j^3 (n_r + 1) / n_r + s_j tr S^2 / n_r).
    """
    s, t = np.asarray(prob.input_cov, float), np.asarray(prob.task_cov, float)
    p, n, k, a, n_r = prob.p, prob.n_v, prob.n_v * prob.m, prob.alpha_r, prob.n_r
    M = s - 2 * a * s**2 + a**2 * (s**3 * (n_r + 1) / n_r + s * np.sum(s**2) / n_r)
    tr_ms, tr_mt, tr_st = np.sum(M / s), np.sum(M * t), np.sum(s * t)
    kbar = (k * tr_ms * tr_st + 2 * (k - p - 2) * tr_mt) / ((k + 2) * (k - p - shift))
    d = prob.sigma**2 * tr_ms / (k - p - shift) + kbar + (n - 1) / (k - 1) * (tr_mt - kbar)
    return prob.sigma**2 / 2 + (d + tr_mt + a**2 * prob.sigma**2 * np.sum(s**2) / n_r) / 2


def test_problems_are_the_stated_ones():
    under, over, aligned = (an.panel_problem(name, 0.3) for name in ("under", "over", "over, aligned"))
    assert (under.p, under.k, over.p, over.k) == (12, 30, 150, 12)
    for prob in (under, over, aligned):
        assert prob.input_cov.max() == 1.0 and np.all(np.diff(prob.input_cov) < 0)
        assert prob.task_cov.sum() == pytest.approx(0.6, rel=1e-14)
        np.testing.assert_array_equal(prob.task_cov[an.TRUE_FEATURES:], 0.0)
        assert prob.alpha_r * prob.input_cov.max() <= 1.0
    np.testing.assert_array_equal(under.start_offset, 0.0)
    np.testing.assert_allclose(over.start_offset, 0.8 / np.sqrt(150), rtol=1e-14)
    assert aligned.start_offset[0] == 0.8 and np.all(aligned.start_offset[1:] == 0.0)
    with pytest.raises(ValueError, match="panel must be one of"):
        an.panel_problem("sideways", 0.0)


def test_registered_and_computed_with_domains_matching_the_warnings(monkeypatch):
    """A small compute: seeds per point, and a line is flagged outside exactly where linmeta.theory warns."""
    assert "anisotropic" in figures.FIGURES
    monkeypatch.setattr(an, "ALPHA_T", (-1.0, 0.0, 0.3, 0.5))
    table = an.compute_anisotropic(seed=3, runs_scale=0.01, progress=False)
    assert len(table) == 4 * len(an.PANELS)
    assert table["seed"].tolist() == list(range(3000, 3000 + len(table)))         # every point its own seed
    assert table.groupby("panel", sort=False)["n_runs"].first().tolist() == [100, 8, 8]
    for r in table.itertuples():
        prob = an.panel_problem(r.panel, r.alpha_t)
        for approximation, flag in (("leading", r.leading_in_domain), ("finite", r.finite_in_domain)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ApproximationDomainWarning)
                value = lm.theory.test_loss(prob, approximation=approximation)
            assert value == getattr(r, f"theory_{approximation}")
            assert flag == (not caught), (r.panel, r.alpha_t, approximation)
    # at alpha_t = 0 above the threshold the finite line is A5, outside its domain at k/p = 0.6 < 80 = k
    def over_at_zero(p):
        return lm.Problem(p=p, m=3, n_t=10, n_v=4, n_r=10, sigma=0.4, nu=None, alpha_t=0.0, alpha_r=0.4,
                          input_cov=np.arange(1, p + 1) ** -0.3, task_cov=np.r_[np.full(4, 0.15), np.zeros(p - 4)])
    small = over_at_zero(20)
    with pytest.warns(ApproximationDomainWarning, match="k/p = 0.6"):
        lm.theory.test_loss(small, approximation="finite")
    assert not an.in_domain(small, "finite") and an.in_domain(over_at_zero(40), "finite")
    with pytest.raises(ValueError, match="approximation must be 'leading' or 'finite'"):
        an.in_domain(small, "population")
    notes = table.attrs["notes"]
    assert any(n.startswith("under: linmeta.theory.test_loss(approximation='leading') outside its measured domain "
                            "at 4 of 4") for n in notes), notes


def test_committed_csv_layout_and_points_reproduce():
    table = _committed()
    assert table["panel"].tolist() == [p for p in an.PANELS for _ in an.ALPHA_T]
    assert table["seed"].tolist() == list(range(len(table)))
    for panel in an.PANELS:
        rows = _panel(table, panel)
        np.testing.assert_array_equal(rows["alpha_t"], an.ALPHA_T)
        assert (rows["n_runs"] == an.RUNS[panel]).all()
        rel = rows["stderr"] / rows["mean"]
        assert 0.001 < rel.min() and rel.max() < 0.004, (panel, rel.min(), rel.max())
        assert rows["theory_population"].nunique() == 1     # omega* = w0 at m -> infinity, whatever alpha_t
    for panel, alpha_t in (("under", -0.3), ("over, aligned", 0.5)):
        row = table[(table["panel"] == panel) & (table["alpha_t"] == alpha_t)].iloc[0]
        est = lm.simulate(an.panel_problem(panel, alpha_t), int(row["n_runs"]), int(row["seed"]), "exact",
                          progress=False)
        assert est.mean == pytest.approx(row["mean"], rel=1e-12)
        assert est.stderr == pytest.approx(row["stderr"], rel=1e-10)


def test_finite_line_at_alpha_t_zero_under_is_exact_a7_and_agrees_with_simulation():
    """At alpha_t = 0 below the threshold the finite line is (A7) and within 3 SE; a wrong (A7) is not (control)."""
    row = _panel(_committed(), "under").set_index("alpha_t").loc[0.0]
    prob = an.panel_problem("under", 0.0)
    assert row["theory_finite"] == pytest.approx(_a7_loss(prob), rel=1e-12)
    assert _flags(row.to_frame().T, "finite_in_domain")[0]
    assert abs(row["theory_finite"] - row["mean"]) <= 3 * row["stderr"]
    assert abs(_a7_loss(prob, shift=0) - row["mean"]) > 3 * row["stderr"]        # k - p for k - p - 1: caught
    assert abs(row["theory_leading"] - row["mean"]) > 3 * row["stderr"]          # the leading order: caught


@pytest.mark.parametrize("panel", ["under", "over"])
def test_finite_line_inside_the_closure_domain_is_within_its_stated_error(panel):
    """Inside its measured domain the finite line is within the closure's out-of-sample error plus 3 SE.

    That error (HOLDOUT_MAX: 1.0 % under, 1.2 % over) is what the domain promises.  Controls at the same run
    counts: under, the leading order on the same points is outside the bound; over, the aligned panel's finite
    line is (test below).
    """
    rows = _panel(_committed(), panel)
    inside = rows[_flags(rows, "finite_in_domain")]
    assert len(inside) >= 7
    regime = "under" if panel == "under" else "over"
    err = (inside["theory_finite"] - inside["mean"]).abs() / inside["mean"]
    bound = HOLDOUT_MAX[regime] / 100 + 3 * inside["stderr"] / inside["mean"]
    assert (err <= bound).all(), inside.loc[err > bound, ["alpha_t", "mean", "stderr", "theory_finite"]]
    lead = (inside["theory_leading"] - inside["mean"]).abs() / inside["mean"]
    if panel == "under":
        assert (lead > bound).any()


def test_leading_line_is_off_on_the_under_panel():
    """Below the threshold at p/k = 0.4 the leading order (A2) misses by more than max(1 %, 3 SE) somewhere."""
    rows = _panel(_committed(), "under")
    err = (rows["theory_leading"] - rows["mean"]).abs()
    assert (err > np.maximum(0.01 * rows["mean"], 3 * rows["stderr"])).any()
    assert not _flags(rows, "leading_in_domain").any()                            # and is flagged outside


def test_an_offset_along_the_top_input_is_outside_the_closure_domain_and_off():
    """The aligned panel: the offset inequality puts every inner step outside, where the finite line misses by > 5 %.

    At ``alpha_t = 0`` the finite line is A5, inside its own domain and within 3 SE + 0.5 %.
    """
    rows = _panel(_committed(), "over, aligned")
    inner = rows["alpha_t"] != 0
    inside = _flags(rows, "finite_in_domain")
    assert not inside[inner.to_numpy()].any() and inside[~inner.to_numpy()].all()
    err = (rows["theory_finite"] - rows["mean"]).abs() / rows["mean"]
    se = rows["stderr"] / rows["mean"]
    assert err[inner].max() > 0.05 and err[inner].max() > HOLDOUT_MAX["over"] / 100 + 3 * se.max()
    assert (err[~inner] < 0.005 + 3 * se[~inner]).all()


def test_lines_are_dashed_exactly_outside_their_domain():
    """Drawn from the committed CSV: the solid piece of the leading line under is empty, the finite one is not."""
    table = _committed()
    fig = MplFigure()
    figures.FIGURES["anisotropic"].draw(fig, table)
    top = fig.axes[0]
    solid = {ln.get_color(): ln for ln in top.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 2}
    rows = _panel(table, "under")
    finite = solid["C3"].get_ydata()
    assert np.isnan(solid["C0"].get_ydata()).all()
    np.testing.assert_array_equal(~np.isnan(finite), _flags(rows, "finite_in_domain"))
