"""Sweep files stay the user's: one writer at a time, never another file, modes and links kept, bounded reads."""
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

import linmeta as lm
from linmeta import cli
from linmeta.sweeping.table import row_digest

PROB = lm.Problem(p=10, m=2, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
GRID = {"alpha_t": [-0.5, 0.5], "m": [1, 9]}   # two tasks (one per m), each a curve over alpha_t
RUNS, SEED = 20, 5
POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX files: locks, links, modes, limits, open-file renames")
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
CLI = ["sweep", "--set", "p=10", "--set", "m=2", "--set", "n_t=3", "--set", "n_v=2", "--set", "n_r=3",
       "--set", "sigma=0.5", "--set", "nu=0.5", "--set", "alpha_t=0.2", "--set", "alpha_r=0.2",
       "--grid", "alpha_t=-0.5,0.5", "--grid", "m=1,9", "--runs", str(RUNS), "--seed", str(SEED), "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    table = lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    return table, out.read_bytes()


def _after_first_task(action):
    """Return an ``on_task`` hook that runs ``action`` once, after the first task is saved."""
    def hook(finished):
        if not hook.ran:
            hook.ran = True
            action()
    hook.ran = False
    return hook


def _cli(args, tmp_path, *, memory=None, fsize=None, timeout=120, warnings=None):
    """Run ``python -m linmeta`` in a child (optionally with address-space / file-size limits)."""
    def limits():
        import resource
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    env = ENV if warnings is None else dict(ENV, PYTHONWARNINGS=warnings)
    return subprocess.run([sys.executable, "-m", "linmeta", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limits)


def _one_line(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("linmeta: error: "), proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr


# ----------------------------------------------------------------------------- one writer, never another file
@POSIX
def test_second_sweep_on_the_same_file_is_refused_while_the_first_runs(reference, tmp_path, capsys):
    out = tmp_path / "s.csv"
    seen = {}

    def second():
        with pytest.raises(ValueError, match="s.csv.*is in use by another sweep") as info:
            lm.sweep(PROB, GRID, RUNS, SEED + 1, out=out)
        seen["api"] = str(info.value)
        seen["code"] = cli.main([*CLI, "--seed", str(SEED + 1), "--out", str(out)])

    lm.sweep(PROB, GRID, RUNS, SEED, out=out, on_task=_after_first_task(second))
    assert "\n" not in seen["api"]
    err = capsys.readouterr().err
    assert seen["code"] == 2 and err.count("\n") == 1 and f"--out {out}: is in use by another sweep" in err
    assert out.read_bytes() == reference[1]                 # only the first sweep's rows


@POSIX
def test_file_replaced_mid_run_is_not_written(tmp_path):
    out, theirs = tmp_path / "s.csv", b"name,score\nalice,3\n"

    def replace():
        (tmp_path / "new.csv").write_bytes(theirs)
        os.replace(tmp_path / "new.csv", out)

    with pytest.raises(ValueError, match="s.csv.*was replaced or moved by another program") as info:
        lm.sweep(PROB, GRID, RUNS, SEED, out=out, on_task=_after_first_task(replace))
    assert "\n" not in str(info.value)
    assert out.read_bytes() == theirs


@POSIX
def test_file_deleted_mid_run_is_not_recreated(tmp_path):
    out = tmp_path / "s.csv"
    with pytest.raises(ValueError, match="s.csv.*was deleted while the sweep ran"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out, on_task=_after_first_task(out.unlink))
    assert not out.exists() and os.listdir(tmp_path) == []


def test_file_appended_to_mid_run_is_not_written(tmp_path):
    out = tmp_path / "s.csv"

    def note():
        with open(out, "ab") as f:
            f.write(b"MY NOTE")

    with pytest.raises(ValueError, match="s.csv.*was changed by another program"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out, on_task=_after_first_task(note))
    data = out.read_bytes()
    assert data.endswith(b"\nMY NOTE") and data.count(b"\n") == 3          # header and the first task's 2 rows


def test_a_note_without_newline_is_not_cut(reference, tmp_path):
    out = tmp_path / "s.csv"
    out.write_bytes(reference[1] + b"MY NOTE")
    with pytest.raises(ValueError, match=r"s.csv.*ends with 'MY NOTE' \(no newline\), which is not the start of a row"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert out.read_bytes() == reference[1] + b"MY NOTE"


def test_only_the_beginning_of_an_own_row_is_cut(reference, tmp_path):
    """Cut and resume the prefix a killed writer leaves; refuse a last line that is no such prefix.

    A writer killed anywhere in a row (grid values, numbers, digest) leaves a prefix that is cut and resumed;
    a last line that is not such a prefix is refused, however much it looks like one.
    """
    lines = reference[1].split(b"\n")
    head, last = b"\n".join(lines[:4]) + b"\n", lines[4]
    out = tmp_path / "s.csv"
    i_mean = last.index(b",", last.index(b",", last.index(b",", last.index(b",") + 1) + 1) + 1) + 1
    for n in (1, 5, i_mean + 3, len(last) // 2, int(len(last) * 0.8), len(last) - 17, len(last) - 1):
        out.write_bytes(head + last[:n])
        again = lm.sweep(PROB, GRID, RUNS, SEED, out=out)
        assert out.read_bytes() == reference[1], n
        assert (again.attrs["computed"], again.attrs["reused"]) == (1, 3)
    for tail in (b"-0.5,1,9", last[:i_mean] + b"1.5x", last[:-1] + b"z", b"0.5,9,0.4 my note"):
        out.write_bytes(head + tail)
        with pytest.raises(ValueError, match="which is not the start of a row of this sweep"):
            lm.sweep(PROB, GRID, RUNS, SEED, out=out)
        assert out.read_bytes() == head + tail


# ----------------------------------------------------------------------------- links and modes
@POSIX
def test_symlink_stays_a_link_and_its_target_is_written(reference, tmp_path):
    (tmp_path / "data").mkdir()
    target, link = tmp_path / "data" / "real.csv", tmp_path / "link.csv"
    target.write_bytes(reference[1].split(b"\n")[0] + b"\n")               # a sweep with no row yet
    link.symlink_to(target)
    lm.sweep(PROB, GRID, RUNS, SEED, out=link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == reference[1]
    assert sorted(os.listdir(tmp_path / "data")) == ["real.csv"]            # the temporary file was beside it


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@POSIX
def test_new_file_gets_the_umask_default(tmp_path, umask_022):
    out = tmp_path / "s.csv"
    lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


@POSIX
@pytest.mark.parametrize("mode", [0o644, 0o664, 0o640])
def test_resumed_file_keeps_its_mode(reference, tmp_path, umask_022, mode):
    out = tmp_path / "s.csv"
    out.write_bytes(b"\n".join(reference[1].split(b"\n")[:2]) + b"\n")   # header and one row: resume, rewrite
    out.chmod(mode)
    lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert out.read_bytes() == reference[1] and stat.S_IMODE(out.stat().st_mode) == mode


@POSIX
def test_finished_read_only_file_is_read_back_and_stays_read_only(reference, tmp_path):
    out = tmp_path / "s.csv"
    out.write_bytes(reference[1])
    out.chmod(0o444)
    again = lm.sweep(PROB, GRID, RUNS, SEED, out=out)                      # finished: nothing to write
    assert again.attrs["reused"] == 4 and stat.S_IMODE(out.stat().st_mode) == 0o444
    assert out.read_bytes() == reference[1]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes read-only files")
def test_unfinished_read_only_file_is_refused(reference, tmp_path):
    out = tmp_path / "s.csv"
    out.write_bytes(b"\n".join(reference[1].split(b"\n")[:2]) + b"\n")
    out.chmod(0o444)
    with pytest.raises(ValueError, match="s.csv.*cannot be written"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert out.read_bytes() == b"\n".join(reference[1].split(b"\n")[:2]) + b"\n"


# ----------------------------------------------------------------------------- what is read before recognition
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    proc = _cli([*CLI, "--out", "pipe"], tmp_path, timeout=60)              # before: blocked in open() for ever
    _one_line(proc, "--out pipe: is a named pipe (FIFO), not a regular file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_is_refused(tmp_path):
    proc = _cli([*CLI, "--out", "/dev/zero"], tmp_path, memory=3 << 30)     # before: read until memory ran out
    _one_line(proc, "--out /dev/zero: is a character device, not a regular file")


@POSIX
def test_huge_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(5 << 30)                                                   # sparse: no disk used
    proc = _cli([*CLI, "--out", "big.csv"], tmp_path, memory=3 << 30)       # 5 GB cannot be read under 3 GB
    _one_line(proc, "--out big.csv: holds 5368709120 bytes, more than a sweep of these cells can")
    assert big.stat().st_size == 5 << 30


@POSIX
def test_file_too_large_names_the_option(tmp_path):
    proc = _cli([*CLI, "--out", "s.csv"], tmp_path, fsize=600)            # the first task fits, not the second
    _one_line(proc, "--out s.csv: File too large")
    assert (tmp_path / "s.csv").stat().st_size == 600                        # a partial row at the end
    again = _cli([*CLI, "--out", "s.csv"], tmp_path)                         # without the limit: resumes
    assert again.returncode == 0 and "2 computed, 2 reused" in again.stdout, again.stderr


def test_bytes_path_is_a_named_value_error(tmp_path):
    with pytest.raises(ValueError, match="out=b'x.csv': must be a str or os.PathLike text path, not bytes"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=b"x.csv")


def test_crlf_file_is_refused_naming_the_line_endings(reference, tmp_path):
    out = tmp_path / "s.csv"
    out.write_bytes(reference[1].replace(b"\n", b"\r\n"))
    with pytest.raises(ValueError, match=r"s.csv.*Windows line endings \(CRLF\)"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert out.read_bytes() == reference[1].replace(b"\n", b"\r\n")


# ----------------------------------------------------------------------------- numbers read back
def _edit_mean(data, line, value, digest=False):
    lines = data.decode().split("\n")
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    row = dict(zip(header, fields, strict=True))
    row["mean"] = value
    if digest:
        row["digest"] = row_digest(row["cell_key"], row["status"], row["mean"], row["stderr"], row["note"])
    lines[line - 1] = ",".join(row[c] for c in header)
    return "\n".join(lines).encode()


def test_negative_mean_is_refused(reference, tmp_path):
    out = tmp_path / "s.csv"
    bad = _edit_mean(reference[1], 3, "-0.1", digest=True)                  # a consistent digest: the sign is caught
    out.write_bytes(bad)
    with pytest.raises(ValueError, match=r"line 3: mean='-0.1' must be finite and >= 0 \(a loss\)"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert out.read_bytes() == bad


def test_edited_number_is_caught_by_the_digest(reference, tmp_path):
    out = tmp_path / "s.csv"
    mean = reference[0]["mean"].iloc[1]
    bad = _edit_mean(reference[1], 3, repr(float(mean) * 1.01))                    # plausible, positive, finite
    out.write_bytes(bad)
    with pytest.raises(ValueError, match="line 3: digest .* does not match the row's numbers"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert out.read_bytes() == bad


def test_read_table_reads_a_path(reference, tmp_path):
    out = tmp_path / "s.csv"
    out.write_bytes(reference[1])
    for source in (out, str(out)):
        t = lm.sweeping.read_table(source)
        np.testing.assert_array_equal(t["mean"].to_numpy(), reference[0]["mean"].to_numpy())
        assert t["cell_key"].tolist() == reference[0]["cell_key"].tolist()


def test_sweep_docstring_has_examples():
    assert "Examples\n    --------\n    >>> " in lm.sweep.__doc__


# ----------------------------------------------------------------------------- non-finite estimates
HUGE = {"alpha_r": [0.2, 1e200]}
# at alpha_r = 1e200 the theory formula itself overflows (its own RuntimeWarning, not the sweep's concern here)
THEORY_OVERFLOWS = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@THEORY_OVERFLOWS
def test_non_finite_estimate_is_an_error_recorded_and_reported_again(tmp_path):
    out = tmp_path / "s.csv"
    with pytest.raises(lm.NonFiniteResultError, match=r"grid cell alpha_r=1e\+200: .*overflows double precision") \
            as info:
        lm.sweep(PROB, HUGE, RUNS, SEED, out=out)
    table = info.value.table
    assert table["status"].tolist() == ["ok", "error"]
    assert table["mean"].iloc[0] == lm.simulate(PROB, RUNS, SEED).mean and np.isnan(table["mean"].iloc[1])
    assert "error: " in table["note"].iloc[1] and "overflows double precision" in table["note"].iloc[1]
    first = out.read_bytes()
    with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200") as again:      # same error, from the file
        lm.sweep(PROB, HUGE, RUNS, SEED, out=out)
    assert again.value.table.attrs["computed"] == 0 and again.value.table.attrs["reused"] == 2
    assert out.read_bytes() == first


@THEORY_OVERFLOWS
def test_non_finite_error_from_the_estimator_spares_the_other_cells(monkeypatch):
    """When the curve fails as a whole, each value is evaluated alone; finite cells keep their numbers."""
    real = lm.estimate.simulate_curve

    def strict(prob, field, values, *args, **kwargs):
        if any(v > 1e100 for v in values):
            raise lm.NonFiniteResultError(field, max(values), "the loss overflows")
        return real(prob, field, values, *args, **kwargs)

    monkeypatch.setattr("linmeta.sweeping.run.simulate_curve", strict)
    with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200: the loss overflows") as info:
        lm.sweep(PROB, HUGE, RUNS, SEED)
    table = info.value.table
    assert table["status"].tolist() == ["ok", "error"]
    assert table["mean"].iloc[0] == lm.simulate(PROB, RUNS, SEED).mean


@THEORY_OVERFLOWS
def test_an_estimator_that_returns_inf_is_turned_into_an_error(monkeypatch):
    """An estimator returning a non-finite mean (no error of its own) gives the same error row."""
    real = lm.estimate.simulate_curve

    def lax(prob, field, values, *args, **kwargs):
        t = real(prob, field, [min(v, 0.5) for v in values], *args, **kwargs)
        t.loc[[v > 1e100 for v in values], ["mean", "stderr"]] = [np.inf, np.nan]
        return t

    monkeypatch.setattr("linmeta.sweeping.run.simulate_curve", lax)
    with pytest.raises(lm.NonFiniteResultError, match=r"alpha_r=1e\+200: the Monte Carlo estimate is not a finite "
                       r"number \(mean=inf, stderr=nan\)") as info:
        lm.sweep(PROB, HUGE, RUNS, SEED)
    assert info.value.table["status"].tolist() == ["ok", "error"]
    assert info.value.table["mean"].iloc[0] == lm.simulate(PROB, RUNS, SEED).mean


def test_non_finite_estimate_on_the_command_line(tmp_path):
    args = [*CLI[:CLI.index("--grid")], "--grid", "alpha_r=0.2,1e200", "--runs", "5", "--quiet", "--out", "s.csv"]
    for _ in range(2):                                                        # the rerun says the same
        _one_line(_cli(args, tmp_path, warnings="ignore:overflow encountered:RuntimeWarning"),
                  "grid cell alpha_r=1e+200", "overflows double precision")


def test_one_run_per_cell_resumes(tmp_path):
    out = tmp_path / "s.csv"
    first = lm.sweep(PROB, GRID, 1, SEED, out=out)                           # one run: no standard error
    assert (first["status"] == "ok").all() and b",,1,5,exact," in out.read_bytes()
    again = lm.sweep(PROB, GRID, 1, SEED, out=out)
    assert again.attrs["reused"] == 4


# ----------------------------------------------------------------------------- worker processes
def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid and b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
                kids.append(int(entry))
    return kids


def _cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_the_sweep_is_killed(tmp_path):
    args = [*CLI[:CLI.index("--grid")], "--grid", "m=1,9,30,50", "--runs", "300000", "--quiet",
            "--scheduler", "processes", "--workers", "2", "--threads", "1", "--out", "s.csv"]
    proc = subprocess.Popen([sys.executable, "-m", "linmeta", *args], env=ENV, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2, "the sweep did not start its workers"
        while min(map(_cpu_seconds, workers)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)                                                   # past their imports, at work
        assert proc.poll() is None and all(_alive(w) for w in workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "workers outlived the killed sweep"
    finally:
        proc.kill()
        for w in workers:                                                     # if they outlived it: end them
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def test_theory_without_a_finite_value_is_a_note(monkeypatch):
    def overflowing(prob, form="leading"):
        raise lm.NonFiniteResultError("alpha_r", prob.alpha_r, "the test loss overflows")

    monkeypatch.setattr(lm.theory, "test_loss", overflowing)
    table = lm.sweep(PROB, {"m": [1]}, RUNS, SEED)
    assert np.isnan(table["theory_leading"].iloc[0]) and table["status"].iloc[0] == "ok"
    assert table["note"].iloc[0] == "theory_leading: alpha_r=0.2: the test loss overflows"
