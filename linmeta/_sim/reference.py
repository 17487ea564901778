"""Plain-NumPy twins of the Numba kernels: test oracles and benchmark baselines.

This is the obvious per-run loop: draw (the same streams as the kernels),
build each ``A_i``, solve with ``lstsq``/``pinv`` (:func:`linmeta.meta_train`),
evaluate.  Slow and simple on purpose.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from linmeta import sampling
from linmeta._model import labels_numpy, model_of
from linmeta.maml import adapt, meta_train

__all__ = ["run_losses"]


def run_losses(prob, runs, seed, alpha_ts, alpha_rs, method="exact", *, n_test_tasks=100, n_test_points=50,
               test_sampler="projected"):
    """Per-run test losses, (R, A, B); same contract as :func:`linmeta._sim.engine.run_losses`."""
    out = np.empty((len(runs), len(alpha_ts), len(alpha_rs)))
    score = _protocol_one if test_sampler == "full" else partial(_protocol_one_projected, n_te=n_test_points)
    for j, run in enumerate(runs):
        draws = sampling.draw_training(prob, seed, [run])
        test = (sampling.draw_test(prob, seed, [run], n_test_tasks, n_test_points, sampler=test_sampler)
                if method == "protocol" else None)
        if test is not None and test_sampler == "full":  # the model makes the test tasks and their data
            test = dict(zip(("draws", "scale", "sigma"), model_of(prob).test_kernel_inputs(prob, test, seed, [run]),
                             strict=True))
        for ia, a in enumerate(alpha_ts):
            pa = prob.replace(alpha_t=float(a))
            omega = meta_train(sampling.batch_from_draws(pa, draws, 0, seed, run), pa)
            for ib, b in enumerate(alpha_rs):
                if method == "exact" and model_of(prob).exact_needs_omega:
                    out[j, ia, ib] = model_of(prob).exact_losses(prob, omega[None, None], [b], seed, [run],
                                                                 n_test_tasks)[0, 0, 0]
                elif method == "exact":
                    out[j, ia, ib] = model_of(prob).test_loss(np.sum((omega - prob.w0) ** 2), prob, b)
                else:
                    out[j, ia, ib] = score(omega, prob, test, b)
    return out


def _protocol_one(omega, prob, made, alpha_r):
    losses = []
    test, sigma = made["draws"], made["sigma"]
    shift = prob.w0 if model_of(prob).isotropic else 0.0   # the isotropic model's kernel coordinates start at w0
    for t in range(test["g"].shape[1]):
        w = shift + made["scale"] * test["g"][0, t]
        X_r, X_te = test["X_r"][0, t], test["X_te"][0, t]
        y_r = labels_numpy(X_r, w, test["e_r"][0, t], sigma)
        y_te = labels_numpy(X_te, w, test["e_te"][0, t], sigma)
        theta = adapt(omega, X_r, y_r, alpha_r)
        losses.append(0.5 * np.mean((y_te - X_te @ theta) ** 2))
    return np.mean(losses)


def _protocol_one_projected(omega, prob, test, alpha_r, n_te):
    """Return the projected protocol (:func:`linmeta._sim.kernels.protocol_losses_projected`), written out per task."""
    losses = []
    c = alpha_r / prob.n_r
    for t in range(test["g"].shape[1]):
        w = model_of(prob).task_vectors(prob, test["g"][0, t])
        e = np.linalg.norm(omega - w)
        # Bartlett factors of the Wishart matrices of (input along a direction, noise / sigma) sums
        vv, vz, zz = _wishart_sums(test["vv"][0, t], test["b_r"][0, t], test["rest_r"][0, t], prob.sigma)
        gg, gz, zz_te = _wishart_sums(test["gg"][0, t], test["b_te"][0, t], test["rest_te"][0, t], prob.sigma)
        vr, rr = e * vv - vz, e * e * vv - 2 * e * vz + zz          # v.r and |r|^2 with r = e v - z
        dist2 = (e - c * vr) ** 2 + c**2 * rr * test["chi2"][0, t]
        losses.append((dist2 * gg + 2 * np.sqrt(dist2) * gz + zz_te) / (2 * n_te))   # mean over test points
    return np.mean(losses)


def _wishart_sums(a2, b, c2, sigma):
    """``(sum v^2, sum v z, sum z^2)`` from the Bartlett factor ``[[a, 0], [b, c]]``, ``z = sigma * noise``."""
    return a2, sigma * np.sqrt(a2) * b, sigma**2 * (b * b + c2)
