"""The layer cache: a function's layers merged in order into one read-only tree, made once and shared."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from firebox.store import CodeStore
from firebox.worker import CodeCache, LayerCache
from tests.zips import make_zip


def _layers(tmp_path: Path, *packages: bytes) -> tuple[LayerCache, list[str]]:
    store = CodeStore(tmp_path / "code")
    digests = [store.put(package).digest for package in packages]
    return LayerCache(CodeCache(store, tmp_path / "tasks"), tmp_path / "opt"), digests


def _files(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            found[str(path.relative_to(root))] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_text()
    return found


def test_a_later_layer_wins_and_directories_merge(tmp_path: Path) -> None:
    first = make_zip(
        {"python/a.py": "first", "python/shared.py": "first", "thing": "a file", "lib/x": "first"},
        symlinks={"lib/link": "x"},
    )
    second = make_zip(
        {"python/b.py": "second", "python/shared.py": "second", "thing/inside": "a directory", "lib/link": "file"},
        symlinks={"python/a.py": "b.py"},
    )
    cache, digests = _layers(tmp_path, first, second)
    opt = asyncio.run(cache.opt_root(digests))
    assert opt is not None
    assert _files(opt) == {
        "python/a.py": "-> b.py",
        "python/b.py": "second",
        "python/shared.py": "second",
        "thing/inside": "a directory",
        "lib/x": "first",
        "lib/link": "file",
    }
    assert os.stat(opt / "python").st_mode & 0o777 == 0o555
    # Files are the unpacked layers' own, linked: nothing is copied, and the layers are unchanged.
    assert os.stat(opt / "lib" / "x").st_ino == os.stat(tmp_path / "tasks" / digests[0] / "lib" / "x").st_ino
    assert _files(tmp_path / "tasks" / digests[0])["python/shared.py"] == "first"


def test_trees_are_made_once_per_ordered_list(tmp_path: Path) -> None:
    first, second = make_zip({"which": "first"}), make_zip({"which": "second"})
    cache, digests = _layers(tmp_path, first, second)

    async def opt_roots() -> list[Path | None]:
        forward = await asyncio.gather(cache.opt_root(digests), cache.opt_root(digests))
        return [
            *forward,
            await cache.opt_root(digests[::-1]),
            await cache.opt_root(digests[:1]),
            await cache.opt_root([]),
        ]

    together, again, backward, alone, none = asyncio.run(opt_roots())
    assert together == again
    assert together is not None and (together / "which").read_text() == "second"
    assert backward is not None and (backward / "which").read_text() == "first"
    assert alone == tmp_path / "tasks" / digests[0]  # one layer is its unpacked tree as it is
    assert none is None
    assert len(list((tmp_path / "opt").iterdir())) == 2  # forward and backward, no staging left behind
