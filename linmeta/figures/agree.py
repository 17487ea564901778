"""When a regenerated figure table is the same as the one on disk: the cross-machine tolerance.

With one seed the numbers are identical bit for bit on one machine and library
build, whatever the thread count, chunking or scheduler.  Across machines they
are not: OpenBLAS picks its kernels per CPU (``OPENBLAS_CORETYPE`` can force a
choice), and another NumPy, SciPy or OpenBLAS build may sum in another order,
so the last bits of some values move.  :func:`compare_tables` decides whether
two tables differ by more than that:

* every number agrees to a relative :data:`RTOL` (``1e-12``): simulated means
  and standard errors, closed-form theory;
* a figure may loosen named cells (``Figure.tolerances``, keyed by
  ``(kind, column)``, ``kind=None`` for every row) where floating point fixes a
  value less tightly: a rate found by minimisation is determined only to about
  the square root of the machine epsilon times its scale (:data:`MINIMISER_RTOL`
  relative or :data:`MINIMISER_ATOL` absolute, whichever is looser),
  the finite-size theory comes from an iterative solver
  (:data:`ITERATIVE_RTOL`), a residual at rounding level has no relative
  accuracy at all (:data:`ROUNDING_ATOL`);
* everything else (column names and order, row count, text, integers, which
  cells are NaN or infinite) must be equal.

:func:`same_picture` decides the same for a drawing: a PNG with the same pixels,
a PDF with the same drawing (every page and object stream identical; only the
embedded TrueType font programs, which change with the font subsetter's version,
and the byte offsets that follow from them may differ).

Examples
--------
>>> import pandas as pd
>>> old = pd.DataFrame({"kind": ["a", "b"], "mean": [1.0, 2.0]})
>>> compare_tables(old, old.assign(mean=[1.0, 2.0 * (1 + 4e-16)])).same
True
>>> compare_tables(old, old.assign(mean=[1.0, 2.0 * (1 + 1e-9)])).reason
'column mean: 1 values differ by more than the tolerance (largest relative difference 1.0e-09)'
"""
from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass

import matplotlib.image
import numpy as np
import pandas as pd

__all__ = ["RTOL", "MINIMISER_RTOL", "MINIMISER_ATOL", "ITERATIVE_RTOL", "ROUNDING_ATOL", "Agreement",
           "compare_tables", "same_picture"]

#: relative tolerance for every number of a figure table across machines and library builds
RTOL = 1e-12
#: relative and absolute tolerance for a rate found by minimisation, its bootstrap standard error and interval
MINIMISER_RTOL = 1e-5
MINIMISER_ATOL = 1e-6
#: relative tolerance for values from an iterative solver (the finite-size theory) and differences of them
ITERATIVE_RTOL = 1e-10
#: absolute tolerance for residuals at rounding level (e.g. a relative error of 1e-15)
ROUNDING_ATOL = 1e-12


@dataclass(frozen=True)
class Agreement:
    """The verdict of :func:`compare_tables`.

    Attributes
    ----------
    same : bool
        Every cell agrees within its tolerance.
    differing : int
        Float cells that are not bit-identical (within tolerance or not).
    max_rel : float
        Largest relative difference among the cells held to :data:`RTOL` (0 if none differ).
    max_rel_loosened : float
        Largest relative difference among the cells a figure loosens (0 if none differ).
    reason : str
        Why the tables are not the same; empty if they are.
    """

    same: bool
    differing: int
    max_rel: float
    max_rel_loosened: float = 0.0
    reason: str = ""


def _cell_tolerances(table, column, tolerances):
    """Per-row ``(rtol, atol)`` arrays for ``column``: :data:`RTOL`, 0 unless ``tolerances`` loosens a cell."""
    n = len(table)
    rtol, atol = np.full(n, RTOL), np.zeros(n)
    kinds = table["kind"].to_numpy() if "kind" in table.columns else np.full(n, None)
    for (kind, col), (r, a) in tolerances.items():
        if col != column:
            continue
        rows = np.ones(n, bool) if kind is None else kinds == kind
        rtol[rows] = np.maximum(rtol[rows], r)
        atol[rows] = np.maximum(atol[rows], a)
    return rtol, atol


def compare_tables(old: pd.DataFrame, new: pd.DataFrame, tolerances: dict | None = None) -> Agreement:
    """Whether ``new`` is ``old`` up to the cross-machine tolerance.

    Parameters
    ----------
    old, new : pandas.DataFrame
        Figure tables, both as read back from CSV (:func:`linmeta.figures.read_csv`).
    tolerances : dict, optional
        ``{(kind, column): (rtol, atol)}`` loosening cells of rows with that ``kind``
        (``None``: every row); a cell agrees if ``|a - b| <= max(rtol |a|, rtol |b|, atol)``.

    Returns
    -------
    Agreement

    Examples
    --------
    >>> import pandas as pd
    >>> old = pd.DataFrame({"kind": ["grid", "optimum"], "value": [0.5, 0.0912345678]})
    >>> new = old.assign(value=[0.5, 0.0912345679])
    >>> compare_tables(old, new).same, compare_tables(old, new, {("optimum", "value"): (0, 1e-6)}).same
    (False, True)
    """
    tolerances = dict(tolerances or {})
    if list(old.columns) != list(new.columns):
        return Agreement(False, 0, 0.0, 0.0, f"columns differ: {list(old.columns)} vs {list(new.columns)}")
    if len(old) != len(new):
        return Agreement(False, 0, 0.0, 0.0, f"row counts differ: {len(old)} vs {len(new)}")
    differing, max_rel, max_rel_loosened = 0, 0.0, 0.0
    for column in old.columns:
        a, b = old[column], new[column]
        if a.dtype.kind != "f" or b.dtype.kind != "f":
            if a.dtype != b.dtype or not a.equals(b):
                return Agreement(False, differing, max_rel, max_rel_loosened, f"column {column}: values differ")
            continue
        x, y = a.to_numpy(), b.to_numpy()
        finite = np.isfinite(x) & np.isfinite(y)
        if not np.array_equal(x[~finite], y[~finite], equal_nan=True):
            return Agreement(False, differing, max_rel, max_rel_loosened,
                             f"column {column}: NaN or infinite cells differ")
        diff, scale = np.zeros_like(x), np.zeros_like(x)
        diff[finite] = np.abs(x[finite] - y[finite])
        scale[finite] = np.maximum(np.abs(x[finite]), np.abs(y[finite]))
        changed = diff > 0
        if not changed.any():
            continue
        differing += int(changed.sum())
        rel = np.where(changed, diff / np.where(scale > 0, scale, 1.0), 0.0)
        rtol, atol = _cell_tolerances(old, column, tolerances)
        loosened = (rtol > RTOL) | (atol > 0)
        max_rel = max(max_rel, float(rel[~loosened].max(initial=0.0)))
        max_rel_loosened = max(max_rel_loosened, float(rel[loosened].max(initial=0.0)))
        bad = changed & (diff > np.maximum(rtol * scale, atol))
        if bad.any():
            return Agreement(False, differing, max_rel, max_rel_loosened,
                             f"column {column}: {int(bad.sum())} values differ by more than the tolerance "
                             f"(largest relative difference {float(rel[bad].max()):.1e})")
    return Agreement(True, differing, max_rel, max_rel_loosened)


_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_TRUETYPE = (b"\x00\x01\x00\x00", b"true", b"OTTO")


def _pdf_drawing(pdf):
    """Return a PDF without what the font subsetter decides: (object skeleton, streams other than font programs)."""
    streams = []

    def take(match):
        data = match.group(1)
        try:
            data = zlib.decompress(data)
        except zlib.error:
            pass
        if not data.startswith(_TRUETYPE):
            streams.append(data)
        return b"stream endstream"

    skeleton = _STREAM.sub(take, pdf)
    skeleton = skeleton.split(b"\nxref\n")[0]                      # offsets, trailer, startxref
    skeleton = re.sub(rb"/Length1? \d+", b"/Length", skeleton)
    return skeleton, streams


def same_picture(old: bytes, new: bytes, ext: str) -> bool:
    """Whether two PNG or PDF files of one figure show the same picture.

    PNG: the same pixels (the bytes may differ with the compressor).  PDF: the
    same drawing: equal bytes, or equal after dropping the embedded TrueType font
    programs, their lengths and the cross-reference table.

    Examples
    --------
    >>> same_picture(b"%PDF-1.4 a", b"%PDF-1.4 a", "pdf"), same_picture(b"%PDF-1.4 a", b"%PDF-1.4 b", "pdf")
    (True, False)
    """
    if old == new:
        return True
    if ext == "png":
        try:
            a, b = (matplotlib.image.imread(io.BytesIO(x), format="png") for x in (old, new))
        except (OSError, ValueError, SyntaxError):       # not a PNG (Pillow's decoding errors)
            return False
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if ext == "pdf":
        return _pdf_drawing(old) == _pdf_drawing(new)
    raise ValueError(f"ext must be 'png' or 'pdf', got {ext!r}")
