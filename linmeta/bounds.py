"""The multi-step MAML step-size bound of Ji, Yang & Liang and the quantities it controls (docs: theory, B1).

For ``N`` inner steps of rate ``alpha`` on task losses that are ``L``-smooth,
``alpha L < 2^(1/(2N)) - 1`` gives ``|prod_j (I - alpha H_i)| <= (1 + |alpha| L)^N
< sqrt(2)``, so the meta-objective is at most twice as rough as the
validation loss and outer gradient descent with a step ``~ 1/L`` converges.
For regression the Hessian of task ``i``'s training loss is ``H_i`` (constant),
so everything here is exact linear algebra on one :class:`~linmeta.TaskBatch`.
"""
from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from linmeta._validation import check_int, check_real
from linmeta.maml import meta_system

if TYPE_CHECKING:
    from linmeta.problem import Problem
    from linmeta.sampling import TaskBatch

__all__ = ["step_size_bound", "smoothness", "Smoothness", "product_norm", "meta_smoothness"]

Smoothness = namedtuple("Smoothness", "L_i L")
Smoothness.__doc__ = """Per-task smoothness constants ``L_i`` (ndarray of shape (m,)) and their maximum ``L``."""


def step_size_bound(N: int) -> float:
    """Return the bound on ``alpha L`` for ``N``-step MAML: ``2**(1/(2N)) - 1`` (about ``ln 2 / (2N)``).

    Examples
    --------
    >>> from linmeta.bounds import step_size_bound
    >>> round(step_size_bound(1), 6), round(step_size_bound(10), 6)
    (0.414214, 0.035265)

    References
    ----------
    docs: theory, B1; Ji, Yang & Liang (2022), "Theoretical convergence of multi-step model-agnostic
    meta-learning", JMLR 23.
    """
    N = check_int(N, "N", min_val=1)
    return 2.0 ** (1.0 / (2 * N)) - 1.0


def _eigvals(X):
    """Eigenvalues of ``X_i^T X_i / n`` for every task, shape (m, p), ascending."""
    n = X.shape[1]
    return np.linalg.eigvalsh(np.einsum("mni,mnj->mij", X, X) / n)


def smoothness(batch: TaskBatch, *, data: str = "train") -> Smoothness:
    """Smoothness constants of the task losses: ``L_i = lambda_max(H_i)`` and ``L = max_i L_i``.

    Parameters
    ----------
    batch : TaskBatch
    data : {"train", "validation"}, default="train"
        ``"train"``: ``H_i = X_t,i^T X_t,i / n_t`` (the inner loss, what the bound
        uses); ``"validation"``: ``X_v,i^T X_v,i / n_v``.

    Returns
    -------
    Smoothness
        ``(L_i, L)``.

    Examples
    --------
    >>> import linmeta as lm
    >>> L_i, L = lm.bounds.smoothness(lm.sample_tasks(lm.presets.FIG3, seed=0))
    >>> L_i.shape, bool(L == L_i.max())
    ((40,), True)

    References
    ----------
    docs: theory, B1.
    """
    if data not in ("train", "validation"):
        raise ValueError(f"data must be 'train' or 'validation'; got {data!r}")
    L_i = _eigvals(batch.X_t if data == "train" else batch.X_v)[:, -1]
    return Smoothness(L_i, float(L_i.max()))


def product_norm(batch: TaskBatch, alpha: float, N: int) -> float:
    """``max_i |(I - alpha H_i)^N|`` (spectral norm), exactly, from the eigenvalues of ``H_i``.

    Examples
    --------
    >>> import linmeta as lm
    >>> batch = lm.sample_tasks(lm.presets.FIG3, seed=0)
    >>> L = lm.bounds.smoothness(batch).L
    >>> abs(lm.bounds.product_norm(batch, -0.01, 3) - (1 + 0.01 * L) ** 3) < 1e-12   # equality for alpha < 0
    True
    """
    alpha = check_real(alpha, "alpha")
    N = check_int(N, "N", min_val=1)
    return float(np.max(np.abs(1.0 - alpha * _eigvals(batch.X_t)) ** N))


def meta_smoothness(batch: TaskBatch, prob: Problem) -> float:
    """``lambda_max`` of the meta-loss Hessian ``Z^T Z / (n_v m)`` for the algorithm of ``prob``.

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.presets.FIG3.replace(alpha_t=0.0)       # no inner step: the validation loss
    >>> batch = lm.sample_tasks(prob, seed=0)
    >>> P = batch.X_v.reshape(-1, prob.p)
    >>> import numpy as np
    >>> bool(np.isclose(lm.bounds.meta_smoothness(batch, prob), np.linalg.eigvalsh(P.T @ P / prob.k)[-1]))
    True
    """
    Z, _ = meta_system(batch, prob)
    return float(np.linalg.svd(Z, compute_uv=False)[0] ** 2 / Z.shape[0])
