"""The anisotropic formulas in spectral symbols against the numeric theory (independent code paths)."""
import numpy as np
import pytest

import linmeta as lm
import linmeta.symbolic as ls
from linmeta.theory._anisotropic_domain import anisotropic_domain_warning
from linmeta.theory._warnings import ApproximationDomainWarning


def _leading(q):
    """Return the numeric leading order; outside its measured domain it must say so (and only there)."""
    if anisotropic_domain_warning(q) is None:
        return lm.theory.test_loss(q)
    with pytest.warns(ApproximationDomainWarning, match="outside its measured domain"):
        return lm.theory.test_loss(q)


def _random_problems(seed, n=12):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        p = int(rng.integers(3, 25))
        m = int(rng.integers(p // 2 + 2, 4 * p))
        s = rng.uniform(0.2, 3.0, p)
        t = rng.uniform(0, 0.1, p) * (rng.random(p) < 0.6)
        yield lm.Problem(p=p, m=m, n_t=int(rng.integers(1, 8)), n_v=int(rng.integers(1, 8)),
                         n_r=int(rng.integers(1, 30)), sigma=float(rng.uniform(0, 1)), nu=None,
                         alpha_t=float(rng.uniform(-1, 1)), alpha_r=float(rng.uniform(-0.5, 1.0)), input_cov=s,
                         task_cov=t, w0=rng.standard_normal(p), omega0=rng.standard_normal(p))


@pytest.mark.parametrize("seed", [0, 1])
def test_spectral_formulas_equal_the_numeric_theory(seed):
    pop = ls.to_callable(ls.population_test_loss_one_family())
    erm = ls.to_callable(ls.erm_test_loss_anisotropic())
    checked = 0
    for prob in _random_problems(seed):
        for alg in ("maml", "fomaml", "erm"):
            q = prob.replace(algorithm=alg)
            assert pop(q) == pytest.approx(lm.theory.test_loss(q, approximation="population"), rel=1e-12)
        q = prob.replace(algorithm="erm")
        if q.p < q.k:
            assert erm(q) == pytest.approx(_leading(q), rel=1e-12)
            checked += 1
    assert checked >= 6


def test_spectral_formula_is_not_the_isotropic_one():
    """A control: the isotropic formula evaluated at the mean input variance misses the anisotropic theory."""
    prob = lm.presets.FIG3.replace(algorithm="erm", nu=None, alpha_r=0.6, task_cov=np.full(30, 0.04 / 30),
                                   input_cov=np.r_[np.full(15, 0.1), np.full(15, 1.9)])
    erm = ls.to_callable(ls.erm_test_loss_anisotropic())(prob)
    flat = ls.to_callable(ls.erm_test_loss_anisotropic())(prob.replace(input_cov=1.0))
    with pytest.warns(ApproximationDomainWarning, match=r"alpha_r max_j s_j = 1.14 outside"):  # not measured
        leading = lm.theory.test_loss(prob)
    assert erm == pytest.approx(leading, rel=1e-12) and abs(flat / erm - 1) > 0.3
