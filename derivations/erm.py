"""ERM (pooled training) is MAML at ``alpha_t = 0`` with ``n_v`` replaced by ``n_t + n_v`` (docs: theory, E1).

ERM fits ``omega`` by least squares on all ``n_t + n_v`` points of every
training task, ``min_omega 1/(2 (n_t + n_v) m) sum_i |X_i omega - y_i|^2`` with
``X_i = [X_t,i; X_v,i]``, the solution nearest ``omega0`` when
over-parameterised.  This script derives, with sympy:

1. The inner map of N-step MAML at ``alpha_t = 0`` is the identity,
   ``A_i = (I - 0 H_i)^N = I`` and ``b_i = 0`` (symbolic ``p x p`` inputs, ``N = 1, 2, 3``),
   so the meta-system is ``Z = P`` (stacked validation inputs), ``r = y_v``,
   whatever the training points.
2. Hence MAML's meta-loss at ``alpha_t = 0`` with validation set ``X_v',i = X_i``
   (``n_v' = n_t + n_v`` points) *is* ERM's pooled objective, identically in
   ``omega`` (symbolic data, two tasks); both minimise ``|Z omega - r|^2`` with
   the same ``Z, r``, so they have the same minimisers and the same one nearest
   ``omega0``.  Rows of ``X_t,i`` and ``X_v,i`` are independent ``N(0, I)``
   draws with labels ``x.w_i + sigma z`` from the same task: the pooled
   ``X_i`` has the law of a validation set of ``n_t + n_v`` points.  So
   ``omega*`` of ERM has exactly the law of ``omega*`` of MAML at
   ``alpha_t = 0`` with ``n_v -> n_t + n_v`` (any ``n_t``), and so has the test
   loss (the meta-test side does not depend on the algorithm).
3. Every MAML formula at ``alpha_t = 0`` is free of ``n_t`` (asserted: the
   leading order of Theorems 1 and 2, and the exact inverse-Wishart results),
   so the substitution is well defined; ERM's formulas are printed.  They are
   not the unreplaced ones (the control used by the tests).

Run ``python derivations/erm.py``: prints, asserts, exits non-zero on failure.
"""
import sys

import sympy as sp

from linmeta.symbolic import _theorems as T
from linmeta.symbolic._symbols import alpha_t, n_t, n_v

a = sp.Symbol("a", real=True)  # alpha_t, kept separate from the scalar-theory symbol


def inner_map(Xt, yt, N):
    """Return ``(A, b)`` of ``N`` gradient steps of rate ``a`` on the training loss ``|Xt theta - yt|^2 / (2 n)``."""
    n, p = Xt.shape
    H = Xt.T * Xt / n
    c = Xt.T * yt / n
    step = sp.eye(p) - a * H
    A, b = sp.eye(p), sp.zeros(p, 1)
    for _ in range(N):
        A = step * A
        b = step * b + a * c
    return A, b


def main():
    p, nt, nv, m = 2, 2, 1, 2
    X_t = [sp.Matrix(nt, p, lambda r, c, i=i: sp.Symbol(f"xt{i}{r}{c}")) for i in range(m)]
    y_t = [sp.Matrix(nt, 1, lambda r, c, i=i: sp.Symbol(f"yt{i}{r}")) for i in range(m)]
    X_v = [sp.Matrix(nv, p, lambda r, c, i=i: sp.Symbol(f"xv{i}{r}{c}")) for i in range(m)]
    y_v = [sp.Matrix(nv, 1, lambda r, c, i=i: sp.Symbol(f"yv{i}{r}")) for i in range(m)]
    omega = sp.Matrix(p, 1, lambda r, c: sp.Symbol(f"w{r}"))

    # 1. the inner map at alpha_t = 0 is the identity, for any number of steps
    for N in (1, 2, 3):
        A, b = inner_map(X_t[0], y_t[0], N)
        assert sp.simplify(A.subs(a, 0) - sp.eye(p)) == sp.zeros(p, p), f"A != I at alpha_t = 0 (N={N})"
        assert sp.simplify(b.subs(a, 0)) == sp.zeros(p, 1), f"b != 0 at alpha_t = 0 (N={N})"
    print("1. N-step MAML's inner map at alpha_t = 0: A = I, b = 0 (N = 1, 2, 3)")

    # 2. MAML's meta-loss at alpha_t = 0 on pooled validation sets = ERM's pooled least squares
    pooled_X = [X_t[i].col_join(X_v[i]) for i in range(m)]
    pooled_y = [y_t[i].col_join(y_v[i]) for i in range(m)]
    erm = sum((((X_t[i] * omega - y_t[i]).norm() ** 2 + (X_v[i] * omega - y_v[i]).norm() ** 2)
               for i in range(m)), sp.Integer(0)) / (2 * (nt + nv) * m)
    # MAML with its own (arbitrary) training points T_i and validation points = the pooled ERM points
    T_x = [sp.Matrix(3, p, lambda r, c, i=i: sp.Symbol(f"tx{i}{r}{c}")) for i in range(m)]
    T_y = [sp.Matrix(3, 1, lambda r, c, i=i: sp.Symbol(f"ty{i}{r}")) for i in range(m)]
    maml = sp.Integer(0)
    for i in range(m):
        A, b = inner_map(T_x[i], T_y[i], 1)
        maml += (pooled_X[i] * (A * omega + b) - pooled_y[i]).norm() ** 2
    maml = maml / (2 * (nt + nv) * m)
    at0 = sp.expand(maml.subs(a, 0).rewrite(sp.Abs))
    real = {s: sp.Symbol(s.name, real=True) for s in (erm.free_symbols | at0.free_symbols)}
    erm_r, at0_r = sp.expand(erm.xreplace(real)), sp.expand(at0.xreplace(real))
    assert sp.simplify(erm_r - at0_r) == 0, "MAML at alpha_t = 0 on pooled points is not ERM's objective"
    assert not any(s.name.startswith("t") for s in at0_r.free_symbols), "MAML at alpha_t = 0 reads its training points"
    # the same objective as a function of omega: the same gradient, hence the same normal equations
    grad = [sp.diff(erm_r - at0_r, real[w]) for w in omega]
    assert all(sp.simplify(g) == 0 for g in grad)
    print("2. MAML's meta-loss at alpha_t = 0 with validation set [X_t; X_v] (n_v' = n_t + n_v)")
    print("   = ERM's pooled least squares, identically in omega and free of MAML's training points")

    # 3. MAML's formulas at alpha_t = 0 do not read n_t; ERM's are them at n_v -> n_t + n_v
    nv_erm = n_t + n_v
    rows = []
    for name, expr in (("T1 (leading, p > k)", T.t1_distance()), ("T2 (leading, p < k)", T.t2_distance()),
                       ("exact alpha_t = 0, p > k", T.exact_alpha0_over()),
                       ("exact alpha_t = 0, p < k", T.exact_alpha0_under())):
        at_zero = sp.simplify(expr.subs(alpha_t, 0))
        assert n_t not in at_zero.free_symbols, f"{name} at alpha_t = 0 depends on n_t"
        erm_expr = sp.simplify(at_zero.subs(n_v, nv_erm))
        assert sp.simplify(erm_expr - at_zero) != 0, f"{name}: the substitution n_v -> n_t + n_v changes nothing"
        rows.append((name, erm_expr))
    print("3. E|omega* - w0|^2 of ERM (MAML at alpha_t = 0, n_v -> n_t + n_v; s2 = |omega0 - w0|^2):")
    for name, expr in rows:
        print(f"   {name}: {sp.sstr(sp.factor(expr))}")
    print("erm.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
