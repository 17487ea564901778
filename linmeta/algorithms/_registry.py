"""The table of algorithms: ``Problem.algorithm`` -> :class:`~linmeta.algorithms._base.InnerMap`.

Every layer (the Problem's validation, meta-training, the simulation engine,
the cost model, the theory) looks an algorithm up here instead of testing its
name.  Adding an algorithm means adding its module to this package and its
record to :data:`INNER_MAPS`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from linmeta.algorithms._base import InnerMap
from linmeta.algorithms.erm import ENTRY as ERM
from linmeta.algorithms.fomaml import ENTRY as FOMAML
from linmeta.algorithms.imaml import ENTRY as IMAML
from linmeta.algorithms.maml import ENTRY as ONE_OR_N_STEPS

if TYPE_CHECKING:
    from linmeta.problem import Problem
    from linmeta.sampling import TaskBatch

__all__ = ["INNER_MAPS", "InnerMap", "MAML", "BASELINE", "check_curve_field", "check_problem_fields", "entry",
           "inner_map", "is_one_step_maml", "meta_points", "uses_one_step_kernel"]

#: The table: ``Problem.algorithm`` -> :class:`InnerMap`.
INNER_MAPS = {record.name: record for record in (ONE_OR_N_STEPS, FOMAML, IMAML, ERM)}
#: The paper's algorithm: ``Problem``'s default and the subject of the closed-form theorems.
MAML = ONE_OR_N_STEPS.name
#: The pooled-training baseline MAML is compared with (ERM).
BASELINE = ERM.name


def entry(prob) -> InnerMap:
    """Return the record of ``prob.algorithm``."""
    return INNER_MAPS[prob.algorithm]


def inner_map(batch: TaskBatch, prob: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(A, b)`` of the inner update ``theta_i = A_i omega + b_i`` for any algorithm.

    ``"maml"`` and ``"fomaml"``: ``N = prob.n_steps`` gradient steps of rate
    ``alpha_t`` (docs: theory, B1).  ``"imaml"``: the exact proximal solution
    ``phi = (H_i + lam I)^{-1} (lam theta + c_i)`` (docs: theory, I1), obtained from
    a Cholesky factorisation of ``H_i + lam I`` (positive definite since
    ``lam > 0``); ``alpha_t`` plays no role.  ``"erm"``: no inner step
    (``A = I``, ``b = 0``); its meta-loss scores the pooled training and
    validation points (docs: theory, E1).

    Returns
    -------
    A : ndarray of shape (m, p, p)
    b : ndarray of shape (m, p)

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> prob = lm.presets.FIG3.replace(algorithm="imaml", lam=2.0)
    >>> A, b = lm.algorithms.inner_map(lm.sample_tasks(prob, seed=0), prob)
    >>> ev = np.linalg.eigvalsh(A[0])          # lam / (eigenvalues of H + lam): in (0, 1]
    >>> bool(ev.min() > 0 and ev.max() <= 1 + 1e-12)
    True

    References
    ----------
    docs: theory, MAML1, B1, I1, F1.
    """
    return INNER_MAPS[prob.algorithm].build(batch, prob)


def is_one_step_maml(prob):
    """Whether ``prob`` is one-step MAML: the dedicated kernel (Gram matrix quadratic in ``alpha_t``), Theorems 1-2.

    >>> import linmeta as lm
    >>> is_one_step_maml(lm.presets.FIG3), is_one_step_maml(lm.presets.FIG3.replace(n_steps=2))
    (True, False)
    """
    return INNER_MAPS[prob.algorithm].one_step_kernel and prob.n_steps == 1


#: the simulation's name for :func:`is_one_step_maml`
uses_one_step_kernel = is_one_step_maml


def meta_points(batch, prob):
    """Return the points each task's meta-loss scores: ``(X, y)`` of shapes ``(m, n, p)`` and ``(m, n)``.

    The validation points (``n = n_v``), or for a pooled algorithm (ERM) the
    training points followed by the validation points (``n = n_t + n_v``).

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.presets.FIG3.replace(algorithm="erm")
    >>> X, y = meta_points(lm.sample_tasks(prob, seed=0), prob)
    >>> X.shape, y.shape                     # n_t + n_v = 5 + 25 points per task
    ((40, 30, 30), (40, 30))
    """
    if not INNER_MAPS[prob.algorithm].pooled:
        return batch.X_v, batch.y_v
    return np.concatenate([batch.X_t, batch.X_v], axis=1), np.concatenate([batch.y_t, batch.y_v], axis=1)


def check_curve_field(prob, name, values=None):
    """Refuse to vary a field that ``prob.algorithm`` ignores (``InnerMap.fixed``) along a curve or optimum.

    Parameters
    ----------
    prob : Problem
    name : str
        The field a curve, sweep or optimum varies.
    values : sequence, optional
        Its values; one distinct value is not a variation and passes.
        ``None``: an optimum search, which always varies the field.

    Raises
    ------
    ValueError
        Naming the field and the algorithm.

    Examples
    --------
    >>> import linmeta as lm
    >>> erm = lm.presets.FIG3.replace(algorithm="erm")
    >>> check_curve_field(erm, "alpha_t", [0.2])          # one value: nothing varies
    >>> check_curve_field(erm, "alpha_t", [0.0, 0.2])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: alpha_t cannot be varied for algorithm='erm', which does not read it (no inner step: ...
    """
    if name not in INNER_MAPS[prob.algorithm].fixed:
        return
    if values is not None and len(set(float(v) for v in values)) <= 1:
        return
    got = "an optimum search" if values is None else f"{len(set(float(v) for v in values))} values"
    raise ValueError(f"{name} cannot be varied for algorithm={prob.algorithm!r}, which does not read it (no inner "
                     f"step: every {name} gives the same number); got {got}; vary alpha_r, n_r or a size instead")



def check_problem_fields(algorithm, n_steps, lam, check_lam):
    """Validate the fields an algorithm reads or ignores; return ``lam`` (checked by ``check_lam`` when read).

    Raises
    ------
    ValueError
        For ``lam`` missing where the algorithm reads it or given where it does
        not, and ``n_steps != 1`` where the algorithm has no step count.
    """
    record = INNER_MAPS[algorithm]
    if record.uses_lam:
        if lam is None:
            raise ValueError(f"lam must be finite and > 0 for algorithm={algorithm!r}; got None")
        lam = check_lam(lam)
    elif lam is not None:
        readers = " or ".join(f"algorithm={name!r}" for name, r in INNER_MAPS.items() if r.uses_lam)
        raise ValueError(f"lam must be None unless {readers} (algorithm={algorithm!r}); got {lam!r}")
    if not record.uses_n_steps and n_steps != 1:
        raise ValueError(f"n_steps must be 1 for algorithm={algorithm!r} ({record.steps_reason}); got {n_steps}")
    return lam
