"""What every sandbox backend must do, run against each backend this host can use."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from firebox.runtime import PYTHON_BOOTSTRAP
from firebox.sandbox import (
    CgroupTree,
    Executable,
    ExitCause,
    NamespaceBackend,
    ProcessBackend,
    PythonRuntime,
    Sandbox,
    SandboxBackend,
    SandboxSpec,
    unavailable_reason,
)
from firebox.sandbox.seccomp import compile_filter

BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def _namespace_backend(scratch: Path) -> SandboxBackend:
    cgroups = CgroupTree.discover()
    assert cgroups is not None
    return NamespaceBackend(scratch, cgroups, compile_filter(), PythonRuntime(BASE_PYTHON, PYTHON_BOOTSTRAP))


BACKENDS: dict[str, Callable[[Path], SandboxBackend]] = {"process": ProcessBackend}
if unavailable_reason() is None:
    BACKENDS["namespaces"] = _namespace_backend
limits_enforced = pytest.mark.skipif(CgroupTree.discover() is None, reason="no writable cgroup v1 memory/pids here")

Scenario = Callable[[Callable[[SandboxSpec], Awaitable[Sandbox]]], Awaitable[None]]


@pytest.fixture(params=sorted(BACKENDS))
def run_scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], None]:
    """Run a scenario with a fresh backend; every sandbox it started is destroyed afterwards."""

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            backend = BACKENDS[request.param](tmp_path / "scratch")
            started: list[Sandbox] = []

            async def start(spec: SandboxSpec) -> Sandbox:
                sandbox = await backend.start(spec)
                started.append(sandbox)
                return sandbox

            try:
                async with asyncio.timeout(30):
                    await scenario(start)
            finally:
                for sandbox in started:
                    await sandbox.destroy()
                await backend.close()

        asyncio.run(main())

    return run


def _spec(tmp_path: Path, code: str, memory_mb: int = 128, max_processes: int = 1024) -> SandboxSpec:
    """A sandbox running `code` as a Python program in its task root."""
    task_root = tmp_path / f"task-{os.urandom(4).hex()}"
    task_root.mkdir()
    program = task_root / "program"
    program.write_text(f"#!{BASE_PYTHON} -S\n{code}\n")
    program.chmod(0o755)
    task_root.chmod(0o755)
    return SandboxSpec(
        sandbox_id=os.urandom(8).hex(),
        launch=Executable("program"),
        env={"PATH": "/usr/bin:/bin"},
        task_root=task_root,
        memory_mb=memory_mb,
        ephemeral_storage_mb=512,
        max_processes=max_processes,
    )


async def _read_until(sandbox: Sandbox, end: bytes) -> bytes:
    """Output up to and including `end` (b"" for end of file)."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(sandbox.output_fd, 65536)
        except BlockingIOError:
            return
        received.extend(chunk)
        if (not chunk or (end and end in received)) and not done.done():
            done.set_result(None)

    loop.add_reader(sandbox.output_fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(sandbox.output_fd)
    return bytes(received)


def test_output_and_exit_status(run_scenario: Callable[[Scenario], None], tmp_path: Path) -> None:
    async def scenario(start: Callable[[SandboxSpec], Awaitable[Sandbox]]) -> None:
        sandbox = await start(_spec(tmp_path, "import sys; print('out'); print('err', file=sys.stderr); sys.exit(4)"))
        assert sorted((await _read_until(sandbox, b"")).splitlines()) == [b"err", b"out"]
        ended = await sandbox.wait()
        assert (ended.cause, ended.returncode) == (ExitCause.EXITED, 4)
        assert ended.describe() == "exit status 4"

    run_scenario(scenario)


def test_kill_ends_the_whole_tree(run_scenario: Callable[[Scenario], None], tmp_path: Path) -> None:
    async def scenario(start: Callable[[SandboxSpec], Awaitable[Sandbox]]) -> None:
        code = "import os, time\nif os.fork():\n    print('forked', flush=True)\ntime.sleep(60)\n"
        sandbox = await start(_spec(tmp_path, code))
        await _read_until(sandbox, b"\n")
        sandbox.kill()
        ended = await sandbox.wait()
        assert ended.cause is ExitCause.KILLED
        assert ended.describe() == "signal: killed"
        await _read_until(sandbox, b"")  # end of file: the forked child, which held the pipe too, is gone

    run_scenario(scenario)


@limits_enforced
def test_memory_limit_ends_in_out_of_memory(run_scenario: Callable[[Scenario], None], tmp_path: Path) -> None:
    async def scenario(start: Callable[[SandboxSpec], Awaitable[Sandbox]]) -> None:
        sandbox = await start(_spec(tmp_path, "x = bytearray(300 * 1024 * 1024)", memory_mb=128))
        ended = await sandbox.wait()
        assert ended.cause is ExitCause.OUT_OF_MEMORY
        assert sandbox.max_memory_used() >= 120 * 1024 * 1024

    run_scenario(scenario)


@limits_enforced
def test_process_limit_stops_a_fork_bomb(run_scenario: Callable[[Scenario], None], tmp_path: Path) -> None:
    async def scenario(start: Callable[[SandboxSpec], Awaitable[Sandbox]]) -> None:
        code = (
            "import os, time\nfails = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        fails += 1\n        continue\n    if pid == 0:\n        time.sleep(30)\n"
            "        os._exit(0)\nprint('failed', fails, flush=True)\ntime.sleep(30)\n"
        )
        sandbox = await start(_spec(tmp_path, code, max_processes=20))
        line = await _read_until(sandbox, b"\n")
        assert int(line.split()[-1]) >= 180

    run_scenario(scenario)


def test_temporary_files_are_private(run_scenario: Callable[[Scenario], None], tmp_path: Path) -> None:
    async def scenario(start: Callable[[SandboxSpec], Awaitable[Sandbox]]) -> None:
        tmp = "os.environ.get('TMPDIR', '/tmp')"
        writer = await start(_spec(tmp_path, f"import os; open(os.path.join({tmp}, 'secret'), 'w').write('x')"))
        assert (await writer.wait()).returncode == 0
        reader = await start(_spec(tmp_path, f"import os; print(sorted(os.listdir({tmp})))"))
        assert b"secret" not in await _read_until(reader, b"")

    run_scenario(scenario)
