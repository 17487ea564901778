r"""The sweep's output file on disk: locked for the whole run, checked before every write, rewritten atomically.

:class:`OutFile` owns every system call on ``out``:

* a symbolic link is followed once, at the start; the target is locked,
  read and written, and the final rewrite replaces the target (the link
  stays a link);
* only a regular file is opened (a FIFO, a device or a socket is refused
  before it is opened), and at most :func:`linmeta.sweeping.table.size_limit`
  bytes are read before the file is recognised;
* an exclusive lock (``fcntl.flock`` on the file itself, released by the
  system when the process ends, even when killed) refuses a second sweep on
  the same file; on a system without ``fcntl`` (Windows) no lock is taken;
* before every write, the path's file (device, inode, size, modification
  time) is compared with what this sweep last wrote or read; a file
  replaced, deleted or changed by another program stops the sweep, and
  nothing is written into the other file;
* the final rewrite goes through a temporary file beside the target, given
  the target's permission bits, then ``os.replace``; a new file gets the
  permissions ``open()`` would give it (``0o666`` less the umask).

Every failure is a :class:`~linmeta.sweeping.SweepArgumentError` naming ``out``.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "s.csv")
>>> f = OutFile(path)
>>> f.read(1000) is None                      # no file yet
True
>>> f.create("a,b\n"); f.append("2,1\n"); f.append("1,2\n")
>>> f.finalise(b"a,b\n1,2\n2,1\n")            # rows in order: an atomic rewrite
b'a,b\n1,2\n2,1\n'
>>> f.close()
>>> g = OutFile(path); g.read(1000)
b'a,b\n1,2\n2,1\n'
>>> g.close()
"""
from __future__ import annotations

import dataclasses
import os
import stat
import tempfile

from linmeta.sweeping.errors import SweepArgumentError
from linmeta.sweeping.paths import file_kind

try:
    import fcntl
except ImportError:             # Windows: no advisory locks
    fcntl = None

__all__ = ["OutFile"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _pread(fd, n, pos):
    if hasattr(os, "pread"):
        return os.pread(fd, n, pos)
    os.lseek(fd, pos, os.SEEK_SET)
    return os.read(fd, n)


def _pwrite(fd, data, pos):
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, pos)
    os.lseek(fd, pos, os.SEEK_SET)
    return os.write(fd, data)


@dataclasses.dataclass(frozen=True)
class _Identity:
    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st):
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class OutFile:
    """The output file of one sweep (see the module docstring); ``close()`` releases it."""

    def __init__(self, path):
        self.path = path                            # as given: named in messages
        self.target = os.path.realpath(path)        # a link is followed once, here
        self.fd = None                              # holds the lock
        self.wfd = None                             # for writing, opened at the first write
        self.seen = None                            # _Identity after this sweep's last read or write

    def _error(self, cause):
        return SweepArgumentError("out", self.path, cause)

    def _lock(self, fd):
        if fcntl is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._error("is in use by another sweep (locked); wait for it to finish or choose another file") \
                from None
        except OSError as err:                      # a file system without locks: no way to keep others out
            os.close(fd)
            raise self._error(f"cannot be locked ({err.strerror or err}); choose a file on another file system") \
                from None

    def _open_existing(self):
        """Return a locked descriptor of the file now at the target, or ``None`` if there is none."""
        for _ in range(5):                          # the file may be replaced between open and lock
            try:
                kind = file_kind(os.stat(self.target).st_mode)
                if kind is not None:
                    raise self._error(f"is {kind}, not a regular file; choose another file; the file was not changed")
                fd = os.open(self.target, os.O_RDONLY | _CLOEXEC | _NONBLOCK)
            except FileNotFoundError:
                return None
            except OSError as err:
                raise self._error(f"cannot be read ({err.strerror or err})") from None
            if file_kind(os.fstat(fd).st_mode) is not None:
                os.close(fd)
                continue
            self._lock(fd)
            try:
                same = _Identity.of(os.stat(self.target)).ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)
        raise self._error("keeps being replaced by another program; choose another file")

    def read(self, limit):
        """Lock the file and return its bytes (at most ``limit``), or ``None`` if it does not exist."""
        fd = self._open_existing()
        if fd is None:
            return None
        self.fd = fd
        size = os.fstat(fd).st_size
        if size > limit:
            raise self._error(f"holds {size} bytes, more than a sweep of these cells can ({limit}); it is not this "
                              "sweep; choose another file; the file was not changed")
        chunks, got = [], 0
        while got <= limit:
            try:
                chunk = _pread(fd, min(1 << 20, limit + 1 - got), got)
            except OSError as err:
                raise self._error(f"cannot be read ({err.strerror or err})") from None
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise self._error(f"grew beyond the most a sweep of these cells can hold ({limit} bytes) while it was "
                              "read; choose another file; the file was not changed")
        self.seen = _Identity.of(os.fstat(fd))
        return b"".join(chunks)

    def check(self):
        """Raise unless the path still holds the file this sweep last read or wrote, unchanged.

        The path must name the same file (device and inode, by ``lstat``), and
        that file must have the size and modification time this sweep left
        (by ``fstat`` of the locked descriptor: on a network file system the
        path's cached attributes may lag behind this process's own writes).
        """
        try:
            at_path = os.lstat(self.target)
        except FileNotFoundError:
            raise self._error("was deleted while the sweep ran; the sweep stopped and wrote nothing more "
                              "(rerun the same command to start again)") from None
        if (at_path.st_dev, at_path.st_ino) != (self.seen.dev, self.seen.ino):
            raise self._error("was replaced or moved by another program while the sweep ran; the sweep stopped "
                              "and did not write to the file now at this path")
        now = _Identity.of(os.fstat(self.fd))
        if now != self.seen:
            raise self._error(f"was changed by another program while the sweep ran (size {now.size} bytes, "
                              f"this sweep left {self.seen.size}); the sweep stopped and did not write to it")

    def _writer(self):
        """Return the descriptor to write with (after :meth:`check`), opened on the checked file at the first write."""
        self.check()
        if self.wfd is None:
            try:
                fd = os.open(self.target, os.O_WRONLY | _CLOEXEC | _NONBLOCK)
            except OSError as err:
                raise self._error(f"cannot be written ({err.strerror or err}); the file was not changed") from None
            if os.fstat(fd).st_ino != self.seen.ino:
                os.close(fd)
                self.check()
                raise self._error("was replaced or moved by another program while the sweep ran")
            self.wfd = fd
        return self.wfd

    def _written(self):
        os.fsync(self.wfd)
        self.seen = _Identity.of(os.fstat(self.wfd))

    def _write(self, data):
        """Write ``data`` at this sweep's end of the file, after :meth:`check`; synced to disk."""
        fd = self._writer()
        pos = self.seen.size
        try:
            view = memoryview(data)
            while view:
                n = _pwrite(fd, view, pos)
                view, pos = view[n:], pos + n
            self._written()
        except OSError as err:            # a full disk, a file-size limit: the rows so far are kept
            raise self._error(err.strerror or str(err)) from None

    def create(self, header):
        """Create the file (it must still be absent) with the ``header`` line, and lock it."""
        try:
            fd = os.open(self.target, os.O_RDWR | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o666)
        except FileExistsError:
            raise self._error("was created by another program after this sweep started; choose another file; the "
                              "file was not changed") from None
        except OSError as err:
            raise self._error(f"cannot be created ({err.strerror or err})") from None
        self._lock(fd)
        self.fd, self.wfd = fd, os.dup(fd)
        self.seen = _Identity.of(os.fstat(fd))
        self._write(header.encode("utf-8"))

    def cut(self, size):
        """Cut the file to ``size`` bytes (a partial last row of this sweep)."""
        fd = self._writer()
        try:
            os.ftruncate(fd, size)
            self._written()
        except OSError as err:
            raise self._error(f"cannot be written ({err.strerror or err})") from None

    def append(self, text):
        """Append ``text`` (whole rows), flushed and synced to disk."""
        self._write(text.encode("utf-8"))

    def contents(self):
        """Return the file's bytes as this sweep left them (after :meth:`check`)."""
        self.check()
        return _pread(self.fd, self.seen.size, 0)

    def finalise(self, data):
        """Make the file hold exactly ``data``: unchanged if it does, else an atomic rewrite; returns ``data``."""
        if self.contents() == data:
            return data
        mode = stat.S_IMODE(os.fstat(self.fd).st_mode)
        folder, name = os.path.split(self.target)
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        except OSError as err:
            raise self._error(f"cannot be rewritten ({err.strerror or err})") from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:
                os.chmod(tmp, mode)
            os.fsync(fd)
            self._lock(fd)                          # the new file is locked before it takes the name
            self.check()
            if fcntl is None:                       # Windows renames no file that is open (and has no lock)
                self.close()
                os.close(fd)
                fd = None
            os.replace(tmp, self.target)            # atomic: the old file or the finished one
        except BaseException as err:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(err, OSError):
                raise self._error(f"cannot be rewritten ({err.strerror or err})") from None
            raise
        self.close()
        self.fd = fd
        self.seen = _Identity.of(os.fstat(fd)) if fd is not None else None
        return data

    def close(self):
        """Release the lock (and the file)."""
        for name in ("wfd", "fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
