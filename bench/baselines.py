"""Baselines for sandbox cold starts and idle memory, measured in the same run as the figure they stand beside.

Each baseline starts a Python handler module (by default the no-op `def handler(event, context): return None`)
from nothing and calls it once, from the host's side:

- a fresh interpreter: a new `python3 -c 'import app; app.handler({}, None)'` process in the task directory,
  with the base interpreter (not a virtualenv's), optionally with `-S` (no `site`).
- a runc container: the same command as the container's process under `runc run`, in an OCI bundle whose
  rootfs holds read-only bind mounts of the host's system directories and the interpreter's prefix, and the
  task directory at /var/task. Namespaces are those `runc spec` gives (pid, network, ipc, uts, mount); no
  user namespace, so it needs root.

For latency, `fresh_interpreter()` and `runc_container()` give a sampler that times one start end to end per
call, so a benchmark can interleave baseline samples with its own (the `*_ms` functions take a series at
once). One untimed run precedes each series, so the first page-in of the interpreter and of runc is not a
sample. For memory, `idle_interpreters()` and `idle_runc_containers()` keep processes that have called the
handler alive, waiting on stdin, and give their pids.
"""

from __future__ import annotations

import json
import os
import py_compile
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

HANDLER = "def handler(event, context):\n    return None\n"
CALL = "import app; app.handler({}, None)"
# The same call, then a line on stdout once it is done and a wait on stdin: a process that stays, idle.
IDLE_CALL = CALL + "; import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
TASK_ROOT_IN_CONTAINER = "/var/task"
RUNC_INSTALL = "apt-get install -y --no-install-recommends runc"
# Host directories the container sees read-only; one that is a symlink on the host (merged /usr) is
# recreated as the same symlink instead.
HOST_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/etc")
_RUN_TIMEOUT_S = 30

Sampler = Callable[[], float]  # one timed start per call, in milliseconds


class BaselineFailed(RuntimeError):
    """A baseline's command did not run to completion; the message carries its own output."""


def base_interpreter() -> Path:
    """The interpreter behind this one, outside any virtualenv, so no venv `site` work is timed."""
    return Path(getattr(sys, "_base_executable", sys.executable))


def write_handler(task_root: Path, source: str = HANDLER) -> None:
    """Put the handler module `app.py` in `task_root`, compiled ahead so no run pays for (or races on) its
    bytecode."""
    task_root.mkdir(parents=True, exist_ok=True)
    module = task_root / "app.py"
    module.write_text(source)
    py_compile.compile(str(module), doraise=True)


def interpreter_command(interpreter: Path, *, site: bool, call: str = CALL) -> list[str]:
    return [str(interpreter), *([] if site else ["-S"]), "-c", call]


def missing_module_hint(module: str) -> str:
    """Empty when the base interpreter (with `site`) can import `module`; otherwise one sentence saying not."""
    probe = [str(base_interpreter()), "-c", f"import {module}"]
    completed = subprocess.run(probe, capture_output=True, timeout=_RUN_TIMEOUT_S)
    if completed.returncode == 0:
        return ""
    return f"{base_interpreter()} cannot import {module}: {completed.stderr.decode(errors='replace').strip()}"


def _timed_run(command: Sequence[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=_RUN_TIMEOUT_S
    )
    elapsed = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        output = completed.stderr.decode(errors="replace").strip()
        raise BaselineFailed(f"{' '.join(command)} exited with {completed.returncode}: {output}")
    return elapsed


def fresh_interpreter(task_root: Path, *, site: bool = True, source: str = HANDLER) -> Sampler:
    """A sampler of fresh base interpreters that import and call the handler, after one untimed run."""
    write_handler(task_root, source)
    command = interpreter_command(base_interpreter(), site=site)
    _timed_run(command, task_root)
    return lambda: _timed_run(command, task_root)


def fresh_interpreter_ms(runs: int, task_root: Path, *, site: bool = True, source: str = HANDLER) -> list[float]:
    """Milliseconds to start a fresh base interpreter that imports and calls the handler, once per run."""
    sample = fresh_interpreter(task_root, site=site, source=source)
    return [sample() for _ in range(runs)]


def runc_available() -> bool:
    return shutil.which("runc") is not None


def ensure_runc_hint() -> str:
    """Empty when runc is on PATH; otherwise one sentence telling how to install it."""
    if runc_available():
        return ""
    return f"runc is not on PATH; on Debian or Ubuntu install it with: {RUNC_INSTALL}"


def _bind(source: str, destination: str) -> dict[str, Any]:
    return {"destination": destination, "type": "bind", "source": source, "options": ["rbind", "ro"]}


def _build_rootfs(rootfs: Path, prefix: Path) -> list[dict[str, Any]]:
    """Create the mount points under `rootfs` and return the bind mounts that fill them."""
    mounts: list[dict[str, Any]] = []
    for directory in HOST_SYSTEM_DIRS:
        host = Path(directory)
        if not host.exists():
            continue
        inside = rootfs / directory.lstrip("/")
        if host.is_symlink():
            inside.symlink_to(os.readlink(host))
        else:
            inside.mkdir()
            mounts.append(_bind(directory, directory))
    for point in ("proc", "dev", "sys", "tmp", prefix.relative_to("/"), TASK_ROOT_IN_CONTAINER.lstrip("/")):
        (rootfs / point).mkdir(parents=True, exist_ok=True)
    mounts.append(_bind(str(prefix), str(prefix)))
    return mounts


def write_runc_bundle(bundle: Path, task_root: Path, *, site: bool = True, call: str = CALL) -> None:
    """An OCI bundle in `bundle` whose process runs the handler as `fresh_interpreter_ms` does."""
    interpreter = base_interpreter().resolve()
    prefix = Path(sys.base_prefix).resolve()
    if not interpreter.is_relative_to(prefix):
        raise BaselineFailed(f"the interpreter {interpreter} lies outside its prefix {prefix}; cannot mount it")
    bundle.mkdir(parents=True, exist_ok=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True, timeout=_RUN_TIMEOUT_S)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    (bundle / "rootfs").mkdir()
    task_mount = _bind(str(task_root.resolve()), TASK_ROOT_IN_CONTAINER)
    config["mounts"] += [*_build_rootfs(bundle / "rootfs", prefix), task_mount]
    config["root"] = {"path": "rootfs", "readonly": True}
    process = config["process"]
    process["terminal"] = False
    process["args"] = interpreter_command(interpreter, site=site, call=call)
    process["cwd"] = TASK_ROOT_IN_CONTAINER
    config_path.write_text(json.dumps(config, indent=2))


def _runc_run_ms(bundle: Path) -> float:
    container_id = f"firebox-bench-{uuid.uuid4().hex[:12]}"
    try:
        return _timed_run(["runc", "run", "--bundle", str(bundle), container_id])
    finally:
        # `runc run` removes a container whose process has exited; this only clears one left by a failure.
        subprocess.run(
            ["runc", "delete", "--force", container_id],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_RUN_TIMEOUT_S,
        )


@contextmanager
def _runc_bundle(task_root: Path, *, site: bool, source: str, call: str) -> Iterator[Path]:
    hint = ensure_runc_hint()
    if hint:
        raise BaselineFailed(hint)
    if os.geteuid() != 0:
        raise BaselineFailed("the runc baseline uses no user namespace, so it must run as root")
    write_handler(task_root, source)
    with tempfile.TemporaryDirectory(prefix="firebox-runc-") as scratch:
        bundle = Path(scratch)
        write_runc_bundle(bundle, task_root, site=site, call=call)
        yield bundle


@contextmanager
def runc_container(task_root: Path, *, site: bool = True, source: str = HANDLER) -> Iterator[Sampler]:
    """A sampler of `runc run` of new containers that import and call the handler, after one untimed run;
    valid while the context lasts (the bundle is removed after it)."""
    with _runc_bundle(task_root, site=site, source=source, call=CALL) as bundle:
        _runc_run_ms(bundle)
        yield lambda: _runc_run_ms(bundle)


def runc_container_ms(runs: int, task_root: Path, *, site: bool = True, source: str = HANDLER) -> list[float]:
    """Milliseconds for `runc run` of a new container that imports and calls the handler, once per run."""
    with runc_container(task_root, site=site, source=source) as sample:
        return [sample() for _ in range(runs)]


def _wait_until_ready(stream: IO[bytes] | None, what: str) -> None:
    """Read the idle call's `ready` line from `stream` (a pipe), within the run timeout."""
    assert stream is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(_RUN_TIMEOUT_S):
            raise BaselineFailed(f"{what} did not call the handler within {_RUN_TIMEOUT_S} s")
    line = stream.readline()
    if line != b"ready\n":
        raise BaselineFailed(f"{what} ended before it called the handler (it wrote {line!r})")


@contextmanager
def idle_interpreters(count: int, task_root: Path, *, site: bool = True, source: str = HANDLER) -> Iterator[list[int]]:
    """`count` fresh base interpreters that have imported and called the handler and now wait, idle; gives
    their pids, and kills them when the context ends."""
    write_handler(task_root, source)
    command = interpreter_command(base_interpreter(), site=site, call=IDLE_CALL)
    with ExitStack() as stack:
        processes: list[subprocess.Popen[bytes]] = []
        for _ in range(count):
            process = stack.enter_context(
                subprocess.Popen(command, cwd=task_root, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            )
            stack.callback(process.kill)
            processes.append(process)
        for process in processes:
            _wait_until_ready(process.stdout, f"{' '.join(command)} (pid {process.pid})")
        yield [process.pid for process in processes]


def _start_detached_container(bundle: Path, stack: ExitStack) -> int:
    container_id = f"firebox-bench-{uuid.uuid4().hex[:12]}"
    pid_file = bundle / f"{container_id}.pid"
    command = ["runc", "run", "--detach", "--pid-file", str(pid_file), "--bundle", str(bundle), container_id]
    # Detached and without a terminal, runc hands its own stdin and stdout to the container's process.
    runc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stack.callback(
        subprocess.run,
        ["runc", "delete", "--force", container_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=_RUN_TIMEOUT_S,
    )
    assert runc.stdin is not None and runc.stdout is not None and runc.stderr is not None
    stack.callback(runc.stdin.close)
    stack.callback(runc.stdout.close)
    with runc.stderr:
        if runc.wait(_RUN_TIMEOUT_S) != 0:
            raise BaselineFailed(f"{' '.join(command)} exited with {runc.returncode}: {runc.stderr.read().decode()}")
    _wait_until_ready(runc.stdout, f"container {container_id}")
    return int(pid_file.read_text())


@contextmanager
def idle_runc_containers(
    count: int, task_root: Path, *, site: bool = True, source: str = HANDLER
) -> Iterator[list[int]]:
    """`count` detached runc containers (no runc process stays) whose process has imported and called the
    handler and now waits, idle; gives those processes' host pids, and deletes the containers at the end."""
    with _runc_bundle(task_root, site=site, source=source, call=IDLE_CALL) as bundle, ExitStack() as stack:
        yield [_start_detached_container(bundle, stack) for _ in range(count)]
