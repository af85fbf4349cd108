"""Directory trees a worker builds once each and only reads afterwards: unpacked packages, merged layers."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

READ_ONLY_FILE = 0o444
READ_ONLY_EXEC = 0o555


class ReadOnlyTrees:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._building: dict[str, asyncio.Task[Path]] = {}
        root.mkdir(parents=True, exist_ok=True)

    async def get(self, name: str, fill: Callable[[Path], None]) -> Path:
        """The tree `name`, made on first use by `fill` (given an empty directory, run in a thread), after
        which its directories are read-only. What `fill` raises, `get` raises."""
        target = self._root / name
        if target.is_dir():
            return target
        # Concurrent cold starts that need one tree share a single build.
        task = self._building.get(name)
        if task is None:
            task = asyncio.create_task(asyncio.to_thread(self._build, fill, target), name=f"build.{name[:12]}")
            self._building[name] = task
            task.add_done_callback(lambda _: self._building.pop(name, None))
        return await asyncio.shield(task)

    def _build(self, fill: Callable[[Path], None], target: Path) -> Path:
        staging = Path(tempfile.mkdtemp(dir=self._root, prefix=f".{target.name[:12]}-"))
        try:
            fill(staging)
            for directory, _, _ in os.walk(staging):
                os.chmod(directory, READ_ONLY_EXEC)
            try:
                os.rename(staging, target)
            except OSError as exc:
                # Another worker process built it first (rename onto a directory that is not empty fails with
                # ENOTEMPTY or EEXIST): the same tree by construction.
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not target.is_dir():
                    raise
        finally:
            if staging.exists():
                _remove_read_only_tree(staging)
        return target


def _remove_read_only_tree(path: Path) -> None:
    for directory, _, _ in os.walk(path):
        os.chmod(directory, 0o755)
    shutil.rmtree(path, ignore_errors=True)
