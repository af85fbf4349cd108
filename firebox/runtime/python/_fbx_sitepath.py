"""The interpreter's installed packages on sys.path, for a runtime started with -S."""

from __future__ import annotations

import os
import sys


def add_installed_packages() -> None:
    """Append the interpreter's site-packages (and Debian's dist-packages) to sys.path, after the
    function's own directories, without running site's start-up work; exit() and quit() keep working.

    Firebox starts runtimes with -S because site's work (chiefly .pth files, which on some hosts import
    whole packages) costs tens of milliseconds per cold start.
    """
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for prefix in dict.fromkeys((sys.prefix, sys.exec_prefix)):
        for directory in (
            os.path.join(prefix, "lib", version, "site-packages"),
            os.path.join(prefix, "local", "lib", version, "dist-packages"),
            os.path.join(prefix, "lib", "python3", "dist-packages"),
        ):
            if os.path.isdir(directory) and directory not in sys.path:
                sys.path.append(directory)
    import builtins

    builtins.exit = builtins.quit = sys.exit  # type: ignore[assignment]
