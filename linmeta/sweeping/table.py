r"""The resumable sweep table: a CSV written row by row, recognised before it is touched.

Layout: a header line (:func:`columns`), then one line per cell, lines ending
in ``"\n"`` on every platform.  Finished cells are appended as they complete
(flushed and synced); when every cell is done the file is rewritten
atomically in grid order, so it ends byte-identical to an uninterrupted run.
The file operations themselves (locking, identity checks, the atomic
rewrite) live in :mod:`linmeta.sweeping.outfile`; this module decides what
the bytes mean.

Trust rule: an existing file is read, never written, until it is recognised
as a sweep made with the same arguments.  :func:`recognise` checks the header
and *every* complete row (field count, known status, a finite ``mean >= 0``
and ``stderr >= 0`` for ``"ok"`` rows, empty numbers for ``"skipped"`` and
``"error"`` rows, the row's parameters, run count, seed, method, theory and
linmeta version equal to its cell's, and the row's ``digest``).  Anything else
raises :class:`~linmeta.sweeping.SweepArgumentError` naming the file (and the
line), and the file is left byte-identical: an invalid row is refused, not
silently recomputed, because a row that does not read back as written means
something other than this sweep wrote to the file.  A last line without its
newline is cut only if it is provably the beginning of one of this sweep's
rows (a writer killed mid-line); any other unfinished last line (a note added
with ``printf 'note' >> file``) refuses the file.

The ``digest`` column is a SHA-256 fingerprint of the row's cell key, status,
numbers and note.  It catches accidental edits of the numbers (a changed
digit, a value pasted from another row); it is not a signature, and anyone
who means to forge a row can recompute it.

Examples
--------
>>> read_table(b"a,b\n1,0.5\n")["b"].tolist()
[0.5]
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from linmeta._tidy import PROBLEM_COLUMNS, SIMULATION_COLUMNS
from linmeta.sweeping.errors import SweepArgumentError
from linmeta.sweeping.grid import PARAMS

__all__ = ["RESULT_COLUMNS", "STATUSES", "THEORY_COLUMNS", "columns", "read_table", "recognise",
           "Recognised", "row_digest", "error_note", "rows_text", "size_limit", "ordered"]

THEORY_COLUMNS = ("theory_leading", "theory_printed")
#: After the problem columns: the simulation, the theory by approximation, the cell's status and note.
RESULT_COLUMNS = (*SIMULATION_COLUMNS, *THEORY_COLUMNS, "status", "note")
#: ``"ok"``: simulated; ``"skipped"``: an interpolation-threshold cell; ``"error"``: no finite estimate.
STATUSES = ("ok", "skipped", "error")
#: Columns read as text by :func:`read_table` (hexadecimal fingerprints such as ``"0123e456..."``).
TEXT_COLUMNS = ("cell_key", "digest")
_INT_RE = re.compile(r"^-?[0-9]+$")
_NUM_RE = re.compile(r"^[-+0-9.eE]*$")       # the characters of a float as written (partial or whole)
_HEX_RE = re.compile(r"^[0-9a-f]{0,16}$")
_NUMBERS = ("mean", "stderr")
_ERROR = "error: "
_LIMIT_SLACK = 4096                           # bytes per row beyond its known fields: two numbers, a digest, a note


def columns(grid_names: Sequence[str] | None = None) -> list[str]:
    """Return the columns of every sweep table: :func:`linmeta.simulate_curve`'s, then the sweep's own.

    ``grid_names`` does not change them.

    >>> columns()[:2], columns()[14:16], columns()[19:21], columns()[-1]
    (['p', 'm'], ['mean', 'stderr'], ['theory_leading', 'theory_printed'], 'digest')
    """
    return [*PROBLEM_COLUMNS, *RESULT_COLUMNS, "linmeta_version", "cell_key", "digest"]


def read_table(data: bytes | str | os.PathLike) -> pd.DataFrame:
    r"""Parse a CSV file or CSV bytes exactly: every float is parsed by Python's ``float`` (correctly rounded).

    Pandas' fast float parser is not guaranteed to round-trip ``repr`` in the
    last bit (and its ``float_precision`` switch is deprecated), so columns
    are read as text and converted here: integers to ``int``, numbers to
    ``float`` (empty -> NaN), anything else stays text.  The fingerprint
    columns ``cell_key`` and ``digest`` always stay text.

    Parameters
    ----------
    data : bytes, str or os.PathLike
        CSV bytes with a header line, or the path of such a file.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> t = read_table(b"a,b,c\n1,0.1,x\n2,,y\n")
    >>> t["a"].tolist(), t["b"].tolist(), t["c"].tolist()
    ([1, 2], [0.1, nan], ['x', 'y'])

    A path works too:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_bytes(b"m,mean\n10,0.25\n")
    >>> read_table(path)["mean"].tolist(), read_table(str(path))["m"].tolist()
    ([0.25], [10])
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        try:
            path = os.fspath(data)
        except TypeError:
            raise ValueError(f"read_table needs CSV bytes or a path; got {type(data).__name__}") from None
        with open(path, "rb") as f:
            data = f.read()
    raw = pd.read_csv(io.BytesIO(bytes(data)), dtype=str, keep_default_na=False, na_filter=False)
    out = {}
    for col in raw.columns:
        vals = raw[col].tolist()
        if col in TEXT_COLUMNS:
            out[col] = np.array(vals, dtype=object)
            continue
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


def _number_text(v):
    """Return a number as the digest sees it: ``repr(float)``, or ``""`` for a missing one (NaN or empty text)."""
    if isinstance(v, str):
        if v == "":
            return ""
        v = float(v)
    return "" if v is None or math.isnan(v) else repr(float(v))


def row_digest(cell_key, status, mean, stderr, note):
    """Return a 16-hex-digit SHA-256 fingerprint of a row's cell key, status, numbers and note.

    Numbers may be floats or their text (empty or NaN: missing).  It guards
    against accidental edits, not against someone who recomputes it.

    Examples
    --------
    >>> key = "0123abcd0123abcd"
    >>> a = row_digest(key, "ok", 0.5, 0.01, "")
    >>> a == row_digest(key, "ok", "0.5", "0.010", ""), a == row_digest(key, "ok", 0.6, 0.01, "")
    (True, False)
    """
    spec = [cell_key, status, _number_text(mean), _number_text(stderr), note]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def error_note(base, message):
    """Return the note of a cell without a finite estimate: the cell's own note (if any), then ``"error: " + message``.

    Examples
    --------
    >>> error_note("", "the estimate is not finite (mean=inf)")
    'error: the estimate is not finite (mean=inf)'
    """
    message = " ".join(str(message).split())           # one line: a row never spans lines
    return f"{base}; {_ERROR}{message}" if base else f"{_ERROR}{message}"


def rows_text(frame, header=False):
    r"""``frame`` as CSV text, lines ending in ``"\n"`` on every platform (no index).

    Examples
    --------
    >>> rows_text(pd.DataFrame({"a": [1], "b": [0.1]}), header=True)
    'a,b\n1,0.1\n'
    """
    return frame.to_csv(header=header, index=False, lineterminator="\n")


def _render(fields):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _csv_rows(frame):
    rows = list(csv.reader(io.StringIO(rows_text(frame, header=True))))
    return rows[0], rows[1:]


def size_limit(table):
    """Return the most bytes a sweep file of ``table``'s cells can hold; anything larger is not such a sweep."""
    cols, rows = _csv_rows(table)
    return len(_render(cols)) + 1 + sum(len(_render(r)) + 1 + _LIMIT_SLACK for r in rows)


@dataclasses.dataclass
class Recognised:
    """What :func:`recognise` found: ``done`` maps cell keys to their saved rows (text fields)."""

    path: str
    exists: bool
    done: dict
    size: int          # bytes up to the end of the last complete row
    partial: bool      # a partial last row of this sweep follows (to be cut)


def _check_numbers(out, where, row):
    status = row["status"]
    for c in _NUMBERS:
        v = row[c]
        if status != "ok":
            if v != "":
                raise _refuse(out, f"{where}: a row with status {status!r} has {c}={v!r}; expected empty")
            continue
        if c == "stderr" and v == "" and row["n_runs"] == "1":
            continue                                  # one run has no standard error
        try:
            x = float(v)
        except ValueError:
            raise _refuse(out, f"{where}: {c}={v!r} is not a number") from None
        if not math.isfinite(x) or x < 0:
            what = "a loss" if c == "mean" else "a standard error"
            raise _refuse(out, f"{where}: {c}={v!r} must be finite and >= 0 ({what})")


def _check_row(out, n, cols, fields, expected, rekey):
    """Raise unless ``fields`` (line ``n``) is a valid row of this sweep; returns its key."""
    where = f"line {n}"
    if len(fields) != len(cols):
        raise _refuse(out, f"{where} has {len(fields)} fields, the header {len(cols)}")
    row = dict(zip(cols, fields, strict=True))
    status = row["status"]
    if status not in STATUSES:
        raise _refuse(out, f"{where}: status {status!r} is not one of {STATUSES}")
    _check_numbers(out, where, row)
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
        if not detail:                                 # each value is swept, their combination is not a cell
            varying = [c for c in PARAMS if len({r[c] for r in expected.values()}) > 1]
            cell = ", ".join(f"{c}={row[c]}" for c in varying)
            detail.append(f"its cell {cell} is not one of this sweep's cells" if cell else "grid values")
        raise _refuse(out, f"holds a sweep made with different arguments ({'; '.join(detail)}); "
                      "rerun with the original arguments to resume, or choose another file")
    failed = status == "error" and want["status"] == "ok"
    for c in cols:
        if c in _NUMBERS or c == "digest" or row[c] == want[c] or (failed and c == "status"):
            continue
        if failed and c == "note" and row[c].startswith(error_note(want[c], "")) and \
                len(row[c]) > len(error_note(want[c], "")):
            continue
        if c == "linmeta_version":
            raise _refuse(out, f"{where} was made by linmeta {row[c]}, this is {want[c]}; choose another file")
        if c in (*THEORY_COLUMNS, "note"):
            raise _refuse(out, f"{where}: {c}={row[c]!r} differs from this linmeta's {want[c]!r} "
                          f"(cell_key {key}); the row was edited or made by other code")
        raise _refuse(out, f"{where}: cell_key {key!r} does not match the row's parameters "
                      f"({c}={row[c]!r}, the cell has {want[c]!r}); the row was edited")
    if row["digest"] != row_digest(key, status, row["mean"], row["stderr"], row["note"]):
        raise _refuse(out, f"{where}: digest {row['digest']!r} does not match the row's numbers "
                      f"(mean={row['mean']!r}, stderr={row['stderr']!r}); the row was edited")
    return key


def _is_row_start(tail, cols, want):
    """Whether ``tail`` (no newline) is provably the beginning of a row this sweep writes for cell ``want``.

    The row is the cell's known fields, with the two numbers, the digest and
    (for an ``"error"`` row) the note left open.
    """
    fields = [want[c] for c in cols]
    i_mean, i_stderr = cols.index("mean"), cols.index("stderr")
    head = _render(fields[:i_mean]) + ","
    if len(tail) <= len(head):
        return head.startswith(tail)
    if not tail.startswith(head):
        return False
    parts = tail[len(head):].split(",", 2)
    if not all(_NUM_RE.match(p) for p in parts[:2]):
        return False
    if len(parts) < 3:
        return True
    rest, after = parts[2], fields[i_stderr + 1:]
    statuses = [want["status"], "error"] if want["status"] == "ok" else [want["status"]]
    for status in statuses:
        g = [status if c == "status" else f for c, f in zip(cols[i_stderr + 1:], after, strict=False)]
        if status == "error":                          # the note (free text) and what follows are open
            known = _render(g[:cols.index("note") - i_stderr - 1]) + ","
            if known.startswith(rest) or rest.startswith(known):
                return True
            continue
        known = _render(g[:-1]) + ","                  # every field but the digest
        if known.startswith(rest) or (rest.startswith(known) and _HEX_RE.match(rest[len(known):])):
            return True
    return False


def recognise(out, table, rekey, data):
    """Check the bytes of ``out`` (never writing) against this sweep's ``table``.

    Parameters
    ----------
    out : str
        Path (see :func:`linmeta.sweeping.paths.check_out`); named in every message.
    table : pandas.DataFrame
        This sweep's rows with empty ``mean``/``stderr`` (theory, parameters, keys filled in).
    rekey : callable
        ``rekey(row) -> str``: the cell key recomputed from a row's text fields
        (``None`` if they do not parse).
    data : bytes or None
        The file's contents (:meth:`linmeta.sweeping.outfile.OutFile.read`), or
        ``None`` if it does not exist.

    Returns
    -------
    Recognised

    Raises
    ------
    SweepArgumentError
        The file is binary, empty, has other columns or other line endings,
        holds an invalid row (named by line), a sweep made with other
        arguments, or ends with text that is not the start of one of its rows.
    """
    cols, exp_rows = _csv_rows(table)
    expected = {dict(zip(cols, r, strict=True))["cell_key"]: dict(zip(cols, r, strict=True)) for r in exp_rows}
    if data is None:
        return Recognised(out, False, {}, 0, False)
    if not data:
        raise _refuse(out, "is empty, not a linmeta sweep; delete it or choose another file")
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(out, "is a binary file, not a linmeta sweep CSV; choose another file") from None
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]          # tail: "" or an unfinished last line
    header = ",".join(cols)
    first = complete[0] if complete else tail
    if first.rstrip("\r") == header and "\r" in first:
        raise _refuse(out, "has Windows line endings (CRLF); a sweep file ends its lines with LF only: convert it "
                      "back (e.g. dos2unix) or choose another file")
    if first == ",".join(cols[:-1]):
        raise _refuse(out, "was written by an earlier linmeta (no digest column); choose another file")
    if {"theory", "cell_key", "digest"} <= set(first.split(",")):
        raise _refuse(out, "was written by an earlier linmeta (its columns are in the layout before the "
                      "'theory_leading' column); choose another file")
    if not complete or complete[0] != header:
        raise _refuse(out, f"has different columns (not a linmeta sweep; first line {first[:60]!r}); "
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
    if tail and not any(_is_row_start(tail, cols, want) for want in expected.values()):
        raise _refuse(out, f"ends with {tail[:40]!r} (no newline), which is not the start of a row of this sweep; "
                      "remove it or choose another file")
    size = len(data) - len(tail.encode("utf-8"))
    return Recognised(out, True, done, size, bool(tail))


def _split_line(line):
    return next(csv.reader([line]))


def ordered(data, keys_in_order):
    """Return the sweep file ``data`` (bytes) rewritten with one row per key, in ``keys_in_order``.

    Rows are kept as saved, byte for byte (first occurrence of a repeated cell).
    """
    lines = data.decode("utf-8").split("\n")
    header, rows = lines[0], lines[1:-1]
    i_key = _split_line(header).index("cell_key")
    by_key = {}
    for ln in rows:
        by_key.setdefault(_split_line(ln)[i_key], ln)
    return "".join(f"{ln}\n" for ln in [header, *(by_key[k] for k in keys_in_order)]).encode("utf-8")
