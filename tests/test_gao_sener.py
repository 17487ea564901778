"""Gao & Sener's meta-linear regression protocol: a plain-NumPy reference, and linmeta on their task distribution.

The reference follows their protocol (isl-org/MetaLearningTradeoffs, ``linear_regression/``), written
from its mathematics: per task ``theta ~ U(0, beta)^p``, inputs ``N(0, U diag(theta) U^T)`` with a Haar
rotation ``U``, regression vector ``theta``, noise variance ``U(0, beta)``; ``N`` inner and ``N`` outer
points; DRS (ERM) is least squares on all ``2 N`` points of every task, MAML the exact minimiser of the
one-step empirical MAML objective; a loss is the expected squared error (halved) of a fresh task, before
adaptation or after one step of ``alpha`` on ``N`` fresh points.
"""
import numpy as np
import pytest
from matplotlib.figure import Figure as MplFigure

import linmeta as lm
from linmeta.figures import gao_sener

BETA = 2.0


# ----------------------------------------------------------------------------------------- the reference
def ref_tasks(rng, n, p, beta=BETA):
    """``(F, theta, noise_sd)`` of ``n`` tasks: ``x = F z``, ``F F^T = U diag(theta) U^T``."""
    theta = rng.uniform(0.0, beta, (n, p))
    noise_sd = np.sqrt(rng.uniform(0.0, beta, n))
    g = rng.standard_normal((n, p, p))
    q, r = np.linalg.qr(g)
    u = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    return u * np.sqrt(theta)[:, None, :], theta, noise_sd


def ref_data(rng, factor, w, noise_sd, n):
    """``n`` points of each task: inputs ``(tasks, n, p)`` and labels ``(tasks, n)``."""
    z = rng.standard_normal((factor.shape[0], n, factor.shape[2]))
    x = np.einsum("tij,tnj->tni", factor, z)
    y = np.einsum("tni,ti->tn", x, w) + noise_sd[:, None] * rng.standard_normal((factor.shape[0], n))
    return x, y


def ref_fit(x1, y1, x2, y2, alpha, algorithm):
    """DRS (``"erm"``) or one-step MAML meta-parameters from inner ``(x1, y1)`` and outer ``(x2, y2)`` points."""
    n, p = x1.shape[1], x1.shape[2]
    g1, g2 = np.einsum("tni,tnj->tij", x1, x1), np.einsum("tni,tnj->tij", x2, x2)
    c1, c2 = np.einsum("tni,tn->ti", x1, y1), np.einsum("tni,tn->ti", x2, y2)
    if algorithm == "erm":
        lhs, rhs = (g1 + g2).sum(0), (c1 + c2).sum(0)
    else:   # adapted = A omega + b, A = I - alpha/N X1^T X1, b = alpha/N X1^T y1; least squares on the outer points
        a = np.eye(p) - alpha / n * g1
        lhs = np.einsum("tij,tjk,tkl->il", a, g2, a)
        rhs = np.einsum("tij,tj->i", a, c2 - alpha / n * np.einsum("tij,tj->ti", g2, c1))
    return np.linalg.lstsq(lhs, rhs, rcond=None)[0]


def ref_exact_loss(omega, factor, w, noise_sd, alpha_r, n_r, tr_term=True):
    """Return the expected loss of ``omega`` on each task, exact over adaptation and test data (shape ``(tasks,)``).

    ``sigma^2/2 + [(omega - w)^T M (omega - w) + a^2 sigma^2 tr(S^2)/n_r] / 2`` with
    ``M = S - 2 a S^2 + a^2 (S^3 + (S^3 + S tr S^2) / n_r)``; ``tr_term=False`` drops ``S tr S^2`` (a control).
    """
    s = factor @ factor.transpose(0, 2, 1)
    s2, a = s @ s, alpha_r
    tr2 = np.trace(s2, axis1=1, axis2=2)[:, None, None]
    s3 = s2 @ s
    m = s - 2 * a * s2 + a * a * (s3 + (s3 + (s * tr2 if tr_term else 0.0)) / n_r)
    d = omega[None, :] - w
    return 0.5 * noise_sd**2 + 0.5 * (np.einsum("ti,tij,tj->t", d, m, d) + a * a * noise_sd**2 * tr2[:, 0, 0] / n_r)


def ref_direct_loss(rng, omega, factor, w, noise_sd, alpha_r, n_r, n_test):
    """Direct Monte Carlo of the same loss: adapt on ``n_r`` sampled points, score ``n_test`` sampled points."""
    x, y = ref_data(rng, factor, w, noise_sd, n_r)
    adapted = omega[None, :] - alpha_r / n_r * np.einsum("tni,tn->ti", x, np.einsum("tni,i->tn", x, omega) - y)
    xt, yt = ref_data(rng, factor, w, noise_sd, n_test)
    return 0.5 * ((yt - np.einsum("tni,ti->tn", xt, adapted)) ** 2).mean(axis=1)


def ref_population_loss_p1(omega, alpha_r, n_r, beta=BETA):
    """``p = 1``: the loss of ``omega`` averaged over the task law in closed form (``E theta^k = beta^k/(k+1)``)."""
    e = lambda k: beta**k / (k + 1)  # noqa: E731
    coef = {1: 1.0, 2: -2 * alpha_r, 3: alpha_r**2 * (1 + 2 / n_r)}    # M(theta) = sum coef_k theta^k
    quad = sum(c * (omega**2 * e(k) - 2 * omega * e(k + 1) + e(k + 2)) for k, c in coef.items())
    return 0.5 * e(1) + 0.5 * quad + 0.5 * alpha_r**2 * e(1) * e(2) / n_r


def z_score(a, b):
    """Two-sample z of the means of ``a`` and ``b``."""
    return (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


# ------------------------------------------------------------------------------------ the task distribution
def test_draw_is_their_law_and_uses_only_the_given_generator():
    draw = gao_sener.task_distribution(3, BETA)
    state = np.random.get_state()[1].copy()
    a, b = draw(np.random.default_rng(7), 5000), draw(np.random.default_rng(7), 5000)
    assert np.array_equal(np.random.get_state()[1], state)         # the global generator is not touched
    for key in ("input_factor", "w", "sigma"):
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["w"], draw(np.random.default_rng(8), 5000)["w"])
    f, w, s = a["input_factor"], a["w"], a["sigma"]
    cov = f @ f.transpose(0, 2, 1)
    np.testing.assert_allclose(np.linalg.eigvalsh(cov), np.sort(w, axis=1), atol=1e-12)   # eigenvalues = theta = w
    assert w.min() >= 0 and w.max() <= BETA and s.min() >= 0 and s.max() <= np.sqrt(BETA)
    # noise variance U(0, beta): mean beta/2, variance beta^2/12 (a standard deviation U(0, beta) has mean 4/3 here)
    assert abs((s**2).mean() - BETA / 2) < 4 * BETA / np.sqrt(12 * s.size)
    one = gao_sener.task_distribution(1, BETA)(np.random.default_rng(0), 10)
    assert one["input_factor"].shape == (10, 1)
    np.testing.assert_allclose(one["input_factor"] ** 2, one["w"])


@pytest.mark.parametrize("p", [2, 3])
def test_rotations_are_haar(p):
    """Haar on O(p): E tr U = 0, E (tr U)^2 = 1.  QR without the sign fix fails the same check (control)."""
    n = 20_000
    u = gao_sener.haar_rotations(np.random.default_rng(p), n, p)
    np.testing.assert_allclose(u @ u.transpose(0, 2, 1), np.broadcast_to(np.eye(p), (n, p, p)), atol=1e-12)
    t = np.trace(u, axis1=1, axis2=2)
    assert abs(t.mean()) < 4 * t.std() / np.sqrt(n)
    assert abs((t**2).mean() - 1) < 4 * (t**2).std() / np.sqrt(n)
    q = np.linalg.qr(np.random.default_rng(p).standard_normal((n, p, p)))[0]
    tq = np.trace(q, axis1=1, axis2=2)
    assert abs(tq.mean()) > 4 * tq.std() / np.sqrt(n) or abs((tq**2).mean() - 1) > 4 * (tq**2).std() / np.sqrt(n)


# ------------------------------------------------------------------------------------------ the reference
@pytest.mark.statistical
def test_reference_exact_loss_is_the_direct_monte_carlo():
    """The exact per-task loss (the contract's formula) against sampled adaptation and test data.

    A control without the ``S tr S^2 / n_r`` term (the fourth-moment part of the adaptation noise) fails at the
    same size.
    """
    rng = np.random.default_rng(3)
    p, n_r, alpha, n_tasks = 3, 2, 0.8, 20_000
    omega = np.array([0.5, 1.5, -0.5])
    factor, w, sd = ref_tasks(rng, n_tasks, p)
    exact = ref_exact_loss(omega, factor, w, sd, alpha, n_r)
    direct = ref_direct_loss(rng, omega, factor, w, sd, alpha, n_r, n_test=20)
    diff = direct - exact                                 # paired over tasks: the task noise cancels
    se = diff.std(ddof=1) / np.sqrt(n_tasks)
    assert abs(diff.mean()) < 4 * se
    wrong = direct - ref_exact_loss(omega, factor, w, sd, alpha, n_r, tr_term=False)
    assert abs(wrong.mean()) > 8 * se


@pytest.mark.statistical
def test_reference_closed_form_p1_is_the_task_average():
    rng = np.random.default_rng(4)
    factor, w, sd = ref_tasks(rng, 200_000, 1)
    for omega, alpha, n_r in ((1.3, 0.0, 1), (0.8, 0.5, 5), (0.2, 1.0, 1)):
        per_task = ref_exact_loss(np.array([omega]), factor, w, sd, alpha, n_r)
        assert abs(per_task.mean() - ref_population_loss_p1(omega, alpha, n_r)) < 4 * per_task.std() / np.sqrt(
            per_task.size)


def test_reference_population_optima_p1():
    """``p = 1``: the population optima of the two losses are the limits of DRS and of MAML.

    Before adaptation the best ``omega`` is ``E[theta^2]/E[theta] = 2 beta/3``, DRS's limit; after one step on
    ``n`` points it is MAML's limit at ``alpha``, ``n`` (MAML's population meta-loss is that loss).
    """
    grid = np.linspace(0.0, 2.0, 200_001)
    assert abs(grid[np.argmin(ref_population_loss_p1(grid, 0.0, 1))] - 2 * BETA / 3) < 1e-5
    rng = np.random.default_rng(5)
    factor, w, sd = ref_tasks(rng, 4000, 1)
    x1, y1 = ref_data(rng, factor, w, sd, 5)
    x2, y2 = ref_data(rng, factor, w, sd, 5)
    maml = ref_fit(x1, y1, x2, y2, 0.5, "maml")[0]
    best = grid[np.argmin(ref_population_loss_p1(grid, 0.5, 5))]
    assert abs(maml - best) < 0.03 and abs(ref_fit(x1, y1, x2, y2, 0.5, "erm")[0] - 2 * BETA / 3) < 0.03


# ------------------------------------------------------------------------------- linmeta against the reference
def ref_runs(seed, p, m, n, alpha, n_runs, n_test_tasks=50, n_test=10, rotate_w=False):
    """Per-run losses of MAML (``"maml"``) and DRS (``"erm"``) before (``alpha_r = 0``) and after adaptation.

    ``key``: at ``p = 1`` the closed-form task average, otherwise a direct Monte Carlo over ``n_test_tasks``
    test tasks; ``"key:sampled"``: the exact per-task loss averaged over ``n_test_tasks`` sampled test tasks
    (linmeta's estimate of a run's loss, with its test-task noise: the fraction of runs won depends on it);
    ``"key:no_tr"``: that without ``S tr S^2`` (a control).  ``rotate_w``: regression vector ``U theta``
    instead of ``theta`` (a wrong task law, a control).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_runs):
        f, w, sd = ref_tasks(rng, m, p)
        if rotate_w:
            w = np.einsum("tij,tj->ti", f / np.sqrt(w)[:, None, :], w)
        x1, y1 = ref_data(rng, f, w, sd, n)
        x2, y2 = ref_data(rng, f, w, sd, n)
        fits = {a: ref_fit(x1, y1, x2, y2, alpha, a) for a in ("maml", "erm")}
        test = ref_tasks(rng, n_test_tasks, p)
        for a, omega in fits.items():
            for alpha_r in (0.0, alpha):
                got = {(a + ":sampled", alpha_r): ref_exact_loss(omega, *test, alpha_r, n).mean(),
                       (a + ":no_tr", alpha_r): ref_exact_loss(omega, *test, alpha_r, n, tr_term=False).mean(),
                       (a, alpha_r): ref_population_loss_p1(omega[0], alpha_r, n) if p == 1 else
                       ref_direct_loss(rng, omega, *test, alpha_r, n, n_test).mean()}
                for key, value in got.items():
                    out.setdefault(key, np.empty(n_runs))[i] = value
    return out


def two_proportion_z(a, b):
    pa, pb, pool = a.mean(), b.mean(), np.concatenate([a, b]).mean()
    return (pa - pb) / np.sqrt(pool * (1 - pool) * (1 / a.size + 1 / b.size))


@pytest.mark.statistical
@pytest.mark.parametrize("p", [1, 3])
def test_linmeta_agrees_with_the_reference(p):
    """Linmeta's paired per-run losses on Gao & Sener's tasks against the plain-NumPy reference (own draws).

    Means of MAML's and ERM's losses, of the paired difference, and the fraction of runs MAML wins (per-run
    losses averaged over the same number of sampled test tasks on both sides), before and after one step, each
    within 4 standard errors.  Controls at the same sizes: the reference with the wrong
    task law (``U theta``) and, after one step, without the ``S tr S^2`` term, are rejected.  Runs: at ``p = 3``
    every control has |z| >= 23 at 1000 runs (34 at 2000); at ``p = 1`` the weakest has 9.4 at 2000 (5.7 at 1000).
    """
    m, n, alpha, runs = 5, 5, 0.5, {1: 2000, 3: 1000}[p]
    maml = lm.Problem(p=p, m=m, n_t=n, n_v=n, n_r=n, sigma=None, nu=None, alpha_t=alpha, alpha_r=alpha,
                      tasks=gao_sener.task_distribution(p, BETA), algorithm="maml")
    ref = ref_runs(11, p, m, n, alpha, runs)
    wrong = ref_runs(12, p, m, n, alpha, runs, rotate_w=True)
    for alpha_r in (0.0, alpha):
        lin = {a: lm.simulate(maml.replace(algorithm=a, alpha_r=alpha_r), runs, 5, "exact", n_test_tasks=50,
                              return_losses=True).losses for a in ("maml", "erm")}
        lin_d, ref_d = lin["maml"] - lin["erm"], ref[("maml", alpha_r)] - ref[("erm", alpha_r)]
        sampled_d = ref[("maml:sampled", alpha_r)] - ref[("erm:sampled", alpha_r)]
        for z in (z_score(lin["maml"], ref[("maml", alpha_r)]), z_score(lin["erm"], ref[("erm", alpha_r)]),
                  z_score(lin_d, ref_d), two_proportion_z(lin_d < 0, sampled_d < 0)):
            assert abs(z) < 4, (alpha_r, z)
        assert abs(z_score(lin["maml"], wrong[("maml", alpha_r)])) > 4
        if alpha_r:
            assert abs(z_score(lin["maml"], ref[("maml:no_tr", alpha_r)])) > 4
            assert abs(z_score(lin["erm"], ref[("erm:no_tr", alpha_r)])) > 4


# ----------------------------------------------------------------------------------------------------- the figure
def test_paired_row_counts_strict_wins_with_a_wilson_interval():
    from scipy.stats import norm

    maml, erm = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([2.0, 2.0, 1.0, 5.0, 6.0])
    row = gao_sener.paired_row(maml, erm)
    assert row["wins"] == 3 and row["mean"] == 0.6            # the tie (2.0, 2.0) is not a win, as theirs
    z, n, f = norm.ppf(0.975), 5, 0.6                          # Wilson's interval written out
    centre = (f + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(f * (1 - f) / n + z * z / (4 * n * n))
    np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [centre - half, centre + half], rtol=1e-12)
    with pytest.raises(ValueError, match="per-run losses of MAML must be finite"):
        gao_sener.paired_row(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))


def test_cell_losses_are_simulate_paired_runs():
    """The figure's per-run losses are ``lm.simulate``'s, with MAML and ERM on the same tasks and data."""
    draw = gao_sener.task_distribution(3, BETA)
    maml, lm_maml, lm_erm = gao_sener.cell_losses(3, 5, 10, draw, 6, 2, 20)
    assert lm_maml.shape == (6, len(gao_sener.ALPHAS), 1 + len(gao_sener.ALPHAS)) and lm_erm.shape == (6, 1, 4)
    kw = dict(n_runs=6, seed=2, method="exact", n_test_tasks=20, return_losses=True)
    for j, alpha in enumerate(gao_sener.ALPHAS):
        for b, alpha_r in enumerate((0.0, *gao_sener.ALPHAS)):
            q = maml.replace(alpha_t=alpha, alpha_r=alpha_r)
            # the same runs; one pass over the rates may round the last bit differently
            np.testing.assert_allclose(lm_maml[:, j, b], lm.simulate(q, **kw).losses, rtol=1e-12)
            np.testing.assert_allclose(lm_erm[:, 0, b], lm.simulate(q.replace(algorithm="erm"), **kw).losses,
                                       rtol=1e-12)


def test_figure_is_registered_and_draws_its_table(monkeypatch, tmp_path):
    from linmeta import figures

    assert "gao_sener" in figures.FIGURES
    monkeypatch.setattr(gao_sener, "CASES", ((1, (2, 5), (1, 5)), (3, (5,), (1, 5))))
    monkeypatch.setattr(gao_sener, "N_TEST_TASKS", 20)
    made = figures.make("gao_sener", tmp_path, seed=3, runs_scale=0.05)     # 10 runs per cell
    table = figures.read_csv(made.paths[0])
    assert len(table) == 6 * len(gao_sener.ALPHAS) * 2
    assert set(table["kind"]) == {"before adaptation", "after one step"}
    assert (table["n_runs"] == 10).all()
    assert (table["n_t"] == table["n_v"]).all() and (table["n_r"] == table["n_t"]).all()
    before = table[table["kind"] == "before adaptation"]
    after = table[table["kind"] == "after one step"]
    assert (before["alpha_r"] == 0).all() and (after["alpha_r"] == after["alpha_t"]).all()
    assert (table["mean"] == table["wins"] / 10).all()
    assert ((table["ci_low"] <= table["mean"]) & (table["mean"] <= table["ci_high"])).all()
    assert table["model"].str.contains("gao_sener").all()
    row = table[(table["p"] == 1) & (table["m"] == 5) & (table["n_t"] == 5) & (table["alpha_t"] == 0.5)
                & (table["kind"] == "after one step")].iloc[0]
    draw = gao_sener.task_distribution(1, BETA)
    _, lm_maml, lm_erm = gao_sener.cell_losses(1, 5, 5, draw, 10, 3, 20)
    assert row["wins"] == np.sum(lm_maml[:, 1, 2] < lm_erm[:, 0, 2])
    assert all(p.endswith((".csv", ".png", ".pdf")) for p in made.paths)


def test_figure_draws_any_table_in_linmeta_layout():
    table = lm.simulate_curve(lm.presets.FIG3, "alpha_r", [0.0, 0.2], n_runs=20, seed=0)
    out = gao_sener.draw_gao_sener(MplFigure(), table)
    assert list(out) == ["table"] and out["table"]["simulation"] is not None
