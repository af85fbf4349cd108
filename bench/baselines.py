"""Baselines for sandbox cold starts, measured in the same run as the figure they stand beside.

Each function times a no-op Python handler (`def handler(event, context): return None`) started from nothing,
end to end from the host's side, and returns one sample in milliseconds per run:

- `fresh_interpreter_ms`: a new `python3 -c 'import app; app.handler({}, None)'` process in the task directory,
  with the base interpreter (not a virtualenv's), optionally with `-S` (no `site`).
- `runc_container_ms`: the same command as the container's process under `runc run`, in an OCI bundle whose
  rootfs holds read-only bind mounts of the host's system directories and the interpreter's prefix, and the
  task directory at /var/task. Namespaces are those `runc spec` gives (pid, network, ipc, uts, mount); no
  user namespace, so it needs root.

One untimed run precedes each series, so the first page-in of the interpreter and of runc is not a sample.
"""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HANDLER = "def handler(event, context):\n    return None\n"
CALL = "import app; app.handler({}, None)"
TASK_ROOT_IN_CONTAINER = "/var/task"
RUNC_INSTALL = "apt-get install -y --no-install-recommends runc"
# Host directories the container sees read-only; one that is a symlink on the host (merged /usr) is
# recreated as the same symlink instead.
HOST_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/etc")
_RUN_TIMEOUT_S = 30


class BaselineFailed(RuntimeError):
    """A baseline's command did not run to completion; the message carries its own output."""


def base_interpreter() -> Path:
    """The interpreter behind this one, outside any virtualenv, so no venv `site` work is timed."""
    return Path(getattr(sys, "_base_executable", sys.executable))


def write_handler(task_root: Path) -> None:
    """Put the no-op handler in `task_root`, compiled ahead so no run pays for (or races on) its bytecode."""
    task_root.mkdir(parents=True, exist_ok=True)
    source = task_root / "app.py"
    source.write_text(HANDLER)
    py_compile.compile(str(source), doraise=True)


def interpreter_command(interpreter: Path, *, site: bool) -> list[str]:
    return [str(interpreter), *([] if site else ["-S"]), "-c", CALL]


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


def fresh_interpreter_ms(runs: int, task_root: Path, *, site: bool = True) -> list[float]:
    """Milliseconds to start a fresh base interpreter that imports and calls the handler, once per run."""
    write_handler(task_root)
    command = interpreter_command(base_interpreter(), site=site)
    _timed_run(command, task_root)
    return [_timed_run(command, task_root) for _ in range(runs)]


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


def write_runc_bundle(bundle: Path, task_root: Path, *, site: bool = True) -> None:
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
    process["args"] = interpreter_command(interpreter, site=site)
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


def runc_container_ms(runs: int, task_root: Path, *, site: bool = True) -> list[float]:
    """Milliseconds for `runc run` of a new container that imports and calls the handler, once per run."""
    hint = ensure_runc_hint()
    if hint:
        raise BaselineFailed(hint)
    if os.geteuid() != 0:
        raise BaselineFailed("the runc baseline uses no user namespace, so it must run as root")
    write_handler(task_root)
    with tempfile.TemporaryDirectory(prefix="firebox-runc-") as scratch:
        bundle = Path(scratch)
        write_runc_bundle(bundle, task_root, site=site)
        _runc_run_ms(bundle)
        return [_runc_run_ms(bundle) for _ in range(runs)]
