"""The model layer: the task distribution, its draw layout, its labels and its exact test side (docs: theory, M1, T0).

A task model says

* which standard-normal (or chi-square) draws a run makes, by key and shape
  (``train_layout``, ``test_layout``, ``projected_test_layout`` with
  ``projected_test_dfs``): :mod:`linmeta.sampling` fills exactly these, and
  :func:`linmeta._sim.budget.draw_doubles` counts exactly these;
* how the draws become a task and its data: ``task_scale`` (the kernels' task
  draws are ``w - w0 = task_scale * g``), ``task_vectors`` and the label map
  ``y = X w + sigma e``, one definition compiled for the kernels
  (:func:`labels`) with its NumPy twin (:func:`labels_numpy`);
* the exact expected meta-test loss given the meta-trained parameters,
  ``test_loss(dist2, prob, alpha_r)`` (T0), with its factor :func:`h`;
* what its samplers may assume: ``isotropic`` (the projected protocol sampler
  and the sufficient-statistic sampler need rotation invariance and call
  :func:`require_isotropic`).

:func:`model_of` returns the model of a :class:`~linmeta.Problem`:

* :class:`IsotropicGaussian`, the paper's model (the default);
* :class:`~linmeta._model.diagonal.DiagonalGaussians`, diagonal input and task
  covariances (``input_cov``, ``task_cov``), one family or a
  :class:`~linmeta.Mixture` of several;
* :class:`~linmeta._model.user.UserTasks`, the tasks of a user's sampler
  (``tasks=draw``).

Every model turns the standard-normal draws into the kernels' inputs
(``kernel_inputs``, ``test_kernel_inputs``: inputs, tasks and noise, with the
scales the kernels apply) and scores a run exactly (``exact_losses``, from
``|omega - w0|^2`` or, when ``exact_needs_omega``, from ``omega``).  A new
model is a class with the same attributes in a module of this package, chosen
by :func:`model_of`; the kernels and their callers do not change.  What stays
isotropic-only and says so: the projected protocol sampler and the
sufficient-statistic route (``isotropic = False`` turns them off or refuses
them).

Examples
--------
>>> import linmeta as lm
>>> from linmeta._model import model_of
>>> model = model_of(lm.presets.FIG3)
>>> model.name, model.isotropic
('isotropic', True)
>>> sorted(model.train_layout(lm.presets.FIG3, 1))
['X_t', 'X_v', 'e_t', 'e_v', 'g']
"""
from __future__ import annotations

import numpy as np

from linmeta._model.diagonal import Component, DiagonalGaussians
from linmeta._model.isotropic import ISOTROPIC, IsotropicGaussian, h, labels, labels_into, labels_numpy
from linmeta._model.user import UserTasks

__all__ = ["ISOTROPIC", "IsotropicGaussian", "DiagonalGaussians", "UserTasks", "Component", "h", "labels",
           "labels_into", "labels_numpy", "layout_doubles", "model_of", "require_isotropic", "test_sampler_for",
           "component_of", "model_fingerprint"]


def model_of(prob):
    """Return the task model of ``prob`` (built once per problem and kept on it)."""
    model = prob.__dict__.get("_model")
    if model is None:
        model = _build(prob)
        object.__setattr__(prob, "_model", model)
    return model


def component_of(weight, prob) -> Component:
    """Return the Gaussian family of a problem without a sampler: variances of inputs and tasks, mean task, noise."""
    s = np.ones(prob.p) if prob.input_cov is None else np.broadcast_to(np.asarray(prob.input_cov, float), (prob.p,))
    t = np.full(prob.p, prob.nu**2 / prob.p) if prob.task_cov is None else np.asarray(prob.task_cov, float)
    return Component(float(weight), np.array(s), t, prob.w0, float(prob.sigma))


def _build(prob):
    components = getattr(prob, "components", None)
    if components is not None:
        return DiagonalGaussians([component_of(w, q) for w, q in components])
    if prob.tasks is not None:
        return UserTasks(prob.tasks)
    if prob.input_cov is None and prob.task_cov is None:
        return ISOTROPIC
    return DiagonalGaussians([component_of(1.0, prob)])


def model_fingerprint(prob) -> bytes:
    """Bytes that identify the task model beyond the scalar fields (empty for the paper's model).

    >>> import linmeta as lm
    >>> model_fingerprint(lm.presets.FIG3)
    b''
    """
    return model_of(prob).fingerprint(prob)


def test_sampler_for(prob, test_sampler):
    """The protocol's test sampler for ``prob``: ``"projected"`` needs isotropy, other models use ``"full"``."""
    return "full" if test_sampler == "projected" and not model_of(prob).isotropic else test_sampler


def layout_doubles(layout) -> int:
    """Count the values a layout (``{key: shape}``) holds.

    >>> layout_doubles({"a": (2, 3), "b": (4,)})
    10
    """
    total = 0
    for shape in layout.values():
        size = 1
        for n in shape:
            size *= int(n)
        total += size
    return total


def require_isotropic(prob, what):
    """Refuse a sampler that relies on rotation invariance (``what``) for a model without it.

    Raises
    ------
    ValueError
        Naming the sampler and the model.
    """
    model = model_of(prob)
    if not model.isotropic:
        raise ValueError(f"{what} needs isotropic inputs and task prior; the task model {model.name!r} is not")
