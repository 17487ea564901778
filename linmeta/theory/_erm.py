"""Theory of ERM (pooled training) through its identity with MAML (docs: theory, E1).

ERM fits ``omega`` by least squares on all ``n_t + n_v`` points of every
training task.  MAML at ``alpha_t = 0`` has no inner step (``A_i = I``,
``b_i = 0``) and fits ``omega`` by least squares on the ``n_v`` validation
points of every task.  The pooled points of a task are ``n_t + n_v``
independent draws from that task, distributed as a validation set of that
size, so ERM's ``omega*`` has exactly the law of one-step MAML's at
``alpha_t = 0`` with ``n_v`` replaced by ``n_t + n_v`` (and any ``n_t``, which
MAML at ``alpha_t = 0`` does not read); the meta-test side is the same.
``derivations/erm.py`` checks the identity symbolically; every formula for
MAML then applies: the leading order of theorems 1 and 2, and the exact
inverse-Wishart moments at ``alpha_t = 0`` (``approximation="finite"``, exact
for ERM).
"""
from __future__ import annotations

from linmeta.algorithms._registry import INNER_MAPS
from linmeta.loss import loss_from_distance
from linmeta.theory import _finite

__all__ = ["as_maml", "exact_distance", "exact_test_loss"]


def as_maml(prob, alpha_t=None):
    """Return the one-step MAML problem whose ``omega*`` has ERM's law: ``alpha_t = 0``, ``n_v -> n_t + n_v``.

    Parameters
    ----------
    prob : Problem
        ``algorithm="erm"``.
    alpha_t : None
        ERM reads no ``alpha_t``; anything but ``None`` is refused.

    Raises
    ------
    ValueError
        If ``alpha_t`` is given.

    Examples
    --------
    >>> import linmeta as lm
    >>> q = as_maml(lm.presets.FIG3.replace(algorithm="erm"))
    >>> q.algorithm, q.alpha_t, q.n_v, q.k
    ('maml', 0.0, 30, 1200)
    """
    record = INNER_MAPS[prob.algorithm]
    if alpha_t is not None:
        raise ValueError(f"alpha_t must be None for algorithm={prob.algorithm!r} ({record.steps_reason} and reads "
                         f"no alpha_t); got {alpha_t!r}")
    return record.as_maml(prob)


def exact_distance(prob) -> float:
    """Exact ``E|omega* - w0|^2`` of ERM (inverse-Wishart moments of MAML at ``alpha_t = 0``)."""
    return _finite.exact_alpha0_distance(as_maml(prob))


def exact_test_loss(prob) -> float:
    """Exact average test loss of ERM: (T0) at :func:`exact_distance`."""
    return float(loss_from_distance(exact_distance(prob), prob))


exact_test_loss.__test__ = False  # not a pytest test
