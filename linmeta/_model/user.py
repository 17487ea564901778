"""A task distribution given by the user's sampler (docs: theory, M4).

``Problem(..., sigma=None, nu=None, tasks=draw)`` with
``draw(rng, n) -> {"input_factor": F, "w": W, "sigma": s}``: ``n`` tasks,
``F`` of shape ``(n, p)`` (inputs ``x = F_i * z``, diagonal standard
deviations) or ``(n, p, p)`` (``x = F_i z``), task vectors ``W`` (n, p) and
noise standard deviations ``s`` (n,).  ``rng`` is a
:class:`numpy.random.Generator` of linmeta's: run ``i`` draws its ``m``
training tasks from stream ``(seed, i, USER_TRAIN)`` and its test tasks from
``(seed, i, USER_TEST)``, so the seed fixes every number and MAML and ERM see
the same tasks run by run.  The inputs and noise are linmeta's standard
normals (the isotropic model's draws), scaled by the sampler's tasks.

The exact method scores a run by the exact expected loss (T0g with no task
spread: the task is known) averaged over ``n_test_tasks`` test tasks drawn
from the sampler; that average is an unbiased estimate of the run's loss, and
its sampling error is part of the per-run spread, so the standard error of a
simulation covers it at any ``n_test_tasks``.
"""
from __future__ import annotations

import numpy as np

from linmeta._model.isotropic import IsotropicGaussian
from linmeta._model.test_side import loss_from_forms
from linmeta._sim.rng import USER_TEST, USER_TRAIN, run_rng

__all__ = ["UserTasks", "checked_tasks"]

_KEYS = ("input_factor", "w", "sigma")


def checked_tasks(out, n, p, where="tasks"):
    """Validate what a task sampler returned for ``n`` tasks: ``(F, W, s)`` as float arrays.

    Raises
    ------
    ValueError
        Naming the key, the shape or value expected and what came back.
    """
    if not isinstance(out, dict):
        raise ValueError(f"{where}(rng, n) must return a dict with keys {_KEYS}; got {type(out).__name__}")
    missing = [k for k in _KEYS if k not in out]
    if missing:
        raise ValueError(f"{where}(rng, n) must return the keys {_KEYS}; missing {missing}")
    shapes = {"input_factor": ((n, p), (n, p, p)), "w": ((n, p),), "sigma": ((n,),)}
    arrays = []
    for key in _KEYS:
        try:
            a = np.asarray(out[key], dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{where}(rng, n)[{key!r}] must be a real array; got {out[key]!r}") from None
        if a.shape not in shapes[key]:
            want = " or ".join(str(s) for s in shapes[key])
            raise ValueError(f"{where}(rng, {n})[{key!r}] must have shape {want}; got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{where}(rng, {n})[{key!r}] must be finite; got non-finite entries")
        arrays.append(a)
    if np.any(arrays[2] < 0):
        raise ValueError(f"{where}(rng, {n})['sigma'] must be >= 0 (standard deviations); got {arrays[2].min():g}")
    return tuple(arrays)


class UserTasks:
    """The tasks of a user's sampler (see the module docstring)."""

    name = "user"
    isotropic = False
    exact_needs_omega = True

    def __init__(self, draw):
        self.draw = draw

    def sample(self, seed, run, stream, n, p):
        """``(F, W, s)`` of ``n`` tasks from run ``run``'s stream ``stream``."""
        return checked_tasks(self.draw(run_rng(seed, int(run), stream), n), n, p)

    #: the isotropic model's draws; the slot ``g`` receives the sampler's tasks
    train_layout = staticmethod(IsotropicGaussian.train_layout)
    test_layout = staticmethod(IsotropicGaussian.test_layout)

    def _scale(self, draws, seed, runs, stream, points):
        n = draws["g"].shape[1]
        for j, run in enumerate(runs):
            F, W, s = self.sample(seed, run, stream, n, draws["g"].shape[2])
            draws["g"][j] = W
            for x, e in points:
                if F.ndim == 2:
                    draws[x][j] *= F[:, None, :]
                else:  # rows x' = z' F'
                    draws[x][j] = np.matmul(draws[x][j], np.swapaxes(F, 1, 2))
                draws[e][j] *= s[:, None]
        return draws

    def kernel_inputs(self, prob, draws, seed, runs):
        """``(draws, task_scale, sigma, start)``: the sampler's tasks and their data, unit scales, ``omega0``."""
        draws = self._scale(draws, seed, runs, USER_TRAIN, (("X_t", "e_t"), ("X_v", "e_v")))
        return draws, 1.0, 1.0, np.asarray(prob.omega0, dtype=float)

    def test_kernel_inputs(self, prob, test, seed, runs):
        """``(test, task_scale, sigma)`` for the protocol kernel (the same test tasks as the exact method's)."""
        return self._scale(test, seed, runs, USER_TEST, (("X_r", "e_r"), ("X_te", "e_te"))), 1.0, 1.0

    @staticmethod
    def task_losses(omega, F, W, s, alpha_r, n_r):
        """Exact expected loss (..., K, B) of ``omega`` (..., p) on each of ``K`` known tasks ``(F, W, s)``."""
        a = np.asarray(alpha_r, dtype=float)
        d = np.asarray(omega, dtype=float)[..., None, :] - W                 # (..., K, p)
        if F.ndim == 2:
            var = F * F
            d2 = d * d
            q1, q2, q3 = (d2 * var).sum(-1), (d2 * var**2).sum(-1), (d2 * var**3).sum(-1)
            tr_s2 = (var * var).sum(-1)
        else:  # S_k = F_k F_k', batched over the tasks k (rows of d are d')
            dk = np.moveaxis(d, -2, 0)                                       # (K, ..., p)
            Fk = F.reshape(F.shape[:1] + (1,) * (dk.ndim - 3) + F.shape[1:])
            u = dk @ Fk                                                      # (F' d)'
            v = u @ np.swapaxes(Fk, -1, -2)                                  # (S d)'
            w = v @ Fk                                                       # (F' S d)'
            q1, q2, q3 = (np.moveaxis((x * x).sum(-1), 0, -1) for x in (u, v, w))
            G = np.swapaxes(F, 1, 2) @ F
            tr_s2 = (G * G).sum((1, 2))
        return loss_from_forms(q1[..., None], q2[..., None], q3[..., None], tr_s2[:, None], s[:, None], a, n_r)

    def exact_losses(self, prob, delta, alpha_rs, seed, runs, n_test_tasks):
        """Per-run losses (R, A, B): T0g on each run's ``n_test_tasks`` sampled test tasks, averaged."""
        out = np.empty((delta.shape[0], delta.shape[1], len(alpha_rs)))
        for j, run in enumerate(runs):
            F, W, s = self.sample(seed, run, USER_TEST, n_test_tasks, prob.p)
            out[j] = self.task_losses(delta[j], F, W, s, alpha_rs, prob.n_r).mean(axis=-2)
        return out

    def loss_given(self, omega, prob, alpha_r, *, n_test_tasks=1000, seed=0):
        """Not exact for a sampler: refused (the expectation over its tasks has no closed form here)."""
        raise NotImplementedError(
            "the exact test loss of a user task distribution needs its expectation over tasks, which has no closed "
            "form here; use linmeta.simulate (the exact method averages the exact per-task loss over sampled tasks)")

    @staticmethod
    def sampler_doubles(prob, method, n_test_tasks):
        """Values a run holds beyond its draws: the sampler's training and test tasks, full factors at most."""
        per_task = prob.p * prob.p + prob.p + 1
        return prob.m * per_task + n_test_tasks * per_task

    def fingerprint(self, prob):
        """Bytes that identify the sampler in a sweep's cell keys: its name (its behaviour cannot be read)."""
        return self.describe(prob).encode()

    def describe(self, prob):
        """One line naming the sampler."""
        return f"user ({getattr(self.draw, '__qualname__', type(self.draw).__name__)})"

    def noisy(self, prob):
        """Unknown for a sampler: assumed (it only decides which warnings apply)."""
        return True

    def spread(self, prob):
        """Unknown for a sampler: assumed."""
        return True
