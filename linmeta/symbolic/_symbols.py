"""The paper's symbols as sympy Symbols (one per name, with their assumptions) and the derivations' own.

The public symbols and their assumptions come from :mod:`linmeta._formulas.symbols`: sizes are positive
integers; rates are real (negative allowed); noise levels and distances are non-negative.  ``dist0`` is
``|omega0 - w0|``.  The internal symbols ``s2`` (``|omega0 - w0|**2``), ``d2`` (``E|omega* - w0|**2``), ``n``
(a generic Wishart sample size) and ``h`` (an eigenvalue of ``H``: a
polynomial ``f(h)`` stands for the matrix ``f(H)``) are used by the
derivations and the emitted code.
"""
from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from linmeta._formulas.symbols import SYMBOL_NAMES
from linmeta._formulas.sympy_bridge import SYMBOLS_SYMPY

p, m, n_t, n_v, n_r, sigma, nu, alpha_t, alpha_r, dist0 = (SYMBOLS_SYMPY[name] for name in SYMBOL_NAMES[:10])
n = sp.Symbol("n", positive=True, integer=True)
s2, d2 = sp.symbols("s2 d2", nonnegative=True)
h = sp.Symbol("h", real=True)

k = n_v * m  # number of validation equations


def h_of(alpha, n_pts):
    """``(1 - alpha)**2 + alpha**2 (p + 1) / n_pts`` (docs: theory, T0, T1)."""
    return (1 - alpha) ** 2 + alpha**2 * (p + 1) / n_pts


h_t = h_of(alpha_t, n_t)
h_r = h_of(alpha_r, n_r)

class Symbols(Mapping):
    """The public symbols, by name (``symbols["p"]``) and by attribute (``symbols.p``).

    Examples
    --------
    >>> import linmeta.symbolic as ls
    >>> ls.symbols.p is ls.symbols["p"]
    True
    >>> list(ls.symbols)
    ['p', 'm', 'n_t', 'n_v', 'n_r', 'sigma', 'nu', 'alpha_t', 'alpha_r', 'dist0', 's_1', 's_2', 's_3', 's_4', 't_0',
     't_1', 't_2', 't_3', 'd_1', 'd_2', 'd_3']
    """

    def __init__(self, table: Mapping[str, sp.Symbol]) -> None:
        object.__setattr__(self, "_table", dict(table))

    def __getitem__(self, name):
        try:
            return self._table[name]
        except KeyError:
            raise KeyError(f"unknown symbol {name!r}; known: {', '.join(self._table)}") from None

    def __getattr__(self, name):
        try:
            return self._table[name]
        except KeyError:
            raise AttributeError(f"unknown symbol {name!r}; known: {', '.join(self._table)}") from None

    def __setattr__(self, name, value):
        raise AttributeError("symbols are read-only")

    def __iter__(self):
        return iter(self._table)

    def __len__(self):
        return len(self._table)

    def __repr__(self):
        return f"Symbols({', '.join(self._table)})"


symbols = Symbols(SYMBOLS_SYMPY)
