"""Experiments on the multi-step step-size bound (docs: theory, §6, B1).

* :func:`stepsize_bound`: for ``N`` inner steps and ``alpha L`` at multiples of
  the bound ``2^(1/(2N)) - 1``, both signs, measure the inner-product norm, the
  meta-objective's smoothness and whether outer gradient descent with the step
  the bound licenses converges.
* :func:`optimal_alpha_t`: the optimal (negative) inner rate of ``N``-step
  MAML found by simulation, next to ``-bound(N) / L`` ("linking the two papers");
  :func:`linmeta.theory.optimal_alpha_t` is the closed-form optimum of one step.

Plot helpers draw on a given Axes and return the artists.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from linmeta import presets, sampling
from linmeta._sim.engine import run_losses
from linmeta._sim.rng import check_seed
from linmeta._validation import check_int
from linmeta.algorithms._registry import MAML
from linmeta.bounds import product_norm, smoothness, step_size_bound
from linmeta.maml import meta_system, meta_train
from linmeta.optimum import simulate_optimum

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from linmeta.problem import Problem

__all__ = ["stepsize_bound", "optimal_alpha_t", "OptimalAlpha", "plot_stepsize_bound", "plot_optimal_alpha_t",
           "STEPS", "RATIOS"]

STEPS = (1, 2, 5, 10, 20)
RATIOS = (-10.0, -3.0, -1.5, -0.99, -0.5, 0.5, 0.99, 1.5, 3.0, 10.0)


def stepsize_bound(prob: Problem | None = None, *, steps: Sequence[int] = STEPS, ratios: Sequence[float] = RATIOS,
                   seed: int = 0, n_iter: int = 2000) -> pd.DataFrame:
    """Check the bound ``alpha L < 2^(1/(2N)) - 1`` on one meta-training set.

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
    (docs: theory, §6, B1); Ji, Yang & Liang (2022), JMLR 23.
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
            q = prob.replace(algorithm=MAML, alpha_t=alpha, n_steps=N, lam=None)
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
                meta_smoothness=float(mu[-1]), val_smoothness=L_val, task_val_smoothness=L_v, outer_step=outer_step,
                rho=rho,
                gd_error_ratio=float(err) if np.isfinite(err) else np.inf, seed=seed))
    t = pd.DataFrame(rows)
    t.insert(8, "below_sqrt2", t["prod_norm"] < np.sqrt(2))
    t.insert(11, "smoothness_ratio", t["meta_smoothness"] / t["val_smoothness"])
    t.insert(15, "converges", t["rho"] < 1)
    return t


OptimalAlpha = namedtuple("OptimalAlpha", "summary curves")
OptimalAlpha.__doc__ = """Result of :func:`optimal_alpha_t`: a summary per ``N`` and the loss curves it came from."""


def optimal_alpha_t(prob: Problem | None = None, *, steps: Sequence[int] = (1, 2, 5, 10), n_runs: int = 400,
                    seed: int = 0, grid: ArrayLike | None = None, n_boot: int = 200) -> OptimalAlpha:
    """Optimal inner rate of ``N``-step MAML by simulation, against ``-step_size_bound(N) / L``.

    For each ``N`` the optimum is :func:`linmeta.simulate_optimum` over
    ``alpha_t`` in the bracket ``(grid[0] / N, grid[-1] / N)``: the minimiser
    of the common-random-numbers mean curve (``method="exact"``), with a
    bootstrap standard error and 95 % interval.  A minimum at the edge of the
    bracket raises ``ValueError`` (widen ``grid``).  ``L`` is the mean over
    runs of ``max_i lambda_max(H_i)`` of that run's meta-training set.

    Parameters
    ----------
    prob : Problem, default=presets.FIG3
    steps : sequence of int, default=(1, 2, 5, 10)
    n_runs : int, default=400
        At least 10.
    seed : int, default=0
    grid : array_like, optional
        Values of ``N alpha_t`` for the coarse search; default 31 points on ``[-0.1, 0.05]``.
    n_boot : int, default=200
        Bootstrap resamples of the runs.

    Returns
    -------
    OptimalAlpha
        ``summary``: one row per ``N``: ``N, alpha_star, alpha_star_se,
        alpha_star_ci_low, alpha_star_ci_high, minus_bound_over_L,
        star_over_bound, N_alpha_star, L, loss_star, loss_zero, n_runs,
        seed``; ``curves``: ``N, alpha_t, mean, stderr``.

    Raises
    ------
    ValueError
        If the simulated minimum lies at an end of the bracket.

    See Also
    --------
    linmeta.theory.optimal_alpha_t : the closed-form (leading-order) optimum of one-step MAML, no simulation.
    linmeta.simulate_optimum : the simulated optimum of one problem, which this calls for each ``N``.

    Examples
    --------
    >>> import linmeta as lm
    >>> res = lm.experiments.optimal_alpha_t(steps=(1,), n_runs=50, n_boot=20)
    >>> bool(res.summary.alpha_star.iloc[0] < 0)
    True

    References
    ----------
    (docs: theory, T2, B1).
    """
    prob = presets.FIG3 if prob is None else prob
    seed = check_seed(seed)
    n_runs = check_int(n_runs, "n_runs", min_val=10)
    grid = np.linspace(-0.1, 0.05, 31) if grid is None else np.asarray(grid, dtype=float)
    draws = sampling.draw_training(prob, seed, np.arange(n_runs))
    X = draws["X_t"]
    L = float(np.mean(np.linalg.eigvalsh(np.einsum("rmni,rmnj->rmij", X, X) / prob.n_t)[..., -1].max(axis=1)))
    del draws, X
    rows, curves = [], []
    for N in steps:
        q = prob.replace(algorithm=MAML, n_steps=N, lam=None)
        opt = simulate_optimum(q, "alpha_t", n_runs, seed, bracket=(grid[0] / N, grid[-1] / N), n_grid=len(grid),
                               n_boot=n_boot)
        bound = step_size_bound(N)
        zero = run_losses(q, np.arange(n_runs), seed, [0.0], [q.alpha_r])[:, 0, 0].mean()
        rows.append(dict(N=N, alpha_star=opt.value, alpha_star_se=opt.stderr, alpha_star_ci_low=opt.ci[0],
                         alpha_star_ci_high=opt.ci[1], minus_bound_over_L=-bound / L,
                         star_over_bound=opt.value / (-bound / L), N_alpha_star=N * opt.value, L=L,
                         loss_star=opt.loss, loss_zero=float(zero), n_runs=n_runs, seed=seed))
        curves.append(pd.DataFrame(dict(N=N, alpha_t=opt.curve["alpha_t"], mean=opt.curve["mean"],
                                        stderr=opt.curve["stderr"])))
    return OptimalAlpha(pd.DataFrame(rows), pd.concat(curves, ignore_index=True))


# ---------------------------------------------------------------------------------------------- plots
def plot_stepsize_bound(ax: Axes, table: pd.DataFrame, *, sqrt2: bool = True) -> list:
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


def plot_optimal_alpha_t(ax: Axes, summary: pd.DataFrame) -> list:
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
