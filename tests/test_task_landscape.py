"""The task-landscape figure: registered, reproduced, population columns (P1)-(P4), simulation reaching them."""
import os

import numpy as np
import pytest

import linmeta as lm
from linmeta import figures
from linmeta.figures import agree
from linmeta.figures import task_landscape as tl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSV = os.path.join(ROOT, "figures", "task_landscape.csv")


def _committed():
    if not os.path.exists(CSV):
        pytest.skip("figures/ not generated")
    return figures.read_csv(CSV)


def _point(row):
    return {"gap": float(row["gap"]), "distance": float(row["distance"]), "hard_spread": float(row["hard_spread"])}


def _two_family(point, algorithm, *, mean_field=False):
    """(P1)-(P4) written out for two isotropic families, independently of linmeta.theory.

    Family c: x ~ N(0, rho_c I), w ~ N(w_c, R_c^2 / p I).  One-step moment M(rho, a, n) = rho [(1 - a rho)^2 +
    a^2 rho^2 (p + 1) / n] (P2 for S = rho I); MAML weighs family c by M(rho_c, alpha_t, n_t), ERM by rho_c (P1);
    the test loss (P4) weighs |omega - w_c|^2 + R_c^2 by M(rho_c, alpha_r, n_r).  ``mean_field`` drops the
    (p + 1) / n terms (the moments of infinitely many points per task).
    """
    p, n_t, n_r = tl.SIZES["p"], tl.SIZES["n_t"], tl.SIZES["n_r"]
    a = tl.ALPHA
    rho = np.array([tl.RHO_E, tl.RHO_E / point["gap"]])
    pi = np.array([1 - tl.HARD_WEIGHT, tl.HARD_WEIGHT])
    centre = np.array([0.0, point["distance"]])                      # along the unit vector u
    spread2 = np.array([tl.EASY_SPREAD, point["hard_spread"]]) ** 2
    finite = 0.0 if mean_field else 1.0

    def moment(n):
        return rho * ((1 - a * rho) ** 2 + finite * a**2 * rho**2 * (p + 1) / n)

    weights = moment(n_t) if algorithm == "maml" else rho
    omega = np.sum(pi * weights * centre) / np.sum(pi * weights)
    m_r = moment(n_r)
    noise = finite * a**2 * tl.SIGMA**2 * p * rho**2 / n_r
    return float(np.sum(pi * (tl.SIGMA**2 / 2 + 0.5 * (m_r * ((omega - centre) ** 2 + spread2) + noise))))


def test_registered_with_every_panel_and_series():
    assert "task_landscape" in figures.FIGURES
    table = tl.compute_task_landscape(seed=3, runs_scale=0.07, progress=False)      # 2 runs per point
    for panel, (x, simulated, series) in tl.PANELS.items():
        rows = table[table["panel"] == panel]
        assert len(rows[rows["kind"] == "simulation"]) == len(simulated) * len(series), panel
        assert rows[x].nunique() > len(simulated)                           # the population's fine grid
    sim = table[table["kind"] == "simulation"]
    assert (sim["n_runs"] == 2).all() and (sim["seed"] == 3).all() and sim["gain"].notna().all()
    assert table[table["kind"] == "population"]["mean"].isna().all()


def test_committed_csv_reproduces():
    """Three simulated points of the committed CSV, re-simulated with the public API, to the cross-machine tolerance.

    The paired difference, the gain (a ratio of means) and its delta-method SE are recomputed here from the per-run
    losses.
    """
    table = _committed()
    sim = table[table["kind"] == "simulation"]
    assert (sim["n_runs"] == tl.LANDSCAPE_RUNS).all() and (sim["seed"] == 0).all() and (sim["m"] == tl.M_TASKS).all()
    assert len(sim) == sum(len(xs) * len(series) for _, xs, series in tl.PANELS.values())
    picks = [(5.0, 4.0, tl.PACKED), (1.0, 1.0, tl.PACKED), (5.0, 2.0, tl.SPREAD_OUT)]
    for gap, d, spread in picks:
        row = sim[(sim["gap"] == gap) & (sim["distance"] == d) & (sim["hard_spread"] == spread)].iloc[0]
        mix = tl.landscape_problem(gap, d, spread)
        n = int(row["n_runs"])
        maml = lm.simulate(mix, n, 0, return_losses=True)
        erm = lm.simulate(mix.replace(algorithm="erm"), n, 0, return_losses=True)
        diff = erm.losses - maml.losses
        gain = diff.mean() / erm.mean
        want = {"mean": maml.mean, "stderr": maml.stderr, "erm_mean": erm.mean, "erm_stderr": erm.stderr,
                "diff_mean": diff.mean(), "diff_stderr": diff.std(ddof=1) / np.sqrt(n), "gain": gain,
                "gain_stderr": (diff - gain * erm.losses).std(ddof=1) / np.sqrt(n) / erm.mean}
        for column, value in want.items():
            assert row[column] == pytest.approx(value, rel=agree.RTOL, abs=0), (gap, d, spread, column)
        for column in ("p", "n_t", "n_v", "n_r", "alpha_t", "alpha_r"):
            assert row[column] == getattr(mix, column), column


def test_population_columns_are_the_population_loss():
    """Every row's population columns: lm.theory.test_loss at the row's problem, and (P1)-(P4) written out here."""
    table = _committed()
    for _, row in table.iterrows():
        point = _point(row)
        assert row["rho_H"] == pytest.approx(tl.RHO_E / point["gap"], rel=1e-15)
        mix = tl.landscape_problem(**point)
        got = {"maml": row["population_maml"], "erm": row["population_erm"]}
        for algorithm, value in got.items():
            theory = lm.theory.test_loss(mix.replace(algorithm=algorithm), approximation="population")
            assert value == pytest.approx(theory, rel=agree.RTOL, abs=0), (point, algorithm)
            assert value == pytest.approx(_two_family(point, algorithm), rel=1e-12), (point, algorithm)
        assert row["population_diff"] == pytest.approx(got["erm"] - got["maml"], rel=1e-12, abs=1e-15)
        assert row["population_gain"] == pytest.approx(row["population_diff"] / got["erm"], rel=1e-12, abs=1e-15)
    # the reference is not blind: the moments of infinitely many points per task give other losses
    point = {"gap": 5.0, "distance": 4.0, "hard_spread": tl.PACKED}
    assert abs(_two_family(point, "maml", mean_field=True) / _two_family(point, "maml") - 1) > 0.1


@pytest.mark.statistical
def test_simulation_reaches_the_population_limit():
    """Paired runs at m = 100 and 200, Richardson-extrapolated (bias of order 1/m), land on the population loss.

    At each of three points (packed hard tasks at two gaps, and the spread-out control): MAML's loss, ERM's and
    their difference, 100 runs each, within 4 SE (measured |z| <= 1.5).  Without the extrapolation MAML's loss at
    m = 100 is off by more (z of 13 to 18: the finite-m gap of the figure's points).  The same runs reject the
    mean-field moments (the (p + 1) / n terms dropped; |z| >= 13), the difference with its sign flipped, and
    the hard tasks' weight 0.45 for 0.5 (at least one quantity per point, |z| >= 8).
    """
    n = 100
    for point in ({"gap": 5.0, "distance": 2.0, "hard_spread": tl.PACKED},
                  {"gap": 20.0, "distance": 4.0, "hard_spread": tl.PACKED},
                  {"gap": 5.0, "distance": 4.0, "hard_spread": tl.SPREAD_OUT}):
        runs = {}
        for m, seed in ((100, 0), (200, 1)):
            mix = tl.landscape_problem(**point, m=m)
            maml = lm.simulate(mix, n, seed, return_losses=True).losses
            erm = lm.simulate(mix.replace(algorithm="erm"), n, seed, return_losses=True).losses
            runs[m] = {"maml": maml, "erm": erm, "diff": erm - maml}
        mix = tl.landscape_problem(**point)
        heavy = lm.Mixture([(0.55, mix.components[0][1]), (0.45, mix.components[1][1])])
        pop, mf, light = {}, {}, {}
        for alg in ("maml", "erm"):
            pop[alg] = lm.theory.test_loss(mix.replace(algorithm=alg), approximation="population")
            light[alg] = lm.theory.test_loss(heavy.replace(algorithm=alg), approximation="population")
            mf[alg] = _two_family(point, alg, mean_field=True)
        for ref in (pop, mf, light):
            ref["diff"] = ref["erm"] - ref["maml"]
        worst_light = 0.0
        for q in ("maml", "erm", "diff"):
            a, b = runs[100][q], runs[200][q]
            limit = 2 * b.mean() - a.mean()
            se = np.hypot(2 * b.std(ddof=1), a.std(ddof=1)) / np.sqrt(n)
            assert abs(limit - pop[q]) < 4 * se, (point, q, (limit - pop[q]) / se)
            assert abs(limit - mf[q]) > 4 * se, (point, q)
            worst_light = max(worst_light, abs(limit - light[q]) / se)
            if q == "maml":
                assert abs(a.mean() - pop[q]) > 4 * a.std(ddof=1) / np.sqrt(n), point   # the finite-m gap
            if q == "diff":
                assert abs(limit + pop[q]) > 4 * se, point                              # the sign
        assert worst_light > 4, point


def test_no_alpha_t_beats_the_figures_in_the_population():
    """With n_t = n_r and alpha_t = alpha_r, MAML's population solution minimises the population test loss.

    So the population line is the largest gain over ERM that MAML attains at this alpha_r whatever its alpha_t
    (checked on a grid of 801 alpha_t in [0, 2]; the loss has a second, equal-valued minimum where the solution
    again lands on the best point between the centres).  Control: with n_t = 50 != n_r some alpha_t does better.
    """
    grid = np.linspace(0.0, 2.0, 801)
    for gap, d, spread in ((2.0, 1.0, tl.PACKED), (5.0, 4.0, tl.PACKED), (20.0, 8.0, tl.SPREAD_OUT)):
        for n_t, better in ((tl.SIZES["n_t"], False), (50, True)):
            mix = tl.landscape_problem(gap, d, spread).replace(n_t=n_t)
            at_alpha = lm.theory.test_loss(mix, approximation="population")
            best = lm.theory.test_loss(mix, approximation="population", alpha_t=grid).min()
            assert (best < at_alpha * (1 - 1e-4)) == better, (gap, d, spread, n_t, best / at_alpha - 1)
            assert best >= at_alpha * (1 - 1e-13) or better, (gap, d, spread, n_t)
