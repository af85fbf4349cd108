"""Per-sandbox control groups: limits, accounting, freezing and cleanup.

Two kinds of test. Those using the `tree` fixture run on this host's real cgroups (as root; skipped where
there are none writable) with real child processes: on a pure v2 host they exercise the v2 implementation,
on v1 and hybrid hosts (this project's build hosts: every controller on v1, only hugetlb on v2) the v1 one.
The others run the v2 implementation's logic (parsing, discovery, the arithmetic and the files it writes)
against a fake directory tree in tmp_path, because the one thing a hybrid host cannot give is a real v2
memory controller. The kernel's side (files that exist from the start, refused writes) is not faked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firebox.errors import PlatformFailure
from firebox.sandbox.cgroups import CgroupTree, SandboxCgroup, cpu_quota_us, lambda_cpus
from firebox.sandbox.cgroups.base import wait_until
from firebox.sandbox.cgroups.layout import Mount, parse_mountinfo, parse_proc_cgroup
from firebox.sandbox.cgroups.v1 import V1Cgroup
from firebox.sandbox.cgroups.v1 import limit_files as v1_limit_files
from firebox.sandbox.cgroups.v2 import V2Cgroup, own_group
from firebox.sandbox.cgroups.v2 import limit_files as v2_limit_files

MIB = 1024 * 1024
_DEADLINE_S = 5.0

# --- on this host's real cgroups -------------------------------------------------------------------------


@pytest.fixture
def tree() -> Iterator[CgroupTree]:
    if os.geteuid() != 0:
        pytest.skip("cgroups are writable by root only")
    found = CgroupTree.discover()
    if found is None:
        pytest.skip("no writable cgroup memory/pids here")
    yield found
    found.remove()


@pytest.fixture
def make_group(tree: CgroupTree) -> Iterator[Callable[..., SandboxCgroup]]:
    """Create sandbox groups; each is emptied and removed afterwards."""
    made: list[SandboxCgroup] = []

    def make(memory_mb: int = 128, max_processes: int = 64, cpus: float = 1.0) -> SandboxCgroup:
        group = tree.create(os.urandom(8).hex(), memory_mb * MIB, max_processes, cpus)
        made.append(group)
        return group

    yield make
    for group in made:
        group.kill_all()
        assert wait_until(group.remove, _DEADLINE_S)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        child.kill()
        child.wait(_DEADLINE_S)
        if child.stdout is not None:
            child.stdout.close()


def _spawn(children: list[subprocess.Popen[bytes]], group: SandboxCgroup, code: str) -> subprocess.Popen[bytes]:
    """A Python child that joins `group`, says "ready" and runs `code`."""
    procs = [str(p) for p in group.procs_files()]
    join = f"import os\nfor p in {procs!r}:\n    open(p, 'w').write(str(os.getpid()))\nprint('ready', flush=True)\n"
    child = subprocess.Popen([sys.executable, "-S", "-c", join + code], stdout=subprocess.PIPE)
    children.append(child)
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    return child


def _dirs(group: SandboxCgroup) -> dict[str, Path]:
    """Controller -> directory ("unified" for v2's single one)."""
    if isinstance(group, V1Cgroup):
        return group.dirs
    assert isinstance(group, V2Cgroup)
    return {"unified": group.directory}


def _cpu_seconds(pid: int) -> float:
    """utime + stime: fields 14 and 15 of /proc/<pid>/stat, the 12th and 13th after the command name."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read(path: Path) -> str:
    return path.read_text().strip()


def test_limits_are_written(make_group: Callable[..., SandboxCgroup]) -> None:
    group = make_group(memory_mb=64, max_processes=17, cpus=0.5)
    dirs = _dirs(group)
    if isinstance(group, V1Cgroup):
        assert _read(dirs["memory"] / "memory.limit_in_bytes") == str(64 * MIB)
        memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            assert _read(memsw) == str(64 * MIB)
        assert _read(dirs["pids"] / "pids.max") == "17"
        if "cpu" in dirs:
            assert _read(dirs["cpu"] / "cpu.cfs_period_us") == "100000"
            assert _read(dirs["cpu"] / "cpu.cfs_quota_us") == "50000"
    else:
        unified = dirs["unified"]
        assert _read(unified / "memory.max") == str(64 * MIB)
        assert _read(unified / "pids.max") == "17"
        assert _read(unified / "cpu.max") == "50000 100000"
        if (unified / "memory.swap.max").exists():
            assert _read(unified / "memory.swap.max") == "0"


def test_cpu_quota_above_an_ancestors_is_left_to_the_ancestor(make_group: Callable[..., SandboxCgroup]) -> None:
    """v1 refuses a group a quota above its parent's: as in a container with a CPU limit, where the
    container's quota caps the sandbox anyway. v2 takes any quota (the smallest on the path applies)."""
    probe = make_group(cpus=0.1)  # under the quota its parent gets below
    if not isinstance(probe, V1Cgroup) or "cpu" not in probe.dirs:
        pytest.skip("cgroup v1 cpu only")
    parent_quota = probe.dirs["cpu"].parent / "cpu.cfs_quota_us"
    parent_quota.write_text("50000")
    try:
        group = make_group(cpus=1.0)
    finally:
        parent_quota.write_text("-1")
    assert isinstance(group, V1Cgroup)
    assert _read(group.dirs["cpu"] / "cpu.cfs_quota_us") == "-1"
    assert _read(group.dirs["memory"] / "memory.limit_in_bytes") == str(128 * MIB)


def test_memory_limit_kills_an_allocating_child(
    make_group: Callable[..., SandboxCgroup], children: list[subprocess.Popen[bytes]]
) -> None:
    group = make_group(memory_mb=64)
    assert group.oom_kills() == 0
    child = _spawn(children, group, "x = b'x' * (300 * 1024 * 1024)\n")
    assert child.wait(_DEADLINE_S) == -signal.SIGKILL
    assert group.oom_kills() >= 1
    assert group.peak_memory() >= 60 * MIB


def test_cpu_quota_follows_memory(
    make_group: Callable[..., SandboxCgroup], children: list[subprocess.Popen[bytes]]
) -> None:
    """At 128 MB a sandbox gets 128/1769 (about 7%) of a core; a busy loop must stay far below a whole one."""
    group = make_group(memory_mb=128, cpus=lambda_cpus(128, os.cpu_count() or 1))
    if isinstance(group, V1Cgroup) and "cpu" not in group.dirs:
        pytest.skip("no cgroup v1 cpu controller here")
    child = _spawn(children, group, "while True:\n    pass\n")
    used, started = _cpu_seconds(child.pid), time.monotonic()
    time.sleep(0.5)  # the measurement window itself, not a wait for something to settle
    share = (_cpu_seconds(child.pid) - used) / (time.monotonic() - started)
    assert share < 0.25
    if isinstance(group, V1Cgroup):
        throttled = (group.dirs["cpu"] / "cpu.stat").read_text()
        assert "nr_throttled 0\n" not in throttled  # the quota, not a busy host, held it back


def test_frozen_child_uses_no_cpu_and_continues_after_thaw(
    make_group: Callable[..., SandboxCgroup], children: list[subprocess.Popen[bytes]]
) -> None:
    group = make_group(cpus=1.0)
    child = _spawn(children, group, "while True:\n    pass\n")
    if not group.freeze():
        pytest.skip("no freezer here")
    frozen_at = _cpu_seconds(child.pid)
    time.sleep(0.2)  # the measurement window: a frozen process must not run during it
    assert _cpu_seconds(child.pid) == frozen_at
    assert group.thaw()
    assert wait_until(lambda: _cpu_seconds(child.pid) > frozen_at, _DEADLINE_S)


def test_kill_all_ends_frozen_processes(
    make_group: Callable[..., SandboxCgroup], children: list[subprocess.Popen[bytes]]
) -> None:
    """On v1 a frozen process keeps SIGKILL pending until thawed: kill_all must still end it."""
    group = make_group()
    child = _spawn(children, group, "import time\ntime.sleep(60)\n")
    if not group.freeze():
        pytest.skip("no freezer here")
    group.kill_all()
    assert child.wait(_DEADLINE_S) == -signal.SIGKILL


def test_process_limit_stops_forks(
    make_group: Callable[..., SandboxCgroup], children: list[subprocess.Popen[bytes]]
) -> None:
    group = make_group(max_processes=5)
    code = (
        "import time\nfails = 0\nfor _ in range(20):\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        fails += 1\n        continue\n    if pid == 0:\n        time.sleep(30)\n"
        "        os._exit(0)\nprint(fails, flush=True)\ntime.sleep(30)\n"
    )
    child = _spawn(children, group, code)
    assert child.stdout is not None
    assert int(child.stdout.readline()) >= 15  # the child and 4 forks fill 5 slots; the other 16 fail
    assert len(group.pids()) == 5


def test_stale_tree_of_a_dead_firebox_is_removed(
    tree: CgroupTree, make_group: Callable[..., SandboxCgroup], children: list[subprocess.Popen[bytes]]
) -> None:
    """A Firebox that died left a tree with a (frozen, where possible) sandbox process in it: the next
    discovery ends the process and removes the groups; trees of live Firebox processes stay."""
    own = _dirs(make_group())
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process can have this pid
    stale_dirs = {c: d.parent.parent / f"firebox-{dead}" / "sandbox" for c, d in own.items()}
    for directory in stale_dirs.values():
        directory.mkdir(parents=True)
    stale = V1Cgroup(stale_dirs) if "unified" not in stale_dirs else V2Cgroup(stale_dirs["unified"])
    child = _spawn(children, stale, "import time\ntime.sleep(60)\n")
    # Another Firebox starting meanwhile (tests run in parallel) may clean the stale tree first: fine too.
    with contextlib.suppress(OSError):
        stale.freeze()
    assert CgroupTree.discover() is not None
    assert child.wait(_DEADLINE_S) == -signal.SIGKILL
    assert wait_until(lambda: not any(d.parent.exists() for d in stale_dirs.values()), _DEADLINE_S)
    assert all(d.exists() for d in own.values())


# --- arithmetic and parsing ---------------------------------------------------------------------------------


def test_cpu_in_proportion_to_memory() -> None:
    assert lambda_cpus(1769, 8) == 1.0
    assert lambda_cpus(128, 8) == pytest.approx(0.07236, abs=1e-5)
    assert lambda_cpus(10240, 2) == 2.0  # capped at the host's cores
    assert cpu_quota_us(lambda_cpus(128, 8)) == 7236
    assert cpu_quota_us(1.0) == 100_000
    assert cpu_quota_us(2.0) == 200_000
    assert cpu_quota_us(0.001) == 1000  # the kernel's smallest quota


def test_limit_files() -> None:
    assert v2_limit_files(128 * MIB, 1024, 0.5, frozenset({"memory", "pids", "cpu"})) == {
        "memory.max": "134217728",
        "memory.swap.max": "0",
        "pids.max": "1024",
        "cpu.max": "50000 100000",
    }
    assert "cpu.max" not in v2_limit_files(128 * MIB, 1024, 0.5, frozenset({"memory", "pids"}))
    assert v1_limit_files(128 * MIB, 1024, 0.5) == {
        "memory": {"memory.limit_in_bytes": "134217728", "memory.memsw.limit_in_bytes": "134217728"},
        "pids": {"pids.max": "1024"},
        "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"},
    }


_HYBRID_CGROUP = "9:name=systemd:/\n8:pids:/\n6:freezer:/\n4:memory:/jobs/42\n2:cpuacct:/\n1:cpu:/\n0::/\n"


def test_parse_proc_cgroup() -> None:
    v1, v2 = parse_proc_cgroup(_HYBRID_CGROUP)
    assert v1["memory"] == "/jobs/42" and v1["freezer"] == "/" and v1["name=systemd"] == "/"
    assert v2 == "/"
    assert parse_proc_cgroup("0::/system.slice/firebox.service\n") == ({}, "/system.slice/firebox.service")
    assert parse_proc_cgroup("3:cpu,cpuacct:/a\n") == ({"cpu": "/a", "cpuacct": "/a"}, None)


def test_parse_mountinfo() -> None:
    text = (
        "25 1 0:23 / /proc rw,nosuid - proc proc rw\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    )
    v1, v2 = parse_mountinfo(text)
    assert v1["cpu"] == v1["cpuacct"] == Mount(Path("/sys/fs/cgroup/cpu,cpuacct"), "/")
    assert v1["memory"] == Mount(Path("/sys/fs/cgroup/memory"), "/docker/abc")
    assert v2 == Mount(Path("/sys/fs/cgroup/unified"), "/")


def test_group_dir() -> None:
    assert Mount(Path("/m"), "/").group_dir("/a/b") == Path("/m/a/b")
    assert Mount(Path("/m"), "/").group_dir("/") == Path("/m")
    # A bind-mounted subtree shows the group relative to its root; groups outside it are not reachable.
    assert Mount(Path("/m"), "/docker/abc").group_dir("/docker/abc/x") == Path("/m/x")
    assert Mount(Path("/m"), "/docker/abc").group_dir("/docker/abcd") is None
    assert Mount(Path("/m"), "/").group_dir("/../other") is None


def test_own_group_looks_past_the_supervisor_leaf() -> None:
    assert own_group("/svc/firebox-12/supervisor") == "/svc"
    assert own_group("/svc/supervisor") == "/svc/supervisor"
    assert own_group("/svc") == "/svc"


# --- the v2 implementation on a fake tree --------------------------------------------------------------------


def _fake_host(tmp_path: Path, proc_cgroup: str, controllers: str = "cpuset cpu io memory pids") -> Path:
    """A fake /proc/self and unified hierarchy; returns the fake /proc/self. Firebox's group is /svc."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(proc_cgroup)
    (proc / "mountinfo").write_text(f"41 31 0:38 / {tmp_path / 'unified'} rw - cgroup2 cgroup2 rw\n")
    own = tmp_path / "unified" / "svc"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text(controllers + "\n")
    (own / "cgroup.subtree_control").write_text("\n")
    (own / "cgroup.procs").write_text(f"{os.getpid()}\n")
    return proc


def test_v2_discovery_moves_firebox_to_a_leaf_and_enables_controllers(tmp_path: Path) -> None:
    proc = _fake_host(tmp_path, "0::/svc\n")
    own = tmp_path / "unified" / "svc"
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    (own / f"firebox-{dead}" / "supervisor").mkdir(parents=True)
    (own / f"firebox-{dead}" / "0123abcd").mkdir()
    (own / "firebox-1" / "supervisor").mkdir(parents=True)  # pid 1 is alive: its tree stays

    tree = CgroupTree.discover(proc)
    assert tree is not None and tree.version == 2
    base = own / f"firebox-{os.getpid()}"
    assert _read(base / "supervisor" / "cgroup.procs") == str(os.getpid())
    assert _read(own / "cgroup.subtree_control") == "+memory +pids +cpu"
    assert _read(base / "cgroup.subtree_control") == "+memory +pids +cpu"
    assert not (own / f"firebox-{dead}").exists()
    assert (own / "firebox-1").exists()

    group = tree.create("0123abcd", 128 * MIB, 1024, lambda_cpus(128, 2))
    assert isinstance(group, V2Cgroup) and group.directory == base / "0123abcd"
    assert {p.name: _read(p) for p in group.directory.iterdir()} == {
        "memory.max": "134217728",
        "pids.max": "1024",
        "cpu.max": "7236 100000",  # no memory.swap.max: absent, as where the kernel does not account swap
    }
    assert group.procs_files() == [base / "0123abcd" / "cgroup.procs"]

    # Discovering again from inside the supervisor leaf finds the same tree rather than nesting one.
    (proc / "cgroup").write_text(f"0::/svc/firebox-{os.getpid()}/supervisor\n")
    again = CgroupTree.discover(proc)
    assert again is not None
    assert again.create("4567", MIB, 1, 1.0).procs_files() == [base / "4567" / "cgroup.procs"]


def test_v2_needs_the_memory_controller(tmp_path: Path) -> None:
    assert CgroupTree.discover(_fake_host(tmp_path, "0::/svc\n", controllers="cpu pids")) is None


def test_hybrid_host_uses_v1_even_when_v2_offers_memory(tmp_path: Path) -> None:
    proc = _fake_host(tmp_path, "4:memory:/svc\n8:pids:/\n0::/svc\n")
    with (proc / "mountinfo").open("a") as mountinfo:
        for controller in ("memory", "pids"):
            (tmp_path / controller / "svc").mkdir(parents=True)
            mountinfo.write(f"3{len(controller)} 31 0:3 / {tmp_path / controller} rw - cgroup cgroup rw,{controller}\n")
    tree = CgroupTree.discover(proc)
    assert tree is not None and tree.version == 1
    group = tree.create("0123abcd", 64 * MIB, 10, 1.0)
    assert isinstance(group, V1Cgroup)
    assert _read(tmp_path / "memory" / "svc" / f"firebox-{os.getpid()}" / "0123abcd" / "memory.limit_in_bytes") == str(
        64 * MIB
    )
    assert not (tmp_path / "unified" / "svc" / f"firebox-{os.getpid()}").exists()


def _fake_group(tmp_path: Path, **files: str) -> V2Cgroup:
    directory = tmp_path / "group"
    directory.mkdir()
    for name, text in files.items():
        (directory / name.replace("_", ".")).write_text(text)
    return V2Cgroup(directory)


def test_v2_accounting(tmp_path: Path) -> None:
    events = "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n"
    group = _fake_group(tmp_path, memory_events=events, memory_peak="5000\n", memory_current="3000\n")
    assert group.oom_kills() == 2
    assert group.peak_memory() == 5000
    group.remove()


def test_v2_peak_falls_back_to_current_usage(tmp_path: Path) -> None:
    """Kernels before 5.19 have no memory.peak; the usage now is the best there is then."""
    assert _fake_group(tmp_path, memory_current="3000\n").peak_memory() == 3000


def test_v2_freeze_and_thaw(tmp_path: Path) -> None:
    group = _fake_group(tmp_path, cgroup_freeze="0\n", cgroup_events="populated 1\nfrozen 1\n")
    assert group.freeze()
    assert _read(group.directory / "cgroup.freeze") == "1"
    assert group.thaw()
    assert _read(group.directory / "cgroup.freeze") == "0"


def test_v2_freeze_gives_up_and_thaws(tmp_path: Path) -> None:
    group = _fake_group(tmp_path, cgroup_freeze="0\n", cgroup_events="populated 1\nfrozen 0\n")
    with pytest.raises(PlatformFailure, match="did not freeze"):
        group.freeze()
    assert _read(group.directory / "cgroup.freeze") == "0"


def test_v2_without_freezer(tmp_path: Path) -> None:
    group = _fake_group(tmp_path)
    assert not group.freeze()
    assert not group.thaw()


def test_v2_kill_all_uses_cgroup_kill(tmp_path: Path) -> None:
    group = _fake_group(tmp_path, cgroup_kill="0\n")
    group.kill_all()
    assert _read(group.directory / "cgroup.kill") == "1"


def test_v2_kill_all_signals_each_process_without_cgroup_kill(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    child = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(60)"])
    children.append(child)
    group = _fake_group(tmp_path, cgroup_procs=f"{child.pid}\n")
    group.kill_all()
    assert child.wait(_DEADLINE_S) == -signal.SIGKILL
