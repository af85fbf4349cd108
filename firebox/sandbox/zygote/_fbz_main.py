"""The zygote's loop and the two processes it forks for each execution environment.

    zygote ──fork──► monitor (outside the sandbox: enters the new namespaces' parent side, reports)
                        └──fork──► sandbox (PID 1 of its PID namespace: confines itself, then runs the runtime)

The monitor puts the sandbox process into its control groups before letting it go on, tells the worker
its pid, and reports how it ended: the worker is not its parent, so it could not learn that otherwise.
"""

from __future__ import annotations

import base64
import gc
import importlib
import json
import os
import signal
import socket
import sys
from typing import Any

from . import _fbz_confine as confine
from . import _fbz_linux as linux

_NAMESPACES = linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
_MAX_MESSAGE = 1 << 20


def _send(channel: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(channel, [data], fds)
    else:
        channel.send(data)


def serve(control_fd: int, preload: str) -> int:
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote never outlives its worker
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the kernel
    control = socket.socket(fileno=control_fd)

    # The runtime client is imported now, so every environment starts with it (a private package the
    # zygote's entry point registered: hence import_module).
    importlib.import_module("_fbx_runtime._fbx_loop")
    importlib.import_module("_fbx_runtime._fbx_sitepath").add_installed_packages()
    loaded, failed = [], {}
    for name in filter(None, (n.strip() for n in preload.split(","))):
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # a preload that fails costs its speed-up, not the zygote
            failed[name] = f"{type(exc).__name__}: {exc}"
    # What is imported now is shared by every environment; keeping the collector off it keeps it shared.
    gc.freeze()
    prefixes = sorted({sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix})
    _send(control, {"ready": True, "prefixes": prefixes, "preloaded": loaded, "failed": failed})
    while True:
        message, fds, _, _ = socket.recv_fds(control, _MAX_MESSAGE, 4)
        if not message:
            return 0
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                _monitor(request, fds)
            finally:
                os._exit(127)
        for fd in fds:
            os.close(fd)
        _send(control, {"id": request["id"], "pid": pid})


def _monitor(request: dict[str, Any], fds: list[int]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # this process waits for its child itself
    output_fd, report_fd = fds
    report = socket.socket(fileno=report_fd)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    linux.unshare(_NAMESPACES)
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_write)
        os.read(go_read, 1)  # wait until the monitor has put this process into its control groups
        os.close(go_read)
        _sandbox(request, output_fd, report)
    os.close(go_read)
    os.close(output_fd)
    try:
        for procs in request["cgroup_procs"]:
            with open(procs, "w") as group:
                group.write(str(pid))
    except OSError as exc:
        os.kill(pid, signal.SIGKILL)
        _send(report, {"error": f"could not enter the control groups: {exc}"})
        os._exit(1)
    os.write(go_write, b"g")
    os.close(go_write)
    _send(report, {"pid": pid})
    _, status = os.waitpid(pid, 0)
    _send(report, {"exit": os.waitstatus_to_exitcode(status)})
    os._exit(0)


def _sandbox(request: dict[str, Any], output_fd: int, report: socket.socket) -> None:
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        linux.sethostname(request["hostname"])
        api = confine.listen_for_runtime_api(request["api_port"])
        _send(report, {"api": True}, [api.fileno()])
        api.close()
        confine.enter_root(request["root"], request["mounts"])
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        confine.become(request["uid"], request["gid"], request["inside_id"])
        if request.get("seccomp"):
            from . import _fbz_seccomp

            _fbz_seccomp.install(base64.b64decode(request["seccomp"]))
        report.close()
        os.closerange(3, 65536)
        os.chdir(request["cwd"])
        env = request["env"]
    except BaseException as exc:
        try:
            _send(report, {"error": f"{type(exc).__name__}: {exc}"})
        finally:
            os._exit(126)
    if "argv" in request:
        try:
            os.execve(request["argv"][0], request["argv"], env)
        finally:
            os._exit(127)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [""]
    os._exit(_exit_code(importlib.import_module("_fbx_runtime._fbx_loop").main))


def _exit_code(main: Any) -> int:
    try:
        code = main()
    except SystemExit as exit_:
        code = exit_.code
    sys.stdout.flush()
    sys.stderr.flush()
    return code if isinstance(code, int) else (0 if code is None else 1)
