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
    ap.add_argument("--work", type=float, default=3e9,
                    help="cap on runs x p k max(p, k) per set (keeps the total time bounded; deterministic)")
    ap.add_argument("--plot-only", action="store_true", help="redraw figures/validity.png from the csv")
    args = ap.parse_args(argv)
    if args.plot_only:
        df = pd.read_csv(ROOT / "figures/validity.csv")
        if "err_distance_finite" not in df:
            df = add_distance(df)
            df.to_csv(ROOT / "figures/validity.csv", index=False)
        summary(df)
        plot(df)
        return
    ss = np.random.SeedSequence(2026)
    rng = np.random.default_rng(ss.spawn(1)[0])
    sets = [dict(draw(rng, ("under", "over")[i % 2]), kind="random") for i in range(args.sets)]
    sets += [dict(c, kind="corner") for c in corners()]
    rows = []
    t_all = time.perf_counter()
    for i, s in enumerate(sets):
        prob = problem(s)
        pilot = lm.simulate(prob, n_runs=200, seed=10_000 + i)
        want = min(20_000, max(1000, math.ceil((pilot.stderr / pilot.mean / TARGET_SE) ** 2 * 200)))
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
        pd.DataFrame(rows).to_csv(ROOT / "figures/validity.csv", index=False)   # after every set
    df = add_distance(pd.DataFrame(rows))
    df.to_csv(ROOT / "figures/validity.csv", index=False)
    print(f"total {time.perf_counter() - t_all:.0f} s")
    summary(df)
    plot(df)


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
