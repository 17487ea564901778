"""Cost model of a simulation: memory per chunk, total work, refusal before allocating.

The Monte Carlo engine (:func:`linmeta._sim.engine.run_losses`) works in chunks
of runs.  A chunk holds

* the standard-normal draws of its runs (training tasks, and test tasks for
  ``method="protocol"``),
* ``omega* - w0`` for every run and training rate, and the per-run losses,

and every Numba thread meta-trains one run at a time with its own work
arrays: the stacked ``k x p`` systems (``k = n_v m``) and the Gram blocks
(``min(k, p)`` square) with their temporaries; no ``p x p`` matrix exists
when ``p > k``.
Over-parameterised problems with ``p`` well above the number of Gaussian rows
of a run are drawn from sufficient statistics instead (:func:`gram_route`,
:mod:`linmeta._sim.gram_sampler`): every size above then counts ``n + 1``
coordinates in place of ``p``.
The per-run losses of the whole simulation (``n_runs x A x B`` values, kept in
:attr:`linmeta.Estimate.values`) are held in memory until the end.

:func:`plan` checks all of this against the memory available *before*
anything is allocated, picks a chunk size that fits, and refuses work that
cannot fit with a ``ValueError`` naming the sizes and the estimate in GB.

Examples
--------
>>> import linmeta as lm
>>> pl = plan(lm.presets.FIG3, n_runs=100)
>>> pl.chunk >= 1, pl.seconds < 60
(True, True)
>>> plan(lm.presets.FIG2.replace(p=10**8), n_runs=10).chunk_bytes < 1e8   # sufficient statistics: no p-vector
True
>>> plan(lm.presets.FIG2.replace(p=10**8), n_runs=10, route="direct")
Traceback (most recent call last):
...
ValueError: cannot simulate p=100000000, m=3, n_t=30, n_v=2, n_r=20 (method='exact'): one run needs about ... GB (kernel
work arrays of about 16.0 GB per thread: the k x p systems and the Gram blocks of side min(k, p), k = n_v*m = 6; draws
of 80.0 GB per run), but about ... GB of memory is available; reduce p
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numba

from linmeta._model import layout_doubles, model_of, test_sampler_for
from linmeta._sim import gram_sampler
from linmeta._sim.kernels import factored_under
from linmeta._sim.kernels_variants import POLY_DOUBLES, poly_cheaper, poly_doubles
from linmeta.algorithms._registry import INNER_MAPS, uses_one_step_kernel

__all__ = ["Plan", "available_bytes", "check_vectors_fit", "PROBLEM_VECTORS", "thread_doubles", "draw_doubles",
           "run_doubles", "run_flops", "factored_under", "plan", "describe_time", "FLOPS_PER_THREAD",
           "SECONDS_PER_DRAW",
           "CHUNK_DOUBLES", "MEMORY_SHARE", "RESULTS_LIMIT", "gram_route", "ROUTES", "GRAM_FACTOR"]

#: target size of one chunk's draws (doubles): about 32 MB
CHUNK_DOUBLES = 4_000_000
#: assumed throughput of the BLAS-backed kernels per thread (floating-point operations per second);
#: measured at about 1e10 on one core of a 2020s x86 machine at p >= 120, less at small sizes, so
#: estimates are good to a factor of a few
FLOPS_PER_THREAD = 5e9
#: assumed cost of one standard-normal draw per thread (seconds)
SECONDS_PER_DRAW = 1e-8
#: share of the available memory a simulation may plan to use
MEMORY_SHARE = 0.8
#: largest array of per-run results allocated up front (bytes); the per-run values are kept (Estimate.values)
RESULTS_LIMIT = 2**30
#: print an estimate before work expected to take longer than this (seconds)
ANNOUNCE_SECONDS = 60.0
#: length-p vectors a Problem holds or derives (w0, omega0, omega0 - w0)
PROBLEM_VECTORS = 3
#: below this many bytes of problem vectors the memory available is not read (it cannot matter)
_SMALL_VECTORS = 2**28
_GB = 1e9
#: how the meta-training draws are made: chosen by cost, the direct sampler, or the sufficient statistics
ROUTES = ("auto", "direct", "gram")
#: the sufficient-statistic route is taken from ``p >= GRAM_FACTOR (n + 1)`` (``n = m (1 + n_t + n_v)`` rows):
#: its draws (``n (n + 3) / 2``) are then at least 4x fewer than the direct sampler's (about ``n p``), and its
#: kernels work in ``n + 1`` coordinates instead of ``p``; FIG2 (``p = 60``, ``n + 1 = 100``) stays direct
GRAM_FACTOR = 2


def gram_route(prob, method="exact", test_sampler="projected", route="auto") -> bool:
    """Whether the meta-training draws come from sufficient statistics (:mod:`linmeta._sim.gram_sampler`).

    Only over-parameterised problems (``p > n_v m``) of an isotropic task
    model (the representation relies on rotation invariance), and not with the
    full protocol test sampler (it draws every input in ``p`` coordinates).
    ``route="auto"``: when ``p >= GRAM_FACTOR (n + 1)``; ``"direct"`` /
    ``"gram"`` force the choice (``"gram"`` where it is valid: ``p > n + 1``).

    Examples
    --------
    >>> import linmeta as lm
    >>> gram_route(lm.presets.FIG2), gram_route(lm.presets.FIG2.replace(p=10**6)), gram_route(lm.presets.FIG3)
    (False, True, False)
    """
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}; got {route!r}")
    n1 = prob.m * (1 + prob.n_t + prob.n_v) + 1
    valid = (prob.p > prob.k and prob.p > n1 and not (method == "protocol" and test_sampler == "full")
             and model_of(prob).isotropic)  # the representation needs rotation invariance
    if route == "direct" or not valid:
        if route == "gram":
            raise ValueError(f"route='gram' needs p > n_v*m, p > m (1 + n_t + n_v) + 1 = {n1}, an isotropic task model "
                             f"and not the full protocol test sampler; got p={prob.p}, n_v*m={prob.k}, "
                             f"method={method!r}, test_sampler={test_sampler!r}")
        return False
    return route == "gram" or prob.p >= GRAM_FACTOR * n1


def _coords(prob, method="exact", test_sampler="projected", route="auto"):
    """Return the number of coordinates the kernels work in: ``p``, or ``n + 1`` on the sufficient-statistic route."""
    if gram_route(prob, method, test_sampler, route):
        return prob.m * (1 + prob.n_t + prob.n_v) + 1
    return prob.p


@dataclass(frozen=True)
class Plan:
    """What a simulation will cost.

    Attributes
    ----------
    chunk : int
        Runs per chunk (memory only: results do not depend on it).
    chunk_bytes : float
        Memory one chunk needs, the threads' work arrays included.
    total_bytes : float
        ``chunk_bytes`` plus the per-run losses kept for the whole simulation.
    seconds : float
        Estimated compute time (rough: see :data:`FLOPS_PER_THREAD`).
    """

    chunk: int
    chunk_bytes: float
    total_bytes: float
    seconds: float


def available_bytes() -> float:
    """Memory available to this process now, in bytes.

    ``psutil.virtual_memory().available`` when psutil is installed, else
    ``MemAvailable`` of ``/proc/meminfo``, else ``os.sysconf`` available pages;
    ``inf`` if none of them can be read.
    """
    try:
        import psutil  # noqa: PLC0415  (optional dependency)

        return float(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def check_vectors_fit(p, available=None) -> None:
    """Refuse a dimension ``p`` whose problem vectors cannot fit in memory, before allocating them.

    A :class:`~linmeta.Problem` holds ``w0`` and ``omega0`` and derives
    ``omega0 - w0``: :data:`PROBLEM_VECTORS` vectors of ``p`` doubles.  They
    must fit in :data:`MEMORY_SHARE` of the memory available (read only when
    they need more than 256 MB).

    Examples
    --------
    >>> check_vectors_fit(10**6)
    >>> check_vectors_fit(10**9, available=8e9)
    Traceback (most recent call last):
    ...
    ValueError: p=1000000000 needs about 24.0 GB for the problem's vectors (w0, omega0 and omega0 - w0, p doubles each),
    but about 6.4 GB of memory is available; p must be <= 266666666 here
    """
    need = 8.0 * PROBLEM_VECTORS * p
    if need <= _SMALL_VECTORS and available is None:
        return
    share = MEMORY_SHARE * (available_bytes() if available is None else float(available))
    if need > share:
        raise ValueError(
            f"p={p} needs about {need / _GB:.1f} GB for the problem's vectors (w0, omega0 and omega0 - w0, "
            f"p doubles each), but about {share / _GB:.1f} GB of memory is available; "
            f"p must be <= {int(share // (8 * PROBLEM_VECTORS))} here")


def thread_doubles(prob, method="exact", test_sampler="projected", route="auto") -> float:
    """Work arrays one thread allocates to meta-train one run (doubles).

    Two stacked ``k x p`` systems (``P`` and ``Q``, or ``Z`` and its
    residual), for N-step and first-order MAML up to ``POLY_DOUBLES`` of
    products built once for every ``alpha_t``, about six Gram-sized (``min(k, p)`` square) matrices with
    temporaries, and the per-task ``n_t x n_t`` / ``n_v x n_t`` blocks; no
    ``p x p`` matrix when ``p > k``.  An upper bound when the
    under-parameterised blocks go through the task factors
    (:func:`factored_under`: two ``m n_t x p`` arrays, no ``Q``).
    """
    p, k, m, n_t, n_v = _coords(prob, method, test_sampler, route), prob.k, prob.m, prob.n_t, prob.n_v
    s = min(k, p)
    out = 2.0 * k * p + 6.0 * s * s + m * (n_t * n_t + n_v * n_t) + 8.0 * (p + k)
    record, one_step = _algorithm(prob)
    if record.polynomial and not one_step:
        # the products the N-step kernel may build once per run for all rates
        out += min(POLY_DOUBLES, poly_doubles(p, m, n_t, n_v, prob.n_steps, not record.gram, p > k))
    return out


def draw_doubles(prob, method="exact", n_test_tasks=100, n_test_points=50, test_sampler="projected",
                 route="auto") -> int:
    """Standard-normal draws of one run (doubles): the sizes of the task model's layouts.

    On the sufficient-statistic route: the sampler's layout (the Bartlett
    factor and ``z``, ``n (n + 3) / 2``, and the noise), the rows built from
    them (``n (n + 1)``) and, for the protocol, ``n + 10`` numbers per test task.
    """
    test_sampler = test_sampler_for(prob, test_sampler)
    if gram_route(prob, method, test_sampler, route):
        n = gram_sampler.gram_rows(prob)
        d = layout_doubles(gram_sampler.train_layout(prob, 1)) + n * (n + 1)
        if method == "protocol":  # and the coordinate appended to each test task
            d += layout_doubles(gram_sampler.test_layout(prob, 1, n_test_tasks)) + n_test_tasks
        return d
    model = model_of(prob)
    d = layout_doubles(model.train_layout(prob, 1)) + model.sampler_doubles(prob, method, n_test_tasks)
    if method == "protocol" and test_sampler == "full":
        d += layout_doubles(model.test_layout(prob, 1, n_test_tasks, n_test_points))
    elif method == "protocol":
        d += layout_doubles(model.projected_test_layout(prob, 1, n_test_tasks, n_test_points))
    return d


def run_doubles(prob, method="exact", n_test_tasks=100, n_test_points=50, test_sampler="projected",
                n_alpha_t=1, n_alpha_r=1, route="auto") -> float:
    """Draws and per-run results one run holds inside a chunk (doubles)."""
    d = float(draw_doubles(prob, method, n_test_tasks, n_test_points, test_sampler, route))
    p = _coords(prob, method, test_sampler, route)
    return d + n_alpha_t * (p + 2.0) + 2.0 * n_alpha_t * n_alpha_r


def run_flops(prob, method="exact", n_test_tasks=100, n_test_points=50, test_sampler="projected",
              n_alpha_t=1, n_alpha_r=1, route="auto") -> float:
    """Floating-point operations of one run (leading terms; ``p`` is ``n + 1`` on the sufficient-statistic route)."""
    test_sampler = test_sampler_for(prob, test_sampler)
    p, k = float(_coords(prob, method, test_sampler, route)), float(prob.k)
    s = min(k, p)
    steps = prob.n_steps
    record, one_step = _algorithm(prob)
    build = 2 * k * prob.n_t * p + 3 * k * p * s          # X_v X_t^T X_t and the three Gram blocks
    if p <= k and one_step and factored_under(prob.p, prob.m, prob.n_t, prob.n_v):  # p <= k: never the gram route
        n_t, n_v, m = prob.n_t, prob.n_v, prob.m
        build = 2 * k * n_t * p + k * p * p + 2 * m * (n_t * n_t * (n_v + p) + 2 * n_t * p * p)
    per_rate = s**3 / 3 + 4 * k * p                        # a Cholesky factorisation and the solve
    if not one_step and _poly(prob, int(p), n_alpha_t):   # products once, combined per rate (_kernels_variants)
        N, mt = steps, prob.m * prob.n_t
        if p > k:
            build += N * k * prob.n_t * p + ((N + 1) * k) ** 2 * p
            per_rate += (N + 1) ** 2 * k * k
        else:
            build += k * p * p + (2 * N + 2 * N - 1) * mt * p * p
            per_rate += (3 * N - 1) * p * p
    elif not one_step:                                     # rebuilt for every rate: N products, one Gram
        per_rate += steps * 2 * k * prob.n_t * p + k * p * s
    flops = build + n_alpha_t * per_rate
    if method == "protocol":
        points = prob.n_r + n_test_points
        per_task = points * p * (1 if test_sampler == "full" else 0) + points * n_alpha_t * n_alpha_r + p * n_alpha_t
        flops += n_test_tasks * per_task
    return flops


def _poly(prob, p, n_alpha_t):
    """Whether the variant kernels build their products once for all rates (:func:`.kernels_variants.poly_cheaper`)."""
    record = _algorithm(prob)[0]
    return record.polynomial and poly_cheaper(p, prob.m, prob.n_t, prob.n_v, prob.n_steps, n_alpha_t,
                                              not record.gram, p > prob.k)


def _algorithm(prob):
    """Return the algorithm's record (:mod:`linmeta.algorithms`) and whether it runs the one-step kernel."""
    return INNER_MAPS[prob.algorithm], uses_one_step_kernel(prob)


def _sizes(prob):
    return f"p={prob.p}, m={prob.m}, n_t={prob.n_t}, n_v={prob.n_v}, n_r={prob.n_r}"


def plan(prob, n_runs, method="exact", *, n_test_tasks=100, n_test_points=50, test_sampler="projected",
         n_alpha_t=1, n_alpha_r=1, chunk_size=None, threads=None, available=None, route="auto") -> Plan:
    """Check that a simulation fits in memory and choose its chunk size, before allocating anything.

    Parameters
    ----------
    prob : Problem
    n_runs : int
    method, n_test_tasks, n_test_points, test_sampler
        As in :func:`linmeta.simulate`.
    n_alpha_t, n_alpha_r : int, default=1
        Training and adaptation rates evaluated per run (common random numbers).
    chunk_size : int, optional
        Requested runs per chunk; reduced if it does not fit.
    threads : int, optional
        Numba threads (default: the current setting).
    available : float, optional
        Bytes of memory available (default: :func:`available_bytes`).
    route : {"auto", "direct", "gram"}, default="auto"
        How the meta-training draws are made (:func:`gram_route`).

    Returns
    -------
    Plan

    Raises
    ------
    ValueError
        If one run (with every thread's work arrays) or the per-run results of
        the whole simulation do not fit in :data:`MEMORY_SHARE` of the memory
        available, or the per-run results exceed :data:`RESULTS_LIMIT`.
    """
    threads = numba.get_num_threads() if threads is None else int(threads)
    test_sampler = test_sampler_for(prob, test_sampler)
    available = MEMORY_SHARE * (available_bytes() if available is None else float(available))
    kw = dict(method=method, n_test_tasks=n_test_tasks, n_test_points=n_test_points, test_sampler=test_sampler,
              n_alpha_t=n_alpha_t, n_alpha_r=n_alpha_r, route=route)
    per_run = 8.0 * run_doubles(prob, **kw)
    tw = 8.0 * thread_doubles(prob, method, test_sampler, route)
    work = tw * min(threads, n_runs)
    results = 8.0 * n_runs * n_alpha_t * n_alpha_r
    one = per_run + work
    if results > RESULTS_LIMIT:
        raise ValueError(
            f"cannot simulate n_runs={n_runs} of {_sizes(prob)}: the per-run losses alone need about "
            f"{results / _GB:.1f} GB (n_runs x {n_alpha_t} x {n_alpha_r} values, kept in Estimate.values), more than "
            f"the {RESULTS_LIMIT / _GB:.1f} GB allowed up front; reduce n_runs")
    if one + results > available:
        if one > available:
            raise ValueError(
                f"cannot simulate {_sizes(prob)} (method={method!r}): one run needs about {one / _GB:.1f} GB "
                f"(kernel work arrays of about {tw / _GB:.1f} GB per thread: the k x p systems "
                f"and the Gram blocks of side min(k, p), k = n_v*m = {prob.k}; "
                f"draws of {per_run / _GB:.1f} GB per run), "
                f"but about {available / _GB:.1f} GB of memory is available; reduce p")
        raise ValueError(
            f"cannot simulate n_runs={n_runs} of {_sizes(prob)}: the per-run losses alone need about "
            f"{results / _GB:.1f} GB (n_runs x {n_alpha_t} x {n_alpha_r} values, kept in Estimate.values), "
            f"but about {available / _GB:.1f} GB of memory is available; reduce n_runs")
    # at least one run per thread (a chunk is the unit the threads share), a whole number of runs per thread
    draws = draw_doubles(prob, method, n_test_tasks, n_test_points, test_sampler, route)
    default = max(1, CHUNK_DOUBLES // draws)
    default = max(threads, default - default % threads)
    chunk = default if chunk_size is None else int(chunk_size)
    fit = max(1, int((available - work - results) // per_run))
    chunk = max(1, min(chunk, fit, n_runs))
    per_run_seconds = run_flops(prob, **kw) / FLOPS_PER_THREAD + SECONDS_PER_DRAW * draws
    seconds = n_runs * per_run_seconds / max(1, min(threads, n_runs))
    return Plan(chunk, chunk * per_run + work, chunk * per_run + work + results, seconds)


def describe_time(seconds) -> str:
    """``seconds`` as a short human-readable duration.

    >>> describe_time(42), describe_time(5400), describe_time(3e7)
    ('42 s', '90 min', '347 days')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
