"""Leading-order theory of one-step MAML behind :mod:`linmeta.theory`.

Thin, validated wrappers around the emitted NumPy code in ``_generated.py``
((docs: theory) T0, T1, T1a, T2).  No sympy at runtime.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike

from linmeta._model import ISOTROPIC, component_of, model_of
from linmeta._validation import check_int
from linmeta.algorithms._registry import INNER_MAPS, MAML, is_one_step_maml
from linmeta.errors import NonFiniteResultError
from linmeta.moments import warn_if_infinite_moments
from linmeta.problem import RATE_FIELDS, Problem
from linmeta.theory import _anisotropic, _anisotropic_domain, _anisotropic_finite, _erm, _finite, _population, _variants
from linmeta.theory import _generated as gen

__all__ = ["FORMS", "APPROXIMATIONS", "test_loss", "expected_distance", "g"]

FORMS = ("derived", "printed")
APPROXIMATIONS = ("leading", "finite", "population", "proportional")


# ------------------------------------------------------------------ checks
def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def _check_rates(value, name, default):
    """``default`` if ``value`` is None, else a finite float array (scalar stays 0-d)."""
    if value is None:
        return np.asarray(default, dtype=float)
    try:
        out = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real number or array; got {value!r}") from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return out


def _out(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _check_problem(prob, form):
    if not isinstance(prob, Problem):
        raise ValueError(f"prob must be a linmeta.Problem; got {type(prob).__name__}")
    _check_choice(form, "form", FORMS)
    if not is_one_step_maml(prob):
        raise ValueError(f"the leading-order theory covers one-step MAML only (algorithm={MAML!r}, n_steps=1); "
                         f"got algorithm={prob.algorithm!r}, n_steps={prob.n_steps}")
    if form == "printed" and prob.regime == "overparameterized":
        raise ValueError(
            "form='printed' is theorem 2, valid only in the underparameterized regime (p < n_v*m); "
            f"prob is overparameterized (p={prob.p} > n_v*m={prob.k}); theorem 1 as printed equals form='derived'")


def _check_optimum_problem(prob, form, name):
    """Refuse anything but one-step MAML: the optima are derived for it only (no closed form otherwise)."""
    if _is_variant(prob, form):
        raise NotImplementedError(
            f"no closed-form {name} for algorithm={prob.algorithm!r}, n_steps={prob.n_steps}: the optimum is derived "
            "for one-step MAML only; use linmeta.simulate_optimum")
    _check_problem(prob, form)


def _check_finite_form(form):
    if form != "derived":
        raise ValueError(f"form={form!r} exists only for approximation='leading'")


def _check_form_and_approximation(form, approximation):
    if form in APPROXIMATIONS and approximation == "leading":
        raise ValueError(f"form must be one of {FORMS}; got {form!r} (the approximation is the third argument, "
                         f"or pass approximation={form!r})")
    _check_choice(form, "form", FORMS)
    _check_choice(approximation, "approximation", APPROXIMATIONS)


def _is_variant(prob, form):
    """N-step MAML, FOMAML and iMAML: theory of :mod:`linmeta.theory._variants` (derived form only)."""
    return isinstance(prob, Problem) and form == "derived" and not is_one_step_maml(prob)


def _validate(prob, form, approximation, stacklevel=4):
    """Check the arguments shared by the theory functions; warn if the loss has no finite mean or variance.

    ``stacklevel`` points the warning at the caller of the public function (one more behind
    :func:`_finite_result`).
    """
    if not isinstance(prob, Problem):
        raise ValueError(f"prob must be a linmeta.Problem; got {type(prob).__name__}")
    _check_form_and_approximation(form, approximation)
    model = model_of(prob)
    if not model.isotropic and approximation != "finite":
        raise NotImplementedError(
            f"no closed form at approximation={approximation!r} for the task model {model.describe(prob)!r}: "
            "this quantity is derived for the paper's isotropic model only; for diagonal covariances the test "
            "loss has approximation='leading' (A2-A4), 'finite' (A6-A8), 'proportional' (A5) and 'population' "
            "(P1-P4), and expected_distance has approximation='finite'")
    if INNER_MAPS[prob.algorithm].theory is None:  # otherwise no closed form is given: NotImplementedError follows
        warn_if_infinite_moments(prob, stacklevel=stacklevel)


def _anisotropic_finite_value(func, prob, alpha_t, alpha_r):
    """A6/A7 (``theory._anisotropic_finite``) for a non-isotropic task model, elementwise over the rates."""
    if INNER_MAPS[prob.algorithm].as_maml:
        _erm.as_maml(prob, alpha_t)  # refuses an alpha_t override: ERM reads none
    return _finite_elementwise(func, prob, alpha_t, alpha_r)


def _finite_elementwise(func, prob, alpha_t, alpha_r):
    """Call ``func(prob)`` for each broadcast ``(alpha_t, alpha_r)`` pair."""
    if alpha_t is None and alpha_r is None:
        return float(func(prob))
    a_t, a_r = np.broadcast_arrays(_check_rates(alpha_t, "alpha_t", prob.alpha_t),
                                   _check_rates(alpha_r, "alpha_r", prob.alpha_r))
    out = np.array([func(prob.replace(alpha_t=float(t), alpha_r=float(r)))
                    for t, r in zip(a_t.flat, a_r.flat, strict=True)],
                   dtype=float).reshape(a_t.shape)
    return _out(out)


# ------------------------------------------------------------------ formulas
def _distance(prob, alpha_t, form):
    args = (alpha_t, prob.p, prob.m, prob.n_t, prob.n_v, prob.sigma, prob.nu)
    if prob.regime == "overparameterized":
        s2 = float(prob.start_offset @ prob.start_offset)
        return gen.distance_overparameterized(*args, s2)
    if form == "printed":
        return gen.distance_underparameterized_printed(*args)
    return gen.distance_underparameterized(*args)


def _finite_result(func):
    """Raise :class:`~linmeta.NonFiniteResultError` where ``func``'s value overflows, instead of returning it."""
    @functools.wraps(func)
    def checked(prob, *args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            value = func(prob, *args, **kwargs)
        if not np.all(np.isfinite(value)):
            rates = {name: kwargs.get(name) if kwargs.get(name) is not None else getattr(prob, name)
                     for name in RATE_FIELDS}
            raise NonFiniteResultError(None, None, f"{func.__name__} is not a finite number (it overflows double "
                                       f"precision) at alpha_t={rates['alpha_t']!r}, alpha_r={rates['alpha_r']!r}")
        return value
    return checked


@_finite_result
def expected_distance(prob: Problem, form: str = "derived", approximation: str = "leading", *,
                      alpha_t: ArrayLike | None = None) -> float | np.ndarray:
    """Return the expected squared distance ``E|omega* - w0|^2`` of the meta-trained parameters.

    Same arguments, in the same order, as :func:`test_loss`.

    Parameters
    ----------
    prob : Problem
        One-step MAML, N-step MAML (``n_steps > 1``, derived form only); see
        :func:`test_loss` for first-order MAML and iMAML.
    form : {"derived", "printed"}, default="derived"
        ``"printed"``: the distance implied by theorem 2 as printed in the talk
        (prefactor ``h_r/(2 h_t)``); only for under-parameterised one-step MAML.
    approximation : {"leading", "finite"}, default="leading"
        ``"leading"``: theorem 1 (``p > n_v m``) or theorem 2 (``p < n_v m``).
        ``"finite"``: the finite-size theory (one-step MAML, derived form);
        with diagonal ``input_cov``/``task_cov``, exact where derived (A6, A7)
        and the anchored closure A8 elsewhere, as in :func:`test_loss`.
    alpha_t : float or ndarray, optional
        Overrides ``prob.alpha_t``; arrays broadcast.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If ``form="printed"`` and ``prob`` is over-parameterised or not
        one-step MAML, or an argument is invalid.
    NotImplementedError
        For first-order MAML and iMAML (no closed form; the message says why).

    Warns
    -----
    InfiniteMomentWarning
        If ``p - n_v m - 1 <= 0`` (over-parameterised) or ``n_v m - p - 1 <= 0``
        (under-parameterised): the true expectation is infinite and the
        formula's finite value is an artefact of the approximation; also when
        only the variance is infinite (margin ``<= 2``).

    Examples
    --------
    >>> import linmeta as lm
    >>> prob = lm.presets.FIG3.replace(alpha_t=0.0)   # p/(n_v m) (sigma^2 + nu^2 (n_v+1+p)/p)
    >>> round(lm.theory.expected_distance(prob), 6)
    0.00344

    References
    ----------
    (docs: theory, T0, T1, T2); derivations/theorem1.py, derivations/theorem2.py.
    """
    if approximation == "population":
        raise ValueError("approximation='population' is given for test_loss (the m -> infinity loss), not for "
                         "expected_distance")
    _validate(prob, form, approximation, stacklevel=5)
    if approximation == "finite" and not model_of(prob).isotropic:
        _check_finite_form(form)
        return _anisotropic_finite_value(_anisotropic_finite.expected_distance, prob, alpha_t, None)
    if INNER_MAPS[prob.algorithm].as_maml:  # ERM: MAML at alpha_t = 0 with n_v -> n_t + n_v (theory._erm)
        maml = _erm.as_maml(prob, alpha_t)
        if approximation == "finite":  # exact for ERM
            _check_finite_form(form)
            return _finite.exact_alpha0_distance(maml)
        prob, alpha_t = maml, None
    if approximation == "finite":
        _check_finite_form(form)
        return _finite_elementwise(_finite.expected_distance, prob, alpha_t, None)
    if _is_variant(prob, form):
        return _finite_elementwise(_variants.expected_distance, prob, alpha_t, None)
    _check_problem(prob, form)
    return _out(_distance(prob, _check_rates(alpha_t, "alpha_t", prob.alpha_t), form))


@_finite_result
def test_loss(prob: Problem, form: str = "derived", approximation: str = "leading", *,
              alpha_t: ArrayLike | None = None, alpha_r: ArrayLike | None = None) -> float | np.ndarray:
    """Average meta-test loss, leading order (or finite size) in the regime of ``prob``.

    ``L = sigma^2/2 (1 + alpha_r^2 p/n_r) + h_r/2 (nu^2 + E|omega* - w0|^2)`` (T0)
    with the distance of theorem 1 (``p > n_v m``) or theorem 2 (``p < n_v m``).

    Parameters
    ----------
    prob : Problem
        One-step MAML (theorems 1 and 2) or N-step MAML (``n_steps > 1``:
        the same derivation with ``A = (I - alpha_t H)^N``, derived form
        only).  First-order MAML and iMAML have no closed form here and raise
        ``NotImplementedError`` saying why.  ERM (``algorithm="erm"``):
        one-step MAML at ``alpha_t = 0`` with ``n_v -> n_t + n_v`` (docs:
        theory, E1), and ``approximation="finite"`` is then exact; its
        ``alpha_t`` override must be ``None``.
    form : {"derived", "printed"}, default="derived"
        ``"derived"``: the formula derived in ``derivations/`` (theorem 2 with
        prefactor ``h_r/(2 h_t^2)``).  ``"printed"``: theorem 2 exactly as
        printed in the talk (``h_r/(2 h_t)``), for comparison;
        only for under-parameterised one-step MAML.
    approximation : {"leading", "finite", "population"}, default="leading"
        ``"finite"``: the finite-size theory (one-step MAML, derived form).
        ``"population"``: the exact ``m -> infinity`` loss (docs: theory, P1-P4),
        meta-training's equations replaced by their expectation, for every
        Gaussian task model (the paper's, ``input_cov``/``task_cov``, a
        :class:`~linmeta.Mixture`) and MAML (``n_steps <= 3``), first-order
        MAML (``n_steps <= 6``) and ERM; iMAML and a user's sampler raise
        ``NotImplementedError`` saying why.
        ``"proportional"``: the ridgeless deterministic equivalent (docs:
        theory, A5), exact as ``p, k -> infinity`` in proportion, over-parameterised
        with no inner step (ERM or ``alpha_t = 0``).
        With diagonal ``input_cov``/``task_cov`` (one family), ``"leading"`` is
        the anisotropic leading order (A2-A4), which reduces to theorems 1 and 2
        at ``input_cov = I``, ``task_cov = nu^2/p I``; ``"finite"`` is exact
        where derived: a scalar ``input_cov`` (A6, the isotropic finite-size
        theory of an equivalent problem, any ``alpha_t``) and, for a general
        ``input_cov``, ``p < k`` without an inner step (A7: ERM or
        ``alpha_t = 0``); elsewhere the anchored closure A8 (the leading
        order's parts times their finite-size factors at ``alpha_t = 0``,
        A7 or A5), which warns outside its measured domain.
    alpha_t, alpha_r : float or ndarray, optional
        Override ``prob.alpha_t`` / ``prob.alpha_r``; arrays broadcast together.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If ``form="printed"`` is asked for an over-parameterised ``prob`` (the
        message names the regime) or for anything but one-step MAML, or an
        argument is invalid.
    NotImplementedError
        For ``algorithm="fomaml"`` or ``"imaml"``: no closed form (the message
        gives the reason).
    NonFiniteResultError
        If the loss overflows double precision (e.g. ``alpha_r=1e200``).

    Warns
    -----
    InfiniteMomentWarning
        If ``p - n_v m - 1 <= 0`` (over-parameterised) or ``n_v m - p - 1 <= 0``
        (under-parameterised): the average loss is infinite and the formula's
        finite value is an artefact of the approximation; also when only the
        variance is infinite (margin ``<= 2``).

    Examples
    --------
    >>> import numpy as np, linmeta as lm
    >>> round(lm.theory.test_loss(lm.presets.FIG2), 6)
    0.721819
    >>> lm.theory.test_loss(lm.presets.FIG3, alpha_t=np.array([-0.5, 0.0, 0.5])).round(6)
    array([0.041528, 0.038994, 0.042086])
    >>> round(lm.theory.test_loss(lm.presets.FIG3.replace(n_steps=2)), 6)
    0.039296
    >>> lm.theory.test_loss(lm.presets.FIG2, form="printed")
    Traceback (most recent call last):
    ...
    ValueError: form='printed' is theorem 2, valid only in the underparameterized regime (p < n_v*m); prob is
    overparameterized (p=60 > n_v*m=6); theorem 1 as printed equals form='derived'

    References
    ----------
    (docs: theory, T0, T1, T2); derivations/theorem1.py, derivations/theorem2.py.
    """
    if approximation == "population":  # every Gaussian task model, every algorithm with a closed form (P1-P4)
        if not isinstance(prob, Problem):
            raise ValueError(f"prob must be a linmeta.Problem or Mixture; got {type(prob).__name__}")
        _check_form_and_approximation(form, approximation)
        _check_finite_form(form)
        if alpha_t is not None and not INNER_MAPS[prob.algorithm].uses_alpha_t:
            raise ValueError(f"alpha_t is not read by algorithm={prob.algorithm!r}; leave it None")
        return _finite_elementwise(_population.problem_loss, prob, alpha_t, alpha_r)
    if approximation == "proportional" or (approximation == "leading" and isinstance(prob, Problem)
                                           and not model_of(prob).isotropic):
        _check_form_and_approximation(form, approximation)
        _check_finite_form(form) if approximation == "proportional" else None
        return _anisotropic_loss(prob, form, approximation, alpha_t, alpha_r)
    _validate(prob, form, approximation, stacklevel=5)
    if approximation == "finite" and not model_of(prob).isotropic:  # A6, A7 where exact
        _check_finite_form(form)
        return _anisotropic_finite_value(_anisotropic_finite.test_loss, prob, alpha_t, alpha_r)
    if INNER_MAPS[prob.algorithm].as_maml:  # ERM: MAML at alpha_t = 0 with n_v -> n_t + n_v (theory._erm)
        maml = _erm.as_maml(prob, alpha_t)
        if approximation == "finite":  # exact for ERM
            _check_finite_form(form)
            return _finite_elementwise(_erm.exact_test_loss, prob, None, alpha_r)
        prob, alpha_t = maml, None
    if approximation == "finite":
        _check_finite_form(form)
        return _finite_elementwise(_finite.test_loss, prob, alpha_t, alpha_r)
    if _is_variant(prob, form):
        return _finite_elementwise(_variants.test_loss, prob, alpha_t, alpha_r)
    _check_problem(prob, form)
    a_t = _check_rates(alpha_t, "alpha_t", prob.alpha_t)
    a_r = _check_rates(alpha_r, "alpha_r", prob.alpha_r)
    d2 = _distance(prob, a_t, form)
    return _out(ISOTROPIC.test_loss(d2, prob, a_r))  # T0, the model's


def _anisotropic_loss(prob, form, approximation, alpha_t, alpha_r):
    """(A1)-(A5) for one Gaussian family with diagonal covariances (the paper's model included)."""
    if form != "derived":
        raise ValueError(f"form={form!r} exists only for the paper's isotropic model (theorem 2 as printed)")
    model = model_of(prob)
    components = [component_of(1.0, prob)] if model.isotropic else getattr(model, "components", ())
    if len(components) != 1:
        why = ("a mixture's leading order is not derived" if components else
               "the expectation over a sampler's tasks has no closed form here")
        raise NotImplementedError(f"no closed form at approximation={approximation!r} for the task model "
                                  f"{model.describe(prob)!r}: {why}; approximation='population' gives the exact "
                                  "m -> infinity loss of Gaussian families")
    c = components[0]
    uses_alpha_t = INNER_MAPS[prob.algorithm].uses_alpha_t
    if alpha_t is not None and not uses_alpha_t:
        raise ValueError(f"alpha_t is not read by algorithm={prob.algorithm!r}; leave it None")

    def one(q):
        loss = _anisotropic.anisotropic_test_loss(
            c.s, c.t, c.w0, q.omega0, c.sigma, p=q.p, m=q.m, n_t=q.n_t, n_v=q.n_v, n_r=q.n_r,
            alpha_t=q.alpha_t if uses_alpha_t else None, alpha_r=q.alpha_r, algorithm=q.algorithm,
            approximation=approximation)
        _anisotropic_domain.warn_if_outside(q, approximation, q.alpha_t, q.alpha_r)  # ApproximationDomainWarning
        return loss

    return _finite_elementwise(one, prob, alpha_t, alpha_r)


def g(alpha_t: ArrayLike, n_t: int, p: int) -> tuple:
    """Return the functions ``(g1, g2, g3, g4)`` of theorem 2, exact.

    With ``H = X^T X / n_t`` (``X`` an ``n_t x p`` standard Gaussian matrix) and
    ``A = I - alpha_t H``: ``g1 = E tr(H A^2)/p``, ``g2 = E[tr H tr A^2]/p^2``,
    ``g3 = E tr A^4/p``, ``g4 = E[(tr A^2)^2]/p^2``.  Each is a polynomial in
    ``alpha_t`` with coefficients rational in ``n_t, p`` (derived by Wick's
    theorem in ``derivations/theorem2.py``); all equal 1 at ``alpha_t = 0``.

    Parameters
    ----------
    alpha_t : float or ndarray
    n_t, p : int
        Training points per task and dimension, each >= 1.

    Returns
    -------
    tuple of 4 floats or ndarrays

    Examples
    --------
    >>> import linmeta as lm
    >>> [round(x, 6) for x in lm.theory.g(0.2, 5, 30)]
    [0.4944, 0.890347, 0.892224, 0.789278]

    References
    ----------
    (docs: theory) T2, §5; derivations/theorem2.py, derivations/wishart.py.
    """
    a = _check_rates(alpha_t, "alpha_t", 0.0)
    n_t = check_int(n_t, "n_t", min_val=1)
    p = check_int(p, "p", min_val=1)
    return tuple(_out(x) for x in gen.g(a, float(n_t), float(p)))
