"""The paper's reference parameter sets (docs: theory, protocols).

``FIG2`` is over-parameterised (``p = 60 > n_v m = 6``), ``FIG3`` is
under-parameterised (``p = 30 < n_v m = 1000``).  Both use
``alpha_t = alpha_r = 0.2``; panel a of each figure varies ``alpha_r``, panel b
varies ``alpha_t``.

Examples
--------
>>> from linmeta import presets
>>> presets.FIG2.regime, presets.FIG3.regime
('overparameterized', 'underparameterized')
"""
from linmeta.problem import Problem

__all__ = ["FIG2", "FIG3", "PRESETS"]

FIG2 = Problem(p=60, m=3, n_t=30, n_v=2, n_r=20, sigma=1.0, nu=0.5, alpha_t=0.2, alpha_r=0.2)
FIG3 = Problem(p=30, m=40, n_t=5, n_v=25, n_r=10, sigma=0.2, nu=0.2, alpha_t=0.2, alpha_r=0.2)
PRESETS = {"fig2": FIG2, "fig3": FIG3}
