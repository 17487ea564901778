"""Benign-overfitting figure: the test loss of MAML and ERM against ``p`` across the interpolation threshold.

The setting of Ju, Liang & Shroff (ICLR 2023) and Chen, Lu & Chen (NeurIPS
2022): the model has ``p`` features, the tasks use only ``s = S_TRUE`` of them
(``task_cov`` is ``c`` on the first ``s`` features and zero on the others, and
``w0`` lies on them, ``|w0| = W0_NORM``), inputs are ``N(0, I_p)`` and
meta-training starts at ``omega0 = 0``.  The learned initialisation is
interpolating (minimum norm) above the threshold ``k = n_v m`` (MAML) or
``k = (n_t + n_v) m`` (ERM) and the least-squares fit below it.  Their
headline: benign overfitting is stronger, the over-parameterised minimum of
the loss lower relative to the best under-parameterised one, when the noise
``sigma`` and the task spread ``nu^2 = tr T`` are large.

The test loss is taken at ``alpha_r = 0`` (the initialisation itself), where
it is ``(sigma^2 + nu^2 + E|omega* - w0|^2) / 2`` exactly: every dependence on
``p`` sits in the error of ``omega*``, and ``(sigma^2 + nu^2) / 2`` is the loss
of the oracle ``omega = w0``.  (At ``alpha_r > 0`` an adaptation step on
``p``-dimensional inputs adds a loss that grows with ``p`` and would blur the
comparison.)  The figure draws the excess over the oracle, ``E|omega* - w0|^2
/ 2``; as ``p -> infinity`` above the threshold it tends to
``|w0 - omega0|^2 / 2`` (the interpolator stays at ``omega0``), drawn as a
horizontal line.

With isotropic inputs the average loss depends on the task prior only
through ``nu^2 = tr T`` and on ``w0`` only through ``|w0 - omega0|`` (the
inputs' law is rotation invariant and the loss is quadratic in the task
deviations, which have mean zero), so the number of true features ``s`` does
not enter the averages: the anisotropic leading order (A2, A3) equals
Theorems 1 and 2 at ``nu^2 = tr T`` (tested), and the finite-size theory of
the isotropic model at that ``nu`` (the *isotropic twin*,
:func:`isotropic_twin`) is the finite-size theory here; for ERM it is the
exact (E0).

Points: simulation (exact method, ``BENIGN_RUNS`` runs, ``SMALL_P_RUNS``
where ``p <= SMALL_P``; each point its own seed, so the points are
independent); lines: ``theory_finite`` (isotropic twin), ``theory_leading``
(A2 under, A3 over; A3 is not refused on this grid but is first order in
``k/p``), ``theory_proportional`` (A5, ERM above the threshold).  Points
closer than ``GAP`` to the threshold are skipped: within 3 of it the loss has
an infinite mean or variance (margin ``|p - k| - 1 <= 2``), and next to that
the per-run losses are too heavy-tailed for a mean and standard error to mean
much.  ``kind="headline"`` rows give, per
setting and algorithm, the ratio of the smallest simulated excess above the
threshold (on the grid, ``p <= max(P_GRIDS[...])``) to the smallest below it,
with a 95 % parametric-bootstrap interval (:func:`headline`).

Examples
--------
>>> from linmeta.figures import benign_overfitting as bo
>>> prob = bo.benign_problem(40, "high", "low", "maml")
>>> prob.p, float(prob.task_cov.sum()), float(prob.w0 @ prob.w0), bo.threshold("maml"), bo.threshold("erm")
(40, 0.09, 1.0, 50, 100)
>>> twin = bo.isotropic_twin(prob)
>>> twin.nu, twin.sigma
(0.3, 2.0)
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from linmeta import theory
from linmeta._tidy import MODEL_COLUMN, PROBLEM_COLUMNS, SIMULATION_COLUMNS, problem_columns
from linmeta.algorithms._registry import BASELINE, MAML
from linmeta.estimate import simulate
from linmeta.figures.base import draw_table, scaled_runs, stamp
from linmeta.problem import Problem
from linmeta.theory import ApproximationDomainWarning

__all__ = ["SIZES", "S_TRUE", "ALPHA_T", "W0_NORM", "NOISE", "SPREAD", "SETTINGS", "GAP", "P_GRIDS", "BENIGN_RUNS",
           "SMALL_P_RUNS", "SMALL_P", "BOOTSTRAP", "LEVEL", "threshold", "benign_problem", "isotropic_twin",
           "oracle_loss", "headline", "compute_benign_overfitting", "draw_benign_overfitting"]

#: sizes shared by every problem (``n_r`` is not read at ``alpha_r = 0``)
SIZES = {"m": 10, "n_t": 5, "n_v": 5, "n_r": 5}
#: true features: the task prior and ``w0`` live on the first ``S_TRUE`` features
S_TRUE = 5
#: MAML's inner step in meta-training (ERM has none); the test loss is at ``alpha_r = 0``
ALPHA_T = 0.2
#: ``|w0|``, spread evenly over the true features; ``omega0 = 0``
W0_NORM = 1.0
#: ``sigma`` and ``nu = sqrt(tr T)`` at the low and high level
NOISE = {"low": 0.3, "high": 2.0}
SPREAD = {"low": 0.3, "high": 2.0}
#: (noise, spread) of the four panels
SETTINGS = (("low", "low"), ("low", "high"), ("high", "low"), ("high", "high"))
#: points with ``|p - threshold| < GAP`` are not simulated (infinite mean or variance near the threshold)
GAP = 5
#: simulated ``p`` per algorithm: from ``S_TRUE`` to ``threshold - GAP`` and ``threshold + GAP`` to 800
P_GRIDS = {MAML: (5, 8, 12, 16, 20, 25, 30, 35, 40, 45, 55, 60, 70, 80, 100, 150, 200, 300, 500, 800),
           BASELINE: (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 105, 110, 120, 150, 200, 300, 500, 800)}
#: runs per simulated point with ``p > SMALL_P``, and with ``p <= SMALL_P``, where runs are cheap and the
#: under-parameterised minimum (most of the headline's uncertainty) lies
BENIGN_RUNS = 100
SMALL_P_RUNS = 600
SMALL_P = 50
#: parametric-bootstrap draws of the headline ratio, and the interval's level
BOOTSTRAP = 4000
LEVEL = 0.95

_SETTING_COLUMNS = ("noise", "spread", "task_var", "s", "threshold", "regime")
_EXTRA = ("oracle_loss", "excess", "theory_finite", "theory_leading", "theory_proportional")
_HEADLINE = ("under_p", "under_min", "over_p", "over_min", "ratio", "ratio_ci_low", "ratio_ci_high",
             "log_ratio_se", "limit_ratio", "ratio_finite", "ratio_leading")


def threshold(algorithm: str) -> int:
    """Return the interpolation threshold ``k``: ``n_v m`` for MAML, ``(n_t + n_v) m`` for ERM.

    >>> threshold("maml"), threshold("erm")
    (50, 100)
    """
    if algorithm not in (MAML, BASELINE):
        raise ValueError(f"algorithm must be {MAML!r} or {BASELINE!r}, got {algorithm!r}")
    n = SIZES["n_v"] + (SIZES["n_t"] if algorithm == BASELINE else 0)
    return n * SIZES["m"]


def benign_problem(p: int, noise: str, spread: str, algorithm: str) -> Problem:
    """Return the figure's problem at ``p`` features, noise and spread ``"low"``/``"high"``.

    Parameters
    ----------
    p : int
        Features of the model, at least :data:`S_TRUE`.
    noise, spread : {"low", "high"}
        ``sigma = NOISE[noise]``; ``tr T = SPREAD[spread]^2`` spread evenly over the ``S_TRUE`` true features.
    algorithm : {"maml", "erm"}
        MAML trains at ``alpha_t = ALPHA_T``; ERM has no inner step.

    Returns
    -------
    Problem

    Examples
    --------
    >>> prob = benign_problem(8, "low", "high", "erm")
    >>> prob.task_cov.round(2).tolist(), prob.alpha_t, prob.alpha_r
    ([0.8, 0.8, 0.8, 0.8, 0.8, 0.0, 0.0, 0.0], 0.0, 0.0)
    """
    if p < S_TRUE:
        raise ValueError(f"p must be at least S_TRUE={S_TRUE} (the true features), got {p}")
    nu = SPREAD[spread]
    pad = np.zeros(p - S_TRUE)
    return Problem(p=p, **SIZES, sigma=NOISE[noise], nu=None, alpha_t=ALPHA_T if algorithm == MAML else 0.0,
                   alpha_r=0.0, input_cov=1.0, task_cov=np.r_[np.full(S_TRUE, nu**2 / S_TRUE), pad],
                   w0=np.r_[np.full(S_TRUE, W0_NORM / np.sqrt(S_TRUE)), pad], omega0=np.zeros(p),
                   algorithm=algorithm)


def isotropic_twin(prob: Problem) -> Problem:
    """Return the paper's isotropic model with ``nu^2 = tr T`` and the same ``w0``: the same average loss.

    >>> twin = isotropic_twin(benign_problem(20, "low", "high", "maml"))
    >>> twin.nu, twin.task_cov is None
    (2.0, True)
    """
    nu = float(np.sqrt(np.sum(prob.task_cov)))
    return prob.replace(input_cov=None, task_cov=None, nu=round(nu, 12))


def oracle_loss(prob: Problem) -> float:
    """Return the test loss of ``omega = w0`` at ``alpha_r = 0``: ``(sigma^2 + tr T) / 2``.

    >>> oracle_loss(benign_problem(10, "high", "high", "erm"))
    4.0
    """
    return float((prob.sigma**2 + np.sum(prob.task_cov)) / 2)


def _theory(prob, approximation):
    # the figure draws every theory line beside the simulation across the whole p range: where a line leaves
    # its measured domain (ApproximationDomainWarning) the simulated points show by how much
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ApproximationDomainWarning)
        got = theory.value_or_reason("test_loss", prob, approximation=approximation)
    return np.nan if got.reason else float(got.value)


def headline(under: pd.DataFrame, over: pd.DataFrame, rng: np.random.Generator) -> dict:
    """Return the ratio of the smallest simulated excess above the threshold to the smallest below it, with CI.

    Each point's excess is resampled as ``N(excess, stderr^2)`` independently
    (every point has its own seed); the interval is the ``LEVEL`` percentile
    interval of the ratio of the resampled minima (``BOOTSTRAP`` draws from
    ``rng``), which carries the uncertainty of which point is the minimum.
    ``log_ratio_se`` is the bootstrap standard deviation of the log ratio.

    Parameters
    ----------
    under, over : DataFrame
        Simulated rows below and above the threshold: ``p``, ``excess``, ``stderr``.
    rng : numpy.random.Generator

    Returns
    -------
    dict

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> u = pd.DataFrame({"p": [5, 10], "excess": [0.2, 0.3], "stderr": [0.01, 0.01]})
    >>> o = pd.DataFrame({"p": [60, 90], "excess": [0.5, 0.1], "stderr": [0.01, 0.01]})
    >>> h = headline(u, o, np.random.default_rng(0))
    >>> h["under_p"], h["over_p"], round(h["ratio"], 6), h["ratio_ci_low"] < 0.5 < h["ratio_ci_high"]
    (5, 90, 0.5, True)
    """
    iu, io = int(np.argmin(under["excess"].to_numpy())), int(np.argmin(over["excess"].to_numpy()))
    draws = {}
    for name, part in (("under", under), ("over", over)):
        z = rng.standard_normal((BOOTSTRAP, len(part)))
        draws[name] = (part["excess"].to_numpy() + z * part["stderr"].to_numpy()).min(axis=1)
    ratios = draws["over"] / draws["under"]
    tail = (1 - LEVEL) / 2
    # the log ratio has no spread to report when a resampled minimum is not positive (tiny run counts)
    log_se = float(np.std(np.log(ratios), ddof=1)) if np.all(ratios > 0) else np.nan
    return {"under_p": int(under["p"].iloc[iu]), "under_min": float(under["excess"].iloc[iu]),
            "over_p": int(over["p"].iloc[io]), "over_min": float(over["excess"].iloc[io]),
            "ratio": float(over["excess"].iloc[io] / under["excess"].iloc[iu]),
            "ratio_ci_low": float(np.quantile(ratios, tail)), "ratio_ci_high": float(np.quantile(ratios, 1 - tail)),
            "log_ratio_se": log_se}


def _point(p, noise, spread, algorithm, n_runs, seed, progress):
    prob = benign_problem(p, noise, spread, algorithm)
    k = threshold(algorithm)
    est = simulate(prob, n_runs, seed, "exact", progress=progress)
    oracle = oracle_loss(prob)
    twin = isotropic_twin(prob)
    return {"kind": "simulation", "noise": noise, "spread": spread, "task_var": SPREAD[spread] ** 2, "s": S_TRUE,
            "threshold": k, "regime": "under" if p < k else "over", **problem_columns(prob),
            "mean": est.mean, "stderr": est.stderr, "n_runs": n_runs, "seed": seed, "method": "exact",
            "oracle_loss": oracle, "excess": est.mean - oracle,
            "theory_finite": _theory(twin, "finite") - oracle, "theory_leading": _theory(prob, "leading") - oracle,
            "theory_proportional": _theory(prob, "proportional") - oracle}


def _theory_ratio(rows, column):
    under, over = rows[rows["regime"] == "under"][column], rows[rows["regime"] == "over"][column]
    if under.isna().any() or over.isna().any():
        return np.nan
    return float(over.min() / under.min())


def compute_benign_overfitting(seed=0, runs_scale=1.0, progress=None):
    """Compute step of the ``benign_overfitting`` figure: simulated points with theory, and the headline rows.

    ``kind="simulation"``: one row per (setting, algorithm, ``p``):
    ``BENIGN_RUNS x runs_scale`` runs (``SMALL_P_RUNS x runs_scale`` where
    ``p <= SMALL_P``), exact method, at seed
    ``1000 seed + j`` for the ``j``-th point (every point independent);
    ``excess = mean - oracle_loss`` and the theory columns are excesses over
    the same oracle loss (``NaN`` where the approximation has no value).
    ``kind="headline"``: per setting and algorithm, :func:`headline` (the
    bootstrap seeded by ``seed``), ``limit_ratio`` (the ``p -> infinity``
    excess ``|w0|^2 / 2`` over the smallest simulated under-parameterised
    excess) and the same ratio of minima on the grid from ``theory_finite``
    and from ``theory_leading``.
    """
    runs = {False: scaled_runs(BENIGN_RUNS, runs_scale), True: scaled_runs(SMALL_P_RUNS, runs_scale)}
    rows, j = [], 0
    for noise, spread in SETTINGS:
        for algorithm in (MAML, BASELINE):
            for p in P_GRIDS[algorithm]:
                rows.append(_point(p, noise, spread, algorithm, runs[p <= SMALL_P], 1000 * seed + j, progress))
                j += 1
    sim = pd.DataFrame(rows)
    rng = np.random.default_rng(seed)
    heads = []
    for noise, spread in SETTINGS:
        for algorithm in (MAML, BASELINE):
            mine = sim[(sim["noise"] == noise) & (sim["spread"] == spread) & (sim["algorithm"] == algorithm)]
            head = headline(mine[mine["regime"] == "under"], mine[mine["regime"] == "over"], rng)
            head.update(limit_ratio=W0_NORM**2 / 2 / head["under_min"],
                        ratio_finite=_theory_ratio(mine, "theory_finite"),
                        ratio_leading=_theory_ratio(mine, "theory_leading"))
            heads.append({"kind": "headline", "algorithm": algorithm, "noise": noise, "spread": spread,
                          "task_var": SPREAD[spread] ** 2, "s": S_TRUE, "threshold": threshold(algorithm),
                          "sigma": NOISE[noise], "seed": seed, **head})
    columns = ["kind", *_SETTING_COLUMNS, *PROBLEM_COLUMNS, MODEL_COLUMN, *SIMULATION_COLUMNS, *_EXTRA,
               *_HEADLINE]
    table = stamp(pd.concat([sim, pd.DataFrame(heads)], ignore_index=True).reindex(columns=columns),
                  "benign_overfitting")
    table.attrs["notes"] = []
    return table


_STYLE = {MAML: ("C0", "o", f"MAML ($\\alpha_t = {ALPHA_T:g}$)"), BASELINE: ("C3", "s", "ERM")}


def draw_benign_overfitting(fig, table):
    """Draw step of the ``benign_overfitting`` figure: the excess test loss against ``p``, one panel per setting.

    Any other table in linmeta's layout (a curve or a sweep) is drawn as simulation and theory against its
    varied parameter (:func:`linmeta.figures.base.draw_table`).
    """
    axes = fig.subplots(2, 2, sharex=True).ravel()
    if "regime" not in table.columns:
        for ax in axes[1:]:
            ax.set_axis_off()
        return {"table": draw_table(axes[0], table)}
    sim, heads = table[table["kind"] == "simulation"], table[table["kind"] == "headline"]
    out = {}
    for ax, (noise, spread) in zip(axes, SETTINGS, strict=True):
        title = [f"$\\sigma = {NOISE[noise]:g}$, $\\nu = {SPREAD[spread]:g}$"]
        for algorithm, (color, marker, label) in _STYLE.items():
            mine = sim[(sim["noise"] == noise) & (sim["spread"] == spread) & (sim["algorithm"] == algorithm)]
            for regime in ("under", "over"):
                part = mine[mine["regime"] == regime]
                ax.errorbar(part["p"], part["excess"], yerr=2 * part["stderr"], fmt=marker, ms=3, capsize=2,
                            color=color, label=label if regime == "under" else None)
                ax.plot(part["p"], part["theory_finite"], "-", color=color, lw=1.0)
                ax.plot(part["p"], part["theory_leading"], "--", color=color, lw=0.8)
                prop = part[part["theory_proportional"].notna()]
                ax.plot(prop["p"], prop["theory_proportional"], ":", color=color, lw=1.2)
            ax.axvline(threshold(algorithm), color=color, lw=0.6, ls=":")
            h = heads[(heads["noise"] == noise) & (heads["spread"] == spread) & (heads["algorithm"] == algorithm)]
            h = h.iloc[0]
            # over-parameterised points below this line beat the best under-parameterised one
            ax.axhline(h["under_min"], color=color, lw=0.6, ls="-.")
            title.append(f"{algorithm.upper()} {h['ratio']:.2f} [{h['ratio_ci_low']:.2f}, {h['ratio_ci_high']:.2f}]")
        ax.axhline(W0_NORM**2 / 2, color="k", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title("; ".join(title), fontsize="x-small")
        out[(noise, spread)] = ax
    for ax in axes[2:]:
        ax.set_xlabel("p (features of the model)")
    for ax in axes[::2]:
        ax.set_ylabel(r"excess test loss $E|\omega^* - w_0|^2 / 2$")
    axes[0].legend(fontsize="x-small", loc="upper left")
    fig.suptitle("points: simulation (±2 SE); solid: finite-size theory (isotropic twin, exact for ERM); "
                 "dashed: leading order (A2/A3); dotted: A5;\nblack: $p \\to \\infty$ limit; dash-dotted: best "
                 "under-parameterised point. Titles: over/under-parameterised minimum ratio [95 % CI]",
                 fontsize="x-small")
    return out
