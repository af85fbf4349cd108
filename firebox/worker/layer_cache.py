"""The /opt of a function's environments: its layers unpacked in order into one read-only tree.

Each layer is unpacked once per worker by the code cache; the merged tree of an ordered list of layers is
made once too, of hard links to the unpacked files, so functions sharing layers share both.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from firebox.worker.code_cache import CodeCache
from firebox.worker.read_only_trees import ReadOnlyTrees


class LayerCache:
    def __init__(self, code_cache: CodeCache, root: Path) -> None:
        self._code_cache = code_cache
        self._trees = ReadOnlyTrees(root)

    async def opt_root(self, digests: Sequence[str]) -> Path | None:
        """The tree to show at /opt for layers with these content digests, in order; None without layers."""
        unpacked = [await self._code_cache.unpacked(digest) for digest in digests]
        if len(unpacked) <= 1:
            return unpacked[0] if unpacked else None
        name = hashlib.sha256("\n".join(digests).encode()).hexdigest()
        return await self._trees.get(name, lambda staging: _merge(unpacked, staging))


def _merge(layers: list[Path], staging: Path) -> None:
    for layer in layers:
        _overlay(layer, staging)


def _overlay(source: Path, target: Path) -> None:
    """Lay `source`'s tree over `target`'s: where both have an entry, `source`'s wins (as a later layer's
    files win over an earlier one's), and a directory in both merges. Symlinks are copied, never followed."""
    for entry in os.scandir(source):
        destination = target / entry.name
        if entry.is_dir(follow_symlinks=False):
            if not (destination.is_dir() and not destination.is_symlink()):
                _remove(destination)
                destination.mkdir()
            _overlay(Path(entry.path), destination)
            continue
        _remove(destination)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), destination)
        else:
            os.link(entry.path, destination)  # the unpacked file is read-only: sharing it costs nothing


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()
