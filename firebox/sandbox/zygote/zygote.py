"""Firebox's zygote: a pre-initialised runtime that forks each new execution environment.

Run by the worker as `python3.X -S zygote.py` with FBZ_CONTROL_FD (a SOCK_SEQPACKET socket to the
worker), FBZ_RUNTIME_DIR (Firebox's Python runtime client) and FBZ_PRELOAD (modules to import ahead,
comma-separated). Standard library only, Python 3.9+: it runs under the function's interpreter.
"""

from __future__ import annotations

import os
import sys
import types


def _private_package(name: str, directory: str) -> None:
    package = types.ModuleType(name)
    package.__path__ = [directory]
    sys.modules[name] = package


if __name__ == "__main__":
    _HERE = os.path.dirname(os.path.realpath(__file__))
    # As in the runtime's bootstrap: our directories stay off sys.path, so user code neither imports our
    # modules nor has its own shadowed by them; both are reached as private packages.
    sys.path[:] = [entry for entry in sys.path if not entry or os.path.realpath(entry) != _HERE]
    _private_package("_fbz", _HERE)
    _private_package("_fbx_runtime", os.environ["FBZ_RUNTIME_DIR"])
    __package__ = "_fbz"  # PEP 366: gives this script relative imports within _fbz

    from ._fbz_main import serve

    sys.exit(serve(int(os.environ["FBZ_CONTROL_FD"]), os.environ.get("FBZ_PRELOAD", "")))
