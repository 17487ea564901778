"""The error a sweep raises for an unusable argument (an ``out`` file, a scheduler)."""
from __future__ import annotations

__all__ = ["SweepArgumentError"]


class SweepArgumentError(ValueError):
    """An argument of :func:`linmeta.sweep` that cannot be used, and why.

    A ``ValueError`` whose message names the argument, its value and the
    cause; ``param``, ``value`` and ``cause`` hold the three parts so that a
    front end (the command line) can name its own option instead.

    Examples
    --------
    >>> err = SweepArgumentError("out", "x/y.csv", "folder 'x' does not exist")
    >>> str(err)
    "out='x/y.csv': folder 'x' does not exist"
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, param: str, value: object, cause: str) -> None:
        self.param, self.value, self.cause = param, value, cause
        super().__init__(f"{param}={value!r}: {cause}")
