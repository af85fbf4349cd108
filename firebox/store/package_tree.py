"""What a deployment package unpacks into: one tree, wholly inside the directory it is unpacked in.

Checked on the zip's directory when a package is uploaded, so that a package the worker could not unpack,
or one that reaches outside its directory, is refused then and not when a function first runs. The worker
judges the unpacked tree again (firebox.worker.code_cache), as a second line.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile

from firebox.errors import InvalidZipFile

_MAX_LINK_BYTES = 4096  # PATH_MAX: no symlink's target is longer
_MAX_LINK_HOPS = 40  # as Linux follows at most 40 symlinks in one lookup (then ELOOP)


def link_target(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> str | None:
    """Where a symlink member points (zips made on Unix keep the link's mode and its target as its data);
    None for any other member."""
    if not stat.S_ISLNK(member.external_attr >> 16):
        return None
    if member.file_size > _MAX_LINK_BYTES:
        raise InvalidZipFile(f"Zip entry {member.filename!r} is a symlink with a target too long")
    return archive.read(member).decode(errors="surrogateescape")


def check_layout(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    """Raise InvalidZipFile unless every entry lands inside the package, the entries make one tree (no file
    or symlink where the package's root is or where another entry needs a directory, no symlink named
    twice), and every symlink, followed through the others as the kernel follows them, stays inside."""
    kinds: dict[str, str] = {}
    links: dict[str, str] = {}
    for member in members:
        if _leaves(member.filename):
            raise InvalidZipFile(f"Zip entry {member.filename!r} points outside the package")
        path = posixpath.normpath(member.filename)  # "" too becomes "."
        target = link_target(archive, member)
        # As the worker unpacks it: a symlink's mode wins over a directory's trailing slash.
        kind = "symlink" if target is not None else "directory" if member.filename.endswith("/") else "file"
        if path == "." and kind != "directory":
            raise InvalidZipFile(f"Zip entry {member.filename!r} is a {kind} in the place of the package itself")
        previous = kinds.get(path)
        if previous is not None and previous != kind:
            raise InvalidZipFile(f"Zip entry {member.filename!r} is both a {previous} and a {kind}")
        if previous == "symlink":
            raise InvalidZipFile(f"Zip entry {member.filename!r} is a symlink named twice")
        if target is not None and (not target or "\x00" in target):  # no file system can make such a link
            raise InvalidZipFile(f"Zip entry {member.filename!r} is a symlink with no valid target")
        kinds[path] = kind
        if target is not None:
            links[path] = target
    for path in kinds:
        parent = posixpath.dirname(path)
        while parent:
            if kinds.get(parent, "directory") != "directory":
                raise InvalidZipFile(f"Zip entry {parent!r} is a {kinds[parent]}, but {path!r} is inside it")
            parent = posixpath.dirname(parent)
    for path, target in links.items():
        if target.startswith("/") or not _resolves_inside(links, f"{posixpath.dirname(path)}/{target}"):
            raise InvalidZipFile(f"Zip entry {path!r} links outside the package (or round in a loop)")


def _leaves(path: str) -> bool:
    normal = posixpath.normpath(path)
    return path.startswith("/") or normal == ".." or normal.startswith("../")


def _resolves_inside(links: dict[str, str], path: str) -> bool:
    """Whether `path` (relative to the package's root) stays inside it when looked up: each component in
    turn, a symlink replaced by its target where it is met, so a ".." after a symlink climbs from where
    the link leads, not from where its name is. A chain longer than the kernel follows does not stay."""
    pending = path.split("/")[::-1]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return False
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is not None:
            hops += 1
            if hops > _MAX_LINK_HOPS or target.startswith("/"):
                return False
            resolved.pop()
            pending.extend(target.split("/")[::-1])
    return True
