"""Time and memory per run against ``p``: linmeta, the hardware floor and the NumPy loop, both regimes.

Sizes: the paper's two sets scaled by ``s`` (``p, n_t, n_v, n_r`` times ``s``, ``m`` fixed, as in
Theorem 1 where they grow together): FIG2 (over-parameterised, ``k = n_v m = 6 s``) with
``s = 0.5 .. 16`` and FIG3 (under-parameterised, ``k = 1000 s``) with ``s = 1 .. 32``, so
``p = 30 .. 960`` in both.  Each run is one panel-b curve: one-step MAML, 25 values of ``alpha_t``
with common random numbers, exact test loss (``simulate_curve(prob, "alpha_t", ...)``).

* **linmeta**: ``lm.simulate_curve(prob, "alpha_t", ALPHAS, n_runs=R)`` (the public path, in its
  chunks), per run, with every core (Numba threads = cores) and with one thread; linmeta and the
  floor are timed in three interleaved rounds and the fastest round of each is kept;
* **floor**: what any implementation must do, single-threaded (BLAS pinned to one thread),
  divided by the cores: the run's random draws (the same generator and count) plus the products
  ``X_v,i X_t,i^T X_t,i`` of every task, the three Gram blocks of ``Z = P - alpha_t Q``
  (``k x k`` over-parameterised, ``p x p`` under, NumPy ``@``, which uses ``syrk`` for the
  symmetric ones) and 25 Cholesky factorisations of that size;
* **NumPy loop**: :func:`linmeta._sim.reference.run_losses` (the obvious per-run loop: ``A_i`` as
  ``p x p`` matrices, ``lstsq`` per ``alpha_t``), single-threaded, divided by the cores; skipped
  above ``--numpy-max-p`` (it grows like ``m p^3`` per ``alpha_t``).
* **memory per run**: peak resident memory of one run (one thread) in a fresh process, above
  the process's own footprint after a warm-up (Linux: the peak is reset through ``/proc/self/clear_refs``).

The machine may be shared: absolute times are noisy, ratios measured in the same run are what
matters (``linmeta(1 thread) / floor(1 thread)`` is the least sensitive to other load).
**p sweep** (right panel, rows ``regime = "p sweep"``): FIG2's ``m, n_t, n_v`` at ``p = 60 .. 10^8``, one thread:
linmeta as chosen by the engine (the direct sampler below ``p = 2 (n + 1) = 200``, the sufficient statistics
above, :mod:`linmeta._sim.gram_sampler`), the direct sampler forced (``route="direct"``, up to ``--direct-max-p``)
and the old floor (its draws and products, same limit).  Then the targets, each as a ratio measured in this run:
a 25-point ``alpha_t`` curve at FIG2's sizes per run at ``p = 10^6`` and ``10^8`` against 2 ms, its memory
against 1 GB, bit for bit across 1 and 2 threads; N-step (N = 3) and first-order MAML curves against the
one-step curve at ``p = 120, k = 4000`` (FIG3 x 4) against 2x.

Writes ``figures/scaling.csv`` and ``figures/scaling.png``; ``--big`` adds FIG2's sizes at
``p = 20 000``, ``--variants`` the other algorithms (N-step MAML, first-order MAML, iMAML).

Usage: ``python benchmarks/bench_scaling.py [--budget 2] [--numpy-max-p 240] [--direct-max-p 1000000] [--big]
[--variants] [--out figures]``
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numba
import numpy as np
import pandas as pd
import scipy.linalg
from threadpoolctl import threadpool_limits

import linmeta as lm
from linmeta import sampling
from linmeta._sim import budget as _budget
from linmeta._sim import reference as _reference

ALPHAS = np.linspace(-2, 1, 25)
SCALES = {"FIG2": (0.5, 1, 2, 4, 8, 16), "FIG3": (1, 2, 4, 8, 16, 32)}
MEMORY = """
import json, sys, numpy as np, numba, linmeta as lm
from linmeta._sim import engine as _engine
numba.set_num_threads(1)
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith(("VmHWM", "VmRSS")):
            yield line.split()[0], int(line.split()[1]) * 1024
_engine.run_losses(lm.presets.FIG2, [0], 0, [0.1, 0.2], [0.2])   # load the compiled kernels
_engine.run_losses(lm.presets.FIG3, [0], 0, [0.1, 0.2], [0.2])
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current footprint
    f.write("5")
before = dict(hwm())
prob = lm.Problem(**json.loads(sys.argv[1]))
_engine.run_losses(prob, [0], 0, np.linspace(-2, 1, 25), [0.2], sys.argv[2], route=sys.argv[3])
after = dict(hwm())
print(json.dumps((after["VmHWM:"] - before["VmRSS:"]) / 2**20))
"""


def scaled(preset, s):
    """Return the preset with ``p, n_t, n_v, n_r`` times ``s`` (``m`` fixed)."""
    P = getattr(lm.presets, preset)
    return lm.Problem(p=round(P.p * s), m=P.m, n_t=round(P.n_t * s), n_v=round(P.n_v * s), n_r=round(P.n_r * s),
                      sigma=P.sigma, nu=P.nu, alpha_t=P.alpha_t, alpha_r=P.alpha_r)


def _fields(prob):
    return dict(p=prob.p, m=prob.m, n_t=prob.n_t, n_v=prob.n_v, n_r=prob.n_r, sigma=prob.sigma, nu=prob.nu,
                alpha_t=prob.alpha_t, alpha_r=prob.alpha_r)


def _curve(prob, R, seed=0, method="exact"):
    """One panel-b curve of ``R`` runs through the public API."""
    return lm.simulate_curve(prob, "alpha_t", ALPHAS, n_runs=R, seed=seed, method=method)


def _per_run(f, R):
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) / R


def floor_run(prob, run, seed=0):
    """Return the floor's work for one run, single-threaded: draws, task products, Gram blocks, 25 Cholesky."""
    d = sampling.draw_training(prob, seed, [run], 1)
    X_t, X_v = d["X_t"][0], d["X_v"][0]
    Q = np.empty((prob.k, prob.p))
    for i in range(prob.m):
        Q[i * prob.n_v:(i + 1) * prob.n_v] = (X_v[i] @ X_t[i].T) @ X_t[i]
    P = X_v.reshape(prob.k, prob.p)
    if prob.p > prob.k:
        blocks = (P @ P.T, P @ Q.T, Q @ Q.T)
    else:
        blocks = (P.T @ P, P.T @ Q, Q.T @ Q)
    G = blocks[0]
    for _ in ALPHAS:  # factor a positive definite matrix of the same size (the Gram matrix at alpha_t = 0)
        scipy.linalg.cholesky(G, lower=True, check_finite=False, overwrite_a=False)


def memory_per_run(prob, method="exact", route="auto"):
    """Peak extra resident memory (MiB) of one run in a fresh process (one thread)."""
    out = subprocess.run([sys.executable, "-c", MEMORY, json.dumps(_fields(prob)), method, route], capture_output=True,
                         text=True, check=True, env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    return json.loads(out.stdout)


def measure(preset, s, budget, numpy_max_p, cores, repeats=3):
    """One size: linmeta (all cores, one thread), floor and NumPy loop per run, and memory per run.

    linmeta and the floor are timed in ``repeats`` interleaved rounds and the fastest round of each
    is kept (the usual defence against other load on a shared machine).
    """
    prob = scaled(preset, s)
    regime = "over" if prob.p > prob.k else "under"
    _curve(prob, cores)  # warm
    t1 = _per_run(lambda: _curve(prob, 2 * cores, seed=1), 2 * cores)  # sets R (a call's fixed cost included)
    R = int(np.clip(budget / repeats / max(t1, 1e-6), cores, 400))
    R -= R % cores
    t_all, t_one, f_one = [], [], []
    for _ in range(repeats):
        numba.set_num_threads(cores)
        t_all.append(_per_run(lambda prob=prob, R=R: _curve(prob, R), R))
        numba.set_num_threads(1)
        t_one.append(_per_run(lambda prob=prob, R=R: _curve(prob, R), R))
        with threadpool_limits(1):
            f_one.append(_per_run(lambda: [floor_run(prob, r) for r in range(R)], R))
    numba.set_num_threads(cores)
    t_np = np.nan
    if prob.p <= numpy_max_p:
        with threadpool_limits(1):
            Rn = 1 if prob.p > 120 else 3
            t_np = _per_run(lambda: _reference.run_losses(prob, np.arange(Rn), 0, ALPHAS, [prob.alpha_r]), Rn)
    mem = memory_per_run(prob, route="direct")
    return dict(preset=preset, s=s, regime=regime, p=prob.p, k=prob.k, n_t=prob.n_t, runs=R,
                linmeta_ms=1e3 * min(t_all), linmeta_1thread_ms=1e3 * min(t_one), floor_ms=1e3 * min(f_one) / cores,
                floor_1thread_ms=1e3 * min(f_one), numpy_loop_ms=1e3 * t_np / cores, memory_mib=mem)


def big(cores):
    """FIG2's sizes (m=3, n_t=30, n_v=2, n_r=20) at p = 20 000: time per run (exact, protocol) and memory."""
    prob = lm.Problem(p=20_000, m=3, n_t=30, n_v=2, n_r=20, sigma=1.0, nu=0.5, alpha_t=0.2, alpha_r=0.2)
    numba.set_num_threads(cores)
    out = {}
    for method in ("exact", "protocol"):
        _curve(prob, cores, method=method)
        R = 4 * cores
        out[method + "_ms"] = 1e3 * _per_run(lambda prob=prob, R=R, method=method: _curve(prob, R, method=method), R)
        out[method + "_memory_mib"] = memory_per_run(prob, method)
    return out


VARIANTS = {"MAML, 1 step": {}, "MAML, 3 steps": dict(n_steps=3), "first-order MAML, 3 steps":
            dict(algorithm="fomaml", n_steps=3), "iMAML": dict(algorithm="imaml", lam=1.0)}


def variants(cores, budget):
    """Time per run of every algorithm at FIG2 x 8 (p=480) and FIG3 x 4 (p=120), 25 alpha_t, exact."""
    numba.set_num_threads(1)
    out = []
    for preset, s in (("FIG2", 8), ("FIG3", 4)):
        base = scaled(preset, s)
        for name, kw in VARIANTS.items():
            prob = base.replace(**kw)
            _curve(prob, 1)
            t1 = _per_run(lambda prob=prob: _curve(prob, 1, seed=1), 1)
            R = int(np.clip(budget / max(t1, 1e-6), 1, 200))
            out.append(dict(preset=f"{preset} x {s}", p=prob.p, k=prob.k, algorithm=name, runs=R,
                            ms_1thread=1e3 * _per_run(lambda prob=prob, R=R: _curve(prob, R), R)))
    numba.set_num_threads(cores)
    return pd.DataFrame(out)


P_SWEEP = (60, 120, 240, 480, 1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 10**7, 10**8)


def _best_of(f, R, repeats=3):
    return min(_per_run(f, R) for _ in range(repeats))


def p_sweep(budget, direct_max_p):
    """Per-run time (one thread) of a 25-point curve at FIG2's ``m, n_t, n_v`` against ``p``: engine, direct, floor."""
    numba.set_num_threads(1)
    rows = []
    for p in P_SWEEP:
        prob = lm.presets.FIG2.replace(p=p)
        _curve(prob, 1)
        t1 = _per_run(lambda prob=prob: _curve(prob, 2, seed=1), 2)
        R = int(np.clip(budget / 3 / max(t1, 1e-6), 1, 2000))
        row = dict(preset="FIG2 m, n_t, n_v", regime="p sweep", p=p, k=prob.k, n_t=prob.n_t, runs=R,
                   route="gram" if _budget.gram_route(prob) else "direct",
                   linmeta_1thread_ms=1e3 * _best_of(lambda prob=prob, R=R: _curve(prob, R), R),
                   memory_mib=memory_per_run(prob))
        if p <= direct_max_p:
            Rd = int(np.clip(budget / 3 / max(_per_run(lambda prob=prob: _direct(prob, [0]), 1), 1e-6), 1, 400))
            row["direct_1thread_ms"] = 1e3 * _best_of(lambda prob=prob, Rd=Rd: _direct(prob, range(Rd)), Rd)
            with threadpool_limits(1):
                row["floor_1thread_ms"] = 1e3 * _best_of(
                    lambda prob=prob, Rd=Rd: [floor_run(prob, r) for r in range(Rd)], Rd)
            row["direct_memory_mib"] = memory_per_run(prob, route="direct")
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    return pd.DataFrame(rows)


def _direct(prob, runs):
    """Return the 25-point curve of ``runs`` on the direct sampler, one run at a time (a run's draws may be GBs)."""
    from linmeta._sim import engine as _engine  # noqa: PLC0415

    for r in runs:
        _engine.run_losses(prob, [r], 0, ALPHAS, [prob.alpha_r], route="direct")


def targets(cores):
    """Return the issue's targets, each measured in this run and printed as a ratio (<= 1 meets it)."""
    from linmeta._sim import engine as _engine  # noqa: PLC0415

    out = {}
    for p in (10**6, 10**8):
        prob = lm.presets.FIG2.replace(p=p)
        numba.set_num_threads(cores)
        _curve(prob, cores)
        R = 1000
        ms = 1e3 * _best_of(lambda prob=prob, R=R: _curve(prob, R), R)
        numba.set_num_threads(1)
        ms1 = 1e3 * _best_of(lambda prob=prob, R=R: _curve(prob, R), R)
        a = _engine.run_losses(prob, np.arange(40), 5, ALPHAS, [0.2])
        numba.set_num_threads(min(2, cores))
        b = _engine.run_losses(prob, np.arange(40), 5, ALPHAS, [0.2])
        numba.set_num_threads(cores)
        mem = memory_per_run(prob)
        out[p] = dict(ms_per_run=ms, ms_per_run_1thread=ms1, ms_ratio=ms1 / 2.0, memory_mib=mem,
                      memory_ratio=mem * 2**20 / 1e9, bit_for_bit_1_vs_2_threads=bool(np.array_equal(a, b)))
        print(f"p = {p:.0e}: 25-point curve {ms:.3f} ms/run ({cores} threads), {ms1:.3f} ms/run (1 thread; "
              f"/ 2 ms = {ms1 / 2:.2f}); memory {mem:.1f} MiB (/ 1 GB = {mem * 2**20 / 1e9:.3f}); "
              f"1 vs 2 threads bit for bit: {np.array_equal(a, b)}", flush=True)
    numba.set_num_threads(1)
    base = scaled("FIG3", 4)
    one = None
    for name, kw in (("MAML, 1 step", {}), ("MAML, 3 steps", dict(n_steps=3)),
                     ("first-order MAML, 3 steps", dict(algorithm="fomaml", n_steps=3))):
        prob = base.replace(**kw)
        _curve(prob, 1)
        t = 1e3 * _best_of(lambda prob=prob: _curve(prob, 6), 6)
        one = t if one is None else one
        out[name] = dict(ms_per_run_1thread=t, ratio_to_one_step=t / one)
        print(f"FIG3 x 4 (p = 120, k = 4000), {name}: {t:.1f} ms/run (1 thread), {t / one:.2f}x the one-step curve "
              f"(/ 2 = {t / one / 2:.2f})", flush=True)
    numba.set_num_threads(cores)
    return out


def law(table, regime, column="linmeta_1thread_ms"):
    """Least-squares slope of log(time) against log(p) over the three largest sizes of a regime."""
    t = table[table.regime == regime].sort_values("p").tail(3)
    return float(np.polyfit(np.log(t.p), np.log(t[column]), 1)[0])


def plot(table, path):
    import matplotlib  # noqa: PLC0415  (optional: only the figure needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    for (regime, t), color in zip(table[table.regime != "p sweep"].groupby("regime"), ("C0", "C3"), strict=False):
        t = t.sort_values("p")
        label = {"over": "over-parameterised (FIG2 x s)", "under": "under-parameterised (FIG3 x s)"}[regime]
        ax.plot(t.p, t.linmeta_ms, "o-", color=color, label=f"linmeta, {label}")
        ax.plot(t.p, t.floor_ms, "s--", color=color, alpha=0.7, label="floor")
        ok = t.numpy_loop_ms.notna()
        ax.plot(t.p[ok], t.numpy_loop_ms[ok], "^:", color=color, alpha=0.7, label="NumPy loop")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("p")
    ax.set_ylabel("time per run [ms] (25 alpha_t, exact)")
    ax.set_title("one-step MAML, time per run against p", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    sw = table[table.regime == "p sweep"].sort_values("p")
    if len(sw):
        bx.plot(sw.p, sw.linmeta_1thread_ms, "o-", color="C2", label="linmeta (engine's choice)")
        if "direct_1thread_ms" in sw:
            ok = sw.direct_1thread_ms.notna()
            bx.plot(sw.p[ok], sw.direct_1thread_ms[ok], "s--", color="C0", label="direct sampler")
            bx.plot(sw.p[ok], sw.floor_1thread_ms[ok], "^:", color="C7", label="old floor (draws + products)")
        switch = _budget.GRAM_FACTOR * (lm.presets.FIG2.m * (1 + lm.presets.FIG2.n_t + lm.presets.FIG2.n_v) + 1)
        bx.axvline(switch, color="k", lw=0.6, ls=":")
        bx.text(switch * 1.15, 0.03, "sufficient statistics", fontsize=7, transform=bx.get_xaxis_transform())
        bx.set_xscale("log")
        bx.set_yscale("log")
        bx.set_xlabel("p")
        bx.set_ylabel("time per run [ms], one thread")
        bx.set_title("FIG2's m, n_t, n_v: 25-point alpha_t curve against p", fontsize=10)
        bx.legend(fontsize=7)
        bx.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=3.0, help="seconds of linmeta time per size (sets the run count)")
    ap.add_argument("--numpy-max-p", type=int, default=240, help="largest p at which the NumPy loop is timed")
    ap.add_argument("--big", action="store_true", help="also time FIG2's sizes at p = 20 000")
    ap.add_argument("--variants", action="store_true", help="also time N-step MAML, first-order MAML and iMAML")
    ap.add_argument("--only-extras", action="store_true", help="skip the scaling table (with --big/--variants)")
    ap.add_argument("--direct-max-p", type=int, default=1_000_000, help="largest p of the p sweep's direct sampler")
    ap.add_argument("--out", default="figures", help="directory for scaling.csv and scaling.png")
    args = ap.parse_args(argv)
    cores = os.cpu_count()
    print(f"linmeta {lm.__version__}, numba {numba.__version__}, numpy {np.__version__}; {cores} cores; "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.only_extras:
        _extras(args, cores)
        return
    rows = []
    for preset in ("FIG2", "FIG3"):
        for s in SCALES[preset]:
            row = measure(preset, s, args.budget, args.numpy_max_p, cores)
            rows.append(row)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    table = pd.DataFrame(rows)
    print("\np sweep at FIG2's m, n_t, n_v (one thread):", flush=True)
    sweep = p_sweep(args.budget, args.direct_max_p)
    print("\ntargets:", flush=True)
    targets(cores)
    table = pd.concat([table, sweep], ignore_index=True)
    table["linmeta/floor"] = table.linmeta_ms / table.floor_ms
    table["linmeta/floor (1 thread)"] = table.linmeta_1thread_ms / table.floor_1thread_ms
    table["numpy/linmeta"] = table.numpy_loop_ms / table.linmeta_ms
    os.makedirs(args.out, exist_ok=True)
    table.to_csv(os.path.join(args.out, "scaling.csv"), index=False, float_format="%.6g")
    plot(table, os.path.join(args.out, "scaling.png"))
    cols = ["preset", "s", "p", "k", "runs", "linmeta_ms", "floor_ms", "linmeta/floor", "linmeta/floor (1 thread)",
            "numpy_loop_ms", "numpy/linmeta", "memory_mib"]
    print()
    print(table[table.regime != "p sweep"][cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(sweep.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for regime in ("over", "under"):
        print(f"{regime}: time ~ p^{law(table, regime):.2f} (linmeta, 1 thread), floor ~ p^"
              f"{law(table, regime, 'floor_1thread_ms'):.2f} over the three largest sizes")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    _extras(args, cores)


def _extras(args, cores):
    if args.big:
        print("FIG2 sizes at p = 20 000:", json.dumps({k: round(v, 1) for k, v in big(cores).items()}))
    if args.variants:
        print("\nevery algorithm, 1 thread, ms per run (25 alpha_t, exact):")
        print(variants(cores, args.budget).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
