"""Crash-safe files for tinydb: a write goes to a temp file, is fsynced and renamed over the target.

A reader (or a process started after ``kill -9``) sees either the previous complete file or the
new complete file, never a torn one. Leftover temp files are named ``.<name>.<pid>.<n>.tmp``:
they never end in ``.json`` and ``clean_temp_files`` removes them when a store opens.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Any

import orjson
from tinydb.storages import Storage

TEMP_SUFFIX = ".tmp"
FILE_MODE = 0o600  # memory holds conversations and audit trails: owner-only

_counter = itertools.count()


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make renames and deletions inside ``directory`` durable (fsync of the directory itself)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: str, flags: int) -> int:
    return os.open(path, flags, FILE_MODE)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``path`` by ``data`` atomically: temp file in the same directory, fsync, rename."""
    target = os.fspath(path)
    directory, name = os.path.split(target)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{next(_counter)}{TEMP_SUFFIX}")
    try:
        with open(tmp, "xb", opener=_create) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(directory or ".")


def read_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """Return the file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def is_temp_name(name: str) -> bool:
    """Tell whether ``name`` is a temp file left by ``atomic_write``."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def clean_temp_files(directory: str | os.PathLike[str], prefix: str = ".") -> int:
    """Delete leftover temp files (from a crash mid-write) in ``directory``; return how many."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if is_temp_name(entry.name) and entry.name.startswith(prefix) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed


class AtomicJSONStorage(Storage):
    """A tinydb storage that writes with ``atomic_write`` (orjson) and reads a missing file as empty.

    The files it writes are plain tinydb JSON: ``tinydb.TinyDB(path)`` opens them as well.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        create_dirs: bool = False,
        access_mode: str = "r+",
        sync_dir: bool = True,
        **_: Any,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self._writable = access_mode != "r"
        self._sync_dir = sync_dir
        if create_dirs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._writable:
            clean_temp_files(self.path.parent, prefix=f".{self.path.name}.")

    def read(self) -> dict[str, dict[str, Any]] | None:
        """Return the stored tables, or None for a missing or empty file."""
        raw = read_bytes(self.path)
        if not raw:
            return None
        data: dict[str, dict[str, Any]] = orjson.loads(raw)
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        """Serialise ``data`` and replace the file atomically."""
        if not self._writable:
            raise OSError(f"{self.path} is opened read-only")
        atomic_write(self.path, orjson.dumps(data), sync_dir=self._sync_dir)
