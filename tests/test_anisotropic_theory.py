"""Anisotropic theory (docs: theory, A1-A5): reduction to theorems 1 and 2, errors, and an independent Monte Carlo.

The Monte Carlo below samples tasks and data with diagonal ``S``, ``T``, solves the meta-training least
squares with ``numpy.linalg.lstsq`` (minimum norm from ``omega0`` when over-parameterised) and scores
``omega*`` with the exact test side.  Its parameter sets were not used while designing the formulas
(design: p=20, m=60, n_t=8, n_v=10, alpha_t=+-0.3; p=200, m=2, n_v=5; ERM p=150, m=3; MAML alpha_t=0
p=120, m=4; spectra 2.5/0.5 two-level and 1/j).
"""
import numpy as np
import pytest

import linmeta as lm
from linmeta.theory._anisotropic import anisotropic_test_loss


def _iso_call(prob, **extra):
    p = prob.p
    return anisotropic_test_loss(np.ones(p), np.full(p, prob.nu**2 / p), prob.w0, prob.omega0, prob.sigma, p=p,
                                 m=prob.m, n_t=prob.n_t, n_v=prob.n_v, n_r=prob.n_r,
                                 alpha_t=None if prob.algorithm == "erm" else prob.alpha_t,
                                 alpha_r=prob.alpha_r, algorithm=prob.algorithm, **extra)


ISO_PROBLEMS = [
    lm.presets.FIG2, lm.presets.FIG3,
    lm.presets.FIG2.replace(alpha_t=-0.7, alpha_r=1.3, nu=1.1, omega0=np.linspace(-1, 1, 60)),
    lm.presets.FIG3.replace(alpha_t=-0.4, alpha_r=-0.2, n_t=9, sigma=0.7, w0=np.linspace(0, 2, 30)),
    lm.Problem(p=50, m=7, n_t=11, n_v=3, n_r=9, sigma=0.3, nu=0.8, alpha_t=0.9, alpha_r=0.5,
               w0=np.full(50, 0.1), omega0=np.linspace(-0.5, 0.5, 50)),
    lm.presets.FIG3.replace(algorithm="erm", alpha_t=0.0),
    lm.Problem(p=80, m=2, n_t=6, n_v=4, n_r=9, sigma=0.3, nu=0.8, alpha_t=0.0, alpha_r=0.5, algorithm="erm",
               omega0=np.linspace(-0.5, 0.5, 80)),
]


@pytest.mark.parametrize("prob", ISO_PROBLEMS, ids=lambda q: f"{q.algorithm}-p{q.p}-k{q.k}-at{q.alpha_t:g}")
def test_reduces_to_isotropic_theory(prob):
    """A2/A3/A4 at ``s = 1``, ``t = nu^2/p`` are theorems 1 and 2 (and ERM's identity) to rounding."""
    np.testing.assert_allclose(_iso_call(prob), lm.theory.test_loss(prob), rtol=1e-12, atol=0)


@pytest.mark.parametrize("prob", [lm.presets.FIG2.replace(alpha_t=0.0),
                                  lm.Problem(p=80, m=2, n_t=6, n_v=4, n_r=9, sigma=0.3, nu=0.8, alpha_t=0.0,
                                             alpha_r=0.5, algorithm="erm", omega0=np.linspace(-0.5, 0.5, 80))])
def test_proportional_reduces_to_inverse_wishart_limit(prob):
    """A5 at ``S = I``: ``(1 - k/p) |d|^2 + sigma^2 k/(p-k) + nu^2 k (p - n_i)/(p (p-k))``, ``n_i`` rows per task."""
    k, p = prob.k, prob.p
    per_task = prob.n_v + (prob.n_t if prob.algorithm == "erm" else 0)
    d2 = float(prob.start_offset @ prob.start_offset)
    dist = (1 - k / p) * d2 + prob.sigma**2 * k / (p - k) + prob.nu**2 * k * (p - per_task) / (p * (p - k))
    expected = prob.sigma**2 / 2 * (1 + prob.alpha_r**2 * p / prob.n_r) + prob.h_r / 2 * (prob.nu**2 + dist)
    np.testing.assert_allclose(_iso_call(prob, approximation="proportional"), expected, rtol=1e-12)
    # and it is within O(1/(p - k)) of the exact finite-size value (inverse-Wishart moments)
    exact = lm.theory.test_loss(prob, approximation="finite")
    assert abs(_iso_call(prob, approximation="proportional") / exact - 1) < 2 / (p - k)


S3, T3 = np.array([0.5, 1.0, 2.0]), np.array([0.1, 0.0, 0.2])
BASE = dict(p=3, m=4, n_t=5, n_v=2, n_r=4, alpha_t=0.2, alpha_r=0.3)


@pytest.mark.parametrize("change, match", [
    (dict(s=np.array([0.5, 0.0, 2.0])), r"s must have entries > 0; got np.float64\(0.0\) at \[1\]"),
    (dict(s=np.array([0.5, 1.0])), "s must be None or a real array of length p=3"),
    (dict(t=np.array([0.1, -1e-3, 0.2])), "t must have entries >= 0"),
    (dict(t=np.array([0.1, np.nan, 0.2])), "t must be finite"),
    (dict(sigma=-1.0), "sigma must be finite and >= 0"),
    (dict(p=8, s=np.ones(8), t=np.zeros(8)), "p == 8 == k is the interpolation threshold"),
    (dict(alpha_t=None), "alpha_t must be a finite real number for algorithm='maml'"),
    (dict(algorithm="erm"), "alpha_t must be None for algorithm='erm'"),
    (dict(algorithm="sgd"), "algorithm must be one of"),
    (dict(approximation="exact"), "approximation must be one of"),
])
def test_bad_input_is_refused_naming_the_parameter(change, match):
    kw = dict(s=S3, t=T3, w0=None, omega0=None, sigma=0.5, **BASE)
    kw.update(change)
    with pytest.raises(ValueError, match=match):
        anisotropic_test_loss(kw.pop("s"), kw.pop("t"), kw.pop("w0"), kw.pop("omega0"), kw.pop("sigma"), **kw)


@pytest.mark.parametrize("change, match", [
    (dict(algorithm="fomaml"), "no anisotropic theory for algorithm='fomaml'"),
    (dict(approximation="proportional", m=40), "derived only for p > k without an inner step"),
    (dict(approximation="proportional", p=30, s=np.ones(30), t=np.zeros(30)), "alpha_t=0.2"),
    (dict(p=40, s=np.r_[100.0, np.ones(39)], t=np.zeros(40)), "first order in rho = k max_j K_j / tr K"),
    (dict(p=40, s=np.r_[12.0, np.ones(39)], t=np.zeros(40), alpha_t=0.0, alpha_r=0.0), r"= 1\.88 \(k=8\)"),
    (dict(p=40, s=np.r_[5.0, np.ones(39)], t=np.zeros(40), alpha_t=0.0, alpha_r=0.0), r"= 0\.909 .*smallest -2\.77"),
])
def test_cases_not_derived_raise_not_implemented(change, match):
    kw = dict(s=S3, t=T3, w0=None, omega0=None, sigma=0.5, **BASE)
    kw.update(change)
    with pytest.raises(NotImplementedError, match=match):
        anisotropic_test_loss(kw.pop("s"), kw.pop("t"), kw.pop("w0"), kw.pop("omega0"), kw.pop("sigma"), **kw)


# ------------------------------------------------------------------ independent Monte Carlo
def _test_matrix(s, a, n):
    """Diagonal of ``E[(I - a H) S (I - a H)]`` for ``H`` from ``n`` points of ``N(0, diag(s))``."""
    return s - 2 * a * s**2 + a**2 * (s**3 + (s**3 + s * np.sum(s**2)) / n)


def mc_losses(s, t, w0, omega0, sigma, *, p, m, n_t, n_v, n_r, alpha_t, alpha_r, algorithm, runs, seed):
    """Per-run test losses: sample, meta-train by least squares, score ``omega*`` with the exact test side."""
    rng = np.random.default_rng(seed)
    M = _test_matrix(s, alpha_r, n_r)
    const = sigma**2 / 2 + (np.sum(M * t) + alpha_r**2 * sigma**2 * np.sum(s**2) / n_r) / 2
    out = np.empty(runs)
    for run in range(runs):
        W = w0 + np.sqrt(t) * rng.standard_normal((m, p))
        X_t = rng.standard_normal((m, n_t, p)) * np.sqrt(s)
        X_v = rng.standard_normal((m, n_v, p)) * np.sqrt(s)
        y_t = np.einsum("iap,ip->ia", X_t, W) + sigma * rng.standard_normal((m, n_t))
        y_v = np.einsum("iap,ip->ia", X_v, W) + sigma * rng.standard_normal((m, n_v))
        if algorithm == "erm":
            Z, r = np.concatenate([X_t, X_v], axis=1), np.concatenate([y_t, y_v], axis=1)
        else:   # rows X_v (I - a H), right side y_v - X_v b with b = (a/n_t) X_t' y_t
            Z = X_v - alpha_t / n_t * (X_v @ X_t.transpose(0, 2, 1)) @ X_t
            r = y_v - alpha_t / n_t * np.einsum("iap,ibp,ib->ia", X_v, X_t, y_t)
        Z, r = Z.reshape(-1, p), r.reshape(-1)
        omega = omega0 + np.linalg.lstsq(Z, r - Z @ omega0, rcond=None)[0]   # min-norm step if p > rows
        delta = omega - w0
        out[run] = const + delta @ (M * delta) / 2
    return out, const


def _two_level(p, high=3.0):
    s = np.full(p, (p - high * (p // 8)) / (p - p // 8))
    s[: p // 8] = high
    return s


def _power(p, exponent):
    s = np.arange(1, p + 1, dtype=float) ** -exponent
    return s / s.mean()


# name, spectrum, sizes and rates, approximation, runs, leading-order error of D_M relative (see module doc)
MC_CASES = [
    ("A2-two", _two_level(16), dict(p=16, m=80, n_t=12, n_v=8, n_r=12, alpha_t=-0.25, alpha_r=0.4), "leading", 300),
    ("A2-pow", _power(16, 1.2), dict(p=16, m=200, n_t=12, n_v=8, n_r=12, alpha_t=0.2, alpha_r=0.4), "leading", 300),
    ("A4-under-two", _two_level(16), dict(p=16, m=30, n_t=6, n_v=8, n_r=12, alpha_r=0.4, algorithm="erm"),
     "leading", 300),
    ("A4-under-pow", _power(16, 0.7), dict(p=16, m=30, n_t=6, n_v=8, n_r=12, alpha_r=0.4, algorithm="erm"),
     "leading", 300),
    ("A3-two", _two_level(240), dict(p=240, m=3, n_t=25, n_v=4, n_r=30, alpha_t=0.25, alpha_r=0.4), "leading", 300),
    ("A3-pow", _power(240, 0.5), dict(p=240, m=3, n_t=25, n_v=4, n_r=30, alpha_t=0.15, alpha_r=0.4), "leading",
     300),
    ("A5-erm-two", _two_level(100), dict(p=100, m=2, n_t=10, n_v=14, n_r=30, alpha_r=0.4, algorithm="erm"),
     "proportional", 300),
    ("A5-erm-pow", _power(100, 0.8), dict(p=100, m=2, n_t=10, n_v=14, n_r=30, alpha_r=0.1, algorithm="erm"),
     "proportional", 300),
    ("A5-maml0-pow", _power(90, 1.0), dict(p=90, m=5, n_t=7, n_v=9, n_r=30, alpha_t=0.0, alpha_r=0.1),
     "proportional", 300),
]


def _leading_error(name, s, kw):
    """Known size of the approximation error of ``D_M``, relative (from the isotropic theory's)."""
    p, m = kw["p"], kw["m"]
    k = (kw["n_t"] + kw["n_v"]) * m if kw.get("algorithm") == "erm" else kw["n_v"] * m
    if name.startswith("A2"):    # 1/m corrections: about 4 p/k in design runs (and in theorem 2's own check)
        return 6 * p / k
    if name.startswith("A4"):    # alpha_t = 0: exact inverse-Wishart mean differs by (p + 1)/(k - p - 1)
        return 2 * (p + 1) / (k - p - 1)
    if name.startswith("A3"):    # first order in rho = k max K_j / tr K (k/p for S = I, where T1 errs by k/(p-k))
        K = _test_matrix(s, kw["alpha_t"], kw["n_t"])
        return k * K.max() / K.sum()
    return 3 / (p - k)           # A5: finite-size corrections O(1/(p - k)) (1/(p-k-1) for S = I)


def _case(name, s, kw):
    p = kw["p"]
    t = 0.4 / p * np.sqrt(s)
    rng = np.random.default_rng(11)
    w0 = 0.2 * rng.standard_normal(p)
    omega0 = w0 + 0.5 * s / np.sqrt(np.sum(s**2))
    return t, w0, omega0, {"algorithm": "maml", "alpha_t": None, **kw}


@pytest.mark.statistical
@pytest.mark.parametrize("name, s, sizes, approximation, runs", MC_CASES, ids=[c[0] for c in MC_CASES])
def test_against_independent_monte_carlo(name, s, sizes, approximation, runs):
    t, w0, omega0, kw = _case(name, s, sizes)
    sigma = 0.4
    losses, const = mc_losses(s, t, w0, omega0, sigma, runs=runs, seed=2024, **kw)
    mean, se = losses.mean(), losses.std(ddof=1) / np.sqrt(runs)
    theory = anisotropic_test_loss(s, t, w0, omega0, sigma, approximation=approximation, **kw)
    allowed = 4 * se + _leading_error(name, s, kw) * (theory - const)   # (theory - const) = D_M / 2
    assert abs(mean - theory) <= allowed, (name, mean, se, theory, allowed)
    # controls at the same sample size: anisotropy ignored (S, T replaced by their means), for the whole
    # formula and for D_M alone (isotropic E|omega* - w0|^2 times tr(M)/p, with the exact test side)
    p = kw["p"]
    flat_s, flat_t = np.full(p, s.mean()), np.full(p, t.mean())
    flat = anisotropic_test_loss(flat_s, flat_t, w0, omega0, sigma, approximation=approximation, **kw)
    M, M_flat = _test_matrix(s, kw["alpha_r"], kw["n_r"]), _test_matrix(flat_s, kw["alpha_r"], kw["n_r"])
    flat_const = sigma**2 / 2 + (np.sum(M_flat * flat_t) + kw["alpha_r"]**2 * sigma**2 * np.sum(flat_s**2)
                                 / kw["n_r"]) / 2
    flat_distance_only = const + (flat - flat_const) * M.sum() / M_flat.sum()
    for control in (flat, flat_distance_only):
        assert abs(mean - control) > 4 * se + _leading_error(name, s, kw) * (theory - const), (name, control)


def test_warns_like_the_isotropic_theory_where_the_average_is_infinite():
    """Near ``p = k`` the true average is infinite (the tails come from the Gram matrix, whatever ``S``)."""
    s, t = np.linspace(0.5, 1.5, 10), np.full(10, 0.01)
    with pytest.warns(lm.theory.InfiniteMomentWarning):
        anisotropic_test_loss(s, t, None, None, 0.3, p=10, m=1, n_t=5, n_v=11, n_r=5, alpha_t=0.0, alpha_r=0.2)
    with pytest.warns(lm.theory.InfiniteMomentWarning):
        lm.theory.test_loss(lm.Problem(p=10, m=1, n_t=5, n_v=11, n_r=5, sigma=0.3, nu=0.3, alpha_t=0.0,
                                       alpha_r=0.2))


def test_overflow_is_refused_not_returned():
    with pytest.raises(lm.errors.NonFiniteResultError, match="not a finite number"):
        anisotropic_test_loss(S3, T3, None, None, 0.5, **{**BASE, "alpha_r": 1e200})
