"""The command line with task models beyond the paper's: --set input_cov/task_cov, --mixture FILE.json."""
import json

import numpy as np
import pytest

import linmeta as lm
from linmeta.cli import main

MIX = {"components": [{"weight": 0.7, "set": {"sigma": 0.1}},
                      {"weight": 0.3, "set": {"input_cov": 0.25, "w0": 0.3}}]}


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _mixture(tmp_path, spec=MIX):
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(spec) if not isinstance(spec, str) else spec)
    return str(path)


def test_mixture_file_simulates_what_the_library_does(tmp_path, capsys):
    code, out, err = run(["simulate", "--mixture", _mixture(tmp_path), "--runs", "50", "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    fig3 = lm.presets.FIG3
    mix = lm.Mixture([(0.7, fig3.replace(sigma=0.1)), (0.3, fig3.replace(input_cov=0.25, w0=np.full(30, 0.3)))])
    est = lm.simulate(mix, 50, 0)
    assert got["mean"] == est.mean
    code, out, err = run(["theory", "--mixture", _mixture(tmp_path), "--json"], capsys)
    assert code == 0 and json.loads(out)["theory"]["test_loss_population"] == pytest.approx(
        lm.theory.test_loss(mix, approximation="population"), rel=1e-12)


def test_set_takes_covariances(capsys):
    argv = ["simulate", "--set", "nu=none", "--set", "task_cov=0.001", "--set", "input_cov=2", "--runs", "20", "--json"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    prob = lm.presets.FIG3.replace(nu=None, task_cov=np.full(30, 0.001), input_cov=2.0)
    assert json.loads(out)["mean"] == lm.simulate(prob, 20, 0).mean


@pytest.mark.parametrize("spec, words", [
    ("not json", "not JSON"),
    ({"parts": []}, "expected"),
    ({"components": [{"weight": "x"}]}, "weight must be a number"),
    ({"components": [{"weight": 1, "set": {"sigma": {"a": 1}}}]}, "must be a number, a list of numbers or null"),
    ({"components": [{"weight": 1, "set": {"input_cov": -1}}]}, "input_cov"),
    ({"components": [{"weight": 1, "set": {}}, {"weight": 1, "set": {"m": 20}}]}, "must share m"),
    ({"components": [{"weight": 1, "set": {"tasks": 1}}]}, "unknown Problem field 'tasks'"),
])
def test_bad_mixture_files_exit_2_with_one_line(tmp_path, capsys, spec, words):
    code, out, err = run(["theory", "--mixture", _mixture(tmp_path, spec)], capsys)
    assert code == 2 and words in err and err.count("\n") == 1, err


def test_mixture_file_that_is_not_a_regular_file_is_refused_before_reading(tmp_path, capsys):
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)                       # opening it for reading would block
    for path in (fifo, tmp_path):
        code, out, err = run(["theory", "--mixture", str(path)], capsys)
        assert code == 2 and "not a regular file" in err and err.count("\n") == 1, err


def test_theory_prints_the_finite_size_loss_and_its_domain_note(capsys):
    spectrum = ",".join(["2"] * 10 + ["0.5"] * 20)
    code, out, err = run(["theory", "--set", f"input_cov={spectrum}", "--set", "alpha_t=0.02", "--json"], capsys)
    assert code == 0, err
    prob = lm.presets.FIG3.replace(input_cov=np.r_[np.full(10, 2.0), np.full(20, 0.5)], alpha_t=0.02)
    got = json.loads(out)
    assert got["theory"]["test_loss_finite"] == lm.theory.test_loss(prob, approximation="finite")   # A8, inside
    assert not [n for n in got["notes"] if n.startswith("test_loss_finite")]
    code, out, err = run(["theory", "--set", f"input_cov={spectrum}", "--set", "alpha_t=0.3"], capsys)
    assert code == 0 and err == ""                      # outside the closure's domain: a note, not a warning
    assert "note: test_loss_finite: approximation='finite' (A8) is outside its measured domain: g = " in out
