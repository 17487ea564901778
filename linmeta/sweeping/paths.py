"""Which ``out`` paths a sweep can write: a text path in an existing folder, a regular file if it exists."""
from __future__ import annotations

import os

from linmeta.sweeping.errors import SweepArgumentError

__all__ = ["check_out", "file_kind"]

_KINDS = {"S_ISFIFO": "a named pipe (FIFO)", "S_ISCHR": "a character device", "S_ISBLK": "a block device",
          "S_ISSOCK": "a socket", "S_ISDIR": "a folder"}


def file_kind(mode):
    """Return what a ``stat`` mode describes, in words, if it is not a regular file (else ``None``).

    Examples
    --------
    >>> import os
    >>> file_kind(os.stat(".").st_mode)
    'a folder'
    """
    import stat

    for test, words in _KINDS.items():
        if getattr(stat, test)(mode):
            return words
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_out(out):
    """``out`` as a path string if a sweep can use it: a text path, in an existing folder, a regular file if it exists.

    Examples
    --------
    >>> check_out("no/such/folder/s.csv")
    Traceback (most recent call last):
    ...
    linmeta.sweeping.errors.SweepArgumentError: out='no/such/folder/s.csv': folder 'no/such/folder' does not exist
    >>> check_out(b"s.csv")
    Traceback (most recent call last):
    ...
    linmeta.sweeping.errors.SweepArgumentError: out=b's.csv': must be a str or os.PathLike text path, not bytes
    """
    if isinstance(out, (bytes, bytearray)):
        raise SweepArgumentError("out", out, "must be a str or os.PathLike text path, not bytes")
    try:
        out = os.fspath(out)
    except TypeError:
        raise ValueError(f"out must be a path or None; got {type(out).__name__}") from None
    if not isinstance(out, str):
        raise SweepArgumentError("out", out, "must be a str or os.PathLike text path, not bytes")
    if not out:
        raise SweepArgumentError("out", out, "is empty; give a file name")
    target = os.path.realpath(out)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        shown = (os.path.dirname(out) or ".") if target == os.path.abspath(out) else folder
        raise SweepArgumentError("out", out, f"folder {shown!r} does not exist")
    try:
        kind = file_kind(os.stat(target).st_mode)
    except FileNotFoundError:
        kind = None
    except OSError as err:
        raise SweepArgumentError("out", out, f"cannot be read ({err.strerror or err})") from None
    if kind == "a folder":
        raise SweepArgumentError("out", out, "is a folder, not a file")
    if kind is not None:
        raise SweepArgumentError("out", out, f"is {kind}, not a regular file; choose another file; "
                                 "the file was not changed")
    return out
