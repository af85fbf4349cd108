"""Turn the _HANDLER string into the user's function, failing with AWS's error types and messages."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from ._fbx_faults import (
    BUILT_IN_MODULE_CONFLICT,
    HANDLER_NOT_FOUND,
    IMPORT_MODULE_ERROR,
    MALFORMED_HANDLER_NAME,
    USER_CODE_SYNTAX_ERROR,
    FaultError,
)

Handler = Callable[[Any, Any], Any]


def load_handler(spec: str) -> Handler:
    """Import the module of "module.function" (module may be "pkg/mod" or "pkg.mod") and return the function.

    Raises FaultError for the failures AWS names; any other exception the module raises while it
    is imported propagates unchanged, to be reported under its own class name.
    """
    try:
        # Unpacked rather than checked so the message carries Python's own words, as AWS's does.
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError(MALFORMED_HANDLER_NAME, f"Bad handler '{spec}': {exc}") from exc

    if module_name.split(".")[0] in sys.builtin_module_names:
        message = f"Cannot use built-in module {module_name} as a handler module"
        raise FaultError(BUILT_IN_MODULE_CONFLICT, message)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        where = f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}'
        raise FaultError(USER_CODE_SYNTAX_ERROR, message, [where]) from exc

    try:
        handler: Handler = getattr(module, function_name)
    except AttributeError as exc:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise FaultError(HANDLER_NOT_FOUND, message) from exc
    return handler
