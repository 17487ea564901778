"""Shared test configuration and helpers: a deterministic Hypothesis profile, problem strategies, z-scores.

Also starts the derivation scripts selected for this session (sympy, one core each) in the background when
the session starts, one at a time, so that they run beside the tests that compile kernels on one core.
"""
import os
import pathlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

import linmeta as lm

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_python(args, env=None):
    """Run python with this checkout's linmeta first on the path (the scripts import linmeta.symbolic)."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=600, env=full)


@pytest.fixture(scope="session", autouse=True)
def derivation_runs(request):
    """``{script: future}`` for the derivation scripts this session's tests check, started when it starts."""
    selected = [item.callspec.params["script"] for item in request.session.items
                if item.path.name == "test_derivations.py"
                and getattr(item, "originalname", "") == "test_derivation_script_passes"]
    pool = ThreadPoolExecutor(1)
    yield {script: pool.submit(run_python, [str(ROOT / "derivations" / script)]) for script in dict.fromkeys(selected)}
    pool.shutdown(cancel_futures=True)


def with_threads(n, f):
    """Return ``f()`` run with ``n`` Numba threads (at most the configured number), restoring the count after."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        return f()
    finally:
        numba.set_num_threads(before)


def z_score(d):
    """Mean of the paired per-run differences ``d`` in standard errors (``ddof=1``)."""
    d = np.asarray(d, dtype=float)
    return d.mean() / (d.std(ddof=1) / np.sqrt(d.size))


@st.composite
def problems(draw, regime, algorithms=("maml",), max_steps=1, p_max=12):
    """Small random problems of one regime (``"under"``: ``k >= p + 2``; ``"over"``: ``k <= p - 1``; ``k = prob.k``).

    Vectors ``w0``, ``omega0`` are random; ``algorithm`` is drawn from ``algorithms`` and ``n_steps``
    from ``1..max_steps`` (1 for iMAML, which then gets a random ``lam``, and for ERM).  Multi-step rates stay in
    [-0.6, 0.6], one-step rates in [-1.5, 1.5].
    """
    p = draw(st.integers(3, p_max))
    algorithm = draw(st.sampled_from(algorithms))
    pooled = lm.inner_maps.INNER_MAPS[algorithm].pooled            # ERM: (n_t + n_v) m equations
    n_t = draw(st.integers(1, min(6, p - 2) if pooled and regime == "over" else 6))
    extra = n_t if pooled else 0
    n_v = draw(st.integers(1, 4) if regime == "under" else st.integers(1, p - 1 - extra))
    if regime == "under":
        m = draw(st.integers(p // n_v + 2, p // n_v + 6))
    else:
        m = draw(st.integers(1, (p - 1) // (n_v + extra)))
    n_steps = 1 if algorithm in ("imaml", "erm") else draw(st.integers(1, max_steps))
    rate = st.floats(-0.6, 0.6) if n_steps > 1 else st.floats(-1.5, 1.5, allow_nan=False)
    vec = st.lists(st.floats(-2, 2, allow_nan=False), min_size=p, max_size=p)
    return lm.Problem(p=p, m=m, n_t=n_t, n_v=n_v, n_r=3, sigma=draw(st.floats(0, 2)),
                      nu=draw(st.floats(0, 2)), alpha_t=draw(rate), alpha_r=0.3, w0=draw(vec), omega0=draw(vec),
                      algorithm=algorithm, n_steps=n_steps,
                      lam=draw(st.floats(0.05, 5)) if algorithm == "imaml" else None)
