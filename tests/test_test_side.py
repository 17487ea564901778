"""The exact meta-test side for any Gaussian task law (docs: theory, T0g): derivation and Monte Carlo."""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest
import sympy as sp

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _derivation():
    spec = importlib.util.spec_from_file_location("test_side", ROOT / "derivations" / "test_side.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derivation_asserts_and_passes():
    assert _derivation().main() == 0


def test_isserlis_moment_catches_a_missing_pairing():
    # control: with one of the three pairings dropped, E[H A H] no longer matches the claim
    mod = _derivation()
    n = sp.Symbol("n", positive=True)
    S = sp.diag(*sp.symbols("s0:3", positive=True))
    A = sp.diag(*sp.symbols("b0:3", positive=True))
    claimed = S * A * S + (S * A * S + S * (A * S).trace()) / n
    assert (mod.expected_HAH(S, A, n) - claimed).applyfunc(sp.expand) == sp.zeros(3, 3)
    original = mod.gaussian_fourth
    mod.gaussian_fourth = lambda S, i, j, k, l: S[i, j] * S[k, l] + S[i, k] * S[j, l]
    try:
        assert (mod.expected_HAH(S, A, n) - claimed).applyfunc(sp.expand) != sp.zeros(3, 3)
    finally:
        mod.gaussian_fourth = original


def _formula(u, S, T, sigma, a, n_r, trace_term=True):
    """Diagonal S and T: the T0g loss (trace_term=False drops S tr S^2 / n_r, the control)."""
    M = S - 2 * a * S**2 + a**2 * (S**3 + (S**3 + (S * np.sum(S**2) if trace_term else 0)) / n_r)
    return sigma**2 / 2 + 0.5 * (np.sum(M * u**2) + np.sum(M * T) + a**2 * sigma**2 * np.sum(S**2) / n_r)


@pytest.mark.statistical
def test_formula_matches_direct_monte_carlo_and_the_control_is_rejected():
    rng = np.random.default_rng(20261207)
    S = np.array([0.5, 1.0, 2.0, 3.0])
    T = np.array([0.2, 0.0, 1.0, 0.5])
    u = np.array([0.3, -0.4, 0.1, 0.2])  # omega - w0
    sigma, a, n_r, K = 0.7, 0.15, 3, 400_000
    p = S.size
    w = np.sqrt(T) * rng.standard_normal((K, p))  # w - w0
    X = np.sqrt(S) * rng.standard_normal((K, n_r, p))
    y = np.einsum("knp,kp->kn", X, w) + sigma * rng.standard_normal((K, n_r))
    resid = np.einsum("knp,p->kn", X, u) - y  # X omega - y, with w0 = 0
    theta = u - a / n_r * np.einsum("knp,kn->kp", X, resid)
    d = theta - w
    loss = sigma**2 / 2 + 0.5 * np.sum(S * d**2, axis=1)
    mean, se = loss.mean(), loss.std(ddof=1) / np.sqrt(K)
    z = (mean - _formula(u, S, T, sigma, a, n_r)) / se
    z_control = (mean - _formula(u, S, T, sigma, a, n_r, trace_term=False)) / se
    print(f"z = {z:.2f}, control z = {z_control:.2f}")
    assert abs(z) < 4, f"formula off by z = {z:.2f}"
    assert abs(z_control) > 8, f"control not rejected: z = {z_control:.2f}"
