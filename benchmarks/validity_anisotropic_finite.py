"""Accuracy of ``approximation="finite"`` for diagonal covariances (docs: theory, A6-A8), out of sample.

Run ``python benchmarks/validity_anisotropic_finite.py``.  Two parts:

* DESIGN: the 240 parameter sets of ``benchmarks/validity_anisotropic.py`` (regenerated from its seeds;
  their simulated losses are read from ``figures/validity_anisotropic.csv``, not re-run).  The closure
  (A8) was conceived after all of them had been seen and the inequalities of
  ``linmeta/theory/_closure_domain.py`` were read from them; the exact results (A7) are checked on the
  same sets (they have nothing to tune).
* HOLDOUT: ``SeedSequence(7404)``, drawn only after those inequalities were fixed: parameter sets from
  the same distribution, kept when they are one-step MAML with ``alpha_t != 0`` inside the closure's
  domain (``--holdout`` per regime), each simulated with ``lm.simulate(method="exact")`` (a 200-run pilot,
  then the runs for a relative standard error of 0.15 %, at least 600 and at most 40 000, cut to
  ``--work / (p k max(p, k))`` runs), so the measured errors are out of sample.

Writes ``figures/validity_anisotropic_finite.csv``, ``figures/validity_anisotropic_finite.png`` and the
table the package quotes outside the domain, ``linmeta/theory/_closure_domain_table.py``.
"""
import argparse
import math
import pathlib
import sys
import time
import warnings

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import linmeta as lm  # noqa: E402
from linmeta.algorithms._registry import INNER_MAPS  # noqa: E402
from linmeta.theory import _closure_domain as dom  # noqa: E402
from linmeta.theory._warnings import ApproximationDomainWarning  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import validity_anisotropic as va  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
HOLDOUT_SEED = 7404
TARGET_SE = 1.5e-3


def finite(prob, approximation="finite"):
    """Return the test loss at ``approximation``, or why it is not given (the domain warning is not asked here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ApproximationDomainWarning)
            return float(lm.theory.test_loss(prob, approximation=approximation)), ""
    except NotImplementedError as e:
        return math.nan, str(e).split(";")[0][:80]


def kind(prob):
    """A7 (no inner step, ``p < k``), A5 (no inner step, ``p > k``) or A8 (the closure)."""
    inner = not INNER_MAPS[prob.algorithm].pooled and prob.alpha_t != 0
    return "A8" if inner else ("A7" if prob.p < prob.k else "A5")


def _row(x, prob, role, sim, se_rel, n_runs):
    f = dom.features(prob)
    value, why = finite(prob)
    row = {key: v for key, v in x.items() if not key.startswith("_")}
    row.update(role=role, regime=f["regime"], kind=kind(prob), k=prob.k, p_over_k=f["p_over_k"], rho=f["rho"],
               g=f["g"], scaled_alpha_t=f["alpha_t"], n_runs=n_runs, sim=sim, se_rel=se_rel,
               err=value / sim - 1, z=(value / sim - 1) / se_rel, why=why,
               err_leading=finite(prob, "leading")[0] / sim - 1,
               inside=bool(kind(prob) == "A8" and not why and dom.in_domain(prob)))
    return row


def design():
    df = pd.read_csv(ROOT / "figures/validity_anisotropic.csv")
    rows = []
    for role in va.SEEDS:
        rng = np.random.default_rng(np.random.SeedSequence(va.SEEDS[role]).spawn(2)[0])
        measured = df[df.role == role].reset_index(drop=True)
        for i, r in measured.iterrows():
            x = va.draw(rng, ("under", "over")[i % 2])
            if (x["p"], x["m"], x["n_t"], x["n_v"]) != (r.p, r.m, r.n_t, r.n_v):
                raise RuntimeError(f"set {i} of {role} does not regenerate; rerun benchmarks/validity_anisotropic.py")
            rows.append(_row(x, va.problem(x), "design", r.sim, r.se_rel, r.n_runs))
    return rows


def holdout(n_per_regime, work):
    ss = np.random.SeedSequence(HOLDOUT_SEED)
    draw_ss, sim_ss = ss.spawn(2)
    rng = np.random.default_rng(draw_ss)
    sim_seeds = iter(sim_ss.generate_state(8 * n_per_regime))
    rows, count, drawn = [], {"under": 0, "over": 0}, 0
    while min(count.values()) < n_per_regime:
        x = va.draw(rng, ("under", "over")[drawn % 2])
        drawn += 1
        prob = va.problem(x)
        regime = "under" if prob.p < prob.k else "over"
        if kind(prob) != "A8" or count[regime] >= n_per_regime or not dom.in_domain(prob) or finite(prob)[1]:
            continue
        count[regime] += 1
        t0 = time.perf_counter()
        pilot = lm.simulate(prob, n_runs=200, seed=int(next(sim_seeds)))
        want = min(40_000, max(600, math.ceil((pilot.stderr / pilot.mean / TARGET_SE) ** 2 * 200)))
        n_runs = int(max(300, min(want, work / (prob.p * prob.k * max(prob.p, prob.k)))))
        est = lm.simulate(prob, n_runs=n_runs, seed=int(next(sim_seeds)))
        row = _row(x, prob, "holdout", est.mean, est.stderr / est.mean, n_runs)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(f"hold {regime:5s} p={prob.p:3d} k={prob.k:4d} g={row['g']:.2f} rho={row['rho']:.3f} runs {n_runs:5d} "
              f"SE {100 * row['se_rel']:.2f}% err {100 * row['err']:+.2f}% ({row['seconds']:.1f} s)", flush=True)
    print(f"holdout: {drawn} drawn for {sum(count.values())} sets inside the domain")
    return rows


def summary(df):
    for (role, k), g in df.groupby(["role", "kind"], sort=False):
        e = g.dropna(subset=["err"])
        if e.empty:
            continue
        print(f"{role:8s} {k}: {len(e):3d} sets, max |err| {100 * e.err.abs().max():5.2f} %, |z| > 2 on "
              f"{int((e.z.abs() > 2).sum())}, refused {int(g.err.isna().sum())}")
        for regime, h in e[e.inside].groupby("regime"):
            miss = (h.err.abs() > 3e-3) & (h.z.abs() > 2)
            print(f"    inside, {regime}: {len(h)} sets, max |err| {100 * h.err.abs().max():.2f} %, within 0.3 %: "
                  f"{int((h.err.abs() <= 3e-3).sum())}, off by > 0.3 % and > 2 SE: {int(miss.sum())}; leading order "
                  f"on the same sets: max |err| {100 * h.err_leading.abs().max():.2f} %, median "
                  f"{100 * h.err_leading.abs().median():.2f} % (closure {100 * h.err.abs().median():.2f} %)")


def write_table(df):
    """Write the measured errors of the closure the package quotes outside its domain (generated)."""
    cols = ("regime", "role", "p", "k", "p_over_k", "rho", "g", "alpha_t", "err", "se_rel")
    out = [(r.regime, r.role, int(r.p), int(r.k), round(float(r.p_over_k), 6), round(float(r.rho), 6),
            round(float(r.g), 6), round(float(r.scaled_alpha_t), 6), round(float(r.err), 6), round(float(r.se_rel), 6))
           for _, r in df[(df.kind == "A8")].dropna(subset=["err"]).iterrows()]
    lines = ['"""Relative errors of the closure (A8) measured by benchmarks/validity_anisotropic_finite.py.',
             "", "Generated by that script; do not edit.  ``err = theory / simulation - 1``.", '"""',
             f"COLUMNS = {cols!r}", "ROWS = ("]
    lines += [f"    {row!r}," for row in out]
    lines.append(")")
    (ROOT / "linmeta/theory/_closure_domain_table.py").write_text("\n".join(lines) + "\n")


def plot(df):
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    a7 = df[df.kind == "A7"]
    axes[0].scatter(a7.p_over_k, a7.z, marker="o", facecolors="none", edgecolors="C0", label="A7 (exact)")
    axes[0].axhline(0, color="0.6", lw=0.8)
    for y in (-2, 2):
        axes[0].axhline(y, color="C2", ls="--", lw=0.8)
    axes[0].set_xlabel("p / k")
    axes[0].set_ylabel("(theory - simulation) / SE")
    axes[0].set_title("no inner step, p < k (A7, exact)", fontsize=9)
    for ax, regime, x, limit, title in ((axes[1], "under", "g", dom.G_MAX, "inner step, p < k (A8)"),
                                        (axes[2], "over", "rho", dom.RHO_MAX, "inner step, p > k (A8)")):
        for role, mk in (("design", "o"), ("holdout", "s")):
            g = df[(df.kind == "A8") & (df.regime == regime) & (df.role == role)].dropna(subset=["err"])
            off = g.z.abs() > 2
            ax.scatter(g[x][~off], 100 * g.err[~off], marker=mk, facecolors="none", edgecolors="C0",
                       label=f"{role}, within 2 SE")
            ax.scatter(g[x][off], 100 * g.err[off], marker=mk, c="C3", label=f"{role}, > 2 SE")
        ax.axvline(limit, color="C2", ls="--", lw=0.8)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_xlabel(x)
        ax.set_title(title, fontsize=9)
    axes[1].set_ylabel("theory / simulation - 1 (%)")
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(ROOT / "figures/validity_anisotropic_finite.png", dpi=150)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--holdout", type=int, default=20, help="holdout sets per regime")
    ap.add_argument("--work", type=float, default=6e9, help="cap on runs x p k max(p, k) per set")
    ap.add_argument("--plot-only", action="store_true", help="redraw the figure and table from the csv")
    args = ap.parse_args(argv)
    csv = ROOT / "figures/validity_anisotropic_finite.csv"
    if args.plot_only:
        df = pd.read_csv(csv)
    else:
        t0 = time.perf_counter()
        df = pd.DataFrame(design() + holdout(args.holdout, args.work))
        df.to_csv(csv, index=False)
        print(f"total {time.perf_counter() - t0:.0f} s")
    summary(df)
    write_table(df)
    plot(df)


if __name__ == "__main__":
    main()
