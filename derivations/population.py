"""Population limit (``m -> infinity``) of meta-training on a mixture of diagonal Gaussian tasks (docs: theory, P1-P4).

Component ``c`` (weight ``pi_c``): inputs ``x ~ N(0, S)``, ``S = diag(s)``; tasks ``w ~ N(w0, T)``,
``T = diag(t)``; labels ``y = x.w + sigma z``.  ``H = X_t^T X_t / n`` is the sample covariance of a
task's ``n = n_t`` training points and ``A = (I - alpha H)^N`` its inner map.  This script derives:

1. ``E[H^a S H^b]`` and ``E[H^k]`` by Isserlis' theorem, grouping the point indices by the set
   partition they form (``n (n-1) ... (n-b+1)`` ways for ``b`` blocks) and the coordinates of a point
   being independent (``S`` diagonal); symbolic ``n``, symbolic diagonal ``S``, ``p = 2`` and ``3``.
   In particular ``E[(I - a H) S (I - a H)] = M(S, a, n) = S - 2 a S^2 + a^2 (S^3 + (S^3 + S tr S^2)/n)``
   and ``E[(I - a H)^2] = I - 2 a S + a^2 (S^2 + (S^2 + S tr S)/n)``, not ``(I - a S)^2``.
2. These moments equal linmeta's runtime ones (``linmeta.theory._diagonal_moments``: one Wick sum
   over pairings of all factors at once, a different grouping), for every ``a + b <= 5`` and for
   ``E[H^3 S H^3]``, ``E[H^6]`` (``p = 2``), and ``a + b <= 4`` at ``p = 3``.
3. The population meta-training equations, from the full expectation over a task and its data
   (every Gaussian coordinate integrated out; ``n_t = 2``, ``n_v = 1``, ``p = 2``, symbolic rates,
   variances and means): MAML's expected meta-loss is
   ``1/2 [(omega - w0)^T E[A^T S A] (omega - w0) + const]`` (``N = 1`` with its constant, and ``N = 2``);
   first-order MAML's expected update direction is ``S E[A] (omega - w0)`` (``N = 1, 2``); ERM's expected pooled loss is
   ``1/2 [(omega - w0)^T S (omega - w0) + tr(S T) + sigma^2]``.
4. Over a mixture, ``omega* = (sum_c pi_c K_c)^-1 sum_c pi_c K_c w0_c`` (``K_c`` the matrix of 3); MAML at
   ``alpha_t = 0`` is ERM; with one component ``omega* = w0`` for MAML, first-order MAML and ERM.

Run ``python derivations/population.py``: prints, asserts, exits non-zero on failure.
"""
import itertools
import sys

import sympy as sp

from linmeta.theory._diagonal_moments import wick_terms


# ----------------------------------------------------------------------------- 1. moments by set partitions
def set_partitions(items):
    """Every partition of the list ``items`` into blocks."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [[first]] + partition
        for i in range(len(partition)):
            yield partition[:i] + [[first] + partition[i]] + partition[i + 1:]


def gaussian_moment(counts, s):
    """``E[prod_j x_j^{counts[j]}]`` for ``x ~ N(0, diag(s))``: independent coordinates (Isserlis)."""
    out = sp.Integer(1)
    for j, c in enumerate(counts):
        if c % 2:
            return sp.Integer(0)
        out *= s[j] ** (c // 2) * sp.factorial2(c - 1)
    return out


def moment_by_partitions(a, b, s, n, insert=True):
    """``E[H^a S H^b]`` (or ``E[H^(a+b)]``) as a ``p x p`` sympy matrix.

    ``H^K = n^-K sum_{k_1..k_K} prod_r x_{k_r} x_{k_r}^T``: the terms whose point indices form a
    given partition into ``B`` blocks occur ``n (n-1) ... (n-B+1)`` times, and the points of
    different blocks are independent.
    """
    p, K = len(s), a + b
    out = sp.zeros(p, p)
    for partition in set_partitions(list(range(K))):
        block_of = {r: i for i, block in enumerate(partition) for r in block}
        ways = sp.prod([n - i for i in range(len(partition))])
        for idx in itertools.product(range(p), repeat=K + 1):  # i_0 .. i_K
            counts = [[0] * p for _ in partition]
            for r in range(K):  # factor r is x_{k_r, i_r} x_{k_r, i_{r+1}}
                counts[block_of[r]][idx[r]] += 1
                counts[block_of[r]][idx[r + 1]] += 1
            value = sp.prod([gaussian_moment(c, s) for c in counts])
            if insert:
                value *= s[idx[a]]
            out[idx[0], idx[K]] += ways * value
    return (out / n**K).applyfunc(sp.expand)


def moment_from_runtime(a, b, s, n, insert=True):
    """Return the same moment from linmeta's grouped Wick terms, rebuilt as a sympy matrix."""
    out = sp.zeros(len(s), len(s))
    for j in range(len(s)):
        out[j, j] = sp.expand(sum(count * n ** (c - a - b) * s[j] ** q * sp.prod([sum(x**r for x in s) for r in rest])
                                  for (c, q, rest), count in wick_terms(a, b, insert)))
    return out


def closed_forms():
    n, a = sp.symbols("n alpha", positive=True)
    for p in (2, 3):
        s = sp.symbols(f"s0:{p}", positive=True)
        S, I = sp.diag(*s), sp.eye(p)

        def tr(k, s=s):
            return sum(x**k for x in s)
        M = S - 2 * a * S**2 + a**2 * (S**3 + (S**3 + S * tr(2)) / n)
        inner = (S - 2 * a * moment_by_partitions(1, 0, s, n) + a**2 * moment_by_partitions(1, 1, s, n))
        assert (inner - M).applyfunc(sp.expand) == sp.zeros(p, p), f"E[(I - aH) S (I - aH)] != M at p={p}"
        EH2 = moment_by_partitions(2, 0, s, n, insert=False)
        assert (EH2 - S**2 - (S**2 + S * tr(1)) / n).applyfunc(sp.expand) == sp.zeros(p, p)
        EA2 = I - 2 * a * S + a**2 * EH2
        assert (EA2 - (I - a * S) ** 2).applyfunc(sp.factor) == (a**2 * (S**2 + S * tr(1)) / n).applyfunc(sp.factor)
    print("1. E[(I - aH) S (I - aH)] = S - 2a S^2 + a^2 (S^3 + (S^3 + S tr S^2)/n)   (p = 2, 3; any n)")
    print("   E[H^2] = S^2 + (S^2 + S tr S)/n, so E[(I - aH)^2] = (I - aS)^2 + a^2 (S^2 + S tr S)/n")
    s = sp.symbols("s0:2", positive=True)
    cases = [(a_, K - a_, insert) for K in range(6) for a_ in range(K + 1) for insert in (True, False)]
    for a_, b_, insert in cases + [(3, 3, True), (6, 0, False)]:  # degree 6: E[H^3 S H^3] and E[H^6]
        derived = moment_by_partitions(a_, b_, s, n, insert)
        assert derived == moment_from_runtime(a_, b_, s, n, insert), \
            f"runtime moment differs at a={a_}, b={b_}, insert={insert}"
    s3 = sp.symbols("s0:3", positive=True)  # at p = 3 the traces tr S, tr S^2, tr S^3 are independent
    for a_, b_, insert in [case for case in cases if case[0] + case[1] <= 4]:
        assert moment_by_partitions(a_, b_, s3, n, insert) == moment_from_runtime(a_, b_, s3, n, insert), \
            f"runtime moment differs at a={a_}, b={b_}, insert={insert}, p=3"
    print("2. linmeta's runtime Wick terms = the partition expansion for every E[H^a S H^b] and E[H^K], K <= 5,")
    print("   and for E[H^3 S H^3] and E[H^6] (p = 2, any n); K <= 4 also at p = 3")


# ----------------------------------------------------------------------------- 3. full expectation of a task
def expect(expr, gens):
    """``E[expr]`` for ``expr`` a polynomial in the independent standard Gaussians ``gens``."""
    poly = sp.Poly(sp.expand(expr), *gens)
    total = sp.Integer(0)
    for powers, coef in poly.terms():
        if all(e % 2 == 0 for e in powers):
            total += coef * sp.prod([sp.factorial2(e - 1) for e in powers])
    return sp.expand(total)


def task_expectations():
    """Meta-objective (MAML, ERM) and update direction (first-order MAML) of one task, integrated out."""
    p, n_t = 2, 2
    al, sig = sp.symbols("alpha sigma", positive=True)
    r = sp.symbols("r0:2", positive=True)  # sqrt(s)
    tau = sp.symbols("tau0:2", positive=True)  # sqrt(t)
    w0 = sp.Matrix(sp.symbols("v0:2", real=True))
    om = sp.Matrix(sp.symbols("o0:2", real=True))
    gt = sp.Matrix(n_t, p, lambda i, j: sp.Symbol(f"g{i}{j}"))
    zt = sp.Matrix(sp.symbols(f"z0:{n_t}"))
    gv, zv = sp.Matrix(sp.symbols("h0:2")), sp.Symbol("zv")
    u = sp.Matrix(sp.symbols("u0:2"))
    gens = list(gt) + list(zt) + list(gv) + [zv] + list(u)
    Xt = sp.Matrix(n_t, p, lambda i, j: r[j] * gt[i, j])
    xv = sp.Matrix([r[j] * gv[j] for j in range(p)])
    w = w0 + sp.Matrix([tau[j] * u[j] for j in range(p)])
    yt, yv = Xt * w + sig * zt, (xv.T * w)[0] + sig * zv
    S, T = sp.diag(*[x**2 for x in r]), sp.diag(*[x**2 for x in tau])
    s = [x**2 for x in r]
    n = sp.Integer(n_t)
    d = om - w0

    def adapt(N):
        theta = om
        for _ in range(N):
            theta = theta - al * Xt.T * (Xt * theta - yt) / n_t
        return theta

    # MAML, N = 1: E[(y_v - x_v.theta)^2 / 2] = 1/2 [d^T K d + tr(K T) + noise]
    K = moment_by_partitions(0, 0, s, n) - 2 * al * moment_by_partitions(1, 0, s, n) \
        + al**2 * moment_by_partitions(1, 1, s, n)
    noise = sig**2 + al**2 * sig**2 * (S * S).trace() / n
    loss = expect(((xv.T * adapt(1))[0] - yv) ** 2 / 2, gens)
    assert sp.expand(loss - ((d.T * K * d)[0] + (K * T).trace() + noise) / 2) == 0, "MAML's meta-objective"
    # MAML, N = 2: the omega-dependent part is 1/2 d^T E[A^T S A] d, A = I - 2 alpha H + alpha^2 H^2
    c2 = [1, -2 * al, al**2]
    K2 = sum((c2[i] * c2[j] * moment_by_partitions(i, j, s, n) for i in range(3) for j in range(3)), sp.zeros(p, p))
    loss2 = expect(((xv.T * adapt(2))[0] - yv) ** 2 / 2, gens)
    at_w0 = loss2.subs(dict(zip(om, w0, strict=True)))
    assert sp.expand(loss2 - at_w0 - (d.T * K2 * d)[0] / 2) == 0, "MAML's objective, N=2"
    # first-order MAML: E[x_v (x_v.theta - y_v)] = S E[A] d
    for N in (1, 2):
        EA = sum((sp.binomial(N, k) * (-al) ** k * moment_by_partitions(k, 0, s, n, insert=False)
                  for k in range(N + 1)), sp.zeros(p, p))
        direction = (xv * ((xv.T * adapt(N))[0] - yv)).applyfunc(lambda e: expect(e, gens))
        assert (direction - S * EA * d).applyfunc(sp.expand) == sp.zeros(p, 1), f"first-order MAML, N={N}"
    # ERM: E[(x.omega - y)^2 / 2] on any point of the task
    erm = expect(((xv.T * om)[0] - yv) ** 2 / 2, gens)
    assert sp.expand(erm - ((d.T * S * d)[0] + (S * T).trace() + sig**2) / 2) == 0, "ERM's objective"
    print("3. one task, every Gaussian integrated out (n_t = 2, n_v = 1, p = 2):")
    print("   MAML:    E[meta-loss] = 1/2 [(omega - w0)^T E[A^T S A] (omega - w0) + tr(E[A^T S A] T)"
          " + sigma^2 (1 + alpha^2 tr S^2 / n_t)]")
    print("            and, for N = 2, 1/2 (omega - w0)^T E[A^T S A] (omega - w0) + const")
    print("   FO-MAML: E[x_v (x_v.theta - y_v)] = S E[A] (omega - w0)   (N = 1, 2)")
    print("   ERM:     E[loss] = 1/2 [(omega - w0)^T S (omega - w0) + tr(S T) + sigma^2]")


# ----------------------------------------------------------------------------- 4. the mixture
def mixture():
    p, C = 2, 2
    pi = sp.symbols("pi0:2", positive=True)
    om = sp.Matrix(sp.symbols("o0:2", real=True))
    w0 = [sp.Matrix(sp.symbols(f"v{c}_0:2", real=True)) for c in range(C)]
    Kd = [sp.diag(*sp.symbols(f"k{c}_0:2", positive=True)) for c in range(C)]
    objective = sum(pi[c] * ((om - w0[c]).T * Kd[c] * (om - w0[c]))[0] for c in range(C)) / 2
    grad = sp.Matrix([sp.diff(objective, o) for o in om])
    solved = sp.solve(list(grad), list(om), dict=True)[0]
    claimed = (pi[0] * Kd[0] + pi[1] * Kd[1]).inv() * (pi[0] * Kd[0] * w0[0] + pi[1] * Kd[1] * w0[1])
    assert all(sp.simplify(solved[om[j]] - claimed[j]) == 0 for j in range(p)), "mixture minimiser"
    # MAML at alpha_t = 0: K = E[S] = S, ERM's matrix; one component: omega* = w0 whatever K
    n, a = sp.symbols("n alpha", positive=True)
    s = sp.symbols("s0:2", positive=True)
    K0 = (sp.diag(*s) - 2 * a * moment_by_partitions(1, 0, s, n)
          + a**2 * moment_by_partitions(1, 1, s, n)).subs(a, 0)
    assert K0 == sp.diag(*s), "MAML's K at alpha_t = 0 is not ERM's S"
    one = (Kd[0].inv() * Kd[0] * w0[0] - w0[0]).applyfunc(sp.simplify)
    assert one == sp.zeros(p, 1)
    print("4. mixture: omega* = (sum pi_c K_c)^-1 sum pi_c K_c w0_c, independent of n_v;")
    print("   K = S at alpha_t = 0 (MAML = ERM); one component: omega* = w0")


def main():
    closed_forms()
    task_expectations()
    mixture()
    print("population.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
