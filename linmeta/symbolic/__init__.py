"""The symbolic core of linmeta: the derived theory as sympy expressions.

sympy is imported here and only here (``import linmeta`` never imports it).
Every expression is in the paper's symbols :data:`symbols` (``p, m, n_t, n_v,
n_r, sigma, nu, alpha_t, alpha_r``, ``dist0 = |omega0 - w0|`` and the spectral quantities of
diagonal covariances).

* :func:`test_loss`, :func:`expected_distance`: Theorem 1 (``"overparameterized"``,
  ``p > n_v m``) and Theorem 2 (``"underparameterized"``) at leading order,
  ``form="derived"`` or ``"printed"`` (docs: theory, T0, T1, T2);
* :func:`test_loss_alpha0`, :func:`expected_distance_alpha0`: the exact results at
  ``alpha_t = 0`` (inverse-Wishart moments);
* :func:`slope_alpha0`: ``dL/dalpha_t`` at ``alpha_t = 0``;
* :func:`nstep_expected_distance`, :func:`nstep_test_loss`: the N-step MAML leading order;
* :func:`g`, :func:`wishart_moment` (any order), :func:`wick_moment` (an independent check);
* :func:`population_test_loss_one_family`, :func:`erm_test_loss_anisotropic`,
  :func:`exact_alpha0_test_loss_anisotropic`: anisotropic results in the spectral symbols
  ``s_j = tr(S^j)/p``, ``t_j = tr(S^j T)``, ``d_j = d0' S^j d0`` (docs: theory, A4, A7, P4);
* :func:`compare` (equality with a witness), :func:`parse` (a formula string, safely),
  :func:`to_callable` (an expression as a function of a :class:`~linmeta.Problem`).

Examples
--------
>>> import linmeta.symbolic as ls
>>> s = ls.symbols
>>> ls.expected_distance_alpha0("overparameterized").subs({s.nu: 0, s.dist0: 0})
m*n_v*sigma**2/(-m*n_v + p - 1)
>>> at0 = {s.alpha_t: 0}   # Theorem 2 as printed and as derived agree at alpha_t = 0 ...
>>> ls.compare(ls.test_loss("underparameterized", "printed").subs(at0), ls.test_loss("underparameterized").subs(at0))
Comparison(equal=True, difference=0, witness=None)
>>> res = ls.compare(ls.test_loss("underparameterized", "printed").subs(s.alpha_t, 1),   # ... but not elsewhere
...                  ls.test_loss("underparameterized").subs(s.alpha_t, 1))
>>> res.equal, sorted(sym.name for sym in res.witness)    # keyed by the symbols themselves
(False, ['alpha_r', 'm', 'n_r', 'n_t', 'n_v', 'nu', 'p', 'sigma'])
"""
from __future__ import annotations

import sympy as sp

from linmeta._formulas.symbols import problem_values
from linmeta._formulas.sympy_bridge import as_expr, parse, to_callable
from linmeta.symbolic import _theorems as _T
from linmeta.symbolic._anisotropic import (
    erm_test_loss_anisotropic,
    exact_alpha0_test_loss_anisotropic,
    population_test_loss_one_family,
)
from linmeta.symbolic._compare import Comparison, compare
from linmeta.symbolic._symbols import Symbols, dist0, s2, symbols
from linmeta.symbolic._wishart_moments import wick_moment, wishart_moment

__all__ = [
    "symbols", "Symbols", "test_loss", "expected_distance", "g", "wishart_moment", "wick_moment",
    "compare", "Comparison", "expected_distance_alpha0", "test_loss_alpha0", "slope_alpha0",
    "nstep_expected_distance", "nstep_test_loss", "erm_test_loss_anisotropic", "population_test_loss_one_family",
    "exact_alpha0_test_loss_anisotropic",
    "parse", "to_callable", "problem_values", "REGIMES", "FORMS",
]

REGIMES = ("overparameterized", "underparameterized")
FORMS = ("derived", "printed")


def _public(expr):
    """Replace the internal ``s2`` by ``dist0**2``."""
    return expr.subs(s2, dist0**2)


def _validate_regime_and_form(regime, form=None):
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}; got {regime!r}")
    if form is not None and form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}; got {form!r}")


def expected_distance(regime: str, form: str = "derived") -> sp.Expr:
    """Leading-order ``E|omega* - w0|^2`` (docs: theory, T1, T2).

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}
        ``p > n_v m`` (Theorem 1) or ``p < n_v m`` (Theorem 2).
    form : {"derived", "printed"}, default="derived"
        ``"printed"`` is the distance implied by the theorem as printed; the
        two agree for Theorem 1 and differ by the factor ``h_t`` for Theorem 2.

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> s = ls.symbols
    >>> ls.expected_distance("overparameterized").subs(s.alpha_t, 0).expand()
    -dist0**2*m*n_v/p + dist0**2 + m*n_v*nu**2/p + m*n_v*sigma**2/p
    """
    _validate_regime_and_form(regime, form)
    if regime == REGIMES[0]:
        return _public(_T.t1_distance())
    return _T.t2_distance() if form == "derived" else _T.t2_printed_distance()


def test_loss(regime: str, form: str = "derived") -> sp.Expr:
    """Leading-order average test loss: Theorem 1 or Theorem 2 (docs: theory, T0, T1, T2).

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}
    form : {"derived", "printed"}, default="derived"
        ``"printed"``: the theorem exactly as printed in the talk.  Theorem 2 as
        printed has the prefactor ``h_r/(2 h_t)``; the derivation gives ``h_r/(2 h_t^2)``.

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> ls.compare(ls.test_loss("overparameterized", "printed"), ls.test_loss("overparameterized")).equal
    True
    """
    _validate_regime_and_form(regime, form)
    if form == "printed":
        return _public(_T.t1_printed_loss() if regime == REGIMES[0] else _T.t2_printed_loss())
    return _T.t0_printed(expected_distance(regime))


test_loss.__test__ = False  # not a pytest test


def g(alpha_t: sp.Expr | float | str, n_t: sp.Expr | int | str,
      p: sp.Expr | int | str) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """Return ``(g1, g2, g3, g4)`` of Theorem 2.

    ``g1 = E tr(H A^2)/p``, ``g2 = E[tr H tr A^2]/p^2``, ``g3 = E tr A^4/p``, ``g4 = E[(tr A^2)^2]/p^2``.

    ``A = I - alpha_t H``, ``H`` the Wishart matrix of ``n_t`` points (docs: theory, T2).

    Parameters
    ----------
    alpha_t, n_t, p : sympy expressions, numbers or formula strings
        Pass the symbols (``ls.symbols.alpha_t`` etc.) for the general form; a string is
        read by :func:`parse` (never evaluated as Python).

    Returns
    -------
    tuple of 4 sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> ls.g(0, ls.symbols.n_t, ls.symbols.p)
    (1, 1, 1, 1)
    >>> ls.g(sp.Rational(1, 2), 4, 2)[0]
    9/32
    """
    point = {symbols.alpha_t: as_expr(alpha_t, "alpha_t"), symbols.n_t: as_expr(n_t, "n_t"),
             symbols.p: as_expr(p, "p")}
    return tuple(sp.factor(x.subs(point, simultaneous=True)) for x in _T.g_functions())


def expected_distance_alpha0(regime: str) -> sp.Expr:
    """Exact ``E|omega* - w0|^2`` at ``alpha_t = 0`` (finite sizes, no leading-order step).

    Over-parameterised: ``(1 - k/p) dist0^2 + nu^2 k (p - n_v - 1)/(p (p - k - 1)) + sigma^2 k/(p - k - 1)``
    (``k = n_v m``, ``E tr G^-1 = k/(p - k - 1)`` for ``G = Z Z^T`` inverse Wishart); under-parameterised:
    the noise term is ``sigma^2 p/(k - p - 1)``.

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> ls.expected_distance_alpha0("underparameterized").subs(ls.symbols.nu, 0)
    p*sigma**2/(m*n_v - p - 1)
    """
    _validate_regime_and_form(regime)
    return _public(_T.exact_alpha0_over() if regime == REGIMES[0] else _T.exact_alpha0_under())


def test_loss_alpha0(regime: str) -> sp.Expr:
    """Exact average test loss at ``alpha_t = 0``: (T0) at :func:`expected_distance_alpha0`.

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> s = ls.symbols
    >>> ls.test_loss_alpha0("overparameterized").subs({s.alpha_r: 0, s.nu: 0, s.dist0: 0})
    m*n_v*sigma**2/(2*(-m*n_v + p - 1)) + sigma**2/2
    """
    return _T.t0_printed(expected_distance_alpha0(regime))


test_loss_alpha0.__test__ = False


def slope_alpha0(regime: str, form: str = "derived") -> sp.Expr:
    """``dL/dalpha_t`` at ``alpha_t = 0`` of the leading-order test loss.

    Its sign decides whether a small negative inner rate helps.

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}
    form : {"derived", "printed"}, default="derived"

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> s = ls.symbols
    >>> ls.slope_alpha0("underparameterized").subs(s.alpha_r, 0)
    p*sigma**2/(m*n_v)
    >>> ls.slope_alpha0("underparameterized", "printed").subs(s.alpha_r, 0)
    -nu**2*(n_v + p + 1)/(m*n_v)
    """
    loss = test_loss(regime, form)
    return sp.factor(sp.simplify(sp.diff(loss, symbols.alpha_t).subs(symbols.alpha_t, 0)))


def nstep_expected_distance(regime: str, n_steps: int) -> sp.Expr:
    """Leading-order ``E|omega* - w0|^2`` of ``n_steps``-step MAML (``A = (I - alpha_t H)^N``), exact moments.

    For ``n_steps = 1`` it is :func:`expected_distance` (derived).

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}
    n_steps : int
        Inner gradient steps, ``>= 1``; the cost grows quickly with it (Wishart moments of degree ``4 n_steps``).

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> d1 = ls.nstep_expected_distance("underparameterized", 1)
    >>> ls.compare(d1, ls.expected_distance("underparameterized")).equal
    True
    """
    _validate_regime_and_form(regime)
    if not isinstance(n_steps, int) or isinstance(n_steps, bool) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1; got {n_steps!r}")
    traces = (_T.tA2, _T.tA4, _T.tA2sq, _T.tF2H, _T.tG, _T.tAG)
    moments = dict(zip(traces, _T.nstep_trace_moments(n_steps), strict=True))
    base = _T.nstep_distance_over() if regime == REGIMES[0] else _T.nstep_distance_under()
    return _public(base.subs(moments))


def nstep_test_loss(regime: str, n_steps: int) -> sp.Expr:
    """Leading-order average test loss of ``n_steps``-step MAML: (T0) at :func:`nstep_expected_distance`.

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}
    n_steps : int

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> s = ls.symbols
    >>> two_steps = ls.nstep_test_loss("overparameterized", 2)
    >>> two_steps.subs(s.alpha_t, 0) == ls.test_loss("overparameterized").subs(s.alpha_t, 0)
    True
    """
    return _T.t0_printed(nstep_expected_distance(regime, n_steps))


nstep_test_loss.__test__ = False
