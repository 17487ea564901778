"""What an algorithm module declares: :class:`InnerMap`, one record per algorithm (docs: theory, MAML1, B1, I1, F1).

Every algorithm linmeta simulates adapts the meta-parameters with an affine
inner map ``theta_i(omega) = A_i omega + b_i``; its record says how to build
the map in NumPy, which compiled kernel runs it and its NumPy twin, which
:class:`~linmeta.Problem` fields it reads (``Problem`` validates by them), how
meta-training solves for ``omega`` and whether closed-form theory exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["InnerMap"]


@dataclass(frozen=True)
class InnerMap:
    """One algorithm's inner map and how each layer treats it.

    Attributes
    ----------
    name : str
        ``Problem.algorithm``.
    code : int
        The inner-map kind the compiled variant kernel dispatches on
        (:mod:`linmeta._sim.kernels_variants`: ``STEPS``, ``FIRST_ORDER_STEPS``, ``PROXIMAL``), or ``-1``.
    build : callable
        ``build(batch, prob) -> (A, b)`` in NumPy, shapes ``(m, p, p)`` and ``(m, p)``.
    uses_alpha_t, uses_n_steps, uses_lam : bool
        Which :class:`~linmeta.Problem` fields the map reads; ``Problem``
        requires ``lam`` exactly when ``uses_lam`` and ``n_steps == 1`` unless ``uses_n_steps``.
    gram : bool
        Meta-training minimises ``|Z omega - r|^2`` (a Gram-matrix solve, whose
        condition number squares ``cond(Z)``); ``False``: the first-order fixed
        point ``P^T (Z omega - r) = 0`` (an LU solve).
    theory : str or None
        ``None`` when closed-form theory exists (:mod:`linmeta.theory`), else why not.
    solve : callable
        The kernel entry: ``solve(prob, args, over, want_delta, dist2, delta, cond)`` with ``args`` the
        draws, ``nu / sqrt(p)``, ``sigma``, the start and the rates (:func:`linmeta._sim.engine.solve`).
    twin : callable
        The NumPy twin of the kernel: ``twin(prob, g, X_t, e_t, X_v, e_v, nu_s, sigma, start, alphas, over)``
        returns ``omega* - w0`` of shape ``(R, A, p)``.
    pooled : bool
        The meta-loss scores ``theta_i`` on the task's training and validation
        points pooled (``n_t + n_v`` per task) instead of its validation points.
    fixed : tuple of str
        Problem fields the map ignores and a curve or optimum may not vary
        (their values would all give the same number).
    one_step_kernel : bool
        ``n_steps == 1`` runs the dedicated one-step kernel (quadratic in ``alpha_t``; Theorems 1-2).
    polynomial : bool
        Gradient-step maps, polynomials in ``alpha_t`` (the variant kernels may build their products once).
    steps_reason : str
        Why ``n_steps`` must be 1 when the map does not read it.
    population : str
        How the population limit (``m -> infinity``, docs: theory, P1-P3) forms its equations
        ``sum_c pi_c K_c (omega - w0_c) = 0``: ``"second_order"`` (``K = E[A' S A]``, the exact
        meta-gradient), ``"first_order"`` (``K = S E[A]``), ``"pooled"`` (``K = S``), or ``""``
        when there is no closed form (then ``population_reason`` says why).
    population_reason : str
        Why the population limit has no closed form, where it has none.
    as_maml : callable or None
        For an algorithm whose closed-form theory is one-step MAML's on another
        problem: ``as_maml(prob)`` returns that problem (ERM: MAML at
        ``alpha_t = 0`` with ``n_v`` replaced by ``n_t + n_v``).
    """

    name: str
    code: int
    build: Callable
    uses_alpha_t: bool
    uses_n_steps: bool
    uses_lam: bool
    gram: bool
    theory: str | None
    solve: Callable
    twin: Callable
    pooled: bool = False
    fixed: tuple[str, ...] = ()
    one_step_kernel: bool = False
    polynomial: bool = False
    steps_reason: str = ""
    population: str = ""
    population_reason: str = ""
    as_maml: Callable | None = None
