"""Large-m limit of the under-parameterised finite-size theory against Theorem 2.

Run ``python derivations/finite_limits.py``: writes ``figures/finite_limits.csv`` and draws
``figures/finite_limits.png``: ``|D_finite / D_T2 - 1|`` against ``m`` (FIG3 sizes otherwise,
``alpha_t = -1`` and ``0.5``) for the finite-size formula (default: with the second-order term in the
fluctuation of ``H``'s eigenvalue law) and without that term (``fluctuation=False``, one-point law
of ``H``; see ``linmeta.theory._finite.regimes.distance_under``).
Theorem 2 is exact as ``m -> infinity`` at fixed ``p, n_t, n_v``; a formula that has the right
``1/m`` coefficient differs from it by ``O(1/m)`` relative.
"""
import pathlib

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import linmeta as lm  # noqa: E402
from linmeta.theory import _generated as gen  # noqa: E402
from linmeta.theory._finite import regimes  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main():
    base = lm.presets.FIG3
    rows = []
    for alpha_t in (-1.0, 0.5):
        for m in np.unique(np.round(np.logspace(np.log10(40), 5, 13)).astype(int)):
            args = (base.p, int(m), base.n_t, base.n_v, base.sigma, base.nu, alpha_t)
            t2 = gen.distance_underparameterized(alpha_t, *args[:6])   # Theorem 2, derived
            rows.append(dict(alpha_t=alpha_t, m=int(m), theorem2=t2,
                             finite=regimes.distance_under(*args),
                             finite_one_point=regimes.distance_under(*args, fluctuation=False)))
    df = pd.DataFrame(rows)
    df.to_csv(ROOT / "figures/finite_limits.csv", index=False)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for (alpha_t, g), c in zip(df.groupby("alpha_t"), ("C0", "C1"), strict=False):
        ax.loglog(g.m, abs(g.finite / g.theorem2 - 1), "o-", color=c, label=f"finite size, alpha_t={alpha_t:g}")
        ax.loglog(g.m, abs(g.finite_one_point / g.theorem2 - 1), "s--", color=c,
                  label=f"one-point law of H only, alpha_t={alpha_t:g}")
    m = np.array([40, 1e5])
    ax.loglog(m, 2.0 / m, "k:", label="1/m reference")
    ax.set_xlabel("m (p=30, n_t=5, n_v=25)")
    ax.set_ylabel("|D_finite / D_T2 - 1|")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ROOT / "figures/finite_limits.png", dpi=150)
    for alpha_t, g in df.groupby("alpha_t"):
        d1 = abs(g.finite / g.theorem2 - 1).to_numpy()
        d2 = abs(g.finite_one_point / g.theorem2 - 1).to_numpy()
        slope = np.polyfit(np.log(g.m.to_numpy()[-5:]), np.log(d1[-5:]), 1)[0]
        print(f"alpha_t={alpha_t:g}: m={g.m.iloc[-1]}: finite size {d1[-1]:.2e} (log-log slope, last 5 m: "
              f"{slope:.3f}); one-point law only {d2[-1]:.2e}")


if __name__ == "__main__":
    main()
