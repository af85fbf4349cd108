"""The code store and the check every deployment package passes before it is kept."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from firebox.errors import InvalidZipFile, ResourceNotFound
from firebox.store import CodeStore, inspect_zip
from tests.zips import make_zip

PACKAGE = make_zip({"app.py": "def handler(event, context):\n    return event\n", "lib/data.txt": "x" * 1000})


def _stored(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("data.bin", content)
    return buffer.getvalue()


def _unknown_method() -> bytes:
    """A stored zip whose central directory claims compression method 99, which zipfile cannot read."""
    data = bytearray(_stored(b"content"))
    method = data.index(b"PK\x01\x02") + 10
    data[method : method + 2] = (99).to_bytes(2, "little")
    return bytes(data)


def test_a_good_package_reports_its_unzipped_size() -> None:
    assert inspect_zip(PACKAGE) == len("def handler(event, context):\n    return event\n") + 1000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a zip",
        PACKAGE[: len(PACKAGE) // 2],  # truncated: no central directory
        _stored(b"A" * 100).replace(b"A" * 100, b"B" * 100),  # the directory is fine, the data is not
        _unknown_method(),
    ],
    ids=["empty", "garbage", "truncated", "corrupt-member", "unknown-method"],
)
def test_an_unreadable_package_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidZipFile, match="Could not unzip uploaded file"):
        inspect_zip(data)


def test_the_unzipped_size_is_limited() -> None:
    data = _stored(bytes(2000))
    assert inspect_zip(data, max_unzipped=2000) == 2000
    with pytest.raises(InvalidZipFile, match="Unzipped size must be smaller than 1999 bytes"):
        inspect_zip(data, max_unzipped=1999)


def test_the_code_store_keeps_each_package_once(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    first = store.put(PACKAGE)
    again = store.put(PACKAGE)
    assert first == again
    assert first.digest == hashlib.sha256(PACKAGE).hexdigest()
    assert first.size == len(PACKAGE)
    assert store.read(first.digest) == PACKAGE
    assert [p.name for p in (tmp_path / "code").iterdir()] == [f"{first.digest}.zip"]
    with pytest.raises(ResourceNotFound):
        store.read("0" * 64)


def test_a_zip_with_no_entries_is_refused() -> None:
    with pytest.raises(InvalidZipFile, match="non-empty zip"):
        inspect_zip(make_zip({}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (make_zip({"../outside.py": ""}), "Zip entry '../outside.py' points outside the package"),
        (make_zip({"/etc/cron.d/x": ""}), "Zip entry '/etc/cron.d/x' points outside the package"),
        (make_zip({"lib/../../x": ""}), "Zip entry 'lib/../../x' points outside the package"),
        (make_zip({}, symlinks={"lib/link": "../../etc"}), "Zip entry 'lib/link' links outside the package"),
        (make_zip({}, symlinks={"link": "/etc/passwd"}), "Zip entry 'link' links outside the package"),
        (make_zip({}, symlinks={"link": "/."}), "Zip entry 'link' links outside the package"),
        # "a/." is the link "a": its target climbs from the package's root.
        (make_zip({}, symlinks={"a/.": ".."}), "Zip entry 'a' links outside the package"),
        # The kernel follows "a" before it meets "..": a lexical look would call this "." and let it pass.
        (make_zip({}, symlinks={"a": "a//.."}), "Zip entry 'a' links outside the package"),
        (make_zip({}, symlinks={"a": "d/b/..", "d/b": ".."}), "Zip entry 'a' links outside the package"),
        (make_zip({}, symlinks={"a": "b", "b": "a"}), "links outside the package \\(or round in a loop\\)"),
    ],
)
def test_nothing_may_land_or_point_outside_the_package(data: bytes, message: str) -> None:
    with pytest.raises(InvalidZipFile, match=message):
        inspect_zip(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (make_zip({".": "x"}), "Zip entry '.' is a file in the place of the package itself"),
        (make_zip({}, symlinks={"./": "a"}), "Zip entry './' is a symlink in the place of the package itself"),
        (make_zip({"a": "x", "a/b": "y"}), "Zip entry 'a' is a file, but 'a/b' is inside it"),
        (make_zip({"a/b": "y"}, symlinks={"a": "c"}), "Zip entry 'a' is a symlink, but 'a/b' is inside it"),
        (make_zip({"a": "x"}, symlinks={"./a": "b"}), "Zip entry './a' is both a file and a symlink"),
        (make_zip({}, symlinks={"a": ""}), "Zip entry 'a' is a symlink with no valid target"),
    ],
)
def test_a_package_that_could_not_be_unpacked_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidZipFile, match=message):
        inspect_zip(data)


def test_symlinks_inside_the_package_are_fine() -> None:
    inspect_zip(make_zip({"a/b/c": ""}, symlinks={"a/up": "..", "l1": "l2", "l2": "a/b/c", "a/b/l3": "../../l1"}))
    inspect_zip(make_zip({"lib/libfoo.so.1": "elf"}, symlinks={"lib/libfoo.so": "libfoo.so.1"}))
    inspect_zip(make_zip({"lib/tool.py": ""}, symlinks={"bin/tool": "../lib/tool.py"}))


def test_the_unzipped_size_of_a_stored_package(tmp_path: Path) -> None:
    store = CodeStore(tmp_path)
    ref = store.put(PACKAGE)
    assert store.unzipped_size(ref.digest) == inspect_zip(PACKAGE)
    with pytest.raises(ResourceNotFound):
        store.unzipped_size("0" * 64)
