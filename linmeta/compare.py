"""Two problems on the same draws: paired differences and how often one beats the other.

Runs with the same seed draw the same tasks and data for every algorithm and rate
(the draws depend only on the sizes and the task model), so two problems that
differ in the algorithm, a rate, ``sigma``, ``nu`` or ``w0`` are compared run by
run: the paired difference has a far smaller standard error than two independent
estimates, and "how often is A below B" is a binomial count with an exact interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from linmeta.estimate import Estimate, simulate
from linmeta.problem import Problem

__all__ = ["Comparison", "compare"]

#: the fields that fix the draws: two problems are paired only if they agree on these
_PAIRING_FIELDS = ("p", "m", "n_t", "n_v", "n_r")


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` on the same runs.

    Attributes
    ----------
    a, b : Estimate
        The two simulations, per-run losses kept (``.losses``).
    difference, stderr : float
        Mean of the per-run differences ``a - b`` and its standard error (``ddof=1``).
    wins : int
        Runs in which ``a``'s loss is below ``b``'s.
    """

    a: Estimate
    b: Estimate
    difference: float
    stderr: float
    wins: int

    @property
    def n_runs(self) -> int:
        """Number of paired runs."""
        return self.a.n_runs

    @property
    def win_fraction(self) -> float:
        """Fraction of runs in which ``a`` is below ``b``."""
        return self.wins / self.n_runs

    def win_ci(self, level: float = 0.95) -> tuple[float, float]:
        """Clopper-Pearson interval of the probability that ``a`` is below ``b`` in a run (exact, conservative).

        Examples
        --------
        >>> import linmeta as lm
        >>> c = lm.compare(lm.presets.FIG3, lm.presets.FIG3.replace(algorithm="erm"), n_runs=200, seed=0)
        >>> lo, hi = c.win_ci()
        >>> bool(lo <= c.win_fraction <= hi)
        True
        """
        if not (isinstance(level, float | int) and 0 < level < 1):
            raise ValueError(f"level must be a real number in (0, 1); got {level!r}")
        k, n, tail = self.wins, self.n_runs, (1 - level) / 2
        lo = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
        hi = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
        return lo, hi

    def to_dict(self) -> dict:
        """Return the numbers as a dict (the interval at 95 %)."""
        lo, hi = self.win_ci()
        return {"mean_a": self.a.mean, "mean_b": self.b.mean, "difference": self.difference, "stderr": self.stderr,
                "wins": self.wins, "n_runs": self.n_runs, "win_fraction": self.win_fraction, "win_ci_low": lo,
                "win_ci_high": hi, "seed": self.a.seed, "method": self.a.method}


def compare(a: Problem, b: Problem, n_runs: int = 1000, seed: int = 0, method: str = "exact",
            **options: object) -> Comparison:
    """Simulate ``a`` and ``b`` on the same runs and compare them run by run.

    Parameters
    ----------
    a, b : Problem or Mixture
        Two problems with the same sizes and task model (so the same draws),
        e.g. ``prob`` and ``prob.replace(algorithm="erm")``.
    n_runs, seed, method
        As in :func:`linmeta.simulate`.
    **options
        Passed to :func:`linmeta.simulate` (``n_test_tasks``, ``test_sampler``, ...).

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        If the problems differ in a size or in the task model, so that their
        runs would not share draws.

    Examples
    --------
    >>> import linmeta as lm
    >>> c = lm.compare(lm.presets.FIG3, lm.presets.FIG3.replace(algorithm="erm"), n_runs=200, seed=0)
    >>> c.difference > 4 * c.stderr        # MAML at alpha_t = 0.2 is worse than ERM here, run by run
    True
    """
    for name in _PAIRING_FIELDS:
        if getattr(a, name) != getattr(b, name):
            raise ValueError(f"compare needs problems that share their draws; {name} differs "
                             f"({getattr(a, name)!r} and {getattr(b, name)!r})")
    from linmeta._model import model_fingerprint, model_of

    if type(model_of(a)) is not type(model_of(b)) or (not model_of(a).isotropic
                                                      and model_fingerprint(a) != model_fingerprint(b)
                                                      and _components(a) != _components(b)):
        raise ValueError("compare needs problems that share their draws; their task models differ "
                         f"({model_of(a).describe(a)!r} and {model_of(b).describe(b)!r})")
    ea = simulate(a, n_runs, seed, method, return_losses=True, **options)
    eb = simulate(b, n_runs, seed, method, return_losses=True, **options)
    d = ea.losses - eb.losses
    stderr = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.nan
    return Comparison(ea, eb, float(d.mean()), stderr, int(np.count_nonzero(ea.losses < eb.losses)))


def _components(prob):
    """How many families a problem draws from (the draws' layout depends only on that)."""
    from linmeta._model import model_of

    return len(getattr(model_of(prob), "components", ()))
