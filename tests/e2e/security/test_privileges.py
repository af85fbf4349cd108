"""Privileges: a function is uid 993 with no capability, and every way up is shut: setuid, the host's
secrets and configuration, mounts, ptrace, new namespaces, kernel modules and other kernel state."""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.security.hostile import invoke, succeeded

IDENTITY = """
import os
import subprocess

def handler(event, context):
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines())
    fields = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
    return {
        "id": subprocess.run(["id"], capture_output=True, text=True).stdout.strip(),
        "status": {field: " ".join(status[field].split()) for field in fields},
    }
"""

# Every probe is harmless should it succeed: files are opened for writing but not written, whatever is
# created is removed, and what changes a process's own state runs in a child.
ESCALATE = """
import ctypes
import os
import socket
import subprocess
import time
from probe import attempt, checked, in_child, libc, read, syscall

def _open_for_writing(path):
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))

def _create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.unlink(path)

def _mknod(path):
    os.mknod(path, 0o600 | 0o060000, os.makedev(8, 0))
    os.unlink(path)

def _run(*argv):
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=10)
    if done.returncode != 0:
        raise PermissionError(1, done.stderr.strip()[:200])
    return done.stdout.strip()[:200]

def _mount_binary(target):
    _run("mount", "-t", "tmpfs", "none", target)
    _run("umount", target)

def _readable(path):
    with open(path, "rb") as f:
        return f"{len(f.read())} bytes"  # not what they say: the host's secrets stay out of test reports

def _mount(source, target, fstype, flags=0):
    checked(libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, None))
    libc.umount2(target.encode(), 2)

def _ptrace(request, pid):
    return checked(libc.ptrace(request, pid, None, None))

def _setns(path, kind):
    return checked(libc.setns(os.open(path, os.O_RDONLY), kind))

def _process_vm_readv(pid):
    buffer = ctypes.create_string_buffer(8)
    local = (ctypes.c_void_p * 2)(ctypes.cast(buffer, ctypes.c_void_p), 8)
    return syscall("process_vm_readv", pid, local, 1, local, 1, 0)

def _finit_module(path):
    return syscall("finit_module", os.open(path, os.O_RDONLY), b"", 0)

def _clock_settime_to_now():
    now = time.clock_gettime_ns(time.CLOCK_REALTIME)
    timespec = (ctypes.c_long * 2)(now // 1_000_000_000, now % 1_000_000_000)
    return syscall("clock_settime", time.CLOCK_REALTIME, timespec)

def handler(event, context):
    child = os.fork()
    if child == 0:
        while True:
            time.sleep(1)
    os.makedirs("/tmp/mnt", exist_ok=True)
    with open("/tmp/mine", "w") as f:
        f.write("mine")
    observed = {
        # identity
        "setuid(0)": attempt(os.setuid, 0),
        "seteuid(0)": attempt(os.seteuid, 0),
        "setgid(0)": attempt(os.setgid, 0),
        "setgroups([0])": attempt(os.setgroups, [0]),
        "chown a file to root": attempt(os.chown, "/tmp/mine", 0, 0),
        "su root": attempt(_run, "su", "-c", "id", "root"),
        "setuid mount binary": attempt(_mount_binary, "/tmp/mnt"),
        # the host's secrets and configuration
        "read /etc/shadow": attempt(_readable, "/etc/shadow"),
        "read /etc/gshadow": attempt(_readable, "/etc/gshadow"),
        "write /etc/passwd": attempt(_open_for_writing, "/etc/passwd"),
        "write /etc/hosts": attempt(_open_for_writing, "/etc/hosts"),
        "create /pwned": attempt(_create, "/pwned"),
        "create /usr/pwned": attempt(_create, "/usr/pwned"),
        "create /usr/bin/pwned": attempt(_create, "/usr/bin/pwned"),
        "create /etc/pwned": attempt(_create, "/etc/pwned"),
        "create /opt/pwned": attempt(_create, "/opt/pwned"),
        "create /var/pwned": attempt(_create, "/var/pwned"),
        "create /dev/pwned": attempt(_create, "/dev/pwned"),
        "create in the interpreter's library": attempt(_create, os.path.dirname(os.__file__) + "/pwned.py"),
        "mknod a block device": attempt(_mknod, "/tmp/sda"),
        "write /proc/sysrq-trigger": attempt(_open_for_writing, "/proc/sysrq-trigger"),
        "write /proc/sys/kernel/core_pattern": attempt(_open_for_writing, "/proc/sys/kernel/core_pattern"),
        "write /proc/sys/kernel/modprobe": attempt(_open_for_writing, "/proc/sys/kernel/modprobe"),
        "write /proc/self/exe": attempt(_open_for_writing, "/proc/self/exe"),
        "read /proc/kcore": attempt(_readable, "/proc/kcore"),
        "read /dev/mem": attempt(_readable, "/dev/mem"),
        "read /dev/kmsg": attempt(_open_for_writing, "/dev/kmsg"),
        # mounts
        "mount tmpfs": attempt(_mount, "none", "/tmp/mnt", "tmpfs"),
        "bind mount /": attempt(_mount, "/", "/tmp/mnt", None, 0x1000 | 0x4000),
        "remount /var/task read-write": attempt(_mount, "none", "/var/task", None, 0x20 | 0x1000),
        "mount proc": attempt(_mount, "proc", "/tmp/mnt", "proc"),
        "umount /var/task": in_child(lambda: checked(libc.umount2(b"/var/task", 2))),
        "chroot": in_child(os.chroot, "/tmp"),
        "pivot_root": in_child(syscall, "pivot_root", b"/tmp/nowhere", b"/tmp/nowhere"),
        # other processes
        "ptrace(PTRACE_TRACEME)": in_child(_ptrace, 0, 0),
        "ptrace(PTRACE_ATTACH, child)": attempt(_ptrace, 16, child),
        "ptrace(PTRACE_SEIZE, child)": attempt(_ptrace, 0x4206, child),
        "process_vm_readv(child)": attempt(_process_vm_readv, child),
        "read /proc/child/mem": attempt(_readable, f"/proc/{child}/mem"),
        # namespaces
        "unshare(CLONE_NEWUSER)": in_child(lambda: checked(libc.unshare(0x10000000))),
        "unshare(CLONE_NEWNS)": in_child(lambda: checked(libc.unshare(0x00020000))),
        "unshare(CLONE_NEWNET)": in_child(lambda: checked(libc.unshare(0x40000000))),
        "unshare(CLONE_NEWPID)": in_child(lambda: checked(libc.unshare(0x20000000))),
        "unshare(CLONE_NEWCGROUP)": in_child(lambda: checked(libc.unshare(0x02000000))),
        "unshare binary -U": attempt(_run, "unshare", "-U", "-r", "id"),
        "setns(mnt)": in_child(_setns, "/proc/self/ns/mnt", 0x00020000),
        "setns(user)": in_child(_setns, "/proc/self/ns/user", 0x10000000),
        "nsenter binary": attempt(_run, "nsenter", "-t", "1", "-m", "id"),
        # the kernel; each call's arguments are invalid, so one that got through would still do nothing
        "init_module": attempt(syscall, "init_module", None, 0, b""),
        "finit_module": attempt(_finit_module, "/dev/null"),
        "kexec_load": attempt(syscall, "kexec_load", 0, 0, None, 0x8000),
        "bpf": attempt(syscall, "bpf", 0, None, 0),
        "perf_event_open": attempt(syscall, "perf_event_open", None, 0, -1, -1, 0),
        "keyctl": attempt(syscall, "keyctl", 0, -3, 0),
        "syslog (dmesg)": attempt(syscall, "syslog", 3, ctypes.create_string_buffer(64), 64),
        "reboot (bad magic)": attempt(syscall, "reboot", 0, 0, 0, None),
        "clock_settime": attempt(_clock_settime_to_now),
        "sethostname": in_child(socket.sethostname, socket.gethostname()),
        "open_by_handle_at": attempt(syscall, "open_by_handle_at", -100, None, 0),
        "userfaultfd": attempt(syscall, "userfaultfd", 0),
        "personality(ADDR_NO_RANDOMIZE)": in_child(syscall, "personality", 0x0040000),
    }
    os.kill(child, 9)
    os.waitpid(child, 0)
    return observed
"""

# System calls through another ABI than the one the seccomp filter names (x86_64 only: the other ABIs are
# x86's), and clone asking for a namespace.
OTHER_ABIS = """
import ctypes
import errno
import mmap
import os
import struct
from probe import in_child, libc

CLONE_NEWUSER = 0x10000000
SIGCHLD = 17

def _checked(result, code):
    if result < 0:
        raise OSError(code, errno.errorcode.get(code, str(code)))
    return result

def _x32_unshare():
    return _checked(libc.syscall(0x40000000 | 272, CLONE_NEWUSER), ctypes.get_errno())

def _i386_unshare():
    # push rbx; mov eax, 310 (i386 unshare); mov ebx, CLONE_NEWUSER; int 0x80; pop rbx; ret
    code = b"\\x53\\xb8" + struct.pack("<I", 310) + b"\\xbb" + struct.pack("<I", CLONE_NEWUSER)
    memory = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    memory.write(code + b"\\xcd\\x80\\x5b\\xc3")
    result = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(memory)))()
    return _checked(result, -result)

def _clone_newuser():
    pid = libc.syscall(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    return _checked(pid, ctypes.get_errno())

def _clone3_newuser():
    arguments = struct.pack("=11Q", CLONE_NEWUSER, 0, 0, 0, SIGCHLD, 0, 0, 0, 0, 0, 0)
    pid = libc.syscall(435, arguments, len(arguments))
    if pid == 0:
        os._exit(0)
    return _checked(pid, ctypes.get_errno())

def handler(event, context):
    return {
        "x32 unshare": in_child(_x32_unshare),
        "i386 int 0x80 unshare": in_child(_i386_unshare),
        "clone(CLONE_NEWUSER)": in_child(_clone_newuser),
        "clone3(CLONE_NEWUSER)": in_child(_clone3_newuser),
    }
"""


# A custom runtime: the executable `bootstrap` the sandbox execs, with the Runtime API client it brings.
BOOTSTRAP = """#!/usr/bin/python3
import json
import os
import sys
import urllib.request

sys.path.insert(0, "/var/task")
from probe import attempt, read

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"

def observe(event):
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines())
    observed = {f"read {path}": attempt(read, path) for path in event["paths"]}
    observed["setuid(0)"] = attempt(os.setuid, 0)
    return {
        "status": {field: " ".join(status[field].split()) for field in ("Uid", "CapEff", "NoNewPrivs", "Seccomp")},
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "attempts": observed,
    }

while True:
    with urllib.request.urlopen(API + "next") as invocation:
        request_id = invocation.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(invocation.read())
    answer = json.dumps(observe(event)).encode()
    urllib.request.urlopen(urllib.request.Request(API + request_id + "/response", data=answer, method="POST")).read()
"""


def test_a_function_is_uid_993_with_no_capability(deploy: Callable[..., str], lambda_client: Any) -> None:
    outcome = invoke(lambda_client, deploy(IDENTITY))
    assert outcome.function_error is None, outcome
    assert outcome.payload["id"].startswith("uid=993 gid=993"), outcome.payload
    assert outcome.payload["status"] == {
        "Uid": "993 993 993 993",
        "Gid": "993 993 993 993",
        "Groups": "",
        "CapInh": "0000000000000000",
        "CapPrm": "0000000000000000",
        "CapEff": "0000000000000000",
        "CapBnd": "0000000000000000",
        "CapAmb": "0000000000000000",
        "NoNewPrivs": "1",
        "Seccomp": "2",
    }


def test_every_way_up_is_shut(deploy: Callable[..., str], lambda_client: Any) -> None:
    outcome = invoke(lambda_client, deploy(ESCALATE, Timeout=30))
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the other system call ABIs are x86's")
def test_seccomp_holds_through_other_abis_and_clone(deploy: Callable[..., str], lambda_client: Any) -> None:
    outcome = invoke(lambda_client, deploy(OTHER_ABIS))
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}


def test_a_custom_runtime_is_confined_alike(deploy: Callable[..., str], lambda_client: Any) -> None:
    name = deploy(
        "", files={"bootstrap": BOOTSTRAP}, runtime="provided.al2023", handler="unused", executable=("bootstrap",)
    )
    outcome = invoke(lambda_client, name, {"paths": ["/etc/shadow", "/etc/gshadow", "/proc/kcore"]})
    assert outcome.function_error is None, outcome
    assert outcome.payload["status"] == {
        "Uid": "993 993 993 993",
        "CapEff": "0000000000000000",
        "NoNewPrivs": "1",
        "Seccomp": "2",
    }
    assert outcome.payload["pids"] == [1], outcome.payload
    assert succeeded(outcome.payload["attempts"]) == {}
