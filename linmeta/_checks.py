"""Input validation shared by every public entry point.

Each check names the parameter, the valid range and the value received, and
checks finiteness explicitly (a NaN passes every comparison).  Nothing is
clipped: a bad value raises ``ValueError``.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_int", "check_real", "check_vector"]


def check_int(value, name, *, min_val=None):
    """Return ``value`` as a Python ``int`` or raise ``ValueError``.

    Examples
    --------
    >>> check_int(3, "p", min_val=1)
    3
    >>> check_int(0, "p", min_val=1)
    Traceback (most recent call last):
    ...
    ValueError: p must be an integer >= 1; got 0
    """
    rng = "" if min_val is None else f" >= {min_val}"
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer{rng}; got {value!r}")
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and np.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer{rng}; got {value!r}")
    value = int(value)
    if min_val is not None and value < min_val:
        raise ValueError(f"{name} must be an integer{rng}; got {value}")
    return value


def check_real(value, name, *, min_val=None, strict=False):
    """Return ``value`` as a finite ``float`` or raise ``ValueError``.

    Parameters
    ----------
    value : real
        The value to check.
    name : str
        Parameter name used in the message.
    min_val : float, optional
        Lower bound (inclusive unless ``strict``).
    strict : bool, default=False
        Whether the lower bound is exclusive.

    Examples
    --------
    >>> check_real(0.5, "sigma", min_val=0)
    0.5
    >>> check_real(float("nan"), "sigma", min_val=0)
    Traceback (most recent call last):
    ...
    ValueError: sigma must be finite and >= 0; got nan
    """
    op = ">" if strict else ">="
    rng = "" if min_val is None else f" and {op} {min_val:g}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number{rng}; got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite{rng}; got {value}")
    if min_val is not None and (value <= min_val if strict else value < min_val):
        raise ValueError(f"{name} must be finite{rng}; got {value}")
    return value


def check_vector(value, name, p):
    """Return ``value`` as a read-only float64 vector of length ``p``.

    ``None`` means the zero vector.
    """
    if value is None:
        out = np.zeros(p)
    else:
        try:
            out = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be None or a real array of length p={p}; got {value!r}") from None
        if out.shape != (p,):
            raise ValueError(f"{name} must be None or a real array of length p={p}; got shape {out.shape}")
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{name} must be finite; got non-finite entries at {np.flatnonzero(~np.isfinite(out)).tolist()}")
    out.setflags(write=False)
    return out
