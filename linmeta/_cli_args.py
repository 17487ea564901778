"""Command-line arguments shared by every ``linmeta`` subcommand.

``--set NAME=VALUE`` and ``--grid NAME=SPEC`` parsing, ``--cells FILE.csv`` reading, bounded argparse types,
and the builders :func:`add_command` and :func:`add_problem_arguments` that
give every subcommand the same options, help texts and one-line errors.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import io
import math
import os

import numpy as np

from linmeta import presets
from linmeta.problem import FLOAT_FIELDS, INT_FIELDS, VECTOR_FIELDS, Problem, check_size
from linmeta.sweeping import cell_of, replace_sizes
from linmeta.sweeping.paths import file_kind

__all__ = ["Parser", "UsageError", "parse_set", "read_small_file", "parse_grid", "parse_cells",
           "add_command", "add_problem_arguments", "add_seed", "add_threads", "check_plot_file", "writing", "COUNT",
           "SEED", "POSITIVE", "NON_NEGATIVE", "GRID_POINTS_MAX", "GRID_CELLS_MAX", "CELLS_FILE_MAX"]

_FIELDS = tuple(f for f in Problem.__dataclass_fields__ if f != "tasks")  # a sampler is Python code
#: fields that take a list of numbers (or one number) on the command line
_LIST_FIELDS = (*VECTOR_FIELDS, "input_cov", "task_cov")
#: most values one ``--grid`` may give (checked before they are generated)
GRID_POINTS_MAX = 10_000
#: most cells all ``--grid`` options together may give (the product of their lengths)
GRID_CELLS_MAX = 100_000
#: most bytes a ``--cells`` file may hold (checked before it is read): far more than GRID_CELLS_MAX rows need
CELLS_FILE_MAX = 64 * 2**20


class UsageError(ValueError):
    """Bad command-line input (reported on one line, exit status 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _split(item, flag):
    name, sep, value = item.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise UsageError(f"{flag} {item!r}: expected NAME=VALUE")
    if name not in _FIELDS:
        raise UsageError(f"{flag} {item!r}: unknown Problem field {name!r}; valid: {', '.join(_FIELDS)}")
    return name, value


def _scalar(name, text, flag):
    try:
        if name in INT_FIELDS:
            x = float(text)
            if not x.is_integer():
                raise ValueError
            return int(x)
        if name in ("lam", "sigma", "nu") and text.lower() == "none":
            return None
        if name in FLOAT_FIELDS:
            x = float(text)
            if not math.isfinite(x):
                raise ValueError
            return x
    except ValueError:
        kind = "an integer" if name in INT_FIELDS else "a finite real number"
        raise UsageError(f"{flag} {name}={text}: {name} must be {kind}; got {text!r}") from None
    return text  # algorithm: Problem validates the choice


def parse_set(items, prob):
    """Apply ``NAME=VALUE`` strings to ``prob``; returns a validated Problem.

    Examples
    --------
    >>> import linmeta as lm
    >>> parse_set(["alpha_t=-0.5", "m=10"], lm.presets.FIG3).m
    10
    >>> parse_set(["p=20", "w0=0.5"], lm.presets.FIG3).w0[:2]
    array([0.5, 0.5])
    """
    scalars, vectors = {}, {}
    for item in items or ():
        name, value = _split(item, "--set")
        if name in scalars or name in vectors:
            raise UsageError(f"--set {item!r}: {name} is given twice")
        if name in _LIST_FIELDS:
            vectors[name] = value
        else:
            scalars[name] = _scalar(name, value, "--set")
    if "p" in scalars:  # before replace_sizes builds vectors of the new length
        check_size(scalars["p"])
    sizes = {k: v for k, v in scalars.items() if k in INT_FIELDS}
    prob = replace_sizes(prob, **sizes)
    changes = {k: v for k, v in scalars.items() if k not in INT_FIELDS}
    for name, text in vectors.items():
        if text.lower() == "none":
            changes[name] = None
            continue
        try:
            vals = [float(v) for v in text.split(",")]
        except ValueError:
            raise UsageError(f"--set {name}={text}: {name} must be one number (a constant vector), "
                             f"{prob.p} comma-separated numbers, or none") from None
        if name == "input_cov" and len(vals) == 1:
            changes[name] = vals[0]                      # c I
        else:
            changes[name] = np.full(prob.p, vals[0]) if len(vals) == 1 else np.array(vals)
    return prob.replace(**changes) if changes else prob


def parse_grid(items):
    """``["alpha_t=-2:1:25", "m=10,40"]`` -> ``{"alpha_t": [...25 values], "m": [10, 40]}``.

    Examples
    --------
    >>> parse_grid(["alpha_t=-1:1:3", "m=10,40"])
    {'alpha_t': [-1.0, 0.0, 1.0], 'm': [10, 40]}
    """
    grid = {}
    for item in items or ():
        name, value = _split(item, "--grid")
        if name in VECTOR_FIELDS:
            raise UsageError(f"--grid {item!r}: {name} cannot be swept from the command line")
        if name in grid:
            raise UsageError(f"--grid {item!r}: {name} is given twice")
        if ":" in value:
            parts = value.split(":")
            if len(parts) != 3:
                raise UsageError(f"--grid {item!r}: expected {name}=START:STOP:NUM")
            start, stop = (_scalar("alpha_t", v, "--grid") for v in parts[:2])
            num = _scalar("n_t", parts[2], "--grid")
            if not 1 <= num <= GRID_POINTS_MAX:
                raise UsageError(f"--grid {item!r}: NUM must be an integer >= 1 and <= {GRID_POINTS_MAX}; got {num}")
            vals = [float(v) for v in np.round(np.linspace(start, stop, num), 12)]
            if name in INT_FIELDS:
                if not all(float(v).is_integer() for v in vals):
                    raise UsageError(f"--grid {item!r}: {name} must be integers; the linspace gives {vals}")
                vals = [int(v) for v in vals]
            elif name not in FLOAT_FIELDS:
                raise UsageError(f"--grid {item!r}: {name} is not numeric; list the values instead")
        else:
            if value.count(",") >= GRID_POINTS_MAX:
                raise UsageError(f"--grid {name}=...: at most {GRID_POINTS_MAX} values; got {value.count(',') + 1}")
            vals = [_scalar(name, v.strip(), "--grid") for v in value.split(",")]
        if name == "p":  # before any cell builds vectors of length p
            for v in vals:
                check_size(v)
        grid[name] = vals
    cells = math.prod(len(v) for v in grid.values())
    if cells > GRID_CELLS_MAX:
        raise UsageError(f"--grid: {' x '.join(str(len(v)) for v in grid.values())} = {cells} cells; "
                         f"at most {GRID_CELLS_MAX} allowed")
    return grid


def read_small_file(path, where, limit, why):
    """Return the bytes of the regular file ``path``, refused (:class:`UsageError`) above ``limit`` bytes.

    A FIFO, a device or a folder is refused before it is opened (reading one could block); ``why``
    ends the message of a file that is too large.
    """
    try:
        kind = file_kind(os.stat(path).st_mode)
    except OSError as err:
        raise UsageError(f"{where}: cannot be read ({err.strerror or err})") from None
    if kind is not None:
        raise UsageError(f"{where}: is {kind}, not a regular file")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as err:
        raise UsageError(f"{where}: cannot be read ({err.strerror or err})") from None
    if len(data) > limit:
        raise UsageError(f"{where}: more than {limit} bytes; {why}")
    return data


def _cells_text(path, where):
    """Return the text of a ``--cells`` file: a regular file, at most :data:`CELLS_FILE_MAX` bytes, UTF-8, no NUL."""
    data = read_small_file(path, where, CELLS_FILE_MAX,
                           f"a cells file holds at most {GRID_CELLS_MAX} cells of a few numbers each")
    try:
        text = data.decode("utf-8-sig")                   # a byte-order mark (spreadsheet export) is allowed
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise UsageError(f"{where} line {line}: not UTF-8 text (byte {err.start}); expected a CSV file") from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise UsageError(f"{where} line {line}: a NUL byte; expected a CSV text file")
    return text


def _cells_header(header, where):
    names = [h.strip() for h in header]
    for name in names:
        if name not in _FIELDS:
            raise UsageError(f"{where} line 1: unknown Problem field {name!r} in the header; "
                             f"valid: {', '.join(_FIELDS)}")
        if name in VECTOR_FIELDS:
            raise UsageError(f"{where} line 1: {name} cannot be swept from the command line")
        if names.count(name) > 1:
            raise UsageError(f"{where} line 1: {name} is named twice in the header")
    return names


def parse_cells(path, prob):
    r"""Read a ``--cells`` CSV file: a header line naming the fields, then one cell per line.

    Each value is parsed as a ``--grid`` value (a number; ``lam`` may be
    ``none``, ``algorithm`` is text; nothing is evaluated) and each cell is
    checked against ``prob``.  Blank lines are skipped.  A malformed file
    (unreadable, not UTF-8 text, an unknown or repeated field, a line with
    another number of values than the header, a bad value, a repeated cell, no
    cell, more than :data:`GRID_CELLS_MAX` cells) raises :class:`UsageError`
    naming the file, the line and the problem.

    Parameters
    ----------
    path : str
    prob : Problem
        The base problem the cells change.

    Returns
    -------
    list of dict
        ``[{field: value}, ...]`` in file order, as :func:`linmeta.sweep` takes it.

    Examples
    --------
    >>> import pathlib, tempfile, linmeta as lm
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cells.csv"
    >>> _ = path.write_text("m,n_t,n_v\n10,5,5\n5,10,10\n")
    >>> parse_cells(path, lm.presets.FIG3)
    [{'m': 10, 'n_t': 5, 'n_v': 5}, {'m': 5, 'n_t': 10, 'n_v': 10}]
    >>> _ = path.write_text("m,n_t\n10,5\n5\n")
    >>> parse_cells(path, lm.presets.FIG3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    linmeta._cli_args.UsageError: --cells .../cells.csv line 3: 1 values, the header names 2 fields (m, n_t)
    """
    where = f"--cells {path}"
    reader = csv.reader(io.StringIO(_cells_text(path, where), newline=""), strict=True)
    cells, seen, n = [], {}, 1
    try:
        header = next(reader, None)
        if header is None or not "".join(header).strip():
            raise UsageError(f"{where} line 1: no header; expected a header line naming the fields (e.g. m,n_t,n_v), "
                             "then one cell per line")
        names = _cells_header(header, where)
        for row in reader:
            n = reader.line_num
            if not row:
                continue
            if len(row) != len(names):
                raise UsageError(f"{where} line {n}: {len(row)} values, the header names {len(names)} fields "
                                 f"({', '.join(names)})")
            if len(cells) == GRID_CELLS_MAX:
                raise UsageError(f"{where} line {n}: more than {GRID_CELLS_MAX} cells; at most {GRID_CELLS_MAX} "
                                 "allowed")
            cell = {name: _scalar(name, v.strip(), f"{where} line {n}:") for name, v in zip(names, row, strict=True)}
            key = tuple(repr(v) for v in cell.values())
            if key in seen:
                raise UsageError(f"{where} line {n}: repeats the cell of line {seen[key]} "
                                 f"({', '.join(f'{k}={v}' for k, v in cell.items())}); give each cell once")
            try:
                cell_of(prob, cell)
            except ValueError as err:
                raise UsageError(f"{where} line {n}: {err}") from None
            seen[key] = n
            cells.append(cell)
    except csv.Error as err:
        raise UsageError(f"{where} line {reader.line_num}: not a CSV row ({err})") from None
    if not cells:
        raise UsageError(f"{where}: no cells; expected a header line naming the fields, then one cell per line")
    return cells


def check_plot_file(path, option="--plot"):
    """Refuse a figure file matplotlib cannot write, before any work: unknown format or missing folder.

    The format is the file's extension (none: PNG).

    Examples
    --------
    >>> check_plot_file("check.png")
    >>> check_plot_file("check.xyz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    linmeta._cli_args.UsageError: --plot check.xyz: unknown format 'xyz'; known: ...
    """
    from matplotlib.figure import Figure  # noqa: PLC0415  (only the commands that plot need it)

    known = sorted(Figure().canvas.get_supported_filetypes())
    ext = os.path.splitext(os.fspath(path))[1][1:].lower()
    if ext and ext not in known:
        raise UsageError(f"{option} {path}: unknown format {ext!r}; known: {', '.join(known)}")
    folder = os.path.dirname(os.fspath(path)) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder, not a file")


#: errors of a write, reported against the output option even when they name no file (EFBIG, ENOSPC, ...)
_WRITE_ERRNOS = {getattr(errno, n) for n in ("EFBIG", "ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO",
                                             "EISDIR", "ENOTDIR", "EEXIST", "ENAMETOOLONG") if hasattr(errno, n)}


def _inside(name, root):
    name = os.path.abspath(os.fspath(name))
    return name == root or os.path.commonpath([name, root]) == root


@contextlib.contextmanager
def writing(option, path):
    """Report a failed write of the output named by ``option`` as ``option path: cause`` (a ``UsageError``).

    Catches an ``OSError`` about ``path`` (or a file under it, for a folder),
    or a write error that names no file (``EFBIG``, ``ENOSPC``, ...); any
    other error propagates unchanged.

    Examples
    --------
    >>> with writing("--out", "s.csv"):
    ...     raise OSError(27, "File too large")
    Traceback (most recent call last):
    ...
    linmeta._cli_args.UsageError: --out s.csv: File too large
    """
    try:
        yield
    except OSError as err:
        root = os.path.abspath(os.fspath(path))
        name = err.filename
        if not (_inside(name, root) if name is not None else err.errno in _WRITE_ERRNOS):
            raise
        where = "" if name is None or os.path.abspath(os.fspath(name)) == root else f" {name}:"
        raise UsageError(f"{option} {path}:{where} {err.strerror or err}") from err


def _bounded(kind, low, *, strict=False):
    """Return an argparse ``type``: parse ``kind`` and require ``> low`` (strict) or ``>= low``, finite."""
    rule = f"must be {'an integer' if kind is int else 'a number'} {'>' if strict else '>='} {low}"

    def parse(text):
        try:
            x = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{rule}; got {text!r}") from None
        if not (math.isfinite(x) and (x > low if strict else x >= low)):
            raise argparse.ArgumentTypeError(f"{rule}; got {x if kind is int else repr(text)}")
        return x

    return parse


COUNT = _bounded(int, 1)              #: argparse type: an integer >= 1 (runs, workers, threads)
SEED = _bounded(int, 0)               #: argparse type: an integer >= 0
POSITIVE = _bounded(float, 0, strict=True)  #: argparse type: a finite number > 0
NON_NEGATIVE = _bounded(float, 0)          #: argparse type: a finite number >= 0


def add_command(sub, name, *, help, description, examples, func):
    """Add subcommand ``name`` to ``sub`` with one-line ``help``, ``description``, an examples epilog and ``func``.

    ``func(args) -> int`` runs the command; a ``ValueError`` it raises is
    printed on one line with exit status 2.  Returns the new parser, to
    which the caller adds its options (each with ``help=``).
    """
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    p = sub.add_parser(name, help=help, description=description, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p


def add_problem_arguments(p):
    """``--preset`` and ``--set``: the problem a command works on."""
    p.add_argument("--preset", choices=sorted(presets.PRESETS), default="fig3",
                   help="base problem: the parameter set of a paper figure (default: %(default)s)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                   help="change one Problem field, e.g. alpha_t=-0.5, w0=0.2 (a constant vector), input_cov=0.5,1,2 "
                        "or nu=none with task_cov=...; repeatable")
    p.add_argument("--mixture", metavar="FILE.json", default=None,
                   help='a mixture of task families: {"components": [{"weight": w, "set": {field: value}}, ...]}, '
                        "each component the problem of --preset/--set with its own changes")


def add_seed(p):
    p.add_argument("--seed", type=SEED, default=0,
                   help="random seed (integer >= 0); fixes every printed number (default: %(default)s)")


def add_threads(p, where, default="all cores"):
    p.add_argument("--threads", type=COUNT, default=None, metavar="N",
                   help=f"Numba threads {where}; the numbers do not depend on it (default: {default})")
