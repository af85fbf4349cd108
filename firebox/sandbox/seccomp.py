"""The seccomp filter every namespace sandbox runs under: compiled here, loaded by the zygote.

The worker compiles the filter with libseccomp (through pyseccomp) into classic BPF for this host's
architecture; the zygote, which has only the standard library of the function's interpreter, loads the
raw bytes (`zygote/_fbz_seccomp.py`). The filter allows by default and refuses what no function needs:
calls that reshape the sandbox (mounts, namespaces), reach out of it (other processes, the kernel, the
host's clock and keyring). A refused call fails with EPERM, as it would for an unprivileged user, so code
that probes for a feature gets an ordinary error rather than a crash.

The tables name native system calls only, so a second system call table would be a way around them:
calls made through another ABI (i386's `int 0x80` or x32 on x86_64) kill the process instead.
"""

from __future__ import annotations

import errno
import tempfile

import pyseccomp

from firebox.errors import SandboxStartFailed

# Refused outright with EPERM, grouped by what they would let a function do.
_REFUSED: dict[str, tuple[str, ...]] = {
    # The sandbox's mounts and root are final before its function starts; changing them is the first step of
    # most container escapes, and the new mount API (fsopen and the rest) is the same power by another door.
    "mounts": (
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "mount_setattr",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
    ),
    # A function stays in the namespaces it was given: joining or making others would undo them.
    "namespaces": ("setns", "unshare"),
    # Reading or steering another process (the runtime beside the handler, or a later invocation's state);
    # pidfd_getfd takes a copy of another process's file descriptor.
    "other processes": ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"),
    # The kernel's own state: modules, a new kernel, BPF programs, its log and performance counters, and
    # userfaultfd, which turns kernel race bugs into reliable exploits.
    "kernel": (
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "bpf",
        "syslog",
        "perf_event_open",
        "userfaultfd",
        "lookup_dcookie",
    ),
    # Keyrings are not namespaced: every sandbox on the host would share them.
    "keys": ("keyctl", "add_key", "request_key"),
    # The clock is host-wide: setting it would skew every other sandbox and the worker's timeouts.
    "clock": ("settimeofday", "clock_settime", "clock_adjtime", "adjtimex"),
    # Host administration that no function has a use for.
    "host": ("reboot", "swapon", "swapoff", "acct", "quotactl", "vhangup", "nfsservctl", "uselib"),
    # Direct access to I/O ports (x86 only; other architectures lack these calls and skip them).
    "io ports": ("iopl", "ioperm"),
    # A file handle opens a file without walking its path, so it can name files outside the sandbox's root.
    "file handles": ("open_by_handle_at", "name_to_handle_at"),
}

# clone may make threads and processes, never namespaces. CLONE_NEWTIME's bit lies in the byte where clone takes
# its exit signal, so here it only refuses exit signals from 128 up, which do not exist; a new time namespace
# can only come from clone3 or unshare, both refused.
_CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWTIME": 0x00000080,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

# Packet sockets read and forge raw frames on the sandbox's interfaces; every other family stays open.
_REFUSED_SOCKET_FAMILIES = {"AF_PACKET": 17}

# What a SnapStart template may still do while its INIT runs: each restored copy makes its own namespaces, mounts
# its own /proc and attaches its own /tmp (a mount the worker sends it), and a filter, once loaded, can only be
# narrowed. The copies load the full filter on top of this one before the runtime goes on.
_TEMPLATE_ALLOWED = ("mount", "move_mount", "unshare")

_EPERM = pyseccomp.ERRNO(errno.EPERM)
_LOW_32_BITS = 0xFFFFFFFF
_UNKNOWN_SYSCALL = -1  # libseccomp's __NR_SCMP_ERROR


def compile_filter(*, template: bool = False) -> bytes:
    """The filter as classic BPF for this host: an array of struct sock_filter, 8 bytes each, native endian.
    With `template`, the filter of a SnapStart template during INIT (see _TEMPLATE_ALLOWED).

    Raises SandboxStartFailed when libseccomp cannot build it, for example when it is too old to know one
    of the refused calls: a sandbox without the whole filter must not start.
    """
    try:
        syscall_filter = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        # The filter names only the native architecture; a call through any other ABI dies.
        syscall_filter.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
        for names in _REFUSED.values():
            for name in names:
                if not (template and name in _TEMPLATE_ALLOWED):
                    syscall_filter.add_rule(_EPERM, _number(name))
        _refuse_namespace_clones(syscall_filter)
        # clone3 passes its flags in memory, which a filter cannot read. ENOSYS makes glibc fall back to clone,
        # whose flags it can (the same choice as Docker's default profile).
        syscall_filter.add_rule(pyseccomp.ERRNO(errno.ENOSYS), _number("clone3"))
        _refuse_socket_families(syscall_filter)
        _refuse_personality_changes(syscall_filter)
        with tempfile.TemporaryFile() as exported:
            syscall_filter.export_bpf(exported)
            exported.seek(0)
            return exported.read()
    except OSError as exc:
        raise SandboxStartFailed(f"libseccomp could not compile the sandbox's seccomp filter: {exc}") from exc


def _number(name: str) -> int:
    # Negative numbers other than -1 are libseccomp's stand-ins for calls this architecture lacks (iopl on
    # arm64): rules on them are valid and produce no code.
    number: int = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    if number == _UNKNOWN_SYSCALL:
        raise SandboxStartFailed(f"this libseccomp does not know the system call {name!r}: upgrade libseccomp")
    return number


def _refuse_namespace_clones(syscall_filter: pyseccomp.SyscallFilter) -> None:
    # One rule per flag: a rule's comparisons must all hold, and any one flag is enough to refuse.
    for flag in _CLONE_NAMESPACE_FLAGS.values():
        syscall_filter.add_rule(_EPERM, _number("clone"), pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))


def _refuse_socket_families(syscall_filter: pyseccomp.SyscallFilter) -> None:
    # The family is an int: the kernel ignores the register's upper half, so the filter must too.
    for family in _REFUSED_SOCKET_FAMILIES.values():
        masked_equal = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _LOW_32_BITS, family)
        syscall_filter.add_rule(_EPERM, _number("socket"), masked_equal)


def _refuse_personality_changes(syscall_filter: pyseccomp.SyscallFilter) -> None:
    # personality(0) keeps Linux's defaults and personality(0xffffffff) only asks; any other value turns on a
    # legacy behaviour such as ADDR_NO_RANDOMIZE (no ASLR for what the process executes next). The kernel reads
    # an unsigned int, so only the low 32 bits count: personality(-1) from C is a query too.
    # "Neither 0 nor 0xffffffff" cannot be one rule: libseccomp takes one comparison per argument in a rule,
    # and no allow rule under an allowing default. So it is a union of single comparisons, one per bit: that
    # bit set and the next one (going round, bit 31 to bit 0) clear. Such a pair exists unless all 32 bits are
    # equal, that is unless the value is 0 or 0xffffffff.
    personality = _number("personality")
    for bit in range(32):
        set_bit, clear_bit = 1 << bit, 1 << ((bit + 1) % 32)
        one_then_zero = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, set_bit | clear_bit, set_bit)
        syscall_filter.add_rule(_EPERM, personality, one_then_zero)
