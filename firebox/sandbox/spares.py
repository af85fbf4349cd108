"""Spare processes: forked from a zygote and placed in their control groups before anyone waits for them.

Joining a control group is the slowest step of a cold start on cgroup v1 (the kernel waits for an RCU grace
period: several milliseconds). A spare has taken that step already; a cold start that finds one only sets
its limits and tells it what to become, and a new spare is made in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firebox.errors import SandboxStartFailed
from firebox.sandbox.base import INIT_CPUS
from firebox.sandbox.cgroups import CgroupTree, SandboxCgroup
from firebox.sandbox.tmp_disks import TmpDisks
from firebox.sandbox.zygotes import Zygote

log = logging.getLogger(__name__)

# A spare's limits until it is given to a function: the largest Lambda allows, so that giving it away only
# ever lowers them.
_SPARE_MEMORY_BYTES = 10240 * 1024 * 1024
_SPARE_PROCESSES = 1024


# The /tmp a spare has mounted ahead: AWS's default size, which most functions keep.
SPARE_TMP_MB = 512


@dataclass(frozen=True, slots=True)
class Spare:
    spare_id: str
    cgroup: SandboxCgroup
    scratch: Path  # its directory on the host (the mount point of its root is in it)
    preparation: dict[str, Any]  # what it was prepared with: a sandbox made from it is given the same
    tmp_mount: int | None  # a /tmp of SPARE_TMP_MB made ahead (a mount's descriptor), where /tmp is disk

    def release_tmp(self) -> None:
        if self.tmp_mount is not None:
            os.close(self.tmp_mount)


class SparePool:
    def __init__(self, cgroups: CgroupTree, scratch: Path, per_zygote: int, tmp_disks: TmpDisks | None) -> None:
        self._cgroups = cgroups
        self._tmp_disks = tmp_disks
        self._scratch = scratch
        self._per_zygote = per_zygote
        self._spares: dict[Zygote, deque[Spare]] = {}
        self._filling: dict[Zygote, asyncio.Task[None]] = {}

    def take(self, zygote: Zygote) -> Spare | None:
        spares = self._spares.get(zygote)
        return spares.popleft() if spares else None

    def refill(self, zygote: Zygote, common: dict[str, Any]) -> None:
        """Make spares for `zygote` in the background, up to the pool's size (one filler per zygote), each
        prepared with `common` (its namespaces' settings and the common part of its filesystem)."""
        if self._per_zygote > 0 and zygote not in self._filling:
            task = asyncio.create_task(self._fill(zygote, common), name="sandbox.spares")
            self._filling[zygote] = task
            task.add_done_callback(lambda _: self._filling.pop(zygote, None))

    async def _fill(self, zygote: Zygote, common: dict[str, Any]) -> None:
        spares = self._spares.setdefault(zygote, deque())
        while len(spares) < self._per_zygote and zygote.alive:
            spare_id = f"spare-{uuid.uuid4().hex}"
            scratch = self._scratch / spare_id
            (scratch / "root").mkdir(parents=True)
            cgroup = self._cgroups.create(spare_id, _SPARE_MEMORY_BYTES, _SPARE_PROCESSES, INIT_CPUS)
            preparation = {
                **common,
                "root": str(scratch / "root"),
                "cgroup_procs": [str(p) for p in cgroup.procs_files()],
            }
            tmp_mount = None
            try:
                if self._tmp_disks is not None:
                    tmp_mount = await self._tmp_disks.mounted(scratch, SPARE_TMP_MB)
                await zygote.spawn({"op": "spare", "id": spare_id, **preparation}, [])
            except SandboxStartFailed as exc:
                log.warning("could not prepare a spare sandbox: %s", exc.message)
                if tmp_mount is not None:
                    os.close(tmp_mount)
                cgroup.kill_all()
                cgroup.remove()
                shutil.rmtree(scratch, ignore_errors=True)
                return
            spares.append(Spare(spare_id, cgroup, scratch, preparation, tmp_mount))

    async def close(self) -> None:
        """Stop filling and release every spare's control groups (the spares die with their zygote)."""
        for task in list(self._filling.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for spares in self._spares.values():
            for spare in spares:
                spare.release_tmp()
                spare.cgroup.kill_all()
                while not spare.cgroup.remove():
                    await asyncio.sleep(0.01)
                shutil.rmtree(spare.scratch, ignore_errors=True)
        self._spares.clear()
