"""Errors that linmeta raises for results it refuses to report."""
from __future__ import annotations

__all__ = ["NonFiniteResultError"]


class NonFiniteResultError(ValueError):
    """A Monte Carlo estimate that is not a finite number, and why.

    Raised instead of returning ``inf`` or ``nan``: a loss that overflows
    double precision (for example at very large step sizes) has no estimate
    that linmeta can stand behind. ``param`` names the parameters at fault
    (or ``None`` when the cause is not one parameter), ``value`` their values
    and ``cause`` the reason, so that front ends can name their own options.

    Examples
    --------
    >>> err = NonFiniteResultError("alpha_r", 1e200, "the test loss overflows at this rate")
    >>> str(err)
    'alpha_r=1e+200: the test loss overflows at this rate'
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, param: str, value: object, cause: str) -> None:
        self.param, self.value, self.cause = param, value, cause
        where = f"{param}={value!r}: " if param is not None else ""
        super().__init__(f"{where}{cause}")
