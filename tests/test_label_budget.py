"""The label-budget figure: the committed table reproduces, its optima are argmins, theory meets simulation."""
import io
import math
import os

import numpy as np
import pandas as pd
import pytest

import linmeta as lm
from linmeta import figures
from linmeta.figures import agree, budget
from linmeta.sweeping import read_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSV = os.path.join(ROOT, "figures", "budget.csv")
SIMULATED = ("simulation", "optimum_simulation", "optimum_finite")
SMALL = (60, 240)      # the simulated budgets the fast loop recomputes


@pytest.fixture(scope="module")
def committed():
    if not os.path.exists(CSV):
        pytest.skip("figures/ not generated")
    return figures.read_csv(CSV)


def _as_read_back(table):
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    return read_table(buf.getvalue().encode())


def _without_budgets(table, budgets):
    drop = table["kind"].isin(SIMULATED) & table["b"].isin(budgets)
    return table[~drop].reset_index(drop=True)


def test_budget_is_registered():
    spec = figures.FIGURES["budget"]
    assert spec.compute is budget.compute_budget and spec.draw is budget.draw_budget


@pytest.fixture(scope="module")
def small_budgets():
    """Return the figure computed with only the simulated budgets of ``SMALL``: every theory row and those cells."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(budget, "SIM_BUDGETS", SMALL)
        return budget.compute_budget(seed=0, progress=False)


def test_committed_table_reproduces_at_the_small_budgets(committed, small_budgets):
    """Every theory row and the simulated budgets 60 and 240, recomputed, agree within the cross-machine tolerance."""
    new = _as_read_back(small_budgets)
    old = _without_budgets(committed, [b for b in set(committed["b"]) if b not in SMALL])
    verdict = agree.compare_tables(old, new, figures.FIGURES["budget"].tolerances)
    assert verdict.same, verdict.reason


def test_committed_simulation_is_a_sweep_over_explicit_cells(committed):
    """The simulated means are those of ``lm.sweep`` over the same cells (another route, the same numbers)."""
    rows = committed[(committed["kind"] == "simulation") & (committed["b"] == 60)]
    cells = [{"m": int(r.m), "n_t": int(r.n_t), "n_v": int(r.n_v)} for r in rows.itertuples()]
    table = lm.sweep(budget.BUDGET_PROBLEM, cells, n_runs=int(rows["n_runs"].iloc[0]), seed=0, progress=False)
    np.testing.assert_allclose(table["mean"], rows["mean"], rtol=agree.RTOL, atol=0)
    np.testing.assert_allclose(table["stderr"], rows["stderr"], rtol=agree.RTOL, atol=0)
    np.testing.assert_allclose(table["theory_leading"], rows["theory_leading"], rtol=agree.RTOL, atol=0)


@pytest.mark.slow
@pytest.mark.statistical   # a long check: the whole figure re-simulated (the small budgets stay in the fast loop)
def test_committed_table_reproduces_in_full(committed, small_budgets, monkeypatch):
    """The whole committed table against a recomputation: the small budgets' rows are the fixture's, the rest new.

    Every simulated budget's rows depend on that budget only (its cells, seed and runs), so the table
    computed at the other budgets, appended to the fixture's, is the table computed at every budget.
    """
    large = tuple(b for b in budget.SIM_BUDGETS if b not in SMALL)
    assert large and set(SMALL) < set(budget.SIM_BUDGETS)
    monkeypatch.setattr(budget, "SIM_BUDGETS", large)
    rest = budget.compute_budget(seed=0, progress=False)
    new = _as_read_back(pd.concat([small_budgets, rest[rest["kind"].isin(SIMULATED)]], ignore_index=True))
    verdict = agree.compare_tables(committed, new, figures.FIGURES["budget"].tolerances)
    assert verdict.same, verdict.reason


def test_every_cell_spends_the_budget_and_the_theory_covers_every_admissible_m(committed):
    for (b, rule), rows in committed[committed["kind"] == "theory"].groupby(["b", "rule"]):
        half = b // 2
        assert sorted(rows["m"]) == [m for m in range(1, half + 1) if half % m == 0], (b, rule)
        assert (rows["m"] * (rows["n_t"] + rows["n_v"]) == b).all() and (rows["n_t"] == rows["n_v"]).all()
    sim = committed[committed["kind"] == "simulation"]
    assert (sim["m"] * (sim["n_t"] + sim["n_v"]) == sim["b"]).all() and (sim["m"] >= 2).all()
    assert (sim["n_v"] * sim["m"] > sim["p"] + 3).all()        # under-parameterised, finite variance, every cell


def test_theory_optimum_is_the_argmin_of_the_theory_values(committed):
    theory = committed[committed["kind"] == "theory"]
    opt = committed[committed["kind"] == "optimum_theory"]
    assert len(opt) == 2 * len(budget.THEORY_BUDGETS)
    for row in opt.itertuples():
        rows = theory[(theory["b"] == row.b) & (theory["rule"] == row.rule)]
        values = np.sort(rows["theory_leading"].to_numpy())
        assert values[0] < values[1], (row.b, row.rule)                   # a unique argmin
        assert row.m == rows.loc[rows["theory_leading"].idxmin(), "m"] and row.theory_leading == values[0]
        # fixed alpha_t: n* = 5 labels per split at every budget (m* = b/10); optimal alpha_t: the boundary m = b/2
        assert row.m == (row.b // 10 if row.rule == "fixed" else row.b // 2), (row.b, row.rule)


def test_simulated_optima_are_argmins_with_their_confidence_sets(committed):
    sim = committed[committed["kind"] == "simulation"]
    for kind, column in (("optimum_simulation", "mean"), ("optimum_finite", "theory_finite")):
        for row in committed[committed["kind"] == kind].itertuples():
            rows = sim[sim["b"] == row.b]
            assert row.m == rows.loc[rows[column].idxmin(), "m"], (kind, row.b)
    summary = budget.budget_summary(CSV)
    assert (summary["m_low"] <= summary["m_simulation"]).all() and (summary["m_simulation"] <= summary["m_high"]).all()
    # the leading-order optimum is in every simulated confidence set, and no set reaches the boundary m = b/2
    assert ((summary["m_low"] <= summary["m_theory"]) & (summary["m_theory"] <= summary["m_high"])).all()
    assert (summary["m_high"] < summary["m_max"]).all()
    low, high = budget.exponent_interval(CSV)
    assert 0.5 < low < 1.0 < high


# the control's cells (n_t = n_v = 1 to 15, m up to 30 at p = 10) are mostly outside the finite-size theory's
# validated domain; the warning says so, and the claim here is only that its argmin moves with the budget
@pytest.mark.filterwarnings("ignore::linmeta.theory.ApproximationDomainWarning")
@pytest.mark.parametrize(("p", "sigma", "nu", "alpha_t"), [(5, 0.2, 1.0, -0.6), (5, 1.0, 0.3, 0.1),
                                                       (30, 1.0, 0.3, -0.6), (30, 0.2, 1.0, 0.3)])
def test_leading_order_best_split_does_not_depend_on_the_budget(p, sigma, nu, alpha_t):
    """(T2) at n_t = n_v = n: D = (2p/b) G(n), so the best n is the same at b and 4b, whatever the settings.

    The control: the finite-size theory, whose corrections of order 2p/b do depend on b, moves its best n
    between the budgets 60 and 240 of the figure.
    """
    base = lm.Problem(p=p, m=1, n_t=1, n_v=1, n_r=10, sigma=sigma, nu=nu, alpha_t=alpha_t, alpha_r=0.2)

    def best(b, ns, prob, **kw):
        return ns[int(np.argmin([lm.theory.test_loss(budget.cell(b, b // (2 * n), prob), **kw) for n in ns]))]

    ns = [n for n in range(1, 61) if 27720 % n == 0]
    assert best(2 * 27720, ns, base) == best(8 * 27720, ns, base)
    small = [1, 2, 3, 5, 6, 10, 15]
    fig = budget.BUDGET_PROBLEM
    assert best(60, small, fig, approximation="finite") != best(240, small, fig, approximation="finite")


def test_confidence_set_holds_the_argmin_at_its_level():
    """Coverage of the paired-difference set on near-ties with a known argmin; taking the argmin alone fails."""
    rng = np.random.default_rng(3)
    truth = np.array([0.06, 0.02, 0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.4])     # argmin: cell 2
    n_runs, trials, covered, naive = 200, 400, 0, 0
    for _ in range(trials):
        values = truth[:, None] + rng.standard_normal((len(truth), n_runs)) + rng.standard_normal(n_runs)
        covered += budget.confidence_set(values)[2]
        naive += np.argmin(values.mean(axis=1)) == 2
    assert covered / trials >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / trials)
    assert naive / trials < 0.8                  # the control: the argmin alone misses the true optimum often
    with pytest.raises(ValueError, match="values must have at least 2 cells"):
        budget.confidence_set(np.zeros((1, 10)))
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\); got 1.5"):
        budget.confidence_set(np.zeros((3, 10)), level=1.5)


def test_admissible_tasks_and_cells_refuse_what_they_cannot_split():
    assert budget.admissible_tasks(60) == [1, 2, 3, 5, 6, 10, 15, 30]
    for b in (61, 0, 2.0, True):
        with pytest.raises(ValueError, match="b must be an even integer"):
            budget.admissible_tasks(b)
    with pytest.raises(ValueError, match="m must divide b/2 = 30"):
        budget.cell(60, 4)


@pytest.mark.statistical
# the cells (m = 32 to 240, n_t = n_v = 2 to 15 at p = 10) lie outside the validated domain (m <= 40, n_t >= 5):
# the check here is 4 SE at 2000 runs, not the domain's 0.3 %
@pytest.mark.filterwarnings("ignore::linmeta.theory.ApproximationDomainWarning")
def test_finite_size_theory_meets_simulation_at_budget_cells():
    """At b = 960 the finite-size theory is within 4 SE of the simulation (2000 runs, a seed the figure does not use).

    The control, at the same runs: the theory of the same budget with twice the labels per split (half the
    tasks) is rejected at every cell, so the check resolves a factor 2 in the allocation, the scale on which
    the optimum moves.
    """
    b, n_runs, seed = 960, 2000, 7
    for n in (2, 5, 15):
        m = b // (2 * n)
        est = lm.simulate(budget.cell(b, m), n_runs, seed)
        right = lm.theory.test_loss(budget.cell(b, m), approximation="finite")
        wrong = lm.theory.test_loss(budget.cell(b, m // 2), approximation="finite")
        assert abs(right - est.mean) < 4 * est.stderr, (n, (right - est.mean) / est.stderr)
        assert abs(wrong - est.mean) > 4 * est.stderr, (n, (wrong - est.mean) / est.stderr)
