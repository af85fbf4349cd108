"""The sandbox's seccomp filter: what the compiled program decides, and what a process under it can still do.

Two kinds of test. The first kind runs the compiled BPF through a small interpreter, call by call, so every rule is
checked on any machine. The second loads the filter into a real child process, started as the zygote's
children are: an interpreter with only its standard library (`-S`), importing the loader from its directory.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import platform
import random
import signal
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pyseccomp
import pytest

from firebox.sandbox import seccomp
from firebox.sandbox.zygote import _fbz_seccomp

ZYGOTE = Path(_fbz_seccomp.__file__).parent

# The refused calls, written out apart from the filter's own table, so that a name dropped from it fails here.
REFUSED = [
    *("mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount", "open_tree"),
    *("fsopen", "fsconfig", "fsmount", "fspick", "setns", "unshare"),
    *("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"),
    *("kexec_load", "kexec_file_load", "bpf", "keyctl", "add_key", "request_key"),
    *("init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct"),
    *("settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "quotactl", "iopl", "ioperm"),
    *("perf_event_open", "userfaultfd", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie"),
    *("vhangup", "nfsservctl", "uselib"),
]
CLONE_NAMESPACE_FLAGS = [0x80, 0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000]
CLONE_THREAD_FLAGS = 0x3D0F00  # what pthread_create passes: VM, FS, FILES, SIGHAND, THREAD, SYSVSEM, TLS, ...
SIGCHLD = 17
AF_PACKET = 17
ADDR_NO_RANDOMIZE = 0x0040000

ALLOW = 0x7FFF0000
KILL_PROCESS = 0x80000000
EPERM = 0x00050000 | errno.EPERM
ENOSYS = 0x00050000 | errno.ENOSYS
NATIVE_ARCH = pyseccomp.system_arch()


def number(name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))


def decide(program: bytes, nr: int, args: Sequence[int] = (), arch: int = NATIVE_ARCH) -> int:
    """What the filter answers for one call, worked out as the kernel would (SECCOMP_RET_* with its data)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args, *[0] * (6 - len(args)))
    accumulator, pc = 0, 0
    while True:
        code, jump_true, jump_false, k = struct.unpack_from("=HBBI", program, pc * 8)
        pc += 1
        if code == 0x06:  # BPF_RET | BPF_K
            return int(k)
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS: a 32-bit word of struct seccomp_data
            (accumulator,) = struct.unpack_from("=I", data, k)
        elif code == 0x54:  # BPF_ALU | BPF_AND | BPF_K
            accumulator &= k
        elif code == 0x05:  # BPF_JMP | BPF_JA
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # BPF_JMP | JEQ, JGT, JGE, JSET, against a constant
            taken = {
                0x15: accumulator == k,
                0x25: accumulator > k,
                0x35: accumulator >= k,
                0x45: accumulator & k != 0,
            }[code]
            pc += jump_true if taken else jump_false
        else:
            raise AssertionError(f"instruction {code:#06x} at {pc - 1} is new to this interpreter")


@pytest.fixture(scope="module")
def program() -> bytes:
    return seccomp.compile_filter()


def test_the_program_is_whole_instructions_within_the_kernels_limit(program: bytes) -> None:
    assert len(program) % 8 == 0
    assert 0 < len(program) // 8 <= 4096


def test_every_listed_call_fails_with_eperm(program: bytes) -> None:
    present = [name for name in REFUSED if number(name) >= 0]  # iopl and ioperm exist on x86 only
    assert {name: decide(program, number(name)) for name in present} == dict.fromkeys(present, EPERM)


def test_everyday_calls_are_allowed(program: bytes) -> None:
    for name in ("read", "write", "openat", "close", "mmap", "futex", "execve", "wait4", "exit_group"):
        assert decide(program, number(name)) == ALLOW, name
    assert decide(program, number("clone"), [CLONE_THREAD_FLAGS]) == ALLOW
    assert decide(program, number("clone"), [SIGCHLD]) == ALLOW  # fork


def test_clone_with_any_namespace_flag_is_refused(program: bytes) -> None:
    for flag in CLONE_NAMESPACE_FLAGS:
        assert decide(program, number("clone"), [SIGCHLD | flag]) == EPERM, hex(flag)
        assert decide(program, number("clone"), [1 << 40 | CLONE_THREAD_FLAGS | flag]) == EPERM, hex(flag)


def test_clone3_fails_with_enosys_so_libc_falls_back_to_clone(program: bytes) -> None:
    assert decide(program, number("clone3")) == ENOSYS


def test_packet_sockets_are_refused_however_the_family_is_passed(program: bytes) -> None:
    assert decide(program, number("socket"), [AF_PACKET]) == EPERM
    assert decide(program, number("socket"), [1 << 32 | AF_PACKET]) == EPERM  # the kernel reads an int
    for family in (1, 2, 10, 16):  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK
        assert decide(program, number("socket"), [family]) == ALLOW


def test_personality_may_only_be_asked_or_reset(program: bytes) -> None:
    personality = number("personality")
    for value in (0, 0xFFFFFFFF, 1 << 32, 2**64 - 1):  # the kernel reads the low 32 bits only
        assert decide(program, personality, [value]) == ALLOW, hex(value)
    changes = [8, ADDR_NO_RANDOMIZE, 1, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFE, 1 << 32 | 8]
    changes += random.Random(7).sample(range(1, 0xFFFFFFFF), 200)
    assert [value for value in changes if decide(program, personality, [value]) != EPERM] == []


def test_calls_through_another_abi_kill_the_process(program: bytes) -> None:
    foreign = [arch for name, arch in vars(pyseccomp.Arch).items() if name.isupper() and arch not in (0, NATIVE_ARCH)]
    for arch in foreign:
        for nr in (0, 20, number("getpid")):
            assert decide(program, nr, arch=arch) == KILL_PROCESS, (hex(arch), nr)
    if platform.machine() == "x86_64":  # x32 shares the arch value and sets bit 30 of the number instead
        assert decide(program, 0x40000000 | number("getpid")) == KILL_PROCESS


def test_the_loader_needs_only_python_39_and_its_standard_library() -> None:
    tree = ast.parse((ZYGOTE / "_fbz_seccomp.py").read_text(), feature_version=(3, 9))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {module.partition(".")[0] for module in modules} <= sys.stdlib_module_names


def test_the_loader_rejects_a_partial_instruction_before_touching_the_process() -> None:
    with pytest.raises(ValueError, match="instructions of 8 bytes"):
        _fbz_seccomp.install(bytes(12))
    with pytest.raises(ValueError):
        _fbz_seccomp.install(b"")


# Everything below runs in a real child process under the kernel's seccomp.

needs_seccomp = pytest.mark.skipif(
    "Seccomp:" not in Path("/proc/self/status").read_text(), reason="this kernel has no seccomp"
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

# The child's prelude: the loader imported as the zygote imports it, `outcome` naming a call's errno.
PRELUDE = """
import ctypes, errno, json, os, sys
sys.path.insert(0, sys.argv[1])
import _fbz_seccomp
NR = json.loads(sys.argv[2])
PROGRAM = sys.stdin.buffer.read()
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def outcome(result):
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]

def attempt(action, *args):
    try:
        action(*args)
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "ok"
"""


def run_child(program: bytes, probes: str) -> subprocess.CompletedProcess[bytes]:
    """Run `probes` after the prelude in a fresh `-S` interpreter; PROGRAM holds `program` (empty for none)."""
    numbers = {name: number(name) for name in ("bpf", "keyctl", "clone", "clone3", "setns", "getpid")}
    return subprocess.run(
        [sys.executable, "-S", "-c", PRELUDE + probes, str(ZYGOTE), json.dumps(numbers)],
        input=program,
        capture_output=True,
        timeout=60,
        check=False,
    )


def results_of(child: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    assert child.returncode == 0, child.stderr.decode()
    results: dict[str, object] = json.loads(child.stdout)
    return results


# Each forbidden call is made so that, without the filter, the kernel would answer something other than EPERM
# (as root here) or do no harm: the answer EPERM then comes from the filter.
FORBIDDEN_PROBES = """
import socket
_fbz_seccomp.install(PROGRAM)
CLONE_THREAD = 0x10000  # without CLONE_SIGHAND the kernel itself refuses with EINVAL: nothing is ever cloned
print(json.dumps({
    "mount": outcome(libc.mount(None, b"/nonexistent/firebox", b"tmpfs", 0, None)),
    "ptrace(PTRACE_TRACEME)": outcome(libc.ptrace(0, 0, None, None)),
    "bpf": outcome(libc.syscall(NR["bpf"], 0, None, 0)),
    "keyctl": outcome(libc.syscall(NR["keyctl"], 0, -3, 0)),
    "setns": outcome(libc.syscall(NR["setns"], os.open("/proc/self/ns/net", os.O_RDONLY), 0)),
    "clone(CLONE_NEWNS)": outcome(libc.syscall(NR["clone"], 0x20000 | CLONE_THREAD, 0, 0, 0, 0)),
    "clone(CLONE_NEWUSER)": outcome(libc.syscall(NR["clone"], 0x10000000 | CLONE_THREAD, 0, 0, 0, 0)),
    "clone3": outcome(libc.syscall(NR["clone3"], None, 0)),
    "personality(ADDR_NO_RANDOMIZE)": outcome(libc.personality(0x0040000)),
    "socket(AF_PACKET)": attempt(socket.socket, 17, socket.SOCK_RAW),
    "unshare(CLONE_NEWUSER)": outcome(libc.unshare(0x10000000)),  # last: without the filter, it drops our caps
}))
"""


@needs_seccomp
def test_forbidden_calls_fail_with_eperm(program: bytes) -> None:
    results = results_of(run_child(program, FORBIDDEN_PROBES))
    assert results.pop("clone3") == "ENOSYS"
    assert results == dict.fromkeys(results, "EPERM")


EVERYDAY_PROBES = """
import socket, subprocess, tempfile, threading, time
_fbz_seccomp.install(PROGRAM)
results = {}
status = open("/proc/self/status").read()
results["no_new_privs and filter"] = "ok" if "NoNewPrivs:\\t1" in status and "Seccomp:\\t2" in status else status

pid = os.fork()
if pid == 0:
    os._exit(7)
results["fork"] = "ok" if os.waitpid(pid, 0)[1] == 7 << 8 else "wrong status"

ran = []
thread = threading.Thread(target=ran.append, args=("ok",))  # glibc tries clone3, gets ENOSYS, uses clone
thread.start()
thread.join()
results["thread"] = ran[0] if ran else "did not run"
results["subprocess"] = "ok" if subprocess.run(["/bin/true"]).returncode == 0 else "failed"
spawned = os.posix_spawn("/bin/true", ["true"], {})
results["posix_spawn"] = "ok" if os.waitpid(spawned, 0)[1] == 0 else "failed"

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with socket.create_connection(server.getsockname(), timeout=5) as client:
        client.sendall(b"hi")
        results["tcp"] = "ok" if server.accept()[0].recv(2) == b"hi" else "lost"
left, right = socket.socketpair()
left.sendall(b"hi")
results["unix socket"] = "ok" if right.recv(2) == b"hi" else "lost"

with tempfile.TemporaryFile() as scratch:
    scratch.write(b"data")
    scratch.seek(0)
    results["files"] = "ok" if scratch.read() == b"data" else "lost"
time.sleep(0.001)
results["sleep"] = "ok"
results["personality(query)"] = outcome(libc.personality(ctypes.c_ulong(0xFFFFFFFF)))
results["personality(-1)"] = outcome(libc.personality(ctypes.c_long(-1)))
results["personality(0)"] = outcome(libc.personality(0))
print(json.dumps(results))
"""


@needs_seccomp
def test_everyday_work_still_works_under_the_filter(program: bytes) -> None:
    results = results_of(run_child(program, EVERYDAY_PROBES))
    assert results == dict.fromkeys(results, "ok")


THREAD_PROBES = """
import threading
go, answer = threading.Event(), []
def unshare_when_told():
    go.wait()
    answer.append(outcome(libc.unshare(0x10000000)))
thread = threading.Thread(target=unshare_when_told)
thread.start()  # before the filter exists
_fbz_seccomp.install(PROGRAM)
go.set()
thread.join()
print(json.dumps({"unshare in an older thread": answer[0]}))
"""


@needs_seccomp
def test_threads_started_before_the_filter_get_it_too(program: bytes) -> None:
    assert results_of(run_child(program, THREAD_PROBES)) == {"unshare in an older thread": "EPERM"}


@needs_seccomp
@needs_root
def test_an_unprivileged_process_can_load_it(program: bytes) -> None:
    """The zygote's child loads the filter after setuid, as here; no_new_privs is what lets it."""
    probes = """
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
_fbz_seccomp.install(PROGRAM)
print(json.dumps({"uid": os.getuid(), "unshare": outcome(libc.unshare(0x10000000))}))
"""
    assert results_of(run_child(program, probes)) == {"uid": 65534, "unshare": "EPERM"}


@needs_seccomp
def test_the_kernel_refusing_a_program_raises_oserror() -> None:
    probes = 'print(json.dumps({"install": attempt(_fbz_seccomp.install, bytes(8))}))'  # no return instruction
    assert results_of(run_child(b"", probes)) == {"install": "EINVAL"}


# i386's getpid through `int 0x80`, from machine code in an executable page.
INT80_PROBES = """
import mmap
if PROGRAM:
    _fbz_seccomp.install(PROGRAM)
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3]))  # mov eax, 20; int 0x80; ret
getpid_i386 = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
print(json.dumps({"getpid": "ok" if getpid_i386() == os.getpid() else "wrong"}))
"""


@needs_seccomp
@pytest.mark.skipif(platform.machine() != "x86_64", reason="i386 and x32 calls exist on x86_64 only")
def test_a_32_bit_system_call_kills_the_process(program: bytes) -> None:
    x32_getpid = 'libc.syscall(0x40000000 | NR["getpid"])\nprint(json.dumps({"x32": "survived"}))'
    assert run_child(program, "_fbz_seccomp.install(PROGRAM)\n" + x32_getpid).returncode == -signal.SIGSYS
    without_filter = run_child(b"", INT80_PROBES)
    if without_filter.returncode != 0:
        pytest.skip("this kernel runs no i386 system calls (ia32 emulation is off), so none can bypass the filter")
    assert results_of(without_filter) == {"getpid": "ok"}  # the probe itself works
    assert run_child(program, INT80_PROBES).returncode == -signal.SIGSYS
