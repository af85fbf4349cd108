"""Firebox's Python runtime client: run as `python3.X bootstrap.py` in a function's execution environment.

It speaks the Lambda Runtime API at $AWS_LAMBDA_RUNTIME_API, imports the handler named by $_HANDLER
and calls it once per invoke. Standard library only and Python 3.9+: it runs under the interpreter
the function's runtime names, where Firebox itself is not installed.
"""

from __future__ import annotations

import os
import sys
import types

if __name__ == "__main__":
    _HERE = os.path.dirname(os.path.realpath(__file__))
    # Python put this directory on sys.path to run the script. User code must neither import our
    # modules nor have its own shadowed by them, so the directory comes off again and the modules
    # beside this file are reached as the private package _fbx_runtime (PEP 366: setting
    # __package__ gives a script relative imports).
    sys.path[:] = [entry for entry in sys.path if not entry or os.path.realpath(entry) != _HERE]
    _package = types.ModuleType("_fbx_runtime")
    _package.__path__ = [_HERE]
    sys.modules["_fbx_runtime"] = _package
    __package__ = "_fbx_runtime"

    from ._fbx_loop import main
    from ._fbx_sitepath import add_installed_packages

    if sys.flags.no_site:
        add_installed_packages()

    sys.exit(main())
