"""Unpacked deployment packages on this worker, one read-only directory per code digest."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from firebox.errors import InvalidZipFile
from firebox.store import ZIP_ERRORS, CodeStore

_READ_ONLY_FILE = 0o444
_READ_ONLY_EXEC = 0o555


class CodeCache:
    def __init__(self, code_store: CodeStore, root: Path) -> None:
        self._code_store = code_store
        self._root = root
        self._unpacking: dict[str, asyncio.Task[Path]] = {}
        root.mkdir(parents=True, exist_ok=True)

    async def task_root(self, digest: str) -> Path:
        """The directory holding the unpacked code, unpacking it on first use."""
        target = self._root / digest
        if target.is_dir():
            return target
        # Concurrent cold starts of one function share a single unpack.
        task = self._unpacking.get(digest)
        if task is None:
            task = asyncio.create_task(asyncio.to_thread(self._unpack, digest, target), name=f"unpack.{digest[:12]}")
            self._unpacking[digest] = task
            task.add_done_callback(lambda _: self._unpacking.pop(digest, None))
        return await asyncio.shield(task)

    def _unpack(self, digest: str, target: Path) -> Path:
        staging = Path(tempfile.mkdtemp(dir=self._root, prefix=f".{digest[:12]}-"))
        try:
            with zipfile.ZipFile(self._code_store.path(digest)) as archive:
                for member in archive.infolist():
                    _extract_member(archive, member, staging)
            for directory, _, _ in os.walk(staging):
                os.chmod(directory, _READ_ONLY_EXEC)
            os.rename(staging, target)
        except OSError as exc:
            # Another worker process unpacked it first (rename onto a directory that is not empty fails with
            # ENOTEMPTY or EEXIST): same content by construction.
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not target.is_dir():
                raise InvalidZipFile(f"Could not unpack code {digest}: {exc}") from exc
        except ZIP_ERRORS as exc:
            raise InvalidZipFile(f"Could not unpack code {digest}: {exc}") from exc
        finally:
            if staging.exists():
                _remove_read_only_tree(staging)
        return target


def _extract_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, staging: Path) -> None:
    destination = (staging / member.filename).resolve()
    if not destination.is_relative_to(staging.resolve()):
        raise InvalidZipFile(f"Zip entry {member.filename!r} points outside the package")
    if member.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(member) as source, open(destination, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    mode = member.external_attr >> 16
    # Zips made on Unix carry the mode in the high bits; an executable stays executable (a bootstrap).
    executable = bool(mode & stat.S_IXUSR) if stat.S_ISREG(mode) else False
    os.chmod(destination, _READ_ONLY_EXEC if executable else _READ_ONLY_FILE)


def _remove_read_only_tree(path: Path) -> None:
    for directory, _, _ in os.walk(path):
        os.chmod(directory, 0o755)
    shutil.rmtree(path, ignore_errors=True)
