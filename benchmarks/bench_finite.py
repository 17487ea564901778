"""Cost of the finite-size theory on the 25-point panel-b grid at FIG3 sizes, against simulation.

Run ``python benchmarks/bench_finite.py``.  Times, in the same process: the finite-size theory on
``alpha_t = linspace(-2, 1, 25)`` (caches cleared, compiled kernels warm), the previous nested
solver on the first ``N_OLD`` grid points (scaled to 25), and ``lm.simulate_curve(FIG3, "alpha_t",
grid, n_runs=1000)``.  Prints the times and the ratios; the target is theory < simulation and
theory >= 25x faster than the previous solver.
"""
import time

import numpy as np

import linmeta as lm
from linmeta.theory import _finite

N_OLD = 5


def main():
    prob = lm.presets.FIG3
    grid = np.linspace(-2, 1, 25)
    _finite.subordination_under.__wrapped__(prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu, 0.3)  # compile
    _finite.subordination_under.cache_clear()
    t = time.perf_counter()
    new = lm.theory.test_loss(prob, approximation="finite", alpha_t=grid)
    t_new = time.perf_counter() - t
    t = time.perf_counter()
    for a in grid[:N_OLD]:
        _finite._nested_under(prob.p, prob.m, prob.n_t, prob.n_v, float(a))
    t_old = (time.perf_counter() - t) * len(grid) / N_OLD
    t = time.perf_counter()
    lm.simulate_curve(prob, "alpha_t", grid, n_runs=1000, seed=0)
    t_sim = time.perf_counter() - t
    print(f"FIG3, 25-point alpha_t grid: finite theory {t_new:.3f} s; previous solver {t_old:.2f} s "
          f"(from {N_OLD} points); simulate_curve 1000 runs {t_sim:.2f} s")
    print(f"speed-up over previous solver {t_old / t_new:.1f}x; simulation / theory {t_sim / t_new:.1f}x")
    assert np.all(np.isfinite(new))


if __name__ == "__main__":
    main()
