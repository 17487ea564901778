"""Drawing only: every ``plot_*`` draws a computed table onto a given Axes and returns the artists.

Nothing here computes or simulates.  Every function accepts any table in
linmeta's one layout (:func:`linmeta.simulate_curve`): one row per problem,
its fields as columns, ``mean, stderr, n_runs, seed, method`` and theory
columns named by approximation (``theory_leading``, ``theory_printed``,
``theory_finite``).  That is

* the CSVs written by :mod:`linmeta.figures`, whose ``kind`` column names the
  series of each row (``"protocol"``, ``"exact"``, ``"theory_leading"``,
  ``"theory_printed"``, ``"theory_finite"``, ``"optimum_theory"``,
  ``"optimum_simulation"``);
* a table of :func:`linmeta.simulate_curve`, the ``curve`` of
  :func:`linmeta.simulate_optimum` or a one-parameter :func:`linmeta.sweep`
  (no ``kind`` column: the whole table is the simulation, and a theory
  column is that theory's curve).

The x values are the column named by ``x=``, by default the one problem
column whose values vary.

Examples
--------
>>> import pandas as pd
>>> from matplotlib.figure import Figure
>>> from linmeta import plotting
>>> table = pd.DataFrame({"kind": ["protocol"] * 2, "alpha_t": [0.0, 1.0], "mean": [1.0, 2.0],
...                       "stderr": [0.1, 0.1], "n_runs": [100, 100]})
>>> ax = Figure().subplots()
>>> artists = plotting.plot_simulation(ax, table)
>>> len(artists.lines[0].get_xdata())
2
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from linmeta._tidy import THEORY_COLUMNS, varied_column

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    from linmeta._check import CheckResult

__all__ = ["plot_check", "SYMBOLS", "plot_simulation", "plot_crn_curve", "plot_theory", "plot_optima",
           "plot_loss_panel", "plot_finite_size", "deviation"]

SYMBOLS = {
    "alpha_t": r"training rate $\alpha_t$",
    "alpha_r": r"adaptation rate $\alpha_r$",
    "m": r"number of training tasks $m$",
    "scale": r"size scale $s$  ($p, n_t, n_v, n_r \propto s$)",
}
_LOSS = r"average test loss $\mathcal{L}^{\mathrm{test}}$"
_THEOREM = {"overparameterized": "Theorem 1", "underparameterized": "Theorem 2"}
_COLORS = {"theory_leading": "C0", "theory_printed": "C1", "theory_finite": "C3", "exact": "C2", "protocol": "k"}


_SIMULATION_KINDS = ("protocol", "exact")
_THEORY_KINDS = tuple(THEORY_COLUMNS.values())


def _numbers(table):
    """``table`` with empty text in its number columns read as missing (an all-empty CSV column reads as text)."""
    cols = [c for c in ("mean", "stderr", *_THEORY_KINDS)
            if c in table.columns and not pd.api.types.is_numeric_dtype(table[c])]
    if not cols:
        return table
    return table.assign(**{c: [np.nan if v == "" or v is None else float(v) for v in table[c]] for c in cols})


def _rows(table, kind, x=None):
    """Return the rows of series ``kind``, with their x values in ``_x`` and y values in ``_y``, sorted by x.

    The y values are ``mean``, or for a theory series its theory column.
    """
    if x is None:
        x = varied_column(table)
    elif x not in table.columns:
        raise ValueError(f"x must name a column of the table; got x={x!r}, columns {list(table.columns)}")
    table = _numbers(table)
    y = kind if kind in _THEORY_KINDS or kind == "optimum_theory" else "mean"
    y = "theory_leading" if kind == "optimum_theory" else y
    if "kind" in table.columns:
        table = table[table["kind"] == kind]
    elif kind in _THEORY_KINDS and kind in table.columns:
        table = table[table[kind].notna()].assign(stderr=np.nan)
    elif kind not in _SIMULATION_KINDS:
        table = table.iloc[:0]
    if y not in table.columns:
        table = table.iloc[:0].assign(**{y: np.nan})
    return table.assign(_x=table[x], _y=table[y]).sort_values("_x")


def _runs(rows):
    n = rows["n_runs"].dropna()
    return f"{int(n.iloc[0]):,}" if len(n) else "?"


def plot_simulation(ax: Axes, table: pd.DataFrame, *, kind: str = "protocol", label: str | None = None,
                    x: str | None = None, **kwargs: object) -> ErrorbarContainer:
    """Plot simulation points with 2-SE error bars; returns the ``ErrorbarContainer``.

    ``x``: column of the x values (default: the problem column that varies).
    """
    rows = _rows(table, kind, x)
    if label is None:
        label = f"simulation, paper protocol ({_runs(rows)} runs, ±2 SE)"
    style = dict(fmt="o", color=_COLORS.get(kind, "k"), ms=3.2, elinewidth=0.9, zorder=3, label=label)
    style.update(kwargs)
    return ax.errorbar(rows["_x"], rows["_y"], yerr=2 * rows["stderr"], **style)


def plot_crn_curve(ax: Axes, table: pd.DataFrame, *, kind: str = "exact", label: str | None = None,
                   x: str | None = None, **kwargs: object) -> tuple:
    """Plot the high-precision common-random-numbers curve with a ±2 SE band; returns ``(line, band)``."""
    rows = _rows(table, kind, x)
    if label is None:
        label = f"simulation, exact test side T0 ({_runs(rows)} runs, ±2 SE band)"
    color = kwargs.pop("color", _COLORS["exact"])
    x, y, se = rows["_x"].to_numpy(), rows["_y"].to_numpy(), rows["stderr"].to_numpy()
    band = ax.fill_between(x, y - 2 * se, y + 2 * se, color=color, alpha=0.25, lw=0, zorder=1)
    (line,) = ax.plot(x, y, color=color, lw=1.0, marker=".", ms=2.5, label=label, zorder=2, **kwargs)
    return line, band


def plot_theory(ax: Axes, table: pd.DataFrame, *, kind: str = "theory_leading", label: str | None = None,
                x: str | None = None, **kwargs: object) -> Line2D | None:
    """Plot a theory curve (``kind="theory_printed"`` is drawn dashed); returns the ``Line2D`` or ``None``."""
    rows = _rows(table, kind, x)
    if rows.empty:
        return None
    style = dict(color=_COLORS.get(kind, "C0"), lw=1.4, zorder=2.5,
                 ls={"theory_printed": "--", "theory_finite": ":"}.get(kind, "-"))
    style.update(kwargs)
    (line,) = ax.plot(rows["_x"], rows["_y"], label=label or kind, **style)
    return line


def plot_optima(ax: Axes, table: pd.DataFrame, *, symbol: str = "\\alpha", x: str | None = None) -> list:
    """Mark the optimal rate: theory as a vertical line, simulation as a triangle with its 95 % interval.

    In the ``optimum_simulation`` row ``stderr`` is the standard error of the
    location (:func:`linmeta.simulate_optimum`).  Returns the artists.
    """
    artists = []
    th = _rows(table, "optimum_theory", x)
    if not th.empty:
        v = float(th["_x"].iloc[0])
        artists.append(ax.axvline(v, color=_COLORS["theory_leading"], ls=":", lw=1.0, zorder=1,
                                  label=rf"optimum, theory ${symbol}^*={v:.3f}$"))
    sim = _rows(table, "optimum_simulation", x)
    if not sim.empty:
        v, y = float(sim["_x"].iloc[0]), float(sim["_y"].iloc[0])
        se = float(sim["stderr"].iloc[0]) if "stderr" in sim.columns else float("nan")
        if np.isfinite(se):
            half = 1.959963984540054 * se
            artists.append(ax.errorbar([v], [y], xerr=[half], fmt="v", color=_COLORS["exact"], ms=7, mec="k",
                                       mew=0.6, ecolor="k", elinewidth=1.0, capsize=2.5, zorder=4,
                                       label=rf"optimum, simulation ${symbol}^*={v:.3f}\pm{half:.3f}$ (95 % CI)"))
        else:
            artists.append(ax.plot([v], [y], marker="v", color=_COLORS["exact"], ms=7, mec="k", mew=0.6, ls="none",
                                   zorder=4, label=rf"optimum, simulation ${symbol}^*={v:.3f}$")[0])
    return artists


def plot_loss_panel(ax: Axes, table: pd.DataFrame, *, parameter: str, regime: str, title: str | None = None) -> dict:
    """Plot a full paper panel: protocol points, CRN curve, theory (and printed form), optima.

    Returns a dict of the artists by kind.
    """
    thm = _THEOREM.get(regime, "theory")
    x = parameter
    out = {
        "protocol": plot_simulation(ax, table, x=x),
        "exact": plot_crn_curve(ax, table, x=x),
        "theory_leading": plot_theory(ax, table, label=f"theory, {thm} (derived)", x=x),
        "theory_printed": plot_theory(ax, table, kind="theory_printed", label=f"{thm} as printed in the talk", x=x),
        "theory_finite": plot_theory(ax, table, kind="theory_finite", label="theory, finite-size", x=x),
    }
    sym = r"\alpha_t" if parameter == "alpha_t" else r"\alpha_r"
    out["optima"] = plot_optima(ax, table, symbol=sym, x=x)
    # y range from the simulations and the derived theory; a curve far off (the printed form) leaves the axes
    keep = [_rows(table, k, x) for k in ("protocol", "exact", "theory_leading")]
    ends = pd.concat([r["_y"] - 2 * r["stderr"].fillna(0) for r in keep if not r.empty]), \
        pd.concat([r["_y"] + 2 * r["stderr"].fillna(0) for r in keep if not r.empty])
    lo, hi = float(ends[0].min()), float(ends[1].max())
    pad = 0.06 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)
    printed = _rows(table, "theory_printed", x)
    if out["theory_printed"] is not None and float(printed["_y"].max()) > hi + pad:
        out["theory_printed"].set_label(f"{out['theory_printed'].get_label()} (off scale, up to "
                                        f"{float(printed['_y'].max()):.3g})")
    ax.set_xlabel(SYMBOLS.get(parameter, parameter))
    ax.set_ylabel(_LOSS)
    if parameter == "alpha_t":
        ax.axvline(0.0, color="0.6", lw=0.6, zorder=0)
    if title:
        ax.set_title(title, loc="left", fontsize=7.5)
    order = [out["protocol"], out["exact"][0], out["theory_leading"], out["theory_printed"], out["theory_finite"],
             *out["optima"]]
    handles = [h for h in order if h is not None]
    ax.legend(handles=handles, labels=[h.get_label() for h in handles], loc="upper center",
              bbox_to_anchor=(0.5, -0.2), ncols=1)
    return out


def deviation(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return the rows of ``table`` with a ``column`` theory value and its relative deviation from simulation.

    The columns added are ``deviation = (theory - mean) / mean`` and
    ``deviation_stderr = theory * stderr / mean^2``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"mean": [2.0, 4.0], "stderr": [0.1, 0.2], "theory_leading": [2.2, float("nan")]})
    >>> deviation(t, "theory_leading")[["deviation", "deviation_stderr"]].round(4).values.tolist()
    [[0.1, 0.055]]
    """
    table = _numbers(table)
    rows = table[table[column].notna()] if column in table.columns else table.iloc[:0].assign(**{column: np.nan})
    th, mean = rows[column], rows["mean"]
    return rows.assign(deviation=(th - mean) / mean, deviation_stderr=th * rows["stderr"] / mean**2)


def plot_finite_size(ax: Axes, table: pd.DataFrame, *, x: str, title: str | None = None, xscale: str = "log",
                     target: float | None = None) -> dict:
    """Relative deviation of theory from simulation, ``(theory - sim) / sim``, with 2-SE bars.

    ``table`` has ``mean``, ``stderr`` (the simulation) and theory columns
    (``theory_leading``, optionally ``theory_printed``, ``theory_finite``),
    one row per value of the column ``x`` (:func:`deviation`).
    ``xscale="log"`` marks each size on the axis; ``"linear"`` suits a rate.
    ``target``: shade ``|deviation| <= target``.  Returns a dict of the artists by theory column.
    """
    out = {}
    table = _numbers(table)
    labels = {"theory_leading": "theory (derived, leading order)", "theory_printed": "Theorem 2 as printed",
              "theory_finite": "theory, finite-size"}
    markers = {"theory_leading": "o", "theory_printed": "s", "theory_finite": "D"}
    colors = {"theory_leading": "C0", "theory_printed": "C1", "theory_finite": "C3"}
    kinds = [k for k in labels if k in table.columns and table[k].notna().any()]
    log = xscale == "log"
    shift = {k: 1.0 + 0.04 * (i - (len(kinds) - 1) / 2) for i, k in enumerate(kinds)}  # dodge overlapping bars
    for k in kinds:
        rows = deviation(table, k).sort_values(x)
        xs = rows[x] * shift[k] if log else rows[x]
        out[k] = ax.errorbar(xs, rows["deviation"], yerr=2 * rows["deviation_stderr"], fmt=markers[k] + "-",
                             color=colors[k], ms=3.5, lw=0.9, label=f"{labels[k]}, ±2 SE")
    out["zero"] = ax.axhline(0.0, color="0.4", lw=0.8, zorder=0)
    if target is not None:
        out["target"] = ax.axhspan(-target, target, color="0.85", zorder=0, lw=0,
                                   label=f"target $\\pm${100 * target:g} %")
    ax.set_xscale(xscale)
    if log:
        values = np.unique(table[x].dropna())
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
    ax.set_xlabel(SYMBOLS.get(x, x))
    ax.set_ylabel(r"(theory $-$ simulation) / simulation")
    if title:
        ax.set_title(title, loc="left")
    if kinds:
        ax.legend(loc="best")
    else:
        out["pending"] = ax.text(0.5, 0.5, "no theory rows in this table", transform=ax.transAxes, ha="center")
    return out


def plot_check(ax: Axes, res: CheckResult) -> dict:
    """Plot the formula and simulation of a :func:`linmeta.check` result; rejected cells marked with a red cross.

    In tolerance mode (``rtol > 0``) the crosses mark the cells shown to differ by more than ``rtol``.

    The x axis is the first grid field; each combination of the other grid fields
    is one series.  Error bars are ±2 standard errors.  Returns a dict of artists.

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> from matplotlib.figure import Figure
    >>> from linmeta import plotting
    >>> table = pd.DataFrame({"m": [1, 2], "formula": [1.0, 2.0], "mean": [1.0, 2.5], "stderr": [0.1, 0.1],
    ...                       "passed": [True, False]})
    >>> table.attrs["formula"] = "sigma^2*m"
    >>> res = SimpleNamespace(table=table, formula="sigma^2*m", passed=False, mode="z-test", rtol=0.0)
    >>> artists = plotting.plot_check(Figure().subplots(), res)
    >>> sorted(artists)
    ['formula', 'rejected', 'simulation']
    """
    table = res.table
    fields = [c for c in table.columns if c not in ("formula", "mean", "stderr", "z", "rel_dev", "p_value",
                                                     "p_equiv", "outcome", "passed", "mode")]
    x, rest = fields[0], fields[1:]
    groups = table.groupby(rest, sort=False) if rest else [((), table)]
    out = {"formula": [], "simulation": [], "rejected": []}
    for i, (key, rows) in enumerate(groups):
        rows = rows.sort_values(x)
        key = key if isinstance(key, tuple) else (key,)
        suffix = ", ".join(f"{n}={v:g}" for n, v in zip(rest, key, strict=True))
        suffix = f" ({suffix})" if suffix else ""
        color = f"C{i % 10}"
        out["formula"] += ax.plot(rows[x], rows["formula"], "s-", ms=3, color=color, lw=1.2, label=f"formula{suffix}")
        out["simulation"].append(ax.errorbar(rows[x], rows["mean"], yerr=2 * rows["stderr"], fmt="o", ms=3.5,
                                             color=color, elinewidth=0.9, label=f"simulation ±2 SE{suffix}"))
        bad = rows[rows["outcome"] == "differs"] if "outcome" in rows else rows[~rows["passed"].astype(bool)]
        if len(bad):
            out["rejected"].append(ax.plot(bad[x], bad["mean"], "x", color="red", ms=9, mew=2,
                                           label="rejected" if not out["rejected"] else None)[0])
    verdict = getattr(res, "verdict", "") or ("passed" if res.passed else "rejected")
    mode = "z-test" if res.mode == "z-test" else f"|rel. dev.| <= {res.rtol:g}"
    label = res.formula if len(res.formula) <= 70 else res.formula[:67] + "..."
    ax.set_title(f"{label}\n{verdict} ({mode})", loc="left", fontsize="small")
    ax.set_xlabel(SYMBOLS.get(x, x))
    ax.set_ylabel(_LOSS)
    ax.legend(loc="best", fontsize="small")
    return out
