"""Experiments on the multi-step step-size bound (theory.md §6, B1; issue 6).

* :func:`stepsize_bound`: for ``N`` inner steps and ``alpha L`` at multiples of
  the bound ``2^(1/(2N)) - 1``, both signs, measure the inner-product norm, the
  meta-objective's smoothness and whether outer gradient descent with the step
  the bound licenses converges.
* :func:`optimal_alpha_t`: the optimal (negative) inner rate of ``N``-step
  MAML found by simulation, next to ``-bound(N) / L`` ("linking the two papers").

Plot helpers draw on a given Axes and return the artists (style.md habit 12).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pandas as pd

from linmeta import presets, sampling
from linmeta._checks import check_int
from linmeta._rng import check_seed
from linmeta.bounds import product_norm, smoothness, step_size_bound
from linmeta.estimate import run_losses
from linmeta.maml import meta_system, meta_train

__all__ = ["stepsize_bound", "optimal_alpha_t", "OptimalAlpha", "plot_stepsize_bound", "plot_optimal_alpha_t",
           "STEPS", "RATIOS"]

STEPS = (1, 2, 5, 10, 20)
RATIOS = (-10.0, -3.0, -1.5, -0.99, -0.5, 0.5, 0.99, 1.5, 3.0, 10.0)


def stepsize_bound(prob=None, *, steps=STEPS, ratios=RATIOS, seed=0, n_iter=2000):
    """The bound ``alpha L < 2^(1/(2N)) - 1`` checked on one meta-training set.

    For every ``N`` in ``steps`` and ``ratio`` in ``ratios`` the inner rate is
    ``alpha = ratio * step_size_bound(N) / L`` with ``L = max_i lambda_max(H_i)``
    (:func:`linmeta.bounds.smoothness`), and:

    * ``prod_norm = max_i |(I - alpha H_i)^N|`` against ``(1 + |alpha| L)^N``
      and ``sqrt(2)``;
    * ``smoothness_ratio = L_meta / L_val``: the meta-loss Hessian's largest
      eigenvalue (``Z^T Z / (n_v m)``) over the validation loss's
      (``P^T P / (n_v m)``, the meta-loss at ``alpha = 0``);
    * outer gradient descent on the meta-loss from ``omega0`` with the step the
      bound licenses, ``outer_step = 1 / (2 L_v)`` with the per-task validation
      smoothness ``L_v = max_i lambda_max(X_v,i^T X_v,i / n_v)``: below the bound
      ``L_meta <= max_i |A_i|^2 L_v < 2 L_v``, so ``outer_step * L_meta < 1``.
      ``rho`` is the largest ``|1 - outer_step mu|``
      over the non-zero eigenvalues ``mu`` of the meta-loss Hessian (it
      converges iff ``rho < 1``), ``gd_error_ratio`` the measured
      ``|omega_T - omega*| / |omega0 - omega*|`` after ``n_iter`` steps.

    Parameters
    ----------
    prob : Problem, default=presets.FIG3
        Sizes and noise; ``alpha_t`` and ``n_steps`` are overridden.
    steps : sequence of int, default=(1, 2, 5, 10, 20)
    ratios : sequence of float, default=(±0.5, ±0.99, ±1.5, ±3, ±10)
        ``alpha L / bound``.
    seed : int, default=0
        The meta-training set is ``sample_tasks(prob, seed)``.
    n_iter : int, default=2000
        Outer gradient-descent steps.

    Returns
    -------
    pandas.DataFrame
        One row per ``(N, ratio)``: ``N, ratio, bound, L, alpha, alpha_L,
        prod_norm, prod_norm_bound, below_sqrt2, meta_smoothness,
        val_smoothness, smoothness_ratio, task_val_smoothness, outer_step, rho,
        converges, gd_error_ratio, seed``.

    Examples
    --------
    >>> import linmeta as lm
    >>> t = lm.experiments.stepsize_bound(steps=(1, 5), ratios=(-0.99, 3.0), n_iter=200)
    >>> t[["N", "ratio", "below_sqrt2", "converges"]].values.tolist()
    [[1, -0.99, True, True], [1, 3.0, True, True], [5, -0.99, True, True], [5, 3.0, True, True]]

    References
    ----------
    theory.md §6 (B1); Ji, Yang & Liang (2022), JMLR 23.
    """
    prob = presets.FIG3 if prob is None else prob
    seed = check_seed(seed)
    n_iter = check_int(n_iter, "n_iter", min_val=1)
    batch = sampling.sample_tasks(prob, seed)
    L = smoothness(batch).L
    L_v = smoothness(batch, data="validation").L
    P = batch.X_v.reshape(-1, prob.p)
    L_val = float(np.linalg.eigvalsh(P.T @ P / P.shape[0])[-1])
    outer_step = 1.0 / (2.0 * L_v)
    rows = []
    for N in steps:
        bound = step_size_bound(N)
        for ratio in ratios:
            alpha = float(ratio) * bound / L
            q = prob.replace(algorithm="maml", alpha_t=alpha, n_steps=N, lam=None)
            Z, r = meta_system(batch, q)
            k = Z.shape[0]
            mu = np.linalg.eigvalsh(Z.T @ Z / k)
            live = mu > mu[-1] * 1e-12  # zero modes (over-parameterised) never move
            rho = float(np.max(np.abs(1.0 - outer_step * mu[live])))
            target = meta_train(batch, q)
            omega = q.omega0.copy()
            with np.errstate(over="ignore", invalid="ignore"):
                for _ in range(n_iter):
                    omega = omega - outer_step * (Z.T @ (Z @ omega - r) / k)
                err = np.linalg.norm(omega - target) / np.linalg.norm(q.omega0 - target)
            rows.append(dict(
                N=N, ratio=float(ratio), bound=bound, L=L, alpha=alpha, alpha_L=alpha * L,
                prod_norm=product_norm(batch, alpha, N), prod_norm_bound=(1 + abs(alpha) * L) ** N,
                meta_smoothness=float(mu[-1]), val_smoothness=L_val, task_val_smoothness=L_v, outer_step=outer_step, rho=rho,
                gd_error_ratio=float(err) if np.isfinite(err) else np.inf, seed=seed))
    t = pd.DataFrame(rows)
    t.insert(8, "below_sqrt2", t["prod_norm"] < np.sqrt(2))
    t.insert(11, "smoothness_ratio", t["meta_smoothness"] / t["val_smoothness"])
    t.insert(15, "converges", t["rho"] < 1)
    return t


OptimalAlpha = namedtuple("OptimalAlpha", "summary curves")
OptimalAlpha.__doc__ = """Result of :func:`optimal_alpha_t`: a summary per ``N`` and the loss curves it came from."""


def _parabola_min(x, y):
    """Minimiser of the parabola through the grid minimum and its two neighbours (clamped to the grid)."""
    i = int(np.clip(np.argmin(y), 1, len(y) - 2))
    c = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
    return float(np.clip(-c[1] / (2 * c[0]), x[0], x[-1])) if c[0] > 0 else float(x[np.argmin(y)])


def optimal_alpha_t(prob=None, *, steps=(1, 2, 5, 10), n_runs=400, seed=0, grid=None, n_boot=200):
    """Optimal inner rate of ``N``-step MAML by simulation, against ``-step_size_bound(N) / L``.

    For each ``N`` the average test loss (``method="exact"``, common random
    numbers across rates) is estimated on ``grid / N``; the optimum is the
    minimiser of the parabola through the three lowest grid points, and its
    standard error comes from a bootstrap over runs.  ``L`` is the mean over
    runs of ``max_i lambda_max(H_i)`` of that run's meta-training set.

    Parameters
    ----------
    prob : Problem, default=presets.FIG3
    steps : sequence of int, default=(1, 2, 5, 10)
    n_runs : int, default=400
    seed : int, default=0
    grid : array_like, optional
        Values of ``N alpha_t``; default 31 points on ``[-0.1, 0.05]``.
    n_boot : int, default=200
        Bootstrap resamples of the runs.

    Returns
    -------
    OptimalAlpha
        ``summary``: one row per ``N``: ``N, alpha_star, alpha_star_se,
        minus_bound_over_L, star_over_bound, N_alpha_star, L, loss_star,
        loss_zero, n_runs, seed``; ``curves``: ``N, alpha_t, mean, stderr``.

    Examples
    --------
    >>> import linmeta as lm
    >>> res = lm.experiments.optimal_alpha_t(steps=(1,), n_runs=50, n_boot=20)
    >>> bool(res.summary.alpha_star.iloc[0] < 0)
    True

    References
    ----------
    theory.md §4 (T2), §6 (B1).
    """
    prob = presets.FIG3 if prob is None else prob
    seed = check_seed(seed)
    n_runs = check_int(n_runs, "n_runs", min_val=2)
    grid = np.linspace(-0.1, 0.05, 31) if grid is None else np.asarray(grid, dtype=float)
    draws = sampling.draw_training(prob, seed, np.arange(n_runs))
    X = draws["X_t"]
    L = float(np.mean(np.linalg.eigvalsh(np.einsum("rmni,rmnj->rmij", X, X) / prob.n_t)[..., -1].max(axis=1)))
    del draws, X
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n_runs, size=(n_boot, n_runs))
    rows, curves = [], []
    for N in steps:
        q = prob.replace(algorithm="maml", n_steps=N, lam=None)
        alphas = grid / N
        losses = run_losses(q, np.arange(n_runs), seed, alphas, [q.alpha_r])[:, :, 0]
        mean = losses.mean(axis=0)
        star = _parabola_min(alphas, mean)
        se = float(np.std([_parabola_min(alphas, losses[b].mean(axis=0)) for b in boot], ddof=1))
        bound = step_size_bound(N)
        zero = run_losses(q, np.arange(n_runs), seed, [0.0], [q.alpha_r])[:, 0, 0].mean()
        rows.append(dict(N=N, alpha_star=star, alpha_star_se=se, minus_bound_over_L=-bound / L,
                         star_over_bound=star / (-bound / L), N_alpha_star=N * star, L=L,
                         loss_star=float(mean.min()), loss_zero=float(zero), n_runs=n_runs, seed=seed))
        curves.append(pd.DataFrame(dict(N=N, alpha_t=alphas, mean=mean,
                                        stderr=losses.std(axis=0, ddof=1) / np.sqrt(n_runs))))
    return OptimalAlpha(pd.DataFrame(rows), pd.concat(curves, ignore_index=True))


# ---------------------------------------------------------------------------------------------- plots
def plot_stepsize_bound(ax, table, *, sqrt2=True):
    """Draw ``max_i |prod_j (I - alpha H_i)|`` against ``alpha L / bound``, one line per ``N``.

    Filled markers: outer gradient descent with the licensed step converges;
    open markers: it diverges.  Dashed: ``(1 + |alpha| L)^N``; dotted: ``sqrt(2)``.

    Returns
    -------
    list of matplotlib artists
    """
    artists = []
    for j, (N, t) in enumerate(table.groupby("N")):
        t = t.sort_values("ratio")
        color = f"C{j}"
        artists += ax.plot(t["ratio"], t["prod_norm"], "-", color=color, label=f"N = {N}")
        artists += ax.plot(t["ratio"], t["prod_norm_bound"], "--", color=color, lw=0.8)
        ok = t["converges"].to_numpy()
        artists.append(ax.scatter(t["ratio"][ok], t["prod_norm"][ok], color=color, zorder=3))
        artists.append(ax.scatter(t["ratio"][~ok], t["prod_norm"][~ok], facecolors="none", edgecolors=color, zorder=3))
    if sqrt2:
        artists.append(ax.axhline(np.sqrt(2), color="k", ls=":", lw=1))
    for x in (-1, 1):
        artists.append(ax.axvline(x, color="0.6", lw=0.8))
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.set_xlabel(r"$\alpha L$ / bound$(N)$")
    ax.set_ylabel(r"$\max_i \|(I - \alpha H_i)^N\|$")
    ax.legend(fontsize="small")
    return artists


def plot_optimal_alpha_t(ax, summary):
    """Draw the simulated optimal ``alpha_t`` (with 2 SE) and ``-bound(N) / L`` against ``N``.

    Returns
    -------
    list of matplotlib artists
    """
    artists = [ax.errorbar(summary["N"], summary["alpha_star"], yerr=2 * summary["alpha_star_se"], fmt="o",
                           label=r"optimal $\alpha_t$ (simulation)")]
    artists += ax.plot(summary["N"], summary["minus_bound_over_L"], "s--", label=r"$-$bound$(N)/L$")
    ax.set_xscale("log")
    ax.set_xlabel("inner steps N")
    ax.set_ylabel(r"$\alpha_t$")
    ax.legend(fontsize="small")
    return artists


# ---------------------------------------------------------------------------------------------- figure
def compute_figure(seed=0, runs_scale=1.0, progress=None):
    """Compute step of the ``stepsize_bound`` figure: both experiments in one table (column ``kind``).

    ``kind == "bound"``: rows of :func:`stepsize_bound` at FIG3 sizes;
    ``kind == "optimal"``: the summary of :func:`optimal_alpha_t` (400 runs
    times ``runs_scale``, at least 20).
    """
    from linmeta import __version__  # noqa: PLC0415

    bound = stepsize_bound(seed=seed)
    opt = optimal_alpha_t(n_runs=max(20, int(round(400 * runs_scale))), seed=seed).summary
    table = pd.concat([bound.assign(kind="bound"), opt.assign(kind="optimal")], ignore_index=True)
    table.insert(0, "figure", "stepsize_bound")
    table["linmeta_version"] = __version__
    return table


def draw_figure(fig, table):
    """Draw step of the ``stepsize_bound`` figure: product norms (left), optimal ``alpha_t`` (right)."""
    a, b = fig.subplots(1, 2)
    bound = table[table["kind"] == "bound"].copy()
    bound["converges"] = bound["converges"].astype(bool)
    out = {"bound": plot_stepsize_bound(a, bound),
           "optimal": plot_optimal_alpha_t(b, table[table["kind"] == "optimal"])}
    a.set_title("Ji-Yang-Liang bound, FIG3 sizes", fontsize="medium")
    b.set_title(r"optimal $\alpha_t$ of N-step MAML vs $-$bound$/L$", fontsize="medium")
    return out
