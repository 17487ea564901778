"""Gao & Sener's meta-linear regression: how often MAML's meta-trained parameters beat ERM's.

Gao and Sener (NeurIPS 2020, "Modeling and Optimization Trade-off in
Meta-learning", section on meta-linear regression) compare MAML with domain
randomised search (DRS: one least-squares fit on all points of all tasks, our
``algorithm="erm"``) on a task distribution that is not linmeta's isotropic
one.  Per task, ``theta ~ U(0, beta)^p``, the inputs are ``N(0, U diag(theta)
U^T)`` with a Haar rotation ``U``, the regression vector is ``theta`` itself
and the noise variance is ``U(0, beta)``; each task gives ``N`` inner and
``N`` outer points, and one step of the same ``alpha`` is taken at
meta-training and at meta-test.  Their heat maps show, over an ``M x N``
grid, the fraction of trials in which MAML's expected test loss is below
DRS's, before adaptation and after one step on ``N`` points.

This figure recomputes that fraction with linmeta's exact method (the
expected test loss of each run's meta-trained parameters, averaged over
:data:`N_TEST_TASKS` test tasks), paired run by run (MAML and ERM see the
same tasks and data), with a Wilson 95 % interval per cell, on their
grid up to ``M, N = 200`` at ``p = 1`` and up to 100 at ``p = 3``
(:data:`CASES`), for :data:`ALPHAS`.

Examples
--------
>>> import numpy as np
>>> from linmeta.figures import gao_sener
>>> draw = gao_sener.task_distribution(p=3, beta=2.0)
>>> tasks = draw(np.random.default_rng(0), 4)
>>> tasks["input_factor"].shape, tasks["w"].shape, tasks["sigma"].shape
((4, 3, 3), (4, 3), (4,))
>>> gao_sener.M_GRID[:4], gao_sener.N_GRID[:4]
((2, 5, 10, 25), (1, 5, 10, 25))
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from linmeta._tidy import MODEL_COLUMN, problem_columns
from linmeta.algorithms._registry import BASELINE
from linmeta.estimate import losses_over_runs
from linmeta.figures.base import COLUMNS, draw_table, scaled_runs, stamp
from linmeta.problem import Problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

__all__ = ["BETA", "ALPHAS", "M_GRID", "N_GRID", "CASES", "RUNS", "N_TEST_TASKS", "STAGES", "haar_rotations",
           "task_distribution", "wilson_interval", "paired_row", "cell_losses", "compute_gao_sener",
           "draw_gao_sener"]

#: Upper end of the uniform laws of the eigenvalues, the regression vector and the noise variance
#: (their README's example command).
BETA = 2.0
#: Step sizes shown, one column of heat maps each (their grid: 0, 0.05, ..., 1).
ALPHAS = (0.1, 0.5, 1.0)
#: Their grid of tasks ``M`` and of points ``N`` per half (inner, outer) of a task.
M_GRID = (2, 5, 10, 25, 50, 100, 150, 200, 250, 300, 350, 400)
N_GRID = (1, 5, 10, 25, 50, 100, 150, 200, 250, 300, 350, 400)
#: ``(p, M values, N values)`` per row pair of panels: their grid up to 200 at ``p = 1`` and up to 100 at ``p = 3``
#: (a MAML run costs about ``M N^2`` here: their full grid costs about 10 times as much per run; ``p`` is odd, so
#: never the interpolation threshold ``N M`` or ``2 N M`` of the grid).
CASES = ((1, M_GRID[:8], N_GRID[:8]), (3, M_GRID[:6], N_GRID[:6]))
#: Paired runs per cell (theirs: 1000 trials).
RUNS = 200
#: Test tasks per run over which the exact expected loss is averaged (theirs: one fixed set of 1000).
N_TEST_TASKS = 1000
#: ``(kind, adaptation)``: ``alpha_r = 0`` is the loss before adaptation; otherwise ``alpha_r = alpha_t``.
STAGES = (("before adaptation", False), ("after one step", True))
_LEVEL = 0.95


def haar_rotations(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    """Return ``n`` independent Haar-distributed orthogonal ``p x p`` matrices, shape ``(n, p, p)``.

    The QR factorisation of a standard Gaussian matrix, with each column of
    ``Q`` multiplied by the sign of the matching diagonal entry of ``R``
    (without the sign fix, ``Q`` is not Haar).  Only ``rng`` is used.

    Examples
    --------
    >>> import numpy as np
    >>> u = haar_rotations(np.random.default_rng(1), 2, 3)
    >>> np.allclose(u @ u.transpose(0, 2, 1), np.eye(3))
    True
    """
    q, r = np.linalg.qr(rng.standard_normal((n, p, p)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def task_distribution(p: int, beta: float = BETA) -> Callable[[np.random.Generator, int], dict]:
    """Return Gao & Sener's task distribution as a ``draw(rng, n)`` for :class:`linmeta.Problem`'s ``tasks``.

    Per task: ``theta ~ U(0, beta)^p``; inputs ``x = U diag(sqrt(theta)) z``
    with ``z`` standard normal and ``U`` Haar (covariance ``U diag(theta)
    U^T``); regression vector ``theta`` (not rotated); noise variance
    ``U(0, beta)``.  Their code draws ``U`` from the rotations (determinant
    +1); the covariance, and so the law of every task, is the same with any
    Haar orthogonal ``U`` (a column's sign cancels in ``U diag(theta) U^T``).
    At ``p = 1`` the inputs are given by their standard deviation ``sqrt(theta)``.

    Parameters
    ----------
    p : int
    beta : float, default=BETA

    Returns
    -------
    callable
        ``draw(rng, n) -> {"input_factor": F, "w": W, "sigma": s}``, drawing from ``rng`` only.

    Examples
    --------
    >>> import numpy as np
    >>> draw = task_distribution(1, beta=2.0)
    >>> t = draw(np.random.default_rng(0), 3)
    >>> t["input_factor"].shape, bool(np.allclose(t["input_factor"] ** 2, t["w"]))
    ((3, 1), True)
    """
    def draw(rng: np.random.Generator, n: int) -> dict:
        theta = rng.uniform(0.0, beta, size=(n, p))
        noise_variance = rng.uniform(0.0, beta, size=n)
        if p == 1:
            factor = np.sqrt(theta)
        else:
            factor = haar_rotations(rng, n, p) * np.sqrt(theta)[:, None, :]
        return {"input_factor": factor, "w": theta, "sigma": np.sqrt(noise_variance)}

    draw.__qualname__ = f"gao_sener(p={p}, beta={beta:g})"   # names the model in tables
    return draw


def wilson_interval(wins: int, n: int, level: float = _LEVEL) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion ``wins / n``.

    Examples
    --------
    >>> low, high = wilson_interval(50, 100)
    >>> round(low, 3), round(high, 3)
    (0.404, 0.596)
    """
    ci = binomtest(int(wins), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def paired_row(maml_losses: np.ndarray, erm_losses: np.ndarray) -> dict:
    """Return the paired comparison of per-run losses of MAML and ERM (the same runs, in run order).

    ``mean``: the fraction of runs in which MAML's loss is strictly below
    ERM's (as theirs: ``DRS > MAML``); ``stderr``: its binomial standard
    error; ``wins``; ``ci_low``, ``ci_high``: its Wilson 95 % interval; and
    the median loss of each (the mean loss can be infinite: a fraction of
    runs always has a law).

    Examples
    --------
    >>> import numpy as np
    >>> row = paired_row(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 4.0, 5.0]))
    >>> row["wins"], row["mean"], row["loss_maml_median"]
    (3, 0.75, 2.5)
    """
    maml_losses, erm_losses = np.asarray(maml_losses, dtype=float), np.asarray(erm_losses, dtype=float)
    for name, v in (("MAML", maml_losses), ("ERM", erm_losses)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"the per-run losses of {name} must be finite; got {np.count_nonzero(~np.isfinite(v))} "
                             f"non-finite of {v.size}")
    n_runs = maml_losses.size
    wins = int(np.count_nonzero(maml_losses < erm_losses))
    fraction = wins / n_runs
    low, high = wilson_interval(wins, n_runs)
    return {"mean": fraction, "stderr": float(np.sqrt(fraction * (1.0 - fraction) / n_runs)), "wins": wins,
            "ci_low": low, "ci_high": high, "loss_maml_median": float(np.median(maml_losses)),
            "loss_erm_median": float(np.median(erm_losses))}


_EXTRA = ("wins", "ci_low", "ci_high", "ci_method", "n_test_tasks", "beta", "loss_maml_median", "loss_erm_median")


def cell_losses(p: int, m: int, n: int, draw: Callable, n_runs: int, seed: int, n_test_tasks: int,
                progress: bool | None = None) -> tuple[Problem, np.ndarray, np.ndarray]:
    """Return the MAML problem of one cell and the per-run losses of MAML and ERM there.

    MAML's losses have shape ``(n_runs, len(ALPHAS), 1 + len(ALPHAS))``:
    ``alpha_t`` in :data:`ALPHAS`, ``alpha_r`` in ``(0, *ALPHAS)``; ERM's
    ``(n_runs, 1, 1 + len(ALPHAS))``.  Each is ``lm.simulate(..., "exact",
    n_test_tasks=n_test_tasks, return_losses=True).losses`` of the problem
    at those rates, computed in one pass (common random numbers); MAML and
    ERM share ``seed``, so run ``i`` sees the same tasks and data in both.
    """
    rates = [0.0, *ALPHAS]
    maml = Problem(p=p, m=m, n_t=n, n_v=n, n_r=n, sigma=None, nu=None, alpha_t=ALPHAS[0], alpha_r=0.0, tasks=draw)
    erm = maml.replace(algorithm=BASELINE)
    desc = f"gao_sener p={p} M={m} N={n}"
    got = [losses_over_runs(q, n_runs, seed, a_t, rates, "exact", n_test_tasks, 1, None, progress, desc)
           for q, a_t in ((maml, list(ALPHAS)), (erm, [erm.alpha_t]))]
    return maml, got[0], got[1]


def _cell_rows(p, m, n, draw, n_runs, seed, n_test_tasks, progress):
    """Rows of one ``(p, M, N)`` cell: per alpha and stage, the paired fraction."""
    maml, maml_losses, erm_losses = cell_losses(p, m, n, draw, n_runs, seed, n_test_tasks, progress)
    rows = []
    for j, alpha in enumerate(ALPHAS):
        for kind, adapted in STAGES:
            b = j + 1 if adapted else 0
            prob = maml.replace(alpha_t=alpha, alpha_r=alpha if adapted else 0.0)
            rows.append({"kind": kind, "quantity": "P(MAML loss < ERM loss)", **problem_columns(prob),
                         **paired_row(maml_losses[:, j, b], erm_losses[:, 0, b]), "n_runs": n_runs, "seed": seed,
                         "method": "exact", "ci_method": "wilson 95%", "n_test_tasks": n_test_tasks, "beta": BETA})
    return rows


def compute_gao_sener(seed: int = 0, runs_scale: float = 1.0, progress: bool | None = None) -> pd.DataFrame:
    """Compute step of the ``gao_sener`` figure: one row per ``(p, M, N, alpha, stage)``.

    ``mean`` is the fraction of :data:`RUNS` ``x runs_scale`` paired runs in
    which MAML's exact expected test loss is below ERM's, ``stderr`` its
    binomial standard error, ``ci_low``/``ci_high`` its Wilson 95 % interval;
    the MAML problem's fields fill the problem columns (``m`` = their ``M``,
    ``n_t = n_v = n_r`` = their ``N``, ``alpha_t`` = their ``alpha``).
    """
    n_runs = scaled_runs(RUNS, runs_scale)
    rows = []
    for p, ms, ns in CASES:
        draw = task_distribution(p, BETA)
        for m in ms:
            for n in ns:
                rows.extend(_cell_rows(p, m, n, draw, n_runs, seed, N_TEST_TASKS, progress))
    table = pd.DataFrame(rows).reindex(columns=["kind", "quantity", *COLUMNS, MODEL_COLUMN, *_EXTRA])
    return stamp(table, "gao_sener")


def _heat_map(ax, cells, ms, ns):
    """Draw the fraction over the (N, M) grid; a dot where the interval holds 1/2 (no clear winner)."""
    grid = cells.set_index(["m", "n_t"])
    values = np.array([[grid.loc[(m, n), "mean"] for n in ns] for m in ms])
    image = ax.pcolormesh(np.arange(len(ns) + 1) - 0.5, np.arange(len(ms) + 1) - 0.5, values, cmap="RdBu_r",
                          vmin=0.0, vmax=1.0, shading="flat")
    tie = [(j, i) for i, m in enumerate(ms) for j, n in enumerate(ns)
           if grid.loc[(m, n), "ci_low"] <= 0.5 <= grid.loc[(m, n), "ci_high"]]
    if tie:
        ax.plot(*np.transpose(tie), ".", color="k", ms=1.5)
    ax.grid(False)
    ax.set_xticks(range(len(ns)), [str(n) for n in ns])
    ax.set_yticks(range(len(ms)), [str(m) for m in ms])
    return image


def draw_gao_sener(fig: MplFigure, table: pd.DataFrame) -> dict:
    """Draw step of the ``gao_sener`` figure: one heat map per ``(p, stage, alpha)``.

    Colour: the fraction of runs in which MAML's loss is below ERM's (red:
    MAML better, blue: ERM better); a dot marks cells whose Wilson interval
    contains 1/2.  Any other table in linmeta's layout (a curve or a sweep) is drawn as simulation and
    theory against its varied parameter (:func:`linmeta.figures.base.draw_table`).
    """
    if "ci_low" not in table.columns:
        return {"table": draw_table(fig.subplots(), table)}
    ps = sorted(table["p"].unique())
    alphas = sorted(table["alpha_t"].unique())
    kinds = [k for k, _ in STAGES if k in set(table["kind"])]
    axes = fig.subplots(len(ps) * len(kinds), len(alphas), squeeze=False)
    out, image = {}, None
    for i, (p, kind) in enumerate((p, k) for p in ps for k in kinds):
        for j, alpha in enumerate(alphas):
            ax = axes[i, j]
            cells = table[(table["p"] == p) & (table["kind"] == kind) & (table["alpha_t"] == alpha)]
            ms, ns = sorted(cells["m"].unique()), sorted(cells["n_t"].unique())
            image = _heat_map(ax, cells, ms, ns)
            ax.set_title(f"p={p}, {kind}, α={alpha:g}", fontsize="x-small")
            ax.tick_params(labelsize="xx-small")
            if i == len(ps) * len(kinds) - 1:
                ax.set_xlabel("N (points per half-task)", fontsize="x-small")
            if j == 0:
                ax.set_ylabel("M (tasks)", fontsize="x-small")
            out[(int(p), kind, float(alpha))] = ax
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.6, location="right")
        bar.set_label("fraction of runs with MAML's loss < ERM's", fontsize="x-small")
    return out
