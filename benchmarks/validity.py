"""Validity map of the leading-order and finite-size theory of the test loss over the stated domain.

Run ``python benchmarks/validity.py [--sets 40] [--work 3e9]``.  Draws ``--sets`` parameter sets
(seeded, ``SeedSequence(2026)``) from the domain

* ``alpha_t`` in [-2, 1], ``alpha_r`` in [0, 1], ``sigma, nu`` in [0.1, 1], ``|omega0 - w0|`` in [0, 2];
* under-parameterised: ``m`` in [5, 40], ``n_v m / p`` in [1.5, 20] (and ``n_v m >= p + 4``, ``p >= 5``);
* over-parameterised: ``m`` in [2, 10], ``n_v m / p`` in [0.05, 0.75];
* ``n_t`` in [2, 40], ``n_v`` in [2, 25] (under) / [2, 10] (over), ``n_r`` in [5, 40];

(integers log-uniform) plus 8 corners (the over-parameterised corners have ``p = k + 2``: the
loss has a finite mean but infinite variance there, so they are drawn as crosses and left out
of the summary), simulates each with ``lm.simulate(method="exact")`` and
writes ``figures/validity.csv`` (test loss and ``E|omega* - w0|^2``) and ``figures/validity.png``.
Run counts: a 200-run pilot estimates the relative SE; the set gets the runs for a relative SE of
0.1 % (at least 1000, at most 20 000), cut to ``--work / (p k max(p, k))`` runs for the largest sets
(at least 400); the run counts depend only on the seed, and the CSV records the runs and the SE of each set.

``--seed N`` (N != 2026) draws another set of parameter sets from the same domain into
``figures/validity_seed<N>.csv`` (no corners, no figure; ``--regime under`` draws one regime only,
``--target-se`` sets the relative SE aimed at): ``--seed 2027 --regime under --sets 40 --target-se 1.5e-3``
gave the second set of design draws of the validated domain (``linmeta/theory/_domain.py``).
``--emit-table`` writes ``linmeta/theory/_validity_map.py``, the measured sets the package quotes in its
``ApproximationDomainWarning``, from the CSVs of the map, of the design draws, of the ``finite_size`` figure
and of ``benchmarks/validity_holdout.py``.
"""
import argparse
import math
import pathlib
import time

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import linmeta as lm  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET_SE = 1e-3


def _logint(rng, lo, hi):
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def draw(rng, regime):
    """One parameter set from the domain (see the module docstring)."""
    while True:
        if regime == "under":
            m, n_v, ratio = _logint(rng, 5, 40), _logint(rng, 2, 25), math.exp(rng.uniform(math.log(1.5), math.log(20)))
            p = max(int(n_v * m / ratio), 2)
            ok = n_v * m >= p + 4 and n_v * m / p >= 1.5 and p >= 5
        else:
            m, n_v = _logint(rng, 2, 10), _logint(rng, 2, 10)
            ratio = math.exp(rng.uniform(math.log(0.05), math.log(0.75)))
            p = math.ceil(n_v * m / ratio)
            ok = p >= n_v * m + 2 and n_v * m / p <= 0.75 and p <= 400
        if ok:
            break
    d0 = rng.uniform(0, 2)
    return dict(p=p, m=m, n_t=_logint(rng, 2, 40), n_v=n_v, n_r=_logint(rng, 5, 40),
                sigma=rng.uniform(0.1, 1), nu=rng.uniform(0.1, 1), alpha_t=rng.uniform(-2, 1),
                alpha_r=rng.uniform(0, 1), d0=d0)


def corners():
    out = []
    for alpha_t in (-2.0, 1.0):
        for n_t in (2, 40):
            out.append(dict(p=6, m=5, n_t=n_t, n_v=2, n_r=10, sigma=0.5, nu=0.5, alpha_t=alpha_t, alpha_r=1.0, d0=0.0))
            out.append(dict(p=6, m=2, n_t=n_t, n_v=2, n_r=10, sigma=0.5, nu=0.5, alpha_t=alpha_t, alpha_r=1.0, d0=2.0))
    return out


def problem(s):
    omega0 = np.r_[s["d0"], np.zeros(s["p"] - 1)]
    keys = ("p", "m", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r")
    return lm.Problem(**{k: s[k] for k in keys}, omega0=omega0)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=40)
    ap.add_argument("--seed", type=int, default=2026,
                    help="SeedSequence entropy of the draws; anything but 2026 writes figures/validity_seed<N>.csv, "
                         "no corners and no figure")
    ap.add_argument("--regime", choices=("both", "under", "over"), default="both",
                    help="draw from both regimes alternately (the default) or from one")
    ap.add_argument("--target-se", type=float, default=TARGET_SE, help="relative standard error aimed at per set")
    ap.add_argument("--work", type=float, default=3e9,
                    help="cap on runs x p k max(p, k) per set (keeps the total time bounded; deterministic)")
    ap.add_argument("--plot-only", action="store_true", help="redraw figures/validity.png from the csv")
    ap.add_argument("--emit-table", action="store_true",
                    help=f"write {TABLE.relative_to(ROOT)} (the measured sets the package quotes) from the csvs")
    ap.add_argument("--recheck", type=int, nargs="+", metavar="ROW",
                    help="re-measure these rows of the csv of --seed (or of --csv) with 20 000 runs and seed 777")
    ap.add_argument("--csv", help="with --recheck: a csv in the map's layout (figures/validity_holdout_seed2029.csv)")
    args = ap.parse_args(argv)
    if args.recheck:
        csv = args.csv or ("figures/validity.csv" if args.seed == 2026 else f"figures/validity_seed{args.seed}.csv")
        recheck(ROOT / csv, args.recheck)
        return
    if args.emit_table:
        emit_table()
        return
    if args.plot_only:
        df = pd.read_csv(ROOT / "figures/validity.csv")
        if "err_distance_finite" not in df:
            df = add_distance(df)
            df.to_csv(ROOT / "figures/validity.csv", index=False)
        summary(df)
        plot(df)
        return
    ss = np.random.SeedSequence(args.seed)
    rng = np.random.default_rng(ss.spawn(1)[0])
    regimes = {"both": ("under", "over"), "under": ("under",), "over": ("over",)}[args.regime]
    sets = [dict(draw(rng, regimes[i % len(regimes)]), kind="random") for i in range(args.sets)]
    main_map = args.seed == 2026
    out = ROOT / ("figures/validity.csv" if main_map else f"figures/validity_seed{args.seed}.csv")
    if main_map:
        sets += [dict(c, kind="corner") for c in corners()]
    rows = []
    t_all = time.perf_counter()
    for i, s in enumerate(sets):
        prob = problem(s)
        pilot = lm.simulate(prob, n_runs=200, seed=10_000 + i)
        want = min(20_000, max(1000, math.ceil((pilot.stderr / pilot.mean / args.target_se) ** 2 * 200)))
        cost = prob.p * prob.k * max(prob.p, prob.k)          # work per run (least squares), seed-independent
        n_runs = int(max(400, min(want, args.work / cost)))
        est = lm.simulate(prob, n_runs=n_runs, seed=i)
        lead = float(lm.theory.test_loss(prob))
        fin = float(lm.theory.test_loss(prob, approximation="finite"))
        # second moment of the loss (so the SE) is finite only if E tr G^-2 (p > k + 3) or E tr S^-2 (k > p + 3) is
        finite_var = prob.p > prob.k + 3 if prob.regime == "overparameterized" else prob.k > prob.p + 3
        rows.append(dict(s, regime=prob.regime, k_over_p=prob.k / prob.p, n_runs=n_runs, sim=est.mean,
                         finite_var=finite_var,
                         se_rel=est.stderr / est.mean, err_leading=lead / est.mean - 1,
                         err_finite=fin / est.mean - 1, z_finite=(fin - est.mean) / est.stderr,
                         z_leading=(lead - est.mean) / est.stderr))
        r = rows[-1]
        print(f"{i:2d} {r['regime'][:5]} p={r['p']:3d} m={r['m']:2d} n_t={r['n_t']:2d} n_v={r['n_v']:2d} "
              f"k/p={r['k_over_p']:.2f} a_t={r['alpha_t']:+.2f}: runs {n_runs:5d} SE {100 * r['se_rel']:.2f}% "
              f"leading {100 * r['err_leading']:+.2f}% finite {100 * r['err_finite']:+.3f}% (z {r['z_finite']:+.1f})",
              flush=True)
        pd.DataFrame(rows).to_csv(out, index=False)   # after every set
    df = add_distance(pd.DataFrame(rows))
    df.to_csv(out, index=False)
    print(f"total {time.perf_counter() - t_all:.0f} s")
    summary(df)
    if main_map:
        plot(df)


def recheck(csv, rows, n_runs=20_000, seed=777):
    """Re-measure rows of a map csv with an independent seed (is an apparent miss a fluctuation?)."""
    df = pd.read_csv(csv)
    for i in rows:
        s = {k: (int(df.at[i, k]) if k in ("p", "m", "n_t", "n_v", "n_r") else float(df.at[i, k]))
             for k in ("p", "m", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r", "d0")}
        prob = problem(s)
        est = lm.simulate(prob, n_runs=n_runs, seed=seed)
        fin = float(lm.theory.test_loss(prob, approximation="finite"))
        print(f"row {i}: p={s['p']} m={s['m']} n_t={s['n_t']} n_v={s['n_v']} alpha_t={s['alpha_t']:+.2f}: "
              f"was {100 * df.at[i, 'err_finite']:+.3f}% (z {df.at[i, 'z_finite']:+.1f}); {n_runs} runs, seed {seed}: "
              f"{100 * (fin / est.mean - 1):+.3f}% (z {(fin - est.mean) / est.stderr:+.1f}, "
              f"SE {100 * est.stderr / est.mean:.2f}%)", flush=True)


TABLE = ROOT / "linmeta/theory/_validity_map.py"
#: (csv, source of its over-parameterised rows, of its under-parameterised rows): the design draws (the map, a
#: second draw, the first holdout, after which the domain was revised, and the second, after which its
#: over-parameterised part was revised), the four in-sample sets of the finite_size figure, and the fresh draws
TABLE_SOURCES = (("figures/validity.csv", "design-2026", "design-2026"),
                 ("figures/validity_seed2027.csv", "design-2027", "design-2027"),
                 ("figures/validity_holdout_seed2028.csv", "design-2028", "design-2028"),
                 ("figures/finite_size.csv", "finite_size", "finite_size"),
                 ("figures/validity_holdout_seed2029.csv", "design-2029", "holdout-2029"),
                 ("figures/validity_holdout_seed2030.csv", "holdout-2030", "holdout-2030"),
                 ("figures/validity_holdout_seed2031.csv", "holdout-2031", "holdout-2031"))
TABLE_COLUMNS = ("source", "regime", "p", "m", "n_t", "n_v", "alpha_t", "n_runs", "se_rel", "err_finite")


def table_rows():
    """Return the measured sets with finite loss variance from every csv of :data:`TABLE_SOURCES` that exists."""
    rows = []
    for name, over, under in TABLE_SOURCES:
        path = ROOT / name
        if not path.exists():
            continue
        df = pd.read_csv(path)
        if name.endswith("finite_size.csv"):   # its alpha_t grids; columns in linmeta's table layout
            df = df[df.parameter == "alpha_t"]
            df = df.assign(regime=np.where(df.p > df.n_v * df.m, "overparameterized", "underparameterized"),
                           se_rel=df.stderr / df["mean"], err_finite=df.theory_finite / df["mean"] - 1,
                           finite_var=True)
        df = df[df.finite_var.astype(bool)]
        for r in df.itertuples():
            source = over if r.regime == "overparameterized" else under
            rows.append((source, r.regime, int(r.p), int(r.m), int(r.n_t), int(r.n_v), round(float(r.alpha_t), 6),
                         int(r.n_runs), float(f"{r.se_rel:.3g}"), float(f"{r.err_finite:.4g}")))
    return rows


def emit_table():
    """Write the measured sets as a Python table under ``linmeta/theory/`` (the package does not read figures/)."""
    rows = table_rows()
    lines = ['"""Measured sets of the validity map of the finite-size theory (docs: theory, validity map).',
             "",
             "Written by ``python benchmarks/validity.py --emit-table`` from the csvs under ``figures/``; do not edit.",
             "One row per measured set with finite loss variance: ``err_finite`` is theory / simulation - 1 of the",
             "test loss, ``se_rel`` the simulation's relative standard error.",
             '"""',
             f"COLUMNS = {TABLE_COLUMNS!r}",
             "ROWS = ("]
    lines += [f"    {r!r}," for r in rows]
    lines.append(")")
    TABLE.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(rows)} rows to {TABLE.relative_to(ROOT)}")


def add_distance(df):
    """Add the columns for ``E|omega* - w0|^2``.

    With ``method="exact"`` each run's loss is (T0) affine in its ``|omega* - w0|^2``, so the simulated mean
    distance and its SE follow exactly from the loss's.
    """
    out = []
    for _, s in df.iterrows():
        prob = problem({k: (int(s[k]) if k in ("p", "m", "n_t", "n_v", "n_r") else s[k]) for k in
                        ("p", "m", "n_t", "n_v", "n_r", "sigma", "nu", "alpha_t", "alpha_r", "d0")})
        c0 = prob.sigma**2 / 2 * (1 + prob.alpha_r**2 * prob.p / prob.n_r)
        dist = 2 * (s.sim - c0) / prob.h_r - prob.nu**2
        se = 2 * s.se_rel * s.sim / prob.h_r
        lead = float(lm.theory.expected_distance(prob))
        fin = float(lm.theory.expected_distance(prob, approximation="finite"))
        out.append(dict(sim_distance=dist, se_distance_rel=se / dist, err_distance_leading=lead / dist - 1,
                        err_distance_finite=fin / dist - 1, z_distance_finite=(fin - dist) / se))
    return pd.concat([df.reset_index(drop=True), pd.DataFrame(out)], axis=1)


def summary(df):
    bad = df[~df.finite_var]
    for _, r in bad.iterrows():
        print(f"excluded (infinite variance of the loss, SE meaningless): {r.regime} p={r.p} m={r.m} n_t={r.n_t} "
              f"n_v={r.n_v} alpha_t={r.alpha_t:+.2f}: leading {100 * r.err_leading:+.2f}% "
              f"finite {100 * r.err_finite:+.2f}%")
    df = df[df.finite_var]
    for reg, g in df.groupby("regime"):
        print(f"{reg}: max |err| leading {100 * g.err_leading.abs().max():.2f}%, "
              f"finite {100 * g.err_finite.abs().max():.2f}%; "
              f"finite within 0.3/1/3 %: {(g.err_finite.abs() < .003).mean():.0%}/"
              f"{(g.err_finite.abs() < .01).mean():.0%}/"
              f"{(g.err_finite.abs() < .03).mean():.0%}; median SE {100 * g.se_rel.median():.2f}%")
        sig = g[(g.err_finite.abs() > .003) & (g.z_finite.abs() > 3)]
        print(f"  finite off by > 0.3 % and > 3 SE on {len(sig)} of {len(g)} sets")
        if "err_distance_finite" in g:
            e = g.err_distance_finite.abs()
            print(f"  E|omega* - w0|^2: max |err| leading {100 * g.err_distance_leading.abs().max():.2f}%, finite "
                  f"{100 * e.max():.2f}%; finite within 1 %: {(e < .01).mean():.0%}; off by > 1 % and > 3 SE: "
                  f"{((e > .01) & (g.z_distance_finite.abs() > 3)).sum()}; "
                  f"median SE {100 * g.se_distance_rel.median():.2f}%")


def plot(df):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    bounds = [0, 0.003, 0.01, 0.03, np.inf]
    colors = ["C2", "C1", "C3", "k"]
    labels = ["< 0.3 %", "0.3-1 %", "1-3 %", "> 3 %"]
    for ax, col, title in zip(axes, ("err_leading", "err_finite"), ("leading order", "finite size"), strict=True):
        err = df[col].abs()
        for lo, hi, c, lab in zip(bounds[:-1], bounds[1:], colors, labels, strict=True):
            for fv, mk in ((True, "o"), (False, "x")):
                sel = (err >= lo) & (err < hi) & (df.finite_var == fv)
                ax.scatter(df.k_over_p[sel], df.m[sel], c=c, s=25, marker=mk,
                           label=lab if fv else None, linewidths=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvline(1, color="0.6", lw=0.8)
        ax.set_xlabel("n_v m / p")
        ax.set_title(f"{title}: |theory/sim - 1|")
    axes[0].set_ylabel("m")
    axes[1].scatter([], [], c="0.4", marker="x", label="loss variance infinite")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "figures/validity.png", dpi=150)


if __name__ == "__main__":
    main()
