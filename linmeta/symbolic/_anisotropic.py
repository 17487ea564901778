"""Anisotropic results in the spectral symbols (docs: theory, A1, A4, A7, P4).

With ``S = diag(s)``, ``T = diag(t)`` and ``d0 = omega0 - w0`` the formulas use ``s_j = tr(S^j)/p``,
``t_j = tr(S^j T)`` and ``d_j = d0' S^j d0`` (:data:`linmeta.symbolic.symbols`).  The test side (A1)
enters through ``tr(M T)`` and ``tr(M S^-1)`` with ``M = S - 2a S^2 + a^2 (S^3 + (S^3 + S tr S^2)/n_r)``:

``tr(M T) = t_1 - 2a t_2 + a^2 (t_3 + (t_3 + p s_2 t_1)/n_r)``,
``tr(M S^-1) = p (1 - 2a s_1 + a^2 s_2 (1 + (p + 1)/n_r))``.
"""
from __future__ import annotations

import sympy as sp

from linmeta._formulas.sympy_bridge import SYMBOLS_SYMPY as _S

__all__ = ["erm_test_loss_anisotropic", "exact_alpha0_test_loss_anisotropic", "population_test_loss_one_family"]


def _trace_MT(a):
    s, t = _S, _S
    return t["t_1"] - 2 * a * t["t_2"] + a**2 * (t["t_3"] + (t["t_3"] + s["p"] * s["s_2"] * t["t_1"]) / s["n_r"])


def _trace_M_over_S(a):
    s = _S
    return s["p"] * (1 - 2 * a * s["s_1"] + a**2 * s["s_2"] * (1 + (s["p"] + 1) / s["n_r"]))


def _noise(a):
    s = _S
    return a**2 * s["sigma"] ** 2 * s["p"] * s["s_2"] / s["n_r"]


def population_test_loss_one_family() -> sp.Expr:
    """Average test loss as ``m -> infinity`` for one Gaussian family: ``omega* = w0`` (P1), then (A1).

    The same for every algorithm with a population limit (MAML, first-order MAML, ERM): each of
    their expected equations ``K (omega - w0) = 0`` has the root ``w0``.

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> s = ls.symbols
    >>> iso = {s.s_1: 1, s.s_2: 1, s.t_1: s.nu**2, s.t_2: s.nu**2, s.t_3: s.nu**2}
    >>> ls.compare(ls.population_test_loss_one_family().subs(iso),
    ...            s.sigma**2 / 2 * (1 + s.alpha_r**2 * s.p / s.n_r)
    ...            + ((1 - s.alpha_r)**2 + s.alpha_r**2 * (s.p + 1) / s.n_r) * s.nu**2 / 2).equal
    True
    """
    a = _S["alpha_r"]
    return _S["sigma"] ** 2 / 2 + (_trace_MT(a) + _noise(a)) / 2


def erm_test_loss_anisotropic() -> sp.Expr:
    """ERM's average test loss, under-parameterised, leading order (A4), in the spectral symbols.

    ``D_M = [(N + 1) tr(M T) + tr(M S^-1) (t_1 + sigma^2)] / (m N)`` with ``N = n_t + n_v``; it does not
    depend on ``omega0`` (least squares forgets the start).

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> s = ls.symbols
    >>> sorted(x.name for x in ls.erm_test_loss_anisotropic().free_symbols)
    ['alpha_r', 'm', 'n_r', 'n_t', 'n_v', 'p', 's_1', 's_2', 'sigma', 't_1', 't_2', 't_3']
    """
    a, N = _S["alpha_r"], _S["n_t"] + _S["n_v"]
    d_m = ((N + 1) * _trace_MT(a) + _trace_M_over_S(a) * (_S["t_1"] + _S["sigma"] ** 2)) / (_S["m"] * N)
    return _S["sigma"] ** 2 / 2 + (d_m + _trace_MT(a) + _noise(a)) / 2


def exact_alpha0_test_loss_anisotropic(pooled: bool = False) -> sp.Expr:
    """Exact average test loss without an inner step, under-parameterised (A7), in the spectral symbols.

    ``D_M = sigma^2 tr(M S^-1)/(k-p-1) + kb + (n - 1)/(k - 1) (tr(M T) - kb)``,
    ``kb = [k tr(M S^-1) t_1 + 2 (k-p-2) tr(M T)] / ((k+2)(k-p-1))``, with ``n`` rows per task and
    ``k = n m`` in all: MAML at ``alpha_t = 0`` (``n = n_v``) or, with ``pooled=True``, ERM
    (``n = n_t + n_v``).  Exact at every size with ``k > p + 1``; it does not depend on ``omega0``.

    Parameters
    ----------
    pooled : bool, default=False
        ERM's pooled rows (``n_t + n_v`` per task) instead of MAML's ``n_v``.

    Returns
    -------
    sympy.Expr

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> s = ls.symbols
    >>> iso = {s.s_1: 1, s.s_2: 1, s.t_1: s.nu**2, s.t_2: s.nu**2, s.t_3: s.nu**2}
    >>> ls.compare(ls.exact_alpha0_test_loss_anisotropic().subs(iso), ls.test_loss_alpha0("underparameterized")).equal
    True
    """
    a, p = _S["alpha_r"], _S["p"]
    n = _S["n_t"] + _S["n_v"] if pooled else _S["n_v"]
    k = n * _S["m"]
    tr_a, tr_ab = _trace_M_over_S(a), _trace_MT(a)
    kb = (k * tr_a * _S["t_1"] + 2 * (k - p - 2) * tr_ab) / ((k + 2) * (k - p - 1))
    d_m = _S["sigma"] ** 2 * tr_a / (k - p - 1) + kb + (n - 1) / (k - 1) * (tr_ab - kb)
    return _S["sigma"] ** 2 / 2 + (d_m + tr_ab + _noise(a)) / 2


exact_alpha0_test_loss_anisotropic.__test__ = False  # not a pytest test
