"""Cost of the task models beyond the paper's, as ratios to the paper's model at the same sizes.

Run ``python benchmarks/bench_task_models.py``.  For FIG3 (under-parameterised) and FIG2
(over-parameterised) sizes, every algorithm and both methods, it times ``lm.simulate`` on

* the paper's model (the baseline),
* diagonal input and task covariances (``input_cov``, ``task_cov``),
* a two-family :class:`linmeta.Mixture`,
* a user's sampler with diagonal input factors,

after a warm-up call of each (compiled kernels warm), best of ``REPEATS``, and prints each time and
its ratio to the baseline.  The target (the speed class of the paper's kernels): diagonal and
mixture within 1.5x of the baseline.  With the protocol the baseline is the paper's model with the
full test sampler (the other models cannot use the projected one, which needs isotropy; its time
is printed too).  FIG2's sizes are below the sufficient-statistic route's threshold, so every
model runs the same kernels.
"""
import time

import numpy as np

import linmeta as lm

REPEATS = 3
N_RUNS = 400
ALGORITHMS = ({"algorithm": "maml"}, {"algorithm": "maml", "n_steps": 2}, {"algorithm": "fomaml"},
              {"algorithm": "imaml", "lam": 1.0}, {"algorithm": "erm"})
TARGET = 1.5


def _draw(rng, n, p):
    return {"input_factor": rng.uniform(0.5, 1.5, (n, p)), "w": 0.1 * rng.standard_normal((n, p)),
            "sigma": rng.uniform(0.0, 0.5, n)}


def models(prob):
    p = prob.p
    diagonal = prob.replace(nu=None, task_cov=np.linspace(0, 2 * prob.nu**2 / p, p), input_cov=np.linspace(0.5, 1.5, p))
    return {"paper": prob, "diagonal": diagonal,
            "mixture": lm.Mixture([(0.5, prob), (0.5, diagonal)]),
            "user": prob.replace(sigma=None, nu=None, w0=None, tasks=lambda rng, n: _draw(rng, n, p))}


def best(prob, method, test_sampler="projected"):
    lm.simulate(prob, 20, 1, method, test_sampler=test_sampler)  # warm up
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        lm.simulate(prob, N_RUNS, 0, method, n_test_tasks=20, test_sampler=test_sampler)
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    worst = 0.0
    for name, base in (("FIG3", lm.presets.FIG3), ("FIG2", lm.presets.FIG2)):
        for kw in ALGORITHMS:
            for method in ("exact", "protocol"):
                times = {k: best(q.replace(**kw), method) for k, q in models(base.replace(**kw)).items()}
                # the protocol's baseline draws every test input too (other models cannot use the projected sampler)
                baseline = best(base.replace(**kw), method, "full") if method == "protocol" else times["paper"]
                ratios = {k: v / baseline for k, v in times.items()}
                worst = max(worst, ratios["diagonal"], ratios["mixture"])
                extra = f" (projected sampler {times['paper'] * 1e3:.1f} ms)" if method == "protocol" else ""
                print(f"{name} {kw} {method}: paper {baseline * 1e3:.1f} ms{extra}; "
                      + ", ".join(f"{k} {ratios[k]:.2f}x" for k in ("diagonal", "mixture", "user")))
    print(f"largest ratio of diagonal/mixture to the paper's model: {worst:.2f}x (target <= {TARGET}x)")


if __name__ == "__main__":
    with np.errstate(all="ignore"):
        import warnings

        warnings.simplefilter("ignore")
        main()
