"""Which Lambda runtimes this host can run, and the command that starts each one in a sandbox."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from firebox.runtime import PYTHON_BOOTSTRAP

PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
_PYTHON_MINORS = range(8, 20)


@dataclass(frozen=True, slots=True)
class Runtimes:
    """Interpreter of each installed `python3.x` runtime; `provided` runtimes need none."""

    pythons: dict[str, str]

    @classmethod
    def discover(cls) -> Runtimes:
        pythons = {f"python{sys.version_info.major}.{sys.version_info.minor}": sys.executable}
        for minor in _PYTHON_MINORS:
            name = f"python3.{minor}"
            if name in pythons:
                continue
            found = shutil.which(name)
            if found is not None and _answers_as(found, minor):
                pythons[name] = found
        return cls(pythons)

    @property
    def names(self) -> tuple[str, ...]:
        return (*sorted(self.pythons, key=lambda n: int(n.split(".")[1])), *PROVIDED_RUNTIMES)

    def supports(self, runtime: str) -> bool:
        return runtime in self.pythons or runtime in PROVIDED_RUNTIMES

    def command(self, runtime: str, task_root: Path) -> tuple[str, ...]:
        if runtime in PROVIDED_RUNTIMES:
            return (str(task_root / "bootstrap"),)
        # -s: the user's site directory is not the function's business; the code and layers are on sys.path.
        return (self.pythons[runtime], "-s", str(PYTHON_BOOTSTRAP))

    def execution_env(self, runtime: str) -> str:
        """AWS_EXECUTION_ENV as Lambda sets it (custom runtimes get none)."""
        return "" if runtime in PROVIDED_RUNTIMES else f"AWS_Lambda_{runtime}"


def _answers_as(interpreter: str, minor: int) -> bool:
    """Whether the executable really runs (pyenv shims exist for versions that are not selected)."""
    try:
        done = subprocess.run(
            [interpreter, "-c", "import sys; print(sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == str(minor)
