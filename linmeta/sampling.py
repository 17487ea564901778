"""Sampling meta-training sets of Gaussian mixed linear regression (docs: theory, M1).

The task model (:mod:`linmeta._model`) says which draws a run makes (its
layouts) and how they become tasks and labels; this module fills the layouts
from the run's own stream.  All draws are standard normals (or chi-squares),
scaled afterwards by ``nu`` and ``sigma``: two problems that differ only in
``sigma``, ``nu``, ``w0``, rates or algorithm see the same random numbers for
the same ``(seed, run)`` (common random numbers).
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from linmeta._model import labels_numpy, model_of, require_isotropic
from linmeta._sim.rng import TEST, TEST_PROJECTED, TRAIN, check_seed, run_rng
from linmeta._validation import check_int  # noqa: F401

if TYPE_CHECKING:
    from linmeta.problem import Problem

__all__ = ["TaskBatch", "sample_tasks"]


@dataclass(frozen=True)
class TaskBatch:
    """One meta-training set: ``m`` tasks with training and validation points.

    Attributes
    ----------
    X_t : ndarray of shape (m, n_t, p)
    y_t : ndarray of shape (m, n_t)
    X_v : ndarray of shape (m, n_v, p)
    y_v : ndarray of shape (m, n_v)
    w : ndarray of shape (m, p)
        The true task vectors (ground truth).
    """

    X_t: np.ndarray
    y_t: np.ndarray
    X_v: np.ndarray
    y_v: np.ndarray
    w: np.ndarray

    @property
    def m(self) -> int:
        """Number of tasks."""
        return self.w.shape[0]

    @property
    def p(self) -> int:
        """Dimension of the parameters."""
        return self.w.shape[1]


#: fewest numbers a chunk draws before its runs are shared between threads (setting up a run's stream
#: holds the GIL, so threads only pay off once the draws themselves dominate)
_THREADED_DRAWS = 100_000


def _executor(workers):
    """Return a thread pool kept for the process (starting threads for every chunk costs milliseconds)."""
    return _pool(workers, os.getpid())  # a forked child gets its own: it inherits no running threads


@functools.lru_cache(maxsize=None)
def _pool(workers, pid):
    return ThreadPoolExecutor(workers, thread_name_prefix="linmeta-draws")  # NumPy releases the GIL while filling


def _fill(shapes, seed, runs, stream, workers, dfs=None):
    """Draw for ``runs``; run ``runs[j]`` fills slot ``j`` of every key from its own stream.

    Standard normals, except for the keys of ``dfs``: chi-square variates with
    ``dfs[key]`` degrees of freedom (``2 * Gamma(df / 2)``; zero when ``df = 0``).
    """
    dfs = {} if dfs is None else dfs
    out = {k: np.empty(shape) for k, shape in shapes.items()}

    def one(j):
        g = run_rng(seed, int(runs[j]), stream)
        for k in shapes:  # fixed order: the stream's layout is part of the contract
            if k in dfs:
                g.standard_gamma(dfs[k] / 2, out=out[k][j])
                out[k][j] *= 2.0
            else:
                g.standard_normal(out=out[k][j])

    if workers > 1 and len(runs) > 1 and sum(a.size for a in out.values()) >= _THREADED_DRAWS:
        def block(js):
            for j in js:
                one(j)

        # one contiguous block of runs per worker (a task per run costs more than a small run's draws)
        list(_executor(workers).map(block, np.array_split(np.arange(len(runs)), min(workers, len(runs)))))
    else:
        for j in range(len(runs)):
            one(j)
    return out


def draw_training(prob, seed, runs, workers=1):
    """Standard-normal meta-training draws for ``runs`` (dict of arrays, leading axis = run)."""
    return _fill(model_of(prob).train_layout(prob, len(runs)), seed, runs, TRAIN, workers)


def draw_test(prob, seed, runs, n_test_tasks, n_test_points, workers=1, sampler="full"):
    """Meta-test draws for ``runs`` (protocol estimator).

    ``sampler="full"``: every input and noise value of every test task, as
    standard normals (stream ``TEST``).  ``sampler="projected"``: only the
    statistics the score depends on (stream ``TEST_PROJECTED``), per test
    task: the task (``g``, ``p`` normals); one chi-square with ``p - 1``
    degrees of freedom for the adaptation step orthogonal to ``omega - w``
    (``chi2``); and, for the adaptation points and for the test points, the
    Bartlett factors of the 2 x 2 Wishart matrix of sums of squares and
    products of (input along the relevant direction, noise): ``vv`` and
    ``gg`` (chi-square, ``n_r`` and ``n_te`` degrees of freedom),
    ``rest_r`` and ``rest_te`` (``n_r - 1`` and ``n_te - 1``), ``b_r`` and
    ``b_te`` (normal).  See :func:`linmeta._sim.kernels.protocol_losses_projected`
    for why this has the protocol's distribution exactly.
    """
    model = model_of(prob)
    if sampler == "projected":
        require_isotropic(prob, "the projected protocol test sampler")
        shapes = model.projected_test_layout(prob, len(runs), n_test_tasks, n_test_points)
        return _fill(shapes, seed, runs, TEST_PROJECTED, workers, model.projected_test_dfs(prob, n_test_points))
    return _fill(model.test_layout(prob, len(runs), n_test_tasks, n_test_points), seed, runs, TEST, workers)


def sample_tasks(prob: Problem, seed: int = 0, *, run: int = 0) -> TaskBatch:
    """Sample one meta-training set, ground truth included.

    Parameters
    ----------
    prob : Problem
    seed : int, default=0
    run : int, default=0
        Run index: ``sample_tasks(prob, seed, run=i)`` is exactly the
        meta-training set that run ``i`` of ``simulate(prob, seed=seed)`` uses
        on the direct route; over-parameterised problems with ``p`` at least
        twice the rows of a run plus one (:func:`linmeta._sim.budget.gram_route`)
        are simulated from sufficient statistics of the same law
        (:mod:`linmeta._sim.gram_sampler`), which hold no ``p``-vectors.

    Returns
    -------
    TaskBatch

    Examples
    --------
    >>> import linmeta as lm
    >>> batch = lm.sample_tasks(lm.presets.FIG3, seed=0)
    >>> batch.X_t.shape, batch.y_v.shape, batch.w.shape
    ((40, 5, 30), (40, 25), (40, 30))
    """
    seed = check_seed(seed)
    run = check_int(run, "run", min_val=0)
    return batch_from_draws(prob, draw_training(prob, seed, [run]), 0, seed, run)


def batch_from_draws(prob, draws, j, seed=0, run=0):
    """Return the :class:`TaskBatch` of slot ``j`` of standard-normal training ``draws`` (of run ``run``)."""
    model = model_of(prob)
    if model.isotropic:
        d = {k: v[j] for k, v in draws.items()}
        w = model.task_vectors(prob, d["g"])
        sigma = prob.sigma
    else:  # the model makes the tasks and their data from the draws (shifted by nothing: w itself)
        d = {k: v[j:j + 1].copy() for k, v in draws.items()}
        d, _, sigma, _ = model.kernel_inputs(prob, d, seed, [run])
        d = {k: v[0] for k, v in d.items()}
        w = d["g"]
    y_t = labels_numpy(d["X_t"], w, d["e_t"], sigma)
    y_v = labels_numpy(d["X_v"], w, d["e_v"], sigma)
    return TaskBatch(X_t=d["X_t"], y_t=y_t, X_v=d["X_v"], y_v=y_v, w=w)
