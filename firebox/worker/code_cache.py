"""Unpacked deployment packages and layers on this worker, one read-only directory per code digest."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

from firebox.code_signature import SIGNATURE_MEMBER
from firebox.errors import InvalidZipFile
from firebox.store import ZIP_ERRORS, CodeStore, link_target
from firebox.worker.read_only_trees import READ_ONLY_EXEC, READ_ONLY_FILE, ReadOnlyTrees


class CodeCache:
    def __init__(self, code_store: CodeStore, root: Path) -> None:
        self._code_store = code_store
        self._trees = ReadOnlyTrees(root)

    async def unpacked(self, digest: str) -> Path:
        """The directory holding the unpacked package, unpacking it on first use."""
        return await self._trees.get(digest, lambda staging: self._unpack(digest, staging))

    def _unpack(self, digest: str, staging: Path) -> None:
        try:
            with self._code_store.open_verified(digest) as blob, zipfile.ZipFile(blob) as archive:
                links: list[tuple[Path, str]] = []
                for member in archive.infolist():
                    if member.filename == SIGNATURE_MEMBER:
                        continue  # the signature was for the deployment to check: the function has no use for it
                    target = link_target(archive, member)
                    destination = _destination(staging, member.filename)
                    if target is not None:
                        links.append((destination, target))
                    else:
                        _extract_member(archive, member, destination)
                # Symlinks come last, so that nothing is ever written through one; each is then judged on the
                # finished tree, where a chain of them resolves as it will for the function.
                for path, target in links:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(target, path)
                for path, _ in links:
                    if not Path(os.path.realpath(path)).is_relative_to(staging.resolve()):
                        raise InvalidZipFile(f"Zip entry {path.relative_to(staging)} links outside the package")
        except OSError as exc:  # its text would name the worker's own directories: the strerror does not
            raise InvalidZipFile(f"Could not unpack code {digest}: {exc.strerror}") from exc
        except ZIP_ERRORS as exc:
            raise InvalidZipFile(f"Could not unpack code {digest}: {exc}") from exc


def _destination(staging: Path, name: str) -> Path:
    destination = (staging / name).resolve()
    if not destination.is_relative_to(staging.resolve()):
        raise InvalidZipFile(f"Zip entry {name!r} points outside the package")
    return destination


def _extract_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path) -> None:
    if member.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(member) as source, open(destination, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    mode = member.external_attr >> 16
    # Zips made on Unix carry the mode in the high bits; an executable stays executable (a bootstrap).
    executable = bool(mode & stat.S_IXUSR) if stat.S_ISREG(mode) else False
    os.chmod(destination, READ_ONLY_EXEC if executable else READ_ONLY_FILE)
