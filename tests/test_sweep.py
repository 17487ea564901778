"""Sweeps: one row per cell, bit for bit on every scheduler, resumable, refuses mixed arguments."""
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import linmeta as lm
from linmeta.sweeping import cells_of

# tiny problems keep the whole file well under the time budget
PROB = lm.Problem(p=10, m=2, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
# p=10 vs n_v*m = 2, 4, 18: both regimes, every inverse-Wishart margin >= 3 (finite mean and variance)
GRID = {"alpha_t": [-0.5, 0.0, 0.5], "m": [1, 2, 9]}
RUNS, SEED = 30, 11


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Return the uninterrupted serial sweep: table and file bytes."""
    out = tmp_path_factory.mktemp("ref") / "serial.csv"
    table = lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    return table, _bytes(out)


def test_one_row_per_cell_equal_to_simulate(reference):
    table, _ = reference
    assert len(table) == 9
    assert table[["alpha_t", "m"]].values.tolist() == [[a, m] for a in GRID["alpha_t"] for m in GRID["m"]]
    for row in table.itertuples():
        est = lm.simulate(PROB.replace(alpha_t=row.alpha_t, m=row.m), RUNS, SEED)
        assert (row.mean, row.stderr, row.n_runs, row.seed) == (est.mean, est.stderr, RUNS, SEED)  # bit for bit
    assert set(table.status) == {"ok"}
    for col in ("theory_leading", "theory_printed", "linmeta_version", "cell_key", "p", "sigma"):
        assert col in table.columns


def test_theory_column_is_the_theory(reference):
    table, _ = reference
    row = table.iloc[-1]
    expected = lm.theory.test_loss(PROB.replace(alpha_t=row.alpha_t, m=row.m))
    assert row.theory_leading == pytest.approx(expected, rel=1e-12)


def test_in_memory_equals_file(reference, tmp_path):
    table, _ = reference
    mem = lm.sweep(PROB, GRID, RUNS, SEED)
    np.testing.assert_array_equal(mem["mean"].to_numpy(), table["mean"].to_numpy())


def test_threshold_cell_is_reported_and_skipped(tmp_path):
    grid = {"n_v": [1, 2], "m": [5, 10]}           # p=10: n_v*m == 10 at (1, 10) and (2, 5)
    table = lm.sweep(PROB, grid, 5, 0, out=tmp_path / "t.csv")
    assert table.status.tolist() == ["ok", "skipped", "skipped", "ok"]
    assert "interpolation threshold" in table.note.iloc[1] and np.isnan(table["mean"].iloc[1])
    assert [c for c, _ in table.attrs["skipped"]] == [{"n_v": 1, "m": 10}, {"n_v": 2, "m": 5}]


@pytest.mark.parametrize("grid, match", [
    ({"q": [1]}, "unknown Problem field"),
    ({"m": [0, 1]}, "m must be an integer >= 1"),
    ({"alpha_t": ["x"]}, "alpha_t must be a real number"),
    ({"alpha_t": []}, "no values"),
])
def test_bad_grid_raises_before_computing(grid, match):
    with pytest.raises(ValueError, match=match):
        cells_of(PROB, grid)


def test_bad_scheduler_and_runs():
    with pytest.raises(ValueError, match="scheduler must be one of"):
        lm.sweep(PROB, GRID, RUNS, SEED, scheduler="gpu")
    with pytest.raises(ValueError, match="n_runs must be an integer >= 1"):
        lm.sweep(PROB, GRID, 0, SEED)


class _Stop(Exception):
    pass


def _stop_after(k):
    def hook(finished):
        if finished >= k:
            raise _Stop
    return hook


def test_interrupted_then_resumed_gives_the_same_file(reference, tmp_path):
    out = tmp_path / "s.csv"
    with pytest.raises(_Stop):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out, on_task=_stop_after(3))   # 3 of 9 cells saved, then "Ctrl-C"
    partial = pd.read_csv(out)
    assert 0 < len(partial) < 9
    lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert _bytes(out) == reference[1]


def test_truncated_row_from_a_killed_process_is_dropped(reference, tmp_path):
    out = tmp_path / "s.csv"
    lines = reference[1].split(b"\n")
    out.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:17])       # header, 2 rows, half a row
    lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert _bytes(out) == reference[1]


@pytest.mark.parametrize("change, match", [
    (dict(n_runs=RUNS + 1), "n_runs: file has"),
    (dict(seed=SEED + 1), "seed: file has"),
    (dict(prob=PROB.replace(sigma=0.4)), "sigma: file has"),
    (dict(grid={"alpha_t": [-0.5, 0.0, 0.5], "m": [1, 2]}), "different arguments"),
    (dict(grid={"alpha_t": [-0.5, 0.0, 0.5]}), "different arguments \\(m: file has"),   # every grid: one layout
])
def test_changed_arguments_are_refused(reference, tmp_path, change, match):
    out = tmp_path / "s.csv"
    out.write_bytes(reference[1])
    kw = dict(prob=PROB, grid=GRID, n_runs=RUNS, seed=SEED) | change
    with pytest.raises(ValueError, match=match):
        lm.sweep(out=out, **kw)
    assert _bytes(out) == reference[1]                                   # untouched


def test_process_pool_is_bit_for_bit(reference, tmp_path):
    out = tmp_path / "p.csv"
    lm.sweep(PROB, GRID, RUNS, SEED, scheduler="processes", workers=2, out=out)
    assert _bytes(out) == reference[1]


def test_killed_process_then_resumed(reference, tmp_path):
    """SIGKILL a sweep process after 3 saved cells (no cleanup runs), resume: same file as uninterrupted."""
    out = tmp_path / "k.csv"
    code = (
        "import os, signal, linmeta as lm\n"
        f"prob = lm.Problem(p=10, m=2, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)\n"
        "kill = lambda n: os.kill(os.getpid(), signal.SIGKILL) if n >= 3 else None\n"
        f"lm.sweep(prob, {GRID!r}, {RUNS}, {SEED}, out={str(out)!r}, on_task=kill)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert 0 < _bytes(out).count(b"\n") - 1 < 9
    lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert _bytes(out) == reference[1]


# ----------------------------------------------------------------------------- Dask
# distributed is optional (pip install 'linmeta[dask]'); the tests below need it.
distributed = pytest.importorskip("distributed")


def test_dask_local_is_bit_for_bit(reference, tmp_path):
    out = tmp_path / "d.csv"
    lm.sweep(PROB, GRID, RUNS, SEED, scheduler="dask-local", workers=2, out=out)
    assert _bytes(out) == reference[1]


@pytest.mark.statistical  # long: starts a cluster and kills a worker mid-task
def test_dask_worker_killed_mid_sweep(tmp_path):
    """Kill one of two workers after the first task: the sweep completes, identical to serial."""
    grid = {"m": [1, 2, 3, 7, 8, 9]}
    runs = 8000                                           # ~0.3 s per task: work is in flight on the victim
    serial = lm.sweep(PROB, grid, runs, SEED)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        # one client at a time in this process: a second live Client can bind distributed's
        # asyncio events to another loop ("bound to a different event loop", seen 1 run in ~5)
        with distributed.Client(cluster) as client:
            pids = client.run(os.getpid)
        killed = []

        def kill_one(finished):
            if not killed:
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(finished)

        out = tmp_path / "killed.csv"
        table = lm.sweep(PROB, grid, runs, SEED, scheduler=cluster.scheduler_address, out=out, on_task=kill_one)
    assert killed == [1]                                  # killed after the first of six cells
    assert table.status.tolist() == ["ok"] * 6
    np.testing.assert_array_equal(table["mean"].to_numpy(), serial["mean"].to_numpy())
    np.testing.assert_array_equal(table["stderr"].to_numpy(), serial["stderr"].to_numpy())


def test_cells_with_infinite_moments_warn_once_each():
    # p = 10 against n_v*m = 2*4 = 8 (margin 1: infinite variance) and 2*5 = 10 (threshold, skipped) and
    # 2*1 = 2 (margin 7: fine); first-order MAML has no closed form, so the warning cannot come from the theory
    # (at alpha_t = 0: at any other rate its mean is infinite in every cell, linmeta.moments).
    prob = PROB.replace(algorithm="fomaml", alpha_t=0.0)
    with pytest.warns(lm.InfiniteMomentWarning) as record:
        table = lm.sweep(prob, {"m": [1, 4, 5]}, 4, 0)
    assert [str(w.message).count("infinite variance") for w in record] == [1]
    assert table.status.tolist() == ["ok", "ok", "skipped"]
