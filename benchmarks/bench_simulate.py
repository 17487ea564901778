"""Speed of ``simulate_curve`` on panel b of Figures 2 and 3, as ratios.

Panel b: 25 values of ``alpha_t`` in [-2, 1] x 1000 runs, ``alpha_r = 0.2``, both methods; the
protocol with its default projected test sampler and with every test input drawn (``full``).
Baseline: the obvious plain-NumPy per-run loop (``linmeta._sim.reference``: draw the same streams,
build each ``A_i``, ``lstsq``, evaluate; for the protocol, draw every test input and score each
test task literally), timed in the same run on a subset of runs and scaled per run (it is linear
in the number of runs).  linmeta: the fastest of three calls; its peak memory is traced in a fourth.
Also prints the cold-start cost (Numba compile, measured in a subprocess with an empty cache) and peak memory.

Usage: ``python benchmarks/bench_simulate.py [--runs 1000] [--baseline-runs 20]``
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numba
import numpy as np

import linmeta as lm
from linmeta._sim import reference as _reference

ALPHAS = np.linspace(-2, 1, 25)
COLD = """
import time, json
t = time.perf_counter()
import linmeta as lm
t_import = time.perf_counter() - t
t = time.perf_counter()
for P in (lm.presets.FIG2, lm.presets.FIG3):
    for method, sampler in (("exact", "projected"), ("protocol", "projected"), ("protocol", "full")):
        lm.simulate_curve(P, "alpha_t", [0.1, 0.2], n_runs=2, seed=0, method=method, test_sampler=sampler,
                          n_test_tasks=2)
print(json.dumps({"import": t_import, "first_calls": time.perf_counter() - t}))
"""


def _cold_start():
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-c", COLD], env=env, capture_output=True, text=True, check=True)
        cold = json.loads(out.stdout)
        out = subprocess.run([sys.executable, "-c", COLD], env=env, capture_output=True, text=True, check=True)
        warm = json.loads(out.stdout)
    return cold, warm


def _time(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--baseline-runs", type=int, default=20)
    args = ap.parse_args(argv)
    print(f"linmeta {lm.__version__}, numba {numba.__version__}, numpy {np.__version__}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba threads {numba.get_num_threads()}")
    cold, warm = _cold_start()
    print(f"cold start (empty Numba cache): import {cold['import']:.1f} s, "
          f"first calls (compile) {cold['first_calls']:.1f} s;"
          f" with a warm cache: import {warm['import']:.1f} s, first calls {warm['first_calls']:.1f} s")
    rows = []
    # (label, method, test_sampler); the protocol baseline is the literal loop (every test input drawn)
    cases = (("exact", "exact", "projected"), ("protocol", "protocol", "projected"),
             ("protocol, full", "protocol", "full"))
    for name, prob in (("FIG2", lm.presets.FIG2), ("FIG3", lm.presets.FIG3)):
        times = {}
        for label, method, sampler in cases:
            kw = dict(method=method, test_sampler=sampler)
            lm.simulate_curve(prob, "alpha_t", ALPHAS[:2], n_runs=2, **kw)  # compile / load cache

            def curve(prob=prob, kw=kw):
                return lm.simulate_curve(prob, "alpha_t", ALPHAS, n_runs=args.runs, seed=0, progress=False, **kw)

            t = min(_time(curve) for _ in range(3))   # fastest of three (the machine may be shared)
            tracemalloc.start()                        # memory in a separate call: tracing slows allocation
            curve()
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            nb = min(args.baseline_runs, args.runs) if method == "exact" else max(1, args.baseline_runs // 10)
            tb = _time(lambda prob=prob, nb=nb, method=method: _reference.run_losses(
                prob, np.arange(nb), 0, ALPHAS, [prob.alpha_r], method, test_sampler="full"))
            tb *= args.runs / nb
            times[label] = t
            rows.append((name, label, t, tb, tb / t, peak))
        rows.append((name, "protocol/exact", times["protocol"] / times["exact"], None, None, None))
        rows.append((name, "full/exact", times["protocol, full"] / times["exact"], None, None, None))
    print(f"\npanel b: {len(ALPHAS)} alpha_t values x {args.runs} runs, alpha_r = 0.2 (warm)")
    print(f"{'set':5} {'method':15} {'linmeta [s]':>11} {'NumPy loop [s]':>15} {'speedup':>8} {'peak NumPy MB':>14}")
    for name, method, t, tb, ratio, peak in rows:
        if tb is None:
            print(f"{name:5} {method:15} {'':>11} {'':>15} {'':>8} {'':>14}  ratio {t:.1f}x")
        else:
            print(f"{name:5} {method:15} {t:11.2f} {tb:15.1f} {ratio:7.0f}x {peak:14.0f}")
    print(f"(baseline timed on {args.baseline_runs} runs (exact) / {max(1, args.baseline_runs // 10)} (protocol) "
          "and scaled per run; peak = tracemalloc peak of NumPy-side arrays)")


if __name__ == "__main__":
    main()
