"""The content-addressed code store: each deployment package is kept once, named by its SHA-256."""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from firebox.errors import InvalidZipFile, ResourceNotFound
from firebox.store.files import write_whole
from firebox.store.package_tree import check_layout
from firebox.store.records import CodeRef

MAX_UNZIPPED_BYTES = 262_144_000  # AWS: 250 MB for the function and its layers, unzipped


_UNREADABLE = "Could not unzip uploaded file. Please check your file, then try to upload again."
# What zipfile raises for a package it cannot read: not a zip, corrupt data, an unknown compression method
# (NotImplementedError), or an encrypted member (RuntimeError).
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    EOFError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


def inspect_zip(data: bytes, max_unzipped: int = MAX_UNZIPPED_BYTES) -> int:
    """Check that `data` is a zip Lambda could deploy; return its unzipped size.

    Reading every member takes time in proportion to the unzipped size (up to a second or so at the
    limit): callers on an event loop run this in a thread.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            unzipped = sum(member.file_size for member in members)
            if unzipped > max_unzipped:  # checked first, so a zip bomb is never inflated
                raise InvalidZipFile(f"Unzipped size must be smaller than {max_unzipped} bytes")
            check_layout(archive, members)
            # zipfile stops each member at its declared size, so this reads no more than `unzipped`.
            corrupt = archive.testzip()
    except ZIP_ERRORS as exc:
        raise InvalidZipFile(_UNREADABLE) from exc
    if not members:
        raise InvalidZipFile("Uploaded file must be a non-empty zip")
    if corrupt is not None:
        raise InvalidZipFile(f"{_UNREADABLE} The data of {corrupt} is corrupt.")
    return unzipped


class CodeStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self._root / f"{digest}.zip"

    def put(self, data: bytes) -> CodeRef:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            write_whole(target, data)
        return CodeRef(digest=digest, size=len(data))

    def unzipped_size(self, digest: str) -> int:
        """The unzipped size of a stored package, from its zip directory alone (nothing is inflated)."""
        try:
            with zipfile.ZipFile(self.path(digest)) as archive:
                return sum(member.file_size for member in archive.infolist())
        except FileNotFoundError as exc:
            raise ResourceNotFound(f"Code {digest} is not in the code store") from exc

    def open_verified(self, digest: str) -> BinaryIO:
        """The stored package, opened, once its content is found to be what its digest (its CodeSha256)
        says: a blob changed on disk is never run."""
        try:
            blob = open(self.path(digest), "rb")  # noqa: SIM115  # returned open: the caller closes it
        except FileNotFoundError as exc:
            raise ResourceNotFound(f"Code {digest} is not in the code store") from exc
        if hashlib.file_digest(blob, "sha256").hexdigest() != digest:
            blob.close()
            raise InvalidZipFile(f"The stored code {digest} does not match its CodeSha256: it changed on disk")
        blob.seek(0)
        return blob

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise ResourceNotFound(f"Code {digest} is not in the code store") from exc
