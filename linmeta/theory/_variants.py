"""Theory for the non-default algorithms: N-step MAML at leading order; why not the others.

Which algorithm has closed-form theory is read from the table of inner maps
(:data:`linmeta.inner_maps.INNER_MAPS`, its ``theory`` field).

* N-step MAML (``algorithm="maml"``, any ``n_steps``): the leading order (docs: theory, T1, B1)
  with ``A = (I - alpha_t H)^N`` and exact Wishart moments
  (:mod:`linmeta.theory._generated_variants`, emitted by ``derivations/variants.py``).
  For ``n_steps = 1`` it equals the derived Theorems 1 and 2.
* iMAML and first-order MAML: no closed form here (``NotImplementedError``
  says why); :func:`linmeta.test_loss_given` (T0) gives the exact loss given
  ``omega`` for every algorithm, which ``simulate(method="exact")`` uses.
"""
from __future__ import annotations

from fractions import Fraction

from linmeta.inner_maps import INNER_MAPS
from linmeta.loss import loss_from_distance
from linmeta.theory import _generated_variants as _g
from linmeta.theory._wishart_exact import nstep_trace_moments

__all__ = ["expected_distance", "test_loss"]


def expected_distance(prob):
    """Leading-order ``E|omega* - w0|^2`` for N-step MAML (docs: theory, T1, B1).

    Examples
    --------
    >>> import linmeta as lm
    >>> from linmeta.theory import _variants
    >>> round(float(_variants.expected_distance(lm.presets.FIG3.replace(n_steps=2))), 6)
    0.004231
    """
    why = INNER_MAPS[prob.algorithm].theory
    if why is not None:
        raise NotImplementedError(f"no closed-form theory for algorithm={prob.algorithm!r}: {why} "
                                  "(derivations/variants.py)")
    t = [float(x) for x in nstep_trace_moments(Fraction(prob.alpha_t), prob.n_steps, prob.n_t, prob.p)]
    tA2, tA4, tA2sq, tF2H, tG, tAG = t
    if prob.p > prob.k:
        s2 = float(prob.start_offset @ prob.start_offset)
        return _g.distance_over(prob.p, prob.m, prob.n_v, prob.n_t, prob.sigma, prob.nu, s2, tA2, tF2H)
    return _g.distance_under(prob.p, prob.m, prob.n_v, prob.n_t, prob.sigma, prob.nu, tA2, tA4, tA2sq, tG, tAG)


def test_loss(prob):
    """Leading-order average test loss for N-step MAML: (T0) at :func:`expected_distance`."""
    return loss_from_distance(expected_distance(prob), prob)


test_loss.__test__ = False  # not a pytest test
