"""Input validation shared by every public entry point.

Each check names the parameter, the valid range and the value received, and
checks finiteness explicitly (a NaN passes every comparison).  Nothing is
clipped: a bad value raises ``ValueError``.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_int", "check_real", "check_vector"]


def check_int(value, name, *, min_val=None, max_val=None, max_text=None):
    """Return ``value`` as a Python ``int`` or raise ``ValueError``.

    ``max_val`` is an optional inclusive upper bound, shown in the message as
    ``max_text`` (default: the number).

    Examples
    --------
    >>> check_int(3, "p", min_val=1)
    3
    >>> check_int(0, "p", min_val=1)
    Traceback (most recent call last):
    ...
    ValueError: p must be an integer >= 1; got 0
    >>> check_int(10**30, "p", min_val=1, max_val=2**53, max_text="2**53")
    Traceback (most recent call last):
    ...
    ValueError: p must be an integer >= 1 and <= 2**53; got 1000000000000000000000000000000
    """
    bounds = ([] if min_val is None else [f">= {min_val}"]) + \
        ([] if max_val is None else [f"<= {max_text or max_val}"])
    rng = "" if not bounds else " " + " and ".join(bounds)
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer{rng}; got {value!r}")
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and np.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer{rng}; got {value!r}")
    value = int(value)
    if (min_val is not None and value < min_val) or (max_val is not None and value > max_val):
        raise ValueError(f"{name} must be an integer{rng}; got {value}")
    return value


def check_real(value, name, *, min_val=None, strict=False, max_abs=None):
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
    max_abs : float, optional
        Largest magnitude allowed (inclusive).

    Examples
    --------
    >>> check_real(0.5, "sigma", min_val=0)
    0.5
    >>> check_real(float("nan"), "sigma", min_val=0)
    Traceback (most recent call last):
    ...
    ValueError: sigma must be finite and >= 0; got nan
    >>> check_real(1e200, "sigma", min_val=0, max_abs=1e50)
    Traceback (most recent call last):
    ...
    ValueError: sigma must be finite and >= 0 and <= 1e+50; got 1e+200
    """
    op = ">" if strict else ">="
    rng = "" if min_val is None else f" and {op} {min_val:g}"
    if max_abs is not None:
        rng += f" and <= {max_abs:g}" if min_val is not None and min_val >= 0 else f" and |{name}| <= {max_abs:g}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number{rng}; got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite{rng}; got {value}")
    if min_val is not None and (value <= min_val if strict else value < min_val):
        raise ValueError(f"{name} must be finite{rng}; got {value}")
    if max_abs is not None and abs(value) > max_abs:
        raise ValueError(f"{name} must be finite{rng}; got {value}")
    return value


def check_vector(value, name, p, *, max_abs=None):
    """Return ``value`` as a read-only float64 vector of length ``p``.

    ``None`` means the zero vector; ``max_abs`` bounds the entries' magnitude.

    Examples
    --------
    >>> check_vector([1e60, 0.0], "w0", 2, max_abs=1e50)
    Traceback (most recent call last):
    ...
    ValueError: w0 must have entries of magnitude <= 1e+50; got 1e+60 at [0]
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
            bad = np.flatnonzero(~np.isfinite(out)).tolist()
            raise ValueError(f"{name} must be finite; got non-finite entries at {bad}")
        if max_abs is not None and np.any(np.abs(out) > max_abs):
            big = np.flatnonzero(np.abs(out) > max_abs)
            raise ValueError(f"{name} must have entries of magnitude <= {max_abs:g}; got {out[big[0]]:g} at "
                             f"{big[:5].tolist()}{' ...' if big.size > 5 else ''}")
    out.setflags(write=False)
    return out


def check_positive_vector(value, name, p, *, strict, max_abs=None):
    """Return a read-only vector of ``p`` finite values, ``> 0`` (``strict``) or ``>= 0`` (:func:`check_vector`).

    Examples
    --------
    >>> check_positive_vector([1.0, 0.0], "input_cov", 2, strict=True)
    Traceback (most recent call last):
    ...
    ValueError: input_cov must have entries > 0; got 0 at [1]
    """
    out = check_vector(value, name, p, max_abs=max_abs)
    bad = np.flatnonzero(out <= 0 if strict else out < 0)
    if bad.size:
        raise ValueError(f"{name} must have entries {'>' if strict else '>='} 0; got {out[bad[0]]:g} at "
                         f"{bad[:5].tolist()}{' ...' if bad.size > 5 else ''}")
    return out

