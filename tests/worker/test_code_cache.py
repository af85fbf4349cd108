"""The code cache: packages unpacked once per digest, read-only, with nothing written or pointing outside."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import given

from firebox.code_signature import SIGNATURE_MEMBER
from firebox.errors import InvalidZipFile
from firebox.store import CodeStore, inspect_zip
from firebox.worker import CodeCache
from tests.fuzz.strategies import fuzz_settings, hostile_packages
from tests.zips import make_zip


def _unpack(tmp_path: Path, package: bytes) -> Path:
    """Unpack `package` as a worker would; stored without the upload check, as an older Firebox kept it."""
    store = CodeStore(tmp_path / "code")
    digest = store.put(package).digest
    return asyncio.run(CodeCache(store, tmp_path / "tasks").unpacked(digest))


def test_a_package_is_unpacked_read_only_with_its_modes_and_symlinks(tmp_path: Path) -> None:
    package = make_zip(
        {"bootstrap": "#!/bin/sh\n", "lib/libfoo.so.1": "elf"},
        executable=("bootstrap",),
        symlinks={"lib/libfoo.so": "libfoo.so.1", "bin/run": "../bootstrap"},
    )
    root = _unpack(tmp_path, package)
    assert (root / "lib" / "libfoo.so").read_text() == "elf"
    assert os.readlink(root / "bin" / "run") == "../bootstrap"
    assert os.stat(root / "bootstrap").st_mode & 0o777 == 0o555
    assert os.stat(root / "lib" / "libfoo.so.1").st_mode & 0o777 == 0o444
    assert os.stat(root / "lib").st_mode & 0o777 == 0o555


def test_a_signature_entry_at_the_root_is_left_out(tmp_path: Path) -> None:
    root = _unpack(tmp_path, make_zip({"app.py": "", SIGNATURE_MEMBER: "{}", f"lib/{SIGNATURE_MEMBER}": "kept"}))
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "app.py",
        "lib",
        f"lib/{SIGNATURE_MEMBER}",
    ]


def test_unpacking_twice_at_once_unpacks_once(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    digest = store.put(make_zip({"app.py": ""})).digest
    cache = CodeCache(store, tmp_path / "tasks")

    async def both() -> list[Path]:
        return list(await asyncio.gather(cache.unpacked(digest), cache.unpacked(digest)))

    first, second = asyncio.run(both())
    assert first == second == tmp_path / "tasks" / digest
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == [digest]  # no staging left behind


@pytest.mark.parametrize(
    "package",
    [
        make_zip({"../outside.py": ""}),
        make_zip({}, symlinks={"etc": "/etc"}),
        make_zip({}, symlinks={"up": "../.."}),
        # Each link points inside by its name alone; followed one after the other they leave the package:
        # d/l is the package itself, so m (d/l/..) is its parent.
        make_zip({"d/file": ""}, symlinks={"d/l": "..", "m": "d/l/.."}),
        # A file written through a symlink would land where the link points: links come last, so it cannot.
        make_zip({"link/passwd": "x"}, symlinks={"link": "/etc"}),
    ],
)
def test_nothing_is_written_or_points_outside_the_package(tmp_path: Path, package: bytes) -> None:
    with pytest.raises(InvalidZipFile):
        _unpack(tmp_path, package)
    assert not (tmp_path / "outside.py").exists()
    assert [p.name for p in (tmp_path / "tasks").iterdir()] == []


@fuzz_settings(500)
@given(hostile_packages("def handler(event, context):\n    return 1\n", marker="unpacked"))
def test_what_the_upload_check_accepts_the_worker_unpacks_inside_its_directory(
    tmp_path_factory: pytest.TempPathFactory, package: bytes
) -> None:
    try:
        inspect_zip(package)
    except InvalidZipFile:
        return
    root = _unpack(tmp_path_factory.mktemp("package"), package)
    for folder, directories, files in os.walk(root):
        for name in directories + files:
            assert Path(os.path.realpath(Path(folder) / name)).is_relative_to(root.resolve())
