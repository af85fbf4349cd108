"""Names as Lambda accepts them: a function's (a name, a partial ARN or a full ARN, with or without
qualifier), a layer's (a name or an ARN, with a version number where a layer version is meant), and the
ARNs of code signing configurations and signing profile versions."""

from __future__ import annotations

import re

from firebox.code_signature import PROFILE_VERSION_ARN
from firebox.errors import InvalidParameter
from firebox.store import Arns

MAX_NAME_LENGTH = 64  # of the name itself; the model's longer limits are for ARNs

_LAYER_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<version>[0-9]+))?$"
)
_CODE_SIGNING_CONFIG_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):code-signing-config:"
    r"(?P<id>csc-[a-z0-9]{17})$"
)
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


def layer_name(value: str, arns: Arns) -> str | None:
    """The name of a LayerName parameter (the model checked its form); None for a layer ARN of another
    account or region, which cannot name a layer of this Firebox."""
    found = _LAYER_ARN.match(value)
    if found is None:
        return value
    return found.group("name") if _is_ours(found, arns) else None


def layer_version(arn: str, arns: Arns) -> tuple[str, int] | None:
    """(name, version) of a layer version ARN of this Firebox's account and region, else None."""
    found = _LAYER_ARN.match(arn)
    if found is None or found.group("version") is None or not _is_ours(found, arns):
        return None
    return found.group("name"), int(found.group("version"))


def _is_ours(found: re.Match[str], arns: Arns) -> bool:
    return found.group("region") == arns.region and found.group("account") == arns.account_id


def code_signing_config_id(arn: str, arns: Arns) -> str | None:
    """The id of a code signing configuration ARN of this Firebox's account and region, else None."""
    found = _CODE_SIGNING_CONFIG_ARN.match(arn)
    return found.group("id") if found is not None and _is_ours(found, arns) else None


def signing_profile_version(arn: str, arns: Arns) -> tuple[str, str] | None:
    """(name, version) of a signing profile version ARN of this Firebox's account and region, else None."""
    found = PROFILE_VERSION_ARN.match(arn)
    return (found.group("name"), found.group("version")) if found is not None and _is_ours(found, arns) else None
