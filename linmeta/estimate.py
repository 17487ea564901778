"""Monte Carlo estimates of the average meta-test loss (theory.md §2, §7).

Two estimators of the same quantity, sharing the meta-training draws:

* ``method="exact"``: meta-train on fresh data, then the exact expectation of
  the test side given ``omega*`` (theory.md T0).  Low variance.
* ``method="protocol"``: the paper's protocol; meta-train on fresh data, then
  score on sampled test tasks (default 100 tasks, ``n_r`` adaptation points,
  50 test points).  By default (``test_sampler="projected"``) each test task
  draws only the projections of its inputs that the score depends on, which
  has the protocol's distribution exactly and costs ``O(p + n_r + n_te)``
  numbers instead of ``O((n_r + n_te) p)``; ``test_sampler="full"`` draws
  every input (see :func:`linmeta._kernels.protocol_losses_projected`).

Run ``i`` draws from streams addressed by ``(seed, i)`` only
(:mod:`linmeta._rng`), and every kernel writes per-run slots that are reduced
afterwards in a fixed order: a seed fixes every number, bit for bit, whatever
the thread count, chunk size or executor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from linmeta._checks import check_int
from linmeta._engine import _deltas, run_losses  # noqa: F401  (the engine; re-exported for its callers)
from linmeta._rng import check_seed

__all__ = ["Estimate", "simulate", "simulate_curve", "METHODS"]

METHODS = ("exact", "protocol")
TEST_SAMPLERS = ("projected", "full")
_CRN_PARAMS = ("alpha_t", "alpha_r")
_CHUNK_DOUBLES = 4_000_000  # about 32 MB of draws per chunk


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate of the average test loss.

    Attributes
    ----------
    mean : float
        Mean over runs.
    stderr : float
        Standard error of the mean (sample std with ``ddof=1`` / sqrt(n_runs)).
    n_runs : int
    seed : int
    method : str
    values : ndarray of shape (n_runs,)
        Per-run losses, in run order.
    """

    mean: float
    stderr: float
    n_runs: int
    seed: int
    method: str = "exact"
    values: np.ndarray = field(default=None, repr=False)

    @classmethod
    def from_values(cls, values, seed, method):
        values = np.asarray(values, dtype=float)
        n = values.shape[0]
        stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        return cls(float(values.mean()), stderr, n, seed, method, values)

    def __str__(self):
        return f"{self.mean:.6g} ± {self.stderr:.2g} (1 SE; {self.n_runs} runs, seed {self.seed}, {self.method})"


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    return method


def _check_test_sampler(test_sampler):
    if test_sampler not in TEST_SAMPLERS:
        raise ValueError(f"test_sampler must be one of {TEST_SAMPLERS}; got {test_sampler!r}")
    return test_sampler


def _chunk_size(prob, method, n_test_tasks, n_test_points, test_sampler="projected"):
    per_run = prob.m * (prob.p + (prob.n_t + prob.n_v) * (prob.p + 1))
    if method == "protocol" and test_sampler == "full":
        per_run += n_test_tasks * (prob.p + (prob.n_r + n_test_points) * (prob.p + 1))
    elif method == "protocol":
        per_run += n_test_tasks * (prob.p + 2 * (prob.n_r + n_test_points) + 1)
    return max(1, _CHUNK_DOUBLES // per_run)


def _losses_over_runs(prob, n_runs, seed, alpha_ts, alpha_rs, method, n_test_tasks, n_test_points,
                      chunk_size, progress, desc, test_sampler="projected"):
    chunk = chunk_size or _chunk_size(prob, method, n_test_tasks, n_test_points, test_sampler)
    chunk = check_int(chunk, "chunk_size", min_val=1)
    out = np.empty((n_runs, len(alpha_ts), len(alpha_rs)))
    with tqdm(total=n_runs, desc=desc, unit="run", disable=None if progress is None else not progress,
              leave=False) as bar:
        for start in range(0, n_runs, chunk):
            runs = np.arange(start, min(n_runs, start + chunk))
            out[runs] = run_losses(prob, runs, seed, alpha_ts, alpha_rs, method, n_test_tasks=n_test_tasks,
                                   n_test_points=n_test_points, test_sampler=test_sampler)
            bar.update(len(runs))
    return out


def _check_common(n_runs, seed, method, n_test_tasks, n_test_points):
    return (check_int(n_runs, "n_runs", min_val=1), check_seed(seed), _check_method(method),
            check_int(n_test_tasks, "n_test_tasks", min_val=1), check_int(n_test_points, "n_test_points", min_val=1))


def simulate(prob, n_runs=1000, seed=0, method="exact", *, n_test_tasks=100, n_test_points=50,
             test_sampler="projected", chunk_size=None, progress=None):
    """Estimate the average meta-test loss of ``prob`` by Monte Carlo.

    Parameters
    ----------
    prob : Problem
    n_runs : int, default=1000
        Independent meta-training runs.
    seed : int, default=0
        Fixes every number: run ``i`` uses streams ``(seed, i, ·)`` only.
    method : {"exact", "protocol"}, default="exact"
        ``"exact"`` replaces the sampled test side by its expectation
        (theory.md T0); ``"protocol"`` samples it as in the paper.
    n_test_tasks, n_test_points : int, default=100, 50
        Protocol only: test tasks per run and test points per task.
    test_sampler : {"projected", "full"}, default="projected"
        Protocol only: draw each test task's inputs through the projections
        the score depends on (same distribution, far fewer draws) or in full.
    chunk_size : int, optional
        Runs per chunk (memory only; results do not depend on it).
    progress : bool, optional
        Progress bar; by default shown only on a terminal.

    Returns
    -------
    Estimate

    Examples
    --------
    >>> import linmeta as lm
    >>> est = lm.simulate(lm.presets.FIG3, n_runs=200, seed=0)
    >>> est.n_runs, est.seed, est.method
    (200, 0, 'exact')
    >>> 0.02 < est.mean < 0.05
    True

    References
    ----------
    theory.md §2 (MAML1), T0, §7.
    """
    n_runs, seed, method, n_test_tasks, n_test_points = _check_common(n_runs, seed, method, n_test_tasks, n_test_points)
    test_sampler = _check_test_sampler(test_sampler)
    losses = _losses_over_runs(prob, n_runs, seed, [prob.alpha_t], [prob.alpha_r], method, n_test_tasks,
                               n_test_points, chunk_size, progress, "simulate", test_sampler)
    return Estimate.from_values(losses[:, 0, 0], seed, method)


def simulate_curve(prob, name, values, n_runs=1000, seed=0, method="exact", *, n_test_tasks=100,
                   n_test_points=50, test_sampler="projected", chunk_size=None, progress=None):
    """Estimate the test loss along one parameter, with common random numbers.

    Every value sees the same draws (run ``i`` always uses streams
    ``(seed, i, ·)``), so the curve is smooth and differences between values
    are precise.  For ``alpha_t`` and ``alpha_r`` the draws are made once and
    reused for all values.

    Parameters
    ----------
    prob : Problem
    name : str
        A :class:`Problem` field, e.g. ``"alpha_t"``, ``"alpha_r"``, ``"m"``.
    values : sequence
        Values of ``name``.
    n_runs, seed, method, n_test_tasks, n_test_points, test_sampler, chunk_size, progress
        As in :func:`simulate`.

    Returns
    -------
    pandas.DataFrame
        One row per value: ``value, mean, stderr, n_runs, seed, parameter, method``.

    Examples
    --------
    >>> import linmeta as lm
    >>> t = lm.simulate_curve(lm.presets.FIG3, "alpha_t", [-0.5, 0.0, 0.5], n_runs=100)
    >>> list(t.columns[:5])
    ['value', 'mean', 'stderr', 'n_runs', 'seed']
    """
    n_runs, seed, method, n_test_tasks, n_test_points = _check_common(n_runs, seed, method, n_test_tasks, n_test_points)
    test_sampler = _check_test_sampler(test_sampler)
    values = list(np.atleast_1d(np.asarray(values, dtype=object)))
    if not values:
        raise ValueError("values must contain at least one value; got an empty sequence")
    problems = [prob.replace(**{name: v}) for v in values]  # validates every value, names the field
    kw = dict(n_test_tasks=n_test_tasks, n_test_points=n_test_points, test_sampler=test_sampler,
              chunk_size=chunk_size, progress=progress)
    if name in _CRN_PARAMS:
        rates = [getattr(q, name) for q in problems]
        alpha_ts = rates if name == "alpha_t" else [prob.alpha_t]
        alpha_rs = rates if name == "alpha_r" else [prob.alpha_r]
        losses = _losses_over_runs(prob, n_runs, seed, alpha_ts, alpha_rs, method, n_test_tasks, n_test_points,
                                   chunk_size, progress, f"curve {name}", test_sampler)
        per_value = losses[:, :, 0].T if name == "alpha_t" else losses[:, 0, :].T
        ests = [Estimate.from_values(v, seed, method) for v in per_value]
    else:
        ests = [simulate(q, n_runs, seed, method, **kw) for q in tqdm(problems, desc=f"curve {name}", disable=True)]
    return pd.DataFrame({
        "value": [getattr(q, name) for q in problems],
        "mean": [e.mean for e in ests], "stderr": [e.stderr for e in ests],
        "n_runs": n_runs, "seed": seed, "parameter": name, "method": method,
    })
