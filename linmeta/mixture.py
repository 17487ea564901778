"""Mixtures of task families: every task draws its family independently (docs: theory, M3).

A :class:`Mixture` is a :class:`~linmeta.Problem` (accepted wherever one is)
whose tasks come from several Gaussian families.  Its components share the
sizes, the rates, ``omega0`` and the algorithm, and are free to differ in
``sigma``, ``nu`` / ``task_cov``, ``input_cov`` and ``w0``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from linmeta.problem import Problem

__all__ = ["Mixture", "SHARED_FIELDS"]

#: The fields every component of a mixture has in common (the mixture's own).
SHARED_FIELDS = ("p", "m", "n_t", "n_v", "n_r", "alpha_t", "alpha_r", "omega0", "algorithm", "n_steps", "lam")


class Mixture(Problem):
    """Tasks from several families, each task's family drawn with the given weights.

    Parameters
    ----------
    components : sequence of (float, Problem)
        ``(weight, problem)`` pairs: positive finite weights (normalised to sum
        1) and problems that agree on :data:`SHARED_FIELDS` and have no task
        sampler (``tasks=``).

    Attributes
    ----------
    components : tuple of (float, Problem)
        The normalised weights and the problems.
    w0 : ndarray
        The mean task ``sum_c weight_c w0_c``.

    Raises
    ------
    ValueError
        An empty list, a weight that is not positive and finite, a component
        that is not a Problem or has a task sampler, or components that differ
        in a shared field (named, with the component's index).

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> easy = lm.presets.FIG3.replace(sigma=0.1)
    >>> hard = easy.replace(input_cov=0.25, w0=np.full(30, 0.3))
    >>> mix = lm.Mixture([(0.7, easy), (0.3, hard)])
    >>> mix.p, mix.sigma, [w for w, _ in mix.components]
    (30, None, [0.7, 0.3])
    >>> round(float(mix.w0[0]), 12)
    0.09
    >>> mix.replace(m=80).m                  # shared fields change on every component
    80
    """

    def __init__(self, components: Sequence[tuple[float, Problem]]):
        pairs = _checked(components)
        object.__setattr__(self, "components", pairs)
        first = pairs[0][1]
        w0 = sum(w * q.w0 for w, q in pairs)
        shared = {name: getattr(first, name) for name in SHARED_FIELDS}
        super().__init__(**shared, sigma=None, nu=None, w0=w0)

    def _check_scales(self, put):
        """Leave the noise and task spread to the components."""

    def replace(self, **changes: object) -> Mixture:
        """Return the mixture with shared fields changed on every component.

        Raises
        ------
        ValueError
            For a field that belongs to the components (``sigma``, ``nu``,
            ``w0``, ``input_cov``, ``task_cov``): change it on a component.
        """
        own = set(changes) - set(SHARED_FIELDS)
        if own:
            raise ValueError(f"{sorted(own)} belong to the components of a Mixture; change them on a component "
                             f"(Mixture([(w, prob.replace(...)), ...])); a mixture's own fields: {list(SHARED_FIELDS)}")
        return Mixture([(w, q.replace(**changes)) for w, q in self.components])

    def to_dict(self) -> dict:
        """Return the shared fields, and each component's weight and :meth:`Problem.to_dict`."""
        out = {name: getattr(self, name) for name in SHARED_FIELDS if name != "omega0"}
        out["start_distance"] = float(np.linalg.norm(self.omega0 - self.w0))
        out["components"] = [{"weight": w, **q.to_dict()} for w, q in self.components]
        return out

    def __eq__(self, other):
        """Equal components with equal weights, in the same order."""
        if not isinstance(other, Mixture):
            return NotImplemented
        return len(self.components) == len(other.components) and all(
            a == b and q == r for (a, q), (b, r) in zip(self.components, other.components, strict=True))

    __hash__ = None

    def __repr__(self):
        """``Mixture([(weight, Problem(...)), ...])``."""
        return f"Mixture([{', '.join(f'({w!r}, {q!r})' for w, q in self.components)}])"

    def __reduce__(self):
        """Pickle by the components (a mixture is rebuilt, and revalidated, from them)."""
        return (Mixture, (list(self.components),))


def _checked(components):
    try:
        pairs = [tuple(c) for c in components]
    except TypeError:
        raise ValueError(f"components must be a sequence of (weight, Problem) pairs; got {components!r}") from None
    if not pairs:
        raise ValueError("a Mixture needs at least one (weight, Problem) component; got none")
    weights = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or not isinstance(pair[1], Problem) or isinstance(pair[1], Mixture):
            raise ValueError(f"component {i} must be a (weight, Problem) pair; got {pair!r}")
        try:
            w = float(pair[0])
        except (TypeError, ValueError):
            raise ValueError(f"component {i}: weight must be a positive finite number; got {pair[0]!r}") from None
        if not (np.isfinite(w) and w > 0):
            raise ValueError(f"component {i}: weight must be a positive finite number; got {pair[0]!r}")
        if pair[1].tasks is not None:
            raise ValueError(f"component {i} has a task sampler (tasks=); a Mixture mixes Gaussian families only")
        weights.append(w)
    first = pairs[0][1]
    for i, (_, q) in enumerate(pairs[1:], start=1):
        for name in SHARED_FIELDS:
            a, b = getattr(first, name), getattr(q, name)
            if not (np.array_equal(a, b) if name == "omega0" else a == b):
                raise ValueError(f"the components of a Mixture must share {name}; component 0 has "
                                 f"{'an omega0' if name == 'omega0' else repr(a)} and component {i} "
                                 f"{'another' if name == 'omega0' else repr(b)}")
    total = sum(weights)
    return tuple((w / total, q) for w, (_, q) in zip(weights, pairs, strict=True))
