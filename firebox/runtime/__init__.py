"""Runtime clients that run inside execution environments, outside the Firebox process.

Only their location is exported: the sandbox starts them as programs, never imports them.
"""

from pathlib import Path

# The Python runtime client, run as `python3.X <PYTHON_BOOTSTRAP>` with the task root as cwd.
PYTHON_BOOTSTRAP: Path = Path(__file__).resolve().parent / "python" / "bootstrap.py"

__all__ = ["PYTHON_BOOTSTRAP"]
