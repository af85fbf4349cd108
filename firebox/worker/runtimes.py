"""Which Lambda runtimes this host can run, and the command that starts each one in a sandbox."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from firebox.runtime import PYTHON_BOOTSTRAP
from firebox.sandbox import Executable, Launch, PythonRuntime

PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
_PYTHON_MINORS = range(9, 20)  # the built-in runtime client needs 3.9 or newer
_PROBE_DEADLINE_S = 10.0


@dataclass(frozen=True, slots=True)
class Runtimes:
    """Interpreter of each installed `python3.x` runtime; `provided` runtimes need none."""

    pythons: dict[str, str]

    @classmethod
    async def discover(cls) -> Runtimes:
        """Interpreters on PATH, then those pyenv installed (a shim on PATH may not run its version).

        Firebox's own Python version runs on the interpreter Firebox's virtualenv was made from, so the
        packages Firebox itself depends on are not visible to functions.
        """
        own = f"python{sys.version_info.major}.{sys.version_info.minor}"
        candidates: dict[str, list[str]] = {own: [getattr(sys, "_base_executable", sys.executable)]}
        pyenv_versions = sorted(_pyenv_root().glob("versions/3.*/bin"), reverse=True)
        for minor in _PYTHON_MINORS:
            name = f"python3.{minor}"
            found = [shutil.which(name), *(str(d / name) for d in pyenv_versions if (d / name).exists())]
            candidates.setdefault(name, []).extend(path for path in found if path is not None)
        probes = {
            (name, path): asyncio.create_task(_answers_as(path, int(name.split(".")[1])))
            for name, paths in candidates.items()
            for path in dict.fromkeys(paths)
        }
        await asyncio.gather(*probes.values())
        pythons: dict[str, str] = {}
        for (name, path), probe in probes.items():
            if name not in pythons and probe.result():
                pythons[name] = path
        return cls(pythons)

    @property
    def names(self) -> tuple[str, ...]:
        return (*sorted(self.pythons, key=lambda n: int(n.split(".")[1])), *PROVIDED_RUNTIMES)

    def supports(self, runtime: str) -> bool:
        return runtime in self.pythons or runtime in PROVIDED_RUNTIMES

    def launch(self, runtime: str) -> Launch:
        if runtime in PROVIDED_RUNTIMES:
            return Executable("bootstrap")
        return PythonRuntime(self.pythons[runtime], PYTHON_BOOTSTRAP)

    def execution_env(self, runtime: str) -> str:
        """AWS_EXECUTION_ENV as Lambda sets it (custom runtimes get none)."""
        return "" if runtime in PROVIDED_RUNTIMES else f"AWS_Lambda_{runtime}"


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


async def _answers_as(interpreter: str, minor: int) -> bool:
    """Whether the executable really runs that version (pyenv shims exist for versions not selected)."""
    try:
        process = await asyncio.create_subprocess_exec(
            interpreter,
            "-S",
            "-c",
            "import sys; print(sys.version_info[1])",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        async with asyncio.timeout(_PROBE_DEADLINE_S):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return False
    return process.returncode == 0 and out.strip() == str(minor).encode()
