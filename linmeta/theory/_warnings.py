"""Warnings of the theory: a problem outside the domain where an approximation was measured."""
from __future__ import annotations

__all__ = ["ApproximationDomainWarning"]


class ApproximationDomainWarning(UserWarning):
    """The problem lies outside the domain where this approximation was measured against simulation.

    The message names the condition that fails and quotes the largest error the validity map
    measured near the problem.
    """
