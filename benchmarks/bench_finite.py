"""Cost of the finite-size theory on the 25-point panel-b grid at FIG3 sizes, against simulation.

Run ``python benchmarks/bench_finite.py``.  Times, in the same process (compiled kernels warm):

* the finite-size theory on ``alpha_t = linspace(-2, 1, 25)`` with every cache cleared (includes the
  exact rational set-up for ``(n_t, p)``: Gauss rule, fluctuation modes) and again at ``m = 41``
  (set-up cached, per-point cost only);
* the nested solve (brentq around a damped fixed-point iteration, SciPy Gauss rules; one-point
  formula, the fallback where Newton does not converge) on the first ``N_NESTED`` grid points, scaled to 25;
* ``lm.simulate_curve(FIG3, "alpha_t", grid, n_runs=1000)`` after a small warm-up call.

Prints the times and the ratios; the targets are theory < simulation and theory >= 25x faster than
the nested solve.
"""
import time

import numpy as np

import linmeta as lm
from linmeta.theory._finite import quadrature, regimes, solver

N_NESTED = 5
CACHED = [getattr(regimes, name) for name in ("distance_under", "distance_over", "subordination_under",
                                              "subordination_over", "under_alpha0_ratios", "over_alpha0_ratio")]
CACHED += [getattr(quadrature, name) for name in ("spectral_modes", "eigenvalue_rule", "_recurrence", "column_rule")]


def main():
    prob = lm.presets.FIG3
    grid = np.linspace(-2, 1, 25)
    small = lm.Problem(p=12, m=10, n_t=5, n_v=5, n_r=5, sigma=0.5, nu=0.5, alpha_t=0.3, alpha_r=0.2)
    lm.theory.test_loss(small, approximation="finite")  # compile the kernels
    lm.simulate_curve(prob, "alpha_t", grid[:2], n_runs=20, seed=1)               # warm the simulator
    for func in CACHED:
        func.cache_clear()
    t = time.perf_counter()
    new = lm.theory.test_loss(prob, approximation="finite", alpha_t=grid)
    t_new = time.perf_counter() - t
    t = time.perf_counter()
    lm.theory.test_loss(prob.replace(m=41), approximation="finite", alpha_t=grid)
    t_warm = time.perf_counter() - t
    t = time.perf_counter()
    for a in grid[:N_NESTED]:
        solver.nested_under(prob.p, prob.m, prob.n_t, prob.n_v, float(a))
    t_nested = (time.perf_counter() - t) * len(grid) / N_NESTED
    t = time.perf_counter()
    lm.simulate_curve(prob, "alpha_t", grid, n_runs=1000, seed=0)
    t_sim = time.perf_counter() - t
    print(f"FIG3, 25-point alpha_t grid: finite theory {t_new:.3f} s (cold caches), {t_warm:.3f} s (m=41, set-up "
          f"cached); nested solve {t_nested:.2f} s (from {N_NESTED} points); simulate_curve 1000 runs {t_sim:.2f} s")
    print(f"speed-up over the nested solve {t_nested / t_new:.1f}x (cold) / {t_nested / t_warm:.1f}x; "
          f"simulation / theory {t_sim / t_new:.1f}x (cold) / {t_sim / t_warm:.1f}x")
    assert np.all(np.isfinite(new))


if __name__ == "__main__":
    main()
