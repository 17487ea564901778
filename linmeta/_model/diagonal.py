"""Gaussian task families with diagonal covariances, alone or mixed (docs: theory, M3, T0g).

A component ``c`` has inputs ``x ~ N(0, diag(s_c))``, tasks
``w ~ N(w0_c, diag(t_c))`` and noise ``sigma_c``; a mixture draws, for every
task independently, component ``c`` with probability ``weight_c``.  A
:class:`~linmeta.Problem` with ``input_cov`` or ``task_cov`` is one component;
a :class:`~linmeta.Mixture` holds several.

The draws are the isotropic model's (same keys, shapes and stream order, so
the same seed gives the same standard normals), plus one normal per task
(key ``c``) when there are several components: the task takes the component
whose cumulative-weight interval holds ``Phi(c)``.  Before the kernels run,
:meth:`DiagonalGaussians.kernel_inputs` turns the standard normals into the
tasks' data in place: inputs ``x = sqrt(s_c) * z``, tasks ``w = w0_c +
sqrt(t_c) * g`` (kernel coordinates are not shifted: ``omega`` itself comes
back), noise ``sigma_c e``; the kernels then run with unit scales.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from linmeta._model.isotropic import IsotropicGaussian
from linmeta._model.test_side import diagonal_forms, loss_from_forms

__all__ = ["Component", "DiagonalGaussians"]


@dataclass(frozen=True, eq=False)
class Component:
    """One Gaussian task family: weight, input variances ``s``, task variances ``t``, mean task ``w0``, noise."""

    weight: float
    s: np.ndarray
    t: np.ndarray
    w0: np.ndarray
    sigma: float


class DiagonalGaussians:
    """Tasks from one or several Gaussian families with diagonal input and task covariances."""

    #: not rotation invariant: the projected test sampler and the sufficient-statistic route do not apply
    isotropic = False
    #: the exact method needs ``omega`` itself (its test side weighs coordinates), not only ``|omega - w0|``
    exact_needs_omega = True

    def __init__(self, components):
        self.components = tuple(components)
        self.name = "diagonal" if len(self.components) == 1 else "mixture"
        w = np.array([c.weight for c in self.components], dtype=float)
        self._weights = w / w.sum()
        self._cumulative = np.cumsum(self._weights)
        self._s = np.array([c.s for c in self.components])
        self._sqrt_s = np.sqrt(self._s)
        self._sqrt_t = np.sqrt(np.array([c.t for c in self.components]))
        self._w0 = np.array([c.w0 for c in self.components])
        self._sigma = np.array([c.sigma for c in self.components], dtype=float)

    # ----------------------------------------------------------------- draws
    def train_layout(self, prob, n_runs):
        """Lay out the isotropic model's meta-training draws, then one component draw per task (``c``) for a mixture."""
        out = IsotropicGaussian.train_layout(prob, n_runs)
        if len(self.components) > 1:
            out["c"] = (n_runs, prob.m)
        return out

    def test_layout(self, prob, n_runs, n_test_tasks, n_test_points):
        """The protocol's meta-test draws, then one component draw per test task for a mixture."""
        out = IsotropicGaussian.test_layout(prob, n_runs, n_test_tasks, n_test_points)
        if len(self.components) > 1:
            out["c"] = (n_runs, n_test_tasks)
        return out

    def component_of(self, c):
        """Component index of every task from its standard-normal draw ``c`` (any shape)."""
        idx = np.searchsorted(self._cumulative, ndtr(c), side="right")
        return np.minimum(idx, len(self.components) - 1)

    def _scale(self, draws, points):
        """Turn standard-normal draws into tasks and data in place (``points``: the (inputs, noise) key pairs)."""
        comp = self.component_of(draws["c"]) if "c" in draws else np.zeros(draws["g"].shape[:-1], dtype=np.intp)
        draws["g"] *= self._sqrt_t[comp]
        draws["g"] += self._w0[comp]
        for x, e in points:
            draws[x] *= self._sqrt_s[comp][..., None, :]
            draws[e] *= self._sigma[comp][..., None]
        return draws

    def kernel_inputs(self, prob, draws, seed, runs):
        """``(draws, task_scale, sigma, start)`` for the kernels: the data made here, unit scales, ``omega0``."""
        return self._scale(draws, (("X_t", "e_t"), ("X_v", "e_v"))), 1.0, 1.0, np.asarray(prob.omega0, dtype=float)

    def test_kernel_inputs(self, prob, test, seed, runs):
        """``(test, task_scale, sigma)`` for the protocol kernel, the test tasks' data made in place."""
        return self._scale(test, (("X_r", "e_r"), ("X_te", "e_te"))), 1.0, 1.0

    # -------------------------------------------------------------- test side
    def loss_given(self, omega, prob, alpha_r):
        """T0g averaged over the components, for ``omega`` of shape (..., p); broadcasts ``alpha_r`` on the right."""
        a = np.asarray(alpha_r, dtype=float)
        omega = np.asarray(omega, dtype=float)
        total = 0.0
        for comp, w in zip(self.components, self._weights, strict=True):
            q1, q2, q3, tr_s2 = diagonal_forms(omega - comp.w0, comp.s, comp.t)
            q = [np.expand_dims(v, tuple(range(np.ndim(v), np.ndim(v) + a.ndim))) for v in (q1, q2, q3)]
            total = total + w * loss_from_forms(*q, tr_s2, comp.sigma, a, prob.n_r)
        return total

    def exact_losses(self, prob, delta, alpha_rs, seed, runs, n_test_tasks):
        """Exact per-run losses (R, A, B) from ``omega`` (R, A, p) (the kernels' ``delta``, unshifted here)."""
        return self.loss_given(delta, prob, np.asarray(alpha_rs, dtype=float))

    # -------------------------------------------------------------- summaries
    @staticmethod
    def sampler_doubles(prob, method, n_test_tasks):
        """Values a run holds beyond its standard-normal draws: none (the data are made in place)."""
        return 0

    def fingerprint(self, prob):
        """Bytes that identify the families (weights, noise, variances, mean tasks) in a sweep's cell keys."""
        return b"".join(np.array([c.weight, c.sigma, *c.s, *c.t, *c.w0]).tobytes() for c in self.components)

    def describe(self, prob):
        """One line naming the family (the tidy tables' ``model`` column)."""
        if len(self.components) > 1:
            return f"mixture of {len(self.components)}"
        c = self.components[0]
        return f"diagonal (mean input variance {c.s.mean():.6g}, task variance sum {c.t.sum():.6g})"

    def noisy(self, prob):
        """Whether some label carries noise."""
        return bool(np.any(self._sigma > 0))

    def spread(self, prob):
        """Whether the tasks vary (a task variance above zero, or components with different means)."""
        return bool(np.any(self._sqrt_t > 0) or np.any(self._w0 != self._w0[0]))
