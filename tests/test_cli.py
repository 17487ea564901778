"""The command line: thin over the library, one-line errors with status 2, seed and version echoed."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import linmeta as lm
from linmeta.cli import build_parser, main, parse_grid, parse_set


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
                          "--threads", "1", "--quiet"], capsys)
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


# ----------------------------------------------------------------------------- files and schedulers
SWEEP = ["sweep", "--preset", "fig3", "--set", "p=10", "--set", "n_t=3", "--set", "n_v=2", "--set", "n_r=3",
         "--grid", "m=1,9", "--runs", "6", "--seed", "1", "--quiet"]


def _one_line_error(code, err, *words):
    assert code == 2 and err.count("\n") == 1 and err.startswith("linmeta: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def test_sweep_refuses_a_user_file_and_leaves_it_byte_identical(capsys, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"results of Tuesday; do not lose")
    code, out, err = run([*SWEEP, "--out", str(notes)], capsys)
    _one_line_error(code, err, f"--out {notes}:", "not a linmeta sweep")
    assert notes.read_bytes() == b"results of Tuesday; do not lose"


def test_sweep_rerun_says_zero_computed(capsys, tmp_path):
    out_csv = tmp_path / "s.csv"
    code, out, err = run([*SWEEP, "--out", str(out_csv)], capsys)
    assert code == 0, err
    assert "2 cells: 2 computed, 0 reused, 0 skipped" in out
    first = out_csv.read_bytes()
    code, out, err = run([*SWEEP, "--out", str(out_csv)], capsys)
    assert code == 0, err
    assert "2 cells: 0 computed, 2 reused, 0 skipped" in out
    assert out_csv.read_bytes() == first


def _binary(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return str(path)


@pytest.mark.parametrize("make, words", [
    (lambda d: str(d / "missing" / "s.csv"), "does not exist"),
    (lambda d: str(d), "is a folder"),
    (_binary, "is a binary file"),
    (lambda d: "/proc/self/mem", "cannot be read"),
])
def test_sweep_unusable_out_is_one_line(capsys, tmp_path, make, words):
    path = make(tmp_path)
    if path.startswith("/proc") and not os.path.exists(path):
        pytest.skip("needs Linux /proc (a file that exists and cannot be read)")
    before = Path(path).read_bytes() if path.endswith(".png") else None
    code, out, err = run([*SWEEP, "--out", path], capsys)
    _one_line_error(code, err, f"--out {path}:", words)
    if before is not None:
        assert Path(path).read_bytes() == before


def test_sweep_unreachable_scheduler_is_one_line(capsys, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("linmeta.sweeping.schedulers.CONNECT_TIMEOUT", 1)   # nothing listens: no need to wait 5 s
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                   # closed once the socket is: nothing listens there
    code, out, err = run([*SWEEP, "--scheduler", f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "s.csv")],
                         capsys)
    _one_line_error(code, err, f"--scheduler tcp://127.0.0.1:{port}: cannot connect")
    assert not (tmp_path / "s.csv").exists()


# ----------------------------------------------------------------------------- help
def _subparsers():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices


def test_every_option_of_every_command_has_help_and_examples():
    commands = _subparsers()
    assert set(commands) >= {"figures", "theory", "simulate", "sweep"}
    for name, p in commands.items():
        for action in p._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        assert p.epilog.startswith("examples:") and f"linmeta {name}" in p.epilog


def test_workers_means_processes_and_threads_means_numba_threads():
    commands = _subparsers()
    helps = {(n, a.option_strings[0]): a.help for n, p in commands.items() for a in p._actions if a.option_strings}
    workers = [h for (n, o), h in helps.items() if o == "--workers" and h != "==SUPPRESS=="]
    assert workers and all("worker processes" in h for h in workers)
    threads = [h for (n, o), h in helps.items() if o == "--threads"]
    assert len(threads) == 3 and all(h.startswith("Numba threads") for h in threads)
    old = build_parser().parse_args(["figures", "fig2a", "--workers", "2"])   # the old spelling still parses
    assert (old.old_workers, old.threads) == (2, None)


def test_long_work_announces_its_estimated_time(capsys, monkeypatch):
    monkeypatch.setattr("linmeta.cli.estimated_seconds", lambda *a, **k: 7200.0)
    code, out, err = run(["simulate", "--runs", "5", "--quiet"], capsys)
    assert code == 0 and "estimated time: about 2.0 h" in err
    code, out, err = run(["sweep", "--grid", "m=10,20", "--runs", "5", "--quiet"], capsys)
    assert code == 0 and "estimated time: about 4.0 h" in err
    monkeypatch.setattr("linmeta.cli.estimated_seconds", lambda *a, **k: 1.0)
    code, out, err = run(["simulate", "--runs", "5", "--quiet"], capsys)
    assert code == 0 and "estimated" not in err
