"""Sufficient-statistic sampler: over-parameterised draws whose cost does not depend on ``p`` (docs: theory, S1).

With isotropic inputs and task prior, everything meta-training and the test
side read is a rotation-invariant function of the ``n = m (1 + n_t + n_v)``
Gaussian rows (the tasks' standard-normal deviations ``g_i``, their training
and validation inputs) and of the fixed vector ``d = omega0 - w0``.  Rotate
``R^p`` so that ``d = |d| e_1``: the first coordinate of the rows is a
standard-normal column ``z`` (``n`` numbers), and the other ``p - 1``
coordinates form an ``n x (p - 1)`` Gaussian matrix ``M'``, independent of
``z``.  Gram-Schmidt on the rows of ``M'`` (the Bartlett decomposition of the
Wishart matrix ``M' M'^T ~ W_n(I, p - 1)``) writes ``M' = L O`` with ``O``
``n x (p - 1)`` with orthonormal rows and ``L`` lower triangular, with
independent entries ``L_jj^2 ~ chi2_{p - 1 - j}`` (``j = 0 .. n - 1``) and
``L_jl ~ N(0, 1)`` below the diagonal.  The isometry ``e_1 -> e_1``,
``O^T e_j -> e_{j+1}`` maps the rows and ``d`` onto

``rows = [z | L]`` (``n x (n + 1)``),  ``start = |d| e_1``,

with exactly the joint law of all their inner products.  The kernels
(:mod:`linmeta._sim.kernels`, :mod:`linmeta._sim.kernels_variants`) take these
``(n + 1)``-dimensional rows as ``X_t``, ``X_v`` and ``g`` (with ``nu_s =
nu/sqrt(p)`` of the real ``p``): every inner map they build lives in the span
of the data and ``start``, so ``|omega* - w0|^2`` and ``omega* - w0`` (in these
coordinates) have exactly the law of the direct sampler's.  A run draws
``n (n + 3) / 2 + m (n_t + n_v)`` numbers whatever ``p`` is.

For the protocol's projected test sampler a test task ``g_t ~ N(0, I_p)`` is
independent of the training span: its ``n + 1`` coordinates in the span are
standard normals and its squared norm orthogonal to it is ``chi2_{p - n - 1}``
(key ``g_rest``), appended as one more coordinate (``omega* - w0`` gets a zero
there).

Streams: run ``i`` draws from ``run_rng(seed, i, TRAIN_GRAM)`` and
``run_rng(seed, i, TEST_GRAM)`` (indices 3 and 4, after :mod:`linmeta._sim.rng`'s
``TRAIN, TEST, TEST_PROJECTED = 0, 1, 2``).
"""
from __future__ import annotations

import weakref

import numpy as np

from linmeta._model import model_of
from linmeta._sim.rng import run_rng
from linmeta.sampling import _THREADED_DRAWS, _executor

__all__ = [
    "TEST_GRAM",
    "TRAIN_GRAM",
    "draw_gram_factors",
    "draw_test",
    "draw_training",
    "gram_dim",
    "gram_rows",
    "pad_delta",
    "start_norm",
    "test_layout",
    "train_layout",
]

TRAIN_GRAM, TEST_GRAM = 3, 4

#: keys of the projected test statistics besides the task (same meaning as in :func:`linmeta.sampling.draw_test`)
_PROJECTED_KEYS = ("chi2", "vv", "rest_r", "b_r", "gg", "rest_te", "b_te")


def gram_rows(prob) -> int:
    """``n = m (1 + n_t + n_v)``: the Gaussian rows of one run (task deviations and inputs)."""
    return prob.m * (1 + prob.n_t + prob.n_v)


def gram_dim(prob) -> int:
    """``n + 1``: the dimension of the rows' representation (the ``d`` direction and ``n`` Bartlett directions)."""
    return gram_rows(prob) + 1


#: ``|omega0 - w0|`` of the last few problems, keyed by the (read-only) vectors' identity; reading ``2 p`` numbers
#: costs about a second at ``p = 10^8``, more than the draws of thousands of runs
_NORMS: dict = {}


def start_norm(prob, block=1 << 20) -> float:
    """``|omega0 - w0|`` computed block by block (no ``p``-vector is allocated), remembered per vector pair."""
    w0, om = prob.w0, prob.omega0
    defaults = getattr(prob, "_default_vectors", ())
    if "w0" in defaults and "omega0" in defaults:  # both left at their default: zero vectors
        return 0.0
    key = (id(w0), id(om))
    hit = _NORMS.get(key)
    if hit is not None and hit[0]() is w0 and hit[1]() is om:
        return hit[2]
    total = 0.0
    for lo in range(0, prob.p, block):
        d = om[lo:lo + block] - w0[lo:lo + block]
        total += float(np.dot(d, d))
    norm = float(np.sqrt(total))
    if w0.flags.writeable or om.flags.writeable:  # only vectors that cannot change are remembered
        return norm
    if len(_NORMS) >= 8:
        _NORMS.clear()
    _NORMS[key] = (weakref.ref(w0), weakref.ref(om), norm)
    return norm


def _fill_run(g, out, j, dfs):
    """One run's draws into slot ``j`` of ``out``, keys in order: normals, or chi-squares with ``dfs[key]`` dof."""
    for k, arr in out.items():
        if k in dfs:
            arr[j] = 2.0 * g.standard_gamma(np.asarray(dfs[k], dtype=float) / 2.0, size=arr[j].shape)
        else:
            g.standard_normal(out=arr[j])


def _fill(shapes, seed, runs, stream, workers, dfs):
    """Like :func:`linmeta.sampling._fill`, with per-entry degrees of freedom (``dfs[key]`` may be an array)."""
    out = {k: np.empty(shape) for k, shape in shapes.items()}

    def block(js):
        for j in js:
            _fill_run(run_rng(seed, int(runs[j]), stream), out, j, dfs)

    if workers > 1 and len(runs) > 1 and sum(a.size for a in out.values()) >= _THREADED_DRAWS:
        list(_executor(workers).map(block, np.array_split(np.arange(len(runs)), min(workers, len(runs)))))
    else:
        block(range(len(runs)))
    return out


def draw_gram_factors(prob, seed, runs, workers=1, *, dof=None):
    """Return the raw draws of ``runs``: ``z`` (R, n), ``diag`` (R, n) chi-squares, ``off`` (R, n(n-1)/2), noise.

    ``diag[:, j] ~ chi2_{dof - j}`` with ``dof = p - 1`` (the Bartlett
    factor's squared diagonal); ``dof`` is a parameter only so that tests can
    show a wrong one is detected.
    """
    n = gram_rows(prob)
    dof = prob.p - 1 if dof is None else dof
    return _fill(train_layout(prob, len(runs)), seed, runs, TRAIN_GRAM, workers,
                 {"diag": dof - np.arange(n, dtype=float)})


def train_layout(prob, n_runs):
    """Return the raw meta-training draws of ``n_runs`` runs, by key and shape, in stream order."""
    n, R = gram_rows(prob), n_runs
    return {"z": (R, n), "diag": (R, n), "off": (R, n * (n - 1) // 2), "e_t": (R, prob.m, prob.n_t),
            "e_v": (R, prob.m, prob.n_v)}


def test_layout(prob, n_runs, n_test_tasks):
    """The projected protocol test draws of ``n_runs`` runs, by key and shape, in stream order."""
    R, T = n_runs, n_test_tasks
    return {"g": (R, T, gram_dim(prob)), "g_rest": (R, T), **{k: (R, T) for k in _PROJECTED_KEYS}}


def rows_from_factors(prob, raw, *, cross=True):
    """Return the training dict the kernels take (keys ``g, X_t, e_t, X_v, e_v``) in ``n + 1`` coordinates.

    Row order: the ``m`` task deviations, the ``m n_t`` training inputs, the
    ``m n_v`` validation inputs.  ``cross=False`` drops the ``z`` column (the
    rows' components along ``d``); only tests use it, to show that the
    cross terms with ``d`` are detected.
    """
    R, n = raw["z"].shape
    m, n_t, n_v = prob.m, prob.n_t, prob.n_v
    D = n + 1
    rows = np.zeros((R, n, D))
    if cross:
        rows[:, :, 0] = raw["z"]
    il, jl = np.tril_indices(n, -1)
    rows[:, il, jl + 1] = raw["off"]
    idx = np.arange(n)
    rows[:, idx, idx + 1] = np.sqrt(raw["diag"])
    g = np.ascontiguousarray(rows[:, :m])
    X_t = np.ascontiguousarray(rows[:, m:m + m * n_t]).reshape(R, m, n_t, D)
    X_v = np.ascontiguousarray(rows[:, m + m * n_t:]).reshape(R, m, n_v, D)
    return {"g": g, "X_t": X_t, "e_t": raw["e_t"], "X_v": X_v, "e_v": raw["e_v"]}


def start_vector(prob):
    """``omega0 - w0`` in the representation: ``|omega0 - w0| e_1`` of length ``n + 1``."""
    out = np.zeros(gram_dim(prob))
    out[0] = start_norm(prob)
    return out


def draw_training(prob, seed, runs, workers=1):
    """Meta-training draws of ``runs`` in ``n + 1`` coordinates (see the module docstring) and ``start``.

    Returns
    -------
    draws : dict
        ``g`` (R, m, n + 1), ``X_t`` (R, m, n_t, n + 1), ``e_t`` (R, m, n_t),
        ``X_v`` (R, m, n_v, n + 1), ``e_v`` (R, m, n_v): the layout of
        :func:`linmeta.sampling.draw_training` with ``p`` replaced by ``n + 1``.
    start : ndarray (n + 1,)
    """
    return rows_from_factors(prob, draw_gram_factors(prob, seed, runs, workers)), start_vector(prob)


def draw_test(prob, seed, runs, n_test_tasks, n_test_points, workers=1):
    """Projected protocol test draws for the representation (stream ``TEST_GRAM``).

    As :func:`linmeta.sampling.draw_test` with ``sampler="projected"``, except
    that each test task is drawn as its ``n + 1`` coordinates in the training
    span followed by the square root of ``chi2_{p - n - 1}``: ``g`` has
    shape (R, T, n + 2).
    """
    dfs = {"g_rest": float(prob.p - gram_dim(prob)), **model_of(prob).projected_test_dfs(prob, n_test_points)}
    out = _fill(test_layout(prob, len(runs), n_test_tasks), seed, runs, TEST_GRAM, workers, dfs)
    out["g"] = np.concatenate([out["g"], np.sqrt(out.pop("g_rest"))[:, :, None]], axis=2)
    return out


def pad_delta(delta):
    """``omega* - w0`` (R, A, n + 1) with a zero coordinate appended (orthogonal to the training span)."""
    R, A, D = delta.shape
    out = np.zeros((R, A, D + 1))
    out[:, :, :D] = delta
    return out
