"""The simulation engine: per-run test losses from draws, kernels and the table of inner maps.

:func:`run_losses` is what :func:`linmeta.simulate` and
:func:`linmeta.simulate_curve` call chunk by chunk: it draws the runs'
standard normals (:mod:`linmeta.sampling`), meta-trains every run for every
``alpha_t`` in a compiled kernel chosen by the inner-map table
(:mod:`linmeta.inner_maps`), and scores the result exactly (docs: theory, T0)
or by the paper's protocol.

BLAS and LAPACK run one thread per Numba worker while the kernels run
(``threadpoolctl``): nested threading would oversubscribe the cores, and a
single-threaded library call sums in one fixed order, so a seed fixes every
number whatever the thread count or chunking.
"""
from __future__ import annotations

import warnings

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

from linmeta import sampling
from linmeta._model import model_of, test_sampler_for
from linmeta._sim import budget as _budget
from linmeta._sim import gram_sampler as _gram_sampler
from linmeta._sim import kernels as _kernels
from linmeta.algorithms._meta import COND_WARN, IllConditionedWarning
from linmeta.algorithms._registry import INNER_MAPS

__all__ = ["solve", "run_losses"]

_BLAS = ThreadpoolController()


def solve(prob, draws, alpha_ts, want_delta=False, start=None, scales=None):
    """Meta-train every run of ``draws`` for every ``alpha_t``.

    ``draws`` may be in ``p`` coordinates (:func:`linmeta.sampling.draw_training`)
    or in the ``n + 1`` coordinates of the sufficient-statistic sampler
    (:func:`linmeta._sim.gram_sampler.draw_training`, with its ``start``); ``p``
    (``nu / sqrt(p)``, the regime) is always ``prob.p``.  ``scales``: the
    ``(task_scale, sigma)`` the kernels apply (the isotropic model's by default);
    a model's ``kernel_inputs`` gives them with ``start`` and the draws it made.

    Returns
    -------
    dist2 : ndarray (R, A)
        ``|omega*(alpha_t) - w0|^2``.
    delta : ndarray (R, A, p) (or (R, A, n + 1)) or None
        ``omega*(alpha_t) - w0`` when ``want_delta`` (the protocol needs it;
        the exact method does not, and then no ``p``-vector per run is formed
        in the over-parameterised regime).

    Warns
    -----
    IllConditionedWarning
        When a solve's condition number exceeds ``COND_WARN`` (counted and named).
    """
    R, A = draws["g"].shape[0], len(alpha_ts)
    alphas = np.asarray(alpha_ts, dtype=float)
    dist2 = np.empty((R, A))
    delta = np.empty((R, A, draws["X_t"].shape[-1] if want_delta else 0))
    cond = np.empty((R, A))
    start = prob.start_offset if start is None else start
    task_scale, sigma = (model_of(prob).task_scale(prob), prob.sigma) if scales is None else scales
    args = (draws["g"], draws["X_t"], draws["e_t"], draws["X_v"], draws["e_v"], task_scale,
            sigma, np.array(start, dtype=float, order="C"), alphas)  # a writable copy: one compiled signature
    entry = INNER_MAPS[prob.algorithm]
    with _BLAS.limit(limits=1):  # the algorithm's kernel entry (linmeta.algorithms.<name>)
        entry.solve(prob, args, prob.p > prob.k, want_delta, dist2, delta, cond)
    # a Gram matrix squares cond(Z); compare like with like against meta_train's threshold
    cond = np.sqrt(cond) if entry.gram else cond
    worst = np.max(cond)
    if not np.isfinite(worst) or worst > COND_WARN:
        bad = int(np.count_nonzero(~(cond <= COND_WARN)))
        what = "cond(Z)" if entry.gram else "cond"
        warnings.warn(
            f"{bad} of {cond.size} meta-training solves are ill-conditioned ({what} >= {worst:.3g} > {COND_WARN:g}; "
            f"algorithm={prob.algorithm!r}, p={prob.p}, n_v*m={prob.k}); their losses may be inaccurate or NaN",
            IllConditionedWarning, stacklevel=4,
        )
    return dist2, (delta if want_delta else None)


def _deltas(prob, draws, alpha_ts):
    """``omega*(alpha_t) - w0`` for every run of ``draws`` and every ``alpha_t``: (R, A, p)."""
    return solve(prob, draws, alpha_ts, want_delta=True)[1]


def run_losses(prob, runs, seed, alpha_ts, alpha_rs, method="exact", *, n_test_tasks=100, n_test_points=50,
               test_sampler="projected", route="auto"):
    """Per-run test losses for runs ``runs`` on the grid ``alpha_ts x alpha_rs``: (R, A, B).

    The engine behind :func:`linmeta.simulate` and
    :func:`linmeta.simulate_curve`; inputs are assumed validated.
    ``route`` (:func:`linmeta._sim.budget.gram_route`): the draws come from the
    direct sampler or, over-parameterised with ``p`` well above the rows of
    a run, from sufficient statistics (:mod:`linmeta._sim.gram_sampler`); both
    have the same distribution, each fixed by the seed.
    """
    workers = numba.get_num_threads()
    model = model_of(prob)
    test_sampler = test_sampler_for(prob, test_sampler)
    gram = _budget.gram_route(prob, method, test_sampler, route)
    if gram:
        draws, start = _gram_sampler.draw_training(prob, seed, runs, workers)
        scales = None
    else:
        draws, task_scale, sigma, start = model.kernel_inputs(prob, sampling.draw_training(prob, seed, runs, workers),
                                                              seed, runs)
        scales = (task_scale, sigma)
    want_delta = method == "protocol" or model.exact_needs_omega
    dist2, delta = solve(prob, draws, alpha_ts, want_delta=want_delta, start=start, scales=scales)
    del draws
    alpha_rs = np.asarray(alpha_rs, dtype=float)
    if method == "exact":
        # a loss beyond the largest double is left as inf (no numpy warning): the estimate refuses it, naming why
        with np.errstate(over="ignore", invalid="ignore"):
            return model.exact_losses(prob, delta if model.exact_needs_omega else dist2, alpha_rs, seed, runs,
                                      n_test_tasks)
    if gram:
        test = _gram_sampler.draw_test(prob, seed, runs, n_test_tasks, n_test_points, workers)
        delta = _gram_sampler.pad_delta(delta)
        task_scale, sigma = model.task_scale(prob), prob.sigma
    else:
        test, task_scale, sigma = model.test_kernel_inputs(
            prob, sampling.draw_test(prob, seed, runs, n_test_tasks, n_test_points, workers, sampler=test_sampler),
            seed, runs)
    out = np.empty((len(runs), len(alpha_ts), len(alpha_rs)))
    if test_sampler == "projected":
        _kernels.protocol_losses_projected(delta, test["g"], test["chi2"], test["vv"], test["rest_r"], test["b_r"],
                                           test["gg"], test["rest_te"], test["b_te"], prob.n_r, n_test_points,
                                           task_scale, sigma, alpha_rs, out)
    else:
        _kernels.protocol_losses(delta, test["g"], test["X_r"], test["e_r"], test["X_te"], test["e_te"],
                                 task_scale, sigma, alpha_rs, out)
    return out
