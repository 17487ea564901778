"""Sweeps over explicit cells (a list of dicts, ``--cells FILE.csv``): the grid's numbers, resumable, strict."""
import numpy as np
import pytest

import linmeta as lm
from linmeta.cli import main

PROB = lm.Problem(p=10, m=2, n_t=3, n_v=2, n_r=3, sigma=0.5, nu=0.5, alpha_t=0.2, alpha_r=0.2)
GRID = {"alpha_t": [-0.5, 0.5], "m": [1, 9]}                   # n_v*m = 2, 18 against p = 10: margins >= 7
PRODUCT = [{"alpha_t": a, "m": m} for a in GRID["alpha_t"] for m in GRID["m"]]   # the grid's cells, in its order
# a fixed label budget m (n_t + n_v) = 12; n_v*m = 6 against p = 10 in every cell (margin 4)
BUDGET = [{"m": 1, "n_t": 6, "n_v": 6}, {"m": 2, "n_t": 3, "n_v": 3}, {"m": 3, "n_t": 2, "n_v": 2},
          {"m": 6, "n_t": 1, "n_v": 1}]
RUNS, SEED = 20, 5
CLI = ["sweep", "--set", "p=10", "--set", "m=2", "--set", "n_t=3", "--set", "n_v=2", "--set", "n_r=3",
       "--set", "sigma=0.5", "--set", "nu=0.5", "--set", "alpha_t=0.2", "--set", "alpha_r=0.2",
       "--runs", str(RUNS), "--seed", str(SEED), "--quiet"]


@pytest.fixture(scope="module")
def budget(tmp_path_factory):
    """Return the uninterrupted serial sweep of BUDGET: table and file bytes."""
    out = tmp_path_factory.mktemp("ref") / "budget.csv"
    table = lm.sweep(PROB, BUDGET, RUNS, SEED, out=out)
    return table, out.read_bytes()


def _same_table(a, b):
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)


# ----------------------------------------------------------------------------- the numbers
def test_product_list_is_the_grid_bit_for_bit(tmp_path):
    grid = lm.sweep(PROB, GRID, RUNS, SEED, out=tmp_path / "grid.csv")
    cells = lm.sweep(PROB, PRODUCT, RUNS, SEED, out=tmp_path / "cells.csv")
    np.testing.assert_array_equal(cells["mean"].to_numpy(), grid["mean"].to_numpy())
    np.testing.assert_array_equal(cells["stderr"].to_numpy(), grid["stderr"].to_numpy())
    _same_table(cells, grid)
    assert (tmp_path / "cells.csv").read_bytes() == (tmp_path / "grid.csv").read_bytes()
    backwards = lm.sweep(PROB, PRODUCT[::-1], RUNS, SEED)                # list order is the table's order
    assert backwards[["alpha_t", "m"]].values.tolist() == [[c["alpha_t"], c["m"]] for c in PRODUCT[::-1]]
    np.testing.assert_array_equal(backwards["mean"].to_numpy(), grid["mean"].to_numpy()[::-1])


def test_budget_cells_are_simulate_bit_for_bit(budget):
    table, _ = budget
    assert list(table.columns) == lm.sweeping.columns()
    assert table[["m", "n_t", "n_v"]].values.tolist() == [[c["m"], c["n_t"], c["n_v"]] for c in BUDGET]
    assert set(table.m * (table.n_t + table.n_v)) == {12} and set(table.status) == {"ok"}
    for cell, row in zip(BUDGET, table.itertuples(), strict=True):
        q = PROB.replace(**cell)
        est = lm.simulate(q, RUNS, SEED)
        assert (row.mean, row.stderr) == (est.mean, est.stderr)
        assert row.theory_leading == pytest.approx(lm.theory.test_loss(q), rel=1e-12)
    assert (table.attrs["computed"], table.attrs["reused"]) == (4, 0)


def test_non_product_list_shares_draws_along_alpha_t_and_matches_simulate():
    # cells 0 and 2 differ only in alpha_t: one curve task; cell 1 alone; cell 3 at the threshold (n_v*m = p)
    cells = [{"alpha_t": -0.5, "m": 1}, {"alpha_t": 0.5, "m": 9}, {"alpha_t": 0.0, "m": 1}, {"alpha_t": 0.0, "m": 5}]
    table = lm.sweep(PROB, cells, RUNS, SEED)
    assert table.status.tolist() == ["ok", "ok", "ok", "skipped"]
    assert [c for c, _ in table.attrs["skipped"]] == [cells[3]]
    for cell, row in zip(cells[:3], table.itertuples(), strict=False):
        est = lm.simulate(PROB.replace(**cell), RUNS, SEED)
        assert (row.mean, row.stderr) == (est.mean, est.stderr)


def test_process_pool_writes_the_serial_file(budget, tmp_path):
    out = tmp_path / "p.csv"
    table = lm.sweep(PROB, BUDGET, RUNS, SEED, scheduler="processes", workers=2, out=out)
    assert out.read_bytes() == budget[1]
    _same_table(table, budget[0])


def test_dask_local_writes_the_serial_file(budget, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "d.csv"
    lm.sweep(PROB, BUDGET, RUNS, SEED, scheduler="dask-local", workers=2, out=out)
    assert out.read_bytes() == budget[1]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")      # the theory at alpha_r=1e200
def test_cell_without_a_finite_estimate_is_named_as_a_cell(tmp_path):
    with pytest.raises(lm.NonFiniteResultError, match=r"no finite estimate at cell alpha_r=1e\+200: ") as info:
        lm.sweep(PROB, [{"alpha_r": 0.2}, {"alpha_r": 1e200}], 5, 0, out=tmp_path / "e.csv")
    assert info.value.table.status.tolist() == ["ok", "error"]


# ----------------------------------------------------------------------------- the file
class _Stop(Exception):
    pass


def test_interrupted_then_resumed_gives_the_same_file(budget, tmp_path):
    out = tmp_path / "s.csv"

    def stop(finished):
        if finished >= 2:
            raise _Stop

    with pytest.raises(_Stop):
        lm.sweep(PROB, BUDGET, RUNS, SEED, out=out, on_task=stop)        # 2 of 4 cells saved, then "Ctrl-C"
    assert out.read_bytes().count(b"\n") == 3                              # header + 2 rows
    out.write_bytes(out.read_bytes() + budget[1].split(b"\n")[3][:30])    # and half a row from a killed writer
    table = lm.sweep(PROB, BUDGET, RUNS, SEED, out=out)
    assert (table.attrs["computed"], table.attrs["reused"]) == (2, 2)
    assert out.read_bytes() == budget[1]
    _same_table(table, budget[0])
    again = lm.sweep(PROB, BUDGET, RUNS, SEED, out=out)
    assert (again.attrs["computed"], again.attrs["reused"]) == (0, 4) and out.read_bytes() == budget[1]


# every value of BUDGET is swept, but not the cell (1, 6, 6); n_v*m = 3, 18, 4, 6 against p = 10
SWAPPED = [{"m": 1, "n_t": 3, "n_v": 3}, {"m": 3, "n_t": 6, "n_v": 6}, {"m": 2, "n_t": 2, "n_v": 2}, BUDGET[3]]


@pytest.mark.parametrize("grid, words", [
    (BUDGET[1:], "different arguments (m: file has '1', now ['2', '3', '6']; "),           # a cell dropped
    (SWAPPED, "different arguments (its cell m=1, n_t=6, n_v=6 is not one of this sweep's cells)"),
    ([{**c, "n_r": 4} for c in BUDGET], "different arguments (n_r: file has '3', now ['4'])"),
    ({"m": [1, 2, 3]}, "different arguments (n_t: file has '6', now ['3']; "),               # a grid on it
])
def test_changed_cells_are_refused_and_the_file_left_alone(budget, tmp_path, grid, words):
    out = tmp_path / "s.csv"
    out.write_bytes(budget[1])
    with pytest.raises(ValueError, match="s.csv") as info:
        lm.sweep(PROB, grid, RUNS, SEED, out=out)
    assert words in str(info.value) and "the file was not changed" in str(info.value)
    assert out.read_bytes() == budget[1]


def test_a_grid_sweep_file_is_the_same_sweep_as_its_cells(tmp_path):
    """The file records cells, not the form they were given in: a list of the grid's cells reads it back."""
    out = tmp_path / "s.csv"
    lm.sweep(PROB, GRID, RUNS, SEED, out=out)
    data = out.read_bytes()
    table = lm.sweep(PROB, PRODUCT, RUNS, SEED, out=out)
    assert (table.attrs["computed"], table.attrs["reused"]) == (0, 4) and out.read_bytes() == data


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("grid, words", [
    ([], "at least one cell"),
    ((), "at least one cell"),
    ([{}], "cells[0] must be a non-empty dict"),
    ([{"m": 1}, 5], "cells[1] must be a non-empty dict"),
    ([{"m": 1, "n_t": 2}, {"m": 2, "n_v": 2}], "cells[1] names the fields ['m', 'n_v'], cells[0] names ['m', 'n_t']"),
    ([{"m": 1}, {"m": 2, "n_t": 3}], "cells[1] names the fields ['m', 'n_t'], cells[0] names ['m']"),
    ([{"q": 1}], "unknown Problem field 'q'"),
    ([{"w0": 1.0}], "unknown Problem field 'w0'"),
    ([{"m": 1, "n_t": 2}, {"m": 3, "n_t": 2}, {"n_t": 2.0, "m": 1.0}], "cells[0] and cells[2] are the same cell"),
    ([{"m": [1, 2]}], "cells[0]: m must be one value"),
    ([{"m": 1.5}], "cells[0] value of m must be an integer"),
    ([{"alpha_t": "x"}], "cells[0] value of alpha_t must be a real number"),
    ([{"m": 1}, {"m": 0}], "cells[1] {'m': 0}: m must be an integer >= 1"),
    ("m=1", "grid must be a dict {field: values} or a list of cells"),
])
def test_bad_cells_are_refused_before_anything_is_written(tmp_path, grid, words):
    out = tmp_path / "s.csv"
    with pytest.raises(ValueError) as info:
        lm.sweep(PROB, grid, RUNS, SEED, out=out)
    assert words in str(info.value)
    assert not out.exists()


# ----------------------------------------------------------------------------- command line
def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _budget_csv(path, newline="\n", bom=""):
    lines = ["m,n_t,n_v", *(f"{c['m']},{c['n_t']},{c['n_v']}" for c in BUDGET)]
    path.write_bytes((bom + newline.join(lines) + newline).encode())
    return path


@pytest.mark.parametrize("newline, bom", [("\n", ""), ("\r\n", "\ufeff")])   # also a spreadsheet's export
def test_cli_cells_is_the_library_sweep(budget, tmp_path, capsys, newline, bom):
    cells = _budget_csv(tmp_path / "budget.csv", newline, bom)
    out = tmp_path / "s.csv"
    code, text, err = run([*CLI, "--cells", str(cells), "--out", str(out)], capsys)
    assert code == 0, err
    assert out.read_bytes() == budget[1]
    assert "4 cells: 4 computed, 0 reused, 0 skipped" in text and f"seed {SEED}" in text
    code, text, err = run([*CLI, "--cells", str(cells), "--out", str(out)], capsys)
    assert code == 0 and "4 cells: 0 computed, 4 reused" in text


def test_cli_cells_prints_the_swept_fields(tmp_path, capsys):
    cells = _budget_csv(tmp_path / "budget.csv")
    code, text, err = run([a for a in CLI if a != "--quiet"] + ["--cells", str(cells), "--runs", "2"], capsys)
    assert code == 0, err
    header = text.split("\n")[1].split()
    assert header[:4] == ["m", "n_t", "n_v", "theory_leading"]


@pytest.mark.parametrize("content, words", [
    (b"", "line 1: no header"),
    (b"m,n_t\n", ": no cells"),
    (b"m,q\n1,2\n", "line 1: unknown Problem field 'q'"),
    (b"m,m\n1,1\n", "line 1: m is named twice"),
    (b"w0\n1\n", "line 1: w0 cannot be swept"),
    (b"m,n_t\n1,2\n3\n", "line 3: 1 values, the header names 2 fields"),
    (b"m,n_t\n1,2\n3,4,5\n", "line 3: 3 values, the header names 2 fields"),
    (b"m,n_t\n1,x\n", "line 2: n_t=x: n_t must be an integer"),
    (b"m\n1.5\n", "line 2: m=1.5: m must be an integer"),
    (b"alpha_t\nnan\n", "line 2: alpha_t=nan: alpha_t must be a finite real number"),
    (b"alpha_t\n__import__('os').getcwd()\n", "alpha_t must be a finite real number"),      # never evaluated
    (b"m\n1\n0\n", "line 3: m must be an integer >= 1"),
    (b"algorithm\nmaml\nfoo\n", "line 3: algorithm must be one of"),
    (b"m,n_t\n1,2\n5,6\n1.0,2\n", "line 4: repeats the cell of line 2 (m=1, n_t=2)"),
    (b"m\n1\n\"2\n", "line 3: not a CSV row"),
    (b"m\n\xff\n", "line 2: not UTF-8 text"),
    (b"m\n1\x00\n", "line 2: a NUL byte"),
    (b"p\n1000000000000\n", "line 2: p=1000000000000 needs"),                                 # before allocating
])
def test_cli_malformed_cells_file_is_one_line_naming_file_and_line(tmp_path, capsys, content, words):
    cells = tmp_path / "c.csv"
    cells.write_bytes(content)
    code, _, err = run([*CLI, "--cells", str(cells), "--out", str(tmp_path / "s.csv")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"linmeta: error: --cells {cells}") and words in err, err
    assert not (tmp_path / "s.csv").exists()


def test_cli_cells_file_that_is_not_a_file(tmp_path, capsys):
    code, _, err = run([*CLI, "--cells", str(tmp_path / "none.csv")], capsys)
    assert code == 2 and err.count("\n") == 1 and "none.csv: cannot be read (No such file or directory)" in err
    code, _, err = run([*CLI, "--cells", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "is a folder, not a regular file" in err


def test_cli_cells_and_grid_are_exclusive(tmp_path, capsys):
    cells = _budget_csv(tmp_path / "budget.csv")
    for argv in ([*CLI, "--cells", str(cells), "--grid", "m=1,2"], [*CLI, "--grid", "m=1,2", "--cells", str(cells)]):
        code, out, err = run(argv, capsys)
        assert code == 2 and err.count("\n") == 1 and "not allowed with argument" in err, err
        assert "--cells" in err and "--grid" in err and out == ""
    code, _, err = run(CLI, capsys)
    assert code == 2 and "give at least one --grid NAME=VALUES, or --cells FILE.csv" in err


def test_cli_changed_cells_file_is_refused(budget, tmp_path, capsys):
    out = tmp_path / "s.csv"
    out.write_bytes(budget[1])
    cells = tmp_path / "c.csv"
    cells.write_text("m,n_t,n_v\n2,3,3\n3,2,2\n6,1,1\n")                   # the first cell of the file dropped
    code, _, err = run([*CLI, "--cells", str(cells), "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and f"--out {out}: holds a sweep made with different arguments" in err
    assert out.read_bytes() == budget[1]
