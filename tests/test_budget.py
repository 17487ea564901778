"""Refusing work that cannot fit, before allocating; chunk size adapts; time estimates."""
import time

import pytest

import linmeta as lm
from linmeta._sim import budget as _budget


def test_huge_p_is_refused_before_allocating():
    # FIG2's sizes at p = 10**8 on the direct route: the draws of one run alone are 79 GB (3 tasks x 32 points x p);
    # the full protocol test sampler needs every input in p coordinates, so it takes that route
    prob = lm.presets.FIG2.replace(p=10**8)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"p=100000000, m=3, n_t=30, n_v=2, n_r=20.*draws of 80\.0 GB per run"):
        _budget.plan(prob, 10, route="direct")
    with pytest.raises(ValueError, match=r"p=100000000, m=3, n_t=30, n_v=2, n_r=20 \(method='protocol'\)"):
        lm.simulate(prob, n_runs=10, method="protocol", test_sampler="full")
    with pytest.raises(ValueError, match="p=100000000"):
        lm.simulate_curve(prob, "alpha_t", [0.0, 0.1], n_runs=10, method="protocol", test_sampler="full")
    assert time.perf_counter() - t0 < 5   # refused before anything was drawn


def test_large_over_parameterised_p_fits_without_a_p_by_p_matrix():
    # p = 10**6 at FIG2's sizes: about 0.8 GB of draws and 0.1 GB of k x p systems per run and thread;
    # a p x p matrix (8 TB) would never fit, so the plan must not count one
    pl = _budget.plan(lm.presets.FIG2.replace(p=10**6), n_runs=4, threads=2, available=8e9, route="direct")
    assert pl.chunk == 2 and pl.chunk_bytes < 2.5e9          # one run per thread
    assert _budget.plan(lm.presets.FIG2.replace(p=10**6), n_runs=4, threads=2, available=2e9, route="direct").chunk == 1
    assert _budget.thread_doubles(lm.presets.FIG2.replace(p=10**6), route="direct") < 2.5e7


def test_too_many_runs_are_refused(monkeypatch):
    # never an n_runs-sized array of 8 GB up front, however much memory is free
    with pytest.raises(ValueError, match=r"n_runs=1000000000 .*8\.0 GB.*allowed up front; reduce n_runs"):
        lm.simulate(lm.presets.FIG3, n_runs=10**9)
    with pytest.raises(ValueError, match=r"n_runs=100000000 .*reduce n_runs"):
        lm.simulate_curve(lm.presets.FIG3, "alpha_t", [0.0, 0.1], n_runs=10**8)
    monkeypatch.setattr(_budget, "available_bytes", lambda: 4e8)
    with pytest.raises(ValueError, match=r"n_runs=100000000 .*0\.8 GB.*0\.3 GB of memory is available"):
        lm.simulate(lm.presets.FIG3, n_runs=10**8)


def test_chunk_gives_every_thread_whole_runs():
    # FIG3 x 8 draws 2.3 million numbers a run: a default chunk holds one run, yet every thread gets one
    big = lm.presets.FIG3.replace(p=240, n_t=40, n_v=200, n_r=80)
    assert _budget.CHUNK_DOUBLES // _budget.draw_doubles(big) == 1
    assert [_budget.plan(big, 100, threads=t).chunk for t in (1, 2, 4)] == [1, 2, 4]
    for t in (2, 3, 4):
        assert _budget.plan(lm.presets.FIG3, 1000, threads=t).chunk % t == 0
    assert _budget.plan(big, 1, threads=4).chunk == 1


def test_chunk_shrinks_to_fit_and_results_do_not_move(monkeypatch):
    prob = lm.presets.FIG3
    full = _budget.plan(prob, 200)
    available = (8.0 * _budget.thread_doubles(prob) * 4 + 3 * 8 * _budget.run_doubles(prob)) / 0.8
    small = _budget.plan(prob, 200, available=available)
    assert small.chunk < full.chunk and small.chunk >= 1
    ref = lm.simulate(prob, 30, seed=3)
    monkeypatch.setattr(_budget, "available_bytes",
                        lambda: (8.0 * _budget.thread_doubles(prob) * 4 + 2 * 8 * _budget.run_doubles(prob)) / 0.8)
    assert lm.simulate(prob, 30, seed=3) == ref


def test_long_work_announces_its_time(monkeypatch, capsys):
    monkeypatch.setattr(_budget, "FLOPS_PER_THREAD", 1.0)
    lm.simulate(lm.presets.FIG3, n_runs=3, progress=True)
    assert "estimated for 3 runs" in capsys.readouterr().out
    monkeypatch.setattr(_budget, "FLOPS_PER_THREAD", 1e30)
    lm.simulate(lm.presets.FIG3, n_runs=3, progress=True)
    assert "estimated" not in capsys.readouterr().out


def test_estimated_seconds_grows_with_work():
    a = lm.estimate.estimated_seconds(lm.presets.FIG3, 1000)
    assert 0 < a < lm.estimate.estimated_seconds(lm.presets.FIG3, 2000) < lm.estimate.estimated_seconds(
        lm.presets.FIG3.replace(p=60), 2000)


def test_available_bytes_is_positive():
    assert _budget.available_bytes() > 0
