"""Anisotropic Gaussian mixed linear regression: leading-order test loss (docs: theory, A1-A6).

Inputs ``x ~ N(0, S)``, tasks ``w ~ N(w0, T)`` with ``S = diag(s_j)``, ``T = diag(t_j)``.  Given
``omega*``, the exact test side (T0g, ``derivations/test_side.py``) is

    E[loss | omega*] = sigma^2/2 + 1/2 [(omega* - w0)' M (omega* - w0) + tr(M T) + a^2 sigma^2 tr S^2 / n_r],
    M = S - 2 a S^2 + a^2 (S^3 + (S^3 + S tr S^2) / n_r),   a = alpha_r,

so everything reduces to ``D_M = E[(omega* - w0)' M (omega* - w0)]``.  This script derives it

* under-parameterised (``p < n_v m``, A2), exactly as theorem 2 is derived: ``omega* - w0 =
  (sum_i A_i V_i A_i)^{-1} sum_i xi_i`` with ``sum_i A_i V_i A_i`` replaced by its mean
  ``m n_v K``, ``K = E[A S A] = S - 2 alpha_t S^2 + alpha_t^2 (S^3 + (S^3 + S tr S^2)/n_t)``, so
  ``D_M = E[xi' B xi] / (m n_v^2)`` with ``B = K^{-1} M K^{-1}``; ``E[xi' B xi]`` is exact, by Wick's
  theorem for the Wishart matrix ``H`` with diagonal weights (index cycles carry sums
  ``sum_j prod(weights)_j``), checked by Monte Carlo;
* over-parameterised (``p > n_v m``, A3), as theorem 1 is derived: ``Z Z' ~ tr(K) I`` (rows nearly
  orthogonal, first order in ``n_v m / p``), ``E[rows rows'] = K``;
* ERM (A4): MAML at ``alpha_t = 0`` with ``n_v -> n_t + n_v`` (docs: theory, E1);
* ``alpha_t = 0`` over-parameterised in the proportional limit (A5), the ridgeless deterministic
  equivalent (Hastie, Montanari, Rosset, Tibshirani 2019) with ``kappa`` solving ``n = sum_j s_j/(s_j +
  kappa)``; the task vectors are shared by the ``n_v`` rows of a task, which, by exchangeability of the
  rows, splits the task part into ``(1 - 1/m)`` noise-like and ``1/m`` signal-like (fitted) parts.

Each formula is asserted to reduce to the isotropic one at ``S = I``, ``T = nu^2/p I``: A2 to theorem 2
(derived form), A3 to theorem 1, A5 to the exact inverse-Wishart result without its ``-1`` corrections.

Sums: ``P(f)`` stands for ``sum_j f(s_j, t_j, b_j)``; ``q2 = tr S^2``; ``b_j`` is the weight ``B_jj``.

Run ``python derivations/anisotropic.py``: prints, asserts, exits non-zero on failure.
"""
import functools
import itertools
import sys

import numpy as np
import sympy as sp

from linmeta.symbolic import _theorems as T
from linmeta.symbolic._symbols import alpha_r, alpha_t, h_r, h_t, k, m, n_r, n_t, n_v, nu, p, s2, sigma

s, t, b = sp.symbols("s t b", real=True)           # per-coordinate s_j, t_j, b_j
q2 = sp.Symbol("q2", positive=True)                 # tr S^2
P = sp.Function("P")                                # P(f) = sum_j f(s_j, t_j, b_j)
dM = sp.Symbol("dM", nonnegative=True)              # (omega0 - w0)' M (omega0 - w0), and friends below
H = "H"


def diag_M(a, n_pts):
    """Diagonal of ``S - 2 a S^2 + a^2 (S^3 + (S^3 + S tr S^2)/n)`` as a function of ``s`` (and ``q2``)."""
    return s - 2 * a * s**2 + a**2 * (s**3 + (s**3 + s * q2) / n_pts)


# ----------------------------------------------------------------------------- Wick with diagonal weights
def _matchings(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for j in range(len(rest)):
        for tail in _matchings(rest[:j] + rest[j + 1:]):
            yield [(first, rest[j])] + tail


def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@functools.lru_cache(maxsize=None)
def _wick(cycles):
    """``E prod_c tr(W E_c0 W E_c1 ...)``, ``W = G'G/n`` (``G`` standard Gaussian ``n x p``), ``n = n_t``.

    ``cycles``: tuple of tuples of diagonal weights (sympy monomials in ``s, t, b``).  ``W_r`` in a cycle
    is ``(1/n) sum_a G_{a, i_r} G_{a, i_{r+1}}`` and ``E_r`` sits on ``i_{r+1}``.  Each perfect matching
    of the ``G`` factors identifies row indices (a free row sum gives ``n``) and column indices (a free
    column class gives ``P(product of its weights)``).
    """
    half, weight_on, n_w = [], {}, 0
    for c, cyc in enumerate(cycles):
        kk = len(cyc)
        for r in range(kk):
            half += [(("a", c, r), ("i", c, r)), (("a", c, r), ("i", c, (r + 1) % kk))]
            weight_on[("i", c, (r + 1) % kk)] = cyc[r]
        n_w += kk
    total = sp.Integer(0)
    for match in _matchings(list(range(len(half)))):
        parent = {}
        for x, y in half:
            parent.setdefault(x, x)
            parent.setdefault(y, y)
        for u, v in match:
            for side in (0, 1):
                ru, rv = _find(parent, half[u][side]), _find(parent, half[v][side])
                parent[ru] = rv
        roots_a = {_find(parent, x) for x, _ in half}
        classes = {}
        for node, wgt in weight_on.items():
            classes.setdefault(_find(parent, node), []).append(wgt)
        term = n_t ** len(roots_a)
        for ws in classes.values():
            term *= P(sp.Mul(*ws))
        total += term
    return sp.expand(total / n_t**n_w)


def expect(words):
    """``E prod_w tr(word_w)``: each word a tuple of tokens, ``"H"`` or a diagonal monomial in ``s, t, b``.

    ``H = S^{1/2} W S^{1/2}``, so the diagonal between two consecutive ``H`` gains a factor ``s``.
    """
    cycles, const = [], sp.Integer(1)
    for word in words:
        if H not in word:
            const *= P(sp.Mul(*word))
            continue
        start = word.index(H)
        rot = word[start:] + word[:start]
        cyc, cur = [], None
        for tok in rot[1:] + (H,):
            if tok == H:
                cyc.append(sp.expand(s * (cur if cur is not None else 1)))
                cur = None
            else:
                cur = tok if cur is None else cur * tok
        cycles.append(tuple(cyc))
    return sp.expand(const * _wick(tuple(sorted(cycles, key=str))))


def expect_poly(factors_list):
    """Return ``E prod tr(word)``, each word a tuple of diagonal monomials and ``"A"`` (``= I - alpha_t H``).

    ``A`` is expanded here into its two terms.
    """
    total = sp.Integer(0)
    slots = [[i for i, f in enumerate(w) if f == "A"] for w in factors_list]
    flat = [(wi, i) for wi, idx in enumerate(slots) for i in idx]
    for choice in itertools.product((0, 1), repeat=len(flat)):
        coef = sp.Integer(1)
        words = [list(w) for w in factors_list]
        for (wi, i), c in zip(flat, choice, strict=True):
            words[wi][i] = H if c else 1
            coef *= -alpha_t if c else 1
        clean = [tuple(tok for tok in w if tok != 1) or (sp.Integer(1),) for w in words]
        total += coef * expect(clean)
    return sp.expand(total)


# ----------------------------------------------------------------------------- A2: under-parameterised
def xi_weighted():
    """``E[xi' B xi]`` for one task, exact, ``B = diag(b_j)``, ``V`` with ``n_v`` points of covariance ``S``.

    ``E[V C V] = n_v (n_v + 1) S C S + n_v S tr(C S)``; ``E[c c' | X_t] = alpha_t^2 sigma^2 H / n_t``.
    """
    A = "A"
    task = (n_v * (n_v + 1) * expect_poly([(A, b, A, s, A, t, A, s)])
            + n_v * expect_poly([(A, b, A, s), (A, t, A, s)]))
    inner_noise = alpha_t**2 * sigma**2 / n_t * (n_v * (n_v + 1) * expect_poly([(s, A, b, A, s, H)])
                                                 + n_v * expect_poly([(A, b, A, s), (s, H)]))
    valid_noise = sigma**2 * n_v * expect_poly([(A, b, A, s)])
    return sp.expand(task + inner_noise + valid_noise)


# per-coordinate and summed quantities used by the emitted code
q4 = sp.Symbol("q4", positive=True)                               # tr S^4
r = sp.symbols("r1:6", nonnegative=True)                          # r_a = sum_j s_j^a t_j
d = sp.Symbol("d", real=True)                                     # (omega0 - w0)_j
SUMS = {P(s**2): q2, P(s**4): q4, **{P(s**a * t): r[a - 1] for a in range(1, 6)}}


def xi_covariance():
    """``c_j = E[xi xi']_jj`` (``E[xi xi']`` is diagonal): ``E[xi' B xi] = sum_j b_j c_j``, exact."""
    expr = xi_weighted().xreplace(SUMS)
    per_coord = expr.replace(lambda e: isinstance(e, sp.Function) and e.func == P and e.has(b),
                             lambda e: e.args[0].subs(b, 1))
    c = sp.expand(per_coord)
    assert not c.has(P) and not c.has(b), c
    return sp.collect(c, [t, sigma], sp.factor)


def _q2_sub(expr):
    return expr.xreplace(SUMS)


def iso(expr, weight=None):
    """``S = I``, ``T = nu^2/p I``, ``(omega0 - w0)_j^2 = s2/p``, ``b_j = weight``: ``P(f) -> p f``, sums likewise."""
    point = {s: 1, t: nu**2 / p, d: sp.sqrt(s2 / p)}
    if weight is not None:
        point[b] = weight
    out = expr.replace(lambda e: isinstance(e, sp.Function) and e.func == P,
                       lambda e: p * e.args[0].subs(point))
    out = out.subs({q2: p, q4: p, **{ra: nu**2 for ra in r}})
    return sp.simplify(out.subs(point))


# ----------------------------------------------------------------------------- A3: over-parameterised
def over_distance_P(n_rows=k):
    """``D_M`` for ``p > n_v m``, first order in ``n_v m / p`` (theorem 1's order), as sums ``P``.

    ``omega* - w0 = (I - P_Z)(omega0 - w0) + Z^+ e``; rows ``z = A x`` have ``E[z z'] = K``; with
    ``Z Z' ~ tr(K) I``: ``E[P_Z] ~ k K / tr K``, ``E[P_Z M P_Z] ~ k K tr(M K) / tr(K)^2``, and
    ``E|e_a|^2 = tr(K T) + sigma^2 (1 + alpha_t^2 tr(S^2) / n_t)`` per row.  The expansion parameter is
    ``rho = k max_j K_j / tr K`` (``k / p`` at ``S = I``); the runtime refuses ``rho >= 1`` and negative
    first-order weights of ``d_j^2`` (both mean ``p <= k`` at ``S = I``).
    """
    K, M = diag_M(alpha_t, n_t), diag_M(alpha_r, n_r)
    trK, trMK = P(K), P(M * K)
    e2 = P(K * t) + sigma**2 * (1 + alpha_t**2 * q2 / n_t)
    return (P(M * d**2) - 2 * n_rows * P(K * M * d**2) / trK + n_rows * P(K * d**2) * trMK / trK**2
            + n_rows * e2 * trMK / trK**2)


# sums the emitted A3 takes
dM, dKM, dK, trK, trMK, trKT = sp.symbols("dM dKM dK trK trMK trKT", real=True)
n_rows = sp.Symbol("n_rows", positive=True, integer=True)


def over_distance_sums():
    """A3 with its sums as arguments (``dM = sum M_j d_j^2``, ``dKM``, ``dK``, ``trK``, ``trMK``, ``trKT``)."""
    return (dM - 2 * n_rows * dKM / trK + n_rows * dK * trMK / trK**2
            + n_rows * (trKT + sigma**2 * (1 + alpha_t**2 * q2 / n_t)) * trMK / trK**2)


# ----------------------------------------------------------------------------- A5: ridgeless, alpha_t = 0
kappa = sp.Symbol("kappa", positive=True)


def ridgeless_distance_P(n_pts, per_task):
    """``D_M`` at ``alpha_t = 0``, ``p > n_pts``, proportional limit; ``per_task`` rows per task.

    ``kappa``: ``sum_j s_j/(s_j + kappa) = n_pts``; ``df2 = sum s_j^2/(s_j+kappa)^2``.
    Bias matrix ``E[(I-P)M(I-P)] ~ kappa^2 M (S+kappa)^-2 + kappa^2 tr(M S (S+kappa)^-2) S (S+kappa)^-2/(n - df2)``,
    ``E[I - P] ~ kappa (S+kappa)^-1``, noise ``E tr(Z^+' M Z^+) ~ tr(M S (S+kappa)^-2)/(n - df2)``; the task
    part: ``(1 - q)`` of it noise-like (diagonal of ``X T X'``) and ``q = per_task / n_pts`` of it the
    fitted signal ``tr(T E[P M P])`` (exchangeable rows: a fraction ``q`` of the off-diagonal pairs is
    within a task).
    """
    M = diag_M(alpha_r, n_r)
    g = s / (s + kappa)**2
    df2 = P(s * g)
    V = P(M * g) / (n_pts - df2)
    beta = kappa**2 * M / (s + kappa)**2 + kappa**2 * V * g
    q = per_task / n_pts
    pmp = M * (1 - 2 * kappa / (s + kappa)) + beta
    return P(beta * d**2) + (sigma**2 + (1 - q) * P(s * t)) * V + q * P(t * pmp)


# ----------------------------------------------------------------------------- emitted NumPy code
alpha, n_pts = sp.Symbol("alpha", real=True), sp.Symbol("n_pts", positive=True, integer=True)
TITLE = "Leading-order theory for anisotropic inputs and tasks (docs: theory, A1, A2, A3)."


def functions():
    """Return the emitted functions: ``(name, args, expressions, docstring)``."""
    return [
        ("inner_diag", (s, alpha, n_pts, q2), diag_M(alpha, n_pts),
         "Diagonal of E[(I - alpha H) S (I - alpha H)], H from n_pts points of N(0, S), exact (docs: theory, A1).\n\n"
         "s: the diagonal of S; q2 = tr S^2.  It is M at (alpha_r, n_r) and K at (alpha_t, n_t)."),
        ("xi_covariance", (s, t, alpha_t, n_t, n_v, sigma, q2, q4, *r), xi_covariance(),
         "Diagonal c_j of E[xi xi'] for one task, exact (docs: theory, A2).\n\n"
         "s, t: diagonals of S and T; q2 = tr S^2, q4 = tr S^4, r_a = sum_j s_j^a t_j."),
        ("distance_over", (n_rows, alpha_t, n_t, sigma, q2, dM, dKM, dK, trK, trMK, trKT), over_distance_sums(),
         "Leading-order E[(omega* - w0)' M (omega* - w0)] for p > n_rows, first order in n_rows/p (docs: theory,"
         " A3).\n\n"
         "With d = omega0 - w0: dM = sum M_j d_j^2, dKM = sum K_j M_j d_j^2, dK = sum K_j d_j^2, trK = tr K,\n"
         "trMK = tr(M K), trKT = tr(K T)."),
    ]


def emitted_code():
    """Complete text of ``linmeta/theory/_generated_anisotropic.py``."""
    from linmeta.symbolic._codegen import module_source
    return module_source(TITLE, "anisotropic", functions())


# ----------------------------------------------------------------------------- Monte Carlo of c_j
def mc_xi_covariance(s_val, t_val, nt, nv, a, sig, samples=200_000, seed=5):
    """Sample mean and stderr of ``xi_j^2`` (one task, diagonal ``S``, ``T``)."""
    rng = np.random.default_rng(seed)
    p_val = len(s_val)
    rs, rt = np.sqrt(s_val), np.sqrt(t_val)
    X_t = rng.standard_normal((samples, nt, p_val)) * rs
    X_v = rng.standard_normal((samples, nv, p_val)) * rs
    u = rng.standard_normal((samples, p_val)) * rt
    z_t = rng.standard_normal((samples, nt)) * sig
    z_v = rng.standard_normal((samples, nv)) * sig
    Hm = np.einsum("sai,saj->sij", X_t, X_t) / nt
    Am = np.eye(p_val) - a * Hm
    V = np.einsum("sai,saj->sij", X_v, X_v)
    c = a / nt * np.einsum("sai,sa->si", X_t, z_t)
    xi = (np.einsum("sij,sj->si", Am @ V @ Am, u) - np.einsum("sij,sj->si", Am @ V, c)
          + np.einsum("sij,sj->si", Am, np.einsum("sai,sa->si", X_v, z_v)))
    sq = xi**2
    return sq.mean(0), sq.std(0, ddof=1) / np.sqrt(samples)


def main():
    # A1: the test side (derivations/test_side.py) with diagonal S: M_jj = diag_M(alpha_r, n_r)
    K, Mr = diag_M(alpha_t, n_t), diag_M(alpha_r, n_r)
    assert sp.simplify(K.subs({s: 1, q2: p}) - h_t) == 0 and sp.simplify(Mr.subs({s: 1, q2: p}) - h_r) == 0
    print("(A1) M_jj = s_j - 2 a s_j^2 + a^2 (s_j^3 + (s_j^3 + s_j tr S^2)/n_r);  K = M at (alpha_t, n_t)")

    # A2: under-parameterised
    xi2 = xi_weighted().xreplace(SUMS)
    c = xi_covariance()
    sv, tv, bv = (sp.Rational(2, 5), 1, sp.Rational(9, 4)), (sp.Rational(1, 3), 0, 2), (1, sp.Rational(-3, 7), 5)
    lhs = at_spectrum(xi2, sv, tv, bv)
    rhs = sum(bj * at_spectrum(c, sv, tv, bv).subs({s: sj, t: tj}) for sj, tj, bj in zip(sv, tv, bv, strict=True))
    assert sp.expand(lhs - rhs) == 0, "E[xi' B xi] != sum_j b_j c_j"
    print("\n(A2) c_j = E[xi xi']_jj, coefficients of t_j s_j^a, sigma^2 s_j^a and s_j^a (sums r_a, q2, q4):")
    for part, rest in (("t_j", sp.expand(c).coeff(t, 1)), ("sigma^2", sp.expand(c).coeff(t, 0).coeff(sigma, 2)),
                       ("1", sp.expand(c).coeff(t, 0).coeff(sigma, 0))):
        for a in range(7):
            coef = sp.factor(sp.expand(rest).coeff(s, a))
            if coef != 0:
                print(f"  {part} s^{a}: {sp.sstr(coef)}")
    dist_iso = iso(xi2, h_r / h_t**2) / (m * n_v**2)
    assert sp.simplify(dist_iso - h_r * T.t2_distance()) == 0, "A2 does not reduce to theorem 2"
    print("A2: D_M = sum_j M_j c_j / (m n_v^2 K_j^2) reduces to h_r * theorem 2 (derived) at S = I, T = nu^2/p I")
    # alpha_t = 0: c_j = n_v (n_v+1) s_j^2 t_j + n_v s_j (tr(S T) + sigma^2)
    c0 = sp.expand(c.subs(alpha_t, 0))
    assert sp.expand(c0 - (n_v * (n_v + 1) * s**2 * t + n_v * s * (r[0] + sigma**2))) == 0
    # Monte Carlo: c_j is exact (two rates, anisotropic S and T)
    fc = sp.lambdify((s, t, alpha_t, n_t, n_v, sigma, q2, q4, *r), c)
    s_val, t_val = np.array([0.4, 1.0, 2.2]), np.array([0.3, 0.0, 0.15])
    sums = [np.sum(s_val**2), np.sum(s_val**4)] + [np.sum(s_val**a * t_val) for a in range(1, 6)]
    for a_val, sig in ((-0.5, 0.5), (0.3, 0.8)):
        mean, se = mc_xi_covariance(s_val, t_val, 4, 5, a_val, sig, seed=5 + int(10 * a_val))
        exact = fc(s_val, t_val, a_val, 4, 5, sig, *sums)
        z = (mean - exact) / se
        print(f"MC c_j (s={s_val}, t={t_val}, n_t=4, n_v=5, alpha_t={a_val}): exact {np.round(exact, 4)}, "
              f"MC {np.round(mean, 4)}, z = {np.round(z, 2)}")
        assert np.all(np.abs(z) < 5), z

    # A3: over-parameterised, theorem 1's order
    d3 = over_distance_P()
    assert sp.simplify(iso(d3) - h_r * T.t1_distance()) == 0, "A3 does not reduce to theorem 1"
    sums3 = {P(Mr * d**2): dM, P(K * Mr * d**2): dKM, P(K * d**2): dK, P(K): trK, P(Mr * K): trMK,
             P(K * t): trKT}
    assert sp.simplify(d3.xreplace(sums3) - over_distance_sums().subs(n_rows, k)) == 0
    print("\n(A3) D_M = dM - 2 k dKM/trK + k (dK + trKT + sigma^2 (1 + alpha_t^2 tr S^2/n_t)) trMK/trK^2")
    print("A3 reduces to h_r * theorem 1 at S = I, T = nu^2/p I")

    # A4: ERM = A2 / A3 at alpha_t = 0, n_v -> n_t + n_v (derivations/erm.py); at S = I it is the package's ERM
    erm_under = (xi2.subs(alpha_t, 0) / (m * n_v**2)).subs(n_v, n_t + n_v)
    erm_iso = iso(erm_under, h_r) / h_r
    assert sp.simplify(erm_iso - T.t2_distance().subs(alpha_t, 0).subs(n_v, n_t + n_v)) == 0
    assert sp.simplify(iso(over_distance_P((n_t + n_v) * m).subs(alpha_t, 0))
                       - h_r * T.t1_distance().subs(alpha_t, 0).subs(n_v, n_t + n_v)) == 0
    print("\n(A4) ERM: A2 and A3 at alpha_t = 0 with n_v -> n_t + n_v; reduce to the isotropic ERM")

    # A5: ridgeless at alpha_t = 0, p > n: at S = I, kappa = p/n - 1 and the exact inverse-Wishart result
    # without its -1 corrections: (1 - n/p) s2 + sigma^2 n/(p - n) + nu^2 n (p - n_v)/(p (p - n))
    n_pts = n_v * m
    d5 = ridgeless_distance_P(n_pts, n_v)
    d5_iso = iso(d5.subs(kappa, p / n_pts - 1))
    expected = h_r * ((1 - n_pts / p) * s2 + sigma**2 * n_pts / (p - n_pts)
                      + nu**2 * n_pts * (p - n_v) / (p * (p - n_pts)))
    assert sp.simplify(d5_iso - expected) == 0, "A5 does not reduce to the isotropic alpha_t = 0 limit"
    print("\n(A5) alpha_t = 0, proportional limit: at S = I it is (1 - n/p)|omega0 - w0|^2 + sigma^2 n/(p-n)")
    print("      + nu^2 n (p - n_v)/(p (p - n)) (times h_r): the exact inverse-Wishart result without its -1s")
    print("all anisotropic checks passed")
    return 0


def at_spectrum(expr, s_vec, t_vec, b_vec):
    """Evaluate ``expr`` with every ``P(f)`` (and the sums ``q2, q4, r_a``) summed over the given vectors."""
    pts = list(zip(s_vec, t_vec, b_vec, strict=True))
    out = expr.replace(lambda e: isinstance(e, sp.Function) and e.func == P,
                       lambda e: sum(e.args[0].subs({s: x, t: y, b: z}) for x, y, z in pts))
    return out.subs({q2: sum(x**2 for x in s_vec), q4: sum(x**4 for x in s_vec),
                     **{ra: sum(x**a * y for x, y in zip(s_vec, t_vec, strict=True)) for a, ra in enumerate(r, 1)}})

if __name__ == "__main__":
    sys.exit(main())
