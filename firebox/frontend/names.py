"""Function names as Lambda accepts them: a name, a partial ARN or a full ARN, with or without qualifier."""

from __future__ import annotations

import re

from firebox.errors import InvalidParameter

_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"|(?P<partial_account>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)


def split_function_name(value: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """(name, qualifier) of a FunctionName parameter; a separate Qualifier must agree with one in the ARN."""
    found = _NAME.match(value)
    if found is None:
        raise InvalidParameter(f"Invalid function name or ARN: {value!r}")
    inline = found.group("qualifier")
    if inline is not None and qualifier is not None and inline != qualifier:
        raise InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
    return found.group("name"), inline if inline is not None else qualifier


def unqualified_name(value: str) -> str:
    name, qualifier = split_function_name(value)
    if qualifier is not None:
        raise InvalidParameter(f"A qualified function name is not allowed here: {value!r}")
    return name
