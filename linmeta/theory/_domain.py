"""The validated domain of the finite-size theory, and the warning outside it (docs: theory, validity map).

The finite-size theory (``approximation="finite"``) was measured against simulation by the validity map
(``benchmarks/validity.py``).  :data:`DOMAIN` states, as explicit inequalities, where the measured sets were
within 0.3 % of simulation (a set counts as a miss when it is off by more than 0.3 % and by more than two
standard errors).  The inequalities were chosen on design draws (``SeedSequence(2026)``, ``(2027)`` and
``(2028)``, plus the four in-sample sets of the ``finite_size`` figure) and checked on fresh draws
(``benchmarks/validity_holdout.py``, ``SeedSequence(2029)``); the docs give both numbers.

Variables: ``k = n_v m``; ``g = |alpha_t| (1 + sqrt(p / n_t))^2`` is ``|alpha_t|`` times the upper edge of
the Marchenko-Pastur law of ``H = X_t^T X_t / n_t``, the largest change the inner step makes.  The
under-parameterised misses of the map are sets with few training points ``n_t``, few tasks ``m``, small
``p`` or ``k / p``, or a large ``g``.  At ``alpha_t = 0`` the theory is exact (E0) and every problem it covers
is inside.  ``sigma``, ``nu``, ``|omega0 - w0|``, ``alpha_r`` and ``n_r`` are not restricted: the test side
given ``D = E|omega* - w0|^2`` is exact (T0) and ``D`` is linear in ``sigma^2``, ``nu^2`` and
``|omega0 - w0|^2`` with coefficients that depend only on the variables above (the map drew ``sigma, nu`` in
[0.1, 1], ``|omega0 - w0|`` in [0, 2], ``alpha_r`` in [0, 1], ``n_r`` in [5, 40]).

Outside the domain :func:`warn_if_outside` emits :class:`ApproximationDomainWarning`, quoting the largest
error the map measured among the nearest measured sets (:data:`N_NEAREST` sets of the same regime, nearest in
the Euclidean distance over ``log p, log m, log n_t, log n_v, alpha_t``, each divided by its standard
deviation over the map's sets of that regime).  The measured sets ship in ``_validity_map.py``, written by
``python benchmarks/validity.py --emit-table``.
"""
from __future__ import annotations

import math
import os
import sys
import warnings

import numpy as np

from linmeta.theory import _validity_map
from linmeta.theory._warnings import ApproximationDomainWarning

__all__ = ["DOMAIN", "N_NEAREST", "holdout_accuracy", "outside_reasons", "nearest_sets",
           "warn_if_outside"]

N_NEAREST = 5


def _g(p, n_t, alpha_t):
    return abs(alpha_t) * (1.0 + math.sqrt(p / n_t)) ** 2


#: The validated domain: per regime, (description, test) pairs; every test must hold.  The tests take
#: ``(p, m, n_t, n_v, k, alpha_t)`` and return ``(holds, value)`` with the value quoted when it fails.
DOMAIN = {
    "both": (
        ("-2 <= alpha_t <= 1", lambda p, m, n_t, n_v, k, a: (-2.0 <= a <= 1.0, f"alpha_t = {a:g}")),
        ("2 <= n_t <= 40", lambda p, m, n_t, n_v, k, a: (2 <= n_t <= 40, f"n_t = {n_t}")),
        ("n_v >= 2", lambda p, m, n_t, n_v, k, a: (n_v >= 2, f"n_v = {n_v}")),
    ),
    "overparameterized": (
        ("p >= n_v m + 10", lambda p, m, n_t, n_v, k, a: (p >= k + 10, f"p - n_v m = {p - k}")),
        ("n_t >= 3", lambda p, m, n_t, n_v, k, a: (n_t >= 3, f"n_t = {n_t}")),
        ("n_v m / p <= 0.75", lambda p, m, n_t, n_v, k, a: (k / p <= 0.75, f"n_v m / p = {k / p:.3g}")),
        ("p <= 400", lambda p, m, n_t, n_v, k, a: (p <= 400, f"p = {p}")),
        ("2 <= m <= 10", lambda p, m, n_t, n_v, k, a: (2 <= m <= 10, f"m = {m}")),
        ("n_v <= 10", lambda p, m, n_t, n_v, k, a: (n_v <= 10, f"n_v = {n_v}")),
    ),
    "underparameterized": (
        ("n_t >= 5", lambda p, m, n_t, n_v, k, a: (n_t >= 5, f"n_t = {n_t}")),
        ("6 <= m <= 40", lambda p, m, n_t, n_v, k, a: (6 <= m <= 40, f"m = {m}")),
        ("n_v <= 25", lambda p, m, n_t, n_v, k, a: (n_v <= 25, f"n_v = {n_v}")),
        ("n_v m / p >= 2", lambda p, m, n_t, n_v, k, a: (k / p >= 2.0, f"n_v m / p = {k / p:.3g}")),
        ("p >= 8", lambda p, m, n_t, n_v, k, a: (p >= 8, f"p = {p}")),
        ("g = |alpha_t| (1 + sqrt(p / n_t))^2 <= 6 (m < 20) or <= 24 (m >= 20)",
         lambda p, m, n_t, n_v, k, a: (_g(p, n_t, a) <= (24.0 if m >= 20 else 6.0),
                                       f"g = {_g(p, n_t, a):.3g} at m = {m}")),
    ),
}


def outside_reasons(prob, domain: dict | None = None) -> list[str]:
    """Return the inequalities of :data:`DOMAIN` that ``prob`` violates, each with its value (empty inside).

    Parameters
    ----------
    prob : Problem
        One-step MAML problem.
    domain : dict, optional
        Inequalities in the layout of :data:`DOMAIN` (default: :data:`DOMAIN`).

    Returns
    -------
    list of str

    Examples
    --------
    >>> import linmeta as lm
    >>> outside_reasons(lm.presets.FIG3)
    []
    >>> outside_reasons(lm.presets.FIG3.replace(n_t=4))
    ['n_t = 4 < 5 (needs n_t >= 5)']
    """
    return _reasons(prob.regime, prob.p, prob.m, prob.n_t, prob.n_v, float(prob.alpha_t), domain or DOMAIN)


def _reasons(regime, p, m, n_t, n_v, alpha_t, domain=DOMAIN):
    if alpha_t == 0.0:
        return []  # exact at alpha_t = 0 (inverse-Wishart moments, E0), whatever the sizes
    out = []
    for description, test in domain["both"] + domain[regime]:
        holds, value = test(p, m, n_t, n_v, n_v * m, alpha_t)
        if not holds:
            out.append(_violation(description, value))
    return out


def _violation(description, value):
    """``"n_t = 4 < 5 (needs n_t >= 5)"`` for a simple bound, else ``"<value> (needs <description>)"``."""
    parts = description.split()
    if len(parts) == 3 and parts[1] in (">=", "<=") and value.startswith(parts[0] + " = "):
        flipped = {">=": "<", "<=": ">"}[parts[1]]
        return f"{value} {flipped} {parts[2]} (needs {description})"
    return f"{value} (needs {description})"


def _features(p, m, n_t, n_v, alpha_t):
    return np.column_stack([np.log(p), np.log(m), np.log(n_t), np.log(n_v), alpha_t]).astype(float)


def nearest_sets(prob, n: int = N_NEAREST) -> list[dict]:
    """Return the ``n`` measured sets of the validity map nearest to ``prob`` (same regime), nearest first.

    Distance: Euclidean over ``log p, log m, log n_t, log n_v, alpha_t``, each divided by its standard
    deviation over the map's sets of the regime.

    Parameters
    ----------
    prob : Problem
    n : int, default=5

    Returns
    -------
    list of dict
        Rows of the shipped map (``p, m, n_t, n_v, alpha_t, err_finite, se_rel, n_runs, source``) with the
        distance added.

    Examples
    --------
    >>> import linmeta as lm
    >>> near = nearest_sets(lm.presets.FIG2)
    >>> len(near), all(r["regime"] == "overparameterized" for r in near)
    (5, True)
    """
    rows = [dict(zip(_validity_map.COLUMNS, r, strict=True)) for r in _validity_map.ROWS]
    rows = [r for r in rows if r["regime"] == prob.regime]
    cols = {c: np.array([r[c] for r in rows], dtype=float) for c in ("p", "m", "n_t", "n_v", "alpha_t")}
    x = _features(*cols.values())
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    q = _features(np.array([prob.p]), np.array([prob.m]), np.array([prob.n_t]), np.array([prob.n_v]),
                  np.array([float(prob.alpha_t)]))
    dist = np.sqrt((((x - q) / scale) ** 2).sum(axis=1))
    order = np.argsort(dist, kind="stable")[:n]
    return [dict(rows[i], distance=float(dist[i])) for i in order]


def _describe(r):
    return (f"p={r['p']}, m={r['m']}, n_t={r['n_t']}, n_v={r['n_v']}, alpha_t={r['alpha_t']:+.2f}: "
            f"{100 * r['err_finite']:+.2f} % (SE {100 * r['se_rel']:.2f} %)")


def holdout_accuracy(regime: str) -> tuple[int, int, float]:
    """Summarise the shipped map's fresh (holdout) sets inside the domain: count, count within 0.3 %, max |err|.

    Parameters
    ----------
    regime : {"overparameterized", "underparameterized"}

    Returns
    -------
    tuple of (int, int, float)

    Examples
    --------
    >>> n, within, worst = holdout_accuracy("underparameterized")
    >>> n >= within
    True
    """
    rows = [dict(zip(_validity_map.COLUMNS, r, strict=True)) for r in _validity_map.ROWS]
    err = [abs(r["err_finite"]) for r in rows if r["source"].startswith("holdout") and r["regime"] == regime
           and not _reasons(regime, r["p"], r["m"], r["n_t"], r["n_v"], r["alpha_t"])]
    return len(err), sum(e < 0.003 for e in err), max(err, default=float("nan"))


def _message(prob, reasons):
    near = nearest_sets(prob)
    worst = max(near, key=lambda r: abs(r["err_finite"]))
    n, within, top = holdout_accuracy(prob.regime)
    return (f"p={prob.p}, m={prob.m}, n_t={prob.n_t}, n_v={prob.n_v}, alpha_t={float(prob.alpha_t):g} is outside "
            f"the validated domain of the finite-size theory ({'; '.join(reasons)}): the validity map measured "
            f"test-loss errors up to {100 * abs(worst['err_finite']):.2f} % on the {len(near)} nearest "
            f"{prob.regime} sets "
            f"(largest at {_describe(worst)}; nearest {_describe(near[0])}); inside the domain, on fresh draws, "
            f"it measured errors up to {100 * top:.2f} % ({within} of {n} {prob.regime} sets within 0.3 %)")


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_stacklevel():
    """Stack level of the first frame outside the linmeta package (so the warning points at the user's call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_outside(prob) -> bool:
    """Warn with :class:`ApproximationDomainWarning` if ``prob`` is outside :data:`DOMAIN`; return whether it is.

    Parameters
    ----------
    prob : Problem
        One-step MAML problem.

    Returns
    -------
    bool
        True if outside (and warned).

    Examples
    --------
    >>> import linmeta as lm
    >>> warn_if_outside(lm.presets.FIG3)
    False
    """
    reasons = outside_reasons(prob)
    if reasons:
        warnings.warn(_message(prob, reasons), ApproximationDomainWarning, stacklevel=_caller_stacklevel())
    return bool(reasons)
