"""The file-system mechanics of a vCard folder: reading a file with the stat of exactly the
bytes read, writing a new file without ever leaving half of it under its name, replacing a
file atomically unless it changed, and flushing a batch of writes to disk.

The version of a record is its file's ``mtime_ns-size-inode`` (``file_version``). Writes never
leave a half-written file: the new content goes to a hidden temporary file in the same
folder that then replaces the target (``os.replace``), or is hard-linked to a new name
(which fails, rather than overwrites, if the name was taken meanwhile); on Linux a new
file is an unnamed ``O_TMPFILE`` linked under its name once written. A file that changed
since the hub read it is refused (``StaleVersionError``), never overwritten.

Durability (``fsync``, default true): a process killed at any moment never leaves a
half-written file whatever the setting (the atomic rename and link do that). Surviving a
power cut or an OS crash needs the data on disk before the hub records the write; rather
than one ``fsync`` per file (milliseconds each on a disk: minutes for a big first copy),
each ``write`` call flushes the folder's file system once (``syncfs``) before it returns its
results, so one flush covers a whole batch. ``fsync = false`` skips it, as vdirsyncer does.

Separate from ``vcard_dir.py`` (the connector: settings, scan, pull, records, write ops)
because this is the one place that knows about file descriptors, flags, links and flushes.
It is a mixin of the connector rather than functions taking it so the per-file calls of a
first sync (``self._read``, ``self._write_new``) stay plain method calls, with no new layer.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
import uuid
from pathlib import Path

from contacthub.connectors.base import WriteResult
from contacthub.connectors.card_source import file_version as file_version
from contacthub.connectors.card_source import too_big
from contacthub.errors import RecordError, RecordNotFoundError, StaleVersionError

_BINARY = getattr(os, "O_BINARY", 0)
_READ_FLAGS = os.O_RDONLY | _BINARY
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY
#: an unnamed file in a folder, linked under its name once written (Linux 3.11+)
_TMPFILE = getattr(os, "O_TMPFILE", 0)
_TMPFILE_FLAGS = _TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)


_SYNCFS: list[object] = []  # memo of libc's syncfs, or None where there is none


def _syncfs(fd: int) -> bool:
    """Flush the file system holding ``fd`` (Linux ``syncfs``); False where unavailable."""
    if not _SYNCFS:
        try:
            _SYNCFS.append(ctypes.CDLL(None, use_errno=True).syncfs)
        except (AttributeError, OSError, TypeError):
            _SYNCFS.append(None)
    func = _SYNCFS[0]
    if func is None:
        return False
    if func(fd) != 0:  # type: ignore[operator]
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return True


def link_target(link: str | Path) -> str:
    """What a link names, for messages."""
    try:
        return repr(os.readlink(link))
    except OSError:
        return "a target that cannot be read"


class VCardFiles:
    """The file operations of ``VCardDirConnector`` (its mixin): what they need of it is the
    folder, the connector's name for errors, and the two switches below, which its
    ``__init__`` sets."""

    name: str
    root: Path
    #: fsync every file: where the file system cannot be synced
    _sync_each: bool
    #: new files via O_TMPFILE + link (off once the kernel, file system or /proc refuses)
    _tmpfile: bool
    #: the largest file read, in bytes (``max_card_mb``)
    max_card: int

    def _refuse_big(self, st: os.stat_result, path: Path, done: str = "not read") -> None:
        """A ``RecordError`` for a file over ``max_card``, before anything of it is read;
        ``done``, what did not happen to it ("not deleted": a deletion that waits)."""
        why = too_big(st.st_size, self.max_card, done)
        if why is not None:
            raise RecordError(why, str(path), self.name)

    def _read(self, path: Path) -> tuple[bytes, os.stat_result]:
        """The bytes of a file and the stat of exactly those bytes: re-read if the file
        changed while it was read, so a record's version never runs ahead of its fields.
        A file over ``max_card`` is a ``RecordError``, unread (one that grew since the
        folder's listing, or one read to be written or for ``get``)."""
        for _attempt in range(3):
            try:
                fd = os.open(path, _READ_FLAGS)
            except (FileNotFoundError, NotADirectoryError):
                if os.path.islink(path):
                    # a link to a card on a disk not mounted now: the card is there, unread
                    # (taken for gone, a write of it made a second card beside the link)
                    message = f"cannot read: a link to {link_target(path)} (No such file)"
                    raise RecordError(message, str(path), self.name) from None
                raise RecordNotFoundError("no such file", str(path), self.name) from None
            try:
                before = os.fstat(fd)
                self._refuse_big(before, path)
                size = before.st_size
                data = os.read(fd, size + 1)  # one call for a whole card; +1 sees growth
                if len(data) > size:
                    chunks = [data]
                    read = len(data)
                    while chunk := os.read(fd, 1 << 20):
                        chunks.append(chunk)
                        read += len(chunk)
                        if read > self.max_card:  # growing while read: not past the limit
                            raise RecordError(too_big(read, self.max_card) or "", str(path), self.name)
                    data = b"".join(chunks)
                after = os.fstat(fd)
            finally:
                os.close(fd)
            if (
                (before.st_mtime_ns, before.st_size)
                == (after.st_mtime_ns, after.st_size)
                == (
                    before.st_mtime_ns,
                    len(data),
                )
            ):
                return data, after
        return data, before  # still changing: an older version only means a re-read later

    def _flush(self, results: list[WriteResult], dir_fd: int | None) -> None:
        """Flush the folder's file system once for a batch of writes (see the module docstring)."""
        try:
            synced = dir_fd is not None and _syncfs(dir_fd)
        except OSError:
            synced = False
        if synced:
            return
        if hasattr(os, "sync"):
            os.sync()
            return
        self._sync_each = True  # no way to flush a whole file system: fsync each file from now on
        for result in results:
            if result.error is None and result.native_id and result.op.kind != "delete":
                try:
                    fd = os.open(self.root / result.native_id, os.O_RDONLY | _BINARY)
                except OSError:
                    continue
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def _temp(self, path: Path, data: bytes, mode: int = 0o666) -> tuple[Path, os.stat_result]:
        """A hidden temporary file next to ``path`` holding ``data`` (ignored by listings),
        and its stat once written."""
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        fd = os.open(temp, _WRITE_FLAGS, mode)
        try:
            st = self._fill(fd, data)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return temp, st

    def _write_new(self, name: str, data: bytes, dir_fd: int | None = None) -> os.stat_result:
        """Write a new file ``name`` in the folder; ``FileExistsError`` if the name is taken
        (never overwrite), and never a partly written file under that name.

        Where the file system allows (Linux, ``O_TMPFILE``), the data goes to an unnamed
        file in the folder that is then linked under its name: open, write, fstat, link,
        close. Elsewhere to a hidden temporary file that is hard-linked, then unlinked."""
        if dir_fd is not None and self._tmpfile:
            try:
                fd = os.open(".", _TMPFILE_FLAGS, 0o666, dir_fd=dir_fd)
            except OSError:
                self._tmpfile = False  # not supported by this kernel or file system
            else:
                try:
                    st = self._fill(fd, data)
                    try:
                        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
                    except FileExistsError:
                        raise
                    except OSError:  # no /proc, or no links here: the temporary file way
                        self._tmpfile = False
                    else:
                        return st  # a link keeps the inode's mtime and size: ``st`` stays right
                finally:
                    os.close(fd)
        path = self.root / name
        temp, st = self._temp(path, data)
        try:
            os.link(temp, path)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (some network or FUSE file systems)
            fd = os.open(path, _WRITE_FLAGS)
            with open(fd, "wb") as handle:
                handle.write(data)
            st = os.stat(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return st

    def _fill(self, fd: int, data: bytes) -> os.stat_result:
        """Write ``data`` to a new file's ``fd``; its stat once written."""
        written = os.write(fd, data)
        if written < len(data):
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(fd, view) :]
        if self._sync_each:
            os.fsync(fd)
        return os.fstat(fd)

    def _replace(self, path: Path, data: bytes, old: os.stat_result) -> os.stat_result:
        """Atomically replace ``path``, refusing if it changed since ``old`` was taken. A
        symlink to a card kept elsewhere is written through: the card it names is replaced
        and the link stays (replaced itself, the card there kept the old data)."""
        if path.is_symlink():
            path = Path(os.path.realpath(path))
        temp, new = self._temp(path, data, stat.S_IMODE(old.st_mode))
        try:
            if (new.st_mtime_ns, new.st_size) == (old.st_mtime_ns, old.st_size):
                # same size within one clock tick: the version must still change
                os.utime(temp, ns=(new.st_atime_ns, old.st_mtime_ns + 1))
                new = os.stat(temp)
            current = os.stat(path)
            if file_version(current) != file_version(old):
                raise StaleVersionError("changed while being written", str(path), self.name)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return new
