"""The isotropic Gaussian task distribution of the paper (docs: theory, M1, T0).

A task is ``w ~ N(w0, nu^2/p I)``; its inputs are ``x ~ N(0, I_p)`` and its
labels ``y = x.w + sigma e`` with ``e ~ N(0, 1)``.  Every draw is a standard
normal scaled afterwards, so problems that differ only in ``sigma``, ``nu``,
``w0``, rates or algorithm see the same random numbers (common random
numbers).

Given the meta-trained ``omega``, a fresh task, ``n_r`` adaptation points,
one step of rate ``alpha_r`` and fresh test points give exactly (T0)

``E[test loss | omega] = sigma^2/2 (1 + alpha_r^2 p / n_r) + h_r/2 (nu^2 + |omega - w0|^2)``

with ``h_r = h(alpha_r, p, n_r) = (1 - alpha_r)^2 + alpha_r^2 (p + 1) / n_r``
(it only uses ``E[H] = I`` and ``E[H^2] = (1 + (p+1)/n) I``).
"""
from __future__ import annotations

import numpy as np

from linmeta._sim.linalg import jit

__all__ = ["ISOTROPIC", "IsotropicGaussian", "h", "labels", "labels_into", "labels_numpy"]


@jit
def labels(X, w, e, sigma):
    """``y = X w + sigma e``: the labels of inputs ``X`` (n x p) of the task ``w`` with standard-normal noise ``e``.

    The kernels call it in coordinates shifted by ``w0`` (``w - w0`` in place of ``w``).
    """
    return np.dot(X, w) + sigma * e


@jit
def labels_into(X, w, e, sigma, out):
    """:func:`labels` written into ``out`` (for kernels that keep one buffer per run)."""
    out[:] = np.dot(X, w) + sigma * e


def labels_numpy(X, w, e, sigma):
    """NumPy twin of :func:`labels` over stacked tasks: ``X`` (..., n, p), ``w`` (..., p), ``e`` (..., n).

    >>> import numpy as np
    >>> labels_numpy(np.ones((2, 3, 4)), np.arange(8.0).reshape(2, 4), np.zeros((2, 3)), 1.0)
    array([[ 6.,  6.,  6.],
           [22., 22., 22.]])
    """
    return np.einsum("...np,...p->...n", X, w) + sigma * e


def h(alpha, p, n):
    """``(1 - alpha)^2 + alpha^2 (p + 1) / n``: ``E|(I - alpha H) v|^2 / |v|^2`` for ``H`` of ``n`` points.

    >>> float(h(0.5, 9, 10))
    0.5
    """
    alpha = np.asarray(alpha, dtype=float)
    return (1 - alpha) ** 2 + alpha**2 * (p + 1) / n


class IsotropicGaussian:
    """The paper's model: ``w ~ N(w0, nu^2/p I)``, ``x ~ N(0, I_p)``, noise ``N(0, sigma^2)``."""

    name = "isotropic"
    #: rotation invariant: the projected protocol sampler and the sufficient-statistic sampler apply
    isotropic = True
    #: the exact method needs only ``|omega - w0|^2``, not ``omega``
    exact_needs_omega = False

    @staticmethod
    def task_scale(prob):
        """``nu / sqrt(p)``: a task is ``w = w0 + task_scale * g`` with ``g`` standard normal."""
        return prob.nu / np.sqrt(prob.p)

    def task_vectors(self, prob, g):
        """Return the tasks ``w`` (..., p) of standard-normal task draws ``g`` (..., p)."""
        return prob.w0 + self.task_scale(prob) * g

    @staticmethod
    def train_layout(prob, n_runs):
        """Meta-training draws of ``n_runs`` runs, in stream order: task, training inputs and noise, validation."""
        m, p = prob.m, prob.p
        return {"g": (n_runs, m, p), "X_t": (n_runs, m, prob.n_t, p), "e_t": (n_runs, m, prob.n_t),
                "X_v": (n_runs, m, prob.n_v, p), "e_v": (n_runs, m, prob.n_v)}

    @staticmethod
    def test_layout(prob, n_runs, n_test_tasks, n_test_points):
        """The protocol's meta-test draws: per test task, the task, ``n_r`` adaptation and ``n_te`` test points."""
        T, p = n_test_tasks, prob.p
        return {"g": (n_runs, T, p), "X_r": (n_runs, T, prob.n_r, p), "e_r": (n_runs, T, prob.n_r),
                "X_te": (n_runs, T, n_test_points, p), "e_te": (n_runs, T, n_test_points)}

    @staticmethod
    def projected_test_layout(prob, n_runs, n_test_tasks, n_test_points):
        """Return the projected protocol sampler's draws (:func:`linmeta.sampling.draw_test`), ``p + 7`` per task."""
        T = n_test_tasks
        return {"g": (n_runs, T, prob.p), "chi2": (n_runs, T), "vv": (n_runs, T), "rest_r": (n_runs, T),
                "b_r": (n_runs, T), "gg": (n_runs, T), "rest_te": (n_runs, T), "b_te": (n_runs, T)}

    @staticmethod
    def projected_test_dfs(prob, n_test_points):
        """Degrees of freedom of the projected sampler's chi-square draws (its other keys are standard normal)."""
        return {"chi2": prob.p - 1, "vv": prob.n_r, "rest_r": prob.n_r - 1, "gg": n_test_points,
                "rest_te": n_test_points - 1}

    def kernel_inputs(self, prob, draws, seed, runs):
        """``(draws, task_scale, sigma, start)`` for the kernels: the draws as they are, shifted by ``w0``."""
        return draws, self.task_scale(prob), prob.sigma, prob.start_offset

    def test_kernel_inputs(self, prob, test, seed, runs):
        """``(test, task_scale, sigma)`` for the protocol kernels."""
        return test, self.task_scale(prob), prob.sigma

    def exact_losses(self, prob, dist2, alpha_rs, seed, runs, n_test_tasks):
        """Exact per-run losses (R, A, B) from ``dist2`` (R, A) (T0)."""
        return self.test_loss(dist2[:, :, None], prob, np.asarray(alpha_rs, dtype=float)[None, None, :])

    def loss_given(self, omega, prob, alpha_r):
        """T0 at ``omega`` (p,)."""
        d = np.asarray(omega, dtype=float) - prob.w0
        return self.test_loss(float(d @ d), prob, alpha_r)

    @staticmethod
    def sampler_doubles(prob, method, n_test_tasks):
        """Values a run holds beyond its standard-normal draws: none."""
        return 0

    @staticmethod
    def fingerprint(prob):
        """Bytes that identify the model beyond the scalar fields: none."""
        return b""

    @staticmethod
    def describe(prob):
        """One line naming the model."""
        return "isotropic"

    @staticmethod
    def noisy(prob):
        """Whether the labels carry noise."""
        return prob.sigma > 0

    @staticmethod
    def spread(prob):
        """Whether the tasks vary."""
        return prob.nu > 0

    @staticmethod
    def test_loss(dist2, prob, alpha_r=None):
        """T0: the exact expected meta-test loss given ``dist2 = |omega - w0|^2`` (broadcasts over arrays).

        ``alpha_r`` defaults to ``prob.alpha_r``.
        """
        a = prob.alpha_r if alpha_r is None else np.asarray(alpha_r, dtype=float)
        noise = 0.5 * prob.sigma**2 * (1 + a**2 * prob.p / prob.n_r)
        return noise + 0.5 * h(a, prob.p, prob.n_r) * (prob.nu**2 + dist2)


#: the one instance (a model holds no state of its own)
ISOTROPIC = IsotropicGaussian()
