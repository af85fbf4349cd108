"""The zygote's loop, and the process it forks for each execution environment.

    zygote ──fork (into a new PID namespace)──► sandbox: PID 1 of its namespace; confines itself, then
                                                runs the runtime

The zygote is every sandbox's parent: it puts each one into its control groups before letting it go on,
and reports how each ended (the worker is not their parent, so it could not learn that otherwise). A
sandbox dies with its zygote, and the zygote with its worker (PR_SET_PDEATHSIG at both steps).
"""

from __future__ import annotations

import base64
import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

# Everything this code needs is imported here, in the zygote: a sandbox cannot import Firebox's modules once
# it has its own root, where Firebox's directories are not.
from . import _fbz_confine as confine
from . import _fbz_linux as linux
from . import _fbz_seccomp
from ._fbz_channel import MAX_FDS, MAX_MESSAGE, ChildExits, send
from ._fbz_snapshot import Template

# The PID namespace comes from unshare before fork (the zygote's next child is PID 1 of a new one); the
# rest the sandbox unshares for itself.
_SANDBOX_NAMESPACES = linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS


def _preload(names: str) -> tuple[list[str], dict[str, str]]:
    # The runtime client is imported now, so every environment starts with it (a private package the
    # zygote's entry point registered: hence import_module).
    importlib.import_module("_fbx_runtime._fbx_loop")
    importlib.import_module("_fbx_runtime._fbx_sitepath").add_installed_packages()
    loaded, failed = [], {}
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # a preload that fails costs its speed-up, not the zygote
            failed[name] = f"{type(exc).__name__}: {exc}"
    # What is imported now is shared by every environment; keeping the collector off it keeps it shared.
    gc.freeze()
    return loaded, failed


class _Zygote:
    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._own_pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY)
        self._exits = ChildExits()
        self._spares: dict[str, tuple[int, socket.socket]] = {}  # spare id -> its pid and its channel

    def serve(self) -> int:
        selector = selectors.DefaultSelector()
        selector.register(self._control, selectors.EVENT_READ)
        selector.register(self._exits, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is self._control:
                    message, fds, _, _ = socket.recv_fds(self._control, MAX_MESSAGE, MAX_FDS)
                    if not message:
                        return 0
                    request = json.loads(message)
                    try:
                        if request.get("op") == "spare":
                            self._prepare_spare(request)
                        else:
                            self._spawn(request, fds)
                    except OSError as exc:
                        for fd in fds:
                            with contextlib.suppress(OSError):
                                os.close(fd)
                        send(self._control, {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"})
                else:
                    self._forget_dead_spares(self._exits.reap())

    def _fork_spare(self, preparation: dict[str, Any]) -> tuple[int, socket.socket]:
        """A child in a new PID namespace, already in its control groups and its other namespaces, with the
        common part of its filesystem built, waiting for what to become.

        These are the slow steps of a cold start (joining control groups on cgroup v1 waits for an RCU grace
        period, several milliseconds): spares take them before any invocation waits for them. The child takes
        them itself, so the zygote is free to fork the next one meanwhile (a burst of cold starts finds no
        spare left, and would otherwise queue behind the zygote).
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        linux.unshare(linux.CLONE_NEWPID)
        try:
            pid = os.fork()
        finally:
            if os.getpid() != 1:  # in the zygote: its later children must not join this namespace
                linux.setns(self._own_pid_namespace, linux.CLONE_NEWPID)
        if pid == 0:
            try:
                ours.close()
                self._control.close()
                self._exits.close_in_child()
                for procs in preparation["cgroup_procs"]:
                    with open(procs, "w") as group:
                        group.write("0")  # this process: the cgroup files take 0 for the writer
                api = _prepare(preparation)
                message, fds, _, _ = socket.recv_fds(theirs, MAX_MESSAGE, MAX_FDS)
                if message and len(fds) in (2, 3):
                    theirs.close()
                    tmp_mount = fds[2] if len(fds) == 3 else None
                    _sandbox(json.loads(message), api, fds[0], socket.socket(fileno=fds[1]), tmp_mount)
            finally:
                os._exit(126)
        theirs.close()
        return pid, ours

    def _prepare_spare(self, request: dict[str, Any]) -> None:
        pid, channel = self._fork_spare(request)
        self._spares[request["id"]] = (pid, channel)
        send(self._control, {"id": request["id"], "pid": pid})

    def _spawn(self, request: dict[str, Any], fds: list[int]) -> None:
        spare = self._spares.pop(request.get("spare") or "", None)
        # Without a spare (none left, or it died), a fresh child does the preparation first.
        pid, channel = spare if spare is not None else self._fork_spare(request["preparation"])
        report = socket.socket(fileno=fds[1])
        try:
            socket.send_fds(channel, [json.dumps(request).encode()], fds)
        except OSError:
            os.kill(pid, signal.SIGKILL)
            report.close()
            raise
        finally:
            channel.close()
            os.close(fds[0])
            for fd in fds[2:]:
                os.close(fd)
        self._exits.watch(pid, report)
        send(self._control, {"id": request["id"], "pid": pid})
        send(report, {"pid": pid})

    def _forget_dead_spares(self, reaped: list[int]) -> None:
        for spare_id, (spare_pid, channel) in list(self._spares.items()):
            if spare_pid in reaped:  # a spare that died before it was used
                channel.close()
                del self._spares[spare_id]


def serve(control_fd: int, preload: str) -> int:
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote never outlives its worker
    control = socket.socket(fileno=control_fd)
    loaded, failed = _preload(preload)
    prefixes = sorted({sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix})
    send(control, {"ready": True, "prefixes": prefixes, "preloaded": loaded, "failed": failed})
    return _Zygote(control).serve()


def _prepare(preparation: dict[str, Any]) -> socket.socket:
    """What every sandbox of this zygote needs, whatever function it will run: its namespaces, its Runtime
    API socket, and the common part of its filesystem. Returns the Runtime API socket."""
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    linux.unshare(_SANDBOX_NAMESPACES)
    linux.sethostname(preparation["hostname"])
    api = confine.listen_for_runtime_api(preparation["api_port"])
    confine.build_root(preparation["root"], preparation["mounts"])
    return api


def _sandbox(
    request: dict[str, Any], api: socket.socket, output_fd: int, report: socket.socket, tmp_mount: int | None
) -> None:
    """Become the function's environment: its code and /tmp, its identity and limits, then its runtime.

    A SnapStart template (request "template") keeps `report` as the channel its restores are asked on, and
    its capabilities inside its own user namespace, which each restored copy drops (`_fbz_snapshot`)."""
    template = request.get("template")
    try:
        send(report, {"api": True}, [api.fileno()])
        api.close()
        # The worker attaches outbound access from outside; the function must find it in place.
        if request.get("wait_for_network") and json.loads(report.recv(MAX_MESSAGE) or b"{}").get("network") != "ready":
            raise OSError("the worker did not attach the network")
        confine.enter_root(
            request["preparation"]["root"], request["mounts"], {"/tmp": tmp_mount} if tmp_mount is not None else {}
        )
        if tmp_mount is not None:
            os.close(tmp_mount)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        confine.become(request["uid"], request["gid"], request["inside_id"], keep_capabilities=template is not None)
        if request.get("seccomp"):
            _fbz_seccomp.install(base64.b64decode(request["seccomp"]))
        if template is None:
            report.close()
            os.closerange(3, 65536)
        else:
            os.closerange(3, report.fileno())
            os.closerange(report.fileno() + 1, 65536)
        os.chdir(request["cwd"])
        env = request["env"]
    except BaseException as exc:
        try:
            send(report, {"error": f"{type(exc).__name__}: {exc}"})
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
    main = importlib.import_module("_fbx_runtime._fbx_loop").main
    if template is not None:
        os._exit(_exit_code(lambda: main(snapshot=Template(report, template))))
    os._exit(_exit_code(main))


def _exit_code(main: Callable[[], Any]) -> int:
    try:
        code = main()
    except SystemExit as exit_:
        code = exit_.code
    sys.stdout.flush()
    sys.stderr.flush()
    return code if isinstance(code, int) else (0 if code is None else 1)
