"""Where this host mounts its cgroup hierarchies, and where this process sits in each of them.

Hosts come in three layouts: pure v1 (a mount per controller, or per group of controllers), pure v2 (one
unified mount holding every controller) and hybrid (v1 for the controllers, plus a v2 mount that holds few
or none, as on this project's own build hosts). /proc/self/cgroup tells them apart: a pure v2 process has
only the `0::<path>` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Mount:
    point: Path  # where the hierarchy is mounted
    root: str  # which of its groups the mount shows at `point` ("/" unless a subtree was bind-mounted)

    def group_dir(self, group: str) -> Path | None:
        """Directory of `group` (a path as /proc/self/cgroup gives it); None where this mount does not show it."""
        if self.root != "/":
            if group != self.root and not group.startswith(self.root + "/"):
                return None
            group = group[len(self.root) :]
        if ".." in group.split("/"):
            return None  # outside our cgroup namespace: not ours to touch
        return self.point / group.lstrip("/")


@dataclass(frozen=True, slots=True)
class Layout:
    v1_mounts: dict[str, Mount]  # controller (or "name=<name>") -> its hierarchy
    v2_mount: Mount | None
    own_v1: dict[str, str]  # controller -> the group this process is in
    own_v2: str | None  # the `0::` line's group, on pure v2 and hybrid hosts

    @property
    def pure_v2(self) -> bool:
        return not self.own_v1 and self.own_v2 is not None

    @classmethod
    def read(cls, proc_self: Path = Path("/proc/self")) -> Layout:
        """From `<proc_self>/cgroup` and `<proc_self>/mountinfo`; raises OSError or ValueError."""
        v1_mounts, v2_mount = parse_mountinfo((proc_self / "mountinfo").read_text())
        own_v1, own_v2 = parse_proc_cgroup((proc_self / "cgroup").read_text())
        return cls(v1_mounts, v2_mount, own_v1, own_v2)


def parse_proc_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """`hierarchy-id:controllers:path` lines -> (v1 controller -> path, the v2 path or None)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        if not line:
            continue
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and not controllers:
            v2 = path
            continue
        for controller in controllers.split(","):
            v1[controller] = path
    return v1, v2


def parse_mountinfo(text: str) -> tuple[dict[str, Mount], Mount | None]:
    """Mount table lines -> (v1 controller -> its mount, the first cgroup2 mount or None)."""
    v1: dict[str, Mount] = {}
    v2: Mount | None = None
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        # Optional fields come before the "-", so the filesystem fields are found from it.
        separator = fields.index("-")
        fstype, options = fields[separator + 1], fields[separator + 3]
        mount = Mount(Path(fields[4]), fields[3])
        if fstype == "cgroup2" and v2 is None:
            v2 = mount
        elif fstype == "cgroup":
            for option in options.split(","):
                v1.setdefault(option, mount)  # options also hold rw, relatime, ...: harmless extra keys
    return v1, v2
