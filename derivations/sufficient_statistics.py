"""The sufficient-statistic sampler's rows have the inner products of Gaussian rows (docs: theory, S1).

``n`` rows ``x_a ~ N(0, I_p)`` and a fixed ``d = |d| e_1``: with ``x_a = (z_a, y_a)``, the
Gram matrix of the rows and their products with ``d`` are ``G_ab = z_a z_b + W_ab`` and
``x_a.d = |d| z_a``, ``W = Y Y^T ~ W_n(I, p - 1)``.  The sampler replaces ``y_a`` by row
``a`` of the Bartlett factor ``L`` (``L_jj^2 ~ chi2_{p-1-j}``, ``L_jl ~ N(0, 1)`` below the
diagonal).  This script computes, with symbolic ``p`` and ``|d|``, every first and second
moment of the entries of the ``(n + 1) x (n + 1)`` Gram matrix of ``[rows; d]`` under the
construction and asserts them equal to the Gaussian rows' (``E W_ab = f delta_ab``,
``Cov(W_ab, W_cd) = f (delta_ac delta_bd + delta_ad delta_bc)``, ``f = p - 1``, and the
normal ``z``).  Controls: ``p`` degrees of freedom instead of ``p - 1`` and the ``z`` column
dropped must both fail.

Run ``python derivations/sufficient_statistics.py``: exits non-zero on failure.
"""
import itertools
import sys

import sympy as sp

p, dn = sp.symbols("p d", positive=True)
N_ROWS = 3


def _expect(expr, normals, chis):
    """``E expr`` for independent standard normals ``normals`` and chi-square variables ``chis`` (symbol -> dof).

    ``chis`` enter as ``s^2`` with ``s = sqrt(chi2)``; a monomial with an odd power of some ``s``
    must have zero expectation through an odd normal power, else the moment is not polynomial.
    """
    poly = sp.Poly(sp.expand(expr), *normals, *chis)
    total = 0
    for powers, coeff in poly.terms():
        term = coeff
        for k, _var in zip(powers[:len(normals)], normals, strict=True):
            term *= 0 if k % 2 else sp.factorial2(k - 1)
        if term == 0:
            continue
        for k, var in zip(powers[len(normals):], chis, strict=True):
            if k % 2:
                raise AssertionError(f"odd power of sqrt(chi2) in {var}")
            term *= sp.prod([chis[var] + 2 * r for r in range(k // 2)])
        total += term
    return sp.expand(total)


def construction(n=N_ROWS, dof=p - 1, cross=True):
    """Symbols, chi dofs and the Gram matrix of ``[rows; d]`` under the sampler's construction."""
    z = sp.symbols(f"z0:{n}")
    L = sp.zeros(n, n)
    normals, chis = list(z), {}
    for j in range(n):
        s = sp.Symbol(f"s{j}")
        chis[s] = dof - j
        L[j, j] = s
        for l_ in range(j):
            v = sp.Symbol(f"L{j}_{l_}")
            normals.append(v)
            L[j, l_] = v
    rows = sp.Matrix.hstack(sp.Matrix(z) if cross else sp.zeros(n, 1), L)
    d = sp.Matrix([[dn] + [0] * n])
    M = sp.Matrix.vstack(rows, d)
    return M * M.T, normals, chis


def gaussian_first(a, b, n=N_ROWS):
    """``E G_ab`` for Gaussian rows (index ``n`` is ``d``)."""
    if a == n and b == n:
        return dn**2
    if a == n or b == n:
        return 0
    return p if a == b else 0


def gaussian_second(a, b, c, e, n=N_ROWS):
    """``E G_ab G_ce`` for Gaussian rows: ``G_ab = z_a z_b + W_ab`` (rows), ``|d| z_a`` (with ``d``), ``|d|^2``."""
    def parts(i, j):  # G_ij as {"zz": coefficient of z_i z_j, "W": whether W_ij is present}
        if i == n and j == n:
            return dict(const=dn**2, z=(), W=False)
        if i == n or j == n:
            k = j if i == n else i
            return dict(const=dn, z=(k,), W=False)
        return dict(const=1, z=(i, j), W=True)

    f = p - 1
    g1, g2 = parts(a, b), parts(c, e)
    # z part: E of the product of the z factors (Isserlis), the W parts independent of z
    def ez(idx):
        idx = list(idx)
        if not idx:
            return 1
        if len(idx) % 2:
            return 0
        first, rest = idx[0], idx[1:]
        return sum((1 if first == rest[k] else 0) * ez(rest[:k] + rest[k + 1:]) for k in range(len(rest)))

    def ew(i, j):
        return f if i == j else 0

    out = g1["const"] * g2["const"] * ez(g1["z"] + g2["z"])
    if g1["W"]:
        out += g2["const"] * ew(a, b) * ez(g2["z"])
    if g2["W"]:
        out += g1["const"] * ew(c, e) * ez(g1["z"])
    if g1["W"] and g2["W"]:
        out += ew(a, b) * ew(c, e) + f * ((1 if a == c and b == e else 0) + (1 if a == e and b == c else 0))
    return sp.expand(out)


def mismatches(G, normals, chis, n=N_ROWS):
    """Entries and pairs of entries whose moments differ from the Gaussian rows'."""
    idx = [(a, b) for a in range(n + 1) for b in range(a, n + 1)]
    bad = []
    for a, b in idx:
        if sp.simplify(_expect(G[a, b], normals, chis) - gaussian_first(a, b, n)) != 0:
            bad.append(((a, b),))
    for (a, b), (c, e) in itertools.combinations_with_replacement(idx, 2):
        got = _expect(G[a, b] * G[c, e], normals, chis)
        if sp.simplify(got - gaussian_second(a, b, c, e, n)) != 0:
            bad.append(((a, b), (c, e)))
    return bad, len(idx) + len(idx) * (len(idx) + 1) // 2


def main():
    G, normals, chis = construction()
    bad, count = mismatches(G, normals, chis)
    print(f"{count} first and second moments of the Gram matrix of {N_ROWS} rows and d: {len(bad)} mismatches")
    assert not bad, bad
    for name, kw in (("p degrees of freedom instead of p - 1", {"dof": p}), ("z column dropped", {"cross": False})):
        wrong, _ = mismatches(*construction(**kw))
        print(f"control, {name}: {len(wrong)} mismatches (e.g. {wrong[0]})")
        assert wrong, name
    print("sufficient-statistic construction: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
