"""Per-sandbox control groups: limits (memory without swap, processes, CPU) and accounting, on v1 or v2.

Each sandbox gets its own group (on v1, one per controller) under `firebox-<pid>`, below the group Firebox
was started in. The memory limit makes the kernel OOM-kill inside the sandbox only, and the peak use it
records is REPORT's "Max Memory Used". CPU is in proportion to memory as on Lambda (`lambda_cpus`). The
freezer stops an idle sandbox's processes outright; nothing depends on it for correctness.

`base` holds the interface (`SandboxCgroup`), `v1` and `v2` implement it, `layout` reads where this host
mounts its hierarchies, `tree` picks the version (`CgroupTree.discover`), `stale` cleans up after Firebox
processes that died.
"""

from firebox.sandbox.cgroups.base import SandboxCgroup, cpu_quota_us, lambda_cpus
from firebox.sandbox.cgroups.tree import CgroupTree

__all__ = ["CgroupTree", "SandboxCgroup", "cpu_quota_us", "lambda_cpus"]
