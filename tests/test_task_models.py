"""Task models beyond the paper's: diagonal covariances, mixtures, a user's sampler.

The engine (compiled kernels fed by the model layer) is compared with the
plain-NumPy reference (:mod:`linmeta._sim.reference`, which meta-trains with
``meta_train`` on the model's tasks), for every algorithm, both regimes and
both methods; the test side (T0g) with direct Monte Carlo; a model that is
the paper's in disguise with the paper's model.
"""
import pickle

import numpy as np
import pytest
from conftest import with_threads, z_score

import linmeta as lm
from linmeta._model import model_of
from linmeta._sim import engine, reference
from linmeta.theory._warnings import ApproximationDomainWarning

BASE = lm.Problem(p=6, m=5, n_t=3, n_v=2, n_r=3, sigma=0.4, nu=0.7, alpha_t=0.3, alpha_r=0.2,
                  w0=np.linspace(-1, 1, 6), omega0=np.full(6, 0.2))
S = np.array([0.3, 0.5, 1.0, 1.0, 2.0, 3.5])
T = np.array([0.2, 0.0, 0.1, 0.0, 0.3, 0.05])
ALGORITHMS = [dict(algorithm="maml"), dict(algorithm="maml", n_steps=2), dict(algorithm="fomaml"),
              dict(algorithm="imaml", lam=1.5), dict(algorithm="erm")]


def diagonal(prob=BASE):
    return prob.replace(nu=None, task_cov=T, input_cov=S)


def mixture(prob=BASE):
    hard = prob.replace(sigma=0.1, input_cov=0.25, w0=np.full(prob.p, 1.5))
    return lm.Mixture([(0.6, prob), (0.4, diagonal(prob))]) if prob.p == 6 else lm.Mixture([(0.6, prob), (0.4, hard)])


def draw_diag(rng, n):
    return {"input_factor": rng.uniform(0.5, 1.5, (n, 6)), "w": rng.standard_normal((n, 6)),
            "sigma": rng.uniform(0, 0.5, n)}


def draw_full(rng, n):
    F = rng.standard_normal((n, 6, 6)) / np.sqrt(6) + np.eye(6)
    return {"input_factor": F, "w": rng.standard_normal((n, 6)), "sigma": np.full(n, 0.3)}


def user(draw, prob=BASE):
    return prob.replace(sigma=None, nu=None, w0=None, tasks=draw)


MODELS = {"diagonal": diagonal, "mixture": mixture, "user_diag": lambda q: user(draw_diag, q),
          "user_full": lambda q: user(draw_full, q)}


def _regimes(kw):
    under = BASE.replace(**kw)
    # over-parameterised: k = n_v m (ERM: (n_t + n_v) m) below p
    over = under.replace(m=1) if under.k > under.p else under
    if under.k < under.p:
        under = under.replace(m=8)
    return {"under": under, "over": over}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("kw", ALGORITHMS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
@pytest.mark.parametrize("method", ["exact", "protocol"])
def test_engine_matches_numpy_reference(name, kw, method):
    for regime, base in _regimes(kw).items():
        prob = MODELS[name](base)
        rates = [prob.alpha_t] if kw["algorithm"] == "erm" else [0.3, -0.4]
        args = (prob, np.arange(3), 7, rates, [0.0, 0.5], method)
        opts = dict(n_test_tasks=3, n_test_points=5, test_sampler="full")
        got = engine.run_losses(*args, **opts)
        want = reference.run_losses(*args, **opts)
        np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=f"{name} {kw} {regime} {method}")


def test_kernels_compile_once_whichever_model_makes_the_start():
    """A read-only start and a fresh one reach the kernel as one argument type: a second model compiles nothing.

    The paper's model starts the kernels at ``omega0 - w0`` (a new array), the others at the read-only ``omega0``.
    """
    from linmeta._sim import kernels

    for prob in (BASE, diagonal()):
        engine.run_losses(prob, np.arange(2), 7, [0.3], [0.2], "exact")
    starts = {sig[7] for sig in kernels.maml1_solve.signatures}      # the ``start`` argument
    assert len(starts) == 1 and next(iter(starts)).mutable, starts


@pytest.mark.filterwarnings("ignore::linmeta.InfiniteMomentWarning")   # first-order MAML: compared run by run
@pytest.mark.parametrize("method", ["exact", "protocol"])
@pytest.mark.parametrize("kw", ALGORITHMS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_paper_model_in_disguise(kw, method):
    """``input_cov = 1`` and ``task_cov = nu^2/p`` is the paper's model: same draws, same losses to rounding."""
    prob = BASE.replace(**kw)
    disguised = prob.replace(nu=None, task_cov=np.full(prob.p, prob.nu**2 / prob.p), input_cov=1.0)
    assert model_of(disguised).name == "diagonal"
    a = lm.simulate(prob, 50, 3, method, test_sampler="full", n_test_tasks=4).values
    b = lm.simulate(disguised, 50, 3, method, test_sampler="full", n_test_tasks=4).values
    np.testing.assert_allclose(b, a, rtol=1e-12)
    assert not np.array_equal(lm.simulate(diagonal(prob), 50, 3, method).values, a)   # the covariances matter


@pytest.mark.parametrize("name", ["mixture", "user_full"])
def test_bit_for_bit_across_threads_and_chunks(name):
    prob = MODELS[name](BASE)
    def losses(chunk):
        return lm.simulate(prob, 40, 1, "protocol", chunk_size=chunk, n_test_tasks=3).values

    runs = [with_threads(n, lambda c=c: losses(c)) for n, c in ((1, None), (2, 7), (2, 1))]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])


@pytest.mark.parametrize("name", list(MODELS))
def test_algorithms_see_the_same_tasks(name):
    """Paired comparisons: the same seed draws the same tasks and data for every algorithm."""
    prob = MODELS[name](BASE)
    batches = [lm.sample_tasks(prob.replace(**kw), seed=4, run=2) for kw in ALGORITHMS]
    for b in batches[1:]:
        for key in ("X_t", "y_t", "X_v", "y_v", "w"):
            assert np.array_equal(getattr(b, key), getattr(batches[0], key))
    maml = lm.simulate(prob, 30, 4, return_losses=True)
    erm = lm.simulate(prob.replace(algorithm="erm"), 30, 4, return_losses=True)
    assert maml.losses.shape == erm.losses.shape == (30,) and not np.array_equal(maml.losses, erm.losses)


def test_sampled_tasks_follow_the_model():
    """Component frequencies, input and task variances of the drawn tasks (binomial and chi-square checks)."""
    mix = lm.Mixture([(0.25, BASE.replace(w0=np.full(6, 5.0))), (0.75, diagonal())])
    tasks = np.concatenate([lm.sample_tasks(mix.replace(m=200), seed=0, run=r).w for r in range(10)])
    first = np.isclose(tasks.mean(axis=1), 5.0, atol=2.0)           # the components are 5 apart
    z = (first.mean() - 0.25) / np.sqrt(0.25 * 0.75 / first.size)
    assert abs(z) < 4
    assert abs((first.mean() - 0.5) / np.sqrt(0.25 / first.size)) > 4   # equal weights would be caught
    b = lm.sample_tasks(diagonal().replace(m=400, n_t=50), seed=1)
    var = b.X_t.reshape(-1, 6).var(axis=0)
    np.testing.assert_allclose(var, S, rtol=0.05)
    np.testing.assert_allclose((b.w - BASE.w0).var(axis=0), T, atol=0.04)


def _t0g_monte_carlo(prob, omega, n_tasks, rng):
    """Direct Monte Carlo of one adaptation step and its test loss (exact over the test points)."""
    s, t = prob.input_cov, prob.task_cov
    w = prob.w0 + np.sqrt(t) * rng.standard_normal((n_tasks, prob.p))
    X = np.sqrt(s) * rng.standard_normal((n_tasks, prob.n_r, prob.p))
    y = np.einsum("knp,kp->kn", X, w) + prob.sigma * rng.standard_normal((n_tasks, prob.n_r))
    theta = omega + prob.alpha_r / prob.n_r * np.einsum("knp,kn->kp", X, y - X @ omega)
    return 0.5 * (prob.sigma**2 + ((theta - w) ** 2 * s).sum(axis=1))   # (M2) with covariance S


def test_exact_test_side_against_monte_carlo():
    prob = diagonal().replace(alpha_r=0.6)
    omega = np.linspace(1, -0.5, 6)
    losses = _t0g_monte_carlo(prob, omega, 400_000, np.random.default_rng(11))
    exact = lm.test_loss_given(omega, prob)
    assert abs(z_score(losses - exact)) < 4
    # a wrong formula at the same sample size: the term S tr(S^2) / n_r of M dropped
    d = omega - prob.w0
    wrong = exact - 0.5 * prob.alpha_r**2 * (S**2).sum() / prob.n_r * (S * (d * d + T)).sum()
    assert abs(z_score(losses - wrong)) > 4


def test_mixture_test_side_is_the_weighted_average():
    mix = mixture()
    omega = np.linspace(0, 1, 6)
    want = sum(w * lm.test_loss_given(omega, q) for w, q in mix.components)
    assert lm.test_loss_given(omega, mix) == pytest.approx(want, rel=1e-14)


def test_mixture_fields_pickle_and_replace():
    mix = mixture()
    assert pickle.loads(pickle.dumps(mix)) == mix
    assert mix.replace(alpha_t=-0.5).components[1][1].alpha_t == -0.5
    with pytest.raises(ValueError, match="belong to the components"):
        mix.replace(sigma=1.0)
    assert [w for w, _ in lm.Mixture([(1, BASE), (3, BASE)]).components] == [0.25, 0.75]
    np.testing.assert_allclose(mix.w0, 0.6 * BASE.w0 + 0.4 * BASE.w0)


@pytest.mark.parametrize("build, match", [
    (lambda: BASE.replace(input_cov=-1.0), "input_cov"),
    (lambda: BASE.replace(input_cov=np.r_[S[:5], 0.0]), "input_cov must have entries > 0"),
    (lambda: BASE.replace(nu=None, task_cov=np.r_[T[:5], -0.1]), "task_cov must have entries >= 0"),
    (lambda: BASE.replace(task_cov=T), "nu must be None when task_cov"),
    (lambda: BASE.replace(nu=None), "nu must be a real number"),
    (lambda: BASE.replace(input_cov=S[:4]), "input_cov must be None or a real array of length p=6"),
    (lambda: BASE.replace(tasks=draw_diag), "sigma must be None when tasks="),
    (lambda: BASE.replace(sigma=None), "sigma must be a real number"),
    (lambda: user("not callable"), "tasks must be a callable"),
    (lambda: lm.Mixture([]), "at least one"),
    (lambda: lm.Mixture([(0.5, BASE), (0.5, BASE.replace(m=4))]), "must share m"),
    (lambda: lm.Mixture([(0.0, BASE)]), "weight must be a positive finite number"),
    (lambda: lm.Mixture([(1.0, user(draw_diag))]), "task sampler"),
])
def test_bad_models_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("bad, match", [
    (lambda rng, n: {"w": np.zeros((n, 6)), "sigma": np.zeros(n)}, "missing \\['input_factor'\\]"),
    (lambda rng, n: {"input_factor": np.ones((n, 5)), "w": np.zeros((n, 6)), "sigma": np.zeros(n)},
     r"\['input_factor'\] must have shape"),
    (lambda rng, n: {"input_factor": np.ones((n, 6)), "w": np.full((n, 6), np.nan), "sigma": np.zeros(n)},
     r"\['w'\] must be finite"),
    (lambda rng, n: {"input_factor": np.ones((n, 6)), "w": np.zeros((n, 6)), "sigma": -np.ones(n)},
     r"\['sigma'\] must be >= 0"),
    (lambda rng, n: [1, 2], "must return a dict"),
])
def test_bad_sampler_output_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        lm.simulate(user(bad), 2, 0)


def test_user_sampler_draws_from_linmeta_streams():
    """The sampler's generator is fixed by (seed, run): two simulations agree bit for bit, another seed does not."""
    prob = user(draw_full)
    a, b = lm.simulate(prob, 20, 5).values, lm.simulate(prob, 20, 5).values
    assert np.array_equal(a, b) and not np.array_equal(a, lm.simulate(prob, 20, 6).values)
    with pytest.raises(NotImplementedError, match="no closed form"):
        lm.test_loss_given(np.zeros(6), prob)


def test_theory_front_door_for_other_models():
    """Diagonal covariances: the anisotropic leading order (A2), equal to the module's; others say why not."""
    from linmeta.theory._anisotropic import anisotropic_test_loss

    prob = diagonal().replace(m=12)
    want = anisotropic_test_loss(S, T, prob.w0, prob.omega0, prob.sigma, p=6, m=12, n_t=3, n_v=2, n_r=3,
                                 alpha_t=prob.alpha_t, alpha_r=prob.alpha_r)
    with pytest.warns(ApproximationDomainWarning, match=r"p/k = 0.25 > 0.2"):  # outside the measured domain
        assert lm.theory.value_or_reason("test_loss", prob).value == want
    with pytest.warns(ApproximationDomainWarning, match=r"\(A8\) is outside its measured domain"):
        assert lm.theory.value_or_reason("test_loss", prob, approximation="finite").available   # the closure
    for other, words in ((mixture(), "mixture's leading order is not derived"), (user(draw_diag), "sampler")):
        res = lm.theory.value_or_reason("test_loss", other)
        assert res.value is None and words in res.reason
        assert lm.theory.value_or_reason("optimal_alpha_t", other).value is None


def test_formulas_read_the_spectral_quantities():
    """``s_j = tr(S^j)/p``, ``t_j = tr(S^j T)``, ``d_j = d0' S^j d0`` by hand, and the paper's model's values."""
    from linmeta._formulas.symbols import problem_values

    prob = diagonal()
    v = problem_values(prob)
    d0 = prob.omega0 - prob.w0
    for j in range(1, 5):
        assert v[f"s_{j}"] == pytest.approx(np.mean(S**j), rel=1e-14)
    for j in range(4):
        assert v[f"t_{j}"] == pytest.approx(np.sum(S**j * T), rel=1e-14)
    for j in range(1, 4):
        assert v[f"d_{j}"] == pytest.approx(np.sum(S**j * d0**2), rel=1e-14)
    iso = problem_values(BASE)
    assert iso["s_3"] == 1.0 and iso["t_2"] == pytest.approx(0.49) and iso["d_1"] == pytest.approx(iso["dist0"] ** 2)
    assert "nu" not in v and "s_1" not in problem_values(mixture())
    with pytest.raises(ValueError, match="nu is not defined when task_cov"):
        lm.check("nu", prob, {"alpha_t": [0.1]}, n_runs=20)
    with pytest.raises(ValueError, match="s_2 is defined for one Gaussian task family"):
        lm.check("s_2", mixture(), {"alpha_t": [0.1]}, n_runs=20)
    import linmeta.symbolic as ls

    with pytest.raises(ValueError, match="s_2 is defined for one Gaussian task family"):
        ls.to_callable(ls.symbols.s_2 * 2)(mixture())
    assert ls.to_callable(ls.symbols.s_2 * 2)(prob) == pytest.approx(2 * np.mean(S**2))


def test_compare_pairs_runs():
    """``lm.compare``: the paired difference and win count are those of the two simulations, run by run."""
    prob = mixture()
    c = lm.compare(prob, prob.replace(algorithm="erm"), n_runs=60, seed=2)
    a = lm.simulate(prob, 60, 2, return_losses=True).losses
    b = lm.simulate(prob.replace(algorithm="erm"), 60, 2, return_losses=True).losses
    assert c.difference == pytest.approx((a - b).mean(), rel=1e-12) and c.wins == int(np.sum(a < b))
    independent = np.hypot(a.std(ddof=1), b.std(ddof=1)) / np.sqrt(60)
    assert c.stderr < independent                                      # pairing pays
    lo, hi = c.win_ci(0.95)
    from scipy.stats import binomtest

    ref = binomtest(c.wins, 60).proportion_ci(0.95, method="exact")
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-9)
    with pytest.raises(ValueError, match="m differs"):
        lm.compare(prob, prob.replace(m=6))
    with pytest.raises(ValueError, match="task models differ"):
        lm.compare(diagonal(), BASE, n_runs=5)


def test_user_task_losses_for_full_factors():
    """A sampler's exact per-task loss with full factors.

    Equal to the diagonal case after a rotation, and to direct Monte Carlo of the adaptation step (with a
    control at the same sample size: n_r off by one).
    """
    from linmeta._model.user import UserTasks

    rng = np.random.default_rng(8)
    U = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    W, sig = rng.standard_normal((1, 6)), np.array([0.4])
    omega = rng.standard_normal((2, 6))
    full = UserTasks.task_losses(omega, (U * np.sqrt(S))[None], W, sig, [0.0, 0.7], 3)
    diag = UserTasks.task_losses((omega - W) @ U + W @ U, np.sqrt(S)[None], W @ U, sig, [0.0, 0.7], 3)
    np.testing.assert_allclose(full, diag, rtol=1e-12)
    # direct Monte Carlo: x = F z, one step of 0.7 on 3 points, then the expected loss on the task (M2 with S)
    F, w, a, n = U * np.sqrt(S), W[0], 0.7, 3
    X = rng.standard_normal((200_000, n, 6)) @ F.T
    y = X @ w + 0.4 * rng.standard_normal((200_000, n))
    theta = omega[0] + a / n * np.einsum("knp,kn->kp", X, y - X @ omega[0])
    e = theta - w
    losses = 0.5 * (0.16 + np.einsum("kp,pq,kq->k", e, F @ F.T, e))
    assert abs(z_score(losses - full[0, 0, 1])) < 4
    wrong = UserTasks.task_losses(omega, (U * np.sqrt(S))[None], W, sig, [0.7], 4)[0, 0, 0]   # n_r off by one
    assert abs(z_score(losses - wrong)) > 4


@pytest.mark.filterwarnings("ignore::linmeta.InfiniteMomentWarning")
def test_a_mixture_goes_wherever_a_problem_goes(tmp_path):
    """simulate_curve, simulate_optimum, sweep (grid and cells, resumable) and check take a Mixture."""
    mix = mixture(BASE.replace(m=12))
    curve = lm.simulate_curve(mix, "alpha_t", [0.1, 0.3], n_runs=20, seed=1)
    assert list(curve["mean"]) == [lm.simulate(mix.replace(alpha_t=a), 20, 1).mean for a in (0.1, 0.3)]
    assert set(curve["model"]) == {"mixture of 2"}
    opt = lm.simulate_optimum(mix, "alpha_r", n_runs=200, seed=0, bracket=(-0.5, 1.5))
    assert -0.5 < opt.value < 1.5
    out = tmp_path / "s.csv"
    table = lm.sweep(mix, {"m": [12, 16]}, n_runs=10, seed=0, out=out)
    again = lm.sweep(mix, [{"m": 12}, {"m": 16}], n_runs=10, seed=0, out=out)   # reads the same cells back
    assert list(table["mean"]) == list(again["mean"]) == [lm.simulate(mix.replace(m=m), 10, 0).mean for m in (12, 16)]
    res = lm.check("m * 0 + 0.1", mix, {"m": [12]}, n_runs=20)
    assert not res.passed
