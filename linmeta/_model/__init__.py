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

:func:`model_of` returns the model of a :class:`~linmeta.Problem`; the
isotropic Gaussian model of the paper (:class:`IsotropicGaussian`) is the only
one so far.

A new model (diagonal input or task covariance, a mixture, a user's sampler) is
a class with the same attributes in a module of this package, chosen by
:func:`model_of`.  What stays isotropic-only and says so: the projected
protocol sampler and the sufficient-statistic route (``isotropic = False``
turns them off or refuses them), and the generated theory code
(:mod:`linmeta.theory`), whose T0 a test ties to :meth:`IsotropicGaussian.test_loss`.
Not yet here: a hook that turns standard-normal input draws into a model's
inputs before the kernels (they take the drawn inputs as they are).

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

from linmeta._model.isotropic import ISOTROPIC, IsotropicGaussian, h, labels, labels_numpy

__all__ = ["ISOTROPIC", "IsotropicGaussian", "h", "labels", "labels_numpy", "layout_doubles", "model_of",
           "require_isotropic"]


def model_of(prob):
    """Return the task model of ``prob`` (today always :data:`ISOTROPIC`)."""
    return ISOTROPIC


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
