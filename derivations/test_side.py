"""The exact meta-test side for a task with any Gaussian input and task law (docs: theory, T0g).

A test task draws ``w ~ N(w0, T)``, ``n_r`` adaptation points and fresh test points with
``x ~ N(0, S)`` and label noise of variance ``sigma^2``.  One gradient step of rate ``a`` on the
adaptation loss ``|y_r - X_r omega|^2 / (2 n_r)`` gives
``theta - w = (I - a H)(omega - w) + (a / n_r) X_r^T z`` with ``H = X_r^T X_r / n_r``, and a fresh
point scores ``sigma^2/2 + (theta - w)^T S (theta - w) / 2``.  Derives

* ``E[H A H] = S A S + (S A S + S tr(A S)) / n_r`` for a fixed symmetric ``A``, by Isserlis'
  theorem on the coordinates of the points (general symmetric ``S``, ``p = 3``, symbolic ``n_r``);
* ``E[loss | omega] = sigma^2/2 + 1/2 [ (omega - w0)^T M (omega - w0) + tr(M T)
  + a^2 sigma^2 tr(S^2) / n_r ]`` with ``M = S - 2 a S^2 + a^2 (S^3 + (S^3 + S tr S^2) / n_r)``,
  checked entry by entry against the expectation computed from the Isserlis moments;
* that it reduces to T0 at ``S = I``, ``T = nu^2/p I``.

Run ``python derivations/test_side.py``: prints, asserts, exits non-zero on failure.
"""
import itertools
import sys

import sympy as sp

P = 3  # general symmetric S in three dimensions: every index pattern of the fourth moment occurs


def gaussian_fourth(S, i, j, k, l):
    """``E[x_i x_j x_k x_l]`` for ``x ~ N(0, S)`` (Isserlis)."""
    return S[i, j] * S[k, l] + S[i, k] * S[j, l] + S[i, l] * S[j, k]


def expected_HAH(S, A, n):
    """``E[H A H]`` with ``H`` the mean of ``n`` outer products, from the point-level moments.

    ``H A H = n^-2 sum_{a,b} x_a x_a^T A x_b x_b^T``: the ``n (n - 1)`` pairs ``a != b`` are
    independent (mean ``S A S``); the ``n`` pairs ``a = b`` need the fourth moment.
    """
    p = S.shape[0]
    same = sp.zeros(p, p)
    for i, l in itertools.product(range(p), repeat=2):
        same[i, l] = sum(gaussian_fourth(S, i, j, k, l) * A[j, k] for j in range(p) for k in range(p))
    return ((n - 1) * S * A * S + same) / n


def main():
    n, a, sigma = sp.symbols("n_r alpha_r sigma", positive=True)
    s = sp.symbols("s0:6", real=True)
    S = sp.Matrix([[s[0], s[1], s[2]], [s[1], s[3], s[4]], [s[2], s[4], s[5]]])
    t = sp.symbols("t0:6", real=True)
    T = sp.Matrix([[t[0], t[1], t[2]], [t[1], t[3], t[4]], [t[2], t[4], t[5]]])
    u = sp.Matrix(sp.symbols("u0:3", real=True))  # omega - w0
    Ab = sp.symbols("b0:6", real=True)
    A = sp.Matrix([[Ab[0], Ab[1], Ab[2]], [Ab[1], Ab[3], Ab[4]], [Ab[2], Ab[4], Ab[5]]])

    # E[H A H] for a general symmetric A
    claimed = S * A * S + (S * A * S + S * (A * S).trace()) / n
    diff = (expected_HAH(S, A, n) - claimed).applyfunc(sp.expand)
    assert diff == sp.zeros(P, P), "E[H A H] differs from S A S + (S A S + S tr(A S)) / n_r"
    print("E[H A H] = S A S + (S A S + S tr(A S)) / n_r   (Isserlis, general symmetric S and A)")

    # E[(I - a H)^T S (I - a H)] with E[H] = S and E[H S H] from the moments above
    inner = S - a * (S * S + S * S) + a**2 * expected_HAH(S, S, n)
    M = S - 2 * a * S**2 + a**2 * (S**3 + (S**3 + S * (S**2).trace()) / n)
    assert (inner - M).applyfunc(sp.expand) == sp.zeros(P, P), "M differs from the expectation"

    # noise: (a/n)^2 E[z^T X_r S X_r^T z] = (a/n)^2 n sigma^2 tr(S S)
    noise = a**2 * sigma**2 * (S * S).trace() / n
    # task: E[(omega - w)^T M (omega - w)] over w ~ N(w0, T) = u^T M u + tr(M T)
    loss = sigma**2 / 2 + ((u.T * M * u)[0, 0] + (M * T).trace() + noise) / 2
    print("E[loss | omega] = sigma^2/2 + 1/2 [(omega - w0)^T M (omega - w0) + tr(M T) + a^2 sigma^2 tr(S^2)/n_r]")
    Md = M.subs({s[1]: 0, s[2]: 0, s[4]: 0})
    assert all(Md[i, j] == 0 for i in range(P) for j in range(P) if i != j), "M of a diagonal S is not diagonal"
    print("diagonal S: M_jj =", sp.factor(Md[0, 0]))

    # reduction to T0 at S = I, T = nu^2/p I (p = 3 here; the p-dependence enters through tr S^2 = p)
    nu, d2 = sp.symbols("nu d2", positive=True)
    p = sp.Integer(P)
    iso = {s[0]: 1, s[3]: 1, s[5]: 1, s[1]: 0, s[2]: 0, s[4]: 0,
           t[0]: nu**2 / p, t[3]: nu**2 / p, t[5]: nu**2 / p, t[1]: 0, t[2]: 0, t[4]: 0}
    h_r = (1 - a) ** 2 + a**2 * (p + 1) / n
    t0 = sigma**2 / 2 * (1 + a**2 * p / n) + h_r / 2 * (nu**2 + d2)
    reduced = loss.subs(iso).subs(u[0] ** 2, d2 - u[1] ** 2 - u[2] ** 2)
    assert sp.simplify(sp.expand(reduced) - sp.expand(t0)) == 0, "does not reduce to T0 at S = I"
    print("At S = I, T = nu^2/p I it is T0: sigma^2/2 (1 + a^2 p/n_r) + h_r/2 (nu^2 + |omega - w0|^2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
