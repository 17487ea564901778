"""The command line (issue 5): thin over the library, one-line errors with status 2, seed and version echoed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import linmeta as lm
from linmeta.cli import main, parse_grid, parse_set


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_theory_prints_problem_result_version(capsys):
    code, out, err = run(["theory", "--preset", "fig3", "--set", "alpha_t=-0.5"], capsys)
    assert code == 0 and err == ""
    assert f"linmeta {lm.__version__}" in out and "seed" in out
    assert "alpha_t=-0.5" in out and "underparameterized" in out
    expected = lm.theory.test_loss(lm.presets.FIG3.replace(alpha_t=-0.5))
    assert f"test_loss: {expected:.10g}" in out


def test_theory_json(capsys):
    code, out, _ = run(["theory", "--preset", "fig2", "--set", "alpha_r=0.1", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["linmeta_version"] == lm.__version__ and data["seed"] is None
    assert data["problem"]["alpha_r"] == 0.1 and data["regime"] == "overparameterized"
    assert data["theory"]["test_loss"] == lm.theory.test_loss(lm.presets.FIG2.replace(alpha_r=0.1))
    assert data["theory"]["optimal_alpha_t"] < 0


@pytest.mark.parametrize("method", ["exact", "protocol"])
def test_simulate_json_is_the_library_bit_for_bit(capsys, method):
    argv = ["simulate", "--preset", "fig3", "--set", "alpha_t=-0.5", "--set", "m=5", "--runs", "40",
            "--seed", "3", "--method", method, "--json"]
    code, out, _ = run(argv, capsys)
    data = json.loads(out)
    est = lm.simulate(lm.presets.FIG3.replace(alpha_t=-0.5, m=5), 40, 3, method)
    assert code == 0 and data["seed"] == 3 and data["linmeta_version"] == lm.__version__
    assert (data["mean"], data["stderr"], data["n_runs"], data["method"]) == (est.mean, est.stderr, 40, method)


def test_simulate_text(capsys):
    code, out, _ = run(["simulate", "--preset", "fig2", "--runs", "20", "--seed", "5", "--quiet"], capsys)
    assert code == 0 and "seed 5" in out and lm.__version__ in out and "20 runs" in out and "theory:" in out


def test_set_parses_every_field_kind():
    prob = parse_set(["p=20", "m=3", "sigma=0.3", "alpha_t=-1e-1", "algorithm=fomaml", "w0=0.5", "omega0=none"],
                     lm.presets.FIG3)
    assert (prob.p, prob.m, prob.sigma, prob.alpha_t, prob.algorithm) == (20, 3, 0.3, -0.1, "fomaml")
    np.testing.assert_array_equal(prob.w0, np.full(20, 0.5))
    np.testing.assert_array_equal(prob.omega0, np.zeros(20))
    prob = parse_set(["algorithm=imaml", "lam=2", "w0=" + ",".join(["1"] * 30)], lm.presets.FIG3)
    assert (prob.lam, float(prob.w0.sum())) == (2.0, 30.0)


def test_grid_parsing():
    assert parse_grid(["alpha_t=-2:1:25"])["alpha_t"][:3] == [-2.0, -1.875, -1.75]
    assert parse_grid(["m=10,40,160", "alpha_r=0.2"]) == {"m": [10, 40, 160], "alpha_r": [0.2]}
    assert parse_grid(["m=10:40:4"]) == {"m": [10, 20, 30, 40]}


@pytest.mark.parametrize("argv, words", [
    (["theory", "--preset", "fig9"], "invalid choice: 'fig9'"),
    (["theory", "--set", "foo=1"], "unknown Problem field 'foo'"),
    (["theory", "--set", "alpha_t"], "expected NAME=VALUE"),
    (["theory", "--set", "alpha_t=abc"], "alpha_t must be a finite real number"),
    (["theory", "--set", "p=2.5"], "p must be an integer"),
    (["theory", "--set", "sigma=-1"], "sigma must be finite and >= 0"),
    (["theory", "--set", "w0=1,2"], "w0 must be None or a real array of length p=30"),
    (["theory", "--set", "p=1000"], "interpolation threshold"),
    (["simulate", "--runs", "0"], "--runs: must be an integer >= 1"),
    (["simulate", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["simulate", "--method", "mc"], "invalid choice: 'mc'"),
    (["sweep", "--grid", "alpha_t=1:2"], "expected alpha_t=START:STOP:NUM"),
    (["sweep", "--grid", "alpha_t=1:2:x"], "n_t must be an integer"),
    (["sweep", "--grid", "m=1.5,2"], "m must be an integer"),
    (["sweep", "--grid", "m=1", "--grid", "m=2"], "m is given twice"),
    (["sweep"], "give at least one --grid"),
    (["sweep", "--grid", "m=1", "--scheduler", "gpu"], "scheduler must be one of"),
    (["figures", "fig9"], "unknown figure(s) ['fig9']"),
    (["figures", "--runs-scale", "0"], "--runs-scale: must be a number > 0"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_and_status_2(capsys, argv, words):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("linmeta: error: ") and words in err
    assert "Traceback" not in err


def test_sweep_reports_and_skips_threshold_cells(capsys, tmp_path):
    out_csv = tmp_path / "s.csv"
    argv = ["sweep", "--preset", "fig3", "--set", "m=2", "--grid", "n_v=1,2", "--grid", "m=30,15", "--runs", "8",
            "--seed", "2", "--out", str(out_csv)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out.count("skipped cell") == 2 and "interpolation threshold" in out
    assert "seed 2" in out and lm.__version__ in out
    table = lm.sweep(lm.presets.FIG3.replace(m=2), {"n_v": [1, 2], "m": [30, 15]}, 8, 2)
    assert out_csv.read_text().count("\n") == 5
    code, out, err = run(argv[:-2] + ["--out", str(out_csv), "--runs", "9"], capsys)   # changed arguments
    assert code == 2 and "different arguments" in err
    assert table.status.tolist() == ["skipped", "ok", "ok", "skipped"]


def test_figures_command(capsys, tmp_path):
    code, out, err = run(["figures", "fig2a", "--outdir", str(tmp_path), "--runs-scale", "0.001", "--seed", "4",
                          "--quiet"], capsys)
    assert code == 0, err
    assert "seed 4" in out and lm.__version__ in out and "paper panels (fig2a)" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig2a.csv", "fig2a.pdf", "fig2a.png"]


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    assert main(["--version"]) == 0
    assert lm.__version__ in capsys.readouterr().out


def test_python_dash_m(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "linmeta", "theory", "--set", "m=0"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "m must be an integer >= 1" in done.stderr
