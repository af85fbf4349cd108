"""Each sandbox's /tmp: a small ext4 file system of its own, on a loop device, handed over as a mount.

On AWS, /tmp is disk: what a function keeps there does not count towards its memory, and writing past
its EphemeralStorage size fails with ENOSPC. A tmpfs would charge every byte to the function's memory
limit (a 128 MB function could not fill a 512 MB /tmp), and one shared file system cannot limit each
sandbox's share without quotas, which not every kernel has. So every sandbox gets a file system of
exactly its size: a sparse image file in its scratch directory, copied from a formatted template image
(one per size, made once with mkfs.ext4), attached to a loop device that frees itself once unmounted,
and mounted detached (fsopen/fsmount). The worker sends the mount's descriptor to the sandbox, which
attaches it at /tmp with move_mount: this works from inside the sandbox's own namespaces, which a plain
mount of a block device would not (SnapStart copies attach theirs with only the capabilities of their
own user namespace).

Page cache of these files is reclaimable, unlike tmpfs pages; loop devices use direct I/O where the host
file system allows it, so the data is not cached twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import struct
import time
from pathlib import Path

from firebox.errors import SandboxStartFailed

_LOOP_CONTROL = "/dev/loop-control"
_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A
_LO_FLAGS_AUTOCLEAR = 4  # the device detaches itself when its last mount goes
_LO_FLAGS_DIRECT_IO = 16
_LOOP_CONFIG = struct.Struct("=II232x64x")  # struct loop_config: fd, block_size, loop_info64, reserved
_LO_FLAGS_OFFSET = 8 + 52  # loop_info64.lo_flags within struct loop_config
# Another thread or process may take the free device between asking and configuring it: under a burst of cold
# starts many do, so ask again, a little later each time (this runs in a thread, never on the event loop).
_CONFIGURE_ATTEMPTS = 100
_CONFIGURE_BACKOFF_S = 0.0005

# The new mount API: the same numbers on every architecture.
_FSOPEN, _FSCONFIG, _FSMOUNT = 430, 431, 432
_FSOPEN_CLOEXEC = 1
_FSCONFIG_SET_FLAG = 0
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
_FSMOUNT_CLOEXEC = 1
_MOUNT_ATTR_NOSUID = 0x2
_MOUNT_ATTR_NODEV = 0x4

_MKFS = "mkfs.ext4"
# No journal (nothing here must survive a crash) and no reserved blocks: the whole size is the function's.
_MKFS_OPTIONS = ("-q", "-F", "-O", "^has_journal", "-m", "0", "-E", "lazy_itable_init=1,nodiscard")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def unavailable_reason() -> str | None:
    """Why sandboxes here cannot have disk-backed /tmp, or None when they can."""
    if shutil.which(_MKFS) is None:
        return f"{_MKFS} is not installed (Debian package e2fsprogs)"
    if not os.path.exists(_LOOP_CONTROL):
        return f"{_LOOP_CONTROL} does not exist (no loop device support)"
    return None


class TmpDisks:
    def __init__(self, scratch: Path) -> None:
        self._templates = scratch / "tmp-images"  # one formatted, empty image per size
        self._formatting: dict[int, asyncio.Lock] = {}

    async def image(self, directory: Path, size_mb: int) -> Path:
        """A new empty /tmp image of `size_mb` in `directory` (sparse: it holds only what is written to it)."""
        template = await self._template(size_mb)
        image = directory / f"tmp-{size_mb}m.img"
        await asyncio.to_thread(_copy_sparse, template, image)
        return image

    async def _template(self, size_mb: int) -> Path:
        template = self._templates / f"{size_mb}m.img"
        async with self._formatting.setdefault(size_mb, asyncio.Lock()):
            if not template.exists():
                self._templates.mkdir(parents=True, exist_ok=True)
                formatting = template.with_suffix(".new")
                with open(formatting, "wb") as f:
                    f.truncate(size_mb * 1024 * 1024)
                process = await asyncio.create_subprocess_exec(
                    _MKFS,
                    *_MKFS_OPTIONS,
                    str(formatting),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                said, _ = await process.communicate()
                if process.returncode != 0:
                    formatting.unlink(missing_ok=True)
                    raise SandboxStartFailed(f"{_MKFS} could not format a /tmp image: {said.decode(errors='replace')}")
                await asyncio.to_thread(_make_root_a_tmp, formatting)
                formatting.rename(template)
        return template

    async def mounted(self, directory: Path, size_mb: int) -> int:
        """A new /tmp of `size_mb`, its image in `directory`, mounted: the mount's descriptor (see `mount`)."""
        return await asyncio.to_thread(self.mount, await self.image(directory, size_mb))

    @staticmethod
    def mount(image: Path) -> int:
        """Attach `image` to a loop device and mount it, detached: returns the mount's descriptor, whose
        holder can attach it anywhere with move_mount."""
        try:
            device, loop = _attach_loop(image)
            context = _check(_libc.syscall(_FSOPEN, b"ext4", _FSOPEN_CLOEXEC), "fsopen")
            try:
                _check(
                    _libc.syscall(_FSCONFIG, context, _FSCONFIG_SET_STRING, b"source", device.encode(), 0), "fsconfig"
                )
                # What the function deletes goes back to the host: the loop device punches holes in the image.
                _check(_libc.syscall(_FSCONFIG, context, _FSCONFIG_SET_FLAG, b"discard", None, 0), "fsconfig discard")
                _check(_libc.syscall(_FSCONFIG, context, _FSCONFIG_CMD_CREATE, None, None, 0), "fsconfig create")
                flags = _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV
                mount = _check(_libc.syscall(_FSMOUNT, context, _FSMOUNT_CLOEXEC, flags), "fsmount")
            finally:
                os.close(context)
                os.close(loop)  # the mount holds the device now; with the mount gone, the device goes
        except OSError as exc:
            raise SandboxStartFailed(f"could not mount a /tmp image: {exc}") from exc
        return mount


def _make_root_a_tmp(image: Path) -> None:
    """Make a freshly formatted image's root what /tmp is: an empty, world-writable, sticky directory (once
    per template, so no sandbox's mount has to write)."""
    mount = TmpDisks.mount(image)
    try:
        root = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=mount)
        try:
            os.fchmod(root, 0o1777)
            with contextlib.suppress(FileNotFoundError):
                os.rmdir("lost+found", dir_fd=root)
            os.fsync(root)
        finally:
            os.close(root)
    finally:
        os.close(mount)  # the last reference to a detached mount: it is unmounted, and its loop device freed


def _attach_loop(image: Path) -> tuple[str, int]:
    """A loop device backed by `image`, and an open descriptor of it: the device detaches itself once
    neither that descriptor nor a mount holds it."""
    backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        control = os.open(_LOOP_CONTROL, os.O_RDWR | os.O_CLOEXEC)
        try:
            for attempt in range(_CONFIGURE_ATTEMPTS):
                device = f"/dev/loop{fcntl.ioctl(control, _LOOP_CTL_GET_FREE)}"
                loop = os.open(device, os.O_RDWR | os.O_CLOEXEC)
                config = bytearray(_LOOP_CONFIG.size)
                struct.pack_into("=II", config, 0, backing, 0)
                struct.pack_into("=I", config, _LO_FLAGS_OFFSET, _LO_FLAGS_AUTOCLEAR | _LO_FLAGS_DIRECT_IO)
                try:
                    fcntl.ioctl(loop, _LOOP_CONFIGURE, bytes(config))
                except OSError as exc:
                    os.close(loop)
                    if exc.errno != errno.EBUSY:
                        raise
                    time.sleep(_CONFIGURE_BACKOFF_S * (1 + attempt % 10))
                    continue
                return device, loop
            raise OSError(errno.EBUSY, "no free loop device")
        finally:
            os.close(control)
    finally:
        os.close(backing)


def _copy_sparse(source: Path, target: Path) -> None:
    """Copy `source` to `target` keeping its holes: only its few formatted blocks are written."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        dst.truncate(size)
        offset = 0
        while offset < size:
            try:
                data = os.lseek(src.fileno(), offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole is left
                    return
                raise
            hole = os.lseek(src.fileno(), data, os.SEEK_HOLE)
            position = data
            while position < hole:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), hole - position, position, position)
                if copied == 0:
                    raise OSError(errno.EIO, f"{source} ended early while copying it")
                position += copied
            offset = hole
