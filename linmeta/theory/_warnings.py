"""Warnings of the theory: a problem outside the domain where an approximation was measured."""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

__all__ = ["ApproximationDomainWarning", "domain_warnings_to"]


class ApproximationDomainWarning(UserWarning):
    """The problem lies outside the domain where this approximation was measured against simulation.

    The message names the condition that fails and quotes the largest error the validity map
    measured near the problem.
    """


@contextlib.contextmanager
def domain_warnings_to(note: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, hand each :class:`ApproximationDomainWarning`'s message to ``note`` instead of warning.

    For callers that draw or print the value all the same and say so (figures, the command line); every
    other warning is emitted again as it came.

    Examples
    --------
    >>> notes = []
    >>> with domain_warnings_to(notes.append):
    ...     warnings.warn("outside", ApproximationDomainWarning)
    >>> notes
    ['outside']
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ApproximationDomainWarning)
        yield
    for w in caught:
        if issubclass(w.category, ApproximationDomainWarning):
            note(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
