"""The resumable sweep table: a CSV written row by row, recognised before it is touched.

Layout: a header line (:func:`columns`), then one line per cell.  Finished
cells are appended as they complete (flushed and synced); when every cell is
done the file is rewritten atomically in grid order, so it ends byte-identical
to an uninterrupted run.

Trust rule: an existing file is read, never written, until it is recognised
as a sweep made with the same arguments.  :func:`recognise` checks the header
and *every* complete row (field count, known status, finite ``mean`` and
``stderr >= 0`` for ``"ok"`` rows, empty numbers for ``"skipped"`` rows, the
row's parameters, run count, seed, method, theory and linmeta version equal to
its cell's).  Anything else raises :class:`~linmeta.sweeping.SweepArgumentError`
naming the file (and the line), and the file is left byte-identical: an
invalid row is refused, not silently recomputed, because a row that does not
read back as written means something other than this sweep wrote to the file.
Only after recognition may :func:`prepare` cut a partial last row (a writer
killed mid-line).

Examples
--------
>>> read_table(b"a,b\\n1,0.5\\n")["b"].tolist()
[0.5]
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import re
import tempfile

import numpy as np
import pandas as pd

from linmeta.sweeping.errors import SweepArgumentError
from linmeta.sweeping.grid import PARAMS

__all__ = ["RESULT_COLUMNS", "STATUSES", "THEORY_COLUMNS", "columns", "read_table", "check_out", "recognise",
           "Recognised", "prepare", "append", "finalise"]

THEORY_COLUMNS = ("theory", "theory_printed")
RESULT_COLUMNS = (*THEORY_COLUMNS, "mean", "stderr", "n_runs", "seed", "method", "status", "note")
STATUSES = ("ok", "skipped")
_INT_RE = re.compile(r"^-?[0-9]+$")
_NUMBERS = ("mean", "stderr")


def columns(grid_names):
    """The table's columns for a grid over ``grid_names``.

    Examples
    --------
    >>> columns(["alpha_t"])[:4]
    ['alpha_t', 'theory', 'theory_printed', 'mean']
    """
    rest = [k for k in PARAMS if k not in grid_names]
    return [*grid_names, *RESULT_COLUMNS, *rest, "w0_norm", "start_distance", "linmeta_version", "cell_key"]


def read_table(data):
    """Parse CSV bytes exactly: every float is parsed by Python's ``float`` (correctly rounded).

    Pandas' fast float parser is not guaranteed to round-trip ``repr`` in the
    last bit (and its ``float_precision`` switch is deprecated), so columns
    are read as text and converted here: integers to ``int``, numbers to
    ``float`` (empty -> NaN), anything else stays text.

    Parameters
    ----------
    data : bytes
        CSV with a header line.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> t = read_table(b"a,b,c\\n1,0.1,x\\n2,,y\\n")
    >>> t["a"].tolist(), t["b"].tolist(), t["c"].tolist()
    ([1, 2], [0.1, nan], ['x', 'y'])
    """
    raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False)
    out = {}
    for col in raw.columns:
        vals = raw[col].tolist()
        try:
            out[col] = np.array([int(v) for v in vals], dtype=np.int64) if all(_INT_RE.match(v) for v in vals) \
                else np.array([float(v) if v != "" else np.nan for v in vals], dtype=float)
            if all(v == "" for v in vals):
                raise ValueError
        except ValueError:
            out[col] = np.array(vals, dtype=object)
    return pd.DataFrame(out, columns=raw.columns)


def _refuse(out, cause):
    return SweepArgumentError("out", out, f"{cause}; the file was not changed")


def check_out(out):
    """``out`` as a path string if a sweep can use it (its folder exists; it is not a folder).

    Examples
    --------
    >>> check_out("no/such/folder/s.csv")
    Traceback (most recent call last):
    ...
    linmeta.sweeping.errors.SweepArgumentError: out='no/such/folder/s.csv': folder 'no/such/folder' does not exist
    """
    try:
        out = os.fspath(out)
    except TypeError:
        raise ValueError(f"out must be a path or None; got {type(out).__name__}") from None
    folder = os.path.dirname(out) or "."
    if not os.path.isdir(folder):
        raise SweepArgumentError("out", out, f"folder {folder!r} does not exist")
    if os.path.isdir(out):
        raise SweepArgumentError("out", out, "is a folder, not a file")
    return out


@dataclasses.dataclass
class Recognised:
    """What :func:`recognise` found: ``done`` maps cell keys to their saved rows (text fields)."""

    path: str
    exists: bool
    done: dict
    size: int          # bytes up to the end of the last complete row
    partial: bool      # a partial last row follows (to be cut by ``prepare``)


def _split_line(line):
    return next(csv.reader([line]))


def _csv_rows(frame):
    text = frame.to_csv(index=False)
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def _check_row(out, n, cols, fields, expected, rekey):
    """Raise unless ``fields`` (line ``n``) is a valid row of this sweep; returns its key."""
    where = f"line {n}"
    if len(fields) != len(cols):
        raise _refuse(out, f"{where} has {len(fields)} fields, the header {len(cols)}")
    row = dict(zip(cols, fields))
    status = row["status"]
    if status not in STATUSES:
        raise _refuse(out, f"{where}: status {status!r} is not one of {STATUSES}")
    for c in _NUMBERS:
        v = row[c]
        if status == "skipped":
            if v != "":
                raise _refuse(out, f"{where}: a skipped row has {c}={v!r}; expected empty")
            continue
        try:
            x = float(v)
        except ValueError:
            raise _refuse(out, f"{where}: {c}={v!r} is not a number") from None
        if not math.isfinite(x) or (c == "stderr" and x < 0):
            raise _refuse(out, f"{where}: {c}={v!r} must be finite{' and >= 0' if c == 'stderr' else ''}")
    key = row["cell_key"]
    want = expected.get(key)
    if want is None:
        if rekey(row) != key:
            raise _refuse(out, f"{where}: cell_key {key!r} does not match the row's parameters "
                          "(edited, or made with other w0/omega0)")
        detail = []
        for c in (*PARAMS, "n_runs", "seed", "method"):
            now = sorted({r[c] for r in expected.values()})
            if row[c] not in now:
                detail.append(f"{c}: file has {row[c]!r}, now {now[:3]}")
        raise _refuse(out, f"holds a sweep made with different arguments ({'; '.join(detail) or 'grid values'}); "
                      "rerun with the original arguments to resume, or choose another file")
    for c in cols:
        if c in _NUMBERS or row[c] == want[c]:
            continue
        if c == "linmeta_version":
            raise _refuse(out, f"{where} was made by linmeta {row[c]}, this is {want[c]}; choose another file")
        if c in (*THEORY_COLUMNS, "note"):
            raise _refuse(out, f"{where}: {c}={row[c]!r} differs from this linmeta's {want[c]!r} "
                          f"(cell_key {key}); the row was edited or made by other code")
        raise _refuse(out, f"{where}: cell_key {key!r} does not match the row's parameters "
                      f"({c}={row[c]!r}, the cell has {want[c]!r}); the row was edited")
    return key


def recognise(out, table, rekey):
    """Read ``out`` (never writing) and check it against this sweep's ``table``.

    Parameters
    ----------
    out : str
        Path (see :func:`check_out`).
    table : pandas.DataFrame
        This sweep's rows with empty ``mean``/``stderr`` (theory, parameters, keys filled in).
    rekey : callable
        ``rekey(row) -> str``: the cell key recomputed from a row's text fields
        (``None`` if they do not parse).

    Returns
    -------
    Recognised

    Raises
    ------
    SweepArgumentError
        The file cannot be read, is binary, empty, has other columns, holds
        an invalid row (named by line) or a sweep made with other arguments.
    """
    cols, exp_rows = _csv_rows(table)
    expected = {dict(zip(cols, r))["cell_key"]: dict(zip(cols, r)) for r in exp_rows}
    if not os.path.lexists(out):
        return Recognised(out, False, {}, 0, False)
    try:
        with open(out, "rb") as f:
            data = f.read()
    except OSError as err:
        raise SweepArgumentError("out", out, f"cannot be read ({err.strerror or err})") from None
    if not data:
        raise _refuse(out, "is empty, not a linmeta sweep; delete it or choose another file")
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(out, "is a binary file, not a linmeta sweep CSV; choose another file") from None
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]          # tail: "" or a partial last row
    if not complete or complete[0] != ",".join(cols):
        first = (complete[0] if complete else tail)[:60]
        raise _refuse(out, f"has different columns (a different grid, or not a linmeta sweep; first line {first!r}); "
                      "choose another file")
    done = {}
    for n, line in enumerate(complete[1:], start=2):
        try:
            fields = _split_line(line)
        except (csv.Error, StopIteration):
            raise _refuse(out, f"line {n} is not a CSV row") from None
        key = _check_row(out, n, cols, fields, expected, rekey)
        if key in done and done[key] != fields:
            raise _refuse(out, f"line {n} repeats cell {key} with other numbers")
        done[key] = fields
    size = len(data) - len(tail.encode("utf-8"))
    return Recognised(out, True, done, size, bool(tail))


def prepare(rec, header):
    """Make a recognised ``out`` ready for appending: create it with ``header``, or cut a partial last row.

    Returns the number of bytes cut (0 or the partial row's length).
    """
    if not rec.exists:
        try:
            with open(rec.path, "x", newline="") as f:
                f.write(",".join(header) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise SweepArgumentError("out", rec.path, f"cannot be created ({err.strerror or err})") from None
        return 0
    if rec.partial:
        cut = os.path.getsize(rec.path) - rec.size
        with open(rec.path, "r+b") as f:
            f.truncate(rec.size)
        return cut
    return 0


def append(out, frame):
    """Append ``frame``'s rows (no header) to ``out``, flushed and synced to disk."""
    with open(out, "a", newline="") as f:
        frame.to_csv(f, header=False, index=False)
        f.flush()
        os.fsync(f.fileno())


def finalise(out, keys_in_order):
    """Rewrite ``out`` atomically with one row per key, in ``keys_in_order``; returns the table read back."""
    with open(out, "rb") as f:
        table = read_table(f.read())
    table = table.drop_duplicates("cell_key").set_index("cell_key", drop=False).loc[keys_in_order]
    table = table.reset_index(drop=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out) or ".", prefix=f".{os.path.basename(out)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            table.to_csv(f, index=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)      # atomic: the file is either the old one or the finished one
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    with open(out, "rb") as f:
        return read_table(f.read())
