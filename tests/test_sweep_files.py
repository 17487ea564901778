"""Sweep output files: nothing lost, nothing trusted blindly; honest counts; theory errors raise."""
import socket

import numpy as np
import pytest

import linmeta as lm

PROB = lm.Problem(p=10, m=2, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
GRID = {"alpha_t": [-0.5, 0.5], "m": [1, 9]}   # n_v*m = 2, 18 against p = 10: margins >= 7
RUNS, SEED = 20, 5


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    table = lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    return table, out.read_bytes()


FOREIGN = {
    "text_no_newline": b"my notes: keep this",
    "text": b"my notes\nkeep this\n",
    "foreign_csv": b"a,b,c\n1,2,3\n4,5,6",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
    "empty": b"",
}


@pytest.mark.parametrize("name", FOREIGN)
def test_foreign_file_is_refused_and_left_byte_identical(tmp_path, name):
    out = tmp_path / "notes.txt"
    out.write_bytes(FOREIGN[name])
    with pytest.raises(ValueError, match="notes.txt") as info:
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert "\n" not in str(info.value)
    assert out.read_bytes() == FOREIGN[name]


def _edit(data, line, column, value):
    lines = data.decode().split("\n")
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    fields[header.index(column)] = value
    lines[line - 1] = ",".join(fields)
    return "\n".join(lines).encode()


@pytest.mark.parametrize("line, column, value, words", [
    (3, "mean", "banana", "mean='banana' is not a number"),
    (3, "mean", "inf", "must be finite"),
    (4, "stderr", "-0.1", "must be finite and >= 0"),
    (2, "status", "WRONG", "status 'WRONG' is not one of"),
    (5, "m", "2", "does not match the row's parameters"),          # key recomputed from m=2 differs
    (3, "alpha_t", "0.25", "does not match the row's parameters"),
    (2, "theory_leading", "0.5", "theory_leading='0.5' differs"),
    (4, "n_runs", "x", "does not match the row's parameters"),
])
def test_invalid_row_is_refused_naming_file_and_line(reference, tmp_path, line, column, value, words):
    out = tmp_path / "s.csv"
    bad = _edit(reference[1], line, column, value)
    assert bad != reference[1]
    out.write_bytes(bad)
    with pytest.raises(ValueError, match="s.csv") as info:
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert f"line {line}" in str(info.value) and words in str(info.value)
    assert out.read_bytes() == bad                                      # untouched


def test_invalid_row_with_partial_tail_is_not_cut(reference, tmp_path):
    """Recognition comes first: a bad row refuses the file before the partial last row is cut."""
    out = tmp_path / "s.csv"
    bad = _edit(reference[1], 2, "mean", "banana")[:-10]
    out.write_bytes(bad)
    with pytest.raises(ValueError, match="line 2"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert out.read_bytes() == bad


def test_rerun_reports_zero_computed(reference, tmp_path):
    table, data = reference
    assert (table.attrs["computed"], table.attrs["reused"]) == (4, 0)
    out = tmp_path / "s.csv"
    out.write_bytes(data)
    again = lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert (again.attrs["computed"], again.attrs["reused"]) == (0, 4)
    assert out.read_bytes() == data
    np.testing.assert_array_equal(again["mean"].to_numpy(), table["mean"].to_numpy())
    lines = data.split(b"\n")
    out.write_bytes(b"\n".join(lines[:3]) + b"\n")                       # header + 2 rows
    resumed = lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert (resumed.attrs["computed"], resumed.attrs["reused"]) == (2, 2)
    assert out.read_bytes() == data


def test_out_in_missing_folder_or_a_folder(tmp_path):
    with pytest.raises(ValueError, match=r"out=.*nowhere.*folder .* does not exist"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=tmp_path / "nowhere" / "s.csv")
    with pytest.raises(ValueError, match="is a folder"):
        lm.sweep(PROB, GRID, RUNS, SEED, out=tmp_path)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_value_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("linmeta.sweeping.schedulers.CONNECT_TIMEOUT", 1)   # nothing listens: no need to wait 5 s
    out = tmp_path / "s.csv"
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(ValueError, match=f"scheduler='{address}': cannot connect"):
        lm.sweep(PROB, GRID, RUNS, SEED, scheduler=address, out=out)
    assert not out.exists()                                              # nothing written before connecting


def test_theory_bug_raises_not_nan(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("a bug in a formula")

    monkeypatch.setattr(lm.theory, "test_loss", broken)
    with pytest.raises(TypeError, match="a bug in a formula"):
        lm.sweep(PROB, {"m": [1]}, 2, 0)


def test_theory_value_error_raises(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("bad domain")

    monkeypatch.setattr(lm.theory, "test_loss", broken)
    with pytest.raises(ValueError, match="bad domain"):
        lm.sweep(PROB, {"m": [1]}, 2, 0)


def test_no_closed_form_is_a_note_saying_why():
    table = lm.sweep(PROB.replace(algorithm="fomaml", alpha_t=0.0), {"m": [1, 9]}, 4, 0)   # finite mean at 0
    assert table["theory_leading"].isna().all() and table["mean"].notna().all()
    with pytest.raises(NotImplementedError) as info:
        lm.theory.test_loss(PROB.replace(algorithm="fomaml", m=1, alpha_t=0.0))
    assert all(n == "theory_leading: " + str(info.value) for n in table["note"])


# the header and first row of a sweep file written by linmeta before the one table layout (theory column "theory")
EARLIER_LAYOUT = (b"alpha_t,m,theory,theory_printed,mean,stderr,n_runs,seed,method,status,note,p,n_t,n_v,n_r,sigma,"
                  b"nu,alpha_r,algorithm,n_steps,lam,w0_norm,start_distance,linmeta_version,cell_key,digest\n"
                  b"-0.5,1,0.57,,0.55,0.01,20,5,exact,ok,,10,3,2,3,0.5,0.5,0.2,maml,1,,0.0,0.0,0.1.0,"
                  b"0123456789abcdef,0123456789abcdef\n")


def test_file_in_the_earlier_column_layout_is_refused_saying_so(tmp_path):
    out = tmp_path / "old.csv"
    out.write_bytes(EARLIER_LAYOUT)
    with pytest.raises(ValueError, match="old.csv") as info:
        lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    assert "written by an earlier linmeta" in str(info.value) and "'theory_leading'" in str(info.value)
    assert out.read_bytes() == EARLIER_LAYOUT


def test_every_grid_has_the_one_table_layout(reference):
    table, data = reference
    curve = lm.simulate_curve(PROB.replace(m=1), "alpha_t", [-0.5, 0.5], RUNS, SEED)
    assert list(table.columns[:len(curve.columns)]) == list(curve.columns)
    assert data.split(b"\n")[0].decode().split(",") == list(table.columns) == lm.sweeping.columns()
    assert list(lm.sweep(PROB, {"sigma": [0.5]}, 2, 0).columns) == list(table.columns)
