"""Monte Carlo estimates of the average meta-test loss (docs: theory, §2, §7).

Two estimators of the same quantity, sharing the meta-training draws:

* ``method="exact"``: meta-train on fresh data, then the exact expectation of
  the test side given ``omega*`` (docs: theory, T0).  Low variance.
* ``method="protocol"``: the paper's protocol; meta-train on fresh data, then
  score on sampled test tasks (default 100 tasks, ``n_r`` adaptation points,
  50 test points).  By default (``test_sampler="projected"``) each test task
  draws only the statistics of its inputs that the score depends on, which
  have the protocol's distribution exactly and cost ``p + 7`` numbers
  instead of ``p + (n_r + n_te)(p + 1)``; ``test_sampler="full"`` draws
  every input (see :func:`linmeta._sim.kernels.protocol_losses_projected`).

Run ``i`` draws from streams addressed by ``(seed, i)`` only
(:mod:`linmeta._sim.rng`), and every kernel writes per-run slots that are reduced
afterwards in a fixed order: a seed fixes every number, bit for bit, whatever
the thread count, chunk size or executor.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from scipy import special
from tqdm.auto import tqdm

from linmeta._sim import budget as _budget
from linmeta._sim.engine import run_losses
from linmeta._sim.rng import check_seed
from linmeta._tidy import curve_table
from linmeta._validation import check_int, check_real
from linmeta.errors import NonFiniteResultError
from linmeta.inner_maps import check_curve_field
from linmeta.loss import h
from linmeta.moments import warn_if_infinite_moments
from linmeta.problem import RATE_FIELDS

if TYPE_CHECKING:
    import pandas as pd

    from linmeta.problem import Problem

__all__ = ["Estimate", "simulate", "simulate_curve", "estimated_seconds", "METHODS"]

METHODS = ("exact", "protocol")
TEST_SAMPLERS = ("projected", "full")


@dataclass(frozen=True, eq=False)
class Estimate:
    """A Monte Carlo estimate of the average test loss.

    Estimates compare by value (every attribute, the per-run ``values``
    included; NaN equals NaN).

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
    losses : ndarray of shape (n_runs,) or None
        The per-run losses when asked for (``simulate(..., return_losses=True)``),
        in run order; ``None`` otherwise.

    Examples
    --------
    >>> import linmeta as lm
    >>> a = lm.Estimate.from_values([1.0, 2.0, 3.0], seed=0, method="exact")
    >>> a == lm.Estimate.from_values([1.0, 2.0, 3.0], seed=0, method="exact")
    True
    >>> a.to_dict()
    {'mean': 2.0, 'stderr': 0.5773502691896258, 'n_runs': 3, 'seed': 0, 'method': 'exact'}
    >>> [round(x, 4) for x in a.ci(0.95)]
    [0.8684, 3.1316]
    """

    mean: float
    stderr: float
    n_runs: int
    seed: int
    method: str = "exact"
    values: np.ndarray = field(default=None, repr=False)
    losses: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_values(cls, values: ArrayLike, seed: int, method: str) -> Estimate:
        """Summarise per-run losses ``values``: their mean and its standard error (NaN for one run)."""
        values = np.asarray(values, dtype=float)
        n = values.shape[0]
        stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        return cls(float(values.mean()), stderr, n, seed, method, values)

    def __eq__(self, other):
        """Compare all fields; NaN equals NaN, so an estimate equals itself."""
        if not isinstance(other, Estimate):
            return NotImplemented
        same = lambda a, b: a == b or (a != a and b != b)  # noqa: E731  (NaN == NaN)
        if self.values is None or other.values is None:
            arrays = self.values is None and other.values is None
        else:
            arrays = np.array_equal(self.values, other.values, equal_nan=True)
        if self.losses is None or other.losses is None:
            arrays = arrays and self.losses is None and other.losses is None
        else:
            arrays = arrays and np.array_equal(self.losses, other.losses, equal_nan=True)
        return (same(self.mean, other.mean) and same(self.stderr, other.stderr) and self.n_runs == other.n_runs
                and self.seed == other.seed and self.method == other.method and arrays)

    __hash__ = None

    def to_dict(self) -> dict:
        """Return the scalar attributes (``mean, stderr, n_runs, seed, method``) as a dict; no per-run values."""
        return {"mean": self.mean, "stderr": self.stderr, "n_runs": self.n_runs, "seed": self.seed,
                "method": self.method}

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Normal-approximation confidence interval ``mean ± z stderr`` at ``level``.

        Parameters
        ----------
        level : float, default=0.95
            Coverage, strictly between 0 and 1.

        Returns
        -------
        tuple of float
            ``(low, high)``.
        """
        level = check_real(level, "level", min_val=0, strict=True)
        if not level < 1:
            raise ValueError(f"level must be a real number in (0, 1); got {level!r}")
        z = float(special.ndtri(0.5 + level / 2))
        return (self.mean - z * self.stderr, self.mean + z * self.stderr)

    def __str__(self):
        """Return the mean, its standard error and how it was made, on one line."""
        return f"{self.mean:.6g} ± {self.stderr:.2g} (1 SE; {self.n_runs} runs, seed {self.seed}, {self.method})"


def check_method(method):
    """Return ``method`` if it is one of :data:`METHODS`, else raise ``ValueError``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    return method


def _check_test_sampler(test_sampler):
    if test_sampler not in TEST_SAMPLERS:
        raise ValueError(f"test_sampler must be one of {TEST_SAMPLERS}; got {test_sampler!r}")
    return test_sampler


def estimated_seconds(prob, n_runs=1000, method="exact", *, n_test_tasks=100, n_test_points=50,
                      test_sampler="projected", n_values=1):
    """Rough compute time of :func:`simulate` (or a curve over ``n_values`` rates), in seconds.

    Also checks that the work fits in memory (see :func:`linmeta._sim.budget.plan`).

    Parameters
    ----------
    prob : Problem
    n_runs, method, n_test_tasks, n_test_points, test_sampler
        As in :func:`simulate`.
    n_values : int, default=1
        Training rates evaluated per run.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If one run or the per-run results cannot fit in the memory available.

    Examples
    --------
    >>> import linmeta as lm
    >>> lm.estimate.estimated_seconds(lm.presets.FIG3, 1000) < 60
    True
    """
    return _budget.plan(prob, n_runs, method, n_test_tasks=n_test_tasks, n_test_points=n_test_points,
                        test_sampler=test_sampler, n_alpha_t=n_values).seconds


def losses_over_runs(prob, n_runs, seed, alpha_ts, alpha_rs, method, n_test_tasks, n_test_points,
                     chunk_size, progress, desc, test_sampler="projected"):
    """Per-run losses of runs ``0..n_runs-1`` on the grid ``alpha_ts x alpha_rs``: (n_runs, A, B).

    Chunked :func:`run_losses`; checks first (:func:`linmeta._sim.budget.plan`)
    that a chunk and the results fit in memory, and refuses otherwise.  Inputs
    are assumed validated.
    """
    if chunk_size is not None:
        chunk_size = check_int(chunk_size, "chunk_size", min_val=1)
    # refuse before allocating anything: one run, and the per-run results, must fit in memory
    pl = _budget.plan(prob, n_runs, method, n_test_tasks=n_test_tasks, n_test_points=n_test_points,
                      test_sampler=test_sampler, n_alpha_t=len(alpha_ts), n_alpha_r=len(alpha_rs),
                      chunk_size=chunk_size)
    chunk = pl.chunk
    if progress and pl.seconds > _budget.ANNOUNCE_SECONDS:
        tqdm.write(f"{desc}: about {_budget.describe_time(pl.seconds)} estimated for {n_runs} runs of "
                   f"p={prob.p}, m={prob.m}, n_v={prob.n_v}")
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
    return (check_int(n_runs, "n_runs", min_val=1), check_seed(seed), check_method(method),
            check_int(n_test_tasks, "n_test_tasks", min_val=1), check_int(n_test_points, "n_test_points", min_val=1))


def simulate(prob: Problem, n_runs: int = 1000, seed: int = 0, method: str = "exact", *, n_test_tasks: int = 100,
             n_test_points: int = 50, test_sampler: str = "projected", chunk_size: int | None = None,
             progress: bool | None = None, return_losses: bool = False) -> Estimate:
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
        (docs: theory, T0, T0g); ``"protocol"`` samples it as in the paper.
    n_test_tasks, n_test_points : int, default=100, 50
        Protocol: test tasks per run and test points per task.  With a
        user's task sampler (``Problem(tasks=...)``) the exact method also
        averages the exact per-task loss over ``n_test_tasks`` sampled test
        tasks (an unbiased estimate of the run's loss whose sampling error
        the standard error covers; docs: theory, M4).
    test_sampler : {"projected", "full"}, default="projected"
        Protocol only: draw each test task's inputs through the statistics
        the score depends on (same distribution, far fewer draws) or in full.
        The projected sampler needs the paper's isotropic model; other task
        models always use the full one.
    chunk_size : int, optional
        Runs per chunk (memory only; results do not depend on it).  Reduced
        if a chunk would not fit in the memory available.
    progress : bool, optional
        Progress bar; by default shown only on a terminal.  With
        ``progress=True`` the estimated time is printed first when it exceeds
        about a minute (see :func:`estimated_seconds`).
    return_losses : bool, default=False
        Keep the per-run losses on the result as ``Estimate.losses`` (an
        array of ``n_runs`` losses in run order; ``None`` otherwise).  They
        are the numbers the mean and standard error are computed from, e.g.
        for a test that needs more than the first two moments.

    Returns
    -------
    Estimate

    Raises
    ------
    ValueError
        Bad input (naming the parameter), or sizes that cannot fit: before
        allocating anything, the memory of one run (the kernels' ``p x p`` and
        ``n_v m x p`` work arrays per thread, and the draws) and of the per-run
        results is compared with the memory available; the message names the
        sizes and the estimate in GB.
    NonFiniteResultError
        If the mean or the standard error is not a finite number (e.g. the
        loss overflows double precision at a very large rate); the message
        names the parameter and the cause.  A single run has a ``nan``
        standard error, which is not an error.

    Warns
    -----
    InfiniteMomentWarning
        If the average loss or its variance is infinite
        (:func:`linmeta.moments.infinite_moment`): the mean does not converge
        or its standard error is meaningless.  Next to the interpolation
        threshold (``|p - n_v m| - 1 <= 0`` for the mean, ``<= 2`` for the
        variance); for first-order MAML at any ``alpha_t != 0`` with ``m >= 2``
        and at ``alpha_t > 0`` with an odd ``n_steps``; for MAML at
        ``alpha_t > 0`` with one task under-parameterised, or with
        ``n_v > p - 1 + 1/n_steps`` and few tasks (:mod:`linmeta.moments`).

    Examples
    --------
    >>> import linmeta as lm
    >>> est = lm.simulate(lm.presets.FIG3, n_runs=200, seed=0)
    >>> est.n_runs, est.seed, est.method
    (200, 0, 'exact')
    >>> 0.02 < est.mean < 0.05
    True

    With ``return_losses=True`` the per-run losses come with it:

    >>> runs = lm.simulate(lm.presets.FIG3, n_runs=200, seed=0, return_losses=True)
    >>> runs.losses.shape, bool(runs.losses.mean() == est.mean), est.losses is None
    ((200,), True, True)

    References
    ----------
    docs: theory, §2 (MAML1), T0, §7.
    """
    n_runs, seed, method, n_test_tasks, n_test_points = _check_common(n_runs, seed, method, n_test_tasks, n_test_points)
    test_sampler = _check_test_sampler(test_sampler)
    if not isinstance(return_losses, (bool, np.bool_)):
        raise ValueError(f"return_losses must be True or False; got {return_losses!r}")
    warn_if_infinite_moments(prob, stacklevel=3)
    est = _simulate(prob, n_runs, seed, method, n_test_tasks, n_test_points, test_sampler, chunk_size, progress)
    return replace(est, losses=est.values) if return_losses else est


def _simulate(prob, n_runs, seed, method, n_test_tasks, n_test_points, test_sampler, chunk_size, progress):
    losses = losses_over_runs(prob, n_runs, seed, [prob.alpha_t], [prob.alpha_r], method, n_test_tasks,
                               n_test_points, chunk_size, progress, "simulate", test_sampler)
    return finite_estimate(losses[:, 0, 0], seed, method, prob, prob.alpha_t, prob.alpha_r)


def finite_estimate(values, seed, method, prob, alpha_t, alpha_r):
    """:meth:`Estimate.from_values`, or :class:`NonFiniteResultError` if its mean or standard error is not finite.

    A single run has no standard error (``nan``), which is not an error.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf in the standard deviation: refused below
        est = Estimate.from_values(values, seed, method)
    if math.isfinite(est.mean) and (est.n_runs < 2 or math.isfinite(est.stderr)):
        return est
    raise non_finite_error(values, prob, alpha_t, alpha_r)


def non_finite_error(values, prob, alpha_t, alpha_r):
    """Return the :class:`NonFiniteResultError` for per-run losses ``values`` at ``(alpha_t, alpha_r)``.

    Their mean or standard error is not finite; the error names the cause.
    """
    values = np.asarray(values, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        # T0: the loss is sigma^2/2 (1 + alpha_r^2 p / n_r) + h_r/2 (nu^2 + |omega* - w0|^2): the rate's factors
        noise = 1 + np.float64(alpha_r) ** 2 * prob.p / prob.n_r    # times sigma^2 where the problem has one sigma
        coefficients = (noise if prob.sigma is None else prob.sigma**2 * noise, h(alpha_r, prob.p, prob.n_r))
    if not np.all(np.isfinite(coefficients)):
        return NonFiniteResultError(
            "alpha_r", alpha_r, "the test loss overflows double precision at this rate (h_r = (1 - alpha_r)^2 + "
            "alpha_r^2 (p + 1)/n_r is beyond the largest double)")
    bad = int(np.count_nonzero(~np.isfinite(values)))
    at = f"alpha_t={alpha_t!r}, alpha_r={alpha_r!r}"
    if bad:
        return NonFiniteResultError(
            None, None, f"{bad} of {values.size} runs give a non-finite test loss at {at}: |omega* - w0|^2 or the "
            "loss overflows double precision (a rate this large, or a singular meta-training system)")
    return NonFiniteResultError(
        None, None, f"the per-run test losses at {at} are finite (largest {np.max(np.abs(values)):.3g}) but their "
        "mean or standard error overflows double precision")


def simulate_curve(prob: Problem, name: str, values: Sequence[float] | ArrayLike, n_runs: int = 1000, seed: int = 0,
                   method: str = "exact", *, n_test_tasks: int = 100, n_test_points: int = 50,
                   test_sampler: str = "projected", chunk_size: int | None = None,
                   progress: bool | None = None) -> pd.DataFrame:
    """Estimate the test loss along one parameter.

    For the rates ``alpha_t`` and ``alpha_r`` the curve uses common random
    numbers: the draws are made once and every value is evaluated on the same
    meta-training and test sets, so the curve is smooth and differences
    between values are precise.  Any other field is simulated value by value
    with the same seed; for ``sigma``, ``nu``, ``w0`` or ``omega0`` the
    standard-normal draws are still shared, but a size (``p``, ``m``, ``n_t``,
    ``n_v``, ``n_r``) changes the shape of every draw, so the values of a size
    curve are statistically independent.

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
        One row per value in linmeta's one table layout (that of
        :func:`linmeta.sweep` and the figure CSVs): the problem's scalar
        fields (``p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r,
        algorithm, n_steps, lam``), ``w0_norm``, ``start_distance``, then
        ``mean, stderr, n_runs, seed, method``.  The varied parameter is the
        column whose values vary.

    Raises
    ------
    ValueError, NonFiniteResultError
        As in :func:`simulate`, for any value.

    Warns
    -----
    InfiniteMomentWarning
        As in :func:`simulate`, for any value whose problem has an infinite
        mean or variance.

    Examples
    --------
    >>> import linmeta as lm
    >>> t = lm.simulate_curve(lm.presets.FIG3, "alpha_t", [-0.5, 0.0, 0.5], n_runs=100)
    >>> t["alpha_t"].tolist(), list(t.columns[-5:])
    ([-0.5, 0.0, 0.5], ['mean', 'stderr', 'n_runs', 'seed', 'method'])
    """
    n_runs, seed, method, n_test_tasks, n_test_points = _check_common(n_runs, seed, method, n_test_tasks, n_test_points)
    test_sampler = _check_test_sampler(test_sampler)
    values = list(np.atleast_1d(np.asarray(values, dtype=object)))
    if not values:
        raise ValueError("values must contain at least one value; got an empty sequence")
    problems = [prob.replace(**{name: v}) for v in values]  # validates every value, names the field
    check_curve_field(prob, name, [getattr(q, name) for q in problems])
    for q in problems:
        warn_if_infinite_moments(q, stacklevel=3)
    if name in RATE_FIELDS:
        rates = [getattr(q, name) for q in problems]
        alpha_ts = rates if name == "alpha_t" else [prob.alpha_t]
        alpha_rs = rates if name == "alpha_r" else [prob.alpha_r]
        losses = losses_over_runs(prob, n_runs, seed, alpha_ts, alpha_rs, method, n_test_tasks, n_test_points,
                                   chunk_size, progress, f"curve {name}", test_sampler)
        per_value = losses[:, :, 0].T if name == "alpha_t" else losses[:, 0, :].T
        ests = [finite_estimate(v, seed, method, prob, *((r, prob.alpha_r) if name == "alpha_t" else (prob.alpha_t, r)))
                for v, r in zip(per_value, rates, strict=True)]
    else:
        ests = [_simulate(q, n_runs, seed, method, n_test_tasks, n_test_points, test_sampler, chunk_size, progress)
                for q in problems]
    return curve_table(problems, [e.mean for e in ests], [e.stderr for e in ests], n_runs, seed, method)
