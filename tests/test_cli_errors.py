"""The command line refuses bad input on one line (exit 2) and stops quietly on a closed stdout.

Sizes, values and outputs are refused before any work; the command stops quietly
when the reader of its stdout goes away.
"""
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from linmeta import cli
from linmeta._cli_args import writing
from linmeta.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _refused(argv, capsys, *needles):
    """``main(argv)`` exits 2 with one stderr line containing every needle, and prints nothing on stdout."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("linmeta: error: "), err
    for needle in needles:
        assert needle in err, err
    return out, err


@pytest.mark.parametrize("argv, needles", [
    # MemoryError in np.zeros before any check
    (["simulate", "--set", "p=1000000000000", "--runs", "2"], ["p=1000000000000 needs", "p must be <="]),
    # "Maximum allowed dimension exceeded"
    (["simulate", "--set", "p=1e30", "--runs", "2"], ["p must be an integer >= 1 and <= 2**53"]),
    (["theory", "--set", "p=1e30"], ["p must be an integer >= 1 and <= 2**53"]),
    # OverflowError at sigma**2
    (["simulate", "--set", "sigma=1e200", "--runs", "2", "--quiet"], ["sigma must be finite and >= 0 and <= 1e+50",
                                                                       "got 1e+200"]),
    (["theory", "--set", "nu=1e200"], ["nu must be finite and >= 0 and <= 1e+50"]),
    (["sweep", "--grid", "p=40,1000000000000", "--runs", "2"], ["p=1000000000000 needs"]),
])
def test_sizes_and_values_that_crashed_are_refused(argv, needles, capsys):
    _refused(argv, capsys, *needles)


def test_grid_counts_are_bounded_before_they_are_generated(capsys):
    # a billion points went to np.linspace (8 GB) before anything was checked
    _refused(["sweep", "--grid", "alpha_t=0:1:1000000000", "--runs", "2"], capsys,
             "alpha_t=0:1:1000000000",
             f"NUM must be an integer >= 1 and <= {cli.parse_grid.__globals__['GRID_POINTS_MAX']}")
    _refused(["sweep", "--grid", "alpha_t=0:1:1000", "--grid", "m=1:1000:1000", "--runs", "2"], capsys,
             "1000 x 1000 = 1000000 cells", "at most 100000")
    _refused(["sweep", "--grid", "m=" + ",".join(str(i) for i in range(1, 10_002)), "--runs", "2"], capsys,
             "at most 10000 values; got 10001")


def test_a_repeated_set_is_refused(capsys):
    # the last value silently won
    _refused(["theory", "--set", "m=3", "--set", "m=4"], capsys, "--set 'm=4'", "m is given twice")
    _refused(["theory", "--set", "w0=1", "--set", "w0=none"], capsys, "w0 is given twice")


def test_figures_outdir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "F").write_text("not a folder")
    out, _ = _refused(["figures", "fig3b", "--outdir", str(tmp_path / "F"), "--runs-scale", "0.01", "--quiet"],
                      capsys, f"--outdir {tmp_path / 'F'}: not a folder")
    assert out == ""        # nothing started: not even the header line
    _refused(["figures", "fig3b", "--outdir", str(tmp_path / "F" / "sub"), "--quiet"], capsys,
             f"{tmp_path / 'F'} is a file")


def test_a_failed_figure_write_names_outdir_and_other_errors_pass_through(tmp_path, capsys, monkeypatch):
    # was "[Errno 27] File too large", naming neither the option nor the folder
    def too_large(name, outdir, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr("linmeta.cli.make", too_large)
    _refused(["figures", "fig3b", "--outdir", str(tmp_path / "figs")], capsys,
             f"linmeta: error: --outdir {tmp_path / 'figs'}: File too large")
    with pytest.raises(FileNotFoundError), writing("--out", str(tmp_path / "s.csv")):   # about another file
        (tmp_path / "elsewhere" / "x.csv").read_text()


def test_check_plot_file_is_validated_before_simulating(tmp_path, capsys, monkeypatch):
    def no_simulation(*args, **kwargs):
        raise AssertionError("simulated before validating --plot")

    monkeypatch.setattr("linmeta._check_cli.check", no_simulation)
    _refused(["check", "sigma^2/2", "--runs", "20", "--plot", str(tmp_path / "x.xyz")], capsys,
             "--plot", "x.xyz: unknown format 'xyz'; known: ", "png")
    _refused(["check", "sigma^2/2", "--runs", "20", "--plot", str(tmp_path / "no" / "x.png")], capsys,
             "--plot", "does not exist")


def _run(code, **kw):
    """Run python ``code`` with this worktree's linmeta; returns the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, text=True,
                          capture_output="stdout" not in kw, check=False, **kw)


@pytest.mark.skipif(sys.platform == "win32", reason="needs resource.RLIMIT_FSIZE")
def test_an_output_too_large_names_the_option_and_the_file(tmp_path):
    # the old message was "[Errno 27] File too large"; the kernels are compiled before the file-size limit
    out = tmp_path / "s.csv"
    done = _run(f"""
        import resource, sys
        from linmeta.cli import main
        assert main(["sweep", "--grid", "alpha_t=0:1:2", "--runs", "2", "--quiet"]) == 0
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
        sys.exit(main(["sweep", "--grid", "alpha_t=0:1:40", "--runs", "2", "--quiet", "--out", {str(out)!r}]))
    """)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"linmeta: error: --out {out}: File too large\n"


@pytest.mark.parametrize("unbuffered", [False, True])
def test_a_stdout_closed_by_its_reader_stops_quietly(tmp_path, unbuffered):
    # as `linmeta sweep ... | head -1` once head has left: was "Broken pipe" with exit status 2 (unbuffered: the
    # header's write fails) or "Exception ignored ... BrokenPipeError" with status 120 (buffered: the write at exit
    # fails).  Buffered, the first write to the closed pipe comes after the work, which is kept.
    out = tmp_path / "s.csv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | {"PYTHONPATH": str(ROOT)}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "linmeta", "sweep", "--grid", "alpha_t=0:1:3", "--runs", "2",
                             "--out", str(out)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()     # the reader is gone
    with proc.stderr:
        err = proc.stderr.read().decode()
    status = proc.wait()
    assert status == 141 and err == "", (status, err)
    if not unbuffered:
        assert len(out.read_text().splitlines()) == 1 + 3      # the work is done and kept: header and three cells
    assert cli.EXIT_BROKEN_PIPE == 141 and "141  stdout closed by its reader" in cli.build_parser().format_help()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_named_on_one_line():
    # was "[Errno 28] No space left on device", naming nothing
    with open("/dev/full", "w") as full:
        done = _run("""
            import sys
            from linmeta.cli import main
            sys.exit(main(["theory", "--json"]))
        """, stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert done.stderr == "linmeta: error: cannot write to stdout: No space left on device\n"
