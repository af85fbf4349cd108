"""Deployment packages built in memory for tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def make_zip(
    files: dict[str, str | bytes], executable: tuple[str, ...] = (), symlinks: dict[str, str] | None = None
) -> bytes:
    """A zip of `files`; `symlinks` (name -> target) are stored as `zip -y` stores them, after the files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            archive.writestr(info, content)
        for name, target in (symlinks or {}).items():
            link = zipfile.ZipInfo(name)
            link.external_attr = 0o120777 << 16
            archive.writestr(link, target)
    return buffer.getvalue()


def zip_directory(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()
