"""Each sandbox's /tmp disk: a sparse image, mounted detached, attached with move_mount, freed with its mount.

Runs as root where mkfs.ext4 and loop devices exist (the namespace backend's hosts); skipped elsewhere."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from firebox.sandbox.tmp_disks import TmpDisks, unavailable_reason

MIB = 1024 * 1024
_MOVE_MOUNT = 429
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@pytest.fixture(autouse=True)
def _needs_loop_devices() -> None:
    reason = unavailable_reason()
    if reason is not None or os.geteuid() != 0:
        pytest.skip(reason or "loop devices and mounts need root")


@pytest.fixture
def attached(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A 64 MB /tmp disk attached at a directory of the test: (its image, where it is attached)."""
    disks = TmpDisks(tmp_path / "scratch")
    (tmp_path / "sandbox").mkdir()
    mount = asyncio.run(disks.mounted(tmp_path / "sandbox", 64))
    target = tmp_path / "tmp"
    target.mkdir()
    try:
        result = _libc.syscall(_MOVE_MOUNT, mount, b"", -100, str(target).encode(), _MOVE_MOUNT_F_EMPTY_PATH)
        assert result == 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(mount)
    yield tmp_path / "sandbox" / "tmp-64m.img", target
    subprocess.run(["umount", str(target)], check=False)


def _loop_device_of(target: Path) -> str | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        device, mount_point = line.split()[:2]
        if mount_point == str(target):
            return device
    return None


def test_a_tmp_disk_is_an_empty_sticky_directory_of_its_size(attached: tuple[Path, Path]) -> None:
    image, target = attached
    mode = target.stat().st_mode
    assert stat.S_IMODE(mode) == 0o1777
    assert os.listdir(target) == []  # no lost+found
    size = os.statvfs(target)
    assert 56 * MIB <= size.f_blocks * size.f_frsize <= 64 * MIB  # less what ext4 keeps for itself
    assert image.stat().st_blocks * 512 < 2 * MIB  # sparse: only the formatted blocks take room


def test_writing_past_the_size_is_enospc_and_deleting_gives_the_space_back(attached: tuple[Path, Path]) -> None:
    image, target = attached
    written = 0
    with pytest.raises(OSError) as refused, open(target / "fill", "wb") as f:
        while written < 128 * MIB:
            f.write(b"x" * MIB)
            f.flush()
            os.fsync(f.fileno())
            written += MIB
    assert refused.value.errno == errno.ENOSPC
    assert written >= 56 * MIB
    assert image.stat().st_blocks * 512 >= 56 * MIB
    (target / "fill").unlink()
    os.sync()
    assert image.stat().st_blocks * 512 < 4 * MIB


def test_the_loop_device_goes_with_the_mount(attached: tuple[Path, Path]) -> None:
    _, target = attached
    device = _loop_device_of(target)
    assert device is not None and device.startswith("/dev/loop")
    subprocess.run(["umount", str(target)], check=True)
    backing = Path(f"/sys/block/{Path(device).name}/loop/backing_file")
    assert not backing.exists()  # autoclear: detached once nothing mounts it
