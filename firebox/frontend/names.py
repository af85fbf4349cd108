"""Function names as Lambda accepts them: a name, a partial ARN or a full ARN, with or without qualifier."""

from __future__ import annotations

import re

from firebox.errors import InvalidParameter

MAX_NAME_LENGTH = 64  # of the name itself; the model's longer limits are for ARNs

_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"|(?P<partial_account>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
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


def new_function_name(value: str) -> str:
    """The name CreateFunction gives a function; only here does the name's own length limit apply.

    Elsewhere a longer name is simply not found, as no function can have it.
    """
    name = unqualified_name(value)
    if len(name) > MAX_NAME_LENGTH:
        # AWS words this like a model violation but answers InvalidParameterValueException.
        raise InvalidParameter(
            f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_NAME_LENGTH}"
        )
    return name
